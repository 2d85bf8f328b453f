"""The Binance adapters (spot and USDⓈ-M futures) on fixtures in Binance's documented shapes."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from multidict import CIMultiDict

from checks.exchanges.base import Market, VenueAdapter, adapters
from checks.stream import EventKind
from monitor.observation import Reason
from tests.checks.exchanges.harness import SHAPE_ERRORS
from tests.fakes.venue import fixture_bytes, fixture_json

SPOT = "binance"
FUTURES = "binance-futures"


def adapter(name: str = SPOT, market: str = "BTC-USDT", **urls: str) -> VenueAdapter:
    return adapters()[name](Market.parse(market), **urls)


def spot(name: str) -> Any:
    return fixture_json(SPOT, name)


def futures(name: str) -> Any:
    return fixture_json(FUTURES, name)


# -- registry and URLs ---------------------------------------------------------------------


def test_both_venues_are_registered_with_documented_endpoints() -> None:
    binance, binance_futures = adapter(SPOT), adapter(FUTURES)
    assert binance.rest_base == "https://api.binance.com"
    assert binance.ws_base == "wss://stream.binance.com:9443/ws"
    assert binance.time_call.path == "/api/v3/time"
    assert binance.status_call is not None
    assert binance.status_call.path == "/sapi/v1/system/status"
    assert binance_futures.rest_base == "https://fapi.binance.com"
    assert binance_futures.ws_base == "wss://fstream.binance.com/market/ws"
    assert binance_futures.time_call.path == "/fapi/v1/time"
    assert binance_futures.status_call is None
    assert binance.keepalive is None and binance_futures.keepalive is None  # protocol pings


def test_symbol_and_url_overrides() -> None:
    eth = adapter(SPOT, "eth-btc", rest_url="http://127.0.0.1:1/", ws_url="ws://127.0.0.1:1/ws")
    assert eth.symbol == "ETHBTC"
    assert eth.rest_base == "http://127.0.0.1:1"
    assert eth.ws_base == "ws://127.0.0.1:1/ws"


# -- REST ----------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_server_time_is_milliseconds(venue: str) -> None:
    assert adapter(venue).parse_time(fixture_json(venue, "time.json")) == 1763700123.456


@pytest.mark.parametrize(
    "body", [{}, {"serverTime": "1763700123456"}, {"serverTime": True}, {"serverTime": -5},
             {"serverTime": 1.5e12}, [1763700123456], None, "1763700123456"],
)
def test_server_time_of_the_wrong_shape_raises(body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter().parse_time(body)


def test_system_status_normal_and_maintenance() -> None:
    binance = adapter()
    assert binance.parse_status(spot("system_status_normal.json")).maintenance is False
    maintenance = binance.parse_status(spot("system_status_maintenance.json"))
    assert maintenance.maintenance is True
    assert maintenance.detail == "system_maintenance"


@pytest.mark.parametrize("body", [{"status": 2}, {"status": "1"}, {"status": True}, {}, []])
def test_system_status_of_the_wrong_shape_raises(body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter().parse_status(body)


def test_system_status_message_is_bounded() -> None:
    status = adapter().parse_status({"status": 1, "msg": "x\n" * 10_000})
    assert len(status.detail) <= 200 and "\n" not in status.detail


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_minus_1003_is_rate_limited(venue: str) -> None:
    verdict = adapter(venue).venue_error(429, fixture_json(venue, "error_-1003.json"))
    assert verdict is not None
    assert verdict[0] is Reason.RATE_LIMITED
    assert "-1003" in verdict[1]


def test_ip_ban_is_rate_limited() -> None:
    verdict = adapter().venue_error(418, spot("error_-1003_banned.json"))
    assert verdict is not None and verdict[0] is Reason.RATE_LIMITED


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_minus_1008_is_an_overloaded_venue(venue: str) -> None:
    verdict = adapter(venue).venue_error(503, fixture_json(venue, "error_-1008.json"))
    assert verdict is not None
    assert verdict[0] is Reason.HTTP_5XX
    assert "overloaded" in verdict[1] and "-1008" in verdict[1]


def test_internal_error_is_5xx() -> None:
    verdict = adapter().venue_error(500, spot("error_-1001.json"))
    assert verdict is not None and verdict[0] is Reason.HTTP_5XX


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_restricted_location_is_geo_blocked(venue: str) -> None:
    body = fixture_json(venue, "geo_451.json")
    verdict = adapter(venue).venue_error(451, body)
    assert verdict is not None and verdict[0] is Reason.GEO_BLOCKED
    # The message alone is recognised too (a proxy may have changed the status).
    verdict = adapter(venue).venue_error(403, body)
    assert verdict is not None and verdict[0] is Reason.GEO_BLOCKED


@pytest.mark.parametrize(
    "status, body",
    [
        (200, {"serverTime": 1763700123456}),
        (200, {"status": 0, "msg": "normal"}),
        (400, {"code": -1121, "msg": "Invalid symbol."}),  # left to the HTTP status
        (200, {"code": "-1003", "msg": "a string code is not Binance's"}),
        (200, [1, 2, 3]),
        (200, None),
    ],
)
def test_bodies_without_a_known_venue_error(status: int, body: Any) -> None:
    assert adapter().venue_error(status, body) is None


def test_venue_message_is_bounded_in_the_verdict() -> None:
    verdict = adapter().venue_error(429, {"code": -1003, "msg": "spam " * 10_000})
    assert verdict is not None and len(verdict[1]) < 300


@pytest.mark.parametrize(
    "venue, used, ratio", [(SPOT, "5400", 0.9), (SPOT, "6000", 1.0), (FUTURES, "1200", 0.5),
                           (FUTURES, "9999", 1.0), (SPOT, "0", 0.0)],
)
def test_used_weight_against_the_venue_limit(venue: str, used: str, ratio: float) -> None:
    headers = CIMultiDict({"X-MBX-USED-WEIGHT-1M": used})
    assert adapter(venue).rate_limit_used_ratio(headers) == pytest.approx(ratio)


def test_used_weight_header_name_is_case_insensitive_even_in_a_plain_dict() -> None:
    assert adapter().rate_limit_used_ratio({"x-mbx-used-weight-1m": "600"}) == pytest.approx(0.1)


@pytest.mark.parametrize("value", ["", "abc", "-5", "1e3", "5400.5", "٣٣", "9" * 40])
def test_malformed_used_weight_is_ignored(value: str) -> None:
    assert adapter().rate_limit_used_ratio({"X-MBX-USED-WEIGHT-1M": value}) is None


def test_no_used_weight_header() -> None:
    assert adapter().rate_limit_used_ratio({"X-MBX-USED-WEIGHT-1S": "5"}) is None


# -- stream --------------------------------------------------------------------------------


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_subscribe_frame_is_the_documented_one(venue: str) -> None:
    frames = adapter(venue).subscribe_frames()
    assert [orjson.loads(frame) for frame in frames] == [fixture_json(venue, "ws_subscribe.json")]


@pytest.mark.parametrize("venue", [SPOT, FUTURES])
def test_ack(venue: str) -> None:
    assert adapter(venue).classify(fixture_bytes(venue, "ws_ack.json")).kind is EventKind.ACK


def test_spot_trade_is_data_with_event_time_price_and_trade_id() -> None:
    event = adapter().classify(fixture_bytes(SPOT, "ws_trade.json").decode())
    assert event.kind is EventKind.DATA
    assert event.event_time == pytest.approx(1763700123.460)
    assert event.price == pytest.approx(91234.56)
    assert event.sequence == 5123400001
    assert event.channel == "btcusdt@trade"


def test_combined_stream_wrapper_is_unwrapped() -> None:
    event = adapter().classify(fixture_bytes(SPOT, "ws_trade_combined.json"))
    assert event.kind is EventKind.DATA and event.sequence == 5123400002


def test_futures_agg_trade_is_numbered_by_its_aggregate_id() -> None:
    event = adapter(FUTURES).classify(fixture_bytes(FUTURES, "ws_agg_trade.json"))
    assert event.kind is EventKind.DATA
    assert event.event_time == pytest.approx(1763700123.460)
    assert event.price == pytest.approx(91190.10)
    assert event.sequence == 2876540001
    assert event.channel == "btcusdt@aggTrade"


def test_each_venue_reads_only_its_own_trade_stream() -> None:
    assert adapter(FUTURES).classify(fixture_bytes(SPOT, "ws_trade.json")).kind is (
        EventKind.IGNORE
    )
    assert adapter(SPOT).classify(fixture_bytes(FUTURES, "ws_agg_trade.json")).kind is (
        EventKind.IGNORE
    )


def test_another_symbols_trade_is_ignored() -> None:
    assert adapter(SPOT, "ETH-USDT").classify(fixture_bytes(SPOT, "ws_trade.json")).kind is (
        EventKind.IGNORE
    )


def test_request_error_and_server_shutdown_are_errors() -> None:
    error = adapter().classify(fixture_bytes(SPOT, "ws_error.json"))
    assert error.kind is EventKind.ERROR and "venue error 2" in error.detail
    shutdown = adapter().classify(fixture_bytes(SPOT, "ws_server_shutdown.json"))
    assert shutdown.kind is EventKind.ERROR and "shutdown" in shutdown.detail


def test_list_subscriptions_answer_is_not_an_ack() -> None:
    event = adapter().classify(fixture_bytes(SPOT, "ws_list_subscriptions.json"))
    assert event.kind is EventKind.IGNORE


def _trade(**changes: Any) -> str:
    trade = spot("ws_trade.json")
    trade.update(changes)
    return orjson.dumps(trade).decode()


@pytest.mark.parametrize(
    "frame",
    [
        _trade(p="not a number"),
        _trade(p="-1"),
        _trade(p="0"),
        _trade(p="nan"),
        _trade(p="inf"),
        _trade(p=91234.56),  # Binance sends decimal strings
        _trade(p="1" * 100),
        _trade(E="1763700123460"),
        _trade(E=None),
        _trade(t=True),
        _trade(t=None),
    ],
)
def test_malformed_trades_are_errors_not_data(frame: str) -> None:
    event = adapter().classify(frame)
    assert event.kind is EventKind.ERROR and "malformed" in event.detail


@pytest.mark.parametrize(
    "frame",
    [b"", b"\xff\xfe\x00", "not json", "{", "[" * 100_000, "1" * 5000],
)
def test_garbage_frames_do_not_raise(frame: str | bytes) -> None:
    assert adapter().classify(frame).kind in (EventKind.ERROR, EventKind.IGNORE)


@pytest.mark.parametrize(
    "frame", ["[]", "null", "42", '"trade"', '{"e": "kline"}', '{"result": null}',
              '{"stream": "x", "data": [1]}'],
)
def test_other_json_is_ignored(frame: str) -> None:
    assert adapter().classify(frame).kind is EventKind.IGNORE
