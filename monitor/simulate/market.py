"""Simulated market data: a random-walk price per symbol, and trades drawn from it."""

from __future__ import annotations

import itertools
import random
import time
from decimal import Decimal
from typing import Any

START_PRICES: dict[str, float] = {
    "BTCUSDT": 65_000.0,
    "ETHUSDT": 3_200.0,
    "SOLUSDT": 150.0,
    "BNBUSDT": 580.0,
}
STEP = 0.0005  # relative standard deviation of one step
TRADE_QTY = "0.01"


def now_ms() -> int:
    return int(time.time() * 1000)


class Market:
    """Prices of the listed symbols; every read of a price moves it by one small step."""

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._prices = dict(START_PRICES)
        self._trade_ids = itertools.count(1)

    def lists(self, symbol: str) -> bool:
        return symbol in self._prices

    @property
    def symbols(self) -> list[str]:
        return list(self._prices)

    def price(self, symbol: str) -> str:
        """The next price of `symbol` as Binance prints it (8 decimals)."""
        price = self._prices[symbol] * (1.0 + self._random.gauss(0.0, STEP))
        self._prices[symbol] = price
        return str(Decimal(price).quantize(Decimal("0.00000001")))

    def trade(self, symbol: str) -> dict[str, Any]:
        """A Binance `<symbol>@trade` event happening now."""
        at = now_ms()
        return {
            "e": "trade",
            "E": at,
            "s": symbol,
            "t": next(self._trade_ids),
            "p": self.price(symbol),
            "q": TRADE_QTY,
            "T": at,
            "m": self._random.random() < 0.5,
            "M": True,
        }
