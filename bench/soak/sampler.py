"""Samples of the daemon's resources: VmRSS and the open file descriptors straight from
/proc/<pid>, then one /metrics scrape for the asyncio task count, the process_* gauges and a
few counters that show the soak is doing something (probes, reconnects, notifications).

/proc is read just before the scrape, so the scrape's own connection is not among the fds.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import defaultdict
from dataclasses import dataclass, field

import aiohttp

from bench.proc import rss_bytes

SCRAPE_TIMEOUT = 60.0
# Families read from /metrics, summed over their series (notifications: by result too).
FAMILIES = (
    "outagemon_asyncio_tasks",
    "process_resident_memory_bytes",
    "process_open_fds",
    "outagemon_ws_connected",
    "outagemon_probes_total",
    "outagemon_ws_reconnects_total",
    "outagemon_notifications_total",
    "outagemon_alerts_firing",
    "outagemon_notification_queue_depth",
)


@dataclass(frozen=True)
class Sample:
    at: float  # seconds since the daemon started
    rss: int  # VmRSS, bytes
    fds: int  # entries in /proc/<pid>/fd
    metrics: dict[str, float] = field(default_factory=dict)  # FAMILIES (+ "...{result=x}")
    scrape_seconds: float = 0.0

    def metric(self, name: str) -> float:
        return self.metrics.get(name, 0.0)


def proc_figures(pid: int) -> tuple[int, int] | None:
    """(VmRSS bytes, open fds) of a live process, None once it is gone."""
    try:
        return rss_bytes(pid), len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return None


def parse(text: str) -> dict[str, float]:
    """The FAMILIES summed over their series; notifications also per `result` label."""
    sums: dict[str, float] = defaultdict(float)
    for line in text.splitlines():
        if not line.startswith(FAMILIES):
            continue
        head, _, value = line.rpartition(" ")
        name = head.split("{", 1)[0]
        if name not in FAMILIES:
            continue
        number = float(value)
        sums[name] += number
        if name == "outagemon_notifications_total" and 'result="' in head:
            result = head.split('result="', 1)[1].split('"', 1)[0]
            sums[f"{name}{{result={result}}}"] += number
    return dict(sums)


@dataclass
class Sampler:
    pid: int
    metrics_url: str
    started: float  # time.monotonic() when the daemon started
    samples: list[Sample] = field(default_factory=list)
    checkpoints: dict[str, list[Sample]] = field(default_factory=dict)  # quiet samples
    failed_scrapes: int = 0

    async def sample(self, session: aiohttp.ClientSession, keep: bool = True) -> Sample | None:
        at = time.monotonic() - self.started
        figures = await asyncio.to_thread(proc_figures, self.pid)
        if figures is None:
            return None
        rss, fds = figures
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT), session.get(self.metrics_url) as resp:
                resp.raise_for_status()
                text = await resp.text()
        except (aiohttp.ClientError, TimeoutError):
            self.failed_scrapes += 1
            return None
        scraped = time.monotonic() - t0
        metrics = await asyncio.to_thread(parse, text)
        sample = Sample(at, rss, fds, metrics, scraped)
        if keep:
            self.samples.append(sample)
        return sample

    async def checkpoint(self, label: str, count: int, every: float) -> None:
        """`count` samples `every` seconds apart, kept apart under `label`."""
        taken = self.checkpoints.setdefault(label, [])
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(force_close=True)) as s:
            for index in range(count):
                if index:
                    await asyncio.sleep(every)
                sample = await self.sample(s, keep=False)
                if sample is not None:
                    taken.append(sample)

    async def run(self, every: float) -> None:
        """Sample every `every` seconds until cancelled."""
        connector = aiohttp.TCPConnector(force_close=True)
        async with aiohttp.ClientSession(connector=connector) as session:
            next_at = time.monotonic()
            while True:
                await self.sample(session)
                next_at += every
                await asyncio.sleep(max(0.0, next_at - time.monotonic()))
