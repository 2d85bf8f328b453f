"""Run `outagemon` as a real subprocess and watch its JSON log lines."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import wait_for


class DaemonProcess:
    def __init__(self, config_path: Path, state_path: Path, *extra: str) -> None:
        self.args = [sys.executable, "-m", "monitor", "run", "-c", str(config_path),
                     "--listen", "127.0.0.1:0", "--state", str(state_path), *extra]
        self.proc: asyncio.subprocess.Process | None = None
        self.lines: list[str] = []
        self.events: list[dict[str, Any]] = []
        self.port: int | None = None
        self._reader: asyncio.Task[None] | None = None

    async def start(self, log_level: str = "info") -> DaemonProcess:
        self.proc = await asyncio.create_subprocess_exec(
            *self.args, "--log-level", log_level,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        await wait_for(lambda: self.port is not None or self.exited, timeout=20,
                       what="the daemon to listen")
        if self.port is None:
            raise AssertionError("daemon exited early:\n" + "\n".join(self.lines))
        return self

    @property
    def exited(self) -> bool:
        return self.proc is not None and self.proc.returncode is not None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            self.lines.append(line)
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                self.events.append(event)
                if event.get("event") == "listening":
                    self.port = int(event["address"].rsplit(":", 1)[1])

    async def get(self, path: str) -> tuple[int, str]:
        async with aiohttp.ClientSession() as session, session.get(self.base + path) as resp:
            return resp.status, await resp.text()

    async def get_json(self, path: str) -> Any:
        async with aiohttp.ClientSession() as session, session.get(self.base + path) as resp:
            return await resp.json()

    async def wait_ready(self, timeout: float = 20) -> None:
        async def ready() -> bool:
            return (await self.get("/readyz"))[0] == 200

        await wait_for(ready, timeout=timeout, what="/readyz")

    def send(self, signal: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal)

    async def wait(self, timeout: float) -> int:
        assert self.proc is not None
        code = await asyncio.wait_for(self.proc.wait(), timeout)
        if self._reader is not None:
            await asyncio.wait_for(self._reader, timeout)
        return code

    async def stop(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            self._reader.cancel()
            await asyncio.gather(self._reader, return_exceptions=True)
