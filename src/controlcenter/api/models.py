"""Response models of the REST API (they document the OpenAPI schema, with examples)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from controlcenter.grades import Grade
from controlcenter.kinds import KIND_PATTERN

__all__ = [
    "AlertCounts",
    "ApiKeyCreated",
    "ApiKeyInfo",
    "DeadLetterOut",
    "DeadLetterPage",
    "FactoryOut",
    "FactoryPage",
    "FactorySummary",
    "HistoryOut",
    "LatestOut",
    "Problem",
    "ReasonCount",
    "SafetyLine",
    "SensorOut",
    "SensorPage",
    "SeriesHistory",
    "SeriesOut",
    "SeriesPage",
    "SiteOut",
    "SitePage",
    "SiteSummary",
]

_T0 = "2026-11-23T09:00:00Z"


class Problem(BaseModel):
    """An error: every 4xx and 5xx answer has this shape."""

    detail: Any = Field(examples=["start must be before end"])


class _Page(BaseModel):
    limit: int = Field(examples=[100])
    offset: int = Field(examples=[0])
    next_offset: int | None = Field(None, description="offset of the next page, if any")


class SiteOut(BaseModel):
    """A site of the complex."""

    site: str = Field(examples=["namdong"])
    name: str | None = Field(None, examples=["Namdong national industrial complex"])
    factories: int = Field(examples=[412])


class SitePage(_Page):
    """A page of sites."""

    items: list[SiteOut]


class FactoryOut(BaseModel):
    """A factory (a tenant of the complex's data platform)."""

    site: str = Field(examples=["namdong"])
    factory: str = Field(examples=["f001"])
    name: str | None = Field(None, examples=["Hanil Precision"])
    industry: str | None = Field(None, examples=["metal plating"])
    contract_kw: float | None = Field(None, examples=[450.0])
    gateway_status: str | None = Field(None, examples=["online"])
    gateway_status_at: datetime | None = Field(None, examples=[_T0])


class FactoryPage(_Page):
    """A page of factories."""

    items: list[FactoryOut]


class SensorOut(BaseModel):
    """A sensor of a factory."""

    site: str = Field(examples=["namdong"])
    factory: str = Field(examples=["f001"])
    kind: str = Field(pattern=KIND_PATTERN, examples=["gas"])
    sensor: str = Field(examples=["aq1"])
    location: str | None = Field(None, examples=["roof"])
    metadata: dict[str, Any] = Field(default_factory=dict)


class SensorPage(_Page):
    """A page of sensors."""

    items: list[SensorOut]


class SeriesOut(BaseModel):
    """One metric of one sensor, with its dense id (used by history and live feeds)."""

    series_id: int = Field(examples=[17])
    site: str = Field(examples=["namdong"])
    factory: str = Field(examples=["f001"])
    kind: str = Field(pattern=KIND_PATTERN, examples=["air"])
    sensor: str = Field(examples=["aq1"])
    metric: str = Field(examples=["pm25"])
    unit: str = Field(examples=["ug/m3"])


class SeriesPage(_Page):
    """A page of series."""

    items: list[SeriesOut]


class LatestOut(BaseModel):
    """Latest value per selected series, in parallel columns (series with no reading yet
    are listed in ``missing``)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "count": 2,
                    "series": [17, 18],
                    "time": [_T0, _T0],
                    "value": [23.5, 41.0],
                    "missing": [19],
                    "from_database": 0,
                }
            ]
        }
    )

    count: int
    series: list[int]
    time: list[datetime]
    value: list[float]
    missing: list[int]
    from_database: int = Field(description="how many were not in the live cache")
    keys: list[SeriesOut] | None = Field(None, description="with keys=true: each series' names")


class SeriesHistory(BaseModel):
    """Buckets of one series: columns of equal length, oldest first."""

    series_id: int
    time: list[datetime] = Field(description="bucket start")
    avg: list[float]
    min: list[float]
    max: list[float]
    last: list[float]
    count: list[int]


class HistoryOut(BaseModel):
    """Downsampled history: at most ``max_points`` buckets per series."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "source": "readings_1m",
                    "bucket_s": 2640.0,
                    "start": "2026-10-24T09:00:00Z",
                    "end": _T0,
                    "series": [
                        {
                            "series_id": 17,
                            "time": ["2026-10-24T09:00:00Z"],
                            "avg": [21.2],
                            "min": [12.0],
                            "max": [35.0],
                            "last": [20.0],
                            "count": [2640],
                        }
                    ],
                }
            ]
        }
    )

    source: Literal["readings", "readings_1m", "readings_5m", "readings_1h"] = Field(
        description="raw rows, or the 1-minute, 5-minute or 1-hour rollup"
    )
    bucket_s: float = Field(description="bucket width in seconds")
    start: datetime
    end: datetime
    series: list[SeriesHistory]


class AlertCounts(BaseModel):
    """Open alerts by severity (zero, with ``available`` false, before the alerts table exists)."""

    available: bool = Field(examples=[True])
    by_severity: dict[str, int] = Field(examples=[{"critical": 1, "warning": 3}])
    total: int = Field(examples=[4])


class _Power(BaseModel):
    demand_kw: float = Field(description="sum of the latest kw readings", examples=[312.5])
    contract_kw: float | None = Field(examples=[450.0])
    utilisation: float | None = Field(description="demand / contract", examples=[0.69])
    meters: int = Field(examples=[2])


class _Parking(BaseModel):
    occupied: float = Field(examples=[37])
    capacity: float = Field(examples=[60])
    occupancy: float | None = Field(examples=[0.62])


class _Air(BaseModel):
    grade: Grade | None = Field(description="the worse of the PM10 and PM2.5 grades")
    pm10: float | None = Field(description="worst latest PM10 (ug/m3)", examples=[42.0])
    pm10_grade: Grade | None = None
    pm25: float | None = Field(description="worst latest PM2.5 (ug/m3)", examples=[18.0])
    pm25_grade: Grade | None = None
    stations: int = Field(examples=[3])


class _SetPoint(BaseModel):
    op: str = Field(examples=["above"])
    at: list[float] = Field(examples=[[10.0, 15.0]])


class _WorstReading(BaseModel):
    kind: str = Field(examples=["gas"])
    metric: str = Field(examples=["h2s"])
    factory: str | None = Field(None, examples=["f001"])
    sensor: str | None = Field(None, examples=["gd-01"])
    value: float = Field(examples=[12.0])
    unit: str = Field(examples=["ppm"])
    set_points: list[_SetPoint]
    rules: list[str] = Field(
        default_factory=list,
        description="the alert rules the set points come from (the narrowest scope covering"
        " the sensor); empty: the registry's default rules, no stored rule covers it",
        examples=[["gas-h2s"]],
    )
    level: int = Field(description="alarms passed: 0 none, 1 alarm 1, 2 alarm 2", examples=[1])
    ratio: float | None = Field(None, description="value against alarm 1", examples=[1.2])


class SafetyLine(BaseModel):
    """Gas and fire: open alarms per safety kind and the worst reading against its set points."""

    alarm: bool = Field(description="an alert of a safety kind (gas, fire) is open")
    alerts: dict[str, int] = Field(examples=[{"gas": 1, "fire": 0}])
    worst: _WorstReading | None = None


class FactorySummary(BaseModel):
    """A factory's dashboard tile."""

    site: str = Field(examples=["namdong"])
    factory: str = Field(examples=["f001"])
    name: str | None = None
    gateway_status: str | None = Field(None, examples=["online"])
    air: _Air
    power: _Power
    parking: _Parking
    safety: SafetyLine
    alerts: AlertCounts


class SiteSummary(BaseModel):
    """A site's dashboard header: its factories' totals and grades."""

    site: str = Field(examples=["namdong"])
    factories: int = Field(examples=[412])
    air: _Air
    factory_grades: dict[str, int] = Field(
        description="factories per air grade", examples=[{"good": 300, "normal": 100, "bad": 12}]
    )
    power: _Power
    parking: _Parking
    safety: SafetyLine
    alerts: AlertCounts


class DeadLetterOut(BaseModel):
    """A message ingest could not use, with why."""

    id: int = Field(examples=[981])
    received_at: datetime
    topic: str = Field(examples=["cc/v1/namdong/f001/air/aq1"])
    reason: str = Field(examples=["unknown_metric"])
    detail: str = Field(examples=["'pm1' is not a metric of air"])
    payload: str = Field(description="the payload as text (first 4 KiB, invalid UTF-8 replaced)")
    payload_bytes: int = Field(examples=[57])


class DeadLetterPage(BaseModel):
    """Dead letters, newest first; pass ``next_before_id`` as ``before_id`` for older ones."""

    items: list[DeadLetterOut]
    next_before_id: int | None = None


class ReasonCount(BaseModel):
    """How many dead letters had one reason."""

    reason: str = Field(examples=["malformed_json"])
    count: int = Field(examples=[12])
    last_at: datetime


class ApiKeyInfo(BaseModel):
    """An API key's metadata (never its secret)."""

    key_id: str = Field(examples=["3f9a0c2b7d1e"])
    name: str = Field(examples=["control room wall"])
    role: str = Field(examples=["viewer"])
    site: str | None = None
    factory: str | None = None
    created_at: datetime | None = None
    revoked_at: datetime | None = None


class ApiKeyCreated(ApiKeyInfo):
    """A new key: ``key`` is shown this once only."""

    key: str = Field(examples=["cc_3f9a0c2b7d1e_yH3...q8"])
