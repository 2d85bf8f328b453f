"""Results of one rate and the table printed beside the goals."""

from __future__ import annotations

import platform
import statistics
from dataclasses import dataclass
from pathlib import Path

from bench import detection
from bench.scale import ScaleResult

GOAL_CPU_RATIO = 1.0
GOAL_LAG_P99 = 0.050
GOAL_RSS_10K = 300 * 10**6  # 300 MB
GOAL_DELAY = 0.100
GOAL_DELAY_TOLERANCE = 0.005
GOAL_METRICS_SECONDS = 0.250
SUSTAINED = 0.95  # achieved/requested rate that counts as sustained


@dataclass
class RateResult:
    rate: float
    targets: int
    window: float
    bb_probes: float  # answered /probe requests per second
    bb_failed: int
    bb_skipped: int
    bb_cpu: float  # CPU seconds of blackbox_exporter in the window
    loadgen_cpu: float  # CPU seconds of the bench's own /probe load generator
    nginx_cpu_bb: float
    om_probes: float  # outagemon probes per second (load targets)
    om_cpu: float
    nginx_cpu_om: float
    lag_p99: float | None
    rss_max: int

    def bb_per_probe(self) -> float:
        return self.bb_cpu / max(self.bb_probes * self.window, 1)

    def om_per_probe(self) -> float:
        return self.om_cpu / max(self.om_probes * self.window, 1)

    def ratio(self) -> float:
        return self.om_per_probe() / max(self.bb_per_probe(), 1e-12)

    def sustained(self) -> bool:
        return (self.bb_probes >= SUSTAINED * self.rate and self.om_probes >= SUSTAINED * self.rate
                and self.bb_failed == 0)


def quantile(values: list[float], q: float) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q * 100) - 1]


def machine() -> str:
    cpu = "unknown CPU"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().split()[1]
    return (f"{cpu}, {len(__import__('os').sched_getaffinity(0))} CPUs, "
            f"{int(mem) // 1024} MiB RAM, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}")


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value * 1000:.1f} ms"


def _ok(passed: bool) -> str:
    return "met" if passed else "**not met**"


def table(results: list[RateResult], delays: list[float], detected: list[float],
          scaled: ScaleResult | None, versions: dict[str, str]) -> str:
    rows = ["| requested rate | blackbox probes/s | outagemon probes/s | blackbox CPU/probe "
            "| outagemon CPU/probe | ratio (goal ≤ 1.0×) | outagemon lag p99 (goal ≤ 50 ms) "
            "| outagemon RSS max | extra: load generator CPU/probe, nginx CPU/probe bb/om |",
            "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        gen = r.loadgen_cpu / max(r.bb_probes * r.window, 1)
        ngx_bb = r.nginx_cpu_bb / max(r.bb_probes * r.window, 1)
        ngx_om = r.nginx_cpu_om / max(r.om_probes * r.window, 1)
        rows.append(
            f"| {r.rate:.0f}/s | {r.bb_probes:.0f}/s"
            f"{'' if r.bb_failed == 0 else f' ({r.bb_failed} failed)'}"
            f"{'' if r.bb_skipped == 0 else f' ({r.bb_skipped} skipped)'}"
            f" | {r.om_probes:.0f}/s | {r.bb_per_probe() * 1e6:.0f} µs "
            f"| {r.om_per_probe() * 1e6:.0f} µs "
            f"| {r.ratio():.2f}× {_ok(r.ratio() <= GOAL_CPU_RATIO)}"
            f" | {_ms(r.lag_p99)} {_ok(r.lag_p99 is not None and r.lag_p99 <= GOAL_LAG_P99)}"
            f" | {r.rss_max / 2**20:.0f} MiB ({r.targets} targets) "
            f"| {gen * 1e6:.0f} µs, {ngx_bb * 1e6:.0f}/{ngx_om * 1e6:.0f} µs |")
    lines = ["\n".join(rows), ""]
    sustained = [r for r in results if r.sustained()]
    best = max(sustained, key=lambda r: r.rate) if sustained else None
    top = max(results, key=lambda r: r.rate)
    if best is None:
        lines.append("No requested rate was sustained by both (≥ 95 % of the rate, no failures).")
    elif best.rate >= 1000:
        lines.append(f"Both sustain {best.rate:.0f} probes/s.")
    else:
        lines.append(f"Highest rate both sustain: {best.rate:.0f} probes/s; gap to the 1,000/s "
                     f"goal: {1000 - best.rate:.0f}/s.")
    verdict = (_ok(top.rss_max <= GOAL_RSS_10K) if top.targets >= 10_000
               else "goal not checked (run with --targets 10000)")
    lines.append(f"RSS: {top.rss_max / 2**20:.0f} MiB with {top.targets} targets "
                 f"(goal ≤ 300 MB for 10,000): {verdict}.")
    if delays:
        p50, p99 = quantile(delays, 0.5), quantile(delays, 0.99)
        ok = abs(p99 - GOAL_DELAY) <= GOAL_DELAY_TOLERANCE
        lines.append(f"Accuracy, 100 ms delayed targets under {top.om_probes:.0f} probes/s: "
                     f"p50 {_ms(p50)}, p99 {_ms(p99)}, max {_ms(max(delays))} over "
                     f"{len(delays)} probes (goal 100 ± 5 ms at p99): {_ok(ok)}.")
    if detected:
        worst = max(detected)
        lines.append(
            f"Detection, fault (503) to firing webhook under {top.om_probes:.0f} probes/s: "
            f"{', '.join(f'{d:.2f} s' for d in detected)}; worst {worst:.2f} s "
            f"(goal ≤ interval {detection.INTERVAL:g} s × failure_threshold "
            f"{detection.FAILURE_THRESHOLD} + timeout {detection.TIMEOUT:g} s + 1 s = "
            f"{detection.BOUND:g} s; group_wait {detection.GROUP_WAIT_MS} ms): "
            f"{_ok(worst <= detection.BOUND)}.")
    if scaled is not None:
        lines += ["", scale_table(scaled)]
    lines.append("")
    lines.append("Machine: " + machine())
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    return "\n".join(lines)


def scale_table(r: ScaleResult) -> str:
    worst = max(r.metrics_seconds)
    rows = [
        f"Scale: {r.targets} targets in one process ({r.http} HTTP every 30 s, {r.streams} "
        f"exchange targets with a WebSocket stream each, {r.rpc} EVM RPC providers every 15 s);"
        f" {r.probes_per_second:.0f} probes/s, {r.cpu_share * 100:.0f} % of a CPU, "
        f"{r.streams_connected}/{r.streams} streams connected, {r.rpc_up}/{r.rpc} RPC up.",
        "",
        "| figure | value | goal |",
        "| --- | ---: | --- |",
        f"| RSS max | {r.rss_max / 2**20:.0f} MiB ({r.rss_max / 1e6:.0f} MB) | ≤ 300 MB: "
        f"{_ok(r.rss_max <= GOAL_RSS_10K or r.targets < 10_000)} |",
        f"| GET /metrics ({r.metrics_bytes / 1e6:.1f} MB), {len(r.metrics_seconds)} scrapes |"
        f" {', '.join(f'{t * 1000:.0f}' for t in r.metrics_seconds)} ms | ≤ 250 ms: "
        f"{_ok(worst <= GOAL_METRICS_SECONDS)} |",
        f"| scheduler lag p99 | {_ms(r.lag_p99)} | ≤ 50 ms: "
        f"{_ok(r.lag_p99 is not None and r.lag_p99 <= GOAL_LAG_P99)} |",
    ]
    return "\n".join(rows)
