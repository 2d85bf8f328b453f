"""Start the soak's world processes (bench/soak/world.py) and read what they serve."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from bench.soak.layout import PARTS
from bench.soak.sites import Sites

START_TIMEOUT = 120.0  # a busy 2-CPU machine


@dataclass
class WorldProcess:
    part: str
    proc: asyncio.subprocess.Process
    control_url: str


async def _start(part: str, seed: int, workdir: Path) -> WorldProcess:
    with (workdir / f"world-{part}.log").open("ab") as log:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.soak.world", part, str(seed),
            stdout=asyncio.subprocess.PIPE, stderr=log)
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(START_TIMEOUT):
            line = await proc.stdout.readline()
        control_url = str(json.loads(line)["control_url"])
    except (TimeoutError, ValueError, KeyError):
        await _stop(proc)
        raise RuntimeError(f"the {part} world did not start (exit {proc.returncode})") from None
    return WorldProcess(part, proc, control_url)


async def _stop(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is None:
        proc.terminate()
        try:
            async with asyncio.timeout(10):
                await proc.wait()
        except TimeoutError:
            proc.kill()
            await proc.wait()


@contextlib.asynccontextmanager
async def running(seed: int, workdir: Path) -> AsyncIterator[Sites]:
    """Every part of the world, each in its own process (its log in `workdir`); their
    sites from /-/sim/state."""
    worlds: list[WorldProcess] = []
    try:
        for index, part in enumerate(PARTS):
            worlds.append(await _start(part, seed + index, workdir))
        sites = Sites()
        async with aiohttp.ClientSession() as session:
            for world in worlds:
                async with session.get(f"{world.control_url}/-/sim/state") as resp:
                    resp.raise_for_status()
                    sites.add_world(world.control_url, await resp.json())
        yield sites
    finally:
        await asyncio.gather(*(_stop(world.proc) for world in worlds))
