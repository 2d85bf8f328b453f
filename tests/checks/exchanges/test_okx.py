"""OKX adapter: recorded fixtures (documented shapes, made-up values), hostile frames, and a
local WebSocket venue that enforces OKX's keepalive rule (text "ping", answered "pong")."""

from __future__ import annotations

import json
import time
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from checks.exchanges.base import Market, VenueAdapter, adapters
from checks.exchanges.okx import OkxAdapter
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason
from tests.checks.exchanges.harness import (
    DEEP_ARRAY,
    FRAMES,
    SHAPE_ERRORS,
    Fixtures,
    SubscribingVenue,
    deep_object,
    json_values,
    serving,
    watching,
)
from tests.conftest import wait_for

FIXTURES = Fixtures("okx")
raw, doc = FIXTURES.raw, FIXTURES.doc


@pytest.fixture
def adapter() -> OkxAdapter:
    return OkxAdapter(Market.parse("BTC-USDT"))


def test_registered_under_its_name() -> None:
    assert adapters()["okx"] is OkxAdapter


@pytest.mark.parametrize(
    ("market", "inst_id"),
    [("BTC-USDT", "BTC-USDT"), ("eth-usdc", "ETH-USDC"), ("1INCH-USDT", "1INCH-USDT")],
)
def test_venue_symbol(market: str, inst_id: str) -> None:
    assert OkxAdapter(Market.parse(market)).symbol == inst_id


def test_endpoints_and_keepalive_are_the_documented_ones() -> None:
    assert OkxAdapter.rest_url == "https://www.okx.com"
    assert OkxAdapter.ws_url == "wss://ws.okx.com:8443/ws/v5/public"
    assert OkxAdapter.time_call.path == "/api/v5/public/time"
    assert OkxAdapter.status_call is not None
    assert OkxAdapter.status_call.path == "/api/v5/system/status"
    assert OkxAdapter.keepalive == Keepalive(interval=20.0, frame="ping", timeout=10.0)
    assert OkxAdapter.keepalive.interval < 30  # OKX drops a connection silent for 30 s


# -- REST ----------------------------------------------------------------------------------


def test_parse_time(adapter: OkxAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1773480413.589


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "1773480413589",
        {"code": "0", "msg": "", "data": []},
        {"code": "0", "msg": "", "data": {"ts": "1773480413589"}},
        {"code": "0", "msg": "", "data": [{"ts": 1773480413589}]},
        {"code": "0", "msg": "", "data": [{"ts": "1773480413.589"}]},
        {"code": "0", "msg": "", "data": [{"ts": "-1"}]},
        {"code": "0", "msg": "", "data": [{}]},
        {"code": "0", "msg": "", "data": ["1773480413589"]},
        {"code": "50011", "msg": "Rate limit reached.", "data": []},
    ],
)
def test_parse_time_refuses_wrong_shapes(adapter: OkxAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


@pytest.mark.parametrize(
    ("fixture", "maintenance", "detail"),
    [
        ("system_status_normal.json", False, ""),
        ("system_status_scheduled.json", False, ""),
        ("system_status_copy_trading.json", False, ""),
        ("system_status_maintenance.json", True, "ongoing: Trading system upgrade"),
    ],
)
def test_parse_status(adapter: OkxAdapter, fixture: str, maintenance: bool, detail: str) -> None:
    status = adapter.parse_status(doc(fixture))
    assert status.maintenance is maintenance
    assert status.detail == detail


def test_pre_open_counts_as_maintenance_and_demo_trading_does_not(adapter: OkxAdapter) -> None:
    body = doc("system_status_maintenance.json")
    body["data"][0]["state"] = "pre_open"
    assert adapter.parse_status(body).maintenance
    body["data"][0]["env"] = "2"
    assert not adapter.parse_status(body).maintenance


@pytest.mark.parametrize(
    "body",
    [[], {"code": "0"}, {"code": "0", "data": {}}, {"code": "0", "data": ["x"]},
     {"code": "0", "data": [{"title": "no state"}]}, {"code": "1", "data": []}],
)
def test_parse_status_refuses_wrong_shapes(adapter: OkxAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_status(body)


@pytest.mark.parametrize(
    ("fixture", "http_status", "reason"),
    [
        ("error_50011.json", 429, Reason.RATE_LIMITED),
        ("error_50011.json", 200, Reason.RATE_LIMITED),
        ("error_50001.json", 503, Reason.HTTP_5XX),
        ("error_50013.json", 429, Reason.HTTP_5XX),
        ("error_51155.json", 200, Reason.GEO_BLOCKED),
        ("error_50051.json", 200, Reason.GEO_BLOCKED),
        ("error_51001.json", 200, Reason.ERROR),
        ("error_51001.json", 401, Reason.HTTP_4XX),  # other codes: the HTTP status decides
        ("error_51001.json", 500, Reason.HTTP_5XX),
    ],
)
def test_venue_error(adapter: OkxAdapter, fixture: str, http_status: int, reason: Reason) -> None:
    body = doc(fixture)
    verdict = adapter.venue_error(http_status, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert body["code"] in verdict[1]


def test_venue_error_reads_sub_codes(adapter: OkxAdapter) -> None:
    verdict = adapter.venue_error(200, {"code": "50011_1", "msg": "", "data": []})
    assert verdict is not None and verdict[0] is Reason.RATE_LIMITED


@pytest.mark.parametrize(
    "body",
    [
        {"code": "0", "msg": "", "data": []},
        {"msg": "no code"},
        [1, 2],
        "text",
        None,
    ],
)
def test_no_venue_error(adapter: OkxAdapter, body: Any) -> None:
    assert adapter.venue_error(200, body) is None


def test_venue_error_keeps_hostile_messages_short(adapter: OkxAdapter) -> None:
    verdict = adapter.venue_error(200, {"code": "1", "msg": "x\n" * 10_000})
    assert verdict is not None and len(verdict[1]) < 300 and "\n" not in verdict[1]


def test_no_rate_limit_headers_are_documented(adapter: OkxAdapter) -> None:
    assert adapter.rate_limit_used_ratio({"Content-Type": "application/json"}) is None


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames_are_the_documented_request(adapter: OkxAdapter) -> None:
    frames = adapter.subscribe_frames()
    assert [orjson.loads(frame) for frame in frames] == [doc("ws_subscribe.json")]


def test_subscribe_frames_use_the_venue_symbol() -> None:
    (frame,) = OkxAdapter(Market.parse("ETH-USDC")).subscribe_frames()
    assert orjson.loads(frame)["args"] == [{"channel": "trades", "instId": "ETH-USDC"}]


@pytest.mark.parametrize(
    ("fixture", "kind", "event_time", "price"),
    [
        ("ws_ack.json", EventKind.ACK, None, None),
        ("ws_trades.json", EventKind.DATA, 1773480430.712, 83551.3),
        ("ws_error.json", EventKind.ERROR, None, None),
        ("ws_notice.json", EventKind.ERROR, None, None),
        ("ws_pong.txt", EventKind.PONG, None, None),
    ],
)
def test_classify_fixtures(
    adapter: OkxAdapter, fixture: str, kind: EventKind, event_time: float | None,
    price: float | None,
) -> None:
    for frame in (raw(fixture), raw(fixture).decode()):
        event = adapter.classify(frame)
        assert event.kind is kind
        assert event.event_time == event_time
        assert event.price == price
        assert event.sequence is None  # seqId may repeat: no gap detection


def test_errors_carry_the_code(adapter: OkxAdapter) -> None:
    assert "60012" in adapter.classify(raw("ws_error.json")).detail
    assert "64008" in adapter.classify(raw("ws_notice.json")).detail


def test_newest_trade_of_a_push_wins(adapter: OkxAdapter) -> None:
    message = doc("ws_trades.json")
    older = dict(message["data"][0], px="83000.1", ts="1773480430000")
    message["data"] = [message["data"][0], older]
    event = adapter.classify(orjson.dumps(message))
    assert (event.event_time, event.price) == (1773480430.712, 83551.3)


def test_trades_of_another_instrument_are_ignored(adapter: OkxAdapter) -> None:
    message = doc("ws_trades.json")
    message["arg"]["instId"] = message["data"][0]["instId"] = "ETH-USDT"
    assert adapter.classify(orjson.dumps(message)).kind is EventKind.IGNORE


def trades_with(**fields: Any) -> bytes:
    message = doc("ws_trades.json")
    message["data"][0].update(fields)
    return orjson.dumps(message)


MALFORMED: list[tuple[str, str | bytes, EventKind]] = [
    ("invalid utf-8", b"\xff\xfe\xfd", EventKind.ERROR),
    ("not json", "pong!", EventKind.ERROR),
    ("truncated", '{"arg": {"channel": "trades"', EventKind.ERROR),
    ("deeply nested", DEEP_ARRAY, EventKind.ERROR),
    ("deeply nested object", deep_object("a", 5000), EventKind.ERROR),
    ("empty", "", EventKind.ERROR),
    ("array", "[]", EventKind.IGNORE),
    ("number", "1773480430712", EventKind.IGNORE),
    ("null", "null", EventKind.IGNORE),
    ("unknown event", '{"event": "channel-conn-count"}', EventKind.IGNORE),
    ("event not a string", '{"event": 5}', EventKind.IGNORE),
    ("arg not an object", '{"arg": "trades", "data": []}', EventKind.IGNORE),
    ("other channel", '{"arg": {"channel": "tickers"}, "data": [{}]}', EventKind.IGNORE),
    ("data missing", '{"arg": {"channel": "trades"}}', EventKind.ERROR),
    ("data an object", '{"arg": {"channel": "trades"}, "data": {}}', EventKind.ERROR),
    ("trade a number", '{"arg": {"channel": "trades"}, "data": [1]}', EventKind.ERROR),
    ("price not a number", trades_with(px="abc"), EventKind.ERROR),
    ("price NaN", trades_with(px="NaN"), EventKind.ERROR),
    ("price infinite", trades_with(px="1e400"), EventKind.ERROR),
    ("price negative", trades_with(px="-1"), EventKind.ERROR),
    ("price a number", trades_with(px=83551.3), EventKind.ERROR),
    ("price huge text", trades_with(px="9" * 10_000), EventKind.ERROR),
    ("ts fractional", trades_with(ts="1773480430.712"), EventKind.ERROR),
    ("ts a number", trades_with(ts=1773480430712), EventKind.ERROR),
    ("ts huge", trades_with(ts="9" * 400), EventKind.ERROR),
    ("ts unicode digits", trades_with(ts="١٧٧٣٤٨٠٤٣٠٧١٢"), EventKind.ERROR),
    ("ts missing", trades_with(ts=None), EventKind.ERROR),
    ("big integer", '{"arg": {"channel": "trades"}, "data": [' + "9" * 100 + "]}",
     EventKind.ERROR),
]


@pytest.mark.parametrize(("case", "frame", "kind"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_frames_never_raise(
    adapter: OkxAdapter, case: str, frame: str | bytes, kind: EventKind
) -> None:
    event = adapter.classify(frame)
    assert isinstance(event, StreamEvent)
    assert event.kind is kind, case
    assert len(event.detail) < 300


JSON = json_values(["arg", "data", "event", "channel", "instId", "px", "ts", "code"])


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_arbitrary_json_never_raises(value: Any) -> None:
    adapter = OkxAdapter(Market.parse("BTC-USDT"))
    event = adapter.classify(json.dumps(value))  # json: big ints and NaN too
    assert event.kind in (EventKind.IGNORE, EventKind.ERROR, EventKind.ACK, EventKind.DATA)


@settings(max_examples=300, deadline=None)
@given(frame=FRAMES)
def test_arbitrary_frames_never_raise(frame: str | bytes) -> None:
    assert isinstance(OkxAdapter(Market.parse("BTC-USDT")).classify(frame), StreamEvent)


# -- a local venue that enforces OKX's keepalive rule ---------------------------------------


class LocalOkx(SubscribingVenue):
    """Acks the subscription with the fixture ack, pushes fixture-shaped trades stamped now,
    answers the text "ping" with "pong", and drops a client that sent no "ping" within
    `drop_after` seconds (OKX: 30 s, shrunk for the test)."""

    close_code = 4004  # the venue's own close

    def __init__(self, drop_after: float) -> None:
        super().__init__(FIXTURES, pong="ws_pong.txt", drop_after=drop_after)

    def pushes(self) -> list[str]:
        message = doc("ws_trades.json")
        message["data"][0]["ts"] = str(int(time.time() * 1000))
        return [orjson.dumps(message).decode()]


async def test_keepalive_keeps_the_venue_from_dropping_us() -> None:
    async with serving(LocalOkx(drop_after=0.6)) as venue:
        adapter = OkxAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = Keepalive(interval=0.2, frame="ping", timeout=0.5)
        async with watching("okx-local", adapter, max_event_lag=1.0) as watcher:
            # ~1.5 s: seven pings 0.2 s apart, well past the 0.6 s the venue tolerates.
            await wait_for(lambda: venue.pings >= 7, timeout=5.0, what="seven pings")
            snapshot = watcher.snapshot()
    stats = snapshot.stats
    assert venue.drops == 0 and venue.connections == 1
    assert snapshot.reason is Reason.OK, snapshot.detail
    assert stats.connected
    assert sum(stats.reconnects.values()) == 0
    assert stats.messages_total >= 10
    assert stats.event_lag_count == stats.messages_total  # every trade carries its ts
    assert stats.event_lag_last is not None and 0.0 <= stats.event_lag_last < 1.0
    assert stats.sequence_gaps == 0
    assert orjson.loads(venue.received[0]) == doc("ws_subscribe.json")
    assert set(venue.received[1:]) == {"ping"}


async def test_without_keepalive_the_venue_drops_us() -> None:
    """The control: the same venue does drop a client that never pings."""
    async with serving(LocalOkx(drop_after=0.3)) as venue:
        adapter: VenueAdapter = OkxAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        adapter.keepalive = None
        async with watching("okx-local", adapter, max_event_lag=1.0) as watcher:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="a drop")
            await wait_for(
                lambda: watcher.snapshot().stats.reconnects.get("closed_by_server", 0) >= 1,
                timeout=5.0,
                what="a reconnect after the venue's close",
            )
