"""The summaries' safety line measures readings against the rules operators set: a per-site
or per-factory override of a gas rule, created through the API, replaces the registry's
default set points for the sensors it covers, and only for those."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from controlcenter.api.auth import Role
from tests.api._api import Api, batch, running_api, unique_site


@pytest.fixture(scope="module")
async def api(database_url: str, mqtt_url: str) -> AsyncIterator[Api]:
    from controlcenter.config import Settings

    settings = Settings(database_url=database_url, mqtt_url=mqtt_url)
    async with running_api(settings, alerts=True) as running:
        yield running


def _rule(name: str, scope: dict[str, str], at: float, step: float) -> dict[str, object]:
    return {
        "name": name,
        "scope": {**scope, "kind": "gas"},
        "conditions": [{"metric": "h2s", "op": "above", "raise_at": at}],
        "severity": "warning",
        "steps": [{"at": step, "severity": "critical"}],
    }


async def test_safety_line_uses_the_narrowest_rule_that_covers_each_sensor(api: Api):
    site = unique_site()
    f1 = await api.series(site, "f1", "gas", "gd1", ["h2s"])
    f2 = await api.series(site, "f2", "gas", "gd1", ["h2s"])
    now = time.time_ns() // 1000
    # 6 ppm: under the default alarm 1 (10 ppm, the 8-hour exposure limit) everywhere.
    api.state.hub.update(batch(f1 + f2, [now, now], [6.0, 6.0]))
    viewer = await api.client()
    admin = await api.client(Role.ADMIN)

    async def worst(factory: str) -> dict[str, object]:
        r = await viewer.get(f"/api/v1/factories/{site}/{factory}/summary")
        assert r.status_code == 200, r.text
        return r.json()["safety"]["worst"]

    before = await worst("f1")
    assert (before["level"], before["set_points"]) == (0, [{"op": "above", "at": [10.0, 15.0]}])
    # The kind's default rule as stored (once the service has seen the kind), else the
    # registry's defaults themselves: the same set points.
    assert before["rules"] in ([], ["gas-h2s"])

    # The site lowers the H2S alarms to 5 / 8 ppm: both factories' 6 ppm pass alarm 1.
    made = await admin.post("/api/v1/alert-rules", json=_rule(f"h2s-{site}", {"site": site}, 5, 8))
    assert made.status_code == 201, made.text
    for factory in ("f1", "f2"):
        w = await worst(factory)
        assert (w["level"], w["ratio"], w["rules"]) == (1, 1.2, [f"h2s-{site}"])
        assert w["set_points"] == [{"op": "above", "at": [5.0, 8.0]}]

    # Factory f2 raises them again to 7 / 20 ppm: its factory rule beats the site's.
    scope = {"site": site, "factory": "f2"}
    made = await admin.post("/api/v1/alert-rules", json=_rule(f"h2s-{site}-f2", scope, 7, 20))
    assert made.status_code == 201, made.text
    w2 = await worst("f2")
    assert (w2["level"], w2["set_points"]) == (0, [{"op": "above", "at": [7.0, 20.0]}])
    assert (await worst("f1"))["level"] == 1  # f1 still under the site's override
    site_line = (await viewer.get(f"/api/v1/sites/{site}/summary")).json()["safety"]["worst"]
    assert (site_line["factory"], site_line["level"]) == ("f1", 1)

    # A disabled override no longer counts: f2 is back under the site's rule.
    rule_id = made.json()["id"]
    off = await admin.put(
        f"/api/v1/alert-rules/{rule_id}",
        json={**_rule(f"h2s-{site}-f2", scope, 7, 20), "enabled": False},
    )
    assert off.status_code == 200, off.text
    assert (await worst("f2"))["set_points"] == [{"op": "above", "at": [5.0, 8.0]}]
