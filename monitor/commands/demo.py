"""`outagemon demo`: the simulated world plus the daemon watching it, in one process.

A new user with no network sees outages appear and resolve on `/` and in Grafana: one
simulated venue per adapter shape, each watched through its real adapter and its DNS name,
prices compared across them, and simulated chains (EVM, Solana, Cosmos, Bitcoin) watched
through their fake RPC providers and judged against each other.

A scenario that compares vantage points (`regional-block`) gets one daemon per vantage, the
first on the given port, the next ones on the ports after it.
"""

from __future__ import annotations

import asyncio
import math
import sys
from pathlib import Path
from typing import Any

from monitor.cli import EXIT_USAGE, run_async
from monitor.commands.run import serve as serve_daemon
from monitor.commands.simulate import log, log_world, vantages_for
from monitor.settings import Config
from monitor.simulate import World
from monitor.simulate.catalog import FULL_CHAINS, FULL_PAGES, FULL_VENUES
from monitor.simulate.regions import US_EAST_1, in_us_east_1
from monitor.simulate.scenarios import UnknownScenario, get_scenario

DEFAULT_SCENARIO = "flaky"
DEMO_VENUES = FULL_VENUES
MARKET = "BTC-USDT"
STABLE_MARKET = "USDE-USDT"  # the depeg scenario's market
STABLE_SHAPES = ("binance", "bybit", "okx", "kucoin", "bitget")  # venues listing USDe
STALE_AFTER = "5s"  # the scenarios stall streams for 20 s
DEMO_CHAINS = FULL_CHAINS
DEMO_PAGES = FULL_PAGES
PAGE_INTERVAL = "5s"
# Targets fall one probe interval apart at most: alerts starting within two intervals go out
# together, so a region outage is one DependencyOutage page rather than a few TargetDowns
# that fell before the rest.
GROUP_WAIT = "10s"
# The AWS page is watched as one region; the targets of what runs there depend on it.
AWS_TARGET = "aws-us-east-1-sim"
AWS_REGION = US_EAST_1
# Judgement suited to the simulated block times: a provider lags when more than LAG_SECONDS
# of blocks behind (at least MIN_LAG_BLOCKS), a head is stale (every head: a halt) when
# older than HEAD_AGE_BLOCKS block times (at least MIN_HEAD_AGE seconds).
LAG_SECONDS = 4.0
MIN_LAG_BLOCKS = 2
HEAD_AGE_BLOCKS = 5
MIN_HEAD_AGE = 10.0
# The chain id key of each RPC kind's target, and whether it may ask for peers.
CHAIN_ID_KEYS = {"evm": "chain_id", "solana": "genesis_hash", "bitcoin": "network",
                 "cosmos": "network"}
PEERS = {"evm": True, "solana": False, "bitcoin": True, "cosmos": True}
LOOPBACK = "127.0.0.0/8"  # where the simulated DNS server puts every name


def _exchange(world: World, venue: str, market: str, name: str,
              vantage: str | None) -> dict[str, Any]:
    shape = world.shape(venue)
    return {"name": name, "kind": "exchange", "provider": shape, "exchange": shape,
            "market": market, "rest_url": world.url(venue, vantage),
            "ws_url": world.ws_url(venue, vantage), "stale_after": STALE_AFTER}


def _dns(world: World, venue: str, vantage: str | None) -> dict[str, Any]:
    """The venue's DNS name asked of the vantage's simulated DNS server; an answer off
    loopback is a forged one."""
    return {"name": f"{venue}-dns", "kind": "dns", "provider": world.shape(venue),
            "query": world.dns_name(venue), "resolver": world.dns_address(vantage),
            "expect": {"answers_in": [LOOPBACK]}}


def _price(name: str, market: str, venues: list[str], **extra: Any) -> list[dict[str, Any]]:
    if len(venues) < 2:
        return []
    return [{"name": name, "kind": "price", "market": market, "venues": venues, **extra}]


def _rpc(world: World, provider: str, vantage: str | None) -> dict[str, Any]:
    """The RPC target of a simulated provider, with the chain's id and judgement suited to
    its block time; the first provider of an EVM chain also follows newHeads."""
    chain = world.chain(world.provider(provider).chain.name)
    kind = chain.kind
    target: dict[str, Any] = {
        "name": provider, "kind": world.provider(provider).kind.check_kind, "chain": chain.name,
        "url": world.url(provider, vantage), CHAIN_ID_KEYS[kind]: chain.chain_id,
        "max_lag_blocks": max(MIN_LAG_BLOCKS, math.ceil(LAG_SECONDS / chain.block_time)),
        "max_head_age": f"{max(MIN_HEAD_AGE, HEAD_AGE_BLOCKS * chain.block_time):g}s",
    }
    if PEERS[kind]:
        target["peers"] = True
    if kind == "evm" and provider == chain.providers[0]:
        target["ws_url"] = world.ws_url(provider, vantage)
    return target


def _page(world: World, page: str, vantage: str | None) -> dict[str, Any]:
    """A statuspage target (its `format` explicit) or a cloud_status target whose `url`
    points at the simulated feed; the AWS page is watched in us-east-1 only."""
    fmt = world.page(page).format
    if fmt.check_kind == "statuspage":
        return {"name": page, "kind": "statuspage", "url": world.url(page, vantage),
                "format": fmt.check_format, "interval": PAGE_INTERVAL}
    target: dict[str, Any] = {"name": page, "kind": "cloud_status", "cloud": fmt.check_format,
                              "url": world.feed_url(page, vantage),
                              "interval": PAGE_INTERVAL}
    if fmt.check_format == "aws":
        target |= {"name": AWS_TARGET, "regions": [AWS_REGION]}
    return target


def demo_config(world: World, vantage: str | None = None) -> Config:
    return Config.model_validate(demo_config_data(world, vantage))


def demo_config_data(world: World, vantage: str | None = None) -> dict[str, Any]:
    """The demo's config as plain data (what a YAML file would hold), as seen from `vantage`
    (default: the world's first): every simulated venue through its own adapter (`exchange`
    targets on BTC-USDT, and USDE-USDT where the venue lists it) and its DNS name (`dns`
    targets), prices compared across them, a few http and tcp targets on the first venues, an
    RPC target per simulated provider, and a statuspage or cloud_status target per simulated
    status page. The targets of what runs in us-east-1 (monitor/simulate/regions.py) depend
    on the AWS one."""
    vantage = vantage or world.vantages[0]
    targets: list[dict[str, Any]] = []
    btc: dict[str, str] = {}  # exchange -> venue; a price board keys prices by exchange
    usde: dict[str, str] = {}
    hosts: dict[str, str] = {}  # target -> the venue or provider it watches
    for venue in world.venues:
        shape = world.shape(venue)
        targets.append(_exchange(world, venue, MARKET, venue, vantage))
        btc.setdefault(shape, venue)
        if shape in STABLE_SHAPES and shape not in usde:
            usde[shape] = venue
            targets.append(_exchange(world, venue, STABLE_MARKET, f"{venue}-usde", vantage))
        targets.append(_dns(world, venue, vantage))
        hosts |= {venue: venue, f"{venue}-usde": venue, f"{venue}-dns": venue}
    targets += _price("btc-usdt-price", MARKET, sorted(btc), max_deviation=0.02)
    targets += _price("usde-usdt-price", STABLE_MARKET, sorted(usde), peg=1.0,
                      max_deviation=0.01, min_venues=2)
    for venue in world.venues[:2]:
        base = world.url(venue, vantage)
        targets.append({"name": f"{venue}-port", "kind": "tcp", "provider": world.shape(venue),
                        "address": base.removeprefix("http://")})
    binance = next((v for v in world.venues if world.shape(v) == "binance"), None)
    if binance is not None:
        base = world.url(binance, vantage)
        targets += [
            {"name": f"{binance}-ping", "kind": "http", "provider": "binance",
             "url": f"{base}/api/v3/ping"},
            {"name": f"{binance}-system-status", "kind": "http", "provider": "binance",
             "url": f"{base}/sapi/v1/system/status", "expect": {"json": {"status": 0}}},
        ]
    targets += [_rpc(world, provider, vantage) for provider in world.providers]
    hosts |= {provider: provider for provider in world.providers}
    pages = [_page(world, page, vantage) for page in world.pages]
    if any(page["name"] == AWS_TARGET for page in pages):
        for target in targets:
            host = hosts.get(target["name"])
            if host is not None and in_us_east_1(world, host):
                target["depends_on"] = [AWS_TARGET]
    targets += pages
    return {
        "vantage": vantage,
        "defaults": {"interval": "5s", "timeout": "2s"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 2},
                   "group_wait": GROUP_WAIT},
        "targets": targets,
    }


def demo_command(scenario: str | None, *, host: str, port: int, state: str) -> int:
    scenario = scenario or DEFAULT_SCENARIO
    try:
        get_scenario(scenario)
    except UnknownScenario as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    return run_async(_demo(scenario, host=host, port=port, state=state))


async def _demo(scenario: str, *, host: str, port: int, state: str) -> int:
    world = World(venues=DEMO_VENUES, chains=DEMO_CHAINS, pages=DEMO_PAGES,
                  vantages=vantages_for(scenario))
    await world.start()
    try:
        world.play(scenario)
        log_world(world)
        for provider in world.providers:
            chain = world.provider(provider).chain
            log.info("simulated RPC provider", provider=provider, chain=chain.name,
                     kind=chain.kind, url=world.url(provider))
        for page in world.pages:
            log.info("simulated status page", page=page,
                     format=world.page(page).format.name, url=world.feed_url(page))
        stop = asyncio.Event()  # one daemon ending (a signal, a port taken) ends them all
        codes = await asyncio.gather(*(
            _watch_from(world, vantage, host=host, port=port + index if port else 0,
                        state=vantage_state(state, index, vantage), stop=stop)
            for index, vantage in enumerate(world.vantages)))
        return max(codes)
    finally:
        await asyncio.shield(world.stop())


async def _watch_from(world: World, vantage: str, *, host: str, port: int, state: str,
                      stop: asyncio.Event) -> int:
    """One daemon watching the world from `vantage`, until `stop`."""
    config = demo_config(world, vantage)
    log.info("demo daemon", vantage=vantage, port=port, state=state)
    try:
        return await serve_daemon(config, lambda: config, host=host, port=port, state=state,
                                  shard=None, stop=stop)
    finally:
        stop.set()


def vantage_state(state: str, index: int, vantage: str) -> str:
    """The state file of the daemon of the `index`th vantage: the first keeps `state`, the
    others get the vantage in its name (outagemon.db -> outagemon-restricted.db)."""
    if index == 0:
        return state
    path = Path(state)
    return str(path.with_name(f"{path.stem}-{vantage}{path.suffix}"))
