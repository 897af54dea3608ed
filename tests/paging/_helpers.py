"""Helpers of the paging tests: an HTTP receiver that keeps headers, people and rotas."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import date

from controlcenter.paging import Contact, Pager, PagingRepository, Schedule

LINK_SECRET = "test-link-secret-0123456789abcdef"  # noqa: S105 - a test key
PUBLIC = "https://cc.complex.example.kr"


class Receiver:
    """A minimal HTTP server on 127.0.0.1 that keeps (path, headers, JSON body) of each
    request and answers with ``statuses`` in turn, then 200."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.got: list[tuple[str, dict[str, str], dict]] = []
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
        if status == 200:
            self.got.append((path, headers, json.loads(body)))
        writer.write(
            f"HTTP/1.1 {status} X\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{{}}".encode()
        )
        await writer.drain()
        writer.close()


def site_code() -> str:
    return f"site{uuid.uuid4().hex[:8]}"


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
    }
    return base | over
