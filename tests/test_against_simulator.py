"""Real faults from the simulator, seen through the http check and through the daemon."""

from __future__ import annotations

import statistics
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from checks.base import CheckEnv
from checks.http import HttpTarget, build
from monitor.daemon import Daemon
from monitor.observation import Reason, State
from monitor.settings import Config
from monitor.simulate import World
from tests.conftest import wait_for

VENUE = "binance-sim"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(VENUE,), seed=1) as w:
        yield w


def http_target(url: str, **extra: Any) -> HttpTarget:
    return HttpTarget.model_validate(
        {"name": "sim", "kind": "http", "url": url, "interval": "5s", "timeout": "1s", **extra})


async def probe(url: str, **extra: Any) -> Any:
    return await build(http_target(url, **extra), CheckEnv()).probe()


@pytest.mark.parametrize(
    ("fault", "params", "extra", "reason"),
    [
        ("http_5xx", {}, {}, Reason.HTTP_5XX),
        ("rate_limit", {"retry_after": 7}, {}, Reason.RATE_LIMITED),
        ("rate_limit", {"status": 418}, {}, Reason.RATE_LIMITED),
        ("geo_block", {}, {}, Reason.GEO_BLOCKED),
        ("reset", {}, {}, Reason.ERROR),
        ("hang", {}, {"timeout": "500ms"}, Reason.TIMEOUT),
        ("garbage", {}, {"expect": {"json": {"serverTime": "> 0"}}}, Reason.INVALID_RESPONSE),
        ("oversized", {"size": 3 * 1024 * 1024}, {}, Reason.INVALID_RESPONSE),
        ("latency", {"ms": 300}, {"expect": {"max_latency": "100ms"}}, Reason.DEGRADED),
        (None, {}, {"expect": {"json": {"serverTime": "< 0"}}}, Reason.ASSERTION_FAILED),
        (None, {}, {"expect": {"json": {"serverTime": "> 0"}}}, Reason.OK),
    ],
)
async def test_each_simulated_fault_gives_its_reason(
    world: World, fault: str | None, params: dict[str, Any], extra: dict[str, Any],
    reason: Reason,
) -> None:
    if fault is not None:
        world.inject(VENUE, fault, **params)
    obs = await probe(world.url(VENUE) + "/api/v3/time", **extra)
    assert obs.reason is reason, obs.detail
    if fault == "rate_limit" and "retry_after" in params:
        assert obs.retry_after == 7.0


async def test_measured_latency_tracks_an_injected_delay(world: World) -> None:
    url = world.url(VENUE) + "/api/v3/ping"
    await probe(url)  # warm up imports and the server
    world.inject(VENUE, "latency", ms=200)
    latencies = [(await probe(url)).latency for _ in range(5)]
    median = statistics.median(latencies)
    assert 0.200 <= median <= 0.215, latencies


async def test_rate_limited_target_backs_off_for_retry_after(world: World, tmp_path: Path) -> None:
    config = Config.model_validate({
        "defaults": {"interval": "200ms", "timeout": "200ms"},
        "targets": [{"name": "rl", "kind": "http", "url": world.url(VENUE) + "/api/v3/ping"}],
    })
    daemon = Daemon(config, state_path=str(tmp_path / "s.db"))
    fault = world.inject(VENUE, "rate_limit", retry_after=2)
    await daemon.start()
    try:
        run = daemon.runs["rl"]
        await wait_for(lambda: run.probes >= 1, what="the first probe")
        first = run.health.last
        assert first is not None and first.reason is Reason.RATE_LIMITED
        world.clear(fault)
        await wait_for(lambda: run.probes >= 2, timeout=5, what="the probe after back-off")
        second = run.health.last
        assert second is not None and second.reason is Reason.OK
        # 200 ms interval, but the venue asked for 2 s: nothing in between
        assert second.started_at - first.started_at >= 1.95
        assert daemon.scheduler.stats["rl"].skipped >= 8
    finally:
        await daemon.stop()


async def test_daemon_marks_a_venue_down_then_up_again(world: World, tmp_path: Path) -> None:
    config = Config.model_validate({
        "defaults": {"interval": "100ms", "timeout": "100ms"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 2}},
        "targets": [{"name": "v", "kind": "http", "url": world.url(VENUE) + "/api/v3/time"}],
    })
    daemon = Daemon(config, state_path=str(tmp_path / "s.db"))
    await daemon.start()
    try:
        health = daemon.runs["v"].health
        await wait_for(lambda: health.state is State.UP, what="up")
        fault = world.inject(VENUE, "http_5xx")
        await wait_for(lambda: health.state is State.DOWN, what="down")
        world.clear(fault)
        await wait_for(lambda: health.state is State.UP, what="up again")
        await daemon.store.flush()
        history = await daemon.store.history("v")
        assert [(h.old_state, h.new_state) for h in reversed(history)] == [
            ("unknown", "up"), ("up", "down"), ("down", "up")]
        assert history[1].reason == "http_5xx"
    finally:
        await daemon.stop()


async def test_a_geo_blocked_venue_is_geo_blocked_not_down(world: World, tmp_path: Path) -> None:
    config = Config.model_validate({
        "defaults": {"interval": "100ms", "timeout": "100ms"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 2}},
        "targets": [{"name": "v", "kind": "http", "url": world.url(VENUE) + "/api/v3/time"}],
    })
    world.inject(VENUE, "geo_block")
    daemon = Daemon(config, state_path=str(tmp_path / "s.db"))
    await daemon.start()
    try:
        run = daemon.runs["v"]
        await wait_for(lambda: run.probes >= 3, what="three probes")
        assert run.health.last is not None and run.health.last.reason is Reason.GEO_BLOCKED
        assert run.health.state is State.DEGRADED
    finally:
        await daemon.stop()
