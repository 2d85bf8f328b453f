"""Bybit adapter: recorded fixtures (documented shapes, made-up values), hostile frames, and a
local WebSocket venue that enforces Bybit's keepalive rule."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multidict import CIMultiDict

from checks.exchanges.base import Market, VenueAdapter, adapters
from checks.exchanges.bybit import BybitAdapter
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

FIXTURES = Fixtures("bybit")
raw, doc = FIXTURES.raw, FIXTURES.doc


@pytest.fixture
def adapter() -> BybitAdapter:
    return BybitAdapter(Market.parse("BTC-USDT"))


def test_registered_under_its_name() -> None:
    assert adapters()["bybit"] is BybitAdapter


@pytest.mark.parametrize(
    ("market", "symbol"),
    [("BTC-USDT", "BTCUSDT"), ("eth-usdc", "ETHUSDC"), ("1INCH-USDT", "1INCHUSDT")],
)
def test_venue_symbol(market: str, symbol: str) -> None:
    assert BybitAdapter(Market.parse(market)).symbol == symbol


# -- REST ----------------------------------------------------------------------------------


def test_parse_time_uses_nanoseconds(adapter: BybitAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1717171717.123456789


def test_parse_time_falls_back_to_seconds(adapter: BybitAdapter) -> None:
    body = {"retCode": 0, "result": {"timeSecond": "1717171717"}}
    assert adapter.parse_time(body) == 1717171717.0


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "1717171717",
        None,
        {"result": None},
        {"result": {}},
        {"result": {"timeNano": "abc"}},
        {"result": {"timeNano": "-1717171717"}},
        {"result": {"timeNano": True}},
        {"result": {"timeNano": 1.5e18}},
        {"result": {"timeNano": "1" * 400}},
    ],
)
def test_parse_time_rejects_wrong_shapes(adapter: BybitAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


@pytest.mark.parametrize(
    ("name", "maintenance", "detail"),
    [
        ("status_normal.json", False, ""),
        ("status_scheduled.json", False, ""),  # announced but not begun
        ("status_maintenance.json", True, "Matching engine maintenance (ongoing)"),
    ],
)
def test_parse_status(adapter: BybitAdapter, name: str, maintenance: bool, detail: str) -> None:
    status = adapter.parse_status(doc(name))
    assert status.maintenance is maintenance
    assert status.detail == detail


def test_parse_status_empty_list_is_normal(adapter: BybitAdapter) -> None:
    body = {"retCode": 0, "result": {"list": []}, "time": 1}
    assert adapter.parse_status(body).maintenance is False


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"result": {"list": {}}},
        {"result": {"list": [1]}},
        {"result": {"list": [{"state": "ongoing"}]}, "time": 1},
        {"result": {"list": [{"state": 3, "begin": "1"}]}, "time": 1},
        {"result": {"list": [{"state": "ongoing", "begin": "soon"}]}, "time": 1},
        {"result": {"list": []}, "time": "later"},
    ],
)
def test_parse_status_rejects_wrong_shapes(adapter: BybitAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_status(body)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("error_rate_limit.json", Reason.RATE_LIMITED),
        ("error_ip_rate_limit.json", Reason.RATE_LIMITED),
        ("error_server.json", Reason.HTTP_5XX),
        ("error_compliance.json", Reason.GEO_BLOCKED),
        ("error_params.json", Reason.ERROR),
    ],
)
def test_venue_error_maps_ret_codes(adapter: BybitAdapter, name: str, reason: Reason) -> None:
    body = doc(name)
    verdict = adapter.venue_error(200, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert str(body["retCode"]) in verdict[1] and body["retMsg"] in verdict[1]


@pytest.mark.parametrize("name", ["time.json", "status_normal.json"])
def test_venue_error_none_on_success(adapter: BybitAdapter, name: str) -> None:
    assert adapter.venue_error(200, doc(name)) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>403</html>", None),
        ([], None),
        ({"message": "no retCode"}, None),
        ({"retCode": "10006"}, Reason.INVALID_RESPONSE),
        ({"retCode": False}, Reason.INVALID_RESPONSE),
        ({"retCode": 10006, "retMsg": ["x"]}, Reason.RATE_LIMITED),
    ],
)
def test_venue_error_odd_bodies(adapter: BybitAdapter, body: Any, expected: Reason | None) -> None:
    verdict = adapter.venue_error(200, body)
    assert (verdict[0] if verdict else None) is expected


@pytest.mark.parametrize(
    ("headers", "ratio"),
    [
        ({"X-Bapi-Limit": "100", "X-Bapi-Limit-Status": "99"}, 0.01),
        ({"x-bapi-limit": "10", "x-bapi-limit-status": "0"}, 1.0),
        ({"X-Bapi-Limit": "10", "X-Bapi-Limit-Status": "25"}, 0.0),
        ({"X-Bapi-Limit": "100"}, None),
        ({"X-Bapi-Limit-Status": "99"}, None),
        ({"X-Bapi-Limit": "0", "X-Bapi-Limit-Status": "0"}, None),
        ({"X-Bapi-Limit": "many", "X-Bapi-Limit-Status": "99"}, None),
        ({"X-Bapi-Limit": "100", "X-Bapi-Limit-Status": "-1"}, None),
        ({}, None),
    ],
)
def test_rate_limit_used_ratio(
    adapter: BybitAdapter, headers: dict[str, str], ratio: float | None
) -> None:
    result = adapter.rate_limit_used_ratio(headers)
    assert result == (pytest.approx(ratio) if ratio is not None else None)


def test_rate_limit_reads_case_insensitive_multidict(adapter: BybitAdapter) -> None:
    headers = CIMultiDict({"x-bapi-limit": "20", "X-BAPI-LIMIT-STATUS": "15"})
    assert adapter.rate_limit_used_ratio(headers) == pytest.approx(0.25)


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames(adapter: BybitAdapter) -> None:
    frames = adapter.subscribe_frames()
    assert [orjson.loads(f) for f in frames] == [
        {"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}
    ]


def test_keepalive_is_the_documented_json_ping() -> None:
    keepalive = BybitAdapter.keepalive
    assert keepalive is not None
    assert orjson.loads(keepalive.frame) == {"op": "ping"}
    assert keepalive.interval == 20.0


@pytest.mark.parametrize(
    ("name", "kind", "event_time", "price"),
    [
        ("ws_ack.json", EventKind.ACK, None, None),
        # ts of the push; price of the newest fill (T ...248)
        ("ws_trade.json", EventKind.DATA, 1717171717.250, 67011.90),
        ("ws_error.json", EventKind.ERROR, None, None),
        ("ws_pong.json", EventKind.PONG, None, None),
        ("ws_pong_private.json", EventKind.PONG, None, None),
        ("ws_other_topic.json", EventKind.IGNORE, None, None),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_classify_fixture_frames(
    adapter: BybitAdapter,
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
    assert event.sequence is None  # the trade seq is a cross sequence, not a message number


def test_classify_error_carries_the_venue_message(adapter: BybitAdapter) -> None:
    event = adapter.classify(raw("ws_error.json"))
    assert "handler not found" in event.detail


def test_classify_trade_without_ts_uses_newest_fill(adapter: BybitAdapter) -> None:
    message = doc("ws_trade.json")
    del message["ts"]
    event = adapter.classify(orjson.dumps(message))
    assert event.kind is EventKind.DATA
    assert event.event_time == 1717171717.248


HOSTILE: list[str | bytes] = [
    *HOSTILE_FRAMES,
    b'{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": 1, "p": "\xc3\x28"}]}',
    "not json",
    "42",
    '"ping"',
    '{"topic": "publicTrade.BTCUSDT"}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": "oops"}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [7]}',
    '{"topic": "publicTrade.BTCUSDT", "ts": "soon", "data": []}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": 1}]}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": true, "p": "1"}]}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": 1, "p": "NaN"}]}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": 1, "p": "-3"}]}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1e999, "data": []}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [{"T": 1, "p": "1e999"}]}',
    '{"topic": ["publicTrade.BTCUSDT"], "data": []}',
    '{"op": ["ping"], "ret_msg": {"pong": 1}}',
    '{"op": {}, "success": false, "ret_msg": null}',
    '{"topic": "publicTrade.BTCUSDT", "ts": 1, "data": [' + "[" * 5_000 + "]" * 5_000 + "]}",
]


@pytest.mark.parametrize("frame", HOSTILE, ids=range(len(HOSTILE)))
def test_classify_hostile_frames_never_raise(adapter: BybitAdapter, frame: str | bytes) -> None:
    event = adapter.classify(frame)
    assert event.kind in (EventKind.IGNORE, EventKind.ERROR)
    assert event.price is None


FUZZED = ["ws_trade.json", "ws_ack.json", "ws_pong.json", "ws_error.json"]


@settings(max_examples=150, deadline=None)
@given(value=ORJSON_VALUES)
def test_classify_arbitrary_json_never_raises(value: Any) -> None:
    assert_sane(BybitAdapter(Market.parse("BTC-USDT")).classify(orjson.dumps(value)))


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES)
def test_classify_arbitrary_bytes_and_text_never_raise(frame: bytes | str) -> None:
    assert_sane(BybitAdapter(Market.parse("BTC-USDT")).classify(frame))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), value=ORJSON_VALUES)
def test_classify_fixture_with_one_field_replaced_never_raises(
    data: st.DataObject, value: Any
) -> None:
    document = doc(data.draw(st.sampled_from(FUZZED)))
    frame = one_field_replaced(data, document, value)
    assert_sane(BybitAdapter(Market.parse("BTC-USDT")).classify(frame))


# -- a local venue that enforces the keepalive rule -----------------------------------------


class LocalBybit(SubscribingVenue):
    """Acks the subscription with the fixture ack, pushes fixture-shaped trades stamped now,
    answers {"op":"ping"} like Bybit, and drops a client silent for `drop_after` seconds."""

    def __init__(self, drop_after: float) -> None:
        super().__init__(FIXTURES, pong="ws_pong.json", drop_after=drop_after)

    def is_ping(self, frame: str | bytes) -> bool:
        return bool(orjson.loads(frame).get("op") == "ping")

    def pushes(self) -> list[str]:
        message = doc("ws_trade.json")
        now = int(time.time() * 1000)
        message["ts"] = now
        for trade in message["data"]:
            trade["T"] = now
        return [orjson.dumps(message).decode()]


async def test_keepalive_keeps_the_venue_from_dropping_us() -> None:
    async with serving(LocalBybit(drop_after=0.6)) as venue:
        adapter = BybitAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = Keepalive(interval=0.2, frame='{"op":"ping"}', timeout=0.5)
        async with watching("bybit-local", adapter) as watcher:
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
    async with serving(LocalBybit(drop_after=0.3)) as venue:
        adapter: VenueAdapter = BybitAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = None
        async with watching("bybit-local", adapter) as watcher:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="a drop")
            await wait_for(
                lambda: sum(watcher.snapshot().stats.reconnects.values()) >= 1,
                timeout=5.0,
                what="a reconnect",
            )
