"""Arbitrum One, 15 December 2023: the sequencer stalls for about 78 minutes.

A surge of inscription transactions overwhelmed Arbitrum One's sequencer: it stopped
producing blocks, so every RPC provider served the same frozen head, while Ethereum and the
other chains went on. After about 78 minutes the sequencer produced blocks again.

Replayed at two seconds per minute: the inscription surge slows every `arbitrum-sim`
provider's answers (150 ms) for 20 s, then no block is produced for 156 s (a `halt` of the
chain), then blocks flow again. outagemon should page once for the chain, not for its
providers, and for nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_CHAINS
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

CHAIN = "arbitrum-sim"
CALM_BEFORE = 30.0
SURGE = 20.0  # inscription mints flood the chain; answers slow down
SURGE_LATENCY_MS = 150
STALL = 156.0  # 78 minutes without a block
CALM_AFTER = 90.0

OTHER_CHAINS = tuple(name for name in FULL_CHAINS if name != CHAIN)


@scenario(
    "arbitrum-2023-12-15",
    "Arbitrum One sequencer stall of 15 Dec 2023, two seconds per minute: after 30 s an "
    "inscription surge slows every arbitrum-sim provider by 150 ms for 20 s, then no block "
    "is produced for 156 s (every provider's head frozen), then blocks flow again; 90 s "
    "calm, forever. Expected: ChainHalted{chain=arbitrum-sim} fires and resolves, no alert "
    "for its providers, nothing for other chains",
    expected=Expected(
        fire=(AlertMatch("ChainHalted", {"chain": CHAIN}),),
        never=(*(AlertMatch(alertname, {"chain": CHAIN})
                 for alertname in ("RpcLagging", "TargetDown", "TargetDegraded")),
               *(AlertMatch(alertname, {"chain": chain}) for chain in OTHER_CHAINS
                 for alertname in ("ChainHalted", "RpcLagging", "TargetDown"))),
        resolve=(AlertMatch("ChainHalted", {"chain": CHAIN}),),
    ),
)
async def arbitrum_2023_12_15(world: World) -> None:
    if CHAIN not in world.chains:
        return
    providers = world.chain(CHAIN).providers
    while True:
        await world.sleep(CALM_BEFORE)
        await hold(world, SURGE, "latency", venues=providers, ms=SURGE_LATENCY_MS)
        await hold(world, STALL, "halt", venues=[CHAIN])
        await world.sleep(CALM_AFTER)
