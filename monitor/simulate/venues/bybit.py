"""Bybit v5 spot, as checks/exchanges/bybit.py documents it.

REST: every answer is `{"retCode", "retMsg", "result", "retExtInfo": {}, "time"}`, errors
inside HTTP 200. GET /v5/market/time `{"timeSecond", "timeNano"}` (strings);
/v5/system/status `result.list` of maintenance entries (empty normally, one `ongoing` entry in
maintenance); /v5/market/tickers?category=spot&symbol=BTCUSDT. Every answer carries
X-Bapi-Limit, X-Bapi-Limit-Status (remaining) and X-Bapi-Limit-Reset-Timestamp (600 requests
per 5 s per IP). Errors: 10016 server error (with the fault's 5xx status), 10006 too many
visits (inside a 200; 10018 IP rate limit with 403 for a ban), 10024 compliance rules
triggered (sent with 451).

Stream at /v5/public/spot: `{"op": "subscribe", "args": ["publicTrade.BTCUSDT"]}` answered
`{"success": true, "ret_msg": "", "conn_id", "req_id", "op": "subscribe"}`; trades `{"topic",
"type": "snapshot", "ts", "data": [{T, s, S, v, p, L, i, BT, seq}]}`; `{"op": "ping"}`
answered `{"success": true, "ret_msg": "pong", ..., "op": "ping"}`. With neither ping-pong
nor stream data for 10 minutes, Bybit cuts the connection.
"""

from __future__ import annotations

import time
import uuid
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive, Shape

TOPIC = "publicTrade."
HALF_HOUR_MS = 30 * 60 * 1000


def _body(code: int, msg: str, result: Any) -> dict[str, Any]:
    return {"retCode": code, "retMsg": msg, "result": result, "retExtInfo": {},
            "time": time.time_ns() // 1_000_000}


class Bybit(Shape):
    name = "bybit"
    ws_paths = ("/v5/public/spot",)
    time_path = "/v5/market/time"
    status_path: ClassVar[str | None] = "/v5/system/status"
    ticker_path: ClassVar[str | None] = "/v5/market/tickers"
    keepalive = ServerKeepalive(idle_after=600.0)
    rate_window = 5.0
    rate_limit = 600

    def symbol(self, market: str) -> str:
        return market.replace("-", "")

    # -- REST ------------------------------------------------------------------------------

    def rate_headers(self, used: int, reset_ms: int) -> dict[str, str]:
        reset_at = time.time_ns() // 1_000_000 + reset_ms
        return {"X-Bapi-Limit": str(self.rate_limit),
                "X-Bapi-Limit-Status": str(max(self.rate_limit - used, 0)),
                "X-Bapi-Limit-Reset-Timestamp": str(reset_at)}

    def time_body(self, now_ns: int) -> Any:
        return _body(0, "OK", {"timeSecond": str(now_ns // 1_000_000_000),
                               "timeNano": str(now_ns)})

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        entries = []
        if maintenance:
            entries.append({
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"bybit-sim/{now_ms // HALF_HOUR_MS}")),
                "title": "Matching engine maintenance",
                "state": "ongoing",
                "begin": str(now_ms - 60_000),
                "end": str(now_ms + HALF_HOUR_MS),
                "href": "",
                "serviceTypes": [2, 3],
                "product": [1, 2],
                "uidSuffix": [],
                "maintainType": 1,
                "env": 1,
            })
        return _body(0, "", {"list": entries})

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        last = format(price, "f")
        return _body(0, "OK", {"category": "spot", "list": [
            {"symbol": symbol, "lastPrice": last, "bid1Price": last, "ask1Price": last}]})

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer(_body(10001, "Not supported symbols", {}))

    def overloaded(self, status: int) -> Answer:
        return Answer(_body(10016, "Server error.", {}), status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        headers = {"X-Bapi-Limit-Status": "0"}
        if status == 418:
            return Answer(_body(10018, "Exceeded the IP Rate Limit.", {}), 403, headers)
        return Answer(_body(10006, "Too many visits!", {}), 200, headers)

    def geo_blocked(self) -> Answer:
        return Answer(_body(10024, "Compliance rules triggered", {}), 451)

    # -- stream ----------------------------------------------------------------------------

    def _reply(self, client: Client, op: Any, req_id: Any, *, success: bool = True,
               message: str = "") -> Frame:
        return {"success": success, "ret_msg": message, "conn_id": client.id,
                "req_id": req_id if isinstance(req_id, str) else "", "op": op}

    def on_message(self, client: Client, text: str) -> list[Frame]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return [self._reply(client, None, None, success=False,
                                message="error:request not valid json")]
        op, req_id, args = request.get("op"), request.get("req_id"), request.get("args")
        if op == "ping":
            client.pinged()
            return [self._reply(client, "ping", None, message="pong")]
        if op != "subscribe" or not isinstance(args, list):
            return [self._reply(client, op, req_id, success=False,
                                message=f"error:handler not found,op:{op}"[:120])]
        found = [(topic, self.market_of(topic.removeprefix(TOPIC)))
                 for topic in args if isinstance(topic, str) and topic.startswith(TOPIC)]
        if len(found) != len(args) or any(market is None for _, market in found):
            return [self._reply(client, "subscribe", req_id, success=False,
                                message=f"error:handler not found,topic:{args}"[:120])]
        for topic, market in found:
            assert market is not None
            client.subscribe(market, topic.removeprefix(TOPIC))
        return [self._reply(client, "subscribe", req_id)]

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        symbol = client.markets[trade.market]
        return {"topic": TOPIC + symbol, "type": "snapshot", "ts": trade.at_ms,
                "data": [{
                    "T": trade.at_ms,
                    "s": symbol,
                    "S": "Buy" if trade.buy else "Sell",
                    "v": trade.qty,
                    "p": format(trade.price, "f"),
                    "L": "PlusTick" if trade.buy else "MinusTick",
                    "i": str(trade.trade_id),
                    "BT": False,
                    "seq": trade.trade_id,
                }]}

