"""The soak (bench/soak): its verdict catches leaks in made-up samples, and two minutes of the
real thing (2,000 targets, random faults, reloads, a flaky receiver) pass."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from bench.soak.goals import Activity, Figure, evaluate, increase
from bench.soak.sampler import Sample, parse

ROOT = Path(__file__).resolve().parents[1]
MIB = 1024 * 1024
STREAMS = 200
TARGETS = 2000


def sample(at: float, *, tasks: float | None = None, rss: float = 200 * MIB, fds: int = 230,
           streams: int = STREAMS, **metrics: float) -> Sample:
    """A sample of a daemon whose connected streams each hold a socket and one task more."""
    values = {"outagemon_asyncio_tasks": TARGETS + STREAMS + streams + 10
              if tasks is None else tasks,
              "outagemon_ws_connected": streams, "process_resident_memory_bytes": rss,
              "process_open_fds": fds, **metrics}
    return Sample(at, int(rss), fds + streams - STREAMS, values)


def series(make: Callable[[int], Sample], count: int = 40) -> list[Sample]:
    return [make(index) for index in range(count)]


def checkpoints(start_fds: int = 230, end_fds: int = 230, start_tasks: float | None = None,
                end_tasks: float | None = None) -> dict[str, list[Sample]]:
    return {"after warm-up": [sample(0, fds=start_fds, tasks=start_tasks)],
            "end": [sample(99, fds=end_fds, tasks=end_tasks)]}


BUSY = Activity(faults={"hang": 3}, notifications={"ok": 5, "503": 1},
                alerts={"firing": 2, "resolved": 1}, reloads_sent=1, reloads_applied=1)


def busy(index: int) -> dict[str, float]:
    """Counters of a daemon that probes, reconnects and retries notifications."""
    return {"outagemon_probes_total": 100.0 * index, "outagemon_ws_reconnects_total": index,
            "outagemon_notifications_total{result=sent}": index,
            "outagemon_notifications_total{result=retry}": index}


def verdict(samples: list[Sample], points: dict[str, list[Sample]] | None = None,
            activity: Activity = BUSY) -> dict[str, bool | None]:
    figures: list[Figure] = evaluate(samples, checkpoints() if points is None else points,
                                     warmup=0, activity=activity)
    return {figure.what: figure.met for figure in figures}


def missed(result: dict[str, bool | None]) -> list[str]:
    return [what for what, met in result.items() if met is False]


def test_a_flat_daemon_meets_every_goal() -> None:
    assert missed(verdict(series(lambda i: sample(i, **busy(i))))) == []


def test_streams_reconnecting_move_tasks_and_fds_without_a_leak() -> None:
    # every other sample, 150 streams are down: fewer tasks and sockets, nothing leaked
    result = verdict(series(lambda i: sample(i, streams=50 if i % 2 else STREAMS, **busy(i))))
    assert missed(result) == []


def test_a_task_leak_is_caught() -> None:
    result = verdict(series(lambda i: sample(i, tasks=TARGETS + 2 * STREAMS + 10 + i,
                                             **busy(i))))
    assert missed(result) == ["asyncio tasks - connected streams, least first/last quarter"]


def test_probes_in_flight_move_tasks_without_a_leak() -> None:
    # a fault hangs 300 probes now and then, late in the window: a task each until it times out
    result = verdict(series(lambda i: sample(
        i, tasks=TARGETS + 2 * STREAMS + (300 if i % 5 == 0 and i > 30 else 0), **busy(i))))
    assert missed(result) == []


def test_rss_growth_of_six_percent_is_caught() -> None:
    result = verdict(series(lambda i: sample(i, rss=200 * MIB * (1 + 0.002 * i), **busy(i))))
    assert missed(result) == ["RSS (VmRSS), median first/last quarter"]


def test_rss_noise_below_five_percent_passes() -> None:
    result = verdict(series(lambda i: sample(i, rss=200 * MIB * (1.04 if i % 3 else 1.0),
                                             **busy(i))))
    assert missed(result) == []


def test_fds_and_tasks_left_at_the_quiet_checkpoint_are_caught() -> None:
    result = verdict(series(lambda i: sample(i, **busy(i))),
                     checkpoints(end_fds=245, end_tasks=TARGETS + 2 * STREAMS + 25))
    assert missed(result) == ["quiet: asyncio tasks - connected streams, after warm-up / end",
                              "quiet: open fds - connected streams, after warm-up / end"]


def test_a_soak_that_exercised_nothing_fails() -> None:
    idle = Activity(reloads_sent=2, reloads_applied=1)
    result = verdict(series(lambda i: sample(i)), activity=idle)
    assert set(missed(result)) == {
        "stream disconnects after the warm-up", "daemon's notification attempts, by result",
        "faults injected (kinds)", "alerts delivered to the webhook",
        "reloads (SIGHUP) sent / applied"}


def test_a_daemon_that_died_fails() -> None:
    result = verdict(series(lambda i: sample(i, **busy(i))),
                     activity=replace(BUSY, survived=False, exit_code=None))
    assert missed(result) == ["daemon alive to the end; exit code on SIGTERM"]


def test_errors_in_the_daemons_log_fail() -> None:
    result = verdict(series(lambda i: sample(i, **busy(i))),
                     activity=replace(BUSY, errors={"alert evaluation failed": 3}))
    assert missed(result) == ["error-level lines in the daemon's log"]


def test_counter_increase_ignores_restarts_by_reloads() -> None:
    samples = [sample(i, outagemon_probes_total=value)
               for i, value in enumerate([10, 20, 5, 15])]
    assert increase(samples, "outagemon_probes_total") == 20


def test_parse_sums_series_and_splits_notifications_by_result() -> None:
    text = "\n".join([
        "# HELP outagemon_ws_connected 1 while the stream is connected.",
        'outagemon_ws_connected{target="a"} 1.0',
        'outagemon_ws_connected{target="b"} 0.0',
        'outagemon_ws_connected{target="c"} 1.0',
        "outagemon_asyncio_tasks 2411.0",
        'outagemon_notifications_total{notifier="ops",result="sent"} 3.0',
        'outagemon_notifications_total{notifier="am",result="sent"} 2.0',
        'outagemon_notifications_total{notifier="ops",result="retry"} 4.0',
        'outagemon_probes_created{target="a"} 1.7e9',
    ])
    assert parse(text) == {
        "outagemon_ws_connected": 2.0, "outagemon_asyncio_tasks": 2411.0,
        "outagemon_notifications_total": 9.0,
        "outagemon_notifications_total{result=sent}": 5.0,
        "outagemon_notifications_total{result=retry}": 4.0}


@pytest.mark.timeout(300)
def test_two_minutes_of_soak_over_2000_targets_pass() -> None:
    """The whole soak, shortened: 60 s of warm-up, then faults and reloads until 120 s;
    every leak and activity goal must be met (the table is in the failure message)."""
    done = subprocess.run(
        [sys.executable, "-m", "bench.soak", "--duration", "120", "--targets", "2000"],
        cwd=ROOT, capture_output=True, text=True, timeout=280, check=False)
    assert done.returncode == 0, f"{done.stdout}\n{done.stderr[-4000:]}"
    assert "NOT MET" not in done.stdout
