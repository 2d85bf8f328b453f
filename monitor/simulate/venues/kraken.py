"""Kraken spot REST and WebSocket v2, as checks/exchanges/kraken.py documents it.

REST: every answer is `{"error": [...], "result": {...}}`, errors even inside HTTP 200.
GET /0/public/Time `{"unixtime", "rfc1123"}`, /0/public/SystemStatus `{"status": "online" |
"maintenance", "timestamp"}`, /0/public/Ticker?pair=XBTUSDT (REST pairs spell bitcoin XBT).
Overloaded: `EService:Unavailable`; rate limited: `EAPI:Rate limit exceeded` inside a 200; a
restricted location: 451 with `EGeneral:Permission denied` (Kraken documents no body for it).

Stream at /v2: the `status` channel on connect and whenever maintenance starts or ends;
`{"method": "subscribe", "params": {"channel": "trade", "symbol": ["BTC/USDT"]}}` answered
per symbol with `{"method": "subscribe", "result", "success": true, "time_in", "time_out"}`,
then a snapshot of recent trades and updates with RFC 3339 `timestamp`s and prices as JSON
numbers; `{"channel": "heartbeat"}` after a second without other traffic; `{"method":
"ping"}` answered with `{"method": "pong"}`. No idle rule is documented.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, Shape, rfc3339

HEARTBEAT_AFTER = 1.0  # seconds without traffic


def _trade(trade: Trade, symbol: str) -> dict[str, Any]:
    return {
        "symbol": symbol,
        "side": "buy" if trade.buy else "sell",
        "price": float(trade.price),
        "qty": float(trade.qty),
        "ord_type": "market",
        "trade_id": trade.trade_id,
        "timestamp": rfc3339(trade.at_ns, 6),
    }


def _result(result: Any) -> dict[str, Any]:
    return {"error": [], "result": result}


class Kraken(Shape):
    name = "kraken"
    ws_paths = ("/v2",)
    time_path = "/0/public/Time"
    status_path: ClassVar[str | None] = "/0/public/SystemStatus"
    ticker_path: ClassVar[str | None] = "/0/public/Ticker"
    ticker_param: ClassVar[str] = "pair"
    heartbeat_every: ClassVar[float | None] = HEARTBEAT_AFTER

    def __init__(self) -> None:
        super().__init__()
        self._pairs = {self.rest_pair(symbol): symbol for symbol in self._markets}

    def symbol(self, market: str) -> str:
        return market.replace("-", "/")  # v2 spells bitcoin BTC

    @staticmethod
    def rest_pair(symbol: str) -> str:
        return symbol.replace("BTC", "XBT").replace("/", "")

    def market_of(self, symbol: str) -> str | None:
        return super().market_of(self._pairs.get(symbol, symbol))

    # -- REST ------------------------------------------------------------------------------

    def time_body(self, now_ns: int) -> Any:
        seconds = now_ns // 1_000_000_000
        rfc1123 = time.strftime("%a, %d %b %y %H:%M:%S +0000", time.gmtime(seconds))
        return _result({"unixtime": seconds, "rfc1123": rfc1123})

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        stamp = rfc3339(now_ms * 1_000_000, 0)
        return _result({"status": "maintenance" if maintenance else "online",
                        "timestamp": stamp})

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        last = format(price, "f")
        return _result({symbol: {"c": [last, "0.00100000"], "a": [last, "1", "1.000"],
                                 "b": [last, "1", "1.000"]}})

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer({"error": ["EQuery:Unknown asset pair"]})

    def overloaded(self, status: int) -> Answer:
        return Answer({"error": ["EService:Unavailable"]}, status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        return Answer({"error": ["EAPI:Rate limit exceeded"]})

    def geo_blocked(self) -> Answer:
        return Answer({"error": ["EGeneral:Permission denied"]}, 451)

    # -- stream ----------------------------------------------------------------------------

    def status_frame(self, client: Client, maintenance: bool) -> Frame | None:
        return {"channel": "status", "type": "update", "data": [{
            "api_version": "v2",
            "connection_id": int(client.id, 16),
            "system": "maintenance" if maintenance else "online",
            "version": "2.0.10",
        }]}

    def on_message(self, client: Client, text: str) -> list[Frame]:
        time_in = rfc3339(time.time_ns())
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [{"error": "Malformed request", "success": False, "time_in": time_in,
                     "time_out": rfc3339(time.time_ns())}]
        if not isinstance(request, dict):
            request = {}
        method, req_id = request.get("method"), request.get("req_id")
        echo = {"req_id": req_id} if req_id is not None else {}
        if method == "ping":
            client.pinged()
            return [{"method": "pong", **echo, "time_in": time_in,
                     "time_out": rfc3339(time.time_ns())}]
        params = request.get("params")
        if method != "subscribe" or not isinstance(params, dict):
            return [{"error": f"Method not found: {method}"[:80], "method": method,
                     "success": False, **echo, "time_in": time_in,
                     "time_out": rfc3339(time.time_ns())}]
        symbols = params.get("symbol")
        if params.get("channel") != "trade" or not isinstance(symbols, list):
            return [{"error": "Channel not supported", "method": "subscribe", "success": False,
                     **echo, "time_in": time_in, "time_out": rfc3339(time.time_ns())}]
        frames: list[Frame] = []
        for symbol in symbols:
            market = self.market_of(symbol) if isinstance(symbol, str) else None
            done = {"time_in": time_in, "time_out": rfc3339(time.time_ns()), **echo}
            if market is None or not isinstance(symbol, str):
                frames.append({"error": f"Currency pair not supported {symbol}"[:80],
                               "method": "subscribe", "success": False, "symbol": symbol,
                               **done})
                continue
            client.subscribe(market, symbol)
            frames.append({"method": "subscribe", "result": {
                "channel": "trade", "snapshot": True, "symbol": symbol}, "success": True,
                **done})
            if params.get("snapshot", True):
                trades = [_trade(trade, symbol) for trade in client.tape.recent(market)]
                frames.append({"channel": "trade", "type": "snapshot", "data": trades})
        return frames

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        symbol = client.markets[trade.market]
        return {"channel": "trade", "type": "update", "data": [_trade(trade, symbol)]}

    def heartbeat_frame(self, client: Client, now: float) -> Frame | None:
        if client.subscribed and now - client.last_sent >= HEARTBEAT_AFTER:
            return {"channel": "heartbeat"}
        return None
