"""The bare-subscriber baseline: aiomqtt, MQTT 5, QoS 1, acked on receipt, nothing else.

Usage: python bench/_bare_subscriber.py HOST PORT ROOT N RECEIVE_MAXIMUM
Prints "ready" once subscribed, then one JSON line when N messages have arrived.
"""

from __future__ import annotations

import json
import sys
import time

import aiomqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties


async def main() -> None:
    host, port, root, n, rmax = (
        sys.argv[1],
        int(sys.argv[2]),
        sys.argv[3],
        int(sys.argv[4]),
        int(sys.argv[5]),
    )
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = rmax
    props.SessionExpiryInterval = 300
    client = aiomqtt.Client(
        host,
        port,
        identifier=f"bench-bare-{time.time_ns()}",
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=True,
        properties=props,
        max_queued_incoming_messages=0,  # unbounded: acked on receipt, nothing may drop
    )
    async with client:
        await client.subscribe(f"{root}/v1/#", qos=1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        got = 0
        started = 0.0
        async for _ in client.messages:
            if got == 0:
                started = time.perf_counter()
            got += 1
            if got >= n:
                break
        seconds = time.perf_counter() - started
    sys.stdout.write(json.dumps({"messages": got, "seconds": seconds}) + "\n")


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
