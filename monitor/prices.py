"""The price board: the latest price each exchange stream has seen, per market and venue.

Exchange streams publish into it as trades arrive (a dict write); `price` targets read it.
No extra connections are opened for price checks.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Quote:
    price: float
    at: float  # wall clock, unix seconds, when outagemon received it
    source: str  # the exchange target that saw it


class PriceBoard:
    def __init__(self) -> None:
        self._quotes: dict[str, dict[str, Quote]] = {}

    def publish(self, market: str, venue: str, price: float, at: float, source: str) -> None:
        self._quotes.setdefault(market, {})[venue] = Quote(price, at, source)

    def quotes(self, market: str) -> dict[str, Quote]:
        return dict(self._quotes.get(market, {}))

    def forget(self, source: str) -> None:
        """Drop the quotes a removed or redefined target published."""
        for venues in self._quotes.values():
            for venue in [v for v, q in venues.items() if q.source == source]:
                del venues[venue]
