"""Open websockets by key: the periodic re-check of their keys (``api/live/sessions.py``)."""

from __future__ import annotations

import asyncio

from controlcenter.api.auth import ApiKeys, Role
from controlcenter.api.live.hub import AlertClient
from controlcenter.api.live.sessions import KEY_GONE, Sessions
from controlcenter.config import ApiSettings


async def test_a_socket_opened_while_a_recheck_queries_is_not_taken_for_revoked(pool):
    # Seen under load in bench/live.py: sockets that opened while the re-check's query
    # ran were closed with 4401 "API key revoked" (their key was not in the query).
    keys = ApiKeys(pool)
    sessions = Sessions(ApiSettings(), keys)
    first, second, gone = [
        await keys.verify((await keys.create(Role.VIEWER, name=n))[1]) for n in "abc"
    ]
    assert first is not None
    assert second is not None
    assert gone is not None
    early, revoked = AlertClient(first), AlertClient(gone)
    assert sessions.admit(early) is None
    assert sessions.admit(revoked) is None
    await keys.revoke(gone.key_id)
    recheck = asyncio.create_task(sessions.recheck())
    await asyncio.sleep(0)  # the re-check has asked the database and waits for its answer
    late = AlertClient(second)
    assert sessions.admit(late) is None
    assert await recheck == 1
    assert revoked.close_code == KEY_GONE
    assert early.close_code is None
    assert late.close_code is None
