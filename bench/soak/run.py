"""One soak run: the worlds, the receiver and the daemon up; faults, reloads and sampling for
the duration, with a quiet checkpoint at the end of the warm-up and one at the end.

A quiet checkpoint stops the faults and the reloads, clears every fault, lets the receiver
answer everything, waits until nothing the faults held can still be in flight (QUIET_DRAIN)
and samples a few times: the daemon's fds and tasks then hold only what it keeps, so the
two checkpoints compare like with like. Faults and reloads resume after the first.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.soak.daemon import SoakDaemon
from bench.soak.faults import FaultInjector
from bench.soak.goals import Activity
from bench.soak.receiver import Receiver
from bench.soak.sampler import Sample, Sampler
from bench.soak.sites import Sites
from bench.soak.targets import counts, soak_config
from bench.soak.worlds import running

# A probe's timeout (5 s) plus the scheduler's grace (1 s) plus a margin: every request a
# fault held has ended by then. The receiver lets its held requests go at once.
QUIET_DRAIN = 8.0
QUIET_SAMPLES = 5
QUIET_SAMPLE_EVERY = 1.0
QUIET_TIME = QUIET_DRAIN + QUIET_SAMPLES * (QUIET_SAMPLE_EVERY + 1.0)  # with the scrapes
CHECKPOINTS = ("after warm-up", "end")


@dataclass(frozen=True)
class Settings:
    duration: float
    targets: int
    seed: int
    warmup: float
    sample_every: float
    fault_every: float
    reload_every: float


@dataclass
class Reloader:
    """SIGHUP every `every` seconds, each time with the next generation's config."""

    daemon: SoakDaemon
    sites: Sites
    targets: int
    receiver_url: str
    every: float
    generation: int = 0

    async def run(self) -> None:
        if self.every <= 0:
            return
        while True:
            await asyncio.sleep(self.every)
            self.generation += 1
            config = soak_config(self.sites, self.targets, self.receiver_url, self.generation)
            await asyncio.to_thread(self.daemon.reload, config)


@dataclass
class SoakResult:
    samples: list[Sample]
    checkpoints: dict[str, list[Sample]]
    activity: Activity
    log_tail: str = ""


async def _exited(daemon: SoakDaemon) -> None:
    await asyncio.to_thread(daemon.wait)


async def _until(deadline: float, died: asyncio.Task[None]) -> bool:
    """Wait until `deadline` (monotonic); False if the daemon died first."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
            await asyncio.shield(died)
    return not died.done()


async def _stop(tasks: list[asyncio.Task[None]]) -> list[str]:
    """Cancel the tasks; what any of them failed with before (none should)."""
    for task in tasks:
        task.cancel()
    results = await asyncio.gather(*tasks, return_exceptions=True)
    return [f"{task.get_name()}: {result!r}" for task, result in zip(tasks, results, strict=True)
            if isinstance(result, Exception)]


async def soak(settings: Settings, workdir: Path) -> SoakResult:
    rng = random.Random(settings.seed)
    receiver = Receiver(random.Random(rng.random()))
    await receiver.start()
    daemon = SoakDaemon(workdir)
    sampler: Sampler | None = None
    injector: FaultInjector | None = None
    reloader: Reloader | None = None
    alive = False
    failures: list[str] = []
    try:
        async with running(settings.seed, workdir) as sites:
            daemon.write_config(soak_config(sites, settings.targets, receiver.url))
            await asyncio.to_thread(daemon.start)
            started = time.monotonic()
            print(f"daemon pid {daemon.pid} on {daemon.base_url}: {settings.targets} targets "
                  f"{counts(settings.targets)}; {settings.duration:g} s, warm-up "
                  f"{settings.warmup:g} s, a sample every {settings.sample_every:g} s; "
                  f"workdir {workdir}", flush=True)
            sampler = Sampler(daemon.pid, f"{daemon.base_url}/metrics", started)
            injector = FaultInjector(sites, random.Random(rng.random()), settings.fault_every)
            reloader = Reloader(daemon, sites, settings.targets, receiver.url,
                                settings.reload_every)
            sampling = asyncio.create_task(sampler.run(settings.sample_every), name="sampling")
            died = asyncio.create_task(_exited(daemon))
            quiet_at = (started + settings.warmup,
                        started + max(settings.warmup + QUIET_TIME,
                                      settings.duration - QUIET_TIME))
            jobs: dict[str, Callable[[], Coroutine[Any, Any, None]]] = {
                "faults": injector.run, "reloads": reloader.run}
            for label, at in zip(CHECKPOINTS, quiet_at, strict=True):
                busy = [asyncio.create_task(job(), name=name) for name, job in jobs.items()]
                alive = await _until(at, died)
                failures += await _stop(busy)
                if not alive:
                    break
                receiver.calm.set()
                await injector.clear_all()
                await asyncio.sleep(QUIET_DRAIN)
                await sampler.checkpoint(label, QUIET_SAMPLES, QUIET_SAMPLE_EVERY)
                receiver.calm.clear()
            alive = alive and daemon.alive()
            failures += await _stop([sampling])
            await _stop([died])
    finally:
        exit_code = await asyncio.to_thread(daemon.stop)
        await receiver.stop()
    events, errors = await asyncio.to_thread(daemon.log_events)
    activity = Activity(
        faults=dict(injector.injected) if injector else {},
        refused=dict(injector.refused) if injector else {},
        notifications=dict(receiver.answered), alerts=dict(receiver.alerts),
        reloads_sent=reloader.generation if reloader else 0,
        reloads_applied=events["config reloaded"], errors=dict(errors),
        failed_scrapes=sampler.failed_scrapes if sampler else 0,
        survived=alive, exit_code=exit_code, failures=failures)
    return SoakResult(sampler.samples if sampler else [],
                      sampler.checkpoints if sampler else {}, activity,
                      "" if alive else daemon.log_tail())
