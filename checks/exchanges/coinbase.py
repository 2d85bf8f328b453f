"""Coinbase Advanced Trade (`exchange: coinbase`).

Documented facts this adapter relies on (docs.cdp.coinbase.com, Advanced Trade API, unless
noted):

- REST base https://api.coinbase.com. Public `GET /api/v3/brokerage/time` ("Get Server Time")
  answers `{"iso", "epochSeconds", "epochMillis"}` (schema ExtendedTimestamp: ISO-8601,
  second- and millisecond-precision representations; the official and third-party SDKs read
  the epoch fields as strings or numbers, so both are accepted here). Its documented error
  answer is `grpc.gateway.runtime.Error`: `{"error", "code", "message", "details"}`.
- No public maintenance endpoint in the Advanced Trade API (status.coinbase.com is a separate
  status page): `status_call` is None.
- Market data WebSocket wss://advanced-trade-ws.coinbase.com. One subscribe message per
  channel: `{"type": "subscribe", "product_ids": [...], "channel": "<name>"}` (the shape the
  official coinbase-advanced-py SDK sends; a JWT is only needed for private channels).
- "Most channels close within 60-90 seconds if no updates are sent. Subscribe to heartbeats to
  keep all subscriptions open": so the `heartbeats` channel is subscribed too; it sends a
  message every second with `events[].heartbeat_counter`. No client ping is documented, so
  `keepalive` is None (liveness comes from the heartbeats and `stale_after`).
- Every message has the envelope `{"channel", "client_id", "timestamp" (RFC 3339, up to
  nanoseconds), "sequence_num", "events": [...]}`. `market_trades` events carry `type`
  (snapshot | update) and `trades[]` of `{trade_id, product_id, price, size, side, time}`;
  updates are batched over 250 ms. The subscription confirmation arrives on the
  `subscriptions` channel.
- "-USDC" products: other than on the user channel, channels return the data of the
  corresponding "-USD" product, so a BTC-USDC market accepts trades named BTC-USD.

Interpretation choices:

- A REST error names itself in the body (`error: message` goes into the detail); the reason
  is that of the HTTP status (429 rate_limited, 451 geo_blocked, 4xx, 5xx), or error when a
  2xx answer carries an `error`.
- Event time of a trades message is the envelope `timestamp` (when Coinbase sent it), not the
  trade times: snapshots carry old trades and updates are batched for 250 ms.
- `sequence_num` is taken to number every message of a connection, whatever its channel (as
  the brief states and third-party integrations describe; Coinbase's pages show the field on
  every envelope but say nothing more). The StreamWatcher only counts gaps between DATA
  events, so each DATA event reports `sequence_num` minus the numbered non-data messages
  (heartbeats, acks, other products) seen on the connection: a gap then means a message that
  really went missing. A number not above the previous one means a new connection (the count
  restarts). This makes classify stateful per adapter instance (one instance per stream).

Not confirmed in Coinbase's own pages: the WebSocket error message shape. `{"type": "error",
"message": ...}` is taken from ccxt's handling and the older Exchange feed; classify accepts
it. No rate-limit response headers are documented for the public endpoints.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import orjson

from checks.exchanges.base import Market, RestCall, VenueAdapter, Verdict, register_adapter
from checks.exchanges.parsing import (
    FrameError,
    integer,
    is_int,
    json_frame,
    millis_to_seconds,
    price,
    rfc3339_to_seconds,
    short,
)
from checks.http import status_verdict
from checks.stream import EventKind, StreamEvent
from monitor.observation import Reason

SEQUENCE_CHANNEL = "connection"  # sequence_num numbers every message of a connection
_NOT_JSON = StreamEvent(EventKind.ERROR, detail="frame is not JSON")


def _mapping(value: object, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise TypeError(f"{what} must be an object")
    return value


def _items(value: object, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise TypeError(f"{what} must be an array")
    return value


@register_adapter
class CoinbaseAdapter(VenueAdapter):
    name = "coinbase"
    rest_url = "https://api.coinbase.com"
    ws_url = "wss://advanced-trade-ws.coinbase.com"
    time_call = RestCall("/api/v3/brokerage/time")
    status_call = None
    keepalive = None

    def __init__(self, market: Market, *, rest_url: str | None = None,
                 ws_url: str | None = None) -> None:
        super().__init__(market, rest_url=rest_url, ws_url=ws_url)
        self._last_number: int | None = None  # sequence_num of the previous message
        self._unnumbered = 0  # numbered non-data messages on this connection so far

    # -- market ------------------------------------------------------------------------

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}-{market.quote}"  # product_id, e.g. BTC-USD

    def _is_ours(self, product_id: object) -> bool:
        if product_id == self.symbol:
            return True
        # "-USDC" products stream as the matching "-USD" product on public channels.
        return self.market.quote == "USDC" and product_id == f"{self.market.base}-USD"

    # -- REST --------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        answer = _mapping(body, "time answer")
        if "epochMillis" in answer:
            return millis_to_seconds(integer(answer["epochMillis"]))
        if "epochSeconds" in answer:
            return float(integer(answer["epochSeconds"]))
        return rfc3339_to_seconds(answer["iso"])

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict):
            return None
        error, message = body.get("error"), body.get("message")
        if not (isinstance(error, str) and error) and not (http_status >= 400 and message):
            return None
        detail = ": ".join(short(part) for part in (error, message) if part)
        # The body names the error; the HTTP status says what kind (429, 451, 4xx, 5xx).
        by_status = status_verdict(http_status, None)
        return (by_status[0] if by_status is not None else Reason.ERROR), f"venue error: {detail}"

    # -- stream ------------------------------------------------------------------------

    def subscribe_frames(self) -> Sequence[str]:
        return [
            orjson.dumps(
                {"type": "subscribe", "product_ids": [self.symbol], "channel": channel}
            ).decode()
            for channel in ("heartbeats", "market_trades")
        ]

    def classify(self, frame: str | bytes) -> StreamEvent:
        try:
            message = json_frame(frame)
        except FrameError:
            return _NOT_JSON
        if not isinstance(message, dict):
            return StreamEvent.ignore()
        number = message.get("sequence_num")
        if not is_int(number):
            number = None
        elif self._last_number is not None and number <= self._last_number:
            self._unnumbered = 0  # numbering started again: a new connection
        try:
            event = self._classify(message)
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            channel = message.get("channel")
            what = short(channel) if isinstance(channel, str) else "unknown"
            event = StreamEvent(EventKind.ERROR, detail=short(f"malformed {what} message: {exc}"))
        if number is None:
            return event
        self._last_number = number
        if event.kind is EventKind.DATA:
            return replace(event, sequence=number - self._unnumbered, channel=SEQUENCE_CHANNEL)
        self._unnumbered += 1
        return event

    def _classify(self, message: Mapping[str, Any]) -> StreamEvent:
        if message.get("type") == "error":
            parts = (message.get("message"), message.get("reason"))
            text = ": ".join(short(part) for part in parts if part) or "no message"
            return StreamEvent(EventKind.ERROR, detail=f"venue error: {text}")
        channel = message.get("channel")
        if channel == "subscriptions":
            return StreamEvent(EventKind.ACK)
        if channel == "heartbeats":
            return StreamEvent(EventKind.HEARTBEAT)
        if channel != "market_trades":
            return StreamEvent.ignore()
        latest: tuple[float, float] | None = None  # (trade time, price) of the newest trade
        for event in _items(message["events"], "events"):
            for trade in _items(_mapping(event, "event").get("trades", []), "trades"):
                fields = _mapping(trade, "trade")
                if not self._is_ours(fields.get("product_id")):
                    continue
                candidate = (rfc3339_to_seconds(fields["time"]), price(fields["price"]))
                if latest is None or candidate[0] > latest[0]:
                    latest = candidate
        if latest is None:
            return StreamEvent.ignore()
        return StreamEvent(
            EventKind.DATA, event_time=rfc3339_to_seconds(message["timestamp"]), price=latest[1]
        )
