"""OKX v5, as checks/exchanges/okx.py documents it.

REST: every answer is `{"code": "0", "msg": "", "data": [...]}`. GET /api/v5/public/time
`data[0].ts` (ms string); /api/v5/system/status: the maintenance events, `[]` normally, one
`ongoing` trading-service (serviceType 5) production event in maintenance;
/api/v5/market/ticker?instId=BTC-USDT. Errors: 50001 service temporarily unavailable (503),
50011 rate limit reached (429), 50051 compliance restrictions in your country or region (sent
with 451).

Stream at /ws/v5/public: `{"op": "subscribe", "args": [{"channel": "trades", "instId"}]}`
answered per arg with `{"event": "subscribe", "arg", "connId"}` (or `{"event": "error",
"code", "msg", "connId"}`), then trades `{"arg", "data": [{instId, tradeId, px, sz, side, ts,
count, source, seqId}]}`. The text `ping` is answered `pong`. OKX breaks a connection that has
not subscribed, or to which nothing was pushed, for 30 seconds (a pong counts as a push).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive, Shape

CHANNEL = "trades"
HALF_HOUR_MS = 30 * 60 * 1000


def _ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


def _error(code: str, msg: str, status: int) -> Answer:
    return Answer({"code": code, "msg": msg, "data": []}, status)


class Okx(Shape):
    name = "okx"
    ws_paths = ("/ws/v5/public",)
    time_path = "/api/v5/public/time"
    status_path: ClassVar[str | None] = "/api/v5/system/status"
    ticker_path: ClassVar[str | None] = "/api/v5/market/ticker"
    ticker_param: ClassVar[str] = "instId"
    keepalive = ServerKeepalive(idle_after=30.0, subscribe_within=30.0)

    def symbol(self, market: str) -> str:
        return market  # instId, BTC-USDT

    # -- REST ------------------------------------------------------------------------------

    def time_body(self, now_ns: int) -> Any:
        return _ok([{"ts": str(now_ns // 1_000_000)}])

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        if not maintenance:
            return _ok([])
        return _ok([{
            "begin": str(now_ms - 60_000),
            "end": str(now_ms + HALF_HOUR_MS),
            "href": "",
            "preOpenBegin": "",
            "scheDesc": "",
            "serviceType": "5",
            "state": "ongoing",
            "maintType": "1",
            "env": "1",
            "system": "unified",
            "title": "Trading system upgrade",
        }])

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        last = format(price, "f")
        return _ok([{"instType": "SPOT", "instId": symbol, "last": last, "lastSz": "0.01",
                     "askPx": last, "bidPx": last, "ts": str(now_ms)}])

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return _error("51001", "Instrument ID, Instrument ID code or Spread ID doesn't exist.",
                      200)

    def overloaded(self, status: int) -> Answer:
        return _error("50001", "Service temporarily unavailable. Please try again later.",
                      status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        return _error("50011", "Rate limit reached. Please refer to API documentation and "
                      "throttle requests accordingly.", 429)

    def geo_blocked(self) -> Answer:
        return _error("50051", "Due to compliance restrictions in your country or region, you "
                      "cannot use this feature.", 451)

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
            return [{"event": "error", "code": "60012", "msg": f"Invalid request: {text}"[:200],
                     "connId": client.id}]
        frames: list[Frame] = []
        for arg in args:
            inst_id = arg.get("instId") if isinstance(arg, dict) else None
            market = self.market_of(inst_id) if isinstance(inst_id, str) else None
            if not isinstance(arg, dict) or arg.get("channel") != CHANNEL or market is None:
                frames.append({"event": "error", "code": "60018",
                               "msg": f"Wrong URL or channel:{arg} doesn't exist."[:200],
                               "connId": client.id})
                continue
            client.subscribe(market, str(inst_id))
            frames.append({"event": "subscribe", "arg": {"channel": CHANNEL, "instId": inst_id},
                           "connId": client.id})
        return frames

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        inst_id = client.markets[trade.market]
        return {"arg": {"channel": CHANNEL, "instId": inst_id}, "data": [{
            "instId": inst_id,
            "tradeId": str(trade.trade_id),
            "px": format(trade.price, "f"),
            "sz": trade.qty,
            "side": "buy" if trade.buy else "sell",
            "ts": str(trade.at_ms),
            "count": "1",
            "source": "0",
            "seqId": trade.trade_id,
        }]}

