"""`outagemon demo`: the simulated world plus the daemon watching it, in one process.

A new user with no network sees outages appear and resolve on `/` and in Grafana.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from monitor.cli import EXIT_USAGE, run_async
from monitor.commands.run import serve as serve_daemon
from monitor.commands.simulate import log_world
from monitor.settings import Config
from monitor.simulate import World
from monitor.simulate.scenarios import UnknownScenario, get_scenario

DEFAULT_SCENARIO = "flaky"
DEMO_VENUES = ("binance-sim", "okx-sim")


def demo_config(world: World) -> Config:
    """Targets of every kind that exists, pointed at the simulated world."""
    targets: list[dict[str, Any]] = []
    for venue in world.venues:
        base = world.url(venue)
        address = base.removeprefix("http://")
        provider = venue.removesuffix("-sim")
        targets += [
            {"name": f"{venue}-ping", "kind": "http", "provider": provider,
             "url": f"{base}/api/v3/ping"},
            {"name": f"{venue}-time", "kind": "http", "provider": provider,
             "url": f"{base}/api/v3/time",
             "expect": {"json": {"serverTime": "> 0"}, "max_latency": "250ms"}},
            {"name": f"{venue}-system-status", "kind": "http", "provider": provider,
             "url": f"{base}/sapi/v1/system/status", "expect": {"json": {"status": 0}}},
            {"name": f"{venue}-price", "kind": "http", "provider": provider,
             "url": f"{base}/api/v3/ticker/price?symbol=BTCUSDT",
             "expect": {"json": {"price": "> 0"}}},
            {"name": f"{venue}-port", "kind": "tcp", "provider": provider, "address": address},
        ]
    return Config.model_validate({
        "vantage": "demo",
        "defaults": {"interval": "5s", "timeout": "2s"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 2}},
        "targets": targets,
    })


def demo_command(scenario: str | None, *, host: str, port: int, state: str) -> int:
    scenario = scenario or DEFAULT_SCENARIO
    try:
        get_scenario(scenario)
    except UnknownScenario as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    return run_async(_demo(scenario, host=host, port=port, state=state))


async def _demo(scenario: str, *, host: str, port: int, state: str) -> int:
    world = World(venues=DEMO_VENUES)
    await world.start()
    try:
        world.play(scenario)
        log_world(world)
        config = demo_config(world)
        return await serve_daemon(config, lambda: config, host=host, port=port, state=state,
                                  shard=None)
    finally:
        await asyncio.shield(world.stop())
