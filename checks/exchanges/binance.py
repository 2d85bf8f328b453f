"""Binance spot (`binance`) and Binance USDⓈ-M futures (`binance-futures`).

From Binance's API documentation (developers.binance.com):

- Server time: spot GET /api/v3/time, futures GET /fapi/v1/time, both `{"serverTime": <ms>}`.
- System status (spot only): GET /sapi/v1/system/status, `{"status": 0, "msg": "normal"}`
  (1: "system_maintenance"). USDⓈ-M futures documents no public status endpoint.
- Every REST answer carries X-MBX-USED-WEIGHT-1M, the request weight the IP used in the
  current minute. The default limit is 6000 per minute on spot (REQUEST_WEIGHT in
  exchangeInfo) and 2400 per minute on USDⓈ-M futures.
- Errors are `{"code": <negative int>, "msg": "..."}`: -1003 TOO_MANY_REQUESTS comes with HTTP
  429 (418 once the IP is banned) and a Retry-After header; -1008 SERVER_BUSY means the venue
  is overloaded; -1000/-1001/-1006/-1007 are internal errors (HTTP 5xx). A restricted location
  is refused with HTTP 451 and `{"code": 0, "msg": "Service unavailable from a restricted
  location ..."}`.
- Streams: raw-stream endpoint `/ws`, subscribe with
  `{"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}` (stream names lower case),
  acknowledged with `{"result": null, "id": 1}`; request errors are `{"code": n, "msg": ...}`.
  Spot `<symbol>@trade` events carry `E` (event time, ms), `p` (price, a decimal string) and
  `t` (trade id, consecutive per symbol: a jump is a gap). USDⓈ-M futures documents
  `<symbol>@aggTrade` (no public `@trade`), numbered by its aggregate trade id `a`. Spot also
  sends `{"e": "serverShutdown", "E": <ms>}` before a server goes away.
- Futures streams are routed: since the split of the futures WebSocket URLs, `aggTrade`
  belongs to `wss://fstream.binance.com/market`; an unrouted connection only gets the
  high-frequency public streams.
- Keepalive is protocol-level only: spot sends a ping frame every 20 s and drops a connection
  that sent no pong within a minute; futures pings every 3 minutes and drops after 10 minutes
  without a pong. The WebSocket library answers pings itself, so there is no application
  ping (`keepalive = None`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson

from checks.exchanges.base import (
    Market,
    RestCall,
    VenueAdapter,
    VenueStatus,
    Verdict,
    register_adapter,
)
from checks.exchanges.parsing import (
    FrameError,
    header_integer,
    is_int,
    json_frame,
    millis_to_seconds,
    price,
    short,
)
from checks.stream import EventKind, StreamEvent
from monitor.observation import Reason

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
RESTRICTED_LOCATION = "restricted location"
_RATE_LIMIT_CODES = frozenset({-1003, -1015})  # TOO_MANY_REQUESTS, TOO_MANY_ORDERS
_OVERLOADED = -1008  # SERVER_BUSY
_INTERNAL_CODES = frozenset({-1000, -1001, -1006, -1007})  # UNKNOWN, DISCONNECTED, ...
_MAX_HEADER_DIGITS = 12
_ACK = StreamEvent(EventKind.ACK)


def _price(value: Any) -> float | None:
    """A positive finite price from Binance's decimal string; None if it is not one (a trade
    with a bad price is reported as malformed, not raised)."""
    try:
        return price(value, numbers=False)
    except (TypeError, ValueError):
        return None


class _Binance(VenueAdapter):
    """What Binance spot and USDⓈ-M futures share; subclasses set the venue's data."""

    weight_limit: ClassVar[int]  # request weight per minute per IP
    trade_stream: ClassVar[str]  # stream name suffix, also the `e` of its events
    sequence_key: ClassVar[str]  # the event field numbering the trades

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}{market.quote}"

    # -- REST ------------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        server_time = body["serverTime"]
        if not is_int(server_time) or server_time <= 0:
            raise ValueError(f"serverTime is not a positive integer: {short(server_time)}")
        return millis_to_seconds(server_time)

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict):
            return None
        code, msg = body.get("code"), short(body.get("msg", ""))
        if http_status == 451 or RESTRICTED_LOCATION in msg.lower():
            return Reason.GEO_BLOCKED, f"restricted location: {msg}"
        if not is_int(code) or code == 0:
            return None
        if code in _RATE_LIMIT_CODES:
            return Reason.RATE_LIMITED, f"rate limited ({code}): {msg}"
        if code == _OVERLOADED:
            return Reason.HTTP_5XX, f"venue overloaded ({code} SERVER_BUSY): {msg}"
        if code in _INTERNAL_CODES:
            return Reason.HTTP_5XX, f"venue internal error ({code}): {msg}"
        return None

    def rate_limit_used_ratio(self, headers: Mapping[str, str]) -> float | None:
        used = header_integer(headers, WEIGHT_HEADER, max_digits=_MAX_HEADER_DIGITS)
        return None if used is None else min(used / self.weight_limit, 1.0)

    # -- stream ----------------------------------------------------------------------------

    @property
    def channel(self) -> str:
        return f"{self.symbol.lower()}@{self.trade_stream}"

    def subscribe_frames(self) -> Sequence[str]:
        frame = {"method": "SUBSCRIBE", "params": [self.channel], "id": 1}
        return [orjson.dumps(frame).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
        try:
            message = json_frame(frame)
        except FrameError:
            return StreamEvent(EventKind.ERROR, detail="frame is not JSON")
        if isinstance(message, dict) and isinstance(message.get("data"), dict):
            message = message["data"]  # a combined-stream wrapper (/stream endpoint)
        if not isinstance(message, dict):
            return StreamEvent.ignore()
        return self._classify_object(message)

    def _classify_object(self, message: dict[str, Any]) -> StreamEvent:
        event_type = message.get("e")
        if event_type == self.trade_stream:
            return self._trade(message)
        if event_type == "serverShutdown":
            return StreamEvent(EventKind.ERROR, detail="venue announced a server shutdown")
        if "result" in message and "id" in message:
            return _ACK if message["result"] is None else StreamEvent.ignore()
        error = message.get("error", message)
        if isinstance(error, dict) and is_int(error.get("code")) and "msg" in error:
            return StreamEvent(
                EventKind.ERROR, detail=f"venue error {error['code']}: {short(error['msg'])}"
            )
        return StreamEvent.ignore()

    def _trade(self, message: dict[str, Any]) -> StreamEvent:
        if message.get("s") != self.symbol:
            return StreamEvent.ignore()
        event_ms, sequence = message.get("E"), message.get(self.sequence_key)
        trade_price = _price(message.get("p"))
        if is_int(event_ms) and is_int(sequence) and trade_price is not None:
            return StreamEvent(
                EventKind.DATA,
                event_time=millis_to_seconds(event_ms),
                price=trade_price,
                sequence=sequence,
                channel=self.channel,
            )
        return StreamEvent(EventKind.ERROR, detail=f"malformed {self.trade_stream} event")


@register_adapter
class BinanceSpot(_Binance):
    name = "binance"
    rest_url = "https://api.binance.com"
    ws_url = "wss://stream.binance.com:9443/ws"
    time_call = RestCall("/api/v3/time")
    status_call = RestCall("/sapi/v1/system/status")
    weight_limit = 6000
    trade_stream = "trade"
    sequence_key = "t"

    def parse_status(self, body: Any) -> VenueStatus:
        status = body["status"]
        if status not in (0, 1) or not is_int(status):
            raise ValueError(f"unknown system status {short(status)}")
        return VenueStatus(maintenance=status == 1, detail=short(body.get("msg", "")))


@register_adapter
class BinanceFutures(_Binance):
    name = "binance-futures"
    rest_url = "https://fapi.binance.com"
    ws_url = "wss://fstream.binance.com/market/ws"
    time_call = RestCall("/fapi/v1/time")
    weight_limit = 2400
    trade_stream = "aggTrade"
    sequence_key = "a"
