"""Run a simulated world until cancelled: the body of `outagemon simulate`."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence

from monitor.schema import split_address
from monitor.simulate.chains import ChainsArg
from monitor.simulate.scenarios import get_scenario
from monitor.simulate.world import DEFAULT_VANTAGES, DEFAULT_VENUES, World


async def serve(listen: str = "127.0.0.1:9800", scenario: str | None = None, *,
                venues: Sequence[str] | Mapping[str, str] = DEFAULT_VENUES,
                chains: ChainsArg | None = None, pages: Mapping[str, str] | None = None,
                vantages: Sequence[str] = DEFAULT_VANTAGES,
                on_ready: Callable[[World], None] | None = None) -> None:
    """Serve the world (control API on `listen`, venues, then providers, then status pages
    on the next ports, then the vantage points' DNS servers and relays) until cancelled.

    Prints nothing: `on_ready` gets the started World so the caller can log its URLs. Raises
    ValueError for a bad address or an unknown scenario before anything listens.
    """
    host, port = split_address(listen)
    if scenario is not None:
        get_scenario(scenario)
    world = World(host or "127.0.0.1", port, venues, chains=chains, pages=pages,
                  vantages=vantages)
    await world.start()
    try:
        if scenario is not None:
            world.play(scenario)
        if on_ready is not None:
            on_ready(world)
        await asyncio.Event().wait()
    finally:
        await world.stop()
