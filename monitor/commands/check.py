"""`outagemon check`: probe the named targets once and print a table or JSON."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from checks.base import CheckEnv
from checks.registry import kinds
from monitor import __version__
from monitor.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_async
from monitor.config import ConfigError, load_config
from monitor.observation import Observation, State
from monitor.report import result_json, state_of_single_probe
from monitor.schema import TargetBase
from monitor.settings import Config

MAX_PARALLEL = 64


def check_command(config_path: str | None, names: Sequence[str], *, as_json: bool) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    known = {t.name for t in config.targets}
    unknown = [n for n in names if n not in known]
    if unknown:
        print(f"unknown target(s): {', '.join(unknown)}", file=sys.stderr)
        return EXIT_USAGE
    targets = [t for t in config.targets if not names or t.name in names]
    return run_async(_probe_all(config, targets, as_json=as_json))


async def probe_once(targets: Sequence[TargetBase], env: CheckEnv) -> list[Observation]:
    """Probe each target once, in parallel. A stream is watched for one interval first; a
    target that judges what streams saw (price) runs after them."""
    slots = asyncio.Semaphore(MAX_PARALLEL)

    async def one(target: TargetBase) -> Observation:
        check = kinds()[target.kind].build(target, env)
        async with slots:
            try:
                await check.start()
                if target.is_stream:
                    await asyncio.sleep(target.interval_s)
                return await check.probe()
            finally:
                await check.close()

    results: dict[str, Observation] = {}
    for phase in ([t for t in targets if not t.reads_streams],
                  [t for t in targets if t.reads_streams]):
        observations = await asyncio.gather(*(one(t) for t in phase))
        results.update((t.name, obs) for t, obs in zip(phase, observations, strict=True))
    return [results[t.name] for t in targets]


async def _probe_all(config: Config, targets: Sequence[TargetBase], *, as_json: bool) -> int:
    env = CheckEnv(user_agent=f"outagemon/{__version__}", vantage=config.vantage)
    observations = await probe_once(targets, env)
    rows = [
        result_json(target, state_of_single_probe(obs), obs)
        for target, obs in zip(targets, observations, strict=True)
    ]
    if as_json:
        sys.stdout.write(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode() + "\n")
    else:
        sys.stdout.write(format_table(rows))
    all_up = all(row["state"] == State.UP.value for row in rows)
    return EXIT_OK if all_up else EXIT_FAILED


def format_table(rows: Sequence[dict[str, Any]]) -> str:
    header = ("TARGET", "KIND", "STATE", "LATENCY", "REASON", "DETAIL")
    lines = [header]
    for row in rows:
        latency = row["latency_seconds"]
        lines.append((
            row["target"], row["kind"], row["state"],
            f"{latency * 1000:.0f}ms" if latency is not None else "-",
            row["reason"] or "-", (row["detail"] or "")[:80],
        ))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(out) + "\n"
