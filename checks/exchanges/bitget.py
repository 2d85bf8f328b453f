"""Bitget, spot (API v2).

Documented facts relied on (bitget.com/api-doc, common and spot sections):
- Answers are {"code":"00000","msg":"success","requestTime":<ms>,"data":...}; any other code is
  an error (codes are strings).
- Server time: GET /api/v2/public/time, data = {"serverTime":"<ms>"} (a string), 20 requests/s
  per IP.
- REST rate limiting answers HTTP 429 / code "429" ("Too Many Requests"). The FAQ says the
  remaining per-second limit is in the x-mbx-used-remain-limit response header, and that during
  the regular backend release windows the REST API may answer 45001, 40725, 40808 or 40015 (retry
  later).
- WebSocket (common/websocket-intro): public endpoint wss://ws.bitget.com/v2/ws/public; send the
  string "ping" every 30 s and expect the string "pong"; the server disconnects when it has not
  received "ping" for 2 minutes. Subscribe {"op":"subscribe","args":[{"instType":"SPOT","channel":
  "trade","instId":"BTCUSDT"}]}; the answer is {"event":"subscribe","arg":{...}}; failures come as
  {"event":"error","code":"<code>","msg":"..."}.
- spot/websocket/public/Trades-Channel: pushes {"action":"snapshot"|"update","arg":{"instType":
  "SPOT","channel":"trade","instId":"BTCUSDT"},"data":[{"ts":"<ms>","price","size","side",
  "tradeId"}],"ts":<ms push time>}; the first push after subscribing is a snapshot of recent
  trades.
- v2 symbols are BASE+QUOTE without separator (BTCUSDT).

Choices and what could not be confirmed:
- No maintenance/status endpoint is documented for v2 (only announcements), so status_call is
  None. The release-window codes above are reported as http_5xx (transient venue-side failure)
  rather than maintenance.
- No error code for restricted jurisdictions was found, so nothing maps to geo_blocked.
- Rate-limit ratio: the header gives only the remaining count; the denominator is the documented
  limit of the time endpoint (20/s), the only REST call this adapter makes. An inference.
- Event time is the push "ts" (a snapshot's trades can be old), falling back to the newest trade
  "ts" of an update; the price is that of the newest trade (the data order is not documented).
- No sequence is reported: tradeId is an identifier, not a consecutive message number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from checks.exchanges.base import (
    Market,
    RestCall,
    VenueAdapter,
    Verdict,
    register_adapter,
    unknown_code_reason,
)
from checks.exchanges.parsing import (
    header_integer,
    integer,
    json_frame,
    millis_to_seconds,
    newest_trade,
    price,
    short,
    shown,
)
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason

OK_CODE = "00000"
TIME_CALL_LIMIT_PER_SECOND = 20  # documented limit of GET /api/v2/public/time
_MALFORMED = StreamEvent(EventKind.IGNORE, detail="malformed frame")

CODES: dict[str, Reason] = {
    "429": Reason.RATE_LIMITED,  # Too Many Requests
    # Documented as possible during backend release windows ("retry after receiving").
    "45001": Reason.HTTP_5XX,
    "40725": Reason.HTTP_5XX,
    "40808": Reason.HTTP_5XX,
    "40015": Reason.HTTP_5XX,
}


@register_adapter
class BitgetAdapter(VenueAdapter):
    name = "bitget"
    rest_url = "https://api.bitget.com"
    ws_url = "wss://ws.bitget.com/v2/ws/public"
    time_call = RestCall("/api/v2/public/time")
    status_call = None
    keepalive = Keepalive(interval=30.0, frame="ping", timeout=10.0)

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}{market.quote}"

    @property
    def arg(self) -> dict[str, str]:
        return {"instType": "SPOT", "channel": "trade", "instId": self.symbol}

    # -- REST --------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        if body["code"] != OK_CODE:
            raise ValueError(f"code {shown(body['code'], 20)} is not {OK_CODE}")
        data = body["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        return millis_to_seconds(integer(data["serverTime"]))

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict) or "code" not in body:
            return None
        code = body["code"]
        if code == OK_CODE:
            return None
        message = body.get("msg")
        detail = f"code {short(code, 20)}: {message if isinstance(message, str) else ''}"[:200]
        if not isinstance(code, str):
            return Reason.INVALID_RESPONSE, detail
        if http_status == 429:
            return Reason.RATE_LIMITED, detail
        return CODES.get(code) or unknown_code_reason(http_status), detail

    def rate_limit_used_ratio(self, headers: Mapping[str, str]) -> float | None:
        remaining = header_integer(headers, "x-mbx-used-remain-limit")
        if remaining is None:
            return None
        return min(1.0, max(0.0, 1.0 - remaining / TIME_CALL_LIMIT_PER_SECOND))

    # -- stream ------------------------------------------------------------------------

    def subscribe_frames(self) -> Sequence[str]:
        return [orjson.dumps({"op": "subscribe", "args": [self.arg]}).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
        if frame in ("pong", b"pong"):
            return StreamEvent(EventKind.PONG)
        try:
            return self._classify(json_frame(frame))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
            return _MALFORMED

    def _classify(self, message: Any) -> StreamEvent:
        if not isinstance(message, dict):
            return _MALFORMED
        if "action" in message:
            return self._trades(message)
        event = message.get("event")
        if event == "error":
            code, text = message.get("code"), message.get("msg")
            detail = f"error {short(code, 20)}: {text if isinstance(text, str) else ''}"
            return StreamEvent(EventKind.ERROR, detail=detail[:200])
        if event == "subscribe" and message.get("arg") == self.arg:
            return StreamEvent(EventKind.ACK, channel=self._channel)
        return StreamEvent.ignore()

    @property
    def _channel(self) -> str:
        return f"trade:{self.symbol}"

    def _trades(self, message: dict[str, Any]) -> StreamEvent:
        arg = message["arg"]
        if not isinstance(arg, dict):
            raise TypeError("arg is not an object")
        if arg.get("channel") != "trade" or arg.get("instId") != self.symbol:
            return StreamEvent.ignore()
        action = message["action"]
        if action not in ("snapshot", "update"):
            return StreamEvent.ignore()
        newest, newest_ms = newest_trade(message["data"], "ts")
        trade_price = price(newest["price"], max_text=None) if newest is not None else None
        event_time: float | None = None
        if "ts" in message:
            event_time = millis_to_seconds(integer(message["ts"]))
        elif action == "update" and newest is not None:
            event_time = millis_to_seconds(newest_ms)
        return StreamEvent(EventKind.DATA, event_time=event_time, price=trade_price,
                           channel=self._channel)
