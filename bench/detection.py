"""Detection time: from turning a fault on to the firing webhook arriving.

The detection target (`/switch` of bench.delay) is probed by outagemon every INTERVAL with
TIMEOUT and FAILURE_THRESHOLD; its alerts go to a webhook receiver in the bench process. Each
trial turns the fault on (503), waits for TargetDown firing, turns it off and waits for the
resolution. The goal: interval x failure_threshold + timeout + 1 s.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bench.proc import free_port

TARGET = "detect"
INTERVAL = 1.0
TIMEOUT = 1.0
FAILURE_THRESHOLD = 3
SUCCESS_THRESHOLD = 1
GROUP_WAIT_MS = 1  # the goal leaves out batching: group_wait is a setting (default 5 s)
BOUND = INTERVAL * FAILURE_THRESHOLD + TIMEOUT + 1.0


def target_line(switch_url: str) -> str:
    return (f"  - {{name: {TARGET}, kind: http, url: '{switch_url}', interval: {INTERVAL:g}s, "
            f"timeout: {TIMEOUT:g}s, alert: {{failure_threshold: {FAILURE_THRESHOLD}, "
            f"success_threshold: {SUCCESS_THRESHOLD}}}}}")


def alerting_lines(hook_url: str) -> list[str]:
    return [f"alerts: {{group_wait: {GROUP_WAIT_MS}ms}}", "notifiers:",
            f"  - {{name: bench, type: webhook, url: '{hook_url}'}}"]


@dataclass
class Receiver:
    """Webhook receiver: when each (status, target) of TargetDown arrived (monotonic)."""

    port: int = field(default_factory=free_port)
    arrivals: list[tuple[float, str]] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        async def hook(request: web.Request) -> web.Response:
            now = time.monotonic()
            payload = await request.json()
            for alert in payload.get("alerts", []):
                labels = alert.get("labels", {})
                if labels.get("alertname") == "TargetDown" and labels.get("target") == TARGET:
                    self.arrivals.append((now, alert["status"]))
                    self.arrived.set()
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post("/hook", hook)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def wait_for(self, status: str, after: float, timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            for when, seen in self.arrivals:
                if seen == status and when >= after:
                    return when
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.arrived.clear()
            try:
                await asyncio.wait_for(self.arrived.wait(), left)
            except TimeoutError:
                return None


async def trials(receiver: Receiver, control_url: str, seconds: float) -> list[float]:
    """Fault on, firing, fault off, resolved; repeated for about `seconds`. Returns the
    detection time of each trial (a trial with no firing within 3x the bound counts as
    infinity)."""
    out: list[float] = []
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < end:
            started = time.monotonic()
            async with session.post(f"{control_url}/fault/on") as resp:
                resp.raise_for_status()
            fired = await receiver.wait_for("firing", started, 3 * BOUND)
            out.append(float("inf") if fired is None else fired - started)
            cleared = time.monotonic()
            async with session.post(f"{control_url}/fault/off") as resp:
                resp.raise_for_status()
            await receiver.wait_for("resolved", cleared, 3 * BOUND)
            # let the target be probed up a few times before the next trial
            await asyncio.sleep(INTERVAL * 1.5)
    return out
