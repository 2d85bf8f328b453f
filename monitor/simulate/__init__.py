"""A simulated world on loopback (exchanges with REST + WebSocket in the shapes of real venues,
injectable faults, a control API) for `outagemon simulate`, `outagemon demo` and outagemon's
own tests.

    async with World() as world:            # venue "binance-sim", free ports on 127.0.0.1
        world.url("binance-sim")            # http://127.0.0.1:PORT
        fault_id = world.inject("binance-sim", "latency", ms=200, path="/api/v3/ping")
        world.clear(fault_id)

    World(venues=("binance-sim", "okx-sim"))        # shapes follow from the names
    World(venues={"a": "kraken", "b": "kucoin"})    # or are given
    World(venues=one_venue_per_shape())             # every shape once

    World(venues=(), chains={                       # simulated chains and RPC providers
        "ethereum-sim": ChainSpec("evm", ("ethereum-sim-a", "ethereum-sim-b"), block_time=0.2),
        "solana-sim": ("solana", ["solana-sim-a"]),
    })
    world.inject("ethereum-sim-a", "lag", blocks=20)  # a provider's fault
    world.inject("ethereum-sim", "halt")              # a chain's fault
"""

from monitor.simulate.chains import ChainSpec
from monitor.simulate.faults import FaultError, FaultKind
from monitor.simulate.scenarios import hold, list_scenarios, scenario
from monitor.simulate.serving import serve
from monitor.simulate.venues import SHAPES, one_venue_per_shape, shape_for
from monitor.simulate.world import DEFAULT_VENUES, World

__all__ = [
    "DEFAULT_VENUES",
    "SHAPES",
    "ChainSpec",
    "FaultError",
    "FaultKind",
    "World",
    "hold",
    "list_scenarios",
    "one_venue_per_shape",
    "scenario",
    "serve",
    "shape_for",
]
