"""The `exchange` kind against a fake Binance on 127.0.0.1 (tests/fakes/venue.py).

REST tests run with `streams: false`; stream tests connect the real StreamWatcher to the
fake venue's WebSocket endpoint and push trade frames made from the recorded fixture.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, WSCloseCode, WSMsgType, web

from checks.base import CheckEnv
from checks.exchange import SERVER_TIME, ExchangeCheck, ExchangeTarget, build
from monitor.clock import RealClock
from monitor.observation import Fact, Observation, Phase, Reason
from monitor.prices import PriceBoard
from tests.conftest import wait_for
from tests.fakes.venue import (
    FakeClient,
    FakeVenue,
    KeepaliveRule,
    Reply,
    fixture_bytes,
    fixture_json,
    now_ms,
)

SPOT = "binance"
FUTURES = "binance-futures"
WEIGHT = "X-MBX-USED-WEIGHT-1M"
TIME_PATH = "/api/v3/time"
STATUS_PATH = "/sapi/v1/system/status"


async def answer_subscribe(client: FakeClient, text: str) -> None:
    """Binance's answer to a SUBSCRIBE: remember it and acknowledge with the request id."""
    request = orjson.loads(text)
    if isinstance(request, dict) and request.get("method") == "SUBSCRIBE":
        client.subscribed = True
        client.state["params"] = request.get("params")
        await client.send({"result": None, "id": request.get("id")})


class FakeBinance:
    """A FakeVenue serving Binance spot (or futures) REST fixtures; the test pushes trades."""

    def __init__(self, venue: FakeVenue, *, flavour: str = SPOT, prefix: str = "") -> None:
        self.venue = venue
        self.flavour = flavour
        self.prefix = prefix
        self.clock_offset = 0.0  # seconds the venue's clock is ahead of ours
        self.used_weight = "600"
        self._ids = itertools.count(5123400001)
        time_path = TIME_PATH if flavour == SPOT else "/fapi/v1/time"
        self.time_path = prefix + time_path
        self.status_path = prefix + STATUS_PATH
        venue.rest(self.time_path, self.time_reply)
        if flavour == SPOT:
            venue.rest(self.status_path, lambda _: self.json("system_status_normal.json"))

    def time_reply(self, _: web.Request) -> Reply:
        server_time = now_ms() + round(self.clock_offset * 1000)
        return Reply(body={"serverTime": server_time}, headers={WEIGHT: self.used_weight})

    def json(self, name: str, status: int = 200, **headers: str) -> Reply:
        return Reply(status=status, body=fixture_bytes(self.flavour, name),
                     headers={WEIGHT: self.used_weight, **headers})

    def trade(self, price: float = 91234.56, *, lag: float = 0.0,
              trade_id: int | None = None) -> dict[str, Any]:
        name = "ws_trade.json" if self.flavour == SPOT else "ws_agg_trade.json"
        frame: dict[str, Any] = fixture_json(self.flavour, name)
        frame["E"] = now_ms() - round(lag * 1000)
        frame["p"] = f"{price:.8f}"
        frame["t" if self.flavour == SPOT else "a"] = (
            trade_id if trade_id is not None else next(self._ids))
        return frame

    async def push_trades(self, *frames: dict[str, Any]) -> None:
        for frame in frames:
            sent = await self.venue.push(_to_subscribed(frame))
            assert sent == 1, "no subscribed client got the trade"

    async def subscribed(self) -> None:
        await wait_for(lambda: any(c.subscribed for c in self.venue.clients), timeout=5,
                       what="a subscribed client")


def _to_subscribed(frame: dict[str, Any]) -> Callable[[FakeClient], dict[str, Any] | None]:
    return lambda client: frame if client.subscribed else None


@pytest.fixture
async def venue() -> AsyncIterator[FakeVenue]:
    async with FakeVenue(on_frame=answer_subscribe) as fake:
        yield fake


@pytest.fixture
def binance(venue: FakeVenue) -> FakeBinance:
    return FakeBinance(venue)


@pytest.fixture
def env() -> CheckEnv:
    return CheckEnv(clock=RealClock(), user_agent="outagemon-test", prices=PriceBoard())


MakeCheck = Callable[..., Awaitable[ExchangeCheck]]


@pytest.fixture
async def make_check(
    venue: FakeVenue, binance: FakeBinance, env: CheckEnv
) -> AsyncIterator[MakeCheck]:
    """Build and start an exchange check pointed at the fake Binance; closed after the test."""
    checks: list[ExchangeCheck] = []

    async def make(**keys: Any) -> ExchangeCheck:
        document = {
            "name": "binance-btc", "kind": "exchange", "exchange": SPOT, "market": "BTC-USDT",
            "interval": "10s", "timeout": "2s", "streams": False,
            "rest_url": venue.url(), "ws_url": venue.ws_url, **keys,
        }
        check = build(ExchangeTarget.model_validate(document), env)
        checks.append(check)
        await check.start()
        return check

    yield make
    for check in checks:
        await check.close()


# -- REST: clock, latency, rate limit, status ---------------------------------------------


async def test_healthy_venue_is_ok_with_skew_latency_and_rate_limit(
    make_check: MakeCheck, venue: FakeVenue
) -> None:
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.detail == ""
    assert abs(obs.facts[Fact.CLOCK_SKEW]) < 0.5
    assert obs.facts[SERVER_TIME] == pytest.approx(obs.started_at, abs=1.0)
    assert obs.facts[Fact.RATE_LIMIT_USED_RATIO] == pytest.approx(0.1)
    assert obs.facts[Fact.HTTP_STATUS] == 200
    assert obs.facts[Fact.MAINTENANCE] is False
    assert obs.latency is not None and 0 < obs.latency < 2
    assert Phase.TTFB.value in obs.phases
    assert obs.stream is None
    assert venue.hits == {TIME_PATH: 1, STATUS_PATH: 1}
    assert venue.clients == []  # REST only


@pytest.mark.parametrize("offset", [2.0, -2.0])
async def test_clock_skew_over_the_limit_degrades(
    make_check: MakeCheck, binance: FakeBinance, offset: float
) -> None:
    binance.clock_offset = offset
    obs = await (await make_check(max_clock_skew="1s")).probe()
    assert obs.reason is Reason.DEGRADED
    assert obs.facts[Fact.CLOCK_SKEW] == pytest.approx(offset, abs=0.5)
    assert "clock skew" in obs.detail and "max_clock_skew 1 s" in obs.detail


async def test_clock_skew_within_the_limit_is_ok(
    make_check: MakeCheck, binance: FakeBinance
) -> None:
    binance.clock_offset = 2.0
    obs = await (await make_check(max_clock_skew="5s")).probe()
    assert obs.reason is Reason.OK
    assert obs.facts[Fact.CLOCK_SKEW] == pytest.approx(2.0, abs=0.5)


async def test_used_weight_over_the_warning_degrades(
    make_check: MakeCheck, binance: FakeBinance
) -> None:
    binance.used_weight = "5400"
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.DEGRADED
    assert obs.facts[Fact.RATE_LIMIT_USED_RATIO] == pytest.approx(0.9)
    assert "rate limit 90% used" in obs.detail


async def test_several_soft_limits_are_all_named(
    make_check: MakeCheck, binance: FakeBinance
) -> None:
    binance.used_weight, binance.clock_offset = "5400", 3.0
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.DEGRADED
    assert "clock skew" in obs.detail and "rate limit" in obs.detail


async def test_slow_rest_degrades(make_check: MakeCheck, venue: FakeVenue,
                                  binance: FakeBinance) -> None:
    venue.rest(TIME_PATH, lambda r: Reply(body=binance.time_reply(r).body, delay=0.2))
    obs = await (await make_check(max_latency="50ms")).probe()
    assert obs.reason is Reason.DEGRADED
    assert "REST slow" in obs.detail and "max_latency 50 ms" in obs.detail


async def test_system_status_1_is_maintenance(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(STATUS_PATH, binance.json("system_status_maintenance.json"))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.MAINTENANCE
    assert obs.facts[Fact.MAINTENANCE] is True
    assert "maintenance" in obs.detail and "system_maintenance" in obs.detail


async def test_maintenance_explains_a_failing_time_call(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, Reply(status=503, body="Service Unavailable"))
    venue.rest(STATUS_PATH, binance.json("system_status_maintenance.json"))
    assert (await (await make_check()).probe()).reason is Reason.MAINTENANCE


# -- REST: venue errors and HTTP statuses ------------------------------------------------------


async def test_minus_1003_in_a_429_is_rate_limited_with_retry_after(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, binance.json("error_-1003.json", 429, **{"Retry-After": "30"}))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 30
    assert obs.retry_after == 30
    assert obs.facts[Fact.HTTP_STATUS] == 429
    assert "-1003" in obs.detail and "retry after 30s" in obs.detail
    assert venue.hits[STATUS_PATH] == 0  # told to back off: no further request


async def test_ip_ban_418_is_rate_limited(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, binance.json("error_-1003_banned.json", 418, **{"Retry-After": "120"}))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 120


async def test_minus_1003_inside_a_200_is_rate_limited(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, binance.json("error_-1003.json"))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.RATE_LIMITED
    assert Fact.RETRY_AFTER not in obs.facts


async def test_451_restricted_location_is_geo_blocked(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, binance.json("geo_451.json", 451))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.GEO_BLOCKED
    assert "restricted location" in obs.detail
    assert venue.hits[STATUS_PATH] == 0


async def test_451_without_a_json_body_is_still_geo_blocked(
    make_check: MakeCheck, venue: FakeVenue
) -> None:
    venue.rest(TIME_PATH, Reply(status=451, body="<html>blocked</html>"))
    assert (await (await make_check()).probe()).reason is Reason.GEO_BLOCKED


async def test_minus_1008_is_an_overloaded_venue(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    venue.rest(TIME_PATH, binance.json("error_-1008.json", 503))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.HTTP_5XX
    assert "overloaded" in obs.detail


@pytest.mark.parametrize(
    "reply, reason",
    [
        (Reply(status=502, body=b"<html>502 Bad Gateway</html>"), Reason.HTTP_5XX),
        (Reply(status=404, body=b"not here"), Reason.HTTP_4XX),
        (Reply(status=400, body=b'{"code": -1121, "msg": "Invalid symbol."}'), Reason.HTTP_4XX),
        (Reply(status=429, body=b"slow down"), Reason.RATE_LIMITED),
        (Reply(status=302, body=b"", headers={"Location": "/elsewhere"}),
         Reason.INVALID_RESPONSE),
    ],
)
async def test_http_statuses_without_a_venue_verdict(
    make_check: MakeCheck, venue: FakeVenue, reply: Reply, reason: Reason
) -> None:
    venue.rest(TIME_PATH, reply)
    obs = await (await make_check()).probe()
    assert obs.reason is reason, obs.detail
    assert obs.detail.startswith("time: ")


@pytest.mark.parametrize(
    "body",
    [
        fixture_bytes(SPOT, "garbage.html"),
        b"",
        b'{"serverTime": "soon"}',
        b'{"unexpected": true}',
        b"[1763700123456]",
        b"null",
        b"\xff\xfe\xfd garbage",
        b"[" * 5000,
    ],
)
async def test_garbage_body_is_invalid_response(
    make_check: MakeCheck, venue: FakeVenue, body: bytes
) -> None:
    venue.rest(TIME_PATH, Reply(body=body))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.INVALID_RESPONSE, obs.detail
    assert obs.detail.startswith("time: ")


async def test_status_of_the_wrong_shape_is_invalid_response(
    make_check: MakeCheck, venue: FakeVenue
) -> None:
    venue.rest(STATUS_PATH, Reply(body={"status": "maybe"}))
    obs = await (await make_check()).probe()
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail.startswith("status: ")


async def test_oversized_body_is_invalid_response(
    make_check: MakeCheck, venue: FakeVenue
) -> None:
    venue.rest(TIME_PATH, Reply(body={"serverTime": now_ms(), "pad": "x" * 100_000}))
    obs = await (await make_check(max_body="1KiB")).probe()
    assert obs.reason is Reason.INVALID_RESPONSE
    assert "larger than 1024 bytes" in obs.detail


async def test_hanging_venue_times_out_within_the_timeout(
    make_check: MakeCheck, venue: FakeVenue
) -> None:
    venue.rest(TIME_PATH, Reply(body={"serverTime": now_ms()}, delay=30))
    check = await make_check(timeout="300ms")
    obs = await check.probe()
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "time: timed out waiting for the response (timeout 0.3s)"
    assert obs.latency is None


async def test_refused_connection(env: CheckEnv) -> None:
    async with FakeVenue() as gone:
        url = gone.url()
    target = ExchangeTarget.model_validate({
        "name": "b", "kind": "exchange", "exchange": SPOT, "market": "BTC-USDT",
        "interval": "10s", "timeout": "2s", "streams": False, "rest_url": url})
    obs = await build(target, env).probe()
    assert obs.reason is Reason.CONNECT_REFUSED
    assert obs.detail == "time: connection refused"
    assert obs.latency is None


async def test_canary_key_in_rest_url_never_reaches_the_detail(env: CheckEnv) -> None:
    canary = "CANARYKEY0123456789"
    async with FakeVenue(on_frame=answer_subscribe) as venue:
        binance = FakeBinance(venue, prefix=f"/{canary}")
        rest_url = venue.url(f"/{canary}").replace("://", f"://user:{canary}pw@")
        target = ExchangeTarget.model_validate({
            "name": "b", "kind": "exchange", "exchange": SPOT, "market": "BTC-USDT",
            "interval": "10s", "timeout": "500ms", "streams": False, "rest_url": rest_url})
        check = build(target, env)
        observations: list[Observation] = [await check.probe()]
        assert observations[0].reason is Reason.OK  # the prefixed paths were reached

        def echo(status: int) -> Callable[[web.Request], Reply]:
            # A hostile or chatty venue quoting the request back in its error message.
            return lambda r: Reply(status=status, body={"code": -1003, "msg": r.path_qs})

        for reply in (echo(429), echo(451), echo(200), Reply(status=404, body=f"/{canary}"),
                      Reply(body={"serverTime": now_ms()}, delay=5)):
            venue.rest(binance.time_path, reply)
            observations.append(await check.probe())
    observations.append(await check.probe())  # refused: the venue is gone
    assert {o.reason for o in observations[1:]} >= {
        Reason.RATE_LIMITED, Reason.GEO_BLOCKED, Reason.HTTP_4XX, Reason.TIMEOUT,
        Reason.CONNECT_REFUSED}
    for obs in observations:
        assert canary not in repr(obs)
    assert "***" in observations[1].detail  # the echoed path was there, masked


# -- stream ------------------------------------------------------------------------------------


async def test_stream_subscribes_counts_messages_and_publishes_prices(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True)
    await binance.subscribed()
    client = venue.clients[0]
    assert [orjson.loads(t) for t in client.received] == [
        fixture_json(SPOT, "ws_subscribe.json")]
    prices = [91000.0, 91001.5, 91002.25, 91003.0, 91004.75]
    await binance.push_trades(*(binance.trade(p) for p in prices))
    await wait_for(lambda: _quote(env) == prices[-1], timeout=5, what="the last price")

    obs = await check.probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.stream is not None
    assert obs.stream.connected
    assert obs.stream.messages_total == 5 and obs.stream.messages_in_window == 5
    assert obs.stream.event_lag_count == 5
    assert obs.stream.event_lag_last is not None and obs.stream.event_lag_last < 1.0
    assert obs.stream.sequence_gaps == 0
    assert obs.facts[Fact.PRICE] == prices[-1]
    quote = env.prices.quotes("BTC-USDT")["binance"]
    assert quote.source == "binance-btc"
    assert quote.at == pytest.approx(obs.started_at, abs=2.0)

    again = await check.probe()
    assert again.stream is not None and again.stream.messages_in_window == 0


async def test_event_lag_from_the_venue_event_time_degrades(
    make_check: MakeCheck, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True, max_event_lag="1s")
    await binance.subscribed()
    await binance.push_trades(*(binance.trade(90000.0 + i, lag=1.5) for i in range(3)))
    await wait_for(lambda: _quote(env) == 90002.0, timeout=5, what="the lagging trades")
    obs = await check.probe()
    assert obs.reason is Reason.DEGRADED
    assert "event lag" in obs.detail
    assert obs.stream is not None and obs.stream.event_lag_last == pytest.approx(1.5, abs=0.5)


async def test_sequence_gaps_since_the_previous_probe_degrade(
    make_check: MakeCheck, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True)
    await binance.subscribed()
    await binance.push_trades(binance.trade(1.0, trade_id=100), binance.trade(2.0, trade_id=101),
                              binance.trade(3.0, trade_id=104))
    await wait_for(lambda: _quote(env) == 3.0, timeout=5, what="the trades")
    obs = await check.probe()
    assert obs.reason is Reason.DEGRADED
    assert "2 messages missing" in obs.detail
    await binance.push_trades(binance.trade(4.0, trade_id=105))
    await wait_for(lambda: _quote(env) == 4.0, timeout=5, what="the next trade")
    assert (await check.probe()).reason is Reason.OK  # no new gap in this window


async def test_silent_stream_is_stale(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True, stale_after="300ms")
    await binance.subscribed()
    await binance.push_trades(binance.trade(91000.0))
    await wait_for(lambda: _quote(env) == 91000.0, timeout=5, what="a trade")
    venue.silent = True
    last: list[Observation] = []

    async def stale() -> bool:
        last[:] = [await check.probe()]
        return last[0].reason is Reason.STALE

    await wait_for(stale, timeout=5, what="a stale stream")
    assert last[0].detail.startswith("stream: ")
    assert last[0].facts[Fact.PRICE] == 91000.0  # the last price is still reported


async def test_hostile_frames_are_not_data(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True)
    await binance.subscribed()
    malformed = binance.trade()
    malformed["p"] = "NaN"
    for frame in ("not json", "[" * 5000, b"\xff\xfe", orjson.dumps(malformed).decode()):
        assert await venue.push(frame) == 1
    await binance.push_trades(binance.trade(91000.0))
    await wait_for(lambda: _quote(env) == 91000.0, timeout=5, what="the good trade")
    obs = await check.probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.stream is not None and obs.stream.messages_total == 1


async def test_oversized_frame_drops_the_connection(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    check = await make_check(streams=True, max_message="1KiB",
                             reconnect={"initial": "30s", "max": "60s"})
    await binance.subscribed()
    big = binance.trade()
    big["pad"] = "x" * 4096
    await venue.push(big)
    last: list[Observation] = []

    async def dropped() -> bool:
        last[:] = [await check.probe()]
        return last[0].stream is not None and not last[0].stream.connected

    await wait_for(dropped, timeout=5, what="the oversized frame to end the connection")
    assert last[0].reason is Reason.ERROR
    assert "larger than 1024 bytes" in last[0].detail


async def test_disconnected_stream_says_why(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    check = await make_check(streams=True, reconnect={"initial": "30s", "max": "60s"})
    await binance.subscribed()
    await venue.close_clients(WSCloseCode.POLICY_VIOLATION, b"too many requests")
    last: list[Observation] = []

    async def disconnected() -> bool:
        last[:] = [await check.probe()]
        return last[0].stream is not None and not last[0].stream.connected

    await wait_for(disconnected, timeout=5, what="the stream to notice the close")
    obs = last[0]
    assert obs.reason is Reason.ERROR
    assert obs.detail.startswith("stream: disconnected: closed by server (1008")
    assert obs.stream is not None and obs.stream.reconnects == {"closed_by_server": 1}


async def test_rest_failure_wins_over_a_healthy_stream(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance, env: CheckEnv
) -> None:
    check = await make_check(streams=True)
    await binance.subscribed()
    await binance.push_trades(binance.trade(91000.0))
    await wait_for(lambda: _quote(env) == 91000.0, timeout=5, what="a trade")
    venue.rest(TIME_PATH, binance.json("geo_451.json", 451))
    obs = await check.probe()
    assert obs.reason is Reason.GEO_BLOCKED
    assert obs.stream is not None and obs.stream.messages_total == 1


async def test_stream_failure_wins_over_soft_rest_limits(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    binance.used_weight = "5900"
    check = await make_check(streams=True, reconnect={"initial": "30s", "max": "60s"})
    await binance.subscribed()
    await venue.close_clients(WSCloseCode.GOING_AWAY)

    async def disconnected() -> bool:
        obs = await check.probe()
        return obs.stream is not None and not obs.stream.connected

    await wait_for(disconnected, timeout=5, what="a disconnect")
    obs = await check.probe()
    assert obs.reason is Reason.ERROR
    assert "server shutting down" in obs.detail


async def test_close_closes_the_stream(
    make_check: MakeCheck, venue: FakeVenue, binance: FakeBinance
) -> None:
    check = await make_check(streams=True)
    await binance.subscribed()
    await check.close()
    await wait_for(lambda: not venue.clients, timeout=5, what="the client to leave")
    await check.close()  # twice is harmless


async def test_futures_uses_agg_trades_and_has_no_status_call(env: CheckEnv) -> None:
    async with FakeVenue(on_frame=answer_subscribe) as venue:
        futures = FakeBinance(venue, flavour=FUTURES)
        futures.used_weight = "1200"
        target = ExchangeTarget.model_validate({
            "name": "bf", "kind": "exchange", "exchange": FUTURES, "market": "btc-usdt",
            "interval": "10s", "timeout": "2s", "rest_url": venue.url(),
            "ws_url": venue.ws_url})
        check = build(target, env)
        await check.start()
        try:
            await futures.subscribed()
            assert venue.clients[0].state["params"] == ["btcusdt@aggTrade"]
            await futures.push_trades(futures.trade(91190.1))
            await wait_for(lambda: bool(env.prices.quotes("BTC-USDT")), timeout=5,
                           what="a futures price")
            obs = await check.probe()
        finally:
            await check.close()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.RATE_LIMIT_USED_RATIO] == pytest.approx(0.5)
    assert Fact.MAINTENANCE not in obs.facts
    assert venue.hits == {"/fapi/v1/time": 1}
    assert env.prices.quotes("BTC-USDT")["binance-futures"].price == pytest.approx(91190.1)


def _quote(env: CheckEnv) -> float | None:
    quote = env.prices.quotes("BTC-USDT").get("binance")
    return quote.price if quote is not None else None


# -- the fake venue itself -----------------------------------------------------------------


async def test_fake_venue_drops_a_client_that_breaks_the_keepalive_rule() -> None:
    rule = KeepaliveRule(timeout=0.2, matches=lambda text: text == "ping")
    async with FakeVenue(keepalive=rule) as venue, ClientSession() as session, (
        session.ws_connect(venue.ws_url)
    ) as ws:
        await ws.send_str("hello")  # not the expected frame
        message = await ws.receive(timeout=5)
        assert message.type is WSMsgType.CLOSE
        assert message.data == WSCloseCode.POLICY_VIOLATION
        assert venue.keepalive_drops == 1
        assert venue.connections == 1


async def test_fake_venue_protocol_ping_drops_a_client_that_never_pongs() -> None:
    async with FakeVenue(protocol_ping=0.2) as venue, ClientSession() as session, (
        session.ws_connect(venue.ws_url, autoping=False)
    ) as ws:
        assert (await ws.receive(timeout=5)).type is WSMsgType.PING
        kinds = {(await ws.receive(timeout=5)).type for _ in range(2)}
        assert kinds & {WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING}


async def test_fake_venue_answers_pushes_and_goes_silent() -> None:
    async def echo(client: FakeClient, text: str) -> None:
        await client.send({"echo": text})

    async with FakeVenue(on_frame=echo) as venue, ClientSession() as session:
        venue.rest("/x", lambda request: Reply(status=418, body={"q": request.query_string},
                                                headers={"X-Test": "1"}))
        async with session.get(venue.url("/x?a=1")) as response:
            assert response.status == 418 and response.headers["X-Test"] == "1"
            assert await response.json() == {"q": "a=1"}
        async with session.get(venue.url("/unknown")) as response:
            assert response.status == 404
        assert venue.hits == {"/x": 1, "/unknown": 1}
        async with session.ws_connect(venue.ws_url) as ws:
            await ws.send_str("hi")
            assert await ws.receive_json(timeout=5) == {"echo": "hi"}
            assert await venue.push(b"\x01binary") == 1
            assert (await ws.receive(timeout=5)).data == b"\x01binary"
            venue.silent = True
            assert await venue.push("dropped") == 0
            await ws.send_str("unanswered")
            client = venue.clients[0]
            await wait_for(lambda: client.received == ["hi", "unanswered"], timeout=5,
                           what="both frames recorded")
            await venue.close_clients(4001, b"bye")
            message = await ws.receive(timeout=5)
            assert message.type is WSMsgType.CLOSE and message.data == 4001
        assert venue.clients == []
