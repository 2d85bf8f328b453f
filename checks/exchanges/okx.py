"""OKX v5 (`exchange: okx`).

Documented facts this adapter relies on (www.okx.com/docs-v5/en, read through a mirror of
those pages):

- Production REST https://www.okx.com; public WebSocket wss://ws.okx.com:8443/ws/v5/public.
  Spot instrument IDs are BASE-QUOTE (`BTC-USDT`).
- Every REST answer is `{"code": "0", "msg": "", "data": [...]}`; `code` other than "0" is an
  error (a code may carry a sub-code, `51008_1000`).
- `GET /api/v5/public/time`: `data[0].ts`, Unix milliseconds as a string.
- `GET /api/v5/system/status` (1 request per 5 s): `data[]` of maintenance events `{title,
  state, begin, end, preOpenBegin, href, serviceType, system, scheDesc, maintType, env}`;
  state scheduled | ongoing | pre_open | completed | canceled (without the `state`
  parameter only scheduled, ongoing and pre_open are returned). serviceType 0 WebSocket,
  5 trading service, 6 block trading, 7 trading bot, 8 trading service (in batches of
  accounts), 9 trading service (in batches of products), 10 spread trading, 11 copy
  trading, 99 others. env 1 production, 2 demo trading. In pre_open only cancelling,
  post-only orders and transfers are back. Short (< 5 s) interruptions are not announced.
- Error codes (HTTP status in brackets): 50001 [503] service temporarily unavailable, 50004
  [400] endpoint request timeout, 50011 [200 or 429] rate limit reached, 50013 [429] systems
  are busy, 50026 [500] system error, 50040 too frequent operations, 50051 compliance
  restrictions in your country or region, 50052 local laws and regulations, 50121 no access
  through this IP address, 51155 pair restricted due to local compliance requirements.
- WebSocket: subscribe `{"op": "subscribe", "args": [{"channel": "trades", "instId": ...}]}`;
  answer `{"event": "subscribe", "arg": {...}, "connId"}` or `{"event": "error", "code",
  "msg", "connId"}`. Trades push `{"arg": {...}, "data": [{instId, tradeId, px, sz, side,
  ts (ms string), count, source, seqId}]}`; one push aggregates the fills of one taker order
  at one price. `{"event": "notice", "code": "64008", ...}` announces a close for a service
  upgrade 30 s ahead.
- Keepalive: the connection breaks if nothing is subscribed or pushed for more than 30 s;
  send the text `ping` when nothing arrived for N < 30 s and expect the text `pong`.

Interpretation choices:

- Maintenance now: an event in state ongoing or pre_open for the production environment
  whose serviceType affects trading or the WebSocket (0, 5, 8, 9). Block/bot/spread/copy
  trading and "others" do not stop spot market data.
- 50001/50004/50013/50026 map to http_5xx (venue down or overloaded); the compliance and IP
  codes to geo_blocked; any other code to error inside a 2xx answer, else to the reason of
  the HTTP status (the API class of codes comes with 401, for example).
- No sequence: `seqId` "may be the same for different trade updates", so it cannot show gaps.
- A `notice` is reported as an ERROR event with its text: the server is about to close.

Not confirmed: any rate-limit response headers (none are documented), so
`rate_limit_used_ratio` is not implemented.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from checks.exchanges.base import (
    Market,
    RestCall,
    VenueAdapter,
    VenueStatus,
    Verdict,
    register_adapter,
    unknown_code_reason,
)
from checks.exchanges.parsing import (
    FrameError,
    integer,
    json_frame,
    millis_to_seconds,
    price,
    short,
)
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason

_MAX_MILLIS_DIGITS = 16  # OKX's millisecond strings (13 digits until the year 2286)
_NOT_JSON = StreamEvent(EventKind.ERROR, detail="frame is not JSON")
_PONG = StreamEvent(EventKind.PONG)
_RATE_LIMITED = frozenset({"50011", "50040"})
_OVERLOADED = frozenset({"50001", "50004", "50013", "50026"})
_GEO_BLOCKED = frozenset({"50051", "50052", "50121", "51155"})
_MAINTENANCE_NOW = frozenset({"ongoing", "pre_open"})
_TRADING_SERVICES = frozenset({"0", "5", "8", "9"})  # WebSocket, trading service (3 kinds)
_DEMO_ENV = "2"


def _millis(value: object) -> float:
    """Unix seconds from OKX's millisecond string (never a JSON number)."""
    return millis_to_seconds(integer(value, numbers=False, max_digits=_MAX_MILLIS_DIGITS))


def _data(body: Any) -> list[Any]:
    if not isinstance(body, dict):
        raise TypeError("answer must be a JSON object")
    if body["code"] != "0":
        raise ValueError(f"answer reports code {short(body['code'])}")
    data = body["data"]
    if not isinstance(data, list):
        raise TypeError("data must be an array")
    return data


@register_adapter
class OkxAdapter(VenueAdapter):
    name = "okx"
    rest_url = "https://www.okx.com"
    ws_url = "wss://ws.okx.com:8443/ws/v5/public"
    time_call = RestCall("/api/v5/public/time")
    status_call = RestCall("/api/v5/system/status")
    keepalive = Keepalive(interval=20.0, frame="ping", timeout=10.0)

    # -- market ------------------------------------------------------------------------

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}-{market.quote}"  # instId, e.g. BTC-USDT

    # -- REST --------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        data = _data(body)
        if not data or not isinstance(data[0], dict):
            raise ValueError("data must hold the time object")
        return _millis(data[0]["ts"])

    def parse_status(self, body: Any) -> VenueStatus:
        now = []
        for event in _data(body):
            if not isinstance(event, dict):
                raise TypeError("maintenance event must be an object")
            state, service, env = event["state"], event.get("serviceType"), event.get("env")
            if state in _MAINTENANCE_NOW and service in _TRADING_SERVICES and env != _DEMO_ENV:
                now.append(f"{state}: {short(event.get('title') or 'maintenance')}")
        return VenueStatus(maintenance=bool(now), detail=short("; ".join(now)))

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict) or "code" not in body:
            return None
        code = short(body["code"])
        if code == "0":
            return None
        msg = short(body.get("msg") or "")
        detail = f"{code}: {msg}" if msg else code
        base = code.split("_", 1)[0]  # "51008_1000": code 51008, sub-code 1000
        if base in _RATE_LIMITED:
            return Reason.RATE_LIMITED, f"rate limited ({detail})"
        if base in _OVERLOADED:
            return Reason.HTTP_5XX, f"venue unavailable ({detail})"
        if base in _GEO_BLOCKED:
            return Reason.GEO_BLOCKED, f"restricted ({detail})"
        return unknown_code_reason(http_status), f"venue error ({detail})"

    # -- stream ------------------------------------------------------------------------

    def subscribe_frames(self) -> Sequence[str]:
        request = {"op": "subscribe", "args": [{"channel": "trades", "instId": self.symbol}]}
        return [orjson.dumps(request).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
        if frame == "pong" or frame == b"pong":
            return _PONG
        try:
            message = json_frame(frame)
        except FrameError:
            return _NOT_JSON
        if not isinstance(message, dict):
            return StreamEvent.ignore()
        try:
            return self._classify(message)
        except (ArithmeticError, LookupError, TypeError, ValueError) as exc:
            return StreamEvent(EventKind.ERROR, detail=short(f"malformed message: {exc}"))

    def _classify(self, message: Mapping[str, Any]) -> StreamEvent:
        event = message.get("event")
        if event == "subscribe":
            return StreamEvent(EventKind.ACK)
        if event in ("error", "notice"):
            text = short(f"{short(message.get('code', ''))}: {short(message.get('msg', ''))}")
            return StreamEvent(EventKind.ERROR, detail=f"venue {event} {text}")
        if event is not None:
            return StreamEvent.ignore()
        arg = message.get("arg")
        if not isinstance(arg, dict) or arg.get("channel") != "trades":
            return StreamEvent.ignore()
        data = message["data"]
        if not isinstance(data, list):
            raise TypeError("trades data must be an array")
        latest: tuple[float, float] | None = None  # (fill time, price) of the newest trade
        for trade in data:
            if not isinstance(trade, dict):
                raise TypeError("trade must be an object")
            if trade.get("instId") != self.symbol:
                continue
            candidate = (_millis(trade["ts"]), price(trade["px"], numbers=False))
            if latest is None or candidate[0] > latest[0]:
                latest = candidate
        if latest is None:
            return StreamEvent.ignore()
        return StreamEvent(EventKind.DATA, event_time=latest[0], price=latest[1])
