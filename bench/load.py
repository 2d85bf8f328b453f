"""Drive blackbox_exporter's /probe at a fixed rate with bounded concurrency (as Prometheus
scraping N probe jobs would)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass

import aiohttp

TICK = 0.01  # requests are launched in batches every 10 ms


@dataclass
class LoadCounts:
    ok: int = 0  # probe_success 1
    failed: int = 0  # probe_success 0, HTTP error or exception
    skipped: int = 0  # due but every concurrency slot was busy

    def total(self) -> int:
        return self.ok + self.failed


class LoadGenerator:
    def __init__(self, urls: Sequence[str], rate: float, concurrency: int) -> None:
        self.urls = urls
        self.rate = rate
        self.concurrency = concurrency
        self.counts = LoadCounts()
        self._inflight = 0

    async def run(self, stop: asyncio.Event) -> None:
        connector = aiohttp.TCPConnector(limit=self.concurrency, force_close=False)
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            tasks: set[asyncio.Task[None]] = set()
            start = time.monotonic()
            sent = 0
            while not stop.is_set():
                due = int((time.monotonic() - start) * self.rate)
                while sent < due:
                    url = self.urls[sent % len(self.urls)]
                    sent += 1
                    if self._inflight >= self.concurrency:
                        self.counts.skipped += 1
                        continue
                    task = asyncio.create_task(self._one(session, url))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                await asyncio.sleep(TICK)
            if tasks:
                await asyncio.gather(*tasks, return_exceptions=True)

    async def _one(self, session: aiohttp.ClientSession, url: str) -> None:
        self._inflight += 1
        try:
            async with session.get(url) as resp:
                body = await resp.read()
            if resp.status == 200 and b"\nprobe_success 1" in body:
                self.counts.ok += 1
            else:
                self.counts.failed += 1
        except (aiohttp.ClientError, TimeoutError):
            self.counts.failed += 1
        finally:
            self._inflight -= 1
