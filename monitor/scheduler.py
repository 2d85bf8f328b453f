"""Fixed-rate scheduling: each target at its own interval, first runs spread over the first
interval, a global concurrency cap, and a hard deadline so no probe can hang a worker.

The scheduler records its own lateness (how late each probe starts against its due time),
because a busy event loop inflates every latency it measures.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import structlog

from monitor.clock import Clock
from monitor.observation import Observation, Reason

# Added to a probe's own timeout before the scheduler cancels it: the check should time
# itself out first and say which step hung; this is the safety net.
DEADLINE_GRACE = 1.0

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


class Scheduler:
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
        self._tasks: dict[str, asyncio.Task[None]] = {}
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
        if name in self._tasks:
            raise ValueError(f"job {name!r} is already scheduled")
        if first_due is None:
            first_due = self._clock.monotonic() + spread_offset(name, interval)
        stats = self.stats.setdefault(name, JobStats())
        self._tasks[name] = asyncio.create_task(
            self._loop(name, interval, timeout, probe, not_before, first_due, stats),
            name=f"probe:{name}",
        )

    async def remove(self, name: str) -> None:
        task = self._tasks.pop(name, None)
        self.stats.pop(name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def names(self) -> list[str]:
        return list(self._tasks)

    async def stop(self) -> None:
        tasks = list(self._tasks.values())
        self._tasks.clear()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _loop(
        self,
        name: str,
        interval: float,
        timeout: float,
        probe: ProbeFn,
        not_before: NotBeforeFn,
        due: float,
        stats: JobStats,
    ) -> None:
        clock = self._clock
        while True:
            await clock.sleep_until(due)
            wait_until = not_before()
            if wait_until is None or wait_until <= clock.monotonic():
                async with self._slots:
                    started = clock.monotonic()
                    self._on_lag(max(0.0, started - due))
                    observation = await self._run_once(name, probe, started + timeout,
                                                       stats)
                stats.runs += 1
                self._on_result(name, observation)
            else:
                stats.skipped += 1
            due += interval
            now = clock.monotonic()
            if due <= now:
                # Fixed rate: skip the ticks we missed rather than bunching them up.
                missed = math.floor((now - due) / interval) + 1
                stats.skipped += missed
                due += missed * interval

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
