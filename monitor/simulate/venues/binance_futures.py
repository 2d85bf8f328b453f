"""Binance USDⓈ-M futures, as checks/exchanges/binance.py documents it.

REST as Binance spot under /fapi/v1 (ping, time, ticker/price) with the same error bodies and
X-MBX-USED-WEIGHT-1M (limit 2400 a minute). No public status endpoint is documented: in
maintenance every request is answered 503 with -1001 ("Internal error"), the answer Binance
documents for a backend that cannot process requests (an assumption: Binance documents no
maintenance body for futures).

Stream: routed at /market/ws (and /market/ws/<symbol>@aggTrade); `<symbol>@aggTrade` events
number trades by their aggregate id `a` (consecutive per symbol). The server pings every
3 minutes and drops a client with no pong for 10 minutes.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, ClassVar

from monitor.simulate.market import Trade
from monitor.simulate.venues.base import Answer, Client, Frame, ServerKeepalive
from monitor.simulate.venues.binance import Binance

INTERNAL_ERROR = "Internal error; unable to process your request. Please try again."


class BinanceFutures(Binance):
    name = "binance-futures"
    ws_paths = ("/market/ws", "/market/ws/{stream}")
    time_path = "/fapi/v1/time"
    status_path: ClassVar[str | None] = None
    ticker_path: ClassVar[str | None] = "/fapi/v1/ticker/price"
    static: ClassVar[Mapping[str, Any]] = {"/fapi/v1/ping": {}}
    keepalive = ServerKeepalive(ping_every=180.0, pong_within=600.0)
    rate_limit = 2400
    weights: ClassVar[Mapping[str, int]] = {"/fapi/v1/ticker/price": 1}
    all_prices_weight: ClassVar[int] = 2
    trade_event: ClassVar[str] = "aggTrade"

    @staticmethod
    def decimal(price: Decimal) -> str:
        return format(price, "f")  # futures prints the tick, not 8 decimals

    def maintenance(self) -> Answer:
        return Answer({"code": -1001, "msg": INTERNAL_ERROR}, 503)

    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        return {
            "e": "aggTrade",
            "E": trade.at_ms,
            "s": self.symbol(trade.market),
            "a": trade.trade_id,
            "p": self.decimal(trade.price),
            "q": trade.qty,
            "f": trade.trade_id * 3,
            "l": trade.trade_id * 3,
            "T": trade.at_ms,
            "m": not trade.buy,
        }
