"""`python -m bench.soak`: the real daemon over thousands of targets under random faults for
an hour (by default), checking that nothing leaks: asyncio tasks flat, RSS growth under 5 %
after the warm-up, no file-descriptor growth.

Processes: two simulated worlds (venues with trade streams; chains, RPC providers and status
pages), the daemon probing them (`outagemon run`, its config reloaded with SIGHUP now and
then) and this one, which injects faults through the worlds' control APIs, receives the
daemon's notifications (failing some on purpose) and samples the daemon's /proc and /metrics.
Prints each figure beside its goal; exits 1 when a goal is missed. See docs/performance.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from bench.soak.goals import evaluate, table
from bench.soak.run import QUIET_TIME, Settings, soak


def parse_args(argv: list[str] | None) -> tuple[Settings, Path | None]:
    p = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=float, default=3600.0,
                   help="seconds from the daemon's start to the end, warm-up included "
                        "(default 3600)")
    p.add_argument("--targets", type=int, default=2000, help="number of targets (default 2000)")
    p.add_argument("--seed", type=int, default=1, help="seed of every random draw (default 1)")
    p.add_argument("--warmup", type=float, default=None,
                   help="seconds before the comparison starts (default: half the duration, "
                        "at most 600)")
    p.add_argument("--sample-every", type=float, default=None,
                   help="seconds between samples (default: duration/60, 2 to 10)")
    p.add_argument("--fault-every", type=float, default=3.0,
                   help="seconds between fault injections (default 3)")
    p.add_argument("--reload-every", type=float, default=None,
                   help="seconds between SIGHUP reloads, 0 for none (default: an eighth of "
                        "the duration, at most 300, so that the warm-up holds at least two)")
    p.add_argument("--samples", type=Path, default=None,
                   help="also write every sample and the activity to this JSON file")
    args = p.parse_args(argv)
    warmup = min(600.0, args.duration / 2) if args.warmup is None else args.warmup
    if not 0 <= warmup <= args.duration - 2 * QUIET_TIME:
        p.error(f"--warmup must leave at least {2 * QUIET_TIME:g} s of --duration")
    if args.targets < 100:
        p.error("--targets must be at least 100 (the mix needs every kind)")
    settings = Settings(
        duration=args.duration, targets=args.targets, seed=args.seed, warmup=warmup,
        sample_every=(min(10.0, max(2.0, args.duration / 60)) if args.sample_every is None
                      else args.sample_every),
        fault_every=args.fault_every,
        reload_every=(min(300.0, args.duration / 8) if args.reload_every is None
                      else args.reload_every))
    return settings, args.samples


def main(argv: list[str] | None = None) -> int:
    settings, samples_file = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="outagemon-soak-") as tmp:
        result = asyncio.run(soak(settings, Path(tmp)))
    if result.log_tail:
        print(f"the daemon died; its log ends:\n{result.log_tail}", file=sys.stderr)
    if samples_file is not None:
        samples_file.write_text(json.dumps({
            "settings": asdict(settings), "activity": asdict(result.activity),
            "samples": [asdict(s) for s in result.samples],
            "checkpoints": {k: [asdict(s) for s in v] for k, v in result.checkpoints.items()},
        }))
    figures = evaluate(result.samples, result.checkpoints, settings.warmup, result.activity)
    print(table(figures))
    return 0 if all(f.met is not False for f in figures) else 1


if __name__ == "__main__":
    sys.exit(main())
