"""`outagemon demo`: the simulated world plus the daemon watching it, in one process.

A new user with no network sees outages appear and resolve on `/` and in Grafana: one
simulated venue per adapter shape, each watched through its real adapter, prices compared
across them.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from monitor.cli import EXIT_USAGE, run_async
from monitor.commands.run import serve as serve_daemon
from monitor.commands.simulate import log_world
from monitor.settings import Config
from monitor.simulate import World, one_venue_per_shape
from monitor.simulate.scenarios import UnknownScenario, get_scenario

DEFAULT_SCENARIO = "flaky"
DEMO_VENUES = one_venue_per_shape()  # {"binance-sim": "binance", "okx-sim": "okx", ...}
MARKET = "BTC-USDT"
STABLE_MARKET = "USDE-USDT"  # the depeg scenario's market
STABLE_SHAPES = ("binance", "bybit", "okx", "kucoin", "bitget")  # venues listing USDe
STALE_AFTER = "5s"  # the scenarios stall streams for 20 s


def _exchange(world: World, venue: str, market: str, name: str) -> dict[str, Any]:
    shape = world.shape(venue)
    return {"name": name, "kind": "exchange", "provider": shape, "exchange": shape,
            "market": market, "rest_url": world.url(venue), "ws_url": world.ws_url(venue),
            "stale_after": STALE_AFTER}


def _price(name: str, market: str, venues: list[str], **extra: Any) -> list[dict[str, Any]]:
    if len(venues) < 2:
        return []
    return [{"name": name, "kind": "price", "market": market, "venues": venues, **extra}]


def demo_config(world: World) -> Config:
    """Every simulated venue through its own adapter (`exchange` targets on BTC-USDT, and
    USDE-USDT where the venue lists it), prices compared across them, and a few http and tcp
    targets on the first venues."""
    targets: list[dict[str, Any]] = []
    btc: dict[str, str] = {}  # exchange -> venue; a price board keys prices by exchange
    usde: dict[str, str] = {}
    for venue in world.venues:
        shape = world.shape(venue)
        targets.append(_exchange(world, venue, MARKET, venue))
        btc.setdefault(shape, venue)
        if shape in STABLE_SHAPES and shape not in usde:
            usde[shape] = venue
            targets.append(_exchange(world, venue, STABLE_MARKET, f"{venue}-usde"))
    targets += _price("btc-usdt-price", MARKET, sorted(btc), max_deviation=0.02)
    targets += _price("usde-usdt-price", STABLE_MARKET, sorted(usde), peg=1.0,
                      max_deviation=0.01, min_venues=2)
    for venue in world.venues[:2]:
        base = world.url(venue)
        targets.append({"name": f"{venue}-port", "kind": "tcp", "provider": world.shape(venue),
                        "address": base.removeprefix("http://")})
    binance = next((v for v in world.venues if world.shape(v) == "binance"), None)
    if binance is not None:
        base = world.url(binance)
        targets += [
            {"name": f"{binance}-ping", "kind": "http", "provider": "binance",
             "url": f"{base}/api/v3/ping"},
            {"name": f"{binance}-system-status", "kind": "http", "provider": "binance",
             "url": f"{base}/sapi/v1/system/status", "expect": {"json": {"status": 0}}},
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
