"""Helpers of the paging tests: an HTTP receiver that keeps headers, people and rotas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import date, time

import aiomqtt

from controlcenter.paging import Contact, Pager, PagingRepository, Schedule
from tests.alerts._helpers import Clock, add_rules, running
from tests.alerts._helpers import service as make_service

LINK_SECRET = "test-link-secret-0123456789abcdef"  # noqa: S105 - a test key
PUBLIC = "https://cc.complex.example.kr"
SOLAPI_SECRET = "solapi-secret-for-tests"  # noqa: S105 - a test key
# SOLAPI's documented answer to POST /messages/v4/send (docs.solapi.com, "단일 메시지")
SOLAPI_ACCEPTED = {
    "groupId": "G4V20200909142323YCYNARPEI60NHQW",
    "messageId": "M4V20200909142323EXWXP4U8YPSZRBB",
    "accountId": "12925149",
    "statusCode": "2000",
    "statusMessage": "정상 접수(이통사로 접수 예정) ",
    "to": "01000000001",
    "from": "029302266",
    "type": "SMS",
    "country": "82",
}


class Receiver:
    """A minimal HTTP server on 127.0.0.1 that keeps (path, headers, JSON body) of each
    request and answers with ``statuses`` in turn, then 200. A status may be a pair
    (status, JSON answer); the answer is ``body`` (default ``{}``) otherwise. Requests
    answered 200 are kept in ``got``, all of them in ``seen``."""

    def __init__(self, statuses=(), body=None, delay_s=0.0):
        self.statuses = list(statuses)
        self.body = body if body is not None else {}
        self.delay_s = delay_s
        self.got: list[tuple[str, dict[str, str], dict]] = []
        self.seen: list[tuple[str, dict]] = []
        self.requests = 0

    async def __aenter__(self):
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc):
        self.server.close()

    async def _handle(self, reader, writer):
        head = await reader.readuntil(b"\r\n\r\n")
        lines = head.decode().split("\r\n")
        path = lines[0].split(" ")[1]
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                k, v = line.split(":", 1)
                headers[k.strip().lower()] = v.strip()
        body = await reader.readexactly(int(headers.get("content-length", 0)))
        self.requests += 1
        status = self.statuses.pop(0) if self.statuses else 200
        answer = self.body
        if isinstance(status, tuple):
            status, answer = status
        self.seen.append((path, json.loads(body)))
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if status == 200:
            self.got.append((path, headers, json.loads(body)))
        out = json.dumps(answer).encode()
        head = f"HTTP/1.1 {status} X\r\ncontent-length: {len(out)}\r\nconnection: close\r\n\r\n"
        writer.write(head.encode() + out)
        await writer.drain()
        writer.close()


def site_code() -> str:
    return f"site{uuid.uuid4().hex[:8]}"


async def quiet_person(pool, site, rx, channels):
    """A person on call for ``site``, quiet from 16:00 to 18:00 (T0 is 17:00 in Seoul)."""
    p = await person(
        pool,
        name="quiet",
        webhook_url=rx.url + "/q",
        channels=channels,
        quiet_start=time(16, 0),
        quiet_end=time(18, 0),
    )
    await rota(pool, site, [p])
    return p


@contextlib.asynccontextmanager
async def collecting(sub, got):
    """Append every MQTT message ``sub`` receives (JSON) to ``got`` until the block ends."""

    async def collect():
        with contextlib.suppress(aiomqtt.MqttError):
            async for m in sub.messages:
                got.append(json.loads(m.payload))

    reader = asyncio.create_task(collect())
    try:
        yield got
    finally:
        reader.cancel()


async def person(pool, **fields) -> Contact:
    base = {"name": f"p{uuid.uuid4().hex[:6]}"}
    return await PagingRepository(pool).save(Contact.model_validate(base | fields, strict=False))


async def rota(pool, site: str | None, people: list[Contact], **fields) -> Schedule:
    base = {
        "name": f"rota-{uuid.uuid4().hex[:8]}",
        "site": site,
        "start_date": date(2027, 1, 4),  # a Monday before T0 (2027-01-15)
        "rotation": [p.id for p in people],
    }
    return await PagingRepository(pool).save(Schedule.model_validate(base | fields, strict=False))


@contextlib.asynccontextmanager
async def paging(settings, pool, catalog, **pager_options):
    """An alert service and a pager wired as the service composes them, both running, on
    a test clock: yields (service, pager, clock)."""
    clock = Clock()
    svc = make_service(settings, pool, catalog, clock)
    pager = Pager(settings, pool, clock=clock, **pager_options)
    svc.add_channel(pager.offer)
    async with running(svc), pager_running(pager):
        yield svc, pager, clock


@contextlib.asynccontextmanager
async def pager_running(pager: Pager):
    stop = asyncio.Event()
    task = asyncio.create_task(pager.run(stop))
    try:
        yield pager
    finally:
        stop.set()
        async with asyncio.timeout(10):
            await task


def paging_settings(**over):
    base = {
        "public_url": PUBLIC,
        "link_secret": LINK_SECRET,
        "tick_s": 0.05,
        "retry_initial_s": 0.01,
        "retry_max_s": 0.05,
        "max_attempts": 4,
        "http_timeout_s": 3,
        "gather_s": 0,
    }
    return base | over


def settings_for(make_settings, database_url, *, smtp=None, **paging):
    return make_settings(
        database_url,
        alerts={"publish_mqtt": False, "group_window_s": 0, "escalation_check_s": 3600},
        paging=paging_settings(**paging),
        smtp=smtp or {},
    )


async def temp_rule(pool, site, **extra):
    name = f"r{site[-8:]}"
    (rule,) = await add_rules(
        pool,
        {
            "name": name,
            "scope": {"site": site},
            "conditions": [{"metric": "temp", "raise_at": 80, "clear_at": 70}],
            "steps": [{"at": 150, "severity": "critical"}],
        }
        | extra,
    )
    return rule
