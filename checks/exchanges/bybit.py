"""Bybit v5, spot category.

Documented facts relied on (bybit-exchange.github.io/docs/v5/...):
- market/time: GET /v5/market/time answers {"retCode":0,"retMsg":"OK","result":{"timeSecond":
  "<s>","timeNano":"<ns>"},"retExtInfo":{},"time":<ms>}; both result fields are strings.
- system-status: GET /v5/system/status answers {"retCode":0,"retMsg":"","result":{"list":[{"id",
  "title","state","begin","end","href","serviceTypes","product","uidSuffix","maintainType",
  "env"}]}}; begin/end are millisecond strings; "end" is the expected end until the maintenance is
  completed, then the actual end. Only the state "completed" appears in the documentation.
- error: every answer carries retCode/retMsg, errors come inside HTTP 200. 10006 "Too many
  visits. Exceeded the API Rate Limit", 10018 "Exceeded the IP Rate Limit", 10016 "Server error"
  (WS trade: "internal server error; Service is restarting"), 10000 "Server Timeout", UTA 429
  "The trading service is experiencing a high server load", 10024 "Compliance rules triggered".
  HTTP 403 may mean an IP rate-limit ban or a U.S. IP (not distinguishable, left to the kind).
- rate-limit: every answer carries X-Bapi-Limit (limit of the endpoint) and X-Bapi-Limit-Status
  (remaining requests), plus X-Bapi-Limit-Reset-Timestamp.
- ws/connect: public spot stream wss://stream.bybit.com/v5/public/spot; subscribe
  {"op":"subscribe","args":["publicTrade.BTCUSDT"]} (req_id optional); the subscription answer is
  {"success":true,"ret_msg":"","conn_id":...,"req_id":...,"op":"subscribe"}; heartbeat: send
  {"op":"ping"} (req_id optional), recommended every 20 s; the public pong is
  {"success":true,"ret_msg":"pong","conn_id":...,"req_id":"","op":"ping"} (private channels
  answer {"op":"pong",...}; both are accepted).
- websocket/public/trade: topic publicTrade.{symbol}, {"topic","type":"snapshot","ts":<ms, when
  the system generated the data>,"data":[{"T":<ms fill time>,"s","S","v","p","L","i","BT",...}]},
  data sorted by matching time ascending.
- Spot symbols are BASE+QUOTE without separator (BTCUSDT).

Choices and what could not be confirmed:
- Event time is the message's "ts" (generation time of the push), falling back to the newest "T";
  the price is that of the newest trade in the message.
- No sequence is reported: the trade "seq" is a matching-engine cross sequence, not a per-topic
  message number, so gaps in it are not lost messages.
- The state values of a maintenance other than "completed" are not documented; an entry counts as
  ongoing when its state is not "completed"/"canceled" and its begin time has passed (measured
  against the answer's "time" when present, else the local clock). serviceTypes/product codes are
  not documented either, so any ongoing entry counts.
- 10024 "Compliance rules triggered" is taken as a jurisdiction block (geo_blocked).
"""

from __future__ import annotations

import time
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
    header_integer,
    integer,
    json_frame,
    millis_to_seconds,
    nanos_to_seconds,
    newest_trade,
    price,
    short,
    shown,
)
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason

_MALFORMED = StreamEvent(EventKind.IGNORE, detail="malformed frame")
_FINISHED_STATES = frozenset({"completed", "canceled", "cancelled"})

# retCode -> reason; anything else non-zero is a plain venue error.
RET_CODES: dict[int, Reason] = {
    10006: Reason.RATE_LIMITED,  # Too many visits. Exceeded the API Rate Limit.
    10018: Reason.RATE_LIMITED,  # Exceeded the IP Rate Limit.
    10000: Reason.HTTP_5XX,  # Server Timeout
    10016: Reason.HTTP_5XX,  # Server error / service restarting
    429: Reason.HTTP_5XX,  # UTA: trading service under high server load
    10024: Reason.GEO_BLOCKED,  # Compliance rules triggered
}


@register_adapter
class BybitAdapter(VenueAdapter):
    name = "bybit"
    rest_url = "https://api.bybit.com"
    ws_url = "wss://stream.bybit.com/v5/public/spot"
    time_call = RestCall("/v5/market/time")
    status_call = RestCall("/v5/system/status")
    keepalive = Keepalive(interval=20.0, frame='{"op":"ping"}', timeout=10.0)

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}{market.quote}"

    @property
    def topic(self) -> str:
        return f"publicTrade.{self.symbol}"

    # -- REST --------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        result = body["result"]
        if not isinstance(result, dict):
            raise TypeError("result is not an object")
        if "timeNano" in result:
            return nanos_to_seconds(integer(result["timeNano"]))
        return float(integer(result["timeSecond"]))

    def parse_status(self, body: Any) -> VenueStatus:
        entries = body["result"]["list"]
        if not isinstance(entries, list):
            raise TypeError("result.list is not an array")
        now_ms = integer(body["time"]) if "time" in body else int(time.time() * 1000)
        ongoing: list[str] = []
        for entry in entries:
            if not isinstance(entry, dict):
                raise TypeError("maintenance entry is not an object")
            state = entry["state"]
            if not isinstance(state, str):
                raise TypeError("state is not a string")
            if state.lower() in _FINISHED_STATES:
                continue
            if integer(entry["begin"]) <= now_ms:
                title = entry.get("title")
                ongoing.append(f"{title if isinstance(title, str) else '?'} ({state})")
        if ongoing:
            return VenueStatus(maintenance=True, detail="; ".join(ongoing)[:200])
        return VenueStatus(maintenance=False)

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict) or "retCode" not in body:
            return None
        code = body["retCode"]
        if code == 0 and not isinstance(code, bool):
            return None
        message = body.get("retMsg")
        detail = f"retCode {shown(code, 20)}: {message if isinstance(message, str) else ''}"[:200]
        if isinstance(code, int) and not isinstance(code, bool):
            return RET_CODES.get(code) or unknown_code_reason(http_status), detail
        return Reason.INVALID_RESPONSE, detail

    def rate_limit_used_ratio(self, headers: Mapping[str, str]) -> float | None:
        limit = header_integer(headers, "X-Bapi-Limit")
        remaining = header_integer(headers, "X-Bapi-Limit-Status")
        if limit is None or remaining is None or limit <= 0:
            return None
        return min(1.0, max(0.0, 1.0 - remaining / limit))

    # -- stream ------------------------------------------------------------------------

    def subscribe_frames(self) -> Sequence[str]:
        return [orjson.dumps({"op": "subscribe", "args": [self.topic]}).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
        try:
            return self._classify(json_frame(frame))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
            return _MALFORMED

    def _classify(self, message: Any) -> StreamEvent:
        if not isinstance(message, dict):
            return _MALFORMED
        if "topic" in message:
            return self._trades(message)
        op = message.get("op")
        if op in ("ping", "pong") and (message.get("ret_msg") == "pong" or op == "pong"):
            return StreamEvent(EventKind.PONG)
        if message.get("success") is False:
            reason = message.get("ret_msg")
            text = reason if isinstance(reason, str) else "request failed"
            return StreamEvent(EventKind.ERROR, detail=f"{short(op, 20)} failed: {text}"[:200])
        if op == "subscribe" and message.get("success") is True:
            return StreamEvent(EventKind.ACK, channel=self.topic)
        return StreamEvent.ignore()

    def _trades(self, message: dict[str, Any]) -> StreamEvent:
        if message["topic"] != self.topic:
            return StreamEvent.ignore()
        newest, newest_ms = newest_trade(message["data"], "T")
        trade_price = price(newest["p"], max_text=None) if newest is not None else None
        if "ts" in message:
            event_time: float | None = millis_to_seconds(integer(message["ts"]))
        else:
            event_time = millis_to_seconds(newest_ms) if newest is not None else None
        return StreamEvent(
            EventKind.DATA, event_time=event_time, price=trade_price, channel=self.topic
        )
