"""`python -m bench [--quick]`: outagemon against blackbox_exporter on a local nginx.

Phases, one rate at a time (never both probers at once, so they do not share the CPUs):
blackbox_exporter driven through /probe by this script's load generator, then outagemon
running its own schedule over the same targets; CPU seconds of each over a fixed window.
After the last rate, still under load: the latency outagemon reports for ten 100 ms delayed
targets, and the time from a fault to its webhook. Then the scale phase: 10,000 targets of
HTTP, WebSocket streams and RPC providers in one process (RSS, /metrics time, lag).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench import blackbox, detection, nginx, outagemon, scale
from bench.load import LoadGenerator
from bench.proc import cpu_seconds, free_port, rss_bytes, stop, tree_cpu_seconds, wait_http
from bench.report import RateResult, table

SCALE_WARMUP = 40.0  # every 30 s target probed once, streams connected


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="about a minute: one rate, short windows")
    p.add_argument("--rates", type=lambda s: [float(x) for x in s.split(",")], default=None,
                   help="probe rates per second (default 1000)")
    p.add_argument("--targets", type=int, default=None,
                   help="number of nginx targets (default 10000; --quick: 2000)")
    p.add_argument("--window", type=float, default=None, help="measurement window, seconds")
    p.add_argument("--warmup", type=float, default=None, help="seconds before each window")
    p.add_argument("--accuracy-window", type=float, default=None,
                   help="seconds of polling the delayed target's latency")
    p.add_argument("--scale-targets", type=int, default=None,
                   help="targets of the scale phase, 5 %% of them WebSocket streams and 2 %% "
                        "RPC providers (default 10000; --quick: 2000; 0: skip the phase)")
    p.add_argument("--scale-window", type=float, default=None,
                   help="seconds of the scale phase's window (after a 40 s warm-up)")
    p.add_argument("--concurrency", type=int, default=256,
                   help="load generator's concurrent /probe requests (outagemon's default "
                        "max_concurrency is 256 too)")
    args = p.parse_args(argv)
    quick = args.quick
    args.rates = args.rates or [1000.0]
    args.targets = args.targets or (2000 if quick else 10_000)
    args.window = args.window or (15.0 if quick else 45.0)
    args.warmup = args.warmup or (8.0 if quick else 12.0)
    args.accuracy_window = args.accuracy_window or (20.0 if quick else 40.0)
    if args.scale_targets is None:
        args.scale_targets = 2000 if quick else 10_000
    args.scale_window = args.scale_window or (30.0 if quick else 60.0)
    return args


def self_cpu() -> float:
    t = os.times()
    return t.user + t.system


async def blackbox_phase(bb: blackbox.Blackbox, ngx: nginx.Nginx, urls: list[str], rate: float,
                         args: argparse.Namespace) -> dict[str, float]:
    gen = LoadGenerator([bb.probe_url(u) for u in urls], rate, args.concurrency)
    done = asyncio.Event()
    task = asyncio.create_task(gen.run(done))
    await asyncio.sleep(args.warmup)
    t0 = time.monotonic()
    c0 = (cpu_seconds(bb.proc.pid), tree_cpu_seconds(ngx.proc.pid), self_cpu())
    n0, f0, s0 = gen.counts.total(), gen.counts.failed, gen.counts.skipped
    await asyncio.sleep(args.window)
    c1 = (cpu_seconds(bb.proc.pid), tree_cpu_seconds(ngx.proc.pid), self_cpu())
    n1, f1, s1 = gen.counts.total(), gen.counts.failed, gen.counts.skipped
    elapsed = time.monotonic() - t0
    done.set()
    await task
    # CPU seconds are scaled to the nominal window so that RateResult divides consistently
    scale = args.window / elapsed
    return {"probes": (n1 - n0) / elapsed, "failed": f1 - f0, "skipped": s1 - s0,
            "cpu": (c1[0] - c0[0]) * scale, "nginx": (c1[1] - c0[1]) * scale,
            "loadgen": (c1[2] - c0[2]) * scale}


async def outagemon_phase(workdir: Path, ngx: nginx.Nginx, urls: list[str], rate: float,
                          upstream: str, args: argparse.Namespace, last: bool
                          ) -> tuple[dict[str, float | None], list[float], list[float]]:
    """CPU, lag and RSS over the window; after the last rate's window, still under load:
    the accuracy targets' latencies and the detection trials."""
    interval_ms = round(len(urls) / rate * 1000)
    receiver = detection.Receiver()
    await receiver.start()
    try:
        with outagemon.running(workdir, urls, interval_ms, upstream, receiver.url) as om:
            pid = om.proc.pid
            await asyncio.sleep(max(args.warmup, min(interval_ms / 1000 * 1.5, 30)))
            s0 = await asyncio.to_thread(om.scrape)
            t0 = time.monotonic()
            c0 = (cpu_seconds(pid), tree_cpu_seconds(ngx.proc.pid))
            rss = 0
            end = time.monotonic() + args.window
            while time.monotonic() < end:
                rss = max(rss, rss_bytes(pid))
                await asyncio.sleep(1)
            c1 = (cpu_seconds(pid), tree_cpu_seconds(ngx.proc.pid))
            t1 = time.monotonic()
            s1 = await asyncio.to_thread(om.scrape)
            # the counters span from the first scrape to the second: t0 to now
            probes = (s1.probes - s0.probes) / (time.monotonic() - t0)
            scale_to_window = args.window / (t1 - t0)
            # scrapes cost outagemon CPU: the window runs from just after the first to just
            # before the second, so neither is counted.
            delays: dict[tuple[str, str], float] = {}
            detected: list[float] = []
            if last:
                trials = asyncio.create_task(detection.trials(
                    receiver, upstream, args.accuracy_window))
                end = time.monotonic() + args.accuracy_window
                while time.monotonic() < end:
                    delays.update(await asyncio.to_thread(om.delay_latencies))
                    await asyncio.sleep(0.5)
                detected = await trials
            result: dict[str, float | None] = {
                "probes": probes, "cpu": (c1[0] - c0[0]) * scale_to_window,
                "nginx": (c1[1] - c0[1]) * scale_to_window,
                "lag_p99": outagemon.lag_quantile(s0, s1, 0.99), "rss": float(rss)}
            return result, list(delays.values()), detected
    finally:
        await receiver.stop()


def versions() -> dict[str, str]:
    def first_line(cmd: list[str]) -> str:
        out = subprocess.run(cmd, capture_output=True, text=True, check=False)
        return (out.stdout + out.stderr).strip().splitlines()[0]

    from monitor import __version__

    return {"outagemon": __version__,
            "nginx": first_line([nginx.binary() or "nginx", "-v"]).split("/")[-1],
            "blackbox_exporter": first_line([blackbox.binary() or "", "--version"]).split()[2]}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    missing = [(name, how) for name, found, how in (
        ("nginx", nginx.binary(), nginx.INSTALL),
        ("blackbox_exporter", blackbox.binary(), blackbox.INSTALL)) if found is None]
    for name, how in missing:
        print(f"{name} is not installed; install it with: {how}", file=sys.stderr)
    if missing:
        return 2
    print(f"targets={args.targets} rates={args.rates} window={args.window}s "
          f"warmup={args.warmup}s", flush=True)
    results: list[RateResult] = []
    delays: list[float] = []
    detected: list[float] = []
    scaled: scale.ScaleResult | None = None
    with tempfile.TemporaryDirectory(prefix="outagemon-bench-") as tmp:
        workdir = Path(tmp)
        delay_port = free_port()
        delay_proc = subprocess.Popen([sys.executable, "-m", "bench.delay", str(delay_port)])
        try:
            wait_http(f"http://127.0.0.1:{delay_port}/switch/0", delay_proc)
            upstream = f"http://127.0.0.1:{delay_port}"
            with nginx.running(workdir) as ngx, blackbox.running(workdir) as bb:
                urls = [ngx.url(i) for i in range(args.targets)]
                for rate in args.rates:
                    print(f"rate {rate:.0f}/s: blackbox_exporter ...", flush=True)
                    b = asyncio.run(blackbox_phase(bb, ngx, urls, rate, args))
                    print(f"rate {rate:.0f}/s: outagemon ...", flush=True)
                    o, d, t = asyncio.run(outagemon_phase(workdir, ngx, urls, rate, upstream,
                                                           args, rate == args.rates[-1]))
                    delays += d
                    detected += t
                    results.append(RateResult(
                        rate=rate, targets=args.targets, window=args.window,
                        bb_probes=b["probes"], bb_failed=int(b["failed"]),
                        bb_skipped=int(b["skipped"]), bb_cpu=b["cpu"],
                        loadgen_cpu=b["loadgen"], nginx_cpu_bb=b["nginx"],
                        om_probes=o["probes"] or 0.0, om_cpu=o["cpu"] or 0.0,
                        nginx_cpu_om=o["nginx"] or 0.0, lag_p99=o["lag_p99"],
                        rss_max=int(o["rss"] or 0)))
                if args.scale_targets:
                    streams, rpc = args.scale_targets // 20, args.scale_targets // 50
                    http = args.scale_targets - streams - rpc
                    print(f"scale: {http} http, {streams} stream and {rpc} RPC targets ...",
                          flush=True)
                    scaled = scale.run(workdir, [ngx.url(i) for i in range(http)], streams,
                                       rpc, warmup=SCALE_WARMUP, window=args.scale_window,
                                       scrapes=4)
        finally:
            stop(delay_proc)
    print()
    print(table(results, delays, detected, scaled, versions()))
    return 0


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    sys.exit(main())
