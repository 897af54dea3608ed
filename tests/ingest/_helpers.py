"""Helpers of the ingest and pipeline tests: unique sites, topics, polling predicates."""

from __future__ import annotations

import uuid

from tests._support import count_readings


def new_site() -> str:
    return f"site{uuid.uuid4().hex[:8]}"


def topic(root: str, site: str, i: int, kind: str = "air") -> str:
    return f"{root}/v1/{site}/f{i % 5:03d}/{kind}/s{i % 7}"


async def equals(awaitable, expected):
    return (await awaitable) == expected


async def dead_or_rows(pool, site):
    return await count_readings(pool, site)
