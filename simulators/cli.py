"""``controlcenter-sim``: run, generate and replay a simulated industrial complex.

Examples::

    controlcenter-sim run --url mqtt://127.0.0.1:1883 --factories 5 --rate 200
    controlcenter-sim run --series 100000 --speed 0 --batch 50 --qos 0 --duration 30
    controlcenter-sim generate --out data/day1 --duration 86400
    controlcenter-sim replay data/day1 --url mqtt://127.0.0.1:1883 --speed 60
    controlcenter-sim positions --factories 5 --out positions.json
    controlcenter-sim incident --type gas_leak --out data/leak --seed 7 --wind-dir 250

The summary of a command is one JSON line on stdout; progress goes to stderr (logging).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

import msgspec
import numpy as np

from simulators.engine import Simulation, parse_shard
from simulators.files import generate
from simulators.incident import INCIDENT_TYPES, draw_incident, simulate
from simulators.incident_files import start_ms, write_run
from simulators.kinds import Kind
from simulators.layout import build_layout
from simulators.live import RunOptions, run_live
from simulators.payload import PayloadEncoder
from simulators.placement import positions_document
from simulators.publisher import GatewayPool, LinkError
from simulators.replay import ReplayOptions, replay
from simulators.safety import build_plan
from simulators.safety_live import SafetyFeed
from simulators.scenario import Scenario, ScenarioError, load_scenario

__all__ = ["build_parser", "main"]

logger = logging.getLogger(__name__)
# Gateways get their own connection (and a real last will) up to this many factories.
DEDICATED_LINKS_MAX = 500
ACCELERATED_BACKFILL_MS = 86_400_000


def _scenario_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("complex")
    g.add_argument("--scenario", help="scenario YAML file or shipped name (default: namdong)")
    g.add_argument("--seed", type=int, help="seed of every random draw (default: the file's)")
    g.add_argument("--factories", type=int, help="number of factories (gateways)")
    g.add_argument("--sensors-per-factory", type=int, help="sensors per factory (all sizes)")
    g.add_argument("--series", type=int, help="about this many series (overrides --factories)")
    g.add_argument("--anomaly-scale", type=float, help="multiply every anomaly rate (0: none)")
    g.add_argument("--start", help="first simulated instant, RFC 3339")
    g.add_argument("--shard", default="0/1", help="i/n: simulate factories with number %% n == i")
    p.add_argument("--log-level", default="INFO", help="logging level (stderr)")


def _mqtt_args(p: argparse.ArgumentParser, speed: float) -> None:
    g = p.add_argument_group("mqtt")
    g.add_argument("--url", default="mqtt://127.0.0.1:1883", help="broker URL")
    g.add_argument("--topic-root", default="cc", help="first topic level (default cc)")
    g.add_argument("--qos", type=int, choices=(0, 1), default=1, help="QoS of readings")
    g.add_argument("--batch", type=int, default=1, help="readings per message (gateway batch)")
    g.add_argument("--ts-format", choices=("ms", "rfc3339"), default="ms", help="ts encoding")
    g.add_argument("--speed", type=float, default=speed, help="simulated s per wall s; 0: max")
    g.add_argument("--count", type=int, help="stop after this many readings")
    g.add_argument("--links", type=int, help="0: a connection per gateway; N: N shared ones")
    g.add_argument(
        "--clear-status",
        action="store_true",
        help="on exit remove the gateways' retained status instead of leaving 'offline'",
    )
    g.add_argument("--window", type=int, default=100, help="messages in flight per connection")
    g.add_argument("--client-prefix", default=f"ccsim-{os.getpid()}", help="MQTT client ids")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``controlcenter-sim``."""
    parser = argparse.ArgumentParser(prog="controlcenter-sim", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="publish a live complex to an MQTT broker")
    _scenario_args(run)
    _mqtt_args(run, speed=1.0)
    run.add_argument("--rate", type=float, help="readings/s to offer (rescales sample intervals)")
    run.add_argument("--duration", type=float, help="stop after this many wall seconds")
    run.add_argument("--labels", type=Path, help="append injected anomalies to this CSV")
    gen = sub.add_parser("generate", help="write series, readings, labels and scenario files")
    _scenario_args(gen)
    gen.add_argument("--out", type=Path, required=True, help="output directory")
    gen.add_argument("--duration", type=float, help="simulated seconds (default: scenario's)")
    rep = sub.add_parser("replay", help="publish a generated directory to an MQTT broker")
    rep.add_argument("directory", type=Path)
    _mqtt_args(rep, speed=0.0)
    rep.add_argument("--shift-to-now", action="store_true", help="move timestamps to now")
    rep.add_argument("--log-level", default="INFO", help="logging level (stderr)")
    pos = sub.add_parser("positions", help="write the factories' and sensors' positions (JSON)")
    _scenario_args(pos)
    pos.add_argument("--out", type=Path, help="output file (default: stdout)")
    _incident_args(sub.add_parser("incident", help="write a labelled safety incident at a site"))
    return parser


def _incident_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--type", choices=INCIDENT_TYPES, default="gas_leak", help="what happens")
    p.add_argument("--out", type=Path, required=True, help="output directory")
    p.add_argument("--seed", type=int, default=1, help="site plan, signals and incident")
    p.add_argument("--factories", type=int, default=24, help="factories of the site")
    p.add_argument("--site", default="namdong-1", help="site id")
    p.add_argument("--source", help="source factory id (default: drawn)")
    p.add_argument("--start", help="first instant, RFC 3339 (default 2026-03-16T01:00:00Z)")
    p.add_argument("--duration", type=float, default=7200.0, help="simulated seconds")
    p.add_argument("--delay", type=float, default=600.0, help="seconds before the incident")
    p.add_argument("--wind-speed", type=float, default=3.0, help="mean wind, m/s")
    p.add_argument("--wind-dir", type=float, default=270.0, help="degrees from north, from")
    p.add_argument("--log-level", default="INFO", help="logging level (stderr)")


def _cmd_incident(args: argparse.Namespace) -> int:
    plan = build_plan(args.seed, args.factories, args.site)
    if args.source is not None and args.source not in plan.factories:
        raise ValueError(f"no factory {args.source!r}; the site has {', '.join(plan.factories)}")
    source = None if args.source is None else plan.factories.index(args.source)
    t0 = start_ms(args.start, 1_773_622_800_000)
    rng = np.random.default_rng([args.seed, 0x1C2])
    inc = draw_incident(plan, rng, args.type, t0 + int(args.delay * 1000), source)
    run = simulate(plan, t0, args.duration, [inc], args.seed,
                   wind_speed=args.wind_speed, wind_dir=args.wind_dir)  # fmt: skip
    rows = write_run(run, args.out)
    _emit(
        {
            "command": "incident",
            "out": str(args.out),
            "type": inc.type,
            "source_factory": plan.factories[inc.factory],
            "metric": inc.metric,
            "rows": rows,
            "labels": len(run.labels),
        }
    )
    return 0


def _scenario(args: argparse.Namespace) -> Scenario:
    return load_scenario(args.scenario).with_overrides(
        seed=args.seed,
        factories=args.factories,
        sensors_per_factory=args.sensors_per_factory,
        series=args.series,
        start=args.start,
        anomaly_scale=args.anomaly_scale,
    )


def _with_rate(scenario: Scenario, shard: tuple[int, int], rate: float, speed: float) -> Scenario:
    """Rescale every sampling interval so the shard offers ``rate`` readings per wall second."""
    layout = build_layout(scenario)
    in_shard = set(layout.shard_factories(*shard).tolist())
    natural = 0.0
    intervals = {}
    for kind in Kind:
        table = layout.tables[kind]
        sensors = sum(1 for f in table.factory.tolist() if f in in_shard)
        natural += sensors / (table.interval_ms / 1000.0)
        intervals[kind.value] = table.interval_ms / 1000.0
    if scenario.data.get("safety"):
        mask = np.zeros(layout.n_factories, dtype=np.bool_)
        mask[list(in_shard)] = True
        feed = SafetyFeed(layout, 0, mask)
        for name, dt in feed.intervals.items():
            natural += feed.sensors(name) / (dt / 1000.0)
            intervals[name] = dt / 1000.0
    natural *= speed if speed > 0 else 1.0
    factor = natural / rate
    intervals = {k: v * factor for k, v in intervals.items()}
    if min(intervals.values()) < 0.001:
        raise ScenarioError(f"--rate {rate:g} needs sample intervals under 1 ms; lower it")
    logger.info("sample intervals for %g readings/s: %s", rate, intervals)
    return scenario.with_overrides(intervals_s=intervals)


def _stop_event() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, frame: FrameType | None) -> None:
        logger.info("signal %d: stopping", signum)
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    return stop


def _emit(summary: dict[str, object]) -> None:
    sys.stdout.write(msgspec.json.encode(summary).decode() + "\n")
    sys.stdout.flush()


def _cmd_run(args: argparse.Namespace) -> int:
    shard = parse_shard(args.shard)
    scenario = _scenario(args)
    if args.rate:
        scenario = _with_rate(scenario, shard, args.rate, args.speed)
    now_ms = int(time.time() * 1000)
    start_ms = scenario.start_ms if args.start else now_ms
    if not args.start and args.speed != 1:
        # The service rejects timestamps ahead of its clock: accelerated time starts a day ago.
        start_ms -= ACCELERATED_BACKFILL_MS
    elif not args.start:
        # Real time: begin one sampling interval back, so every sensor reports at once.
        start_ms -= max(scenario.interval_ms(kind) for kind in Kind)
    sim = Simulation(scenario, start_ms=start_ms, shard=shard, epoch_steps=_epoch(args.batch))
    gateways = {int(f): sim.layout.gateway(int(f)) for f in sim.factories}
    links = (
        args.links if args.links is not None else (0 if len(gateways) <= DEDICATED_LINKS_MAX else 4)
    )
    encoder = PayloadEncoder(
        sim.layout, args.topic_root, batch=args.batch, ts_format=args.ts_format
    )
    pool = GatewayPool(
        args.url,
        args.topic_root,
        gateways,
        qos=args.qos,
        links=links,
        client_prefix=args.client_prefix,
        window=args.window,
    )
    stop = _stop_event()
    clock = now_ms if not args.start and args.speed == 1 else None
    options = RunOptions(args.speed, args.duration, args.count, args.labels, clock_ms=clock)
    pool.open()
    try:
        stats = run_live(sim, encoder, pool, options, stop)
    finally:
        pool.close(clear_status=args.clear_status)
    _emit(
        {
            "command": "run",
            "factories": len(gateways),
            "series": sum(len(r) * len(sim.layout.tables[k].metrics) for k, r in sim.rows.items()),
            "readings": stats.readings,
            "messages": stats.messages,
            "bytes": stats.bytes,
            "seconds": round(stats.seconds, 3),
            "readings_per_s": round(stats.readings_per_s, 1),
            "lost": stats.lost,
            "labels": stats.labels,
            "incident_labels": stats.incident_labels,
            "qos": args.qos,
            "batch": args.batch,
        }
    )
    return 0


def _epoch(batch: int) -> int:
    """Steps per frame: a multiple of the batch size, about 64."""
    b = max(1, batch)
    return b * max(1, -(-64 // b))


def _cmd_generate(args: argparse.Namespace) -> int:
    scenario = _scenario(args)
    duration = args.duration if args.duration is not None else scenario.duration_s
    scenario = scenario.with_overrides(duration_s=duration)
    sim = Simulation(scenario, start_ms=scenario.start_ms, shard=parse_shard(args.shard))
    began = time.monotonic()
    stats = generate(sim, args.out, duration)
    _emit(
        {
            "command": "generate",
            "out": str(args.out),
            "series": stats.series,
            "rows": stats.rows,
            "labels": stats.labels,
            "seconds": round(time.monotonic() - began, 3),
        }
    )
    return 0


def _cmd_replay(args: argparse.Namespace) -> int:
    options = ReplayOptions(
        speed=args.speed,
        batch=args.batch,
        ts_format=args.ts_format,
        count=args.count,
        shift_to_ms=int(time.time() * 1000) if args.shift_to_now else None,
    )
    readings, messages, seconds = replay(
        args.directory,
        args.url,
        args.topic_root,
        options,
        _stop_event(),
        qos=args.qos,
        links=args.links or 0,
        client_prefix=args.client_prefix,
        clear_status=args.clear_status,
    )
    rate = readings / seconds if seconds > 0 else 0.0
    _emit(
        {
            "command": "replay",
            "readings": readings,
            "messages": messages,
            "seconds": round(seconds, 3),
            "readings_per_s": round(rate, 1),
        }
    )
    return 0


def _cmd_positions(args: argparse.Namespace) -> int:
    document = msgspec.json.encode(positions_document(build_layout(_scenario(args))))
    if args.out is None:
        sys.stdout.write(document.decode() + "\n")
        sys.stdout.flush()
    else:
        args.out.write_bytes(document + b"\n")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``controlcenter-sim`` and ``python -m simulators``."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    commands = {
        "run": _cmd_run,
        "generate": _cmd_generate,
        "replay": _cmd_replay,
        "positions": _cmd_positions,
        "incident": _cmd_incident,
    }
    try:
        return commands[args.command](args)
    except (ScenarioError, ValueError) as exc:
        logger.error("%s", exc)  # noqa: TRY400 -- a usage error, not a crash: no traceback
        return 2
    except (LinkError, OSError) as exc:
        logger.error("broker: %s", exc)  # noqa: TRY400 -- as above
        return 1
