"""End to end: a real Prometheus scrapes a real outagemon daemon watching the simulated world,
and every query of every dashboard panel returns data."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from dashboards.generate import rendered
from monitor.commands.demo import demo_config_data
from monitor.simulate import World
from monitor.simulate.catalog import FULL_CHAINS, FULL_PAGES, FULL_VENUES
from tests.conftest import wait_for
from tests.daemon_process import DaemonProcess
from tests.notify.receiver import Receiver, free_port

PROMETHEUS = shutil.which("prometheus") or (
    "/usr/bin/prometheus" if Path("/usr/bin/prometheus").exists() else None)
pytestmark = [
    pytest.mark.skipif(PROMETHEUS is None, reason="the prometheus binary is not installed"),
    pytest.mark.timeout(90),
]

SUBSTITUTIONS = {"$__rate_interval": "1m", "$provider": ".*", "$kind": ".*", "$chain": ".*",
                 "$vantage": ".*"}
DEADLINE = 45.0


def daemon_config(world: World, receiver: Receiver) -> str:
    """The demo's config, probing every second, with a webhook notifier (for the outbox
    metrics) and alerts after two failures."""
    data = demo_config_data(world)
    data["defaults"] = {"interval": "1s", "timeout": "1s"}
    for target in data["targets"]:
        target.pop("interval", None)
        target.pop("timeout", None)
    data["alerts"] = {"defaults": {"failure_threshold": 2, "success_threshold": 2},
                      "group_wait": "200ms"}
    data["notifiers"] = [{"name": "ops", "type": "webhook", "url": receiver.url()}]
    return yaml.safe_dump(data)


def queries() -> list[tuple[str, str, str]]:
    """(dashboard, panel title, expr with the template variables substituted)."""
    out = []
    for name, text in rendered().items():
        board = json.loads(text)
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                expr = target.get("expr", "")
                for variable, value in SUBSTITUTIONS.items():
                    expr = expr.replace(variable, value)
                assert "$" not in expr, f"unsubstituted variable in {expr}"
                out.append((name, panel["title"], expr))
    return out


class Prometheus:
    def __init__(self, tmp_path: Path, scrape: str) -> None:
        self.port = free_port()
        config = tmp_path / "prometheus.yml"
        config.write_text(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "outagemon", "static_configs": [
                {"targets": [scrape]}]}],
        }))
        assert PROMETHEUS is not None
        self.args = [PROMETHEUS, f"--config.file={config}",
                     f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                     f"--web.listen-address=127.0.0.1:{self.port}", "--log.level=warn"]
        self.proc: asyncio.subprocess.Process | None = None
        self.session = aiohttp.ClientSession()

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)

        async def ready() -> bool:
            assert self.proc is not None
            if self.proc.returncode is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}")
            with contextlib.suppress(aiohttp.ClientError):
                async with self.session.get(f"http://127.0.0.1:{self.port}/-/ready") as resp:
                    return resp.status == 200
            return False

        await wait_for(ready, timeout=20, interval=0.1, what="prometheus to be ready")

    async def query(self, expr: str) -> dict[str, Any]:
        async with self.session.get(f"http://127.0.0.1:{self.port}/api/v1/query",
                                    params={"query": expr}) as resp:
            body: dict[str, Any] = await resp.json()
            return body

    async def stop(self) -> None:
        await self.session.close()
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=FULL_VENUES, chains=FULL_CHAINS, pages=FULL_PAGES) as w:
        yield w


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(free_port())
    await rec.start()
    yield rec
    await rec.stop()


def venue_of(world: World, shape: str) -> str:
    return next(venue for venue in world.venues if world.shape(venue) == shape)


async def test_every_dashboard_query_returns_data(world: World, receiver: Receiver,
                                                  tmp_path: Path) -> None:
    started = time.monotonic()
    config = tmp_path / "outagemon.yaml"
    config.write_text(daemon_config(world, receiver))
    daemon = await DaemonProcess(config, tmp_path / "state.db").start()
    prometheus = Prometheus(tmp_path, f"127.0.0.1:{daemon.port}")
    try:
        await prometheus.start()
        # Series that only exist after something went wrong: failure reasons and alerts (a
        # venue answering 500), reconnects (a stalled stream goes stale), RPC errors.
        world.inject(venue_of(world, "okx"), "http_5xx")
        world.inject(venue_of(world, "kraken"), "stall_stream")
        world.inject(world.providers[0], "rpc_error")

        pending = queries()
        assert len(pending) >= 20
        failures: dict[str, str] = {}

        async def all_have_data() -> bool:
            nonlocal pending
            still = []
            for name, title, expr in pending:
                body = await prometheus.query(expr)
                if body.get("status") != "success":
                    failures[f"{name}: {title}"] = f"{body.get('error')}: {expr}"
                elif not body["data"]["result"]:
                    still.append((name, title, expr))
            pending = still
            return bool(failures) or not pending

        try:
            await wait_for(all_have_data, timeout=DEADLINE, interval=0.5,
                           what="every dashboard query to return data")
        except AssertionError:
            empty = "\n".join(f"{name}: {title}: {expr}" for name, title, expr in pending)
            raise AssertionError(f"no data after {DEADLINE}s for:\n{empty}") from None
        assert not failures, failures
    finally:
        await prometheus.stop()
        if not daemon.exited:
            daemon.send(15)
            await daemon.wait(15)
    assert time.monotonic() - started < 60
    assert not re.search(r"vector\(", " ".join(expr for _, _, expr in queries()))
