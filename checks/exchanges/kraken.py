"""Kraken spot (`exchange: kraken`): REST plus WebSocket v2.

Documented facts this adapter relies on (docs.kraken.com and support.kraken.com):

- REST base https://api.kraken.com. Every answer is `{"error": [...], "result": {...}}`; a
  non-empty `error` array means the request failed, even inside HTTP 200. Each entry is
  `<severity><category>:<message>`, severity `E` (error) or `W` (warning).
- `GET /0/public/Time`: `result.unixtime` (integer seconds) and `result.rfc1123`.
- `GET /0/public/SystemStatus`: `result.status` is one of online | maintenance | cancel_only |
  post_only, plus `timestamp` and the additive advisory arrays `upcoming_maintenance` and
  `emergency`. maintenance: markets offline; cancel_only and post_only: "No order matching
  will occur".
- Error strings: `EAPI:Rate limit exceeded` and `EGeneral:Temporary lockout` (rate-limit
  errors); the support article groups `EService:...` as service status errors.
- WebSocket v2 public endpoint wss://ws.kraken.com/v2. Symbols are BASE/QUOTE and v2 spells
  bitcoin BTC where v1 said XBT ("BTC/USD" vs "XBT/USD").
- Subscribe `{"method": "subscribe", "params": {"channel": "trade", "symbol": [...]}}`;
  answer `{"method": "subscribe", "result": {...}, "success": true, "time_in", "time_out"}`,
  or `success: false` with an `error` string.
- Trade messages `{"channel": "trade", "type": "snapshot" | "update", "data": [{symbol, side,
  price, qty, ord_type, trade_id, timestamp (RFC 3339)}]}`; price and qty are JSON numbers.
  The snapshot carries the most recent trades.
- `{"channel": "heartbeat"}` arrives about once a second in the absence of other updates,
  automatically after any subscription. The `status` channel (`data[].system`, same values
  as SystemStatus) is sent on connect and on trading engine status changes.
- Application-level ping `{"method": "ping", "req_id"?}` answered by `{"method": "pong",
  ...}`.

Interpretation choices:

- cancel_only and post_only count as maintenance (no matching, so no trades); the detail says
  which mode. Any other unknown status string is not maintenance but is reported in detail.
- `EService:*` and `EGeneral:Internal error` map to http_5xx (the venue is down or
  overloaded even though HTTP said 200); rate-limit errors to rate_limited; anything else to
  error inside a 2xx answer, else to the reason of the HTTP status.
- Kraken documents no idle timeout that needs client pings (heartbeats flow by themselves);
  the documented ping is still sent every 30 s so a silently dead connection shows up as a
  missing pong.
- Trade snapshots count as data (they give the price at once) but carry no event time: their
  trades are old, so they would fake a huge lag.
- No sequence: `trade_id` numbers trades, not messages, and one message batches several.

Not confirmed: REST rate-limit headers (none are documented for public endpoints); the exact
texts `EService:Unavailable`, `EService:Busy` and `EGeneral:Internal error` (the support
article's service-status and internal-error sections could not be read in full; these are the
strings client libraries handle), hence the prefix match on `EService:`.
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
)
from checks.exchanges.parsing import (
    FrameError,
    is_int,
    json_frame,
    price,
    rfc3339_to_seconds,
    short,
)
from checks.http import status_verdict
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason

PING = '{"method":"ping"}'
_NOT_JSON = StreamEvent(EventKind.ERROR, detail="frame is not JSON")
_NOT_TRADING = frozenset({"maintenance", "cancel_only", "post_only"})
_RATE_LIMITED = ("EAPI:Rate limit exceeded", "EGeneral:Temporary lockout")
_V2_NAMES = {"XBT": "BTC"}  # REST/v1 asset codes that v2 spells differently


def _result(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise TypeError("answer must be a JSON object")
    result = body["result"]
    if not isinstance(result, dict):
        raise TypeError("result must be an object")
    return result


@register_adapter
class KrakenAdapter(VenueAdapter):
    name = "kraken"
    rest_url = "https://api.kraken.com"
    ws_url = "wss://ws.kraken.com/v2"
    time_call = RestCall("/0/public/Time")
    status_call = RestCall("/0/public/SystemStatus")
    keepalive = Keepalive(interval=30.0, frame=PING, timeout=10.0)

    # -- market ------------------------------------------------------------------------

    def venue_symbol(self, market: Market) -> str:
        base = _V2_NAMES.get(market.base, market.base)
        quote = _V2_NAMES.get(market.quote, market.quote)
        return f"{base}/{quote}"

    # -- REST --------------------------------------------------------------------------

    def parse_time(self, body: Any) -> float:
        unixtime = _result(body)["unixtime"]
        if not is_int(unixtime) or unixtime <= 0:
            raise ValueError(f"result.unixtime is not a positive integer: {short(unixtime)}")
        return float(unixtime)

    def parse_status(self, body: Any) -> VenueStatus:
        status = _result(body)["status"]
        if not isinstance(status, str):
            raise TypeError("result.status must be a string")
        return VenueStatus(maintenance=status in _NOT_TRADING, detail=f"status {short(status)}")

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict) or not isinstance(body.get("error"), list):
            return None
        errors = [entry for entry in body["error"] if isinstance(entry, str) and entry[:1] == "E"]
        if not errors:
            return None  # no errors, or warnings only
        detail = short(", ".join(errors))
        if any(entry.startswith(_RATE_LIMITED) for entry in errors):
            return Reason.RATE_LIMITED, f"rate limited: {detail}"
        if any(entry.startswith("EService:") or entry == "EGeneral:Internal error"
               for entry in errors):
            return Reason.HTTP_5XX, f"venue unavailable: {detail}"
        by_status = status_verdict(http_status, None)
        return (by_status[0] if by_status is not None else Reason.ERROR), f"venue error: {detail}"

    # -- stream ------------------------------------------------------------------------

    def subscribe_frames(self) -> Sequence[str]:
        request = {"method": "subscribe", "params": {"channel": "trade", "symbol": [self.symbol]}}
        return [orjson.dumps(request).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
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
        method = message.get("method")
        if method is not None:
            if message.get("success") is False or "error" in message:
                error = message.get("error") or "request failed"
                detail = short(f"{short(method)}: {short(error)}")
                return StreamEvent(EventKind.ERROR, detail=detail)
            if method == "pong":
                return StreamEvent(EventKind.PONG)
            if method == "subscribe" and message.get("success") is True:
                return StreamEvent(EventKind.ACK)
            return StreamEvent.ignore()
        channel = message.get("channel")
        if channel == "heartbeat":
            return StreamEvent(EventKind.HEARTBEAT)
        if channel == "status":
            return self._status(message)
        if channel != "trade":
            return StreamEvent.ignore()
        data = message["data"]
        if not isinstance(data, list):
            raise TypeError("trade data must be an array")
        latest: tuple[float, float] | None = None  # (trade time, price) of the newest trade
        for trade in data:
            if not isinstance(trade, dict):
                raise TypeError("trade must be an object")
            if trade.get("symbol") != self.symbol:
                continue
            trade_time = rfc3339_to_seconds(trade["timestamp"])
            candidate = (trade_time, price(trade["price"], strings=False))  # v2: JSON numbers
            if latest is None or candidate[0] > latest[0]:
                latest = candidate
        if latest is None:
            return StreamEvent.ignore()
        kind = message.get("type")
        if kind == "update":
            return StreamEvent(EventKind.DATA, event_time=latest[0], price=latest[1])
        if kind == "snapshot":  # old trades: a price, but no meaningful event time
            return StreamEvent(EventKind.DATA, price=latest[1])
        raise ValueError(f"unknown trade message type {short(kind)!r}")

    @staticmethod
    def _status(message: Mapping[str, Any]) -> StreamEvent:
        data = message["data"]
        if not isinstance(data, list) or not data or not isinstance(data[0], dict):
            raise TypeError("status data must be a non-empty array of objects")
        system = data[0]["system"]
        if system == "online":
            return StreamEvent(EventKind.IGNORE, detail="trading engine online")
        return StreamEvent(EventKind.ERROR, detail=f"trading engine status {short(system)}")
