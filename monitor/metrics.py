"""Prometheus exposition (SPEC section 5).

Target metrics are kept as plain numbers next to each target and turned into metric
families only when scraped, so a probe costs a few dict updates and label sets can differ
per target (static labels).
"""

from __future__ import annotations

import asyncio
import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, TypeGuard

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from monitor.correlate import ChainView
from monitor.health import Health
from monitor.observation import EVENT_LAG_BUCKETS, Fact, Observation, Reason, State, StreamStats
from monitor.schema import TargetBase

# outagemon_status_page_indicator values; an unknown state exports no value at all
INDICATOR_VALUES = {"none": 0, "minor": 1, "major": 2, "critical": 3, "maintenance": 4}
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
LAG_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)

Labels = Mapping[str, str]


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

    def add_to(self, metric: Metric, labels: Labels) -> None:
        _add_histogram(metric, labels, self.bounds, tuple(self.counts), self.count, self.sum)


def _le(bound: float) -> str:
    return repr(float(bound))


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

    @classmethod
    def for_target(cls, target: TargetBase) -> TargetMetrics:
        labels = {"target": target.name, "kind": target.kind, "provider": target.provider_label}
        labels.update(target.labels)
        venue = getattr(target, "exchange", None)
        market = getattr(target, "market", None)
        own = (market, venue) if isinstance(venue, str) and isinstance(market, str) else None
        return cls(labels=labels, own_market=own)

    def record(self, obs: Observation) -> None:
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


class TargetView(Protocol):
    @property
    def metrics(self) -> TargetMetrics: ...

    @property
    def health(self) -> Health: ...


@dataclass
class DaemonMetrics:
    scheduler_lag: Histogram = field(default_factory=lambda: Histogram(LAG_BUCKETS))


_STICKY_GAUGES = (
    (Fact.CERT_EXPIRY, "outagemon_cert_expiry_timestamp_seconds",
     "notAfter of the target's TLS certificate, unix seconds."),
    (Fact.CLOCK_SKEW, "outagemon_clock_skew_seconds",
     "Remote clock minus local clock, seconds (positive: remote is ahead)."),
    (Fact.RATE_LIMIT_USED_RATIO, "outagemon_rate_limit_used_ratio",
     "Share of the venue's rate limit used, 0 to 1."),
)


class OutagemonCollector(Collector):
    def __init__(
        self,
        targets: Callable[[], Iterable[TargetView]],
        daemon: DaemonMetrics,
        *,
        version: str,
        vantage: str,
        chains: Callable[[], Iterable[ChainView]] = lambda: (),
        alerting: Callable[[], AlertingNumbers] | None = None,
    ) -> None:
        self._targets = targets
        self._daemon = daemon
        self._version = version
        self._vantage = vantage
        self._chains = chains
        self._alerting = alerting

    def collect(self) -> Iterator[Metric]:
        views = list(self._targets())
        yield from self._state_metrics(views)
        yield from self._probe_metrics(views)
        yield from self._fact_metrics(views)
        yield from self._stream_metrics(views)
        yield from self._price_metrics(views)
        yield from self._chain_metrics(views)
        yield from self._status_page_metrics(views)
        if self._alerting is not None:
            yield from _alerting_metrics(self._alerting())
        lag = Metric("outagemon_scheduler_lag_seconds",
                     "How late probes start against their schedule.", "histogram")
        self._daemon.scheduler_lag.add_to(lag, {})
        yield lag
        tasks = Metric("outagemon_asyncio_tasks", "asyncio tasks alive in the daemon.", "gauge")
        tasks.add_sample(tasks.name, {}, _task_count())
        yield tasks
        info = Metric("outagemon_build_info", "outagemon version and vantage point.", "gauge")
        info.add_sample("outagemon_build_info",
                        {"version": self._version, "vantage": self._vantage}, 1)
        yield info

    def _state_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        up = Metric("outagemon_up", "1 when the target is up or degraded, 0 otherwise.", "gauge")
        state = Metric("outagemon_target_state", "Current state of the target (state set).",
                       "gauge")
        maintenance = Metric("outagemon_maintenance", "1 while the target is in maintenance.",
                             "gauge")
        last_success = Metric("outagemon_last_success_timestamp_seconds",
                              "Unix time of the last successful probe.", "gauge")
        for view in views:
            labels = view.metrics.labels
            current = view.health.state
            if current is not State.UNKNOWN:
                up.add_sample(up.name, labels, 1 if current in (State.UP, State.DEGRADED) else 0)
            for candidate in State:
                state.add_sample(state.name, {**labels, "state": candidate.value},
                                 1 if candidate is current else 0)
            maintenance.add_sample(maintenance.name, labels,
                                   1 if current is State.MAINTENANCE else 0)
            if view.health.last_success is not None:
                last_success.add_sample(last_success.name, labels, view.health.last_success)
        yield from (up, state, maintenance, last_success)

    def _probe_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        probes = Metric("outagemon_probes", "Probes run, by outcome.", "counter")
        duration = Metric("outagemon_probe_duration_seconds",
                          "Duration of probes that got an answer.", "histogram")
        phases = Metric("outagemon_probe_phase_seconds",
                        "Duration of each phase of the last probe.", "gauge")
        for view in views:
            numbers = view.metrics
            for reason, count in numbers.probes.items():
                probes.add_sample("outagemon_probes_total",
                                  {**numbers.labels, "reason": reason.value}, count)
            numbers.duration.add_to(duration, numbers.labels)
            for phase, seconds in numbers.phases.items():
                phases.add_sample(phases.name, {**numbers.labels, "phase": phase}, seconds)
        yield from (probes, duration, phases)

    def _fact_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        status = Metric("outagemon_http_status_code", "HTTP status of the last response.",
                        "gauge")
        sticky = {fact: Metric(name, doc, "gauge") for fact, name, doc in _STICKY_GAUGES}
        for view in views:
            numbers = view.metrics
            if numbers.http_status is not None:
                status.add_sample(status.name, numbers.labels, numbers.http_status)
            for fact, value in numbers.sticky.items():
                metric = sticky[fact]
                metric.add_sample(metric.name, numbers.labels, value)
        yield status
        yield from sticky.values()


    def _stream_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        connected = Metric("outagemon_ws_connected", "1 while the stream is connected.", "gauge")
        messages = Metric("outagemon_ws_messages", "Data messages received.", "counter")
        age = Metric("outagemon_ws_last_message_age_seconds",
                     "Seconds since the last data message.", "gauge")
        lag = Metric("outagemon_ws_event_lag_seconds",
                     "Receive time minus the venue's event time.", "histogram")
        reconnects = Metric("outagemon_ws_reconnects", "Disconnects, by why.", "counter")
        for view in views:
            stats = view.metrics.stream
            if stats is None:
                continue
            labels = view.metrics.labels
            connected.add_sample(connected.name, labels, 1 if stats.connected else 0)
            messages.add_sample("outagemon_ws_messages_total", labels, stats.messages_total)
            if stats.last_message_age is not None:
                age.add_sample(age.name, labels, stats.last_message_age)
            _add_histogram(lag, labels, EVENT_LAG_BUCKETS, stats.event_lag_buckets,
                           stats.event_lag_count, stats.event_lag_sum)
            for why, count in stats.reconnects.items():
                reconnects.add_sample("outagemon_ws_reconnects_total",
                                      {**labels, "reason": why}, count)
        yield from (connected, messages, age, lag, reconnects)

    def _price_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        price = Metric("outagemon_price", "Last price seen, per market and venue.", "gauge")
        deviation = Metric("outagemon_price_deviation_ratio",
                           "Venue price against its reference (median of the other venues, "
                           "or the peg), minus 1.", "gauge")
        for view in views:
            numbers = view.metrics
            for (market, venue), value in numbers.prices.items():
                price.add_sample(price.name, {**numbers.labels, "market": market,
                                              "venue": venue}, value)
            for (market, venue), value in numbers.deviations.items():
                deviation.add_sample(deviation.name, {**numbers.labels, "market": market,
                                                      "venue": venue}, value)
        yield from (price, deviation)


    def _chain_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        families = {
            Fact.HEAD: Metric("outagemon_chain_head_block", "Head block (slot) of the provider.",
                              "gauge"),
            Fact.LAG_BLOCKS: Metric("outagemon_chain_head_lag_blocks",
                                    "Blocks behind the best provider of the chain.", "gauge"),
            Fact.HEAD_AGE: Metric("outagemon_chain_head_age_seconds",
                                  "Seconds since the provider's head block was produced.",
                                  "gauge"),
        }
        rewinds = Metric("outagemon_chain_head_rewinds",
                         "Times the provider's head moved backwards (reorg or rollback).",
                         "counter")
        for view in views:
            numbers = view.metrics
            if numbers.chain is None:
                continue
            labels = {**numbers.labels, "chain": numbers.chain}
            for fact, value in numbers.chain_numbers.items():
                families[fact].add_sample(families[fact].name, labels, value)
            rewinds.add_sample("outagemon_chain_head_rewinds_total", labels,
                               numbers.head_rewinds)
        halted = Metric("outagemon_chain_halted",
                        "1 when every provider of the chain stopped advancing.", "gauge")
        for chain in self._chains():
            halted.add_sample(halted.name, {"chain": chain.chain}, 1 if chain.halted else 0)
        yield from (*families.values(), rewinds, halted)


    def _status_page_metrics(self, views: list[TargetView]) -> Iterator[Metric]:
        indicator = Metric("outagemon_status_page_indicator",
                           "The page's state: 0 none, 1 minor, 2 major, 3 critical, "
                           "4 maintenance.", "gauge")
        component_up = Metric("outagemon_status_page_component_up",
                              "1 when the component is operational (filtered, capped).",
                              "gauge")
        incidents = Metric("outagemon_status_page_open_incidents",
                           "Open incidents on the page (after the component filter).", "gauge")
        for view in views:
            numbers = view.metrics
            if numbers.indicator is not None:
                indicator.add_sample(indicator.name, numbers.labels, numbers.indicator)
            for component, up in numbers.components_up.items():
                component_up.add_sample(component_up.name,
                                        {**numbers.labels, "component": component}, up)
            if numbers.open_incidents is not None:
                incidents.add_sample(incidents.name, numbers.labels, numbers.open_incidents)
        yield from (indicator, component_up, incidents)


@dataclass(frozen=True)
class AlertingNumbers:
    firing: Mapping[tuple[str, str], int]  # (alertname, severity) -> alerts
    notifications: Mapping[tuple[str, str], int]  # (notifier, result) -> attempts
    queue_depth: Mapping[str, int]  # notifier -> pending notifications
    dependency_failing: Mapping[str, int]  # depends_on entry -> its targets now down


def _alerting_metrics(numbers: AlertingNumbers) -> Iterator[Metric]:
    firing = Metric("outagemon_alerts_firing", "Alerts firing now (held back ones included).",
                    "gauge")
    for (name, severity), count in sorted(numbers.firing.items()):
        firing.add_sample(firing.name, {"alertname": name, "severity": severity}, count)
    sent = Metric("outagemon_notifications", "Notification delivery attempts, by result.",
                  "counter")
    for (notifier, result), count in sorted(numbers.notifications.items()):
        sent.add_sample("outagemon_notifications_total",
                        {"notifier": notifier, "result": result}, count)
    depth = Metric("outagemon_notification_queue_depth",
                   "Notifications waiting in the outbox.", "gauge")
    for notifier, count in sorted(numbers.queue_depth.items()):
        depth.add_sample(depth.name, {"notifier": notifier}, count)
    failing = Metric("outagemon_dependency_failing_targets",
                     "Targets down among those naming this dependency in depends_on.", "gauge")
    for dependency, count in sorted(numbers.dependency_failing.items()):
        failing.add_sample(failing.name, {"dependency": dependency}, count)
    yield from (firing, sent, depth, failing)


def _add_histogram(metric: Metric, labels: Labels, bounds: tuple[float, ...],
                   counts: tuple[int, ...], total: int, value_sum: float) -> None:
    cumulative = 0
    for bound, count in zip(bounds, counts, strict=True):
        cumulative += count
        metric.add_sample(f"{metric.name}_bucket", {**labels, "le": _le(bound)}, cumulative)
    metric.add_sample(f"{metric.name}_bucket", {**labels, "le": "+Inf"}, total)
    metric.add_sample(f"{metric.name}_count", dict(labels), total)
    metric.add_sample(f"{metric.name}_sum", dict(labels), value_sum)


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop (a scrape from a test's thread)
        return 0


def make_registry(collector: OutagemonCollector) -> CollectorRegistry:
    """outagemon's own metrics plus the standard process_* ones (RSS, CPU, open fds)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector)
    ProcessCollector(registry=registry)
    return registry


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)
