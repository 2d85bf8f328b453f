"""Fixed-rate scheduling: each target at its own interval, first runs spread over the first
interval, a global concurrency cap, and a hard deadline so no probe can hang a worker.

The scheduler records its own lateness (how late each probe starts against its due time),
because a busy event loop inflates every latency it measures.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from monitor.clock import Cancellable, Clock
from monitor.observation import Observation, Reason

# Added to a probe's own timeout before the scheduler cancels it: the check should time
# itself out first and say which step hung; this is the safety net.
DEADLINE_GRACE = 1.0
# A job due this close to now starts now: the loop's timers fire up to a millisecond early
# (their clock is read once per turn), and waking again for the rest would only spin.
TIMER_SLACK = 0.001

log = structlog.get_logger("outagemon.scheduler")

ProbeFn = Callable[[], Awaitable[Observation]]
ResultFn = Callable[[str, Observation], None]
NotBeforeFn = Callable[[], float | None]


def spread_offset(name: str, interval: float) -> float:
    """A stable offset in [0, interval) from the name, so first runs spread out evenly and
    keep their phase across restarts and reloads."""
    digest = hashlib.blake2b(name.encode(), digest_size=8).digest()
    return (int.from_bytes(digest, "big") / 2**64) * interval


@dataclass
class JobStats:
    runs: int = 0
    skipped: int = 0  # ticks missed because the previous run or a back-off was in the way
    overruns: int = 0  # runs cancelled by the scheduler's hard deadline


@dataclass(slots=True, eq=False)
class _Job:
    name: str
    interval: float
    timeout: float
    probe: ProbeFn
    not_before: NotBeforeFn
    stats: JobStats
    token: int = 0  # of the job's entry in the heap; an entry with another token is stale
    run: asyncio.Task[None] | None = None  # the run in flight


class Scheduler:
    """Every job's next due time in one heap, and one timer for the earliest.

    A job has a task only while it runs. Waiting for its next tick costs it an entry in the heap
    (a tuple of a float, an int and a str, which the garbage collector stops tracking), where a
    task per job sleeping between ticks kept about a dozen tracked objects alive per job (its
    coroutines, future, timer handle, context, ...): at 10,000 targets, 1,000 probes/s, the
    young collections had to walk them all and held the event loop for 55-90 ms every few
    seconds (docs/performance.md).
    """

    def __init__(
        self,
        clock: Clock,
        *,
        max_concurrency: int,
        on_result: ResultFn,
        on_lag: Callable[[float], None] = lambda lag: None,
    ) -> None:
        self._clock = clock
        self._slots = asyncio.Semaphore(max_concurrency)
        self._on_result = on_result
        self._on_lag = on_lag
        self._jobs: dict[str, _Job] = {}
        self._heap: list[tuple[float, int, str]] = []  # (due, token, job name)
        self._tokens = itertools.count(1)
        self._timer: Cancellable | None = None
        self._timer_at = math.inf
        self.stats: dict[str, JobStats] = {}

    def add(
        self,
        name: str,
        *,
        interval: float,
        timeout: float,
        probe: ProbeFn,
        not_before: NotBeforeFn = lambda: None,
        first_due: float | None = None,
    ) -> None:
        if name in self._jobs:
            raise ValueError(f"job {name!r} is already scheduled")
        if first_due is None:
            first_due = self._clock.monotonic() + spread_offset(name, interval)
        stats = self.stats.setdefault(name, JobStats())
        job = _Job(name, interval, timeout, probe, not_before, stats)
        self._jobs[name] = job
        self._push(job, first_due)

    async def remove(self, name: str) -> None:
        job = self._jobs.pop(name, None)
        self.stats.pop(name, None)
        if job is not None and job.run is not None:
            job.run.cancel()
            await asyncio.gather(job.run, return_exceptions=True)

    def names(self) -> list[str]:
        return list(self._jobs)

    async def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer, self._timer_at = None, math.inf
        runs = [job.run for job in self._jobs.values() if job.run is not None]
        self._jobs.clear()
        self._heap.clear()
        for run in runs:
            run.cancel()
        await asyncio.gather(*runs, return_exceptions=True)

    def _push(self, job: _Job, due: float) -> None:
        job.token = next(self._tokens)
        heapq.heappush(self._heap, (due, job.token, job.name))
        if due < self._timer_at:
            self._arm(due)

    def _arm(self, due: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer, self._timer_at = self._clock.call_at(due, self._fire), due

    def _fire(self) -> None:
        """Start every job that is due; wake again for the next one."""
        self._timer, self._timer_at = None, math.inf
        heap, jobs = self._heap, self._jobs
        now = self._clock.monotonic() + TIMER_SLACK
        while heap and heap[0][0] <= now:
            due, token, name = heapq.heappop(heap)
            job = jobs.get(name)
            if job is not None and job.token == token:
                job.run = asyncio.create_task(self._tick(job, due), name=f"probe:{name}")
        if heap:
            self._arm(heap[0][0])

    async def _tick(self, job: _Job, due: float) -> None:
        clock = self._clock
        stats = job.stats
        try:
            wait_until = job.not_before()
            if wait_until is None or wait_until <= clock.monotonic():
                async with self._slots:
                    started = clock.monotonic()
                    self._on_lag(max(0.0, started - due))
                    observation = await self._run_once(job.name, job.probe,
                                                       started + job.timeout, stats)
                stats.runs += 1
                self._on_result(job.name, observation)
            else:
                stats.skipped += 1
        finally:
            job.run = None
        if self._jobs.get(job.name) is not job:
            return  # removed meanwhile
        due += job.interval
        now = clock.monotonic()
        if due <= now:
            # Fixed rate: skip the ticks we missed rather than bunching them up.
            missed = math.floor((now - due) / job.interval) + 1
            stats.skipped += missed
            due += missed * job.interval
        self._push(job, due)

    async def _run_once(
        self, name: str, probe: ProbeFn, deadline: float, stats: JobStats
    ) -> Observation:
        clock = self._clock
        started_wall = clock.wall()
        try:
            async with clock.timeout_at(deadline + DEADLINE_GRACE):
                return await probe()
        except TimeoutError:
            stats.overruns += 1
            return Observation(
                target=name,
                started_at=started_wall,
                reason=Reason.TIMEOUT,
                detail="probe did not finish within its timeout",
            )
        except Exception as exc:  # a check broke its promise not to raise
            log.exception("check raised", target=name)
            return Observation(
                target=name,
                started_at=started_wall,
                reason=Reason.ERROR,
                detail=f"internal error in check: {type(exc).__name__}",
            )
