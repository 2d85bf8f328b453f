"""Bitget adapter: recorded fixtures (documented shapes, made-up values), hostile frames, and a
local WebSocket venue that enforces Bitget's keepalive rule (text "ping" / "pong")."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.exchanges.base import Market, VenueAdapter, VenueStatus, adapters
from checks.exchanges.bitget import BitgetAdapter
from checks.stream import EventKind, Keepalive
from monitor.observation import Reason
from tests.checks.exchanges.harness import (
    FRAMES,
    HOSTILE_FRAMES,
    ORJSON_VALUES,
    SHAPE_ERRORS,
    Fixtures,
    SubscribingVenue,
    assert_sane,
    one_field_replaced,
    serving,
    watching,
)
from tests.conftest import wait_for

FIXTURES = Fixtures("bitget")
raw, doc = FIXTURES.raw, FIXTURES.doc


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
        ("error_other.json", 400, Reason.HTTP_4XX),  # unknown code: the status speaks
        ("error_other.json", 200, Reason.ERROR),
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
    *HOSTILE_FRAMES,
    b"pong\xff",
    b'{"action": "update", "arg": {"channel": "trade", "instId": "BTCUSDT"}, "data": "\xc3\x28"}',
    "PONG ",
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
]


@pytest.mark.parametrize("frame", HOSTILE, ids=range(len(HOSTILE)))
def test_classify_hostile_frames_never_raise(adapter: BitgetAdapter, frame: str | bytes) -> None:
    event = adapter.classify(frame)
    assert event.kind in (EventKind.IGNORE, EventKind.ERROR)
    assert event.price is None


FUZZED = ["ws_trade_update.json", "ws_trade_snapshot.json", "ws_ack.json", "ws_error.json"]


@settings(max_examples=150, deadline=None)
@given(value=ORJSON_VALUES)
def test_classify_arbitrary_json_never_raises(value: Any) -> None:
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(orjson.dumps(value)))


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES)
def test_classify_arbitrary_bytes_and_text_never_raise(frame: bytes | str) -> None:
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(frame))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), value=ORJSON_VALUES)
def test_classify_fixture_with_one_field_replaced_never_raises(
    data: st.DataObject, value: Any
) -> None:
    document = doc(data.draw(st.sampled_from(FUZZED)))
    frame = one_field_replaced(data, document, value)
    assert_sane(BitgetAdapter(Market.parse("BTC-USDT")).classify(frame))


# -- a local venue that enforces the keepalive rule -----------------------------------------


class LocalBitget(SubscribingVenue):
    """Acks the subscription with the fixture ack, pushes fixture-shaped trade updates stamped
    now, answers the text "ping" with "pong", and drops a client silent for `drop_after`
    seconds (Bitget's rule is 2 minutes; shrunk here)."""

    def __init__(self, drop_after: float) -> None:
        super().__init__(FIXTURES, pong="ws_pong.txt", drop_after=drop_after)

    def pushes(self) -> list[str]:
        message = doc("ws_trade_update.json")
        now = int(time.time() * 1000)
        message["ts"] = now
        message["data"][0]["ts"] = str(now)
        return [orjson.dumps(message).decode()]


async def test_keepalive_keeps_the_venue_from_dropping_us() -> None:
    async with serving(LocalBitget(drop_after=0.6)) as venue:
        adapter = BitgetAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = Keepalive(interval=0.2, frame="ping", timeout=0.5)
        async with watching("bitget-local", adapter) as watcher:
            # ~1.5 s: seven pings at 0.2 s, long past the 0.6 s the venue tolerates silence.
            await wait_for(lambda: venue.pings >= 7, timeout=5.0, what="seven pings")
            stats = watcher.snapshot().stats
    assert venue.drops == 0 and venue.connections == 1
    assert stats.connected
    assert sum(stats.reconnects.values()) == 0
    assert stats.messages_total >= 10
    assert stats.event_lag_count >= 10
    assert stats.event_lag_last is not None and -0.05 < stats.event_lag_last < 1.0


async def test_without_keepalive_the_venue_drops_us() -> None:
    """The control: the same venue does drop a client that never pings."""
    async with serving(LocalBitget(drop_after=0.3)) as venue:
        adapter: VenueAdapter = BitgetAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = None
        async with watching("bitget-local", adapter) as watcher:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="a drop")
            await wait_for(
                lambda: sum(watcher.snapshot().stats.reconnects.values()) >= 1,
                timeout=5.0,
                what="a reconnect",
            )
