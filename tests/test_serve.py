"""`serve()`, the body of `outagemon run`, in-process: what it keeps across reloads."""

from __future__ import annotations

import asyncio
import gc
import os
import signal
import weakref
from pathlib import Path

from monitor.commands.run import serve
from monitor.config import load_config
from tests.conftest import wait_for

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
    targets_set = 0

    def on_targets_set() -> None:
        nonlocal targets_set
        targets_set += 1

    stop = asyncio.Event()
    server = asyncio.create_task(serve(
        first, lambda: load_config(str(path)), host="127.0.0.1", port=0,
        state=str(tmp_path / "state.db"), shard=None, stop=stop,
        on_targets_set=on_targets_set))
    del first
    try:
        await wait_for(lambda: signal.getsignal(signal.SIGHUP) is not signal.SIG_DFL,
                       what="the SIGHUP handler")
        os.kill(os.getpid(), signal.SIGHUP)
        await wait_for(lambda: targets_set == 2, what="the reload")
        gc.collect()
        assert first_alive() is None  # a process that reloads holds one config, not two
    finally:
        stop.set()
        await server
