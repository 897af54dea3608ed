"""Payload decoding and validation (MQTT contract v1).

A payload is ``{"ts": <RFC 3339 | epoch ms>, "seq": <int>, "values": {metric: number}}`` or a
gateway batch ``{"readings": [...]}``. Payloads of exactly that shape take a typed msgspec
fast path. Any other is re-read leniently, so that one bad reading in a gateway batch
rejects that reading only: the others are kept, and the message also goes to dead letters
with the reason. What cannot be read at all is rejected whole (:class:`PayloadError`).

Nesting: the contract is 4 levels deep. A payload nested deeper than ``MAX_DEPTH`` is
``too_deeply_nested``, found by a scan of its bytes before any parser recurses into it
(the fast path takes no unknown fields, so it never descends into one). Before, ~1,000
levels in 2 KB reached Python's recursion limit inside the decoder (an ``internal_error``
with a traceback), or not, depending on how deep the caller's stack was.

Values: finite, and within the metric's physical limits (the sensor-kind registry,
``controlcenter.kinds``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import numpy as np

from controlcenter.config import IngestSettings
from controlcenter.domain import US_PER_S
from controlcenter.errors import PayloadError
from controlcenter.kinds import Registry, packaged

__all__ = ["MAX_DEPTH", "Decoded", "PayloadDecoder", "nesting_depth"]

#: Deepest nesting of objects and arrays accepted (the contract needs 4).
MAX_DEPTH = 32
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_US = timedelta(microseconds=1)
_BRACKETS = b'{}[]"'
_NOT_BRACKETS = bytes(b for b in range(256) if b not in _BRACKETS)


class _Reading(msgspec.Struct, forbid_unknown_fields=True):
    ts: int | float | str
    values: dict[str, float]
    seq: int | None = None


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    ts: int | float | str | None = None
    values: dict[str, float] | None = None
    seq: int | None = None
    readings: list[_Reading] | None = None


_decode_envelope = msgspec.json.Decoder(_Envelope).decode


@dataclass(slots=True)
class Decoded:
    """The accepted readings of one message, in parallel lists, and what was rejected.

    Attributes:
        metrics: metric name per value.
        times: ``int`` microseconds since the epoch per value.
        values: ``float`` per value (finite).
        rejects: ``(reason, detail)`` per rejected reading or value.
    """

    metrics: list[str] = field(default_factory=list)
    times: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)
    rejects: list[tuple[str, str]] = field(default_factory=list)


class PayloadDecoder:
    """Decodes payloads for one sensor kind's metrics, within time and size limits.

    ``registry`` returns the current sensor-kind registry (read once per message).

    >>> from controlcenter.config import IngestSettings
    >>> d = PayloadDecoder(IngestSettings())
    >>> now = 1_700_000_000_000_000
    >>> out = d.decode("air", b'{"ts": 1700000000000, "values": {"pm10": 41}}', now)
    >>> out.metrics, out.times, out.values
    (['pm10'], [1700000000000000], [41.0])
    >>> d.decode("air", b'{"ts": 1700000000000, "values": {"kw": 1}}', now).rejects
    [('unknown_metric', "'kw' is not a metric of air")]
    """

    def __init__(
        self, settings: IngestSettings, registry: Callable[[], Registry] = packaged
    ) -> None:
        self._registry = registry
        self._max_bytes = settings.max_payload_bytes
        self._max_readings = settings.max_readings_per_message
        self._skew_us = int(settings.max_future_skew_s * US_PER_S)
        self._age_us = int(settings.max_age_days * 86_400 * US_PER_S)

    def decode(self, kind: str, payload: bytes, now_us: int) -> Decoded:
        """Decode one message of a ``kind`` sensor received at ``now_us``.

        Raises:
            PayloadError: when nothing in the message can be used.
        """
        if len(payload) > self._max_bytes:
            raise PayloadError("payload_too_large", f"{len(payload)} bytes > {self._max_bytes}")
        if not payload.strip():
            raise PayloadError("empty_payload", "no bytes")
        try:
            env = _decode_envelope(payload)
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            # Not the happy shape: read leniently to keep what can be kept.
            return self._lenient(kind, payload, now_us, exc)
        if env.readings is not None:
            if not env.readings:
                raise PayloadError("empty_payload", "no readings")
            items = [(r.ts, r.values) for r in env.readings]
        elif env.ts is not None and env.values is not None:
            items = [(env.ts, env.values)]
        else:
            raise PayloadError("invalid_schema", 'expected {"ts", "values"} or {"readings"}')
        return self._validate(kind, items, now_us)

    def _lenient(self, kind: str, payload: bytes, now_us: int, exc: Exception) -> Decoded:
        if (depth := nesting_depth(payload)) > MAX_DEPTH:
            raise PayloadError("too_deeply_nested", f"{depth} levels > {MAX_DEPTH}")
        try:
            # The stdlib parser accepts NaN and Infinity, which some gateways send.
            doc = json.loads(payload)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise PayloadError("malformed_json", str(exc)) from exc
        if not isinstance(doc, dict):
            raise PayloadError(
                "invalid_schema", f"expected a JSON object, got {type(doc).__name__}"
            )
        readings = doc.get("readings", [doc]) if "readings" in doc else [doc]
        if not isinstance(readings, list):
            raise PayloadError("invalid_schema", '"readings" must be a list')
        if not readings:
            raise PayloadError("empty_payload", "no readings")
        items: list[tuple[Any, Any]] = []
        bad: list[tuple[str, str]] = []
        for r in readings:
            if isinstance(r, dict) and "ts" in r and isinstance(r.get("values"), dict):
                items.append((r["ts"], r["values"]))
            else:
                bad.append(("invalid_schema", 'a reading needs "ts" and a "values" object'))
        out = self._validate(kind, items, now_us)
        out.rejects[:0] = bad
        if not out.values and not out.rejects:
            raise PayloadError("invalid_schema", str(exc))
        return out

    def _validate(self, kind: str, items: list[tuple[Any, Any]], now_us: int) -> Decoded:
        if len(items) > self._max_readings:
            raise PayloadError("too_many_readings", f"{len(items)} > {self._max_readings}")
        registry = self._registry()
        allowed = registry.limits(kind)
        units = registry.units(kind)
        lo, hi = now_us - self._age_us, now_us + self._skew_us
        out = Decoded()
        metrics, times, values, rejects = out.metrics, out.times, out.values, out.rejects
        for ts, vals in items:
            try:
                t = _parse_ts(ts)
            except PayloadError as exc:
                rejects.append((exc.reason, exc.detail))
                continue
            if t > hi:
                rejects.append(("timestamp_in_future", f"{ts!r} is ahead of the service clock"))
                continue
            if t < lo:
                rejects.append(("timestamp_too_old", f"{ts!r} is older than the age limit"))
                continue
            if not vals:
                rejects.append(("invalid_schema", "empty values"))
            for m, v in vals.items():
                limits = allowed.get(m)
                if limits is None:
                    rejects.append(("unknown_metric", f"{m[:40]!r} is not a metric of {kind}"))
                elif type(v) is float or (type(v) is int):
                    f = _finite(v)
                    if f is None:
                        rejects.append(("non_finite_value", f"{m}={str(v)[:40]}"))
                    elif limits[0] <= f <= limits[1]:
                        metrics.append(m)
                        times.append(t)
                        values.append(f)
                    else:
                        rejects.append(("value_out_of_range", _out_of_range(m, f, limits, units)))
                else:
                    rejects.append(("invalid_value", f"{m}={str(v)[:40]!r} is not a number"))
        return out


def nesting_depth(payload: bytes) -> int:
    """How deep objects and arrays nest in ``payload`` (JSON), without parsing it.

    Exact for valid JSON; anything for invalid JSON (which no parser accepts anyway).

    >>> nesting_depth(b'{"readings": [{"ts": 1, "values": {"kw": 1}}], "x": "[[["}')
    4
    """
    # Escaped backslashes, then escaped quotes; then only brackets and quotes remain, and
    # every other run between quotes is a string's content.
    s = payload.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_BRACKETS)
    if b'"' in s:
        s = b"".join(s.split(b'"')[::2])
    if not s:
        return 0
    # The bit of value 2 is set in [ and { (91, 123), clear in ] and } (93, 125).
    step = (np.frombuffer(s, np.uint8) & 2).astype(np.int64) - 1
    return max(0, int(np.cumsum(step).max()))


def _out_of_range(
    metric: str, value: float, limits: tuple[float, float], units: Mapping[str, str]
) -> str:
    unit = f" {units[metric]}" if units.get(metric) else ""
    return f"{metric}={value:g} is outside [{limits[0]:g}, {limits[1]:g}]{unit}"


def _finite(v: float) -> float | None:
    """``v`` as a finite float, or None (NaN, infinities, integers beyond float range)."""
    try:
        f = float(v)
    except OverflowError:  # an integer of more than 308 digits
        return None
    return f if math.isfinite(f) else None


def _parse_ts(ts: object) -> int:
    """Microseconds since the epoch from RFC 3339 text or epoch milliseconds."""
    if isinstance(ts, str):
        try:
            dt = datetime.fromisoformat(ts)
        except ValueError:
            raise PayloadError("bad_timestamp", f"{ts[:40]!r} is not RFC 3339") from None
        if dt.tzinfo is None:
            raise PayloadError("bad_timestamp", f"{ts[:40]!r} has no UTC offset")
        return (dt - _EPOCH) // _ONE_US
    if type(ts) is int:
        return ts * 1000
    if type(ts) is float and math.isfinite(ts * 1000):  # 1e306 ms is no time either
        return round(ts * 1000)
    raise PayloadError("bad_timestamp", f"{str(ts)[:40]!r} is neither RFC 3339 nor epoch ms")
