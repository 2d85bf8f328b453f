"""Shared test helpers: local servers on 127.0.0.1 and polling with a deadline."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web

from monitor.redact import SECRETS
from tests.fakes.anvil import anvil, start_anvil  # noqa: F401  (fixtures for every test)


async def wait_for(predicate: Callable[[], Awaitable[bool] | bool], *, timeout: float = 10.0,
                   interval: float = 0.02, what: str = "condition") -> None:
    """Poll until predicate() is true, or fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


class LocalServer:
    def __init__(self, runner: web.AppRunner, port: int) -> None:
        self.runner = runner
        self.port = port

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@pytest.fixture
async def serve_app() -> AsyncIterator[Callable[[web.Application], Awaitable[LocalServer]]]:
    """Start aiohttp apps on 127.0.0.1 with a free port; all are stopped after the test."""
    runners: list[web.AppRunner] = []

    async def start(app: web.Application) -> LocalServer:
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        port = runner.addresses[0][1]
        return LocalServer(runner, port)

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Any:
    """Each test starts with an empty secret registry, as a fresh process would."""
    SECRETS.clear()
    yield
    SECRETS.clear()
