"""The soak's notification receiver on 127.0.0.1: takes the webhook, Alertmanager and Slack
notifiers' requests and, from a seeded RNG, fails some of them (5xx, 429 with Retry-After,
a reset connection, an answer later than the notifier's 10 s timeout) so the daemon's outbox
keeps retrying. Counts what arrived and how it answered.

While `calm` is set (the soak's quiet checkpoints) it answers everything at once with 200,
requests it was holding back included, so no notification stays in flight."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from dataclasses import dataclass, field

import orjson
from aiohttp import web

# (weight, answer): most requests succeed; the rest exercise every retry path.
ANSWERS: tuple[tuple[int, str], ...] = (
    (70, "ok"), (10, "503"), (8, "429"), (5, "500"), (4, "reset"), (3, "late"))
LATE_SECONDS = 12.0  # past the notifiers' 10 s timeout


@dataclass
class Receiver:
    rng: random.Random
    answered: Counter[str] = field(default_factory=Counter)  # by answer kind
    paths: Counter[str] = field(default_factory=Counter)
    alerts: Counter[str] = field(default_factory=Counter)  # firing / resolved, delivered ok
    calm: asyncio.Event = field(default_factory=asyncio.Event)
    _runner: web.AppRunner | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False,
                                     shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.paths[request.path.split("/")[1]] += 1
        weights, kinds = zip(*ANSWERS, strict=True)
        answer = "ok" if self.calm.is_set() else self.rng.choices(kinds, weights)[0]
        self.answered[answer] += 1
        if answer == "reset":
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=499)  # never sent
        if answer == "late":
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(LATE_SECONDS):
                    await self.calm.wait()
            return web.Response(text="late")  # the daemon gave up if it took LATE_SECONDS
        if answer == "429":
            return web.Response(status=429, headers={"Retry-After": str(self.rng.randint(1, 3))})
        if answer in ("503", "500"):
            return web.Response(status=int(answer), text="receiver failing on purpose")
        self._count_alerts(request.path, body)
        return web.Response(text="ok")

    def _count_alerts(self, path: str, body: bytes) -> None:
        if not path.startswith("/hook"):
            return
        try:
            payload = orjson.loads(body)
        except orjson.JSONDecodeError:
            return
        for alert in payload.get("alerts", []):
            self.alerts[str(alert.get("status"))] += 1
