"""Coinbase Advanced Trade, as checks/exchanges/coinbase.py documents it.

REST: GET /api/v3/brokerage/time `{"iso", "epochSeconds", "epochMillis"}` (strings), and
/api/v3/brokerage/market/products/{product_id} (a product with its `price`). Errors are
grpc-gateway bodies `{"error", "code", "message", "details"}`: UNAVAILABLE (503),
RESOURCE_EXHAUSTED (429). There is no public status endpoint: in maintenance every request
gets the 503 UNAVAILABLE answer. A restricted location is answered 451 with PERMISSION_DENIED
(Coinbase documents no body for it).

Stream at / (wss://advanced-trade-ws.coinbase.com): one subscribe per channel, `{"type":
"subscribe", "product_ids", "channel"}`, confirmed on the `subscriptions` channel. Every
message has the envelope `{"channel", "client_id", "timestamp" (RFC 3339, ns), "sequence_num"
(numbering every message of the connection), "events"}`. `market_trades` first sends a
snapshot, then updates; `heartbeats` ticks every second. A client that has not subscribed
within 5 seconds is disconnected.
"""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any, ClassVar

import orjson

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import (
    Answer,
    Client,
    Frame,
    ServerKeepalive,
    Shape,
    rfc3339,
)

CHANNELS = ("market_trades", "heartbeats")


def _grpc(error: str, code: int, message: str, status: int) -> Answer:
    return Answer({"error": error, "code": code, "message": message, "details": []}, status)


def _trade(trade: Trade, product_id: str) -> dict[str, Any]:
    return {
        "trade_id": str(trade.trade_id),
        "product_id": product_id,
        "price": format(trade.price, "f"),
        "size": trade.qty,
        "side": "BUY" if trade.buy else "SELL",
        "time": rfc3339(trade.at_ns, 6),
    }


class Coinbase(Shape):
    name = "coinbase"
    ws_paths = ("/",)
    time_path = "/api/v3/brokerage/time"
    ticker_path: ClassVar[str | None] = "/api/v3/brokerage/market/products/{symbol}"
    keepalive = ServerKeepalive(subscribe_within=5.0)
    heartbeat_every: ClassVar[float | None] = 1.0

    def symbol(self, market: str) -> str:
        return market  # product_id, BTC-USD

    # -- REST ------------------------------------------------------------------------------

    def time_body(self, now_ns: int) -> Any:
        return {
            "iso": rfc3339(now_ns, 3),
            "epochSeconds": str(now_ns // 1_000_000_000),
            "epochMillis": str(now_ns // 1_000_000),
        }

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        base, _, quote = symbol.partition("-")
        return {"product_id": symbol, "price": format(price, "f"), "base_currency_id": base,
                "quote_currency_id": quote, "status": "online", "trading_disabled": False}

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return _grpc("NOT_FOUND", 5, "product not found", 404)

    def overloaded(self, status: int) -> Answer:
        return _grpc("UNAVAILABLE", 14, "service is temporarily unavailable", status)

    def rate_limited(self, status: int, retry_after: int) -> Answer:
        return _grpc("RESOURCE_EXHAUSTED", 8, "too many requests", 429)

    def geo_blocked(self) -> Answer:
        return _grpc("PERMISSION_DENIED", 7, "not available in your region", 451)

    # -- stream ----------------------------------------------------------------------------

    def _envelope(self, client: Client, channel: str, events: list[Any]) -> Frame:
        return {
            "channel": channel,
            "client_id": "",
            "timestamp": rfc3339(time.time_ns(), 9),
            "sequence_num": client.number() - 1,  # Coinbase counts from 0
            "events": events,
        }

    def on_message(self, client: Client, text: str) -> list[Frame]:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return [{"type": "error", "message": "failure to parse message"}]
        if not isinstance(request, dict) or request.get("type") not in ("subscribe",
                                                                         "unsubscribe"):
            return [{"type": "error", "message": "unknown message type"}]
        channel, products = request.get("channel"), request.get("product_ids", [])
        if channel not in CHANNELS or not isinstance(products, list):
            return [{"type": "error", "message": "failure to subscribe"}]
        markets = [self.market_of(product) for product in products if isinstance(product, str)]
        if channel == "market_trades" and (not markets or None in markets):
            return [{"type": "error", "message": "failure to subscribe"}]
        subscribing = request["type"] == "subscribe"
        frames: list[Frame] = []
        if channel == "heartbeats":
            (client.channels.add if subscribing else client.channels.discard)("heartbeats")
            client.subscribed = client.subscribed or subscribing
        else:
            for product, market in zip(products, markets, strict=True):
                assert market is not None
                if not subscribing:
                    client.markets.pop(market, None)
                elif market not in client.markets:
                    client.subscribe(market, product)
        frames.append(self._envelope(client, "subscriptions", [{"subscriptions": {
            **({"heartbeats": ["heartbeats"]} if "heartbeats" in client.channels else {}),
            **({"market_trades": list(client.markets.values())} if client.markets else {}),
        }}]))
        if subscribing and channel == "market_trades":
            trades = [_trade(trade, product)
                      for product, market in zip(products, markets, strict=True)
                      if market is not None
                      for trade in reversed(client.tape.recent(market))]
            frames.append(self._envelope(client, "market_trades",
                                         [{"type": "snapshot", "trades": trades}]))
        return frames

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        product = client.markets[trade.market]
        return self._envelope(client, "market_trades",
                              [{"type": "update", "trades": [_trade(trade, product)]}])

    def heartbeat_frame(self, client: Client, now: float) -> Frame | None:
        if "heartbeats" not in client.channels:
            return None
        uptime = now - client.opened
        current = rfc3339(time.time_ns(), 9)[:-1].replace("T", " ")
        return self._envelope(client, "heartbeats", [{
            "current_time": f"{current} +0000 UTC m=+{uptime:.9f}",
            "heartbeat_counter": str(int(uptime)),
        }])
