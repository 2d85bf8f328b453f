"""Scale: one outagemon process with 10,000 targets of every main kind against local fakes.

HTTP targets against nginx every 30 s, exchange targets each holding a WebSocket stream to a
simulated Binance-shaped venue (bench.world, its own process), and EVM RPC targets against
simulated providers. Measured after a warm-up: RSS, the time GET /metrics takes, the
scheduler's lag p99 and CPU.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import outagemon
from bench.proc import cpu_seconds, rss_bytes, stop

MARKETS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT", "USDC-USDT")
HTTP_INTERVAL = "30s"
STREAM_INTERVAL = "30s"
RPC_INTERVAL = "15s"


@dataclass
class ScaleResult:
    http: int
    streams: int
    rpc: int
    rss_max: int
    metrics_seconds: list[float]  # each timed GET /metrics
    metrics_bytes: int
    lag_p99: float | None
    cpu_share: float  # CPU seconds per second (1.0: one core)
    probes_per_second: float
    streams_connected: int
    rpc_up: int

    @property
    def targets(self) -> int:
        return self.http + self.streams + self.rpc


@contextmanager
def world(venues: int, providers: int) -> Iterator[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.world", str(venues), str(providers)],
                            stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError("bench.world exited before serving")
        yield json.loads(line)
    finally:
        stop(proc)


def config(http_urls: Sequence[str], streams: int, rpc: int, sim: dict[str, Any]) -> str:
    lines = [f"defaults: {{interval: {HTTP_INTERVAL}, timeout: 5s}}", "targets:"]
    lines += [f"  - {{name: h{i}, kind: http, url: '{url}'}}" for i, url in enumerate(http_urls)]
    venues = sim["venues"]
    for i in range(streams):
        venue = venues[i % len(venues)]
        lines.append(
            f"  - {{name: s{i}, kind: exchange, exchange: binance, "
            f"provider: binance-{i % len(venues)}, market: {MARKETS[i % len(MARKETS)]}, "
            f"rest_url: '{venue['rest']}', "
            f"ws_url: '{venue['ws']}', interval: {STREAM_INTERVAL}, stale_after: 30s}}")
    providers = sim["providers"]
    for i in range(rpc):
        url = f"{providers[i % len(providers)]}/key{i}"
        lines.append(f"  - {{name: r{i}, kind: evm_rpc, chain: {sim['chain']}, url: '{url}', "
                     f"chain_id: {sim['chain_id']}, interval: {RPC_INTERVAL}}}")
    return "\n".join(lines) + "\n"


def _sum(text: str, metric: str, value: str = "1.0") -> int:
    prefix = metric + "{"
    return sum(1 for line in text.splitlines()
               if line.startswith(prefix) and line.endswith(f" {value}"))


def run(workdir: Path, http_urls: Sequence[str], streams: int, rpc: int, *, warmup: float,
        window: float, scrapes: int) -> ScaleResult:
    with world(venues=5, providers=4) as sim:
        conf = workdir / "scale.yaml"
        conf.write_text(config(http_urls, streams, rpc, sim))
        with outagemon.running_config(workdir, conf) as om:
            pid = om.proc.pid
            time.sleep(warmup)
            first = om.scrape()
            t0, c0 = time.monotonic(), cpu_seconds(pid)
            timings: list[float] = []
            rss = 0
            size = 0
            gap = window / scrapes
            for n in range(scrapes):
                end = t0 + gap * (n + 1)
                while time.monotonic() < end:
                    rss = max(rss, rss_bytes(pid))
                    time.sleep(min(1.0, max(end - time.monotonic(), 0)))
                started = time.monotonic()
                body = om.get("/metrics")
                timings.append(time.monotonic() - started)
                size = len(body)
                rss = max(rss, rss_bytes(pid))
            elapsed = time.monotonic() - t0
            cpu = cpu_seconds(pid) - c0
            text = body.decode()
            last = outagemon.Scrape.parse(text)
            probes = last.all_probes - first.all_probes
            return ScaleResult(
                http=len(http_urls), streams=streams, rpc=rpc, rss_max=rss,
                metrics_seconds=timings, metrics_bytes=size,
                lag_p99=outagemon.lag_quantile(first, last, 0.99), cpu_share=cpu / elapsed,
                probes_per_second=probes / elapsed,
                streams_connected=_sum(text, "outagemon_ws_connected"),
                rpc_up=sum(1 for line in text.splitlines()
                           if line.startswith('outagemon_up{kind="evm_rpc"')
                           and line.endswith(" 1.0")))


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")
