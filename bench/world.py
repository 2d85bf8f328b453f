"""The scale phase's simulated venues and RPC providers, in a process of their own:
`python -m bench.world VENUES PROVIDERS` prints one JSON line of URLs, then serves until
SIGTERM. Trades come once a second per subscription (not ten), as a busy but real market."""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from monitor.simulate import ChainSpec, World

CHAIN = "ethereum-sim"
CHAIN_ID = 1


async def serve(venues: int, providers: int) -> None:
    names = [f"{CHAIN}-{i}" for i in range(providers)]
    world = World(venues={f"binance-{i}": "binance" for i in range(venues)},
                  chains={CHAIN: ChainSpec("evm", names, block_time=1.0, chain_id=CHAIN_ID)},
                  trade_rate=1.0)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with world:
        print(json.dumps({
            "venues": [{"rest": world.url(v), "ws": world.ws_url(v)} for v in world.venues],
            "providers": [world.url(p) for p in world.providers],
            "chain": CHAIN, "chain_id": CHAIN_ID}), flush=True)
        await stop.wait()


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(serve(int(sys.argv[1]), int(sys.argv[2])))
