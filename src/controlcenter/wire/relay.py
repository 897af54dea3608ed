"""The live relay between workers: committed batches, already decoded, on
``{root}/relay/v1/{origin}``.

Workers that share the stream (``mqtt.shared_group``) each store only their share. For the
live hubs to see every reading, each worker republishes what it committed, in columns, and
the hubs read that instead of the gateways' payloads: a gateway's payload is decoded once,
by the worker that stored it. ``origin`` names the publishing process (a hub skips its own:
it has those readings from its pipeline). Only the service's account may publish there
(``deploy/mosquitto/acl``), so series ids on this topic come from the shared catalog.

A message: ``b"CCR1"``, a flags byte (1: in (series, time) order, one reading each), the
reading count (uint32), then the series ids (int32), times (int64 µs) and values
(float64), little-endian. At most :data:`MAX_READINGS` readings per message (20 bytes a
reading: within a broker's usual 1 MiB packet limit).
"""

from __future__ import annotations

import struct

import numpy as np

from controlcenter.domain import Batch
from controlcenter.errors import PayloadError

__all__ = ["MAX_READINGS", "decode_batch", "encode_batch", "relay_subscription", "relay_topic"]

MAX_READINGS = 20_000
_MAGIC = b"CCR1"
_HEADER = struct.Struct("<4sBI")
_BY_SERIES = 1
_I4, _I8, _F8 = np.dtype("<i4"), np.dtype("<i8"), np.dtype("<f8")


def relay_topic(root: str, origin: str) -> str:
    """The topic the process ``origin`` relays its committed batches on.

    >>> relay_topic("cc", "3f2a")
    'cc/relay/v1/3f2a'
    """
    return f"{root}/relay/v1/{origin}"


def relay_subscription(root: str) -> str:
    """Every process's relay."""
    return f"{root}/relay/v1/+"


def encode_batch(batch: Batch) -> list[bytes]:
    """``batch`` as relay messages of at most :data:`MAX_READINGS` readings each.

    >>> b = Batch.from_lists([1, 2], [10, 20], [0.5, 1.5]).deduplicated()
    >>> [m] = encode_batch(b)
    >>> d = decode_batch(m)
    >>> d.series.tolist(), d.time.tolist(), d.value.tolist(), d.by_series
    ([1, 2], [10, 20], [0.5, 1.5], True)
    """
    flags = _BY_SERIES if batch.by_series else 0
    out = []
    for lo in range(0, len(batch), MAX_READINGS):
        hi = min(lo + MAX_READINGS, len(batch))
        out.append(
            b"".join(
                (
                    _HEADER.pack(_MAGIC, flags, hi - lo),
                    batch.series[lo:hi].astype(_I4, copy=False).tobytes(),
                    batch.time[lo:hi].astype(_I8, copy=False).tobytes(),
                    batch.value[lo:hi].astype(_F8, copy=False).tobytes(),
                )
            )
        )
    return out


def decode_batch(raw: bytes) -> Batch:
    """The batch of one relay message.

    Raises:
        PayloadError: not a relay message of this version, or truncated.
    """
    if len(raw) < _HEADER.size:
        raise PayloadError("bad_relay", "shorter than the header")
    magic, flags, n = _HEADER.unpack_from(raw)
    if magic != _MAGIC or len(raw) != _HEADER.size + 20 * n:
        raise PayloadError("bad_relay", f"not a {_MAGIC.decode()} message of {n} readings")
    at = _HEADER.size
    series = np.frombuffer(raw, _I4, n, at)
    time = np.frombuffer(raw, _I8, n, at + 4 * n)
    value = np.frombuffer(raw, _F8, n, at + 12 * n)
    if n and int(series.min()) < 0:
        raise PayloadError("bad_relay", "negative series id")
    return Batch(
        series.astype(np.int32, copy=False),
        time.astype(np.int64, copy=False),
        value.astype(np.float64, copy=False),
        by_series=bool(flags & _BY_SERIES),
    )
