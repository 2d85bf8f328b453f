"""Coinbase Advanced Trade adapter: recorded fixtures (documented shapes, made-up values),
hostile frames, sequence numbering, and a local venue that closes idle connections unless the
heartbeats channel keeps them open."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.exchanges.base import Market, adapters
from checks.exchanges.coinbase import SEQUENCE_CHANNEL, CoinbaseAdapter
from checks.stream import EventKind, StreamEvent
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

FIXTURES = Fixtures("coinbase")
raw, doc = FIXTURES.raw, FIXTURES.doc


@pytest.fixture
def adapter() -> CoinbaseAdapter:
    return CoinbaseAdapter(Market.parse("BTC-USD"))


def test_registered_under_its_name() -> None:
    assert adapters()["coinbase"] is CoinbaseAdapter


@pytest.mark.parametrize(
    ("market", "product_id"),
    [("BTC-USD", "BTC-USD"), ("btc-usdt", "BTC-USDT"), ("ETH-USDC", "ETH-USDC"),
     ("1INCH-EUR", "1INCH-EUR")],
)
def test_venue_symbol(market: str, product_id: str) -> None:
    assert CoinbaseAdapter(Market.parse(market)).symbol == product_id


def test_endpoints_are_the_documented_ones() -> None:
    assert CoinbaseAdapter.rest_url == "https://api.coinbase.com"
    assert CoinbaseAdapter.ws_url == "wss://advanced-trade-ws.coinbase.com"
    assert CoinbaseAdapter.time_call.path == "/api/v3/brokerage/time"
    assert CoinbaseAdapter.status_call is None  # no public maintenance endpoint
    assert CoinbaseAdapter.keepalive is None  # the heartbeats channel keeps it open


# -- REST ----------------------------------------------------------------------------------


def test_parse_time_prefers_milliseconds(adapter: CoinbaseAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1773480413.589


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"iso": "2026-03-14T09:26:53.589Z", "epochSeconds": 1773480413,
          "epochMillis": 1773480413589}, 1773480413.589),
        ({"iso": "2026-03-14T09:26:53.589Z", "epochSeconds": "1773480413"}, 1773480413.0),
        ({"iso": "2026-03-14T09:26:53.589Z"}, 1773480413.589),
        ({"iso": "2026-03-14T10:26:53.589+01:00"}, 1773480413.589),
    ],
)
def test_parse_time_variants(adapter: CoinbaseAdapter, body: Any, expected: float) -> None:
    assert adapter.parse_time(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        "1773480413589",
        {"epochMillis": "1773480413.589"},
        {"epochMillis": 1773480413.589},
        {"epochMillis": True},
        {"epochMillis": "-1"},
        {"epochSeconds": None},
        {"iso": "2026-03-14"},
        {"iso": "2026-03-14T09:26:53"},  # no offset: ambiguous
        {"iso": 1773480413},
        {"error": "UNAVAILABLE", "code": 14, "message": "down"},
    ],
)
def test_parse_time_refuses_wrong_shapes(adapter: CoinbaseAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


def test_no_status_call_means_never_maintenance(adapter: CoinbaseAdapter) -> None:
    assert not adapter.parse_status({}).maintenance


@pytest.mark.parametrize(
    ("fixture", "http_status", "reason"),
    [
        ("error_429.json", 429, Reason.RATE_LIMITED),
        ("error_503.json", 503, Reason.HTTP_5XX),
        ("error_404.json", 404, Reason.HTTP_4XX),
        ("error_404.json", 451, Reason.GEO_BLOCKED),
        ("error_503.json", 200, Reason.ERROR),
    ],
)
def test_venue_error(adapter: CoinbaseAdapter, fixture: str, http_status: int,
                     reason: Reason) -> None:
    body = doc(fixture)
    verdict = adapter.venue_error(http_status, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert body["error"] in verdict[1] and body["message"] in verdict[1]


@pytest.mark.parametrize("body", [doc("time.json"), [], None, "error", {"error": ""}])
def test_no_venue_error(adapter: CoinbaseAdapter, body: Any) -> None:
    assert adapter.venue_error(200, body) is None


def test_venue_error_keeps_hostile_messages_short(adapter: CoinbaseAdapter) -> None:
    verdict = adapter.venue_error(500, {"error": "x\n" * 5000, "message": "y" * 5000})
    assert verdict is not None and len(verdict[1]) < 400 and "\n" not in verdict[1]


def test_no_rate_limit_headers_are_documented(adapter: CoinbaseAdapter) -> None:
    assert adapter.rate_limit_used_ratio({"Content-Type": "application/json"}) is None


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames_ask_for_heartbeats_and_market_trades(adapter: CoinbaseAdapter) -> None:
    assert [orjson.loads(frame) for frame in adapter.subscribe_frames()] == [
        doc("ws_subscribe_heartbeats.json"),
        doc("ws_subscribe_market_trades.json"),
    ]


@pytest.mark.parametrize(
    ("fixture", "kind", "event_time", "price", "sequence"),
    [
        ("ws_subscriptions.json", EventKind.ACK, None, None, None),
        ("ws_heartbeats.json", EventKind.HEARTBEAT, None, None, None),
        # The envelope's send time, to the nanosecond the venue gave; the newest trade's price.
        ("ws_market_trades_update.json", EventKind.DATA, 1773480430.871245678, 83572.4, 3),
        ("ws_market_trades_snapshot.json", EventKind.DATA, 1773480430.356912345, 83571.02, 2),
        ("ws_error.json", EventKind.ERROR, None, None, None),
        ("ws_ticker.json", EventKind.IGNORE, None, None, None),
    ],
)
def test_classify_fixtures(
    fixture: str, kind: EventKind, event_time: float | None, price: float | None,
    sequence: int | None,
) -> None:
    for frame in (raw(fixture), raw(fixture).decode()):
        event = CoinbaseAdapter(Market.parse("BTC-USD")).classify(frame)
        assert event.kind is kind, event.detail
        assert event.event_time == event_time
        assert event.price == price
        assert event.sequence == sequence
        if sequence is not None:
            assert event.channel == SEQUENCE_CHANNEL


def test_error_detail_quotes_the_venue(adapter: CoinbaseAdapter) -> None:
    assert "failure to subscribe" in adapter.classify(raw("ws_error.json")).detail


def numbered(name: str, number: int, **changes: Any) -> bytes:
    return orjson.dumps({**doc(name), "sequence_num": number, **changes})


def data_sequences(adapter: CoinbaseAdapter, frames: Sequence[bytes]) -> list[int | None]:
    events = [adapter.classify(frame) for frame in frames]
    return [event.sequence for event in events if event.kind is EventKind.DATA]


def test_heartbeats_between_trades_are_not_gaps(adapter: CoinbaseAdapter) -> None:
    frames = [
        numbered("ws_subscriptions.json", 0),
        numbered("ws_heartbeats.json", 1),
        numbered("ws_subscriptions.json", 2),
        numbered("ws_market_trades_snapshot.json", 3),
        numbered("ws_heartbeats.json", 4),
        numbered("ws_heartbeats.json", 5),
        numbered("ws_market_trades_update.json", 6),
        numbered("ws_ticker.json", 7),
        numbered("ws_market_trades_update.json", 8),
    ]
    assert data_sequences(adapter, frames) == [0, 1, 2]  # consecutive: no gap


def test_a_missing_message_is_a_gap(adapter: CoinbaseAdapter) -> None:
    frames = [
        numbered("ws_subscriptions.json", 0),
        numbered("ws_market_trades_update.json", 1),
        numbered("ws_heartbeats.json", 2),
        # 3 never arrives
        numbered("ws_market_trades_update.json", 4),
    ]
    assert data_sequences(adapter, frames) == [0, 2]  # a jump of 2: one message missing


def test_numbering_starts_again_on_a_new_connection(adapter: CoinbaseAdapter) -> None:
    first = [numbered("ws_subscriptions.json", 0), numbered("ws_heartbeats.json", 1),
             numbered("ws_market_trades_update.json", 2)]
    second = [numbered("ws_subscriptions.json", 0), numbered("ws_market_trades_update.json", 1)]
    assert data_sequences(adapter, first) == [0]
    assert data_sequences(adapter, second) == [0]


def test_trades_of_another_product_are_ignored_but_numbered(adapter: CoinbaseAdapter) -> None:
    other = doc("ws_market_trades_update.json")
    for trade in other["events"][0]["trades"]:
        trade["product_id"] = "ETH-USD"
    frames = [numbered("ws_market_trades_update.json", 0),
              orjson.dumps({**other, "sequence_num": 1}),
              numbered("ws_market_trades_update.json", 2)]
    assert adapter.classify(frames[1]).kind is EventKind.IGNORE
    assert data_sequences(CoinbaseAdapter(Market.parse("BTC-USD")), frames) == [0, 1]


def test_usdc_markets_accept_the_usd_product() -> None:
    """Public channels stream "-USDC" products as the matching "-USD" product."""
    usdc = CoinbaseAdapter(Market.parse("BTC-USDC"))
    assert usdc.classify(raw("ws_market_trades_update.json")).kind is EventKind.DATA
    usdt = CoinbaseAdapter(Market.parse("BTC-USDT"))
    assert usdt.classify(raw("ws_market_trades_update.json")).kind is EventKind.IGNORE


def trades_with(**fields: Any) -> bytes:
    message = doc("ws_market_trades_update.json")
    message["events"][0]["trades"][0].update(fields)
    return orjson.dumps(message)


MALFORMED: list[tuple[str, str | bytes, EventKind]] = [
    ("invalid utf-8", b'{"channel": "market_trades\xc3\x28"}', EventKind.ERROR),
    ("not json", "market_trades", EventKind.ERROR),
    ("truncated", '{"channel": "market_trades", "events": [', EventKind.ERROR),
    ("deeply nested", DEEP_ARRAY, EventKind.ERROR),
    ("deeply nested object", deep_object("events", 5000), EventKind.ERROR),
    ("empty", "", EventKind.ERROR),
    ("array", "[]", EventKind.IGNORE),
    ("bool", "true", EventKind.IGNORE),
    ("unknown channel", '{"channel": "l2_data", "events": []}', EventKind.IGNORE),
    ("no channel", '{"sequence_num": 5}', EventKind.IGNORE),
    ("events missing", '{"channel": "market_trades", "timestamp": "2026-03-14T09:27:10Z"}',
     EventKind.ERROR),
    ("events an object", '{"channel": "market_trades", "events": {}}', EventKind.ERROR),
    ("event a number", '{"channel": "market_trades", "events": [1]}', EventKind.ERROR),
    ("trades a string", '{"channel": "market_trades", "events": [{"trades": "x"}]}',
     EventKind.ERROR),
    ("trade a list", '{"channel": "market_trades", "events": [{"trades": [[]]}]}',
     EventKind.ERROR),
    ("price not a number", trades_with(price="abc"), EventKind.ERROR),
    ("price NaN text", trades_with(price="NaN"), EventKind.ERROR),
    ("price infinite text", trades_with(price="inf"), EventKind.ERROR),
    ("price negative", trades_with(price="-83572.4"), EventKind.ERROR),
    ("price null", trades_with(price=None), EventKind.ERROR),
    ("price huge text", trades_with(price="1" * 10_000), EventKind.ERROR),
    ("trade time not RFC 3339", trades_with(time="yesterday"), EventKind.ERROR),
    ("trade time missing", trades_with(time=None), EventKind.ERROR),
    ("timestamp without zone",
     orjson.dumps({**doc("ws_market_trades_update.json"), "timestamp": "2026-03-14T09:27:10"}),
     EventKind.ERROR),
    ("timestamp missing",
     orjson.dumps({k: v for k, v in doc("ws_market_trades_update.json").items()
                   if k != "timestamp"}), EventKind.ERROR),
    ("sequence a string", numbered("ws_heartbeats.json", 0, sequence_num="7"),
     EventKind.HEARTBEAT),
    ("sequence beyond 64 bits", '{"channel": "heartbeats", "sequence_num": ' + "9" * 100 + "}",
     EventKind.HEARTBEAT),
    ("error without message", '{"type": "error"}', EventKind.ERROR),
]


@pytest.mark.parametrize(("case", "frame", "kind"), MALFORMED, ids=[c[0] for c in MALFORMED])
def test_malformed_frames_never_raise(
    adapter: CoinbaseAdapter, case: str, frame: str | bytes, kind: EventKind
) -> None:
    event = adapter.classify(frame)
    assert isinstance(event, StreamEvent)
    assert event.kind is kind, case
    assert len(event.detail) < 300


JSON = json_values(["channel", "type", "events", "trades", "product_id", "price", "time",
                    "timestamp", "sequence_num", "message"])


@settings(max_examples=300, deadline=None)
@given(values=st.lists(JSON, min_size=1, max_size=4))
def test_arbitrary_json_never_raises(values: list[Any]) -> None:
    adapter = CoinbaseAdapter(Market.parse("BTC-USD"))  # stateful: feed it several
    for value in values:
        assert isinstance(adapter.classify(json.dumps(value)), StreamEvent)


@settings(max_examples=300, deadline=None)
@given(frame=FRAMES)
def test_arbitrary_frames_never_raise(frame: str | bytes) -> None:
    assert isinstance(CoinbaseAdapter(Market.parse("BTC-USD")).classify(frame), StreamEvent)


# -- a local venue that closes idle connections ---------------------------------------------


def rfc3339_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "417Z"  # nanoseconds


@dataclass
class CoinbaseSession(Session):
    channels: set[str] = field(default_factory=set)
    number: int = 0  # the next sequence_num
    last_sent: float = field(default_factory=time.monotonic)
    trades_sent: int = 0


class LocalCoinbase(LocalVenue[CoinbaseSession]):
    """Answers each subscribe with a `subscriptions` message, sends `trade_messages` trade
    messages (the snapshot, then updates, stamped now) and then goes quiet on trades, sends
    heartbeats to a client subscribed to them, numbers every message of a connection in
    `sequence_num` (leaving out `skip` if set, a lost message), and closes a connection it
    sent nothing on for `idle_close` seconds (Coinbase: 60-90 s, shrunk for the test)."""

    close_code = 1000
    close_reason = "idle"

    def __init__(self, *, idle_close: float, trade_messages: int, skip: int | None = None) -> None:
        super().__init__(CoinbaseSession)
        self.idle_close = idle_close
        self.trade_messages = trade_messages
        self.skip = skip
        self.heartbeats = 0

    async def send(self, session: CoinbaseSession, message: dict[str, Any]) -> None:
        if session.number == self.skip:
            session.number += 1
        await session.ws.send(orjson.dumps({**message, "sequence_num": session.number}).decode())
        session.number += 1
        session.last_sent = time.monotonic()

    async def answer(self, session: CoinbaseSession, frame: str | bytes) -> None:
        request = orjson.loads(frame)
        if request.get("type") == "subscribe":
            session.channels.add(request["channel"])
            await self.send(session, {**doc("ws_subscriptions.json"), "timestamp": rfc3339_now()})

    def overdue(self, session: CoinbaseSession) -> bool:
        return time.monotonic() - session.last_sent > self.idle_close

    async def tick(self, session: CoinbaseSession) -> None:
        if "heartbeats" in session.channels:
            await self.send(session, {**doc("ws_heartbeats.json"), "timestamp": rfc3339_now()})
            self.heartbeats += 1
        if "market_trades" in session.channels and session.trades_sent < self.trade_messages:
            name = "ws_market_trades_snapshot.json" if session.trades_sent == 0 else (
                "ws_market_trades_update.json")
            await self.send(session, {**doc(name), "timestamp": rfc3339_now()})
            session.trades_sent += 1


class NoHeartbeats(CoinbaseAdapter):
    """The control: the same adapter without the heartbeats subscription."""

    def subscribe_frames(self) -> Sequence[str]:
        return [frame for frame in super().subscribe_frames() if "heartbeats" not in frame]


async def test_heartbeats_keep_the_venue_from_closing_us() -> None:
    async with serving(LocalCoinbase(idle_close=0.6, trade_messages=10)) as venue:
        adapter = CoinbaseAdapter(Market.parse("BTC-USD"), ws_url=venue.url(""))
        async with watching("coinbase-local", adapter, max_event_lag=1.0) as watcher:
            # ~1.5 s of heartbeats; the trades stop after ~0.5 s, so the last second is
            # longer than the 0.6 s the venue lets a connection idle.
            await wait_for(lambda: venue.heartbeats >= 30, timeout=5.0, what="30 heartbeats")
            snapshot = watcher.snapshot()
    stats = snapshot.stats
    assert venue.drops == 0 and venue.connections == 1
    assert snapshot.reason is Reason.OK, snapshot.detail
    assert stats.connected and sum(stats.reconnects.values()) == 0
    assert stats.messages_total == 10  # heartbeats are not data
    assert stats.event_lag_count == 10
    assert stats.event_lag_last is not None and 0.0 <= stats.event_lag_last < 1.0
    assert stats.sequence_gaps == 0  # heartbeats and acks interleaved, nothing lost
    assert [orjson.loads(frame) for frame in venue.received] == [
        doc("ws_subscribe_heartbeats.json"), doc("ws_subscribe_market_trades.json")]


async def test_a_lost_message_shows_as_a_sequence_gap() -> None:
    async with serving(LocalCoinbase(idle_close=5.0, trade_messages=10, skip=9)) as venue:
        adapter = CoinbaseAdapter(Market.parse("BTC-USD"), ws_url=venue.url(""))
        async with watching("coinbase-local", adapter, max_event_lag=1.0) as watcher:
            await wait_for(lambda: watcher.snapshot().stats.messages_total >= 10, timeout=5.0,
                           what="ten trade messages")
            stats = watcher.snapshot().stats
    assert stats.sequence_gaps == 1
    assert sum(stats.reconnects.values()) == 0


async def test_without_heartbeats_the_venue_closes_an_idle_connection() -> None:
    """The control: the same venue does close a connection that only has trades."""
    async with serving(LocalCoinbase(idle_close=0.3, trade_messages=3)) as venue:
        adapter = NoHeartbeats(Market.parse("BTC-USD"), ws_url=venue.url(""))
        async with watching("coinbase-local", adapter, max_event_lag=1.0) as watcher:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="an idle close")
            await wait_for(
                lambda: watcher.snapshot().stats.reconnects.get("closed_by_server", 0) >= 1,
                timeout=5.0,
                what="a reconnect after the venue's close",
            )
