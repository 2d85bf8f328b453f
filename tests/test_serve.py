"""`serve()`, the body of `outagemon run`, in-process: what it keeps across reloads."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import aiohttp

from monitor.commands.run import serve
from monitor.config import load_config
from tests.conftest import wait_for
from tests.notify.receiver import free_port

CONFIG = """
defaults: {interval: 60s, timeout: 1s}
targets:
  - {name: refused, kind: http, url: "http://127.0.0.1:9/"}
"""


async def test_a_reload_lets_the_first_config_go(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG)
    first = load_config(str(path))
    first_alive = weakref.ref(first)
    port = free_port()
    stop = asyncio.Event()
    server = asyncio.create_task(serve(
        first, lambda: load_config(str(path)), host="127.0.0.1", port=port,
        state=str(tmp_path / "state.db"), shard=None, stop=stop))
    del first
    reload_url = f"http://127.0.0.1:{port}/-/reload"
    try:
        async with aiohttp.ClientSession() as session:
            async def reloaded() -> bool:
                try:
                    async with session.post(reload_url) as resp:
                        return resp.status == 200
                except aiohttp.ClientConnectionError:  # not listening yet
                    return False

            await wait_for(reloaded, what="a reload through the API")
        gc.collect()
        assert first_alive() is None  # a process that reloads holds one config, not two
    finally:
        stop.set()
        await server
