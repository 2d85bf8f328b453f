"""Kraken adapter: recorded fixtures (documented shapes, made-up values), hostile frames, and a
local WebSocket v2 venue (status on connect, ack, trades, heartbeats, ping/pong)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings

from checks.exchanges.base import Market, adapters
from checks.exchanges.kraken import KrakenAdapter
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason
from tests.checks.exchanges.harness import (
    DEEP_ARRAY,
    FRAMES,
    SHAPE_ERRORS,
    Fixtures,
    LocalVenue,
    Session,
    deep_object,
    json_values,
    serving,
    watching,
)
from tests.conftest import wait_for

FIXTURES = Fixtures("kraken")
raw, doc = FIXTURES.raw, FIXTURES.doc


@pytest.fixture
def adapter() -> KrakenAdapter:
    return KrakenAdapter(Market.parse("BTC-USD"))


def test_registered_under_its_name() -> None:
    assert adapters()["kraken"] is KrakenAdapter


@pytest.mark.parametrize(
    ("market", "symbol"),
    [("BTC-USD", "BTC/USD"), ("BTC-USDT", "BTC/USDT"), ("XBT-EUR", "BTC/EUR"),
     ("eth-btc", "ETH/BTC"), ("1INCH-USD", "1INCH/USD")],
)
def test_venue_symbol_is_the_v2_spelling(market: str, symbol: str) -> None:
    assert KrakenAdapter(Market.parse(market)).symbol == symbol


def test_endpoints_are_the_documented_ones() -> None:
    assert KrakenAdapter.rest_url == "https://api.kraken.com"
    assert KrakenAdapter.ws_url == "wss://ws.kraken.com/v2"
    assert KrakenAdapter.time_call.path == "/0/public/Time"
    assert KrakenAdapter.status_call is not None
    assert KrakenAdapter.status_call.path == "/0/public/SystemStatus"


def test_keepalive_sends_the_documented_ping() -> None:
    keepalive = KrakenAdapter.keepalive
    assert keepalive is not None
    assert orjson.loads(keepalive.frame) == doc("ws_ping.json")


# -- REST ----------------------------------------------------------------------------------


def test_parse_time(adapter: KrakenAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1773480413.0


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        {"error": [], "result": []},
        {"error": [], "result": {}},
        {"error": [], "result": {"unixtime": "1773480413"}},
        {"error": [], "result": {"unixtime": 1773480413.5}},
        {"error": [], "result": {"unixtime": True}},
        {"error": [], "result": {"unixtime": -5}},
        {"error": [], "result": {"rfc1123": "Sat, 14 Mar 26 09:26:53 +0000"}},
        {"error": ["EService:Unavailable"]},
    ],
)
def test_parse_time_refuses_wrong_shapes(adapter: KrakenAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


@pytest.mark.parametrize(
    ("fixture", "maintenance", "detail"),
    [
        ("system_status_online.json", False, "status online"),
        ("system_status_maintenance.json", True, "status maintenance"),
        ("system_status_cancel_only.json", True, "status cancel_only"),
        ("system_status_post_only.json", True, "status post_only"),
    ],
)
def test_parse_status(adapter: KrakenAdapter, fixture: str, maintenance: bool,
                      detail: str) -> None:
    status = adapter.parse_status(doc(fixture))
    assert (status.maintenance, status.detail) == (maintenance, detail)


def test_an_unknown_status_is_reported_but_not_maintenance(adapter: KrakenAdapter) -> None:
    status = adapter.parse_status({"error": [], "result": {"status": "limit_only"}})
    assert not status.maintenance and "limit_only" in status.detail


@pytest.mark.parametrize(
    "body", [{}, {"error": [], "result": {}}, {"error": [], "result": {"status": 1}},
             {"error": [], "result": "online"}, "online"],
)
def test_parse_status_refuses_wrong_shapes(adapter: KrakenAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_status(body)


@pytest.mark.parametrize(
    ("fixture", "reason"),
    [
        ("error_rate_limit.json", Reason.RATE_LIMITED),
        ("error_lockout.json", Reason.RATE_LIMITED),
        ("error_unavailable.json", Reason.HTTP_5XX),
        ("error_busy.json", Reason.HTTP_5XX),
        ("error_invalid_arguments.json", Reason.ERROR),
        ("error_unknown_pair.json", Reason.ERROR),
    ],
)
def test_venue_error_inside_http_200(adapter: KrakenAdapter, fixture: str,
                                     reason: Reason) -> None:
    body = doc(fixture)
    verdict = adapter.venue_error(200, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert body["error"][0] in verdict[1]


@pytest.mark.parametrize(
    ("http_status", "reason"), [(500, Reason.HTTP_5XX), (403, Reason.HTTP_4XX), (451,
     Reason.GEO_BLOCKED)],
)
def test_other_errors_take_the_reason_of_the_http_status(
    adapter: KrakenAdapter, http_status: int, reason: Reason
) -> None:
    verdict = adapter.venue_error(http_status, doc("error_unknown_pair.json"))
    assert verdict is not None and verdict[0] is reason


@pytest.mark.parametrize(
    "fixture", ["time.json", "system_status_online.json", "system_status_maintenance.json"]
)
def test_no_venue_error_in_good_answers(adapter: KrakenAdapter, fixture: str) -> None:
    assert adapter.venue_error(200, doc(fixture)) is None


@pytest.mark.parametrize(
    "body",
    [{"error": ["WGeneral:Danger"], "result": {}}, {"error": "EService:Unavailable"},
     {"error": [1, None]}, [], None, "EAPI:Rate limit exceeded"],
)
def test_warnings_and_odd_shapes_are_no_venue_error(adapter: KrakenAdapter, body: Any) -> None:
    assert adapter.venue_error(200, body) is None


def test_the_worst_error_wins_and_stays_short(adapter: KrakenAdapter) -> None:
    body = {"error": ["EGeneral:Invalid arguments", "EAPI:Rate limit exceeded", "E" * 500]}
    verdict = adapter.venue_error(200, body)
    assert verdict is not None and verdict[0] is Reason.RATE_LIMITED
    assert len(verdict[1]) < 300


def test_no_rate_limit_headers_are_documented(adapter: KrakenAdapter) -> None:
    assert adapter.rate_limit_used_ratio({"Content-Type": "application/json"}) is None


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames_are_the_documented_request(adapter: KrakenAdapter) -> None:
    assert [orjson.loads(f) for f in adapter.subscribe_frames()] == [doc("ws_subscribe.json")]


@pytest.mark.parametrize(
    ("fixture", "kind", "event_time", "price"),
    [
        ("ws_ack.json", EventKind.ACK, None, None),
        ("ws_ack_failed.json", EventKind.ERROR, None, None),
        ("ws_trade_update.json", EventKind.DATA, 1773480430.714302, 83565.0),
        ("ws_trade_snapshot.json", EventKind.DATA, None, 83561.9),  # old trades: no lag
        ("ws_heartbeat.json", EventKind.HEARTBEAT, None, None),
        ("ws_pong.json", EventKind.PONG, None, None),
        ("ws_status_online.json", EventKind.IGNORE, None, None),
        ("ws_status_maintenance.json", EventKind.ERROR, None, None),
    ],
)
def test_classify_fixtures(
    adapter: KrakenAdapter, fixture: str, kind: EventKind, event_time: float | None,
    price: float | None,
) -> None:
    for frame in (raw(fixture), raw(fixture).decode()):
        event = adapter.classify(frame)
        assert event.kind is kind, event.detail
        assert event.event_time == event_time
        assert event.price == price
        assert event.sequence is None


def test_error_details_quote_the_venue(adapter: KrakenAdapter) -> None:
    assert "Currency pair not supported" in adapter.classify(raw("ws_ack_failed.json")).detail
    assert "maintenance" in adapter.classify(raw("ws_status_maintenance.json")).detail


def test_trades_of_another_symbol_are_ignored(adapter: KrakenAdapter) -> None:
    message = doc("ws_trade_update.json")
    for trade in message["data"]:
        trade["symbol"] = "ETH/USD"
    assert adapter.classify(orjson.dumps(message)).kind is EventKind.IGNORE


def trade_with(**fields: Any) -> bytes:
    message = doc("ws_trade_update.json")
    message["data"][0].update(fields)
    return orjson.dumps(message)


MALFORMED: list[tuple[str, str | bytes, EventKind]] = [
    ("invalid utf-8", b'{"channel": "\xff\xfe"}', EventKind.ERROR),
    ("not json", "heartbeat", EventKind.ERROR),
    ("truncated", '{"channel": "trade", "data": [', EventKind.ERROR),
    ("deeply nested", DEEP_ARRAY, EventKind.ERROR),
    ("deeply nested object", deep_object("data", 5000), EventKind.ERROR),
    ("empty", b"", EventKind.ERROR),
    ("array", '[1, "trade"]', EventKind.IGNORE),
    ("string", '"trade"', EventKind.IGNORE),
    ("unknown channel", '{"channel": "book", "data": []}', EventKind.IGNORE),
    ("unknown method", '{"method": "unsubscribe", "success": true}', EventKind.IGNORE),
    ("method error", '{"method": "error", "error": "Malformed request"}', EventKind.ERROR),
    ("data missing", '{"channel": "trade", "type": "update"}', EventKind.ERROR),
    ("data an object", '{"channel": "trade", "type": "update", "data": {}}', EventKind.ERROR),
    ("trade a string", '{"channel": "trade", "type": "update", "data": ["x"]}',
     EventKind.ERROR),
    ("price a string", trade_with(price="83565.0"), EventKind.ERROR),
    ("NaN literal (not JSON)",
     b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":NaN,'
     b'"timestamp":"2026-03-14T09:27:10.714302Z"}]}', EventKind.ERROR),
    ("number overflowing a double",
     b'{"channel":"trade","type":"update","data":[{"symbol":"BTC/USD","price":1e400,'
     b'"timestamp":"2026-03-14T09:27:10.714302Z"}]}', EventKind.ERROR),
    ("price zero", trade_with(price=0), EventKind.ERROR),
    ("price bool", trade_with(price=True), EventKind.ERROR),
    ("timestamp epoch", trade_with(timestamp=1773480430.714302), EventKind.ERROR),
    ("timestamp without zone", trade_with(timestamp="2026-03-14T09:27:10.714302"),
     EventKind.ERROR),
    ("timestamp date only", trade_with(timestamp="2026-03-14"), EventKind.ERROR),
    ("timestamp month 13", trade_with(timestamp="2026-13-14T09:27:10Z"), EventKind.ERROR),
    ("timestamp huge fraction", trade_with(timestamp="2026-03-14T09:27:10." + "1" * 5000 + "Z"),
     EventKind.ERROR),
    ("unknown type",
     orjson.dumps({**doc("ws_trade_update.json"), "type": "replay"}), EventKind.ERROR),
    ("status without data", '{"channel": "status", "type": "update"}', EventKind.ERROR),
    ("status data empty", '{"channel": "status", "data": []}', EventKind.ERROR),
    ("big integer", '{"channel": "trade", "data": [' + "9" * 100 + "]}", EventKind.ERROR),
]


@pytest.mark.parametrize(("case", "frame", "kind"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_frames_never_raise(
    adapter: KrakenAdapter, case: str, frame: str | bytes, kind: EventKind
) -> None:
    event = adapter.classify(frame)
    assert isinstance(event, StreamEvent)
    assert event.kind is kind, case
    assert len(event.detail) < 300


JSON = json_values(["channel", "type", "data", "method", "success", "error", "symbol",
                    "price", "timestamp", "system"])


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_arbitrary_json_never_raises(value: Any) -> None:
    event = KrakenAdapter(Market.parse("BTC-USD")).classify(json.dumps(value))
    assert isinstance(event, StreamEvent)


@settings(max_examples=300, deadline=None)
@given(frame=FRAMES)
def test_arbitrary_frames_never_raise(frame: str | bytes) -> None:
    assert isinstance(KrakenAdapter(Market.parse("BTC-USD")).classify(frame), StreamEvent)


# -- a local Kraken v2 venue ------------------------------------------------------------------


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LocalKraken(LocalVenue[Session]):
    """Sends the status fixture on connect, acks the subscription with the fixture ack, sends
    the snapshot, then trade updates stamped now and heartbeats; answers the ping with the
    pong fixture unless `answer_pings` is off. Kraken documents no idle rule that needs
    client pings, so this venue does not drop anyone: it tests that our ping is the
    documented one and that its pong is understood."""

    def __init__(self, *, answer_pings: bool = True) -> None:
        super().__init__(Session)
        self.answer_pings = answer_pings

    async def greet(self, session: Session) -> bool:
        await session.ws.send(raw("ws_status_online.json").decode())
        return True

    async def answer(self, session: Session, frame: str | bytes) -> None:
        request = orjson.loads(frame)
        if request.get("method") == "ping":
            self.pinged(session)
            if self.answer_pings:
                await session.ws.send(raw("ws_pong.json").decode())
        elif request.get("method") == "subscribe":
            await session.ws.send(raw("ws_ack.json").decode())
            await session.ws.send(raw("ws_trade_snapshot.json").decode())
            session.subscribed.set()

    def pushes(self) -> list[str]:
        message = doc("ws_trade_update.json")
        for trade in message["data"]:
            trade["timestamp"] = rfc3339_now()
        return [orjson.dumps(message).decode(), raw("ws_heartbeat.json").decode()]


def local_adapter(venue: LocalKraken) -> KrakenAdapter:
    adapter = KrakenAdapter(Market.parse("BTC-USD"), ws_url=venue.url("/v2"))
    keepalive = KrakenAdapter.keepalive
    assert keepalive is not None
    adapter.keepalive = Keepalive(interval=0.2, frame=keepalive.frame, timeout=0.3)
    return adapter


async def test_pings_are_answered_and_the_stream_stays_up() -> None:
    async with (
        serving(LocalKraken()) as venue,
        watching("kraken-local", local_adapter(venue), max_event_lag=1.0) as watcher,
    ):
        # ~1.5 s: seven pings 0.2 s apart, each pong due within 0.3 s.
        await wait_for(lambda: venue.pings >= 7, timeout=5.0, what="seven pings")
        snapshot = watcher.snapshot()
    stats = snapshot.stats
    assert venue.connections == 1
    assert snapshot.reason is Reason.OK, snapshot.detail
    assert stats.connected and sum(stats.reconnects.values()) == 0
    assert stats.messages_total >= 10
    # Every update carries its trade time; the snapshot (old trades) carries none.
    assert stats.event_lag_count == stats.messages_total - 1
    assert stats.event_lag_last is not None and 0.0 <= stats.event_lag_last < 1.0
    assert orjson.loads(venue.received[0]) == doc("ws_subscribe.json")
    assert {orjson.dumps(orjson.loads(f)) for f in venue.received[1:]} == {
        orjson.dumps(doc("ws_ping.json"))}


async def test_an_unanswered_ping_ends_the_connection() -> None:
    """The control: without pongs the same watcher gives up on the connection."""
    async with (
        serving(LocalKraken(answer_pings=False)) as venue,
        watching("kraken-local", local_adapter(venue), max_event_lag=1.0) as watcher,
    ):
        await wait_for(
            lambda: watcher.snapshot().stats.reconnects.get("keepalive_timeout", 0) >= 1,
            timeout=5.0,
            what="a keepalive timeout",
        )
    assert venue.pings >= 1
