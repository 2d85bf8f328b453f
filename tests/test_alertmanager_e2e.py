"""A real Alertmanager (Debian's prometheus-alertmanager) receives the alerts the daemon
pushes and forwards them to a webhook receiver."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from monitor.simulate import World
from tests.conftest import wait_for
from tests.daemon_process import DaemonProcess
from tests.notify.receiver import Receiver, free_port

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
pytestmark = pytest.mark.skipif(BINARY is None, reason="prometheus-alertmanager not installed")
VENUE = "binance-sim"


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(free_port())
    await rec.start()
    yield rec
    await rec.stop()


@pytest.fixture
async def alertmanager(receiver: Receiver, tmp_path: Path) -> AsyncIterator[str]:
    config = tmp_path / "alertmanager.yml"
    config.write_text(f"""
route:
  receiver: hook
  group_by: [alertname, target]
  group_wait: 0s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: "{receiver.url('/am-hook')}"
        send_resolved: true
""")
    port = free_port()
    assert BINARY is not None
    process = await asyncio.create_subprocess_exec(
        BINARY, f"--config.file={config}", f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"

    async def ready() -> bool:
        try:
            async with aiohttp.ClientSession() as session, \
                    session.get(url + "/-/ready") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    try:
        await wait_for(ready, timeout=20, what="Alertmanager to be ready")
        yield url
    finally:
        process.terminate()
        await process.wait()


async def test_pushed_alerts_reach_alertmanager_and_its_receiver(
    alertmanager: str, receiver: Receiver, tmp_path: Path
) -> None:
    async with World(venues=(VENUE,)) as world:
        config = tmp_path / "config.yaml"
        config.write_text(f"""
vantage: e2e
defaults: {{interval: 300ms, timeout: 300ms}}
alerts:
  defaults: {{failure_threshold: 1, success_threshold: 1, severity: critical}}
  group_wait: 200ms
targets:
  - {{name: venue-time, kind: http, provider: binance, url: "{world.url(VENUE)}/api/v3/time"}}
notifiers:
  - {{name: am, type: alertmanager, url: "{alertmanager}"}}
""")
        daemon = await DaemonProcess(config, tmp_path / "state.db").start()
        try:
            await daemon.wait_ready()
            world.inject(VENUE, "http_5xx")

            def forwarded() -> list[dict[str, object]]:
                return [json.loads(r.body) for r in receiver.received]

            await wait_for(lambda: any(p["status"] == "firing" for p in forwarded()),
                           timeout=30, what="Alertmanager forwarding the alert")
        finally:
            await daemon.stop()
    payload = next(p for p in forwarded() if p["status"] == "firing")
    alert = payload["alerts"][0]  # type: ignore[index]
    assert alert["labels"]["alertname"] == "TargetDown"
    assert alert["labels"]["target"] == "venue-time"
    assert alert["labels"]["vantage"] == "e2e"
    assert payload["receiver"] == "hook"  # Alertmanager's own webhook, not ours
