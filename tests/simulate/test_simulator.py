"""The simulated world, driven through real HTTP and WebSocket clients on 127.0.0.1."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest

from monitor.simulate import FaultError, World, list_scenarios, serve
from monitor.simulate.faults import GARBAGE_BODY, MIB
from monitor.simulate.scenarios import UnknownScenario

VENUE = "binance-sim"
SUBSCRIBE = {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}
DISCONNECTED = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def eventually(predicate: Callable[[], Awaitable[bool] | bool], *, timeout: float = 3.0,
                     what: str = "condition") -> None:
    """Poll `predicate` until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


@pytest.fixture
async def world() -> AsyncIterator[World]:
    world = World(trade_rate=20)
    await world.start()
    yield world
    await world.stop()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        yield session


async def get(session: aiohttp.ClientSession, url: str) -> tuple[int, dict[str, str], bytes]:
    async with session.get(url) as response:
        return response.status, dict(response.headers), await response.read()


async def get_json(session: aiohttp.ClientSession, url: str) -> tuple[int, Any]:
    async with session.get(url) as response:
        return response.status, await response.json(content_type=None)


async def subscribed(session: aiohttp.ClientSession,
                     url: str) -> aiohttp.ClientWebSocketResponse:
    ws = await session.ws_connect(url)
    await ws.send_json(SUBSCRIBE)
    assert await ws.receive_json(timeout=2) == {"result": None, "id": 1}
    return ws


async def barrier(ws: aiohttp.ClientWebSocketResponse) -> None:
    """Read until the answer to a command sent now: everything sent before it is consumed."""
    await ws.send_json({"method": "LIST_SUBSCRIPTIONS", "id": 99})
    while True:
        message = await ws.receive_json(timeout=2)
        if message.get("id") == 99:
            return


async def ended(ws: aiohttp.ClientWebSocketResponse) -> bool:
    """Read one message; true when it says the stream is over."""
    message = await ws.receive(timeout=2)
    return message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.ERROR)


# -- normal behaviour -----------------------------------------------------------------------

async def test_rest_endpoints_answer_like_binance(world: World,
                                                  session: aiohttp.ClientSession) -> None:
    base = world.url(VENUE)
    assert base.startswith("http://127.0.0.1:")

    assert await get_json(session, f"{base}/api/v3/ping") == (200, {})
    status, body = await get_json(session, f"{base}/api/v3/time")
    assert status == 200
    assert abs(body["serverTime"] - time.time() * 1000) < 5000
    assert await get_json(session, f"{base}/sapi/v1/system/status") == (
        200, {"status": 0, "msg": "normal"})
    status, body = await get_json(session, f"{base}/api/v3/ticker/price?symbol=BTCUSDT")
    assert status == 200
    assert body["symbol"] == "BTCUSDT"
    assert isinstance(body["price"], str) and float(body["price"]) > 0
    status, body = await get_json(session, f"{base}/api/v3/ticker/price?symbol=NOPE")
    assert (status, body["code"]) == (400, -1121)


async def test_every_response_carries_the_used_weight(world: World,
                                                      session: aiohttp.ClientSession) -> None:
    weights = []
    for path in ("/api/v3/ping", "/api/v3/time", "/api/v3/ticker/price?symbol=BTCUSDT"):
        _, headers, _ = await get(session, world.url(VENUE) + path)
        weights.append(int(headers["X-MBX-USED-WEIGHT-1M"]))
    assert weights[0] >= 1
    assert weights[1] == weights[0] + 1
    assert weights[2] == weights[1] + 2  # ticker/price for one symbol weighs 2


async def test_stream_answers_subscribe_then_pushes_fresh_trades(
        world: World, session: aiohttp.ClientSession) -> None:
    async with await subscribed(session, world.ws_url(VENUE)) as ws:
        for _ in range(3):
            trade = await ws.receive_json(timeout=2)
            assert trade["e"] == "trade"
            assert trade["s"] == "BTCUSDT"
            assert float(trade["p"]) > 0
            assert float(trade["q"]) > 0
            assert abs(trade["E"] - time.time() * 1000) < 1000
            assert trade["T"] <= trade["E"]


async def test_stream_answers_pings(world: World, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(world.ws_url(VENUE), autoping=False) as ws:
        await ws.ping(b"are you there")
        pong = await ws.receive(timeout=2)
        assert (pong.type, pong.data) == (aiohttp.WSMsgType.PONG, b"are you there")


async def test_stream_subscribes_through_the_url(world: World,
                                                 session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(world.ws_url(VENUE) + "/ethusdt@trade") as ws:
        assert (await ws.receive_json(timeout=2))["s"] == "ETHUSDT"


async def test_stream_rejects_unknown_streams(world: World,
                                              session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(world.ws_url(VENUE)) as ws:
        await ws.send_json({"method": "SUBSCRIBE", "params": ["nope@trade"], "id": 7})
        answer = await ws.receive_json(timeout=2)
        assert answer["id"] == 7
        assert answer["error"]["code"] == 2


# -- faults through the programmatic API ----------------------------------------------------

async def test_latency_delays_the_answer(world: World, session: aiohttp.ClientSession) -> None:
    url = world.url(VENUE) + "/api/v3/ping"
    world.inject(VENUE, "latency", ms=300)
    started = time.monotonic()
    status, _, _ = await get(session, url)
    assert status == 200
    assert time.monotonic() - started >= 0.3


async def test_http_5xx_answers_the_overloaded_body(world: World,
                                                    session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "http_5xx")
    status, body = await get_json(session, world.url(VENUE) + "/api/v3/ping")
    assert status == 503
    assert body["code"] == -1008
    assert body["msg"].startswith("Server is currently overloaded")


async def test_http_5xx_takes_a_status(world: World, session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "http_5xx", status=502, body="bad gateway", content_type="text/html")
    status, headers, body = await get(session, world.url(VENUE) + "/api/v3/ping")
    assert (status, body) == (502, b"bad gateway")
    assert headers["Content-Type"].startswith("text/html")


async def test_rate_limit_answers_429_with_retry_after(world: World,
                                                       session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "rate_limit", retry_after=7)
    status, headers, body = await get(session, world.url(VENUE) + "/api/v3/ping")
    assert status == 429
    assert headers["Retry-After"] == "7"
    assert b'"code":-1003' in body
    assert "X-MBX-USED-WEIGHT-1M" in headers


async def test_rate_limit_can_ban_with_418(world: World, session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "rate_limit", status=418, retry_after=60)
    status, headers, body = await get(session, world.url(VENUE) + "/api/v3/ping")
    assert (status, headers["Retry-After"]) == (418, "60")
    assert b"IP banned until" in body


async def test_geo_block_answers_451_restricted_location(
        world: World, session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "geo_block")
    status, body = await get_json(session, world.url(VENUE) + "/api/v3/ping")
    assert status == 451
    assert body["code"] == 0
    assert body["msg"].startswith("Service unavailable from a restricted location")


async def test_reset_drops_the_connection(world: World, session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "reset")
    with pytest.raises(DISCONNECTED):
        await get(session, world.url(VENUE) + "/api/v3/ping")


async def test_hang_never_answers_and_stop_stays_fast(world: World,
                                                      session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "hang", path="/api/v3")
    url = world.url(VENUE) + "/api/v3/time"
    impatient = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5))
    async with impatient:
        with pytest.raises(TimeoutError):
            await get(impatient, url)
    held = asyncio.create_task(get(session, url))
    ws = await subscribed(session, world.ws_url(VENUE))  # streams are not on /api/v3
    await eventually(lambda: world.venue(VENUE).weight.used >= 3, what="the held request")

    started = time.monotonic()
    await world.stop()
    assert time.monotonic() - started < 1.0
    with pytest.raises(DISCONNECTED):
        await held
    await eventually(lambda: ended(ws), what="the stream to close")


async def test_a_cleared_hang_lets_the_request_through(world: World,
                                                       session: aiohttp.ClientSession) -> None:
    fault_id = world.inject(VENUE, "hang")
    held = asyncio.create_task(get_json(session, world.url(VENUE) + "/api/v3/ping"))
    await eventually(lambda: world.venue(VENUE).weight.used >= 1, what="the held request")
    assert not held.done()
    assert world.clear(fault_id)
    assert await held == (200, {})


async def test_garbage_is_a_200_that_is_not_json(world: World,
                                                 session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "garbage")
    status, _, body = await get(session, world.url(VENUE) + "/api/v3/ping")
    assert (status, body) == (200, GARBAGE_BODY)


@pytest.mark.parametrize("declare_length", [True, False])
async def test_oversized_streams_a_body_of_the_given_size(
        world: World, session: aiohttp.ClientSession, declare_length: bool) -> None:
    size = 3 * MIB + 5
    world.inject(VENUE, "oversized", size=size, declare_length=declare_length)
    async with session.get(world.url(VENUE) + "/api/v3/ticker/price?symbol=BTCUSDT") as response:
        assert response.status == 200
        assert response.content_length == (size if declare_length else None)
        received = 0
        async for chunk in response.content.iter_chunked(256 * 1024):
            received += len(chunk)
    assert received == size


async def test_oversized_defaults_to_5_mib(world: World) -> None:
    fault_id = world.inject(VENUE, "oversized")
    assert world.faults(VENUE)[0].to_json()["params"]["size"] == 5 * MIB
    assert world.faults(VENUE)[0].id == fault_id


async def test_maintenance_changes_the_system_status(world: World,
                                                     session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "maintenance")
    assert await get_json(session, world.url(VENUE) + "/sapi/v1/system/status") == (
        200, {"status": 1, "msg": "system_maintenance"})
    assert await get_json(session, world.url(VENUE) + "/api/v3/ping") == (200, {})


async def test_a_path_limited_fault_affects_only_that_path(
        world: World, session: aiohttp.ClientSession) -> None:
    base = world.url(VENUE)
    world.inject(VENUE, "http_5xx", path="/api/v3/time")
    world.inject(VENUE, "geo_block", path="/api/v3/t")  # a prefix of a segment is no match
    assert (await get(session, f"{base}/api/v3/time"))[0] == 503
    assert (await get(session, f"{base}/api/v3/ping"))[0] == 200
    assert (await get(session, f"{base}/sapi/v1/system/status"))[0] == 200


async def test_a_fault_with_a_duration_clears_itself(world: World,
                                                     session: aiohttp.ClientSession) -> None:
    url = world.url(VENUE) + "/api/v3/ping"
    world.inject(VENUE, "http_5xx", duration=0.3)
    assert (await get(session, url))[0] == 503

    async def answers_200() -> bool:
        return (await get(session, url))[0] == 200

    await eventually(answers_200, what="the fault to expire")
    assert world.faults() == []


async def test_clear_and_clear_all(world: World, session: aiohttp.ClientSession) -> None:
    url = world.url(VENUE) + "/api/v3/ping"
    first = world.inject(VENUE, "http_5xx")
    assert world.clear(first)
    assert not world.clear(first)
    assert (await get(session, url))[0] == 200
    world.inject(VENUE, "http_5xx")
    world.inject(VENUE, "latency", ms=1)
    assert world.clear_all() == 2
    assert (await get(session, url))[0] == 200


@pytest.mark.parametrize(("venue", "fault", "params", "message"), [
    ("nowhere", "latency", {}, "unknown venue"),
    (VENUE, "meteor", {}, "unknown fault"),
    (VENUE, "latency", {"seconds": 1}, "seconds"),
    (VENUE, "latency", {"ms": -1}, "ms"),
    (VENUE, "http_5xx", {"status": 404}, "status"),
])
async def test_invalid_injections_are_refused(world: World, venue: str, fault: str,
                                              params: dict[str, Any], message: str) -> None:
    with pytest.raises(FaultError, match=message):
        world.inject(venue, fault, **params)
    assert world.faults() == []


# -- faults on the stream -------------------------------------------------------------------

async def test_stall_stream_keeps_the_socket_but_sends_nothing(
        world: World, session: aiohttp.ClientSession) -> None:
    async with await subscribed(session, world.ws_url(VENUE)) as ws:
        assert (await ws.receive_json(timeout=2))["e"] == "trade"
        fault_id = world.inject(VENUE, "stall_stream")
        await barrier(ws)
        with pytest.raises(TimeoutError):
            await ws.receive(timeout=0.5)
        assert not ws.closed
        world.clear(fault_id)
        assert (await ws.receive_json(timeout=2))["e"] == "trade"


async def test_stream_latency_makes_event_lag_grow(world: World,
                                                   session: aiohttp.ClientSession) -> None:
    async with await subscribed(session, world.ws_url(VENUE)) as ws:
        trade = await ws.receive_json(timeout=2)
        assert time.time() * 1000 - trade["E"] < 250
        world.inject(VENUE, "latency", ms=300, path="/ws")

        async def lagging() -> bool:
            trade = await ws.receive_json(timeout=2)
            return bool(time.time() * 1000 - trade["E"] >= 290)

        await eventually(lagging, what="a trade delivered 300 ms late")


async def test_reset_aborts_open_streams_and_new_handshakes(
        world: World, session: aiohttp.ClientSession) -> None:
    ws = await subscribed(session, world.ws_url(VENUE))
    world.inject(VENUE, "reset", path="/ws")

    await eventually(lambda: ended(ws), what="the stream to be aborted")
    with pytest.raises(DISCONNECTED):
        await session.ws_connect(world.ws_url(VENUE))
    assert (await get(session, world.url(VENUE) + "/api/v3/ping"))[0] == 200


async def test_an_answering_fault_refuses_the_handshake(world: World,
                                                        session: aiohttp.ClientSession) -> None:
    world.inject(VENUE, "http_5xx")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await session.ws_connect(world.ws_url(VENUE))
    assert refused.value.status == 503


# -- several venues -------------------------------------------------------------------------

async def test_venues_listen_apart_and_fail_apart(session: aiohttp.ClientSession) -> None:
    async with World(venues=["binance-sim", "okx-sim"]) as world:
        assert world.venues == ["binance-sim", "okx-sim"]
        assert world.url("binance-sim") != world.url("okx-sim")
        world.inject("okx-sim", "reset")
        assert (await get(session, world.url("binance-sim") + "/api/v3/ping"))[0] == 200
        with pytest.raises(DISCONNECTED):
            await get(session, world.url("okx-sim") + "/api/v3/ping")


# -- control API ----------------------------------------------------------------------------

async def test_control_api_injects_lists_and_clears(world: World,
                                                    session: aiohttp.ClientSession) -> None:
    control = world.control_url + "/-/sim"
    ping = world.url(VENUE) + "/api/v3/ping"
    status, state = await get_json(session, f"{control}/state")
    assert status == 200
    assert state["venues"][VENUE]["url"] == world.url(VENUE)
    assert state["venues"][VENUE]["ws_url"] == world.ws_url(VENUE)
    assert state["venues"][VENUE]["faults"] == []

    order = {"venue": VENUE, "fault": "geo_block", "path": "/api/v3", "duration_s": 30}
    async with session.post(f"{control}/faults", json=order) as response:
        assert response.status == 201
        fault = await response.json()
    assert (fault["venue"], fault["fault"], fault["path"]) == (VENUE, "geo_block", "/api/v3")
    assert (await get(session, ping))[0] == 451
    _, state = await get_json(session, f"{control}/state")
    assert [item["id"] for item in state["venues"][VENUE]["faults"]] == [fault["id"]]

    async with session.delete(f"{control}/faults/{fault['id']}") as response:
        assert response.status == 200
    assert (await get(session, ping))[0] == 200
    async with session.delete(f"{control}/faults/{fault['id']}") as response:
        assert response.status == 404

    world.inject(VENUE, "latency", ms=1)
    async with session.delete(f"{control}/faults") as response:
        assert await response.json() == {"cleared": 1}


async def test_control_api_takes_fault_params(world: World,
                                              session: aiohttp.ClientSession) -> None:
    order = {"venue": VENUE, "fault": "rate_limit", "params": {"retry_after": 9}}
    async with session.post(world.control_url + "/-/sim/faults", json=order) as response:
        assert response.status == 201
    _, headers, _ = await get(session, world.url(VENUE) + "/api/v3/ping")
    assert headers["Retry-After"] == "9"


@pytest.mark.parametrize(("body", "message"), [
    (b'{"venue": "binance-sim", "fault": "meteor"}', "unknown fault"),
    (b'{"venue": "nowhere", "fault": "latency"}', "unknown venue"),
    (b'{"venue": "binance-sim", "fault": "latency", "params": {"ms": "soon"}}', "ms"),
    (b'{"venue": "binance-sim", "fault": "latency", "duration_s": -1}', "duration"),
    (b'{"venue": "binance-sim", "fault": "latency", "colour": "red"}', "colour"),
    (b'{"venue": "binance-sim"}', "fault"),
    (b"not json", "JSON"),
    (b"[]", "invalid request"),
])
async def test_control_api_rejects_bad_orders(world: World, session: aiohttp.ClientSession,
                                              body: bytes, message: str) -> None:
    async with session.post(world.control_url + "/-/sim/faults", data=body,
                            headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
        assert message in (await response.json())["error"]
    assert world.faults() == []


async def test_control_api_caps_the_body(world: World, session: aiohttp.ClientSession) -> None:
    async with session.post(world.control_url + "/-/sim/faults",
                            data=b" " * (1024 * 1024)) as response:
        assert response.status == 413


# -- scenarios and serve --------------------------------------------------------------------

async def test_flaky_cycles_through_its_faults() -> None:
    started: list[str] = []
    async with World(time_scale=0.005) as world:  # 20 s phases last 0.1 s
        book = world.venue(VENUE).faults

        recorded: set[str] = set()

        def record() -> None:
            for fault in book:
                if fault.id not in recorded:
                    recorded.add(fault.id)
                    started.append(fault.kind.value)

        book.on_change(record)
        world.play("flaky")
        await eventually(lambda: len(started) >= 7, what="flaky to go round")
        assert world.scenario == "flaky"
    assert started[:7] == ["latency", "http_5xx", "rate_limit", "stall_stream", "maintenance",
                           "price_offset", "latency"]
    assert world.faults() == []


def test_scenarios_are_listed_and_unknown_ones_refused() -> None:
    names = [name for name, _ in list_scenarios()]
    assert {"calm", "flaky", "depeg"} <= set(names)
    with pytest.raises(UnknownScenario, match="calm"):
        World().play("meteor")


async def test_serve_runs_until_cancelled(session: aiohttp.ClientSession) -> None:
    ready: asyncio.Future[World] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(serve("127.0.0.1:0", "calm", on_ready=ready.set_result))
    world = await asyncio.wait_for(ready, 5)
    control_url = world.control_url
    assert world.scenario == "calm"
    assert await get_json(session, world.url(VENUE) + "/api/v3/ping") == (200, {})
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(session, control_url + "/-/sim/state")


async def test_serve_refuses_an_unknown_scenario() -> None:
    with pytest.raises(UnknownScenario):
        await serve("127.0.0.1:0", "meteor")
