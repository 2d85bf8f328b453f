"""The Prometheus text exposition of /metrics (SPEC section 5), written by hand for speed.

With 10,000 targets the exposition is about 300,000 lines. Building it through
prometheus_client's Metric objects took 3 s on the event loop, during which no probe started,
and held all of it in memory several times over (docs/performance.md). Here each target keeps
its label text rendered once and its lines of every family rendered as of its last
observation, as bytes. The daemon renders a target's lines when it records an observation
(`render_ahead`, about 20 µs), so a scrape mostly joins what is there: rendering 10,000
targets at scrape time cost 125 to 200 ms of CPU on the loop in one burst, and the scrape
took twice that while the probes it yielded to ran. Only the first observation after a
scrape renders ahead, so a target probed faster than it is scraped costs one render per
scrape, not one per probe; the scrape renders whatever is stale then (probed again, or its
state changed without an observation). Rendering and joining yield to the event loop after
every YIELD_AFTER (10 ms) of work, so a scrape never stalls the probes for longer. The text
is the same as prometheus_client writes: labels sorted by name, values formatted like Go's
(1.0, 2.1e+07, +Inf)."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Protocol

from prometheus_client import CollectorRegistry, ProcessCollector, generate_latest
from prometheus_client.utils import floatToGoString

from monitor.correlate import ChainView
from monitor.health import Health
from monitor.metrics import (
    LAG_BUCKETS,
    LATENCY_BUCKETS,
    AlertingNumbers,
    DaemonMetrics,
    TargetMetrics,
)
from monitor.observation import EVENT_LAG_BUCKETS, Fact, State

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
SLICE = 50  # targets rendered between two looks at the clock
JOIN_SLICE = 2000  # targets' cached lines of one family joined into one piece of the response
# Seconds of work between two yields to the event loop: short enough that probes due start
# on time, long enough that a scrape is not mostly waiting for its turn (every yield lets a
# whole turn of the loop run first).
YIELD_AFTER = 0.01


class TargetView(Protocol):
    @property
    def metrics(self) -> TargetMetrics: ...

    @property
    def health(self) -> Health: ...


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # as exposed: counters end in _total
    type: str
    help: str

    @property
    def header(self) -> str:
        text = self.help.replace("\\", r"\\").replace("\n", r"\n")
        return f"# HELP {self.name} {text}\n# TYPE {self.name} {self.type}\n"

    @property
    def header_bytes(self) -> bytes:
        return self.header.encode()


# The per-target families (TARGET_LINES gives their order and lines).
UP = Family("outagemon_up", "gauge", "1 when the target is up or degraded, 0 otherwise.")
STATE = Family("outagemon_target_state", "gauge", "Current state of the target (state set).")
MAINTENANCE = Family("outagemon_maintenance", "gauge",
                     "1 while the target is in maintenance.")
LAST_SUCCESS = Family("outagemon_last_success_timestamp_seconds", "gauge",
                      "Unix time of the last successful probe.")
PROBES = Family("outagemon_probes_total", "counter", "Probes run, by outcome.")
DURATION = Family("outagemon_probe_duration_seconds", "histogram",
                  "Duration of probes that got an answer.")
PHASES = Family("outagemon_probe_phase_seconds", "gauge",
                "Duration of each phase of the last probe.")
HTTP_STATUS = Family("outagemon_http_status_code", "gauge",
                     "HTTP status of the last response.")
CERT_EXPIRY = Family("outagemon_cert_expiry_timestamp_seconds", "gauge",
                     "notAfter of the target's TLS certificate, unix seconds.")
CLOCK_SKEW = Family("outagemon_clock_skew_seconds", "gauge",
                    "Remote clock minus local clock, seconds (positive: remote is ahead).")
RATE_LIMIT = Family("outagemon_rate_limit_used_ratio", "gauge",
                    "Share of the venue's rate limit used, 0 to 1.")
WS_CONNECTED = Family("outagemon_ws_connected", "gauge", "1 while the stream is connected.")
WS_MESSAGES = Family("outagemon_ws_messages_total", "counter", "Data messages received.")
WS_AGE = Family("outagemon_ws_last_message_age_seconds", "gauge",
                "Seconds since the last data message.")
WS_LAG = Family("outagemon_ws_event_lag_seconds", "histogram",
                "Receive time minus the venue's event time.")
WS_RECONNECTS = Family("outagemon_ws_reconnects_total", "counter", "Disconnects, by why.")
PRICE = Family("outagemon_price", "gauge", "Last price seen, per market and venue.")
DEVIATION = Family("outagemon_price_deviation_ratio", "gauge",
                   "Venue price against its reference (median of the other venues, or "
                   "the peg), minus 1.")
HEAD = Family("outagemon_chain_head_block", "gauge", "Head block (slot) of the provider.")
LAG_BLOCKS = Family("outagemon_chain_head_lag_blocks", "gauge",
                    "Blocks behind the best provider of the chain.")
HEAD_AGE = Family("outagemon_chain_head_age_seconds", "gauge",
                  "Seconds since the provider's head block was produced.")
REWINDS = Family("outagemon_chain_head_rewinds_total", "counter",
                 "Times the provider's head moved backwards (reorg or rollback).")
INDICATOR = Family("outagemon_status_page_indicator", "gauge",
                   "The page's state: 0 none, 1 minor, 2 major, 3 critical, 4 maintenance.")
COMPONENT_UP = Family("outagemon_status_page_component_up", "gauge",
                      "1 when the component is operational (filtered, capped).")
INCIDENTS = Family("outagemon_status_page_open_incidents", "gauge",
                   "Open incidents on the page (after the component filter).")
HALTED = Family("outagemon_chain_halted", "gauge",
                "1 when every provider of the chain stopped advancing.")
FIRING = Family("outagemon_alerts_firing", "gauge",
                "Alerts firing now (held back ones included).")
NOTIFICATIONS = Family("outagemon_notifications_total", "counter",
                       "Notification delivery attempts, by result.")
QUEUE_DEPTH = Family("outagemon_notification_queue_depth", "gauge",
                     "Notifications waiting in the outbox.")
DEPENDENCY_FAILING = Family("outagemon_dependency_failing_targets", "gauge",
                            "Targets down among those naming this dependency in depends_on.")
SCHEDULER_LAG = Family("outagemon_scheduler_lag_seconds", "histogram",
                       "How late probes start against their schedule.")
TASKS = Family("outagemon_asyncio_tasks", "gauge", "asyncio tasks alive in the daemon.")
BUILD_INFO = Family("outagemon_build_info", "gauge", "outagemon version and vantage point.")



def go_float(value: float) -> str:
    text: str = floatToGoString(value)  # type: ignore[no-untyped-call]
    return text


_LE: dict[tuple[float, ...], tuple[str, ...]] = {
    bounds: tuple(go_float(b) for b in bounds)
    for bounds in (LATENCY_BUCKETS, LAG_BUCKETS, EVENT_LAG_BUCKETS)}


def number(value: float) -> str:
    """A sample value as prometheus_client (and Go) writes it."""
    if type(value) is int and -1_000_000 < value < 1_000_000:
        return f"{value}.0"
    if type(value) is float and -1e6 < value < 1e6:
        return repr(value)
    return go_float(value)


def escape(value: str) -> str:
    if "\\" in value or '"' in value or "\n" in value:
        return value.replace("\\", r"\\").replace('"', r"\"").replace("\n", r"\n")
    return value


class LabelSet:
    """A target's labels, rendered once, with slots for the labels some series add.

    `slots(("le",))` gives the text around each added label's value in sorted label order,
    e.g. ('kind="http",le="', '",provider="p",target="t"') so a line is a few concatenations.
    """

    __slots__ = ("_labels", "_slots", "text")

    def __init__(self, labels: Mapping[str, str]) -> None:
        self._labels = sorted((key, escape(value)) for key, value in labels.items())
        self.text = ",".join(f'{key}="{value}"' for key, value in self._labels)
        self._slots: dict[tuple[str, ...], tuple[str, ...]] = {}

    def slots(self, extra: tuple[str, ...]) -> tuple[str, ...]:
        found = self._slots.get(extra)
        if found is None:
            found = self._slots[extra] = self._build(extra)
        return found

    def _build(self, extra: tuple[str, ...]) -> tuple[str, ...]:
        merged: list[tuple[str, str | None]] = sorted(
            [*self._labels, *((key, None) for key in extra)], key=lambda item: item[0])
        parts: list[str] = []
        current = ""
        for key, value in merged:
            sep = "," if current or parts else ""
            if value is None:
                parts.append(f'{current}{sep}{key}="')
                current = '"'
            else:
                current += f'{sep}{key}="{value}"'
        parts.append(current)
        return tuple(parts)

    def line(self, name: str, value: float) -> str:
        return f"{name}{{{self.text}}} {number(value)}\n"

    def lines1(self, name: str, extra: str, samples: Iterable[tuple[str, float]]) -> str:
        """Lines of `name` adding the label `extra`, one per (its value, sample value)."""
        head, tail = self.slots((extra,))
        start, end = f"{name}{{{head}", f"{tail}}} "
        return "".join([f"{start}{escape(label)}{end}{number(value)}\n"
                         for label, value in samples])


@cache
def _histogram_template(name: str, bounds: tuple[float, ...]) -> str:
    """A str.format template of a histogram's lines: {0} and {1} the label text before and
    after `le`, {2} the labels alone, then the cumulative counts, the total and the sum.
    Counts are written as integers plus ".0" (prometheus_client would switch to exponents
    past a million; Prometheus reads both)."""
    lines = [f"{name}_bucket{{{{{{0}}{le}{{1}}}}}} {{{index + 3}}}.0\n"
             for index, le in enumerate((*_LE[bounds], "+Inf"))]
    total = len(bounds) + 3
    lines.append(f"{name}_count{{{{{{2}}}}}} {{{total}}}.0\n")
    lines.append(f"{name}_sum{{{{{{2}}}}}} {{{total + 1}}}\n")
    return "".join(lines)


def histogram_lines(name: str, labels: LabelSet, bounds: tuple[float, ...],
                    counts: Sequence[int], total: int, value_sum: float) -> str:
    head, tail = labels.slots(("le",))
    return _histogram_template(name, bounds).format(
        head, tail, labels.text, *itertools.accumulate(counts), total, number(value_sum))


# -- one function per target family: a target's lines of it, or "" ---------------------------

FamilyLines = Callable[["LabelSet", TargetMetrics, Health], str]

def _up(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    if health.state is State.UNKNOWN:
        return ""
    return labels.line(UP.name, 1 if health.state in (State.UP, State.DEGRADED) else 0)


def _state_template(current: State) -> str:
    """The state set's lines for `current` as a str.format template ({0}, {1}: the label text
    before and after `state`)."""
    return "".join(f'{STATE.name}{{{{{{0}}{state.value}{{1}}}}}} '
                   f'{"1.0" if state is current else "0.0"}\n' for state in State)


_STATE_TEMPLATES = {state: _state_template(state) for state in State}


def _state(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    head, tail = labels.slots(("state",))
    return _STATE_TEMPLATES[health.state].format(head, tail)


def _maintenance(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return labels.line(MAINTENANCE.name, 1 if health.state is State.MAINTENANCE else 0)


def _last_success(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    if health.last_success is None:
        return ""
    return labels.line(LAST_SUCCESS.name, health.last_success)


def _probes(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return labels.lines1(PROBES.name, "reason",
                         [(reason.value, count) for reason, count in m.probes.items()])


def _duration(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    h = m.duration
    return histogram_lines(DURATION.name, labels, h.bounds, h.counts, h.count, h.sum)


def _phases(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return labels.lines1(PHASES.name, "phase", m.phases.items())


def _http_status(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return "" if m.http_status is None else labels.line(HTTP_STATUS.name, m.http_status)


def _sticky(family: Family, fact: str) -> FamilyLines:
    def lines(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
        value = m.sticky.get(fact)
        return "" if value is None else labels.line(family.name, value)

    return lines


def _ws_connected(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    if m.stream is None:
        return ""
    return labels.line(WS_CONNECTED.name, 1 if m.stream.connected else 0)


def _ws_messages(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return "" if m.stream is None else labels.line(WS_MESSAGES.name, m.stream.messages_total)


def _ws_age(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    if m.stream is None or m.stream.last_message_age is None:
        return ""
    return labels.line(WS_AGE.name, m.stream.last_message_age)


def _ws_lag(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    stats = m.stream
    if stats is None:
        return ""
    return histogram_lines(WS_LAG.name, labels, EVENT_LAG_BUCKETS, stats.event_lag_buckets,
                           stats.event_lag_count, stats.event_lag_sum)


def _ws_reconnects(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    if m.stream is None:
        return ""
    return labels.lines1(WS_RECONNECTS.name, "reason", m.stream.reconnects.items())


def _market_venue(family: Family, values: Callable[[TargetMetrics], Mapping[tuple[str, str],
                                                                           float]]
                  ) -> FamilyLines:
    def lines(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
        found = values(m)
        if not found:
            return ""
        head, middle, tail = labels.slots(("market", "venue"))
        return "".join(f"{family.name}{{{head}{escape(market)}{middle}{escape(venue)}{tail}}} "
                       f"{number(value)}\n" for (market, venue), value in found.items())

    return lines


def _chain_line(family: Family, labels: LabelSet, chain: str, value: float) -> str:
    head, tail = labels.slots(("chain",))
    return f"{family.name}{{{head}{escape(chain)}{tail}}} {number(value)}\n"


def _chain_number(family: Family, fact: str) -> FamilyLines:
    def lines(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
        value = m.chain_numbers.get(fact)
        if m.chain is None or value is None:
            return ""
        return _chain_line(family, labels, m.chain, value)

    return lines


def _rewinds(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return "" if m.chain is None else _chain_line(REWINDS, labels, m.chain, m.head_rewinds)


def _indicator(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return "" if m.indicator is None else labels.line(INDICATOR.name, m.indicator)


def _components(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return labels.lines1(COMPONENT_UP.name, "component", m.components_up.items())


def _incidents(labels: LabelSet, m: TargetMetrics, health: Health) -> str:
    return "" if m.open_incidents is None else labels.line(INCIDENTS.name, m.open_incidents)


# Which targets can have lines in a family: a scrape picks them out once per group, so the
# families most targets lack (streams, chains, prices, status pages) cost nothing for them.
Group = Callable[[TargetMetrics], object]


def every_target(m: TargetMetrics) -> bool:
    return True


def has_sticky(m: TargetMetrics) -> object:
    return m.sticky


def has_stream(m: TargetMetrics) -> object:
    return m.stream


def has_prices(m: TargetMetrics) -> object:
    return m.prices or m.deviations


def on_a_chain(m: TargetMetrics) -> object:
    return m.chain


def is_a_page(m: TargetMetrics) -> object:
    return m.indicator is not None or m.components_up or m.open_incidents is not None


TARGET_LINES: tuple[tuple[Family, Group, FamilyLines], ...] = (
    (UP, every_target, _up), (STATE, every_target, _state),
    (MAINTENANCE, every_target, _maintenance), (LAST_SUCCESS, every_target, _last_success),
    (PROBES, every_target, _probes), (DURATION, every_target, _duration),
    (PHASES, every_target, _phases), (HTTP_STATUS, every_target, _http_status),
    (CERT_EXPIRY, has_sticky, _sticky(CERT_EXPIRY, Fact.CERT_EXPIRY)),
    (CLOCK_SKEW, has_sticky, _sticky(CLOCK_SKEW, Fact.CLOCK_SKEW)),
    (RATE_LIMIT, has_sticky, _sticky(RATE_LIMIT, Fact.RATE_LIMIT_USED_RATIO)),
    (WS_CONNECTED, has_stream, _ws_connected), (WS_MESSAGES, has_stream, _ws_messages),
    (WS_AGE, has_stream, _ws_age), (WS_LAG, has_stream, _ws_lag),
    (WS_RECONNECTS, has_stream, _ws_reconnects),
    (PRICE, has_prices, _market_venue(PRICE, lambda m: m.prices)),
    (DEVIATION, has_prices, _market_venue(DEVIATION, lambda m: m.deviations)),
    (HEAD, on_a_chain, _chain_number(HEAD, Fact.HEAD)),
    (LAG_BLOCKS, on_a_chain, _chain_number(LAG_BLOCKS, Fact.LAG_BLOCKS)),
    (HEAD_AGE, on_a_chain, _chain_number(HEAD_AGE, Fact.HEAD_AGE)), (REWINDS, on_a_chain, _rewinds),
    (INDICATOR, is_a_page, _indicator), (COMPONENT_UP, is_a_page, _components),
    (INCIDENTS, is_a_page, _incidents),
)


GROUPS: tuple[Group, ...] = tuple(dict.fromkeys(group for _, group, _ in TARGET_LINES))
_FAMILY_GROUP = tuple(GROUPS.index(group) for _, group, _ in TARGET_LINES)


@dataclass(frozen=True, slots=True)
class Rendered:
    """A target's lines of every family in TARGET_LINES (b"" where it has none), and the
    groups it belongs to, as of `key`: its metrics' version, state and last success."""

    key: tuple[int, State, float | None]
    lines: list[bytes]
    groups: tuple[bool, ...]  # membership of each of GROUPS


Plan = tuple[tuple[int, FamilyLines], ...]
_PLANS: dict[tuple[bool, ...], Plan] = {}


def _plan(groups: tuple[bool, ...]) -> Plan:
    """The families (index into TARGET_LINES, lines function) a target of these groups has."""
    plan = _PLANS.get(groups)
    if plan is None:
        plan = _PLANS[groups] = tuple(
            (index, lines) for index, ((_, _, lines), group)
            in enumerate(zip(TARGET_LINES, _FAMILY_GROUP, strict=True)) if groups[group])
    return plan


def rendered(view: TargetView) -> Rendered:
    """The target's lines, rendered again only when something of it changed since."""
    m, health = view.metrics, view.health
    key = (m.version, health.state, health.last_success)
    done = m.rendered
    if done is not None and done.key == key:
        return done
    labels = _label_set(m)
    groups = tuple([bool(group(m)) for group in GROUPS])
    lines = [b""] * len(TARGET_LINES)
    for index, family_lines in _plan(groups):
        lines[index] = family_lines(labels, m, health).encode()
    done = m.rendered = Rendered(key, lines, groups)
    return done


def render_ahead(view: TargetView) -> None:
    """A target's observation was just recorded: render its lines now if the ones they
    replace went out in a scrape; otherwise the next scrape renders them (once)."""
    m = view.metrics
    if m.scraped:
        m.scraped = False
        rendered(view)


def _simple(family: Family, samples: Iterable[tuple[str, float]]) -> str:
    """A family whose series carry only their own labels, given as rendered text."""
    lines = [f"{family.name}{{{text}}} {number(value)}\n" if text
             else f"{family.name} {number(value)}\n" for text, value in samples]
    return family.header + "".join(lines)


def _labels_text(**labels: str) -> str:
    return ",".join(f'{key}="{escape(value)}"' for key, value in sorted(labels.items()))


def alerting_text(numbers: AlertingNumbers) -> str:
    return "".join((
        _simple(FIRING, ((_labels_text(alertname=name, severity=severity), count)
                         for (name, severity), count in sorted(numbers.firing.items()))),
        _simple(NOTIFICATIONS, ((_labels_text(notifier=notifier, result=result), count)
                                for (notifier, result), count
                                in sorted(numbers.notifications.items()))),
        _simple(QUEUE_DEPTH, ((_labels_text(notifier=notifier), count)
                              for notifier, count in sorted(numbers.queue_depth.items()))),
        _simple(DEPENDENCY_FAILING, ((_labels_text(dependency=dependency), count)
                                     for dependency, count
                                     in sorted(numbers.dependency_failing.items()))),
    ))


def _task_count() -> int:
    try:
        return len(asyncio.all_tasks())
    except RuntimeError:  # no running loop
        return 0


class Exposition:
    """Renders /metrics from the daemon's targets, chains and alerting numbers."""

    def __init__(
        self,
        targets: Callable[[], Iterable[TargetView]],
        daemon: DaemonMetrics,
        *,
        version: str,
        vantage: str,
        chains: Callable[[], Iterable[ChainView]] = lambda: (),
        alerting: Callable[[], AlertingNumbers] | None = None,
        process: bool = True,
    ) -> None:
        self._targets = targets
        self._daemon = daemon
        self._version = version
        self._vantage = vantage
        self._chains = chains
        self._alerting = alerting
        self._process: CollectorRegistry | None = None
        if process:
            self._process = CollectorRegistry(auto_describe=False)
            ProcessCollector(registry=self._process)

    async def write(self, send: Callable[[bytes], Awaitable[None]],
                    slice_size: int = SLICE, yield_after: float = YIELD_AFTER) -> None:
        """Hand the exposition to `send` piece by piece (up to JOIN_SLICE targets' lines of
        one family each), yielding to the event loop once `yield_after` seconds of work are
        done: sending does not yield by itself while the socket takes the bytes."""
        for piece in self._pieces(slice_size, yield_after):
            if piece is None:
                await asyncio.sleep(0)
            else:
                await send(piece)

    def render_now(self) -> bytes:
        """The whole exposition in one go (tests, and callers outside the event loop)."""
        return b"".join(piece for piece in self._pieces(SLICE, float("inf"))
                        if piece is not None)

    def _pieces(self, slice_size: int, yield_after: float) -> Iterator[bytes | None]:
        """The exposition's pieces, with None where the caller should let other work run."""
        views = list(self._targets())
        members: list[list[list[bytes]]] = [[] for _ in GROUPS]
        turn = time.perf_counter()
        for start in range(0, len(views), slice_size):
            for view in views[start:start + slice_size]:
                done = rendered(view)
                view.metrics.scraped = True
                for index, member in enumerate(done.groups):
                    if member:
                        members[index].append(done.lines)
            if time.perf_counter() - turn >= yield_after:
                yield None
                turn = time.perf_counter()
        for index, (family, _, _) in enumerate(TARGET_LINES):
            yield family.header_bytes
            rows = members[_FAMILY_GROUP[index]]
            for start in range(0, len(rows), JOIN_SLICE):
                piece = b"".join([row[index] for row in rows[start:start + JOIN_SLICE]])
                if piece:
                    yield piece
                if time.perf_counter() - turn >= yield_after:
                    yield None
                    turn = time.perf_counter()
            if family is REWINDS:
                yield self._halted().encode()
        yield self._daemon_text().encode()
        if self._process is not None:
            yield generate_latest(self._process)

    def _daemon_text(self) -> str:
        text: list[str] = []
        if self._alerting is not None:
            text.append(alerting_text(self._alerting()))
        lag = self._daemon.scheduler_lag
        text.append(SCHEDULER_LAG.header)
        text.append(histogram_lines(SCHEDULER_LAG.name, LabelSet({}), lag.bounds, lag.counts,
                                    lag.count, lag.sum))
        text.append(_simple(TASKS, (("", _task_count()),)))
        text.append(_simple(BUILD_INFO, ((_labels_text(version=self._version,
                                                       vantage=self._vantage), 1),)))
        return "".join(text)

    def _halted(self) -> str:
        return _simple(HALTED, ((_labels_text(chain=chain.chain), 1 if chain.halted else 0)
                                for chain in self._chains()))


def _label_set(metrics: TargetMetrics) -> LabelSet:
    labels = metrics.label_set
    if labels is None:
        labels = metrics.label_set = LabelSet(metrics.labels)
    return labels
