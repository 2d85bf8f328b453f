"""Scheduler timing, driven by a FakeClock: no test sleeps through real intervals."""

from __future__ import annotations

import asyncio
import gc
import itertools

import pytest

from monitor.clock import FakeClock
from monitor.observation import Observation, Reason
from monitor.scheduler import Scheduler, spread_offset


def ok(clock: FakeClock, name: str) -> Observation:
    return Observation(target=name, started_at=clock.wall(), reason=Reason.OK, latency=0.0)


class Recorder:
    def __init__(self) -> None:
        self.results: dict[str, list[Observation]] = {}
        self.lags: list[float] = []

    def on_result(self, name: str, obs: Observation) -> None:
        self.results.setdefault(name, []).append(obs)

    def count(self, name: str) -> int:
        return len(self.results.get(name, []))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, rec: Recorder, cap: int = 16) -> Scheduler:
    return Scheduler(clock, max_concurrency=cap, on_result=rec.on_result, on_lag=rec.lags.append)


async def test_fixed_rate_does_not_drift_with_probe_duration(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)
    starts: list[float] = []

    async def slowish() -> Observation:
        starts.append(clock.monotonic())
        await clock.sleep_until(clock.monotonic() + 0.4)  # the probe takes 400 ms
        return ok(clock, "a")

    sched.add("a", interval=1.0, timeout=0.9, probe=slowish, first_due=clock.monotonic())
    await clock.advance(30.0)
    await sched.stop()
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert len(starts) == 31  # t=0..30 inclusive
    assert all(gap == pytest.approx(1.0) for gap in gaps)


async def test_hanging_target_does_not_slow_a_fast_one(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)
    never: asyncio.Future[Observation] = asyncio.get_running_loop().create_future()

    async def hang() -> Observation:
        return await never

    async def fast() -> Observation:
        return ok(clock, "fast")

    sched.add("hang", interval=5.0, timeout=4.0, probe=hang)
    sched.add("fast", interval=1.0, timeout=1.0, probe=fast)
    await clock.advance(30.0)
    await sched.stop()
    assert 29.4 <= rec.count("fast") <= 30.6  # the rate holds within 2 %
    hung = rec.results["hang"]
    assert hung and all(o.reason is Reason.TIMEOUT for o in hung)
    assert max(rec.lags) == pytest.approx(0.0)


async def test_first_runs_spread_over_the_first_interval(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)
    firsts: dict[str, float] = {}
    start = clock.monotonic()

    def probe_for(name: str):  # type: ignore[no-untyped-def]
        async def probe() -> Observation:
            firsts.setdefault(name, clock.monotonic() - start)
            return ok(clock, name)

        return probe

    names = [f"t{i}" for i in range(50)]
    for name in names:
        sched.add(name, interval=10.0, timeout=5.0, probe=probe_for(name))
    await clock.advance(10.0)
    await sched.stop()
    assert set(firsts) == set(names)
    assert all(0 <= t < 10.0 for t in firsts.values())
    # spread: no more than a fifth of them in any one second
    per_second = [sum(1 for t in firsts.values() if s <= t < s + 1) for s in range(10)]
    assert max(per_second) <= 10
    assert spread_offset("x", 10.0) == spread_offset("x", 10.0)


async def test_concurrency_cap_is_respected(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec, cap=2)
    in_flight = 0
    peak = 0

    async def busy() -> Observation:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await clock.sleep_until(clock.monotonic() + 1.0)
        in_flight -= 1
        return ok(clock, "x")

    now = clock.monotonic()
    for i in range(5):
        sched.add(f"b{i}", interval=10.0, timeout=5.0, probe=busy, first_due=now)
    await clock.advance(5.0)
    await sched.stop()
    assert peak == 2
    assert sum(rec.count(f"b{i}") for i in range(5)) == 5
    # queued probes start late, and the scheduler says so
    assert max(rec.lags) == pytest.approx(2.0)


async def test_back_off_skips_ticks_until_not_before(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)
    backoff_until = clock.monotonic() + 5.5

    async def probe() -> Observation:
        return ok(clock, "rl")

    sched.add("rl", interval=1.0, timeout=1.0, probe=probe, not_before=lambda: backoff_until,
              first_due=clock.monotonic())
    await clock.advance(10.0)
    await sched.stop()
    times = [o.started_at - clock.wall() + 10.0 for o in rec.results["rl"]]
    assert len(times) == 5  # t = 6, 7, 8, 9, 10
    assert min(times) >= 5.5


async def test_a_check_that_raises_becomes_an_error_observation(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)

    async def broken() -> Observation:
        raise RuntimeError("bug")

    sched.add("b", interval=1.0, timeout=1.0, probe=broken, first_due=clock.monotonic())
    await clock.advance(0.5)
    await sched.stop()
    assert rec.results["b"][0].reason is Reason.ERROR


async def test_remove_stops_a_job(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)

    async def probe() -> Observation:
        return ok(clock, "r")

    sched.add("r", interval=1.0, timeout=1.0, probe=probe, first_due=clock.monotonic())
    await clock.advance(2.5)
    await sched.remove("r")
    before = rec.count("r")
    await clock.advance(5.0)
    assert rec.count("r") == before == 3
    with pytest.raises(ValueError):
        sched.add("x", interval=1.0, timeout=1.0, probe=probe)
        sched.add("x", interval=1.0, timeout=1.0, probe=probe)
    await sched.stop()


async def test_a_job_waiting_for_its_tick_holds_no_task_and_few_objects(clock: FakeClock) -> None:
    rec = Recorder()
    sched = make(clock, rec)

    async def probe() -> Observation:
        return ok(clock, "w")

    gc.collect()
    before = len(gc.get_objects())
    jobs = 1000
    for i in range(jobs):
        sched.add(f"w{i}", interval=10.0, timeout=1.0, probe=probe)
    await clock.advance(10.0)  # each has run once and waits for its next tick
    rec.results.clear()
    gc.collect()
    per_job = (len(gc.get_objects()) - before) / jobs
    probes_alive = [t for t in asyncio.all_tasks() if t.get_name().startswith("probe:")]
    await sched.stop()
    assert probes_alive == []
    # the job, its stats and a little; a task sleeping per job kept about a dozen
    # (coroutines, future, timer handle, context, ...) for the collector to walk
    assert per_job <= 4
