"""Bitget adapter: recorded fixtures (documented shapes, made-up values), hostile frames, and a
local WebSocket venue that enforces Bitget's keepalive rule (text "ping" / "pong")."""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve

from checks import stream
from checks.exchanges.base import Market, VenueStatus, adapters
from checks.exchanges.bitget import BitgetAdapter
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.clock import RealClock
from monitor.observation import Reason
from tests.conftest import wait_for

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "exchanges" / "bitget"
SHAPE_ERRORS = (ValueError, KeyError, TypeError, IndexError)


def raw(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def doc(name: str) -> Any:
    return orjson.loads(raw(name))


@pytest.fixture
def adapter() -> BitgetAdapter:
    return BitgetAdapter(Market.parse("BTC-USDT"))


def test_registered_under_its_name() -> None:
    assert adapters()["bitget"] is BitgetAdapter


@pytest.mark.parametrize(
    ("market", "symbol"),
    [("BTC-USDT", "BTCUSDT"), ("eth-usdc", "ETHUSDC"), ("1INCH-USDT", "1INCHUSDT")],
)
def test_venue_symbol(market: str, symbol: str) -> None:
    assert BitgetAdapter(Market.parse(market)).symbol == symbol


# -- REST ----------------------------------------------------------------------------------


def test_parse_time(adapter: BitgetAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1717171717.123


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        None,
        {"code": "00000", "data": None},
        {"code": "00000", "data": {}},
        {"code": "00000", "data": {"serverTime": "later"}},
        {"code": "00000", "data": {"serverTime": 1717171717123.5}},
        {"code": "00000", "data": {"serverTime": False}},
        {"code": "429", "data": {"serverTime": "1717171717123"}},
        {"data": {"serverTime": "1717171717123"}},
    ],
)
def test_parse_time_rejects_wrong_shapes(adapter: BitgetAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


def test_no_status_call_is_documented(adapter: BitgetAdapter) -> None:
    assert BitgetAdapter.status_call is None
    assert adapter.parse_status({}) == VenueStatus(maintenance=False)


@pytest.mark.parametrize(
    ("name", "http_status", "reason"),
    [
        ("error_rate_limit.json", 429, Reason.RATE_LIMITED),
        ("error_rate_limit.json", 200, Reason.RATE_LIMITED),
        ("error_release.json", 400, Reason.HTTP_5XX),
        ("error_other.json", 400, Reason.ERROR),
        ("error_other.json", 429, Reason.RATE_LIMITED),  # the HTTP status says it
    ],
)
def test_venue_error_maps_codes(
    adapter: BitgetAdapter, name: str, http_status: int, reason: Reason
) -> None:
    body = doc(name)
    verdict = adapter.venue_error(http_status, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert body["code"] in verdict[1] and body["msg"] in verdict[1]


def test_venue_error_none_on_success(adapter: BitgetAdapter) -> None:
    assert adapter.venue_error(200, doc("time.json")) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>502</html>", None),
        ([], None),
        ({"msg": "no code"}, None),
        ({"code": 429}, Reason.INVALID_RESPONSE),
        ({"code": ["00000"]}, Reason.INVALID_RESPONSE),
    ],
)
def test_venue_error_odd_bodies(adapter: BitgetAdapter, body: Any, expected: Reason | None) -> None:
    verdict = adapter.venue_error(200, body)
    assert (verdict[0] if verdict else None) is expected


@pytest.mark.parametrize(
    ("headers", "ratio"),
    [
        ({"x-mbx-used-remain-limit": "15"}, 0.25),
        ({"X-MBX-USED-REMAIN-LIMIT": "20"}, 0.0),
        ({"x-mbx-used-remain-limit": "0"}, 1.0),
        ({"x-mbx-used-remain-limit": "400"}, 0.0),
        ({"x-mbx-used-remain-limit": "some"}, None),
        ({"x-mbx-used-remain-limit": "-2"}, None),
        ({}, None),
    ],
)
def test_rate_limit_used_ratio(
    adapter: BitgetAdapter, headers: dict[str, str], ratio: float | None
) -> None:
    result = adapter.rate_limit_used_ratio(headers)
    assert result == (pytest.approx(ratio) if ratio is not None else None)


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames(adapter: BitgetAdapter) -> None:
    frames = [orjson.loads(f) for f in adapter.subscribe_frames()]
    assert frames == [
        {"op": "subscribe", "args": [{"instType": "SPOT", "channel": "trade", "instId": "BTCUSDT"}]}
    ]


def test_keepalive_is_the_documented_text_ping() -> None:
    keepalive = BitgetAdapter.keepalive
    assert keepalive is not None
    assert keepalive.frame == "ping"
    assert keepalive.interval == 30.0  # well inside the 2 minutes Bitget tolerates


@pytest.mark.parametrize(
    ("name", "kind", "event_time", "price"),
    [
        ("ws_ack.json", EventKind.ACK, None, None),
        # a snapshot of older trades: the push ts; price of the newest trade (ts ...700100)
        ("ws_trade_snapshot.json", EventKind.DATA, 1717171717.250, 67010.1),
        ("ws_trade_update.json", EventKind.DATA, 1717171717.252, 67012.5),
        ("ws_error.json", EventKind.ERROR, None, None),
        ("ws_pong.txt", EventKind.PONG, None, None),
        ("ws_other_symbol.json", EventKind.IGNORE, None, None),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_classify_fixture_frames(
    adapter: BitgetAdapter,
    name: str,
    kind: EventKind,
    event_time: float | None,
    price: float | None,
    as_bytes: bool,
) -> None:
    frame: str | bytes = raw(name) if as_bytes else raw(name).decode()
    event = adapter.classify(frame)
    assert event.kind is kind
    assert event.event_time == event_time
    assert event.price == price
    assert event.sequence is None  # tradeId is an identifier, not a message number


def test_classify_snapshot_event_time_is_the_push_time(adapter: BitgetAdapter) -> None:
    assert adapter.classify(raw("ws_trade_snapshot.json")).event_time == 1717171717.250


def test_classify_update_without_push_ts_uses_the_newest_trade(adapter: BitgetAdapter) -> None:
    message = doc("ws_trade_update.json")
    del message["ts"]
    assert adapter.classify(orjson.dumps(message)).event_time == 1717171717.240
    snapshot = doc("ws_trade_snapshot.json")
    del snapshot["ts"]
    event = adapter.classify(orjson.dumps(snapshot))
    assert event.kind is EventKind.DATA and event.event_time is None  # old trades: no lag


def test_classify_error_carries_the_venue_message(adapter: BitgetAdapter) -> None:
    event = adapter.classify(raw("ws_error.json"))
    assert "30001" in event.detail and "doesn't exist" in event.detail


def test_classify_ack_of_another_channel_is_ignored(adapter: BitgetAdapter) -> None:
    arg = {"instType": "SPOT", "channel": "ticker", "instId": "BTCUSDT"}
    ack = {"event": "subscribe", "arg": arg}
    assert adapter.classify(orjson.dumps(ack)).kind is EventKind.IGNORE


HOSTILE: list[str | bytes] = [
    b"\xff\xfe\xfa",
    b"pong\xff",
    b'{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"}, "data": "\xc3\x28"}',
    "\ud800",
    "",
    "PONG ",
    "{",
    "[]",
    "null",
    '"pong"',
    '{"action": "update"}',
    '{"action": "update", "arg": "trade"}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"}}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"}, "data": {}}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"}, "data": [1]}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"},'
    ' "data": [{"ts": "1", "price": "0"}], "ts": 1}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"},'
    ' "data": [{"ts": "1", "price": "1"}], "ts": "soon"}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"},'
    ' "data": [{"ts": 1.5, "price": "1"}], "ts": 1}',
    '{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"},'
    ' "data": [{"ts": "1", "price": [1]}], "ts": 1}',
    '{"action": ["update"], "arg": {"channel": "trade", "instId": "BTCUSDT"}, "data": []}',
    '{"action": "update", "arg": {"channel": ["trade"], "instId": {}}, "data": []}',
    '{"event": {"error": 1}, "arg": []}',
    "[" * 100_000 + "]" * 100_000,
    '{"a":' * 50_000 + "1" + "}" * 50_000,
]


@pytest.mark.parametrize("frame", HOSTILE, ids=range(len(HOSTILE)))
def test_classify_hostile_frames_never_raise(adapter: BitgetAdapter, frame: str | bytes) -> None:
    event = adapter.classify(frame)
    assert event.kind in (EventKind.IGNORE, EventKind.ERROR)
    assert event.price is None


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)
FUZZED = ["ws_trade_update.json", "ws_trade_snapshot.json", "ws_ack.json", "ws_error.json"]


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        children: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        children = []
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def assert_sane(event: StreamEvent) -> None:
    assert isinstance(event, StreamEvent)
    if event.price is not None:
        assert math.isfinite(event.price) and event.price > 0
    if event.event_time is not None:
        assert math.isfinite(event.event_time)


@settings(max_examples=150, deadline=None)
@given(value=JSON)
def test_classify_arbitrary_json_never_raises(value: Any) -> None:
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(orjson.dumps(value)))


@settings(max_examples=100, deadline=None)
@given(frame=st.binary(max_size=200) | st.text(max_size=200))
def test_classify_arbitrary_bytes_and_text_never_raise(frame: bytes | str) -> None:
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(frame))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), value=JSON)
def test_classify_fixture_with_one_field_replaced_never_raises(
    data: st.DataObject, value: Any
) -> None:
    document = doc(data.draw(st.sampled_from(FUZZED)))
    path = data.draw(st.sampled_from(paths(document)))
    frame = orjson.dumps(replaced(document, path, value))
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(frame))


# -- a local venue that enforces the keepalive rule -----------------------------------------


class LocalBitget:
    """Acks the subscription with the fixture ack, pushes fixture-shaped trade updates stamped
    now, answers the text "ping" with "pong", and drops a client silent for `drop_after`
    seconds (Bitget's rule is 2 minutes; shrunk here)."""

    def __init__(self, drop_after: float) -> None:
        self.drop_after = drop_after
        self.connections = 0
        self.pings = 0
        self.drops = 0
        self.port = 0

    def trade(self) -> str:
        message = doc("ws_trade_update.json")
        now = int(time.time() * 1000)
        message["ts"] = now
        message["data"][0]["ts"] = str(now)
        return orjson.dumps(message).decode()

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        last_ping = time.monotonic()
        subscribed = asyncio.Event()

        async def read() -> None:
            nonlocal last_ping
            async for text in ws:
                if text == "ping":
                    self.pings += 1
                    last_ping = time.monotonic()
                    await ws.send(raw("ws_pong.txt").decode())
                elif orjson.loads(text).get("op") == "subscribe":
                    await ws.send(raw("ws_ack.json").decode())
                    subscribed.set()

        reader = asyncio.create_task(read())
        try:
            while not reader.done():
                if time.monotonic() - last_ping > self.drop_after:
                    self.drops += 1
                    await ws.close(1008, "no ping")
                    return
                if subscribed.is_set():
                    await ws.send(self.trade())
                await asyncio.sleep(0.05)  # the venue's pace, not a synchronisation
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader


@contextlib.asynccontextmanager
async def local_bitget(drop_after: float) -> AsyncIterator[LocalBitget]:
    venue = LocalBitget(drop_after)
    async with serve(venue.handle, "127.0.0.1", 0) as server:
        venue.port = next(iter(server.sockets)).getsockname()[1]
        yield venue


def watcher_for(adapter: BitgetAdapter) -> Any:
    watcher_class = getattr(stream, "StreamWatcher", None)
    if watcher_class is None:
        pytest.skip("checks.stream.StreamWatcher is not there yet")
    return watcher_class(
        "bitget-local",
        adapter,
        clock=RealClock(),
        stale_after=5.0,
        max_message=1 << 20,
        connect_timeout=2.0,
        reconnect_initial=0.05,
        reconnect_max=0.2,
    )


async def test_keepalive_keeps_the_venue_from_dropping_us() -> None:
    async with local_bitget(drop_after=0.6) as venue:
        adapter = BitgetAdapter(Market.parse("BTC-USDT"), ws_url=f"ws://127.0.0.1:{venue.port}/")
        vars(adapter)["keepalive"] = Keepalive(interval=0.2, frame="ping", timeout=0.5)
        watcher = watcher_for(adapter)
        await watcher.start()
        try:
            # ~1.5 s: seven pings at 0.2 s, long past the 0.6 s the venue tolerates silence.
            await wait_for(lambda: venue.pings >= 7, timeout=5.0, what="seven pings")
            stats = watcher.snapshot().stats
        finally:
            await watcher.close()
    assert venue.drops == 0 and venue.connections == 1
    assert stats.connected
    assert sum(stats.reconnects.values()) == 0
    assert stats.messages_total >= 10
    assert stats.event_lag_count >= 10
    assert stats.event_lag_last is not None and -0.05 < stats.event_lag_last < 1.0


async def test_without_keepalive_the_venue_drops_us() -> None:
    """The control: the same venue does drop a client that never pings."""
    async with local_bitget(drop_after=0.3) as venue:
        adapter = BitgetAdapter(Market.parse("BTC-USDT"), ws_url=f"ws://127.0.0.1:{venue.port}/")
        vars(adapter)["keepalive"] = None
        watcher = watcher_for(adapter)
        await watcher.start()
        try:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="a drop")
            await wait_for(
                lambda: sum(watcher.snapshot().stats.reconnects.values()) >= 1,
                timeout=5.0,
                what="a reconnect",
            )
        finally:
            await watcher.close()
