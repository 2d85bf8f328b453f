"""The soak's verdict: leak figures from the samples after the warm-up and from the two quiet
checkpoints, and activity figures that show the soak exercised what it claims (faults,
reconnects, notifications, reloads, no errors).

Continuous figures compare the first quarter of the samples after the warm-up with the last:

- asyncio tasks: the daemon runs a task per probe in flight, per stream and per connected
  stream's keepalive supervisor, so the count moves with the probes running and the streams
  reconnecting at that instant (hung probes under a fault hold theirs up to their timeout);
  what must stay flat is the floor of tasks minus connected streams. Goal: the least value of
  the last quarter at most TASK_ALLOWANCE (1 % of 2,000 targets) above the least of the
  first. A leak raises the floor; a burst of probes in flight does not.
- RSS: the median of the last quarter against the median of the first (medians, so a sample
  taken while a reload or a large body is in memory does not decide). Goal: < 5 %. The
  least-squares slope over the window is printed for information.
- open fds minus connected streams (each connected stream holds a socket): for information
  only, because hung probes keep their sockets until their timeout and faults come and go.

Quiet checkpoints (bench/soak/run.py) decide fds and tasks: no fault, no reload and nothing
held in flight, after the warm-up and at the end. Goal: tasks and fds, each minus connected
streams (the least over the checkpoint's samples), at most QUIET_ALLOWANCE above the first
checkpoint's. The allowance is for what is legitimately in flight then: a probe or two, and
the streams still reconnecting after the faults (their back-off runs up to 30 s), which hold
a socket and a task or two while they connect or close but do not count as connected; the
runs so far moved by 6 at most either way. A leak per reconnect (thousands an hour) or per
rebuilt target at a reload (80 a reload) is far beyond it.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

from bench.soak.sampler import Sample

RSS_GROWTH_GOAL = 0.05
TASK_ALLOWANCE = 20
QUIET_ALLOWANCE = 10
MIB = 1024 * 1024


@dataclass(frozen=True)
class Figure:
    what: str
    value: str
    goal: str
    met: bool | None  # None: for information


@dataclass(frozen=True)
class Activity:
    faults: dict[str, int] = field(default_factory=dict)  # injected, by kind
    refused: dict[str, int] = field(default_factory=dict)
    notifications: dict[str, int] = field(default_factory=dict)  # receiver's answers by kind
    alerts: dict[str, int] = field(default_factory=dict)  # delivered, by status
    reloads_sent: int = 0
    reloads_applied: int = 0
    failed_scrapes: int = 0
    errors: dict[str, int] = field(default_factory=dict)  # error-level log events by name
    survived: bool = True
    exit_code: int | None = 0
    failures: list[str] = field(default_factory=list)  # the soak's own jobs that broke


def quarters(samples: Sequence[Sample]) -> tuple[list[Sample], list[Sample]]:
    size = max(1, len(samples) // 4)
    return list(samples[:size]), list(samples[-size:])


def tasks_less_streams(sample: Sample) -> float:
    return sample.metric("outagemon_asyncio_tasks") - sample.metric("outagemon_ws_connected")


def fds_less_streams(sample: Sample) -> float:
    return sample.fds - sample.metric("outagemon_ws_connected")


def increase(samples: Sequence[Sample], counter: str) -> float:
    """How much a counter (summed over its series) rose over the samples. A reload restarts
    the counters of the targets it rebuilds, so a fall is not counted: a lower bound."""
    values = [s.metric(counter) for s in samples]
    return sum(max(0.0, b - a) for a, b in itertools.pairwise(values))


def slope_per_hour(samples: Sequence[Sample], value: Callable[[Sample], float]) -> float:
    if len(samples) < 2:
        return 0.0
    xs = [s.at for s in samples]
    ys = [value(s) for s in samples]
    return statistics.linear_regression(xs, ys).slope * 3600


def leak_figures(steady: Sequence[Sample]) -> list[Figure]:
    if len(steady) < 4:
        return [Figure("samples after the warm-up", str(len(steady)), ">= 4", False)]
    first, last = quarters(steady)
    out = [Figure("samples after the warm-up", f"{len(steady)} ({len(first)} per quarter)",
                  ">= 4", True)]

    t_first = min(tasks_less_streams(s) for s in first)
    t_last = min(tasks_less_streams(s) for s in last)
    raw = [s.metric("outagemon_asyncio_tasks") for s in steady]
    out.append(Figure(
        "asyncio tasks - connected streams, least first/last quarter",
        f"{t_first:.0f} / {t_last:.0f} (raw tasks {min(raw):.0f}-{max(raw):.0f})",
        f"last <= first + {TASK_ALLOWANCE}", t_last <= t_first + TASK_ALLOWANCE))

    r_first = statistics.median(s.rss for s in first)
    r_last = statistics.median(s.rss for s in last)
    growth = r_last / r_first - 1
    out.append(Figure(
        "RSS (VmRSS), median first/last quarter",
        f"{r_first / MIB:.1f} / {r_last / MIB:.1f} MiB ({growth:+.2%})",
        f"growth < {RSS_GROWTH_GOAL:.0%}", growth < RSS_GROWTH_GOAL))
    metric_rss = [s.metric("process_resident_memory_bytes") for s in last]
    out.append(Figure(
        "RSS slope over the window; process_resident_memory_bytes last quarter",
        f"{slope_per_hour(steady, lambda s: s.rss) / MIB:+.1f} MiB/h; "
        f"{statistics.median(metric_rss) / MIB:.1f} MiB", "(information)", None))

    f_first = statistics.median(fds_less_streams(s) for s in first)
    f_last = statistics.median(fds_less_streams(s) for s in last)
    fds = [s.fds for s in steady]
    out.append(Figure(
        "open fds - connected streams, median first/last quarter",
        f"{f_first:.0f} / {f_last:.0f} (raw fds {min(fds)}-{max(fds)}; "
        f"process_open_fds last {last[-1].metric('process_open_fds'):.0f})",
        "(information: see the quiet checkpoints)", None))
    return out


def checkpoint_figures(checkpoints: Mapping[str, Sequence[Sample]]) -> list[Figure]:
    start, end = checkpoints.get("after warm-up", []), checkpoints.get("end", [])
    if not start or not end:
        return [Figure("quiet checkpoints taken (after warm-up, end)",
                       f"{len(start)}, {len(end)} samples", "both", False)]
    t_start = min(tasks_less_streams(s) for s in start)
    t_end = min(tasks_less_streams(s) for s in end)
    f_start = min(fds_less_streams(s) for s in start)
    f_end = min(fds_less_streams(s) for s in end)
    streams = f"{start[-1].metric('outagemon_ws_connected'):.0f} / " \
              f"{end[-1].metric('outagemon_ws_connected'):.0f}"
    return [
        Figure("quiet: asyncio tasks - connected streams, after warm-up / end",
               f"{t_start:.0f} / {t_end:.0f} (streams {streams})",
               f"end <= start + {QUIET_ALLOWANCE}", t_end <= t_start + QUIET_ALLOWANCE),
        Figure("quiet: open fds - connected streams, after warm-up / end",
               f"{f_start:.0f} / {f_end:.0f}",
               f"end <= start + {QUIET_ALLOWANCE}", f_end <= f_start + QUIET_ALLOWANCE),
    ]


def activity_figures(steady: Sequence[Sample], act: Activity) -> list[Figure]:
    out = [Figure("daemon alive to the end; exit code on SIGTERM",
                  f"{'yes' if act.survived else 'no'}; {act.exit_code}", "yes; 0",
                  act.survived and act.exit_code == 0),
           Figure("failed /metrics scrapes", str(act.failed_scrapes), "0",
                  act.failed_scrapes == 0),
           Figure("error-level lines in the daemon's log", _counts(act.errors) or "0", "0",
                  not act.errors),
           Figure("the soak's own jobs (faults, reloads, sampling) that broke",
                  "; ".join(act.failures)[:200] or "none", "none", not act.failures)]
    if len(steady) >= 2:
        b = steady[-1]
        span = b.at - steady[0].at
        probes = increase(steady, "outagemon_probes_total")
        reconnects = increase(steady, "outagemon_ws_reconnects_total")
        scrape = max(s.scrape_seconds for s in steady)
        out += [
            Figure("probes/s after the warm-up", f"{probes / span:.0f}", "(information)", None),
            Figure("stream disconnects after the warm-up", f"{reconnects:.0f}", "> 0",
                   reconnects > 0),
            Figure("slowest /metrics scrape", f"{scrape:.2f} s", "(information)", None),
        ]
        sent = {k.split("=", 1)[1].rstrip("}"): b.metric(k) for k in b.metrics
                if k.startswith("outagemon_notifications_total{")}
        out.append(Figure("daemon's notification attempts, by result",
                          _counts(sent) or "none", "some sent, some retried",
                          sent.get("sent", 0) > 0 and sent.get("retry", 0) > 0))
    total = sum(act.faults.values())
    out.append(Figure("faults injected (kinds)", f"{total} ({len(act.faults)} kinds)", "> 0",
                      total > 0))
    refused = sum(act.refused.values())
    out.append(Figure("fault orders refused", str(refused) + (
        f": {next(iter(act.refused))}" if refused else ""), "0", refused == 0))
    out.append(Figure("receiver's answers", _counts(act.notifications) or "none",
                      "(information)", None))
    out.append(Figure("alerts delivered to the webhook", _counts(act.alerts) or "none",
                      "firing and resolved",
                      act.alerts.get("firing", 0) > 0 and act.alerts.get("resolved", 0) > 0))
    out.append(Figure("reloads (SIGHUP) sent / applied",
                      f"{act.reloads_sent} / {act.reloads_applied}", "all applied",
                      act.reloads_applied == act.reloads_sent))
    return out


def _counts(items: dict[str, float] | dict[str, int]) -> str:
    return ", ".join(f"{key} {value:.0f}" for key, value in sorted(items.items()))


def evaluate(samples: Sequence[Sample], checkpoints: Mapping[str, Sequence[Sample]],
             warmup: float, activity: Activity) -> list[Figure]:
    steady = [s for s in samples if s.at >= warmup]
    return (leak_figures(steady) + checkpoint_figures(checkpoints)
            + activity_figures(steady, activity))


def table(figures: Sequence[Figure]) -> str:
    rows = [("figure", "value", "goal", "")]
    rows += [(f.what, f.value, f.goal,
              "" if f.met is None else ("met" if f.met else "NOT MET")) for f in figures]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False))
             + "  " + row[3] for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(line.rstrip() for line in lines)
