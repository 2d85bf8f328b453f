"""Detection time: from turning a fault on to the firing webhook arriving.

TRIALS detection targets (`/switch/N` of bench.delay) are probed by outagemon every INTERVAL
with TIMEOUT and FAILURE_THRESHOLD; their alerts go to a webhook receiver in the bench
process. Each trial takes the next target (one target failing over and over would rightly be
judged flapping), turns its fault on (503), waits for its TargetDown firing, turns the fault
off and waits for the resolution. The goal: interval x failure_threshold + timeout + 1 s.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from bench.proc import free_port

TARGET = "detect-"
TRIALS = 5
INTERVAL = 1.0
TIMEOUT = 1.0
FAILURE_THRESHOLD = 3
SUCCESS_THRESHOLD = 1
GROUP_WAIT_MS = 1  # the goal leaves out batching: group_wait is a setting (default 5 s)
BOUND = INTERVAL * FAILURE_THRESHOLD + TIMEOUT + 1.0


def target_lines(upstream: str) -> list[str]:
    return [f"  - {{name: {TARGET}{n}, kind: http, url: '{upstream}/switch/{n}', "
            f"interval: {INTERVAL:g}s, timeout: {TIMEOUT:g}s, alert: {{failure_threshold: "
            f"{FAILURE_THRESHOLD}, success_threshold: {SUCCESS_THRESHOLD}}}}}"
            for n in range(TRIALS)]


def alerting_lines(hook_url: str) -> list[str]:
    return [f"alerts: {{group_wait: {GROUP_WAIT_MS}ms}}", "notifiers:",
            f"  - {{name: bench, type: webhook, url: '{hook_url}'}}"]


@dataclass
class Receiver:
    """Webhook receiver: when each TargetDown (status, target) arrived (monotonic)."""

    port: int = field(default_factory=free_port)
    arrivals: list[tuple[float, str, str]] = field(default_factory=list)
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
                target = str(labels.get("target", ""))
                if labels.get("alertname") == "TargetDown" and target.startswith(TARGET):
                    self.arrivals.append((now, alert["status"], target))
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

    async def wait_for(self, target: str, status: str, after: float,
                       timeout: float) -> float | None:
        deadline = time.monotonic() + timeout
        while True:
            for when, seen, name in self.arrivals:
                if name == target and seen == status and when >= after:
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
    """Fault on, firing, fault off, resolved: one trial per detection target, as many as fit
    in about `seconds`. Returns each trial's detection time (no firing within 3x the bound:
    infinity)."""
    out: list[float] = []
    end = time.monotonic() + seconds
    async with aiohttp.ClientSession() as session:
        for n in range(TRIALS):
            if time.monotonic() >= end:
                break
            target = f"{TARGET}{n}"
            started = time.monotonic()
            async with session.post(f"{control_url}/fault/{n}/on") as resp:
                resp.raise_for_status()
            fired = await receiver.wait_for(target, "firing", started, 3 * BOUND)
            out.append(float("inf") if fired is None else fired - started)
            cleared = time.monotonic()
            async with session.post(f"{control_url}/fault/{n}/off") as resp:
                resp.raise_for_status()
            await receiver.wait_for(target, "resolved", cleared, 3 * BOUND)
    return out
