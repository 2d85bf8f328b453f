"""Time, injected. The daemon uses RealClock; tests drive FakeClock without sleeping."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import time
from collections.abc import Callable
from typing import Protocol


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never jumps; only differences mean anything."""

    def wall(self) -> float:
        """Unix time in seconds."""

    async def sleep_until(self, deadline: float) -> None:
        """Return once monotonic() >= deadline."""

    def call_at(self, deadline: float, callback: Callable[[], None]) -> Cancellable:
        """Call `callback` (on the event loop) once monotonic() >= deadline."""

    def timeout_at(self, deadline: float) -> asyncio.Timeout | _FakeTimeout:
        """An async context manager raising TimeoutError in the block once deadline passes."""


class RealClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def wall(self) -> float:
        return time.time()

    async def sleep_until(self, deadline: float) -> None:
        delay = deadline - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)

    def call_at(self, deadline: float, callback: Callable[[], None]) -> asyncio.TimerHandle:
        loop = asyncio.get_running_loop()
        return loop.call_at(loop.time() + (deadline - time.monotonic()), callback)

    def timeout_at(self, deadline: float) -> asyncio.Timeout:
        loop = asyncio.get_running_loop()
        return asyncio.timeout_at(loop.time() + (deadline - time.monotonic()))


class _Timer:
    __slots__ = ("callback", "cancelled")

    def __init__(self, callback: Callable[[], None]) -> None:
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class _FakeTimeout:
    def __init__(self, clock: FakeClock, deadline: float) -> None:
        self._clock = clock
        self._deadline = deadline
        self._fired = False
        self._timer: _Timer | None = None
        self._task: asyncio.Task[object] | None = None

    def _fire(self) -> None:
        self._fired = True
        if self._task is not None:
            self._task.cancel()

    async def __aenter__(self) -> _FakeTimeout:
        self._task = asyncio.current_task()
        self._timer = self._clock.call_at(self._deadline, self._fire)
        return self

    async def __aexit__(self, exc_type: object, exc: object, tb: object) -> bool:
        if self._timer is not None:
            self._timer.cancel()
        if exc_type is asyncio.CancelledError and self._fired:
            assert self._task is not None
            if self._task.uncancel() == 0:
                raise TimeoutError
        return False


class FakeClock:
    """A clock that only moves when a test calls `advance`.

    Timers fire in deadline order; between timers the event loop gets a few turns so that
    woken tasks can run (and schedule new timers) before time moves on.
    """

    def __init__(self, start: float = 1000.0, wall_offset: float = 1_700_000_000.0) -> None:
        self._now = start
        self._wall_offset = wall_offset
        self._timers: list[tuple[float, int, _Timer]] = []
        self._seq = itertools.count()

    def monotonic(self) -> float:
        return self._now

    def wall(self) -> float:
        return self._wall_offset + self._now

    def call_at(self, deadline: float, callback: Callable[[], None]) -> _Timer:
        timer = _Timer(callback)
        heapq.heappush(self._timers, (deadline, next(self._seq), timer))
        return timer

    async def sleep_until(self, deadline: float) -> None:
        if deadline <= self._now:
            await asyncio.sleep(0)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not future.done():
                future.set_result(None)

        timer = self.call_at(deadline, wake)
        try:
            await future
        finally:
            timer.cancel()

    def timeout_at(self, deadline: float) -> _FakeTimeout:
        return _FakeTimeout(self, deadline)

    async def settle(self, turns: int = 20) -> None:
        """Give the event loop a few turns so ready tasks run."""
        for _ in range(turns):
            await asyncio.sleep(0)

    async def advance(self, seconds: float) -> None:
        """Move time forward by `seconds`, firing every timer due on the way in order."""
        end = self._now + seconds
        await self.settle()
        while True:
            while self._timers and self._timers[0][2].cancelled:
                heapq.heappop(self._timers)
            if not self._timers or self._timers[0][0] > end:
                break
            deadline, _, timer = heapq.heappop(self._timers)
            self._now = max(self._now, deadline)
            timer.callback()
            await self.settle()
        self._now = end
        await self.settle()
