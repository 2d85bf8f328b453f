"""The numbers behind /metrics (SPEC section 5).

Target metrics are kept as plain numbers next to each target and turned into text once per
scrape at most (monitor/exposition.py), so a probe costs a few dict updates and a render, and
label sets can differ per target (static labels).
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeGuard

from monitor.observation import Fact, Observation, Reason, StreamStats
from monitor.schema import TargetBase

if TYPE_CHECKING:
    from monitor.exposition import LabelSet, Rendered

# outagemon_status_page_indicator values; an unknown state exports no value at all
INDICATOR_VALUES = {"none": 0, "minor": 1, "major": 2, "critical": 3, "maintenance": 4}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

class Histogram:
    __slots__ = ("bounds", "count", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * len(bounds)  # per bucket, not cumulative
        self.count = 0
        self.sum = 0.0

    def observe(self, value: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        if index < len(self.counts):
            self.counts[index] += 1
        self.count += 1
        self.sum += value


@dataclass
class TargetMetrics:
    """Accumulated numbers of one target; updated on every observation."""

    labels: dict[str, str]
    probes: dict[Reason, int] = field(default_factory=lambda: {Reason.OK: 0})
    duration: Histogram = field(default_factory=lambda: Histogram(LATENCY_BUCKETS))
    phases: Mapping[str, float] = field(default_factory=dict)
    http_status: int | None = None
    # Last known values: a failed probe does not make a certificate's expiry unknown.
    sticky: dict[str, float] = field(default_factory=dict)
    stream: StreamStats | None = None
    # outagemon_price / _deviation_ratio, keyed by (market, venue)
    prices: dict[tuple[str, str], float] = field(default_factory=dict)
    deviations: dict[tuple[str, str], float] = field(default_factory=dict)
    # an exchange target's own market and venue, for its outagemon_price series
    own_market: tuple[str, str] | None = None
    # RPC providers: chain -> (head, lag in blocks, head age) as last judged
    chain: str | None = None
    chain_numbers: dict[str, float] = field(default_factory=dict)
    head_rewinds: int = 0
    # status pages and cloud feeds, as last read
    indicator: int | None = None
    components_up: dict[str, int] = field(default_factory=dict)
    open_incidents: int | None = None
    label_set: LabelSet | None = None  # its labels rendered for /metrics (exposition.py)
    version: int = 0  # counts observations recorded, so /metrics can tell what changed
    rendered: Rendered | None = None  # its /metrics lines as of a version (exposition.py)
    scraped: bool = True  # a scrape took its lines since a probe last rendered them

    @classmethod
    def for_target(cls, target: TargetBase) -> TargetMetrics:
        labels = {"target": target.name, "kind": target.kind, "provider": target.provider_label}
        labels.update(target.labels)
        venue = getattr(target, "exchange", None)
        market = getattr(target, "market", None)
        own = (market, venue) if isinstance(venue, str) and isinstance(market, str) else None
        return cls(labels=labels, own_market=own)

    def record(self, obs: Observation) -> None:
        self.version += 1
        self.probes[obs.reason] = self.probes.get(obs.reason, 0) + 1
        if obs.latency is not None:
            self.duration.observe(obs.latency)
        self.phases = obs.phases
        status = obs.facts.get(Fact.HTTP_STATUS)
        self.http_status = status if isinstance(status, int) else None
        for fact in (Fact.CERT_EXPIRY, Fact.CLOCK_SKEW, Fact.RATE_LIMIT_USED_RATIO):
            value = obs.facts.get(fact)
            if _is_number(value):
                self.sticky[fact] = float(value)
        if obs.stream is not None:
            self.stream = obs.stream
        self._record_prices(obs)
        self._record_chain(obs)
        self._record_status_page(obs)

    def _record_status_page(self, obs: Observation) -> None:
        indicator = obs.facts.get(Fact.INDICATOR)
        if not isinstance(indicator, str):
            return  # a failed fetch: keep what the page said last
        self.indicator = INDICATOR_VALUES.get(indicator)
        components = obs.facts.get(Fact.COMPONENTS)
        if isinstance(components, Mapping):
            self.components_up = {str(name): 1 if status == "operational" else 0
                                  for name, status in components.items()}
        incidents = obs.facts.get(Fact.INCIDENTS)
        if isinstance(incidents, list):
            self.open_incidents = len(incidents)

    def _record_chain(self, obs: Observation) -> None:
        chain = obs.facts.get(Fact.CHAIN)
        if not isinstance(chain, str):
            return
        self.chain = chain
        for fact in (Fact.HEAD, Fact.LAG_BLOCKS, Fact.HEAD_AGE):
            value = obs.facts.get(fact)
            if _is_number(value):
                self.chain_numbers[fact] = float(value)
        if obs.facts.get(Fact.HEAD_REWIND):
            self.head_rewinds += 1

    def _record_prices(self, obs: Observation) -> None:
        price = obs.facts.get(Fact.PRICE)
        if self.own_market is not None and _is_number(price):
            self.prices[self.own_market] = float(price)
        market = obs.facts.get(Fact.MARKET)
        if not isinstance(market, str):
            return
        for facts_key, into in ((Fact.PRICES, self.prices), (Fact.DEVIATIONS, self.deviations)):
            values = obs.facts.get(facts_key)
            if isinstance(values, Mapping):
                # A venue that went stale drops out of both series rather than freezing.
                into.clear()
                into.update({(market, str(v)): float(x) for v, x in values.items()
                             if _is_number(x)})


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool)


@dataclass
class DaemonMetrics:
    scheduler_lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))


@dataclass(frozen=True)
class AlertingNumbers:
    firing: Mapping[tuple[str, str], int]  # (alertname, severity) -> alerts
    notifications: Mapping[tuple[str, str], int]  # (notifier, result) -> attempts
    queue_depth: Mapping[str, int]  # notifier -> pending notifications
    dependency_failing: Mapping[str, int]  # depends_on entry -> its targets now down
