"""Venue shapes: one module per exchange adapter in checks/exchanges, each saying how that
venue's REST API and WebSocket stream look (see base.py).

A venue's shape is given explicitly (World(venues={"okx-sim": "okx"})) or follows from its
name: the longest shape name the venue name starts with, followed by the end or by one of
"-", "_", "." ("binance-futures-sim" is binance-futures, "okx2" is not okx); Binance spot for
any other name.
"""

from __future__ import annotations

from monitor.simulate.venues.base import Shape
from monitor.simulate.venues.binance import Binance
from monitor.simulate.venues.binance_futures import BinanceFutures
from monitor.simulate.venues.bitget import Bitget
from monitor.simulate.venues.bybit import Bybit
from monitor.simulate.venues.coinbase import Coinbase
from monitor.simulate.venues.kraken import Kraken
from monitor.simulate.venues.kucoin import Kucoin
from monitor.simulate.venues.okx import Okx

DEFAULT_SHAPE = "binance"
SHAPES: dict[str, type[Shape]] = {
    shape.name: shape
    for shape in (Binance, BinanceFutures, Coinbase, Kraken, Okx, Bybit, Kucoin, Bitget)
}


def shape_for(venue: str) -> str:
    """The shape a venue name implies (see the module doc)."""
    matches = [name for name in SHAPES
               if venue.startswith(name) and venue[len(name):len(name) + 1] in ("", "-", "_", ".")]
    return max(matches, key=len, default=DEFAULT_SHAPE)


def make_shape(name: str) -> Shape:
    try:
        return SHAPES[name]()
    except KeyError:
        raise ValueError(f"unknown venue shape {name!r}; shapes: {', '.join(SHAPES)}") from None


def one_venue_per_shape(suffix: str = "-sim") -> dict[str, str]:
    """{"binance-sim": "binance", "okx-sim": "okx", ...}: every shape once."""
    return {f"{name}{suffix}": name for name in SHAPES}


__all__ = ["DEFAULT_SHAPE", "SHAPES", "Shape", "make_shape", "one_venue_per_shape", "shape_for"]
