"""Sensor simulators for controlcenter: a whole industrial complex on a laptop.

The package speaks only the public MQTT contract, as factory gateways do, and imports
nothing from controlcenter but its domain vocabulary (kinds, metrics, units).
"""

from simulators.anomaly import Anomaly, AnomalyPlanner
from simulators.engine import Simulation, parse_shard
from simulators.files import GenerateStats, generate, read_readings, read_series
from simulators.frame import Frame
from simulators.incident import INCIDENT_TYPES, Incident, Run, draw_incident, simulate
from simulators.layout import Layout, SensorTable, build_layout
from simulators.live import RunOptions, RunStats, run_live
from simulators.payload import Message, PayloadEncoder, status_topic
from simulators.publisher import GatewayPool, Link, LinkError
from simulators.replay import ReplayOptions, replay
from simulators.safety import SitePlan, build_plan
from simulators.scenario import ANOMALY_TYPES, Scenario, ScenarioError, load_scenario

__all__ = [
    "ANOMALY_TYPES",
    "INCIDENT_TYPES",
    "Anomaly",
    "AnomalyPlanner",
    "Frame",
    "GatewayPool",
    "GenerateStats",
    "Incident",
    "Layout",
    "Link",
    "LinkError",
    "Message",
    "PayloadEncoder",
    "ReplayOptions",
    "Run",
    "RunOptions",
    "RunStats",
    "Scenario",
    "ScenarioError",
    "SensorTable",
    "Simulation",
    "SitePlan",
    "build_layout",
    "build_plan",
    "draw_incident",
    "generate",
    "load_scenario",
    "parse_shard",
    "read_readings",
    "read_series",
    "replay",
    "run_live",
    "simulate",
    "status_topic",
]
