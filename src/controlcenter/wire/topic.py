"""MQTT topics of the v1 contract: ``{root}/v1/{site}/{factory}/{kind}/{sensor}``.

Also ``{root}/v1/{site}/{factory}/status`` (gateway online/offline, the last will) and
``{root}/v1/alerts/...`` (published by the service itself; ingest ignores it).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from controlcenter.domain import SensorKey
from controlcenter.errors import PayloadError
from controlcenter.kinds import Registry, packaged

__all__ = ["ALERTS_SEGMENT", "StatusTopic", "TopicParser", "reading_topic", "status_topic"]

ALERTS_SEGMENT = "alerts"
_CODE = re.compile(r"[A-Za-z0-9_.\-]{1,64}")


@dataclass(frozen=True, slots=True)
class StatusTopic:
    """A gateway's status topic."""

    site: str
    factory: str


def reading_topic(root: str, key: SensorKey) -> str:
    """The topic a gateway publishes a sensor's readings on.

    >>> reading_topic("cc", SensorKey("namdong", "f001", "air", "aq1"))
    'cc/v1/namdong/f001/air/aq1'
    """
    return f"{root}/v1/{key.site}/{key.factory}/{key.kind}/{key.sensor}"


def status_topic(root: str, site: str, factory: str) -> str:
    """The topic of a gateway's online/offline status (and last will)."""
    return f"{root}/v1/{site}/{factory}/status"


class TopicParser:
    """Classifies topics under ``{root}/v1/``; caches results (topics repeat endlessly).

    ``registry`` returns the current sensor-kind registry (``KindBook.current``); a topic
    of a kind it does not know is ``unknown_kind`` (not cached: an admin may add the kind).

    >>> p = TopicParser("cc")
    >>> p.parse("cc/v1/namdong/f001/power/meter-1")
    SensorKey(site='namdong', factory='f001', kind='power', sensor='meter-1')
    >>> p.parse("cc/v1/namdong/f001/status")
    StatusTopic(site='namdong', factory='f001')
    >>> p.parse("cc/v1/namdong/f001/sewage/w1")
    Traceback (most recent call last):
    ...
    controlcenter.errors.PayloadError: unknown_kind: 'sewage' is not a sensor kind of the registry
    """

    def __init__(
        self,
        root: str,
        registry: Callable[[], Registry] = packaged,
        *,
        cache_size: int = 200_000,
    ) -> None:
        self.root = root
        self._registry = registry
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
        if kind not in self._registry():
            raise PayloadError(
                "unknown_kind", f"{kind[:40]!r} is not a sensor kind of the registry"
            )
        return SensorKey(site, factory, kind, sensor)


def _check_codes(codes: tuple[str, ...] | list[str]) -> None:
    for code in codes:
        if not _CODE.fullmatch(code):
            raise PayloadError("bad_topic", f"{code[:80]!r}: codes are 1-64 of [A-Za-z0-9_.-]")
