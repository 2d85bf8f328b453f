"""Judgement across targets, in one place: cross-venue price divergence.

(Chain heads, halts and dependency outages join this module as those capabilities land.)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.prices import Quote


@dataclass(frozen=True, slots=True)
class PriceJudgement:
    market: str
    prices: dict[str, float]  # fresh venues only
    deviations: dict[str, float]  # venue -> signed ratio: price / reference - 1
    reference: str  # "median of the others" or "peg 1.0"
    stale: dict[str, float] = field(default_factory=dict)  # venue -> age in seconds
    missing: list[str] = field(default_factory=list)  # no price seen yet

    def divergent(self, max_deviation: float) -> dict[str, float]:
        return {v: d for v, d in self.deviations.items() if abs(d) > max_deviation}


def judge_prices(
    market: str,
    quotes: Mapping[str, Quote],
    venues: Sequence[str],
    *,
    now: float,
    stale_after: float,
    peg: float | None = None,
) -> PriceJudgement:
    """Each fresh venue's price against the median of the *other* fresh venues (so one venue
    far off cannot drag its own reference), or against the peg for a stablecoin. Stale and
    missing venues are left out, never called divergent."""
    fresh: dict[str, float] = {}
    stale: dict[str, float] = {}
    missing: list[str] = []
    for venue in venues:
        quote = quotes.get(venue)
        if quote is None:
            missing.append(venue)
        elif now - quote.at > stale_after:
            stale[venue] = now - quote.at
        elif quote.price > 0:
            fresh[venue] = quote.price
        else:
            missing.append(venue)
    deviations: dict[str, float] = {}
    for venue, price in fresh.items():
        if peg is not None:
            reference = peg
        else:
            others = [p for v, p in fresh.items() if v != venue]
            if not others:
                continue
            reference = statistics.median(others)
        deviations[venue] = price / reference - 1.0
    label = f"peg {peg:g}" if peg is not None else "median of the others"
    return PriceJudgement(market, fresh, deviations, label, stale, missing)
