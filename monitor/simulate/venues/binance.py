"""Binance spot, as checks/exchanges/binance.py documents it.

REST: GET /api/v3/ping `{}`, /api/v3/time `{"serverTime"}`, /sapi/v1/system/status
`{"status": 0, "msg": "normal"}` (1, "system_maintenance" in maintenance), /api/v3/ticker/price
(weight 2, or 4 for every symbol). Every answer carries X-MBX-USED-WEIGHT-1M, the weight used
in the current wall-clock minute. Errors are `{"code": <negative>, "msg"}`: -1008 overloaded,
-1003 with 429 (418 once banned) and Retry-After, 451 with the restricted-location text.

Stream: raw streams at /ws (and /ws/<symbol>@trade); SUBSCRIBE, UNSUBSCRIBE and
LIST_SUBSCRIPTIONS answer `{"result": ..., "id"}`, errors `{"error": {"code", "msg"}, "id"}`.
`<symbol>@trade` events carry E (event time, ms), p (price, 8 decimals) and t (trade id,
consecutive per symbol). The server pings every 20 s and drops a client with no pong for a
minute; WebSocket libraries answer pings by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive, Shape

OVERLOADED = ("Server is currently overloaded with other requests. "
              "Please try again in a few minutes.")
TOO_MUCH_WEIGHT = ("Too much request weight used; current limit is {limit} request weight per "
                   "1 MINUTE. Please use WebSocket Streams for live updates to avoid polling "
                   "the API.")
IP_BANNED = ("Way too much request weight used; IP banned until {until}. Please use WebSocket "
             "Streams for live updates to avoid bans.")
RESTRICTED_LOCATION = (
    "Service unavailable from a restricted location according to 'b. Eligibility' in "
    "https://www.binance.com/en/terms. Please contact customer service if you believe you "
    "received this message in error.")
WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
_EIGHT = Decimal("0.00000001")


def _error(code: int, msg: str, request_id: Any) -> Frame:
    return {"error": {"code": code, "msg": msg}, "id": request_id}


class Binance(Shape):
    name = "binance"
    ws_paths = ("/ws", "/ws/{stream}")
    time_path = "/api/v3/time"
    status_path: ClassVar[str | None] = "/sapi/v1/system/status"
    ticker_path: ClassVar[str | None] = "/api/v3/ticker/price"
    ticker_lists_all: ClassVar[bool] = True
    static: ClassVar[Mapping[str, Any]] = {"/api/v3/ping": {}}
    keepalive = ServerKeepalive(ping_every=20.0, pong_within=60.0)
    rate_window = 60.0
    rate_limit = 6000
    weights: ClassVar[Mapping[str, int]] = {"/api/v3/ticker/price": 2}
    all_prices_weight: ClassVar[int] = 4
    trade_event: ClassVar[str] = "trade"

    def symbol(self, market: str) -> str:
        return market.replace("-", "")

    @staticmethod
    def decimal(price: Decimal) -> str:
        return format(price.quantize(_EIGHT), "f")

    # -- REST ------------------------------------------------------------------------------

    def weight(self, path: str, query: Mapping[str, str]) -> int:
        if path == self.ticker_path and "symbol" not in query:
            return self.all_prices_weight
        return self.weights.get(path, 1)

    def rate_headers(self, used: int, reset_ms: int) -> dict[str, str]:
        return {WEIGHT_HEADER: str(used)}

    def time_body(self, now_ns: int) -> Any:
        return {"serverTime": now_ns // 1_000_000}

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        if maintenance:
            return {"status": 1, "msg": "system_maintenance"}
        return {"status": 0, "msg": "normal"}

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        return {"symbol": symbol, "price": self.decimal(price)}

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer({"code": -1121, "msg": "Invalid symbol."}, 400)

    def overloaded(self, status: int) -> Answer:
        return Answer({"code": -1008, "msg": OVERLOADED}, status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        headers = {"Retry-After": str(retry_after)}
        if status == 418:
            until = int((time.time() + retry_after) * 1000)
            return Answer({"code": -1003, "msg": IP_BANNED.format(until=until)}, 418, headers)
        message = TOO_MUCH_WEIGHT.format(limit=self.rate_limit)
        return Answer({"code": -1003, "msg": message}, 429, headers)

    def geo_blocked(self) -> Answer:
        return Answer({"code": 0, "msg": RESTRICTED_LOCATION}, 451)

    # -- stream ----------------------------------------------------------------------------

    def on_url(self, client: Client, stream: str) -> None:
        self._subscribe(client, [stream])

    def on_message(self, client: Client, text: str) -> list[Frame]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [_error(3, "Invalid JSON: expected value", None)]
        if not isinstance(request, dict):
            return [_error(2, "Invalid request: expected an object", None)]
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return [_error(1, "Invalid value type: expected a list of stream names", request_id)]
        if method == "SUBSCRIBE":
            problem = self._subscribe(client, params)
        elif method == "UNSUBSCRIBE":
            problem = self._unsubscribe(client, params)
        elif method == "LIST_SUBSCRIPTIONS":
            return [{"result": list(client.markets.values()), "id": request_id}]
        else:
            problem = f"unknown method {method!r}"
        if problem:
            return [_error(2, f"Invalid request: {problem}", request_id)]
        return [{"result": None, "id": request_id}]

    def _streams(self, streams: list[str]) -> list[tuple[str, str]] | str:
        found = []
        for stream in streams:
            symbol, _, kind = stream.partition("@")
            market = self.market_of(symbol.upper())
            if kind != self.trade_event or market is None:
                return f"unsupported stream {stream!r}"
            found.append((market, f"{symbol.lower()}@{kind}"))
        return found

    def _subscribe(self, client: Client, streams: list[str]) -> str | None:
        found = self._streams(streams)
        if isinstance(found, str):
            return found
        for market, stream in found:
            client.subscribe(market, stream)
        return None

    def _unsubscribe(self, client: Client, streams: list[str]) -> str | None:
        found = self._streams(streams)
        if isinstance(found, str):
            return found
        for market, _ in found:
            client.markets.pop(market, None)
        return None

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        return {
            "e": "trade",
            "E": trade.at_ms,
            "s": self.symbol(trade.market),
            "t": trade.trade_id,
            "p": self.decimal(trade.price),
            "q": self.decimal(Decimal(trade.qty)),
            "T": trade.at_ms,
            "m": not trade.buy,
            "M": True,
        }
