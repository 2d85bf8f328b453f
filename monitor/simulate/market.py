"""Simulated market data: one random walk per market shared by every venue of a world, and each
venue's trades on it.

Prices move with time, not with reads: a venue that quotes twice as often does not move the
market twice as fast. Crypto markets wander slowly around their start price; stablecoins are
pulled hard back to their peg. Each venue quotes the shared price with its own small, fixed
bias and a little noise per trade, so venues agree within a few basis points, and a
`price_offset` fault shifts one venue's quotes on top of that.
"""

from __future__ import annotations

import itertools
import math
import random
import re
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

MARKET_NAME = re.compile(r"[A-Z0-9]{1,20}-[A-Z0-9]{1,20}\Z")
RECENT_TRADES = 50  # kept per market for the snapshots some venues send on subscribe
HISTORY = 3  # trades a market gets in the past when first asked for recent ones


@dataclass(frozen=True, slots=True)
class Listing:
    start: float
    volatility: float  # relative standard deviation per square-root second
    reversion: float  # per second, towards `start`
    decimals: int  # price tick: 10 ** -decimals
    qty: str  # size of every simulated trade
    spread: float  # relative standard deviation of a venue's bias (and half its noise)


def _crypto(start: float, decimals: int, qty: str) -> Listing:
    return Listing(start, volatility=2e-4, reversion=1 / 3600, decimals=decimals, qty=qty,
                   spread=2e-4)


def _stable() -> Listing:
    return Listing(1.0, volatility=2e-5, reversion=0.2, decimals=4, qty="250", spread=5e-5)


MARKETS: dict[str, Listing] = {
    "BTC-USDT": _crypto(65_000.0, 2, "0.0015"),
    "ETH-USDT": _crypto(3_200.0, 2, "0.02"),
    "SOL-USDT": _crypto(150.0, 2, "1.5"),
    "BNB-USDT": _crypto(580.0, 2, "0.3"),
    "BTC-USD": _crypto(65_000.0, 2, "0.0015"),
    "ETH-USD": _crypto(3_200.0, 2, "0.02"),
    "USDC-USDT": _stable(),
    "USDT-USD": _stable(),
    "USDC-USD": _stable(),
    "USDE-USDT": _stable(),
}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def check_market(market: str) -> str:
    """`market` in BASE-QUOTE notation, upper case; ValueError if it is not listed."""
    name = market.strip().upper()
    if name not in MARKETS:
        raise ValueError(f"unknown market {market!r}; markets: {', '.join(MARKETS)}")
    return name


class PriceWalk:
    """The world's price of every market: an Ornstein-Uhlenbeck walk in log space, advanced
    lazily by the time since it was last read."""

    def __init__(self, seed: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._random = random.Random(seed)
        self._clock = clock
        self._log: dict[str, float] = {}
        self._at: dict[str, float] = {}

    def price(self, market: str) -> float:
        listing = MARKETS[market]
        now = self._clock()
        x = self._log.get(market, 0.0)
        elapsed = now - self._at.get(market, now)
        if elapsed > 0:
            k, sigma = listing.reversion, listing.volatility
            decay = math.exp(-k * elapsed)
            spread = sigma * math.sqrt((1.0 - decay * decay) / (2.0 * k))
            x = x * decay + spread * self._random.gauss(0.0, 1.0)
        self._log[market], self._at[market] = x, now
        return listing.start * math.exp(x)


@dataclass(frozen=True, slots=True)
class Trade:
    market: str  # BASE-QUOTE
    trade_id: int  # consecutive per venue and market
    price: Decimal  # quantized to the market's tick
    qty: str
    buy: bool  # the taker bought
    at_ns: int  # unix nanoseconds

    @property
    def at_ms(self) -> int:
        return self.at_ns // 1_000_000


class Tape:
    """One venue's trades: the shared price, the venue's bias and noise, and `offset(market)`
    (the relative shift a price_offset fault asks for, 0.0 when none)."""

    def __init__(self, walk: PriceWalk, rng: random.Random,
                 offset: Callable[[str], float]) -> None:
        self._walk = walk
        self._random = rng
        self._offset = offset
        self._bias = {market: rng.gauss(0.0, item.spread) for market, item in MARKETS.items()}
        self._ids = {market: itertools.count(rng.randrange(10**8, 10**9)) for market in MARKETS}
        self._recent: dict[str, deque[Trade]] = {}

    def quote(self, market: str) -> Decimal:
        listing = MARKETS[market]
        noise = self._random.gauss(0.0, listing.spread / 2)
        price = self._walk.price(market) * (1.0 + self._bias[market] + noise)
        price *= 1.0 + self._offset(market)
        tick = Decimal(1).scaleb(-listing.decimals)
        return max(Decimal(price).quantize(tick), tick)

    def trade(self, market: str, at_ns: int | None = None) -> Trade:
        trade = Trade(
            market=market,
            trade_id=next(self._ids[market]),
            price=self.quote(market),
            qty=MARKETS[market].qty,
            buy=self._random.random() < 0.5,
            at_ns=time.time_ns() if at_ns is None else at_ns,
        )
        self._recent.setdefault(market, deque(maxlen=RECENT_TRADES)).append(trade)
        return trade

    def recent(self, market: str) -> list[Trade]:
        """The latest trades of `market`, oldest first (a few in the past if none yet)."""
        if market not in self._recent:
            now = time.time_ns()
            for ago in range(HISTORY, 0, -1):
                self.trade(market, at_ns=now - ago * 1_000_000_000)
        return list(self._recent[market])
