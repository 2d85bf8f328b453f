"""Bitget spot (API v2), as checks/exchanges/bitget.py documents it.

REST: every answer is `{"code": "00000", "msg": "success", "requestTime", "data"}`. GET
/api/v2/public/time (`data.serverTime`, a ms string), /api/v2/spot/market/tickers?
symbol=BTCUSDT. Answers carry x-mbx-used-remain-limit (what is left of 20 requests a second).
Errors: 429 `{"code": "429", "msg": "Too Many Requests"}`; overloaded `40725` ("service
return an error", one of the codes documented for backend release windows). Bitget documents
no status endpoint: in maintenance every request is answered 503 with that same release-window
error. No error code for a restricted location is documented: geo_block answers 451 with a
plain page, as a CDN in front of the API would.

Stream at /v2/ws/public: `{"op": "subscribe", "args": [{"instType": "SPOT", "channel":
"trade", "instId": "BTCUSDT"}]}` answered `{"event": "subscribe", "arg"}`, then a snapshot
and updates `{"action", "arg", "data": [{ts, price, size, side, tradeId}], "ts"}`. The text
`ping` is answered `pong`; a client that has not sent `ping` for 2 minutes is disconnected,
even while data flows.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive, Shape

OK = "00000"
RELEASE_WINDOW = ("40725", "service return an error")
RESTRICTED_PAGE = b"<html><body><h1>451 Unavailable For Legal Reasons</h1></body></html>"


def _body(code: str, msg: str, data: Any) -> dict[str, Any]:
    return {"code": code, "msg": msg, "requestTime": time.time_ns() // 1_000_000, "data": data}


def _trade(trade: Trade) -> dict[str, Any]:
    return {"ts": str(trade.at_ms), "price": format(trade.price, "f"), "size": trade.qty,
            "side": "buy" if trade.buy else "sell", "tradeId": str(trade.trade_id)}


class Bitget(Shape):
    name = "bitget"
    ws_paths = ("/v2/ws/public",)
    time_path = "/api/v2/public/time"
    ticker_path: ClassVar[str | None] = "/api/v2/spot/market/tickers"
    keepalive = ServerKeepalive(client_ping_within=120.0)
    rate_window = 1.0
    rate_limit = 20

    def symbol(self, market: str) -> str:
        return market.replace("-", "")

    @staticmethod
    def arg(symbol: str) -> dict[str, str]:
        return {"instType": "SPOT", "channel": "trade", "instId": symbol}

    # -- REST ------------------------------------------------------------------------------

    def rate_headers(self, used: int, reset_ms: int) -> dict[str, str]:
        return {"x-mbx-used-remain-limit": str(max(self.rate_limit - used, 0))}

    def time_body(self, now_ns: int) -> Any:
        return _body(OK, "success", {"serverTime": str(now_ns // 1_000_000)})

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        last = format(price, "f")
        return _body(OK, "success", [{"symbol": symbol, "lastPr": last, "bidPr": last,
                                      "askPr": last, "ts": str(now_ms)}])

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer(_body("40034", "Parameter symbol does not exist", None), 400)

    def overloaded(self, status: int) -> Answer:
        return Answer(_body(*RELEASE_WINDOW, None), status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        return Answer(_body("429", "Too Many Requests", None), 429,
                      {"x-mbx-used-remain-limit": "0"})

    def geo_blocked(self) -> Answer:
        return Answer(RESTRICTED_PAGE, 451, content_type="text/html")

    # -- stream ----------------------------------------------------------------------------

    def on_message(self, client: Client, text: str) -> list[Frame]:
        if text == "ping":
            client.pinged()
            return ["pong"]
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        args = request.get("args") if isinstance(request, dict) else None
        if not isinstance(request, dict) or request.get("op") != "subscribe" or not (
                isinstance(args, list) and args):
            return [{"event": "error", "code": "30004", "msg": "op not exists"}]
        frames: list[Frame] = []
        for arg in args:
            symbol = arg.get("instId") if isinstance(arg, dict) else None
            market = self.market_of(symbol) if isinstance(symbol, str) else None
            if market is None or not isinstance(symbol, str) or arg != self.arg(symbol):
                frames.append({"event": "error", "code": "30001",
                               "msg": f"{arg} doesn't exist"[:120]})
                continue
            client.subscribe(market, symbol)
            frames.append({"event": "subscribe", "arg": self.arg(symbol)})
            trades = [_trade(trade) for trade in reversed(client.tape.recent(market))]
            frames.append({"action": "snapshot", "arg": self.arg(symbol), "data": trades,
                           "ts": time.time_ns() // 1_000_000})
        return frames

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        symbol = client.markets[trade.market]
        return {"action": "update", "arg": self.arg(symbol), "data": [_trade(trade)],
                "ts": trade.at_ms}
