"""Every venue shape of the simulator, read through outagemon's own adapter for that venue.

Each test starts a World on 127.0.0.1 and drives the real adapter (checks/exchanges) and the
`exchange` kind against it: REST time, the stream with its event lag and keepalive rule, and
the faults in the venue's own shapes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any

import aiohttp
import orjson
import pytest

from checks.base import CheckEnv
from checks.exchange import ExchangeCheck, ExchangeTarget, build
from checks.exchanges.base import Market, VenueAdapter, adapters
from checks.price import PriceTarget
from checks.price import build as build_price_check
from checks.stream import StreamWatcher
from monitor.clock import RealClock
from monitor.commands.demo import demo_config
from monitor.observation import Fact, Observation, Reason
from monitor.prices import PriceBoard
from monitor.simulate import SHAPES, FaultError, World, one_venue_per_shape, shape_for
from monitor.simulate.venues.base import ServerKeepalive
from tests.conftest import wait_for

VENUE = "venue-sim"
MARKET = "BTC-USDT"
ALL_SHAPES = list(SHAPES)
# Venues that document no status endpoint: in maintenance their REST answers a 503 error,
# which their adapter can only call http_5xx.
NO_STATUS = {name for name, shape in SHAPES.items() if shape.status_path is None}
RELAXED_SKEW = {"kraken": 1.05}  # Kraken's server time is whole seconds


def adapter_for(world: World, venue: str = VENUE, market: str = MARKET) -> VenueAdapter:
    adapter_class = adapters()[world.shape(venue)]
    return adapter_class(Market.parse(market), rest_url=world.url(venue),
                         ws_url=world.ws_url(venue))


def exchange_target(world: World, venue: str = VENUE, **extra: Any) -> ExchangeTarget:
    return ExchangeTarget.model_validate({
        "name": venue, "kind": "exchange", "exchange": world.shape(venue), "market": MARKET,
        "rest_url": world.url(venue), "ws_url": world.ws_url(venue),
        "interval": "5s", "timeout": "2s", **extra,
    })


async def probe_until(check: ExchangeCheck, done: Callable[[Observation], bool], *,
                      timeout: float = 3.0, what: str = "the observation") -> Observation:
    """Probe until `done` holds for an observation; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        observation = await check.probe()
        if done(observation):
            return observation
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}; last: {observation.reason} "
                                 f"{observation.detail!r} {observation.stream}")
        await asyncio.sleep(0.1)  # the polling interval (Bitget allows 20 requests a second)


@pytest.fixture(params=ALL_SHAPES)
async def world(request: pytest.FixtureRequest) -> AsyncIterator[World]:
    async with World(venues={VENUE: request.param}, trade_rate=20, seed=7) as w:
        yield w


# -- naming and shapes ------------------------------------------------------------------------

def test_a_venue_shape_follows_from_its_name_or_is_given() -> None:
    assert shape_for("binance-sim") == "binance"
    assert shape_for("binance-futures-sim") == "binance-futures"
    assert shape_for("okx") == "okx"
    assert shape_for("okx2") == "binance"  # not okx followed by a separator
    assert shape_for("venue-a") == "binance"
    world = World(venues={"a": "kraken", "b": "kucoin"})
    assert [world.shape(v) for v in world.venues] == ["kraken", "kucoin"]
    assert World(venues=("okx-sim", "x")).shape("okx-sim") == "okx"
    assert World().shape("binance-sim") == "binance"
    with pytest.raises(ValueError, match="unknown shape"):
        World(venues={"a": "mtgox"})
    assert set(one_venue_per_shape().values()) == set(SHAPES) == set(adapters())


async def test_every_shape_is_a_simulated_venue_of_its_own(world: World) -> None:
    state = world.state()["venues"][VENUE]
    assert state["shape"] == world.shape(VENUE)
    assert state["ws_url"] == world.ws_url(VENUE)


# -- REST and stream in the venue's own shapes ------------------------------------------------

async def test_the_exchange_kind_reads_the_venue_through_its_adapter(world: World) -> None:
    shape = world.shape(VENUE)
    board = PriceBoard()
    check = build(exchange_target(world), CheckEnv(prices=board))
    await check.start()
    try:
        await probe_until(check, lambda o: o.stream is not None and o.stream.event_lag_count >= 3,
                          what="trades with an event time")
        observation = await check.probe()
    finally:
        await check.close()
    assert observation.reason is Reason.OK, observation.detail
    assert abs(observation.facts[Fact.CLOCK_SKEW]) < RELAXED_SKEW.get(shape, 0.25)
    assert observation.facts.get(Fact.MAINTENANCE, False) is False
    stats = observation.stream
    assert stats is not None and stats.connected
    assert stats.reconnects == {}
    assert stats.sequence_gaps == 0
    assert stats.event_lag_last is not None and 0 <= stats.event_lag_last < 0.5
    price = board.quotes(MARKET)[shape].price
    assert abs(price / world.walk.price(MARKET) - 1) < 0.01


async def test_event_lag_comes_from_the_venues_own_event_time(world: World) -> None:
    check = build(exchange_target(world), CheckEnv())
    await check.start()
    try:
        await probe_until(check, lambda o: o.stream is not None and o.stream.event_lag_count > 0,
                          what="a first trade")
        world.inject(VENUE, "latency", ms=300, path=world.venue(VENUE).ws_path)
        observation = await probe_until(
            check, lambda o: o.stream is not None and (o.stream.event_lag_last or 0) >= 0.25,
            what="trades delivered 300 ms late")
    finally:
        await check.close()
    assert observation.stream is not None and observation.stream.connected


async def test_the_ticker_answers_in_the_venue_shape(world: World) -> None:
    shape = world.venue(VENUE).shape
    assert shape.ticker_path is not None
    symbol = shape.symbol(MARKET) if shape.name != "kraken" else "XBTUSDT"
    path = shape.ticker_path.replace("{symbol}", symbol)
    query = {} if "{symbol}" in shape.ticker_path else {shape.ticker_param: symbol}
    if shape.name == "bybit":
        query["category"] = "spot"
    async with aiohttp.ClientSession() as session, session.get(
            world.url(VENUE) + path, params=query) as response:
        assert response.status == 200
        body = orjson.loads(await response.read())
    walk = world.walk.price(MARKET)
    # The shared price, in whatever field and spelling the venue uses.
    assert any(abs(number / walk - 1) < 0.01 for number in numbers(body)), body


def numbers(value: Any) -> list[float]:
    """Every number in a JSON document, also those written as strings."""
    if isinstance(value, dict):
        return [n for item in value.values() for n in numbers(item)]
    if isinstance(value, list):
        return [n for item in value for n in numbers(item)]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return [float(value)]
    if isinstance(value, str):
        try:
            return [float(value)]
        except ValueError:
            return []
    return []


# -- keepalive ------------------------------------------------------------------------------

def scaled_keepalive(adapter: VenueAdapter, factor: float) -> None:
    """The adapter's own keepalive rule, `factor` times faster (as the world's)."""
    rule = adapter.keepalive
    if rule is not None:
        vars(adapter)["keepalive"] = replace(rule, interval=rule.interval * factor,
                                             timeout=rule.timeout * factor)


def keepalive_factor(shape: str, *, client_timeout: float | None = None) -> float:
    """Scale a venue's rule so that its window lasts half a second, but leave a client with
    a keepalive `client_timeout` at least 0.1 s to see its pong."""
    window = SHAPES[shape].keepalive.window
    factor = 0.5 / window if window is not None else 0.01
    return max(factor, 0.1 / client_timeout) if client_timeout is not None else factor


@pytest.mark.parametrize("shape", ALL_SHAPES)
async def test_the_adapter_stays_connected_under_the_venue_keepalive_rule(shape: str) -> None:
    own = adapters()[shape].keepalive
    factor = keepalive_factor(shape, client_timeout=own.timeout if own is not None else None)
    async with World(venues={VENUE: shape}, keepalive_scale=factor) as world:
        adapter = adapter_for(world)
        scaled_keepalive(adapter, factor)
        watcher = StreamWatcher("t", adapter, clock=RealClock(), stale_after=60.0,
                                max_message=1 << 20, connect_timeout=2.0)
        venue = world.venue(VENUE)
        await watcher.start()
        try:
            await wait_for(lambda: watcher.snapshot().stats.messages_total > 0, timeout=3,
                           what="the first trade")
            world.inject(VENUE, "stall_stream")  # from now on only the keepalive flows
            stalled_at = time.monotonic()
            # Past the venue's window (when that fits in 2 s), with keepalives going both ways.
            long_enough = min(1.5 * (venue.keepalive.window or 1.0), 2.0)
            keepalives = adapter.keepalive is not None or venue.keepalive.ping_every is not None

            def kept_alive() -> bool:
                clients = venue.streams.clients
                return bool(clients) and time.monotonic() - stalled_at >= long_enough and (
                    clients[0].pings + clients[0].pongs >= 3 or not keepalives)

            await wait_for(kept_alive, timeout=4, what="the keepalive rule to be tried")
            snapshot = watcher.snapshot()
        finally:
            await watcher.close()
        assert list(venue.streams.dropped) == []
        assert snapshot.stats.connected and snapshot.stats.reconnects == {}, snapshot.detail


@pytest.mark.parametrize(
    "shape", [name for name in ALL_SHAPES if SHAPES[name].keepalive.window is not None])
async def test_a_client_that_ignores_the_keepalive_rule_is_dropped(shape: str) -> None:
    factor = keepalive_factor(shape)
    async with (World(venues={VENUE: shape}, keepalive_scale=factor) as world,
                aiohttp.ClientSession() as session):
        venue = world.venue(VENUE)
        window = venue.keepalive.window
        assert window is not None
        url = await adapter_for(world).endpoint()  # KuCoin: a tokenised URL from the bullet
        opened = time.monotonic()
        # Sends nothing, subscribes to nothing, answers no ping.
        async with session.ws_connect(url, autoping=False) as ws:
            while (message := await ws.receive(timeout=3)).type not in (
                    aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
                pass
            lived = time.monotonic() - opened
        assert message.type is aiohttp.WSMsgType.CLOSE
        assert message.data == aiohttp.WSCloseCode.POLICY_VIOLATION
        assert len(venue.streams.dropped) == 1
        assert 0.5 * window <= lived <= window + 1.0


def test_keepalive_rules_scale_together() -> None:
    rule = ServerKeepalive(ping_every=20, pong_within=60)
    assert rule.scaled(0.5) == ServerKeepalive(ping_every=10, pong_within=30)
    assert rule.window == 60
    assert ServerKeepalive().window is None


# -- faults in the venue's shapes -----------------------------------------------------------

@pytest.mark.parametrize(("fault", "params", "reason"), [
    ("maintenance", {}, Reason.MAINTENANCE),
    ("geo_block", {}, Reason.GEO_BLOCKED),
    ("rate_limit", {}, Reason.RATE_LIMITED),
    ("http_5xx", {}, Reason.HTTP_5XX),
])
async def test_rest_faults_give_their_reason(world: World, fault: str, params: dict[str, Any],
                                             reason: Reason) -> None:
    shape = world.shape(VENUE)
    check = build(exchange_target(world, streams=False), CheckEnv())
    assert (await check.probe()).reason is Reason.OK
    world.inject(VENUE, fault, **params)
    observation = await check.probe()
    if fault == "maintenance" and shape in NO_STATUS:
        reason = Reason.HTTP_5XX  # no status endpoint: the 503 is all the adapter can see
    assert observation.reason is reason, observation.detail
    if fault == "maintenance" and shape not in NO_STATUS:
        assert observation.facts[Fact.MAINTENANCE] is True


async def test_stall_stream_makes_the_stream_stale(world: World) -> None:
    check = build(exchange_target(world, stale_after="500ms"), CheckEnv())
    await check.start()
    try:
        await probe_until(check, lambda o: o.reason is Reason.OK and o.stream is not None
                          and o.stream.messages_total > 0, what="a healthy stream")
        world.inject(VENUE, "stall_stream")
        observation = await probe_until(check, lambda o: o.reason is not Reason.OK,
                                        what="the stream going stale")
    finally:
        await check.close()
    assert observation.reason is Reason.STALE, observation.detail


async def test_maintenance_stops_trading_on_the_stream(world: World) -> None:
    adapter = adapter_for(world)
    watcher = StreamWatcher("t", adapter, clock=RealClock(), stale_after=60.0,
                            max_message=1 << 20, connect_timeout=2.0)
    await watcher.start()
    try:
        await wait_for(lambda: watcher.snapshot().stats.messages_total > 0, timeout=3,
                       what="the first trade")
        world.inject(VENUE, "maintenance", path=world.venue(VENUE).ws_path)
        seen = watcher.snapshot().stats.messages_total
        await wait_for(lambda: (watcher.snapshot().stats.last_message_age or 0) > 0.3,
                       timeout=3, what="trading to stop")
        quiet = watcher.snapshot().stats.messages_total
        assert quiet - seen <= 2  # what was already on its way
    finally:
        await watcher.close()


async def test_kucoin_hands_out_its_own_ws_url() -> None:
    async with World(venues={"kucoin-sim": "kucoin"}) as world, aiohttp.ClientSession() as s:
        async with s.post(world.url("kucoin-sim") + "/api/v1/bullet-public") as response:
            body = orjson.loads(await response.read())
        server = body["data"]["instanceServers"][0]
        assert server["endpoint"] == world.ws_url("kucoin-sim")
        assert (server["pingInterval"], server["pingTimeout"]) == (18000, 10000)
        async with s.ws_connect(world.ws_url("kucoin-sim") + "?token=forged") as ws:
            assert (await ws.receive_json(timeout=2))["type"] == "error"


# -- prices --------------------------------------------------------------------------------

async def test_venues_agree_and_price_offset_shifts_one() -> None:
    async with World(venues=one_venue_per_shape(), seed=3) as world:
        quotes = {venue: float(world.venue(venue).tape.quote(MARKET)) for venue in world.venues}
        low, high = min(quotes.values()), max(quotes.values())
        assert high / low - 1 < 0.005
        world.inject("okx-sim", "price_offset", ratio=-0.35, market=MARKET)
        shifted = float(world.venue("okx-sim").tape.quote(MARKET))
        assert 0.6 < shifted / quotes["binance-sim"] < 0.7
        other = float(world.venue("okx-sim").tape.quote("ETH-USDT"))
        assert other > 3_000 * 0.9  # only the market named


@pytest.mark.parametrize(("params", "path", "message"), [
    ({}, None, "ratio"),
    ({"ratio": -1}, None, "ratio"),
    ({"ratio": 0.1, "market": "DOGE-EUR"}, None, "unknown market"),
    ({"ratio": 0.1}, "/ws", "whole venue"),
])
async def test_price_offset_refuses_bad_params(params: dict[str, Any], path: str | None,
                                               message: str) -> None:
    world = World()
    with pytest.raises(FaultError, match=message):
        world.inject("binance-sim", "price_offset", path=path, **params)


# -- the demo ------------------------------------------------------------------------------

async def test_demo_config_covers_every_shape() -> None:
    async with World(venues=one_venue_per_shape()) as world:
        config = demo_config(world)
        urls = {world.shape(v): (world.url(v), world.ws_url(v)) for v in world.venues}
    exchanges = [t for t in config.targets if isinstance(t, ExchangeTarget)]
    assert {t.exchange for t in exchanges if t.market == MARKET} == set(SHAPES)
    for target in exchanges:
        assert target.rest_url is not None and target.ws_url is not None
        assert (target.rest_url.reveal(), target.ws_url.reveal()) == urls[target.exchange]
    prices = {t.market: t for t in config.targets if isinstance(t, PriceTarget)}
    assert set(prices[MARKET].venues) == set(SHAPES)
    assert prices["USDE-USDT"].peg == 1.0
    assert {t.kind for t in config.targets} >= {"exchange", "price", "http", "tcp"}


async def test_price_offset_makes_the_price_check_name_the_venue() -> None:
    async with World(venues=one_venue_per_shape(), trade_rate=20) as world:
        config = demo_config(world)
        board = PriceBoard()
        env = CheckEnv(prices=board)
        streams = [build(t, env) for t in config.targets
                   if isinstance(t, ExchangeTarget) and t.market == MARKET]
        price_target = next(t for t in config.targets
                            if isinstance(t, PriceTarget) and t.market == MARKET)
        price_check = build_price_check(price_target, env)
        for check in streams:
            await check.start()
        try:
            await wait_for(lambda: len(board.quotes(MARKET)) == len(SHAPES), timeout=4,
                           what="a price from every venue")
            calm = await price_check.probe()
            assert calm.reason is Reason.OK, calm.detail
            world.inject("kraken-sim", "price_offset", ratio=-0.35, market=MARKET)

            async def diverged() -> bool:
                return (await price_check.probe()).reason is Reason.ASSERTION_FAILED

            await wait_for(diverged, timeout=3, what="the price check to see the offset")
            observation = await price_check.probe()
        finally:
            for check in streams:
                await check.close()
    assert observation.detail.startswith("kraken 35."), observation.detail
    assert "below" in observation.detail


async def test_depeg_drops_one_venues_usde_price() -> None:
    async with World(venues=("okx-sim", "binance-sim"), time_scale=0.005) as world:
        world.play("depeg")
        await wait_for(lambda: bool(world.faults()), timeout=3, what="the depeg to start")
        (fault,) = world.faults()
        assert (fault.venue, fault.kind.value) == ("binance-sim", "price_offset")
        assert fault.to_json()["params"] == {"ratio": -0.35, "market": "USDE-USDT"}
        await wait_for(lambda: not world.faults(), timeout=3, what="the depeg to end")
