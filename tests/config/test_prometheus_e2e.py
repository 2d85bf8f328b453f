"""End to end: a real Prometheus loading config/prometheus/*.yml scrapes a real outagemon
daemon watching the simulator; every rule evaluates, and a 5xx fault fires TargetDown."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from monitor.simulate import World
from tests.config.prometheus_process import PROMETHEUS, PrometheusProcess
from tests.conftest import wait_for
from tests.daemon_process import DaemonProcess

VENUE = "binance-sim"
TARGET = "venue-time"

pytestmark = pytest.mark.skipif(shutil.which(PROMETHEUS) is None,
                                reason="prometheus not installed")


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(VENUE,)) as w:
        yield w


@pytest.fixture
async def daemon(world: World, tmp_path: Path) -> AsyncIterator[DaemonProcess]:
    config = tmp_path / "outagemon.yaml"
    config.write_text(f"""
vantage: e2e
defaults: {{interval: 300ms, timeout: 300ms}}
alerts: {{defaults: {{failure_threshold: 1, success_threshold: 1}}}}
targets:
  - {{name: {TARGET}, kind: http, provider: binance, url: "{world.url(VENUE)}/api/v3/time"}}
""")
    proc = DaemonProcess(config, tmp_path / "state.db")
    try:
        await proc.start()
        await proc.wait_ready()
        yield proc
    finally:
        await proc.stop()


@pytest.fixture
async def prometheus(daemon: DaemonProcess, tmp_path: Path) -> AsyncIterator[PrometheusProcess]:
    directory = tmp_path / "prometheus"
    directory.mkdir()
    prom = PrometheusProcess(directory, [f"127.0.0.1:{daemon.port}"])
    try:
        await prom.start()
        yield prom
    finally:
        await prom.stop()


def all_rules(groups: dict[str, Any]) -> list[dict[str, Any]]:
    return [rule for group in groups["groups"] for rule in group["rules"]]


async def test_rules_evaluate_and_target_down_fires(
    world: World, prometheus: PrometheusProcess
) -> None:
    async def evaluated() -> bool:
        rules = all_rules(await prometheus.api("/api/v1/rules"))
        return bool(rules) and all(rule["health"] != "unknown" for rule in rules)

    await wait_for(evaluated, timeout=15, interval=0.2, what="every rule evaluated once")
    rules = all_rules(await prometheus.api("/api/v1/rules"))
    broken = [(r["name"], r.get("lastError")) for r in rules
              if r["health"] != "ok" or r.get("state") == "err"]
    assert broken == [], broken
    names = {rule["name"] for rule in rules}
    assert {"TargetDown", "RegionalBlocking", "outagemon:availability:ratio_30d"} <= names
    assert len(rules) == 28

    async def availability() -> bool:
        result = await prometheus.query(f'outagemon:availability:ratio_5m{{target="{TARGET}"}}')
        return bool(result) and float(result[0]["value"][1]) == 1.0

    await wait_for(availability, timeout=15, interval=0.2, what="the 5m availability")
    assert await prometheus.query('ALERTS{alertname="TargetDown"}') == []

    world.inject(VENUE, "http_5xx")
    expr = f'ALERTS{{alertname="TargetDown", alertstate="firing", target="{TARGET}"}}'

    async def firing() -> bool:
        return bool(await prometheus.query(expr))

    await wait_for(firing, timeout=20, interval=0.2, what="TargetDown in ALERTS")
    labels = (await prometheus.query(expr))[0]["metric"]
    assert labels["severity"] == "critical"
    assert labels["vantage"] == "e2e"
    assert labels["provider"] == "binance"
    assert labels["kind"] == "http"
    assert labels["job"] == "outagemon"
