"""Run a real Prometheus server (Debian's /usr/bin/prometheus) on 127.0.0.1 for a test."""

from __future__ import annotations

import asyncio
import re
import shutil
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import wait_for
from tests.notify.receiver import free_port

CONFIG_DIR = Path(__file__).resolve().parents[2] / "config"
RULES = CONFIG_DIR / "prometheus" / "rules.yml"
RECORDING = CONFIG_DIR / "prometheus" / "recording.yml"
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"


def fast_rules(directory: Path) -> list[Path]:
    """Copies of the real rule files with every `for:` set to 0s (a test cannot wait
    minutes); the expressions are untouched."""
    alerting = directory / "rules.yml"
    alerting.write_text(re.sub(r"(?m)^(\s+for:)\s*\S+", r"\1 0s", RULES.read_text()))
    recording = directory / "recording.yml"
    recording.write_text(RECORDING.read_text())
    return [alerting, recording]


class PrometheusProcess:
    def __init__(self, directory: Path, scrape_targets: list[str]) -> None:
        self.directory = directory
        self.port = free_port()
        rule_files = "\n".join(f"  - {path}" for path in fast_rules(directory))
        targets = ", ".join(f'"{target}"' for target in scrape_targets)
        self.config = directory / "prometheus.yml"
        self.config.write_text(f"""
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
rule_files:
{rule_files}
scrape_configs:
  - job_name: outagemon
    static_configs:
      - targets: [{targets}]
""")
        self.log = directory / "prometheus.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> PrometheusProcess:
        with self.log.open("wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                PROMETHEUS, f"--config.file={self.config}",
                f"--storage.tsdb.path={self.directory / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                stdout=log, stderr=asyncio.subprocess.STDOUT,
            )

        async def ready() -> bool:
            if self.proc is not None and self.proc.returncode is not None:
                raise AssertionError("prometheus exited:\n" + self.log_tail())
            try:
                async with aiohttp.ClientSession() as session, \
                        session.get(self.base + "/-/ready") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await wait_for(ready, timeout=20, interval=0.1, what="prometheus to be ready")
        return self

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])

    async def api(self, path: str, **params: str) -> Any:
        async with aiohttp.ClientSession() as session, \
                session.get(self.base + path, params=params) as resp:
            body = await resp.json()
        assert body["status"] == "success", body
        return body["data"]

    async def query(self, expr: str) -> list[dict[str, Any]]:
        data = await self.api("/api/v1/query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.terminate()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
