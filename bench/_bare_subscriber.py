"""The bare-subscriber baseline: aiomqtt, MQTT 5, QoS 1, acked on receipt, nothing else.

Usage: python bench/_bare_subscriber.py HOST PORT ROOT N RECEIVE_MAXIMUM [CLIENT_ID [prime]]
Prints "ready" once subscribed, then one JSON line when N messages have arrived. With a
CLIENT_ID the session is persistent (the broker keeps what is published while it is away);
with ``prime`` it only subscribes and leaves (so that messages queue for it).
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
    persistent = len(sys.argv) > 6
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = rmax
    props.SessionExpiryInterval = 3600 if persistent else 300
    client = aiomqtt.Client(
        host,
        port,
        identifier=sys.argv[6] if persistent else f"bench-bare-{time.time_ns()}",
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=not persistent,
        properties=props,
        max_queued_incoming_messages=0,  # unbounded: acked on receipt, nothing may drop
    )
    async with client:
        await client.subscribe(f"{root}/v1/#", qos=1)
        sys.stdout.write("ready\n")
        sys.stdout.flush()
        if len(sys.argv) > 7 and sys.argv[7] == "prime":
            return
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
