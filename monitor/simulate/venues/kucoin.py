"""KuCoin spot (classic API), as checks/exchanges/kucoin.py documents it.

REST: every answer is `{"code": "200000", "data": ...}`. GET /api/v1/timestamp (data: ms),
/api/v1/status (`{"status": "open" | "close", "msg"}`), /api/v1/market/orderbook/level1?
symbol=BTC-USDT. POST /api/v1/bullet-public hands out a token and this venue's own WebSocket
server with pingInterval 18000 and pingTimeout 10000 (ms). Answers carry gw-ratelimit-limit,
gw-ratelimit-remaining and gw-ratelimit-reset (a pool of 2000 per 30 s). Errors: 500000
internal server error, 429000 too many requests (429), 400301 restricted due to local laws
(sent with 451).

Stream at / with `?token=<token>&connectId=<id>` (an unknown token is refused with an error
frame): `{"id", "type": "welcome"}` first; `{"type": "subscribe", "topic":
"/market/match:BTC-USDT", "response": true}` acknowledged `{"id", "type": "ack"}`; matches
`{"type": "message", "topic", "subject": "trade.l3match", "data": {..., "time": ns string}}`;
`{"id", "type": "ping"}` answered `{"id", "type": "pong"}`. A client that has not pinged for
pingInterval + pingTimeout is disconnected (the docs say "for a long time"; this is the
reading client libraries make of the two numbers).
"""

from __future__ import annotations

import secrets
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive, Shape

OK = "200000"
TOPIC = "/market/match:"
PING_INTERVAL = 18.0  # seconds, as the bullet says
PING_TIMEOUT = 10.0


def _ok(data: Any) -> dict[str, Any]:
    return {"code": OK, "data": data}


class Kucoin(Shape):
    name = "kucoin"
    ws_paths = ("/",)
    time_path = "/api/v1/timestamp"
    status_path: ClassVar[str | None] = "/api/v1/status"
    ticker_path: ClassVar[str | None] = "/api/v1/market/orderbook/level1"
    bullet_path: ClassVar[str | None] = "/api/v1/bullet-public"
    keepalive = ServerKeepalive(client_ping_within=PING_INTERVAL + PING_TIMEOUT)
    rate_window = 30.0
    rate_limit = 2000

    def symbol(self, market: str) -> str:
        return market  # BTC-USDT

    # -- REST ------------------------------------------------------------------------------

    def rate_headers(self, used: int, reset_ms: int) -> dict[str, str]:
        return {"gw-ratelimit-limit": str(self.rate_limit),
                "gw-ratelimit-remaining": str(max(self.rate_limit - used, 0)),
                "gw-ratelimit-reset": str(reset_ms)}

    def time_body(self, now_ns: int) -> Any:
        return _ok(now_ns // 1_000_000)

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        if maintenance:
            return _ok({"status": "close", "msg": "upgrade match engine"})
        return _ok({"status": "open", "msg": ""})

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        last = format(price, "f")
        return _ok({"time": now_ms, "sequence": str(now_ms), "price": last, "size": "0.01",
                    "bestBid": last, "bestBidSize": "1", "bestAsk": last, "bestAskSize": "1"})

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer({"code": "400100", "msg": "This pair is not provided at present"}, 400)

    def bullet_body(self, endpoint: str, token: str, keepalive_scale: float) -> Any:
        return _ok({"token": token, "instanceServers": [{
            "endpoint": endpoint,
            "encrypt": False,
            "protocol": "websocket",
            "pingInterval": max(round(PING_INTERVAL * keepalive_scale * 1000), 1),
            "pingTimeout": max(round(PING_TIMEOUT * keepalive_scale * 1000), 1),
        }]})

    def overloaded(self, status: int) -> Answer:
        return Answer({"code": "500000", "msg": "Internal Server Error"}, status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        return Answer({"code": "429000", "msg": "Too Many Requests"}, 429,
                      {"gw-ratelimit-remaining": "0"})

    def geo_blocked(self) -> Answer:
        return Answer({"code": "400301", "msg": "Operation restricted due to local laws, "
                       "regulations, or policies."}, 451)

    # -- stream ----------------------------------------------------------------------------

    def on_open(self, client: Client) -> list[Frame]:
        connect_id = client.query.get("connectId", "")
        if connect_id:
            client.id = connect_id[:64]
        if client.query.get("token") not in client.tokens:
            client.refused = "invalid token"
            return [{"id": client.id, "type": "error", "code": 401, "data": "token is invalid"}]
        return [{"id": client.id, "type": "welcome"}]

    def on_message(self, client: Client, text: str) -> list[Frame]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            request = None
        if not isinstance(request, dict):
            return [{"id": client.id, "type": "error", "code": 400, "data": "invalid message"}]
        request_id, kind = request.get("id", client.id), request.get("type")
        if kind == "ping":
            client.pinged()
            return [{"id": request_id, "type": "pong"}]
        topic = request.get("topic")
        if kind != "subscribe" or not isinstance(topic, str) or not topic.startswith(TOPIC):
            return [{"id": request_id, "type": "error", "code": 404,
                     "data": f"topic {topic} is not found"[:120]}]
        symbols = topic.removeprefix(TOPIC).split(",")
        markets = [self.market_of(symbol) for symbol in symbols]
        if None in markets:
            return [{"id": request_id, "type": "error", "code": 404,
                     "data": f"topic {topic} is not found"[:120]}]
        for symbol, market in zip(symbols, markets, strict=True):
            assert market is not None
            client.subscribe(market, symbol)
        return [{"id": request_id, "type": "ack"}] if request.get("response") else []

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        symbol = client.markets[trade.market]
        return {"topic": TOPIC + symbol, "type": "message", "subject": "trade.l3match", "data": {
            "makerOrderId": secrets.token_hex(12),
            "price": format(trade.price, "f"),
            "sequence": str(trade.trade_id),
            "side": "buy" if trade.buy else "sell",
            "size": trade.qty,
            "symbol": symbol,
            "takerOrderId": secrets.token_hex(12),
            "time": str(trade.at_ns),
            "tradeId": str(trade.trade_id),
            "type": "match",
        }}
