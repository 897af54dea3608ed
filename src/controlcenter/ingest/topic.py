"""MQTT topics of the v1 contract: ``{root}/v1/{site}/{factory}/{kind}/{sensor}``.

Also ``{root}/v1/{site}/{factory}/status`` (gateway online/offline, the last will) and
``{root}/v1/alerts/...`` (published by the service itself; ingest ignores it).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controlcenter.domain import Kind, SensorKey
from controlcenter.errors import PayloadError

__all__ = ["ALERTS_SEGMENT", "StatusTopic", "TopicParser", "reading_topic", "status_topic"]

ALERTS_SEGMENT = "alerts"
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")
_KINDS = {k.value: k for k in Kind}


@dataclass(frozen=True, slots=True)
class StatusTopic:
    """A gateway's status topic."""

    site: str
    factory: str


def reading_topic(root: str, key: SensorKey) -> str:
    """The topic a gateway publishes a sensor's readings on.

    >>> reading_topic("cc", SensorKey("namdong", "f001", Kind.AIR, "aq1"))
    'cc/v1/namdong/f001/air/aq1'
    """
    return f"{root}/v1/{key.site}/{key.factory}/{key.kind.value}/{key.sensor}"


def status_topic(root: str, site: str, factory: str) -> str:
    """The topic of a gateway's online/offline status (and last will)."""
    return f"{root}/v1/{site}/{factory}/status"


class TopicParser:
    """Classifies topics under ``{root}/v1/``; caches results (topics repeat endlessly).

    >>> p = TopicParser("cc")
    >>> p.parse("cc/v1/namdong/f001/power/meter-1")
    SensorKey(site='namdong', factory='f001', kind=<Kind.POWER: 'power'>, sensor='meter-1')
    >>> p.parse("cc/v1/namdong/f001/status")
    StatusTopic(site='namdong', factory='f001')
    >>> p.parse("cc/v1/namdong/f001/water/w1")
    Traceback (most recent call last):
    ...
    controlcenter.errors.PayloadError: unknown_kind: 'water' is not one of air, power, parking
    """

    def __init__(self, root: str, *, cache_size: int = 200_000) -> None:
        self.root = root
        self._prefix = f"{root}/v1/"
        self._cache: dict[str, SensorKey | StatusTopic | None] = {}
        self._cache_size = cache_size

    @property
    def subscription(self) -> str:
        """The one filter that covers the whole contract (wrong shapes included)."""
        return f"{self._prefix}#"

    def parse(self, topic: str) -> SensorKey | StatusTopic | None:
        """A sensor, a gateway status, or None for the service's own alert topics.

        Raises:
            PayloadError: ``bad_topic`` or ``unknown_kind``.
        """
        try:
            return self._cache[topic]
        except KeyError:
            pass
        result = self._parse(topic)
        if len(self._cache) < self._cache_size:
            self._cache[topic] = result
        return result

    def _parse(self, topic: str) -> SensorKey | StatusTopic | None:
        if not topic.startswith(self._prefix):
            raise PayloadError("bad_topic", f"not under {self._prefix}")
        parts = topic[len(self._prefix) :].split("/")
        if parts[0] == ALERTS_SEGMENT:
            return None
        if len(parts) == 3 and parts[2] == "status":
            _check_codes(parts[:2])
            return StatusTopic(parts[0], parts[1])
        if len(parts) != 4:
            raise PayloadError("bad_topic", "expected {root}/v1/{site}/{factory}/{kind}/{sensor}")
        site, factory, kind, sensor = parts
        _check_codes((site, factory, sensor))
        k = _KINDS.get(kind)
        if k is None:
            raise PayloadError("unknown_kind", f"{kind!r} is not one of air, power, parking")
        return SensorKey(site, factory, k, sensor)


def _check_codes(codes: tuple[str, ...] | list[str]) -> None:
    for code in codes:
        if not _CODE.fullmatch(code):
            raise PayloadError("bad_topic", f"{code[:80]!r}: codes are 1-64 of [A-Za-z0-9_.-]")
