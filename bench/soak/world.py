"""`python -m bench.soak.world PART SEED`: serve one part of the soak's simulated world
(bench/soak/layout.py) on 127.0.0.1 until SIGTERM.

Prints one JSON line, {"control_url": ...}, once everything listens; the soak reads the
rest (every URL) from the control API's /-/sim/state and injects faults through it.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from bench.soak.layout import CHAINS, PAGES, PARTS, TRADE_RATE, VENUES
from monitor.simulate import World


def make_world(part: str, seed: int) -> World:
    if part == "markets":
        return World(venues=VENUES, trade_rate=TRADE_RATE, seed=seed)
    if part == "chains":
        return World(venues=(), chains=CHAINS, pages=PAGES, seed=seed)
    raise ValueError(f"unknown part {part!r}; parts: {', '.join(PARTS)}")


async def serve(part: str, seed: int) -> None:
    world = make_world(part, seed)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await world.start()
    try:
        print(json.dumps({"control_url": world.control_url}), flush=True)
        await stop.wait()
    finally:
        await world.stop()


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(argv[0], int(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
