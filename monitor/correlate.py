"""Judgement across targets, in one place: cross-venue price divergence, and RPC providers
against the other providers of their chain (lag, stale heads, chain halts, rewinds).

(Dependency outages join this module with the alert engine.)
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, TypeGuard

from monitor.chains import profile
from monitor.observation import Fact, Observation, Reason
from monitor.prices import Quote
from monitor.schema import TargetBase


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


@dataclass(slots=True)
class ProviderHead:
    head: int
    head_time: float | None  # block timestamp, unix seconds
    observed_at: float  # wall clock of the observation
    interval: float  # the provider's probe interval (to tell fresh entries from old ones)
    max_head_age: float


@dataclass(frozen=True, slots=True)
class ChainView:
    """One chain as the correlate step sees it, for metrics and the API."""

    chain: str
    halted: bool
    best_head: int | None
    providers: int


class ChainCorrelator:
    """Judges RPC providers against the other providers of their chain.

    Each observation carrying Fact.CHAIN and Fact.HEAD updates the chain's board. The
    provider's own result is then re-judged: behind the best provider by more than
    `max_lag_blocks` is `lagging`; a head older than `max_head_age` is `stale` - unless every
    provider of the chain is that old, which is a chain halt: then the observation is excused
    (the provider is affected by the halt, not blamed for it). The best head only ever comes
    from observations made before this one, so providers probed at different moments are
    never compared with a head from the future.
    """

    # An entry not refreshed for this many of its provider's intervals no longer counts.
    FRESH_INTERVALS = 3.0

    def __init__(self) -> None:
        self._boards: dict[str, dict[str, ProviderHead]] = {}

    def observe(self, target: TargetBase, obs: Observation, now: float) -> Observation:
        chain = obs.facts.get(Fact.CHAIN)
        head = obs.facts.get(Fact.HEAD)
        if not isinstance(chain, str) or not obs.success or not _is_height(head):
            return obs
        chain_profile = profile(chain)
        max_lag = _override(target, "max_lag_blocks", chain_profile.max_lag_blocks)
        max_age = _override(target, "max_head_age", chain_profile.max_head_age)
        board = self._boards.setdefault(chain, {})
        previous = board.get(target.name)
        head_time = obs.facts.get(Fact.HEAD_TIME)
        entry = ProviderHead(head, float(head_time) if _is_time(head_time) else None, now,
                             target.interval_s, float(max_age))
        facts = dict(obs.facts)
        if previous is not None and head < previous.head:
            facts[Fact.HEAD_REWIND] = previous.head - head
        others = [p for name, p in board.items() if name != target.name and self._fresh(p, now)]
        board[target.name] = entry
        return self._judge(obs, facts, entry, others, now, max_lag, chain)

    def forget(self, name: str) -> None:
        for board in self._boards.values():
            board.pop(name, None)

    def views(self, now: float) -> list[ChainView]:
        out = []
        for chain, board in sorted(self._boards.items()):
            fresh = [p for p in board.values() if self._fresh(p, now)]
            best = max((p.head for p in fresh), default=None)
            out.append(ChainView(chain, self._halted(fresh, now), best, len(fresh)))
        return out

    def _judge(self, obs: Observation, facts: dict[str, Any], own: ProviderHead,
               others: list[ProviderHead], now: float, max_lag: float,
               chain: str) -> Observation:
        best = max([own, *others], key=lambda p: p.head)
        lag_blocks = best.head - own.head
        facts[Fact.LAG_BLOCKS] = lag_blocks
        if own.head_time is not None:
            facts[Fact.HEAD_AGE] = max(0.0, now - own.head_time)
            if best.head_time is not None:
                facts[Fact.LAG_SECONDS] = max(0.0, best.head_time - own.head_time)
        halted = self._halted([own, *others], now)
        facts[Fact.CHAIN_HALTED] = halted
        if halted:
            return replace(obs, reason=Reason.STALE, facts=facts, excused_by=f"{chain} halted",
                           detail=f"chain {chain} halted: every provider's head is older than "
                                  f"{own.max_head_age:g}s")
        if lag_blocks > max_lag:
            lag_time = facts.get(Fact.LAG_SECONDS)
            behind = f" ({lag_time:.0f}s)" if isinstance(lag_time, float) else ""
            return replace(obs, reason=Reason.LAGGING, facts=facts,
                           detail=f"{lag_blocks} blocks{behind} behind the best provider "
                                  f"of {chain} (max {max_lag:g})")
        if self._too_old(own, now):
            return replace(obs, reason=Reason.STALE, facts=facts,
                           detail=f"head {own.head} is {now - (own.head_time or now):.0f}s old "
                                  f"(max_head_age {own.max_head_age:g}s)")
        return replace(obs, facts=facts)

    def _fresh(self, entry: ProviderHead, now: float) -> bool:
        return now - entry.observed_at <= self.FRESH_INTERVALS * entry.interval

    @staticmethod
    def _too_old(entry: ProviderHead, now: float) -> bool:
        return (entry.max_head_age > 0 and entry.head_time is not None
                and now - entry.head_time > entry.max_head_age)

    def _halted(self, providers: list[ProviderHead], now: float) -> bool:
        """Every provider's head too old. One provider alone cannot tell a halt from its own
        fault, so a halt needs at least two."""
        return len(providers) >= 2 and all(self._too_old(p, now) for p in providers)


def _override(target: TargetBase, key: str, default: float) -> float:
    value = getattr(target, key, None)
    return float(value) if isinstance(value, int | float) else default


def _is_height(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_time(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)
