"""Run outagemon over N http targets at a given probe rate and read its metrics."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench import detection
from bench.proc import free_port, stop, wait_http

DELAY_PREFIX = "delayed-"
DELAY_TARGETS = 10  # each probed every second: ten samples a second of the 100 ms delay
LOAD_PREFIX = "t"
_SAMPLE = re.compile(r'^(\w+)\{([^}]*)\} (\S+)$')
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def config(urls: Sequence[str], interval_ms: int, upstream: str, hook_url: str) -> str:
    """N load targets at one interval, the accuracy targets (100 ms delay, every second)
    and the detection target with its webhook."""
    timeout_ms = min(interval_ms, 5000)
    lines = [f"defaults: {{interval: {interval_ms}ms, timeout: {timeout_ms}ms}}",
             *detection.alerting_lines(hook_url), "targets:",
             *detection.target_lines(upstream)]
    lines += [f"  - {{name: {DELAY_PREFIX}{i}, kind: http, url: '{upstream}/slow/{i}', "
              "interval: 1s, timeout: 1s}" for i in range(DELAY_TARGETS)]
    lines += [f"  - {{name: {LOAD_PREFIX}{i}, kind: http, url: '{url}'}}"
              for i, url in enumerate(urls)]
    return "\n".join(lines) + "\n"


@dataclass
class Outagemon:
    proc: subprocess.Popen[bytes]
    port: int

    def get(self, path: str) -> bytes:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=30) as r:
            return bytes(r.read())

    def scrape(self) -> Scrape:
        return Scrape.parse(self.get("/metrics").decode())

    def delay_latencies(self) -> dict[tuple[str, str], float]:
        """{(target, last_success): latency_seconds} of the delayed targets."""
        out = {}
        for item in json.loads(self.get("/api/v1/targets")):
            name = item["target"]
            if (name.startswith(DELAY_PREFIX) and item["last_success"]
                    and item["latency_seconds"] is not None):
                out[(name, item["last_success"])] = float(item["latency_seconds"])
        return out


@dataclass
class Scrape:
    probes: float  # outagemon_probes_total over the load targets
    lag_buckets: list[tuple[float, float]]  # cumulative (le, count)
    all_probes: float = 0.0  # outagemon_probes_total over every target

    @classmethod
    def parse(cls, text: str) -> Scrape:
        probes = every = 0.0
        lag: list[tuple[float, float]] = []
        for line in text.splitlines():
            if not line.startswith(("outagemon_probes_total{",
                                    "outagemon_scheduler_lag_seconds_bucket{")):
                continue
            m = _SAMPLE.match(line)
            if m is None:
                continue
            labels = dict(_LABEL.findall(m.group(2)))
            value = float(m.group(3))
            if m.group(1) == "outagemon_probes_total":
                every += value
                if labels.get("target", "").startswith(LOAD_PREFIX):
                    probes += value
            else:
                lag.append((float(labels["le"]), value))
        return cls(probes, sorted(lag), every)


def lag_quantile(before: Scrape, after: Scrape, q: float) -> float | None:
    """histogram_quantile over the window (linear inside a bucket, like Prometheus)."""
    deltas = [(le, a - b) for (le, a), (_, b) in zip(after.lag_buckets, before.lag_buckets,
                                                      strict=True)]
    if not deltas or deltas[-1][1] <= 0:
        return None
    rank = q * deltas[-1][1]
    lower, below = 0.0, 0.0
    for le, count in deltas:
        if count >= rank:
            if le == float("inf"):
                return lower
            return lower + (le - lower) * (rank - below) / max(count - below, 1e-9)
        lower, below = le, count
    return None


def binary() -> list[str]:
    exe = shutil.which("outagemon")
    return [exe] if exe else [sys.executable, "-m", "monitor"]


@contextmanager
def running(workdir: Path, urls: Sequence[str], interval_ms: int, upstream: str,
            hook_url: str) -> Iterator[Outagemon]:
    conf = workdir / f"outagemon-{interval_ms}.yaml"
    conf.write_text(config(urls, interval_ms, upstream, hook_url))
    with running_config(workdir, conf) as om:
        yield om


@contextmanager
def running_config(workdir: Path, conf: Path) -> Iterator[Outagemon]:
    """`outagemon run -c conf` (its state and log next to the config)."""
    state = conf.with_suffix(".db")
    port = free_port()
    log = conf.with_suffix(".log").open("wb")
    proc = subprocess.Popen(
        [*binary(), "run", "-c", str(conf), "--listen", f"127.0.0.1:{port}",
         "--state", str(state), "--log-level", "warning"], stdout=log, stderr=log)
    try:
        wait_http(f"http://127.0.0.1:{port}/livez", proc)
        yield Outagemon(proc, port)
    finally:
        stop(proc)
        log.close()
