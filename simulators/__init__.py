"""Sensor simulators for controlcenter: a whole industrial complex on a laptop.

The package speaks only the public MQTT contract, as factory gateways do, and imports
nothing from controlcenter but its domain vocabulary (kinds, metrics, units).
"""

from simulators.anomaly import Anomaly, AnomalyPlanner
from simulators.engine import Simulation, parse_shard
from simulators.files import GenerateStats, generate, read_readings, read_series
from simulators.frame import Frame
from simulators.layout import Layout, SensorTable, build_layout
from simulators.live import RunOptions, RunStats, run_live
from simulators.payload import Message, PayloadEncoder, status_topic
from simulators.publisher import GatewayPool, Link, LinkError
from simulators.replay import ReplayOptions, replay
from simulators.scenario import ANOMALY_TYPES, Scenario, ScenarioError, load_scenario

__all__ = [
    "ANOMALY_TYPES",
    "Anomaly",
    "AnomalyPlanner",
    "Frame",
    "GatewayPool",
    "GenerateStats",
    "Layout",
    "Link",
    "LinkError",
    "Message",
    "PayloadEncoder",
    "ReplayOptions",
    "RunOptions",
    "RunStats",
    "Scenario",
    "ScenarioError",
    "SensorTable",
    "Simulation",
    "build_layout",
    "generate",
    "load_scenario",
    "parse_shard",
    "read_readings",
    "read_series",
    "replay",
    "run_live",
    "status_topic",
]
