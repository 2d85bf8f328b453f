"""`outagemon run`: the daemon, its HTTP server and signal handling."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Callable

import structlog

from monitor.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_async
from monitor.config import ConfigError, load_config
from monitor.config_child import load_config_apart
from monitor.daemon import ConfigLoader, Daemon
from monitor.gc_tuning import freeze_long_lived, tune_for_daemon
from monitor.heap import maintain, pin_mmap_threshold
from monitor.server import bound_port, start_server
from monitor.settings import Config
from monitor.shard import Shard

log = structlog.get_logger("outagemon")

# SIGTERM must end the process within 5 s (SPEC section 2), probes in flight or not.
SHUTDOWN_BUDGET = 4.0


def run_command(config_path: str | None, *, host: str, port: int, state: str,
                shard: Shard | None) -> int:
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return EXIT_USAGE
    tune_for_daemon()
    pin_mmap_threshold()
    daemon = serve(config, lambda: load_config_apart(config_path), host=host, port=port,
                   state=state, shard=shard, on_targets_set=freeze_long_lived)
    del config  # the daemon owns it now: after a reload nothing else may hold it
    return run_async(daemon)


async def serve(config: Config, loader: ConfigLoader, *, host: str, port: int, state: str,
                shard: Shard | None, stop: asyncio.Event | None = None,
                on_targets_set: Callable[[], None] = lambda: None) -> int:
    """Run the daemon and its server until `stop` (or SIGTERM/SIGINT); `on_targets_set` runs
    once the targets are set up, at start and after each reload."""
    daemon = Daemon(config, loader=loader, state_path=state, shard=shard)
    del config  # held by this frame, the first config would outlive every reload
    stop = stop or asyncio.Event()
    await daemon.start()
    on_targets_set()
    try:
        runner = await start_server(daemon, host, port)
    except OSError as exc:
        log.error("cannot listen", address=f"{host}:{port}", error=str(exc))
        await daemon.stop()
        return EXIT_FAILED
    log.info("listening", address=f"{host}:{bound_port(runner)}")
    loop = asyncio.get_running_loop()
    reloads: set[asyncio.Task[None]] = set()

    def on_hup() -> None:
        task = asyncio.create_task(_reload(daemon, on_targets_set))
        reloads.add(task)
        task.add_done_callback(reloads.discard)

    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, on_hup)
    memory = asyncio.create_task(maintain(), name="memory")
    try:
        await stop.wait()
        log.info("shutting down")
    finally:
        memory.cancel()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        try:
            async with asyncio.timeout(SHUTDOWN_BUDGET):
                await daemon.stop()
                await runner.cleanup()
        except TimeoutError:
            log.error("shutdown took too long; exiting anyway")
    return EXIT_OK


async def _reload(daemon: Daemon, on_targets_set: Callable[[], None]) -> None:
    try:
        await daemon.reload()
        on_targets_set()
    except ConfigError as exc:
        log.error("reload failed; keeping the running config",
                  issues=[str(issue) for issue in exc.issues])
