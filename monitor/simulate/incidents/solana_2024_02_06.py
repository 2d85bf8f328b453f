"""Solana mainnet-beta, 6 February 2024: block production stops for about five hours.

At 09:53 UTC the cluster stopped finalising blocks at slot 246,464,040 (a bug in the
validators' program cache sent them into an endless recompile loop). No validator produced
a block, so every RPC provider served the same frozen slot. Validator and RPC operators
upgraded to v1.17.20 and restarted from a snapshot of that slot; block production resumed at
about 14:57 UTC.

Replayed at one minute per hour: every provider of `solana-sim` freezes at one slot (a
`halt` of the chain) for 300 s; in its last part the providers restart on the new version
one at a time (each answers 503 for 30 s, so the halt stays confirmed by the others); then
slots advance again. outagemon should page once for the chain, not for its providers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_CHAINS
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

CHAIN = "solana-sim"
CALM_BEFORE = 30.0
HALT = 300.0  # 09:53 to 14:57
FROZEN = 180.0  # until about 13:00: the bug is found, the fix released
RESTART = 30.0  # each provider restarting on v1.17.20 (503), one after the other
CALM_AFTER = 90.0
# A halt is only confirmed while at least two providers answer, so one restarts at a time.
MIN_ANSWERING = 2

OTHER_CHAINS = tuple(name for name in FULL_CHAINS if name != CHAIN)


@scenario(
    "solana-2024-02-06",
    "Solana mainnet-beta halt of 6 Feb 2024, one minute per hour: after 30 s every "
    "solana-sim provider's slot freezes for 300 s (a chain halt); near its end the "
    "providers restart on a new version one at a time (503 for 30 s each); then slots "
    "advance again; 90 s calm, forever. Expected: ChainHalted{chain=solana-sim} fires and "
    "resolves, the providers' TargetDown is held back, nothing fires for other chains",
    expected=Expected(
        fire=(AlertMatch("ChainHalted", {"chain": CHAIN}),),
        held=(AlertMatch("TargetDown", {"chain": CHAIN}),),
        never=(AlertMatch("RpcLagging", {"chain": CHAIN}),
               *(AlertMatch(alertname, {"chain": chain}) for chain in OTHER_CHAINS
                 for alertname in ("ChainHalted", "RpcLagging", "TargetDown"))),
        resolve=(AlertMatch("ChainHalted", {"chain": CHAIN}),),
    ),
)
async def solana_2024_02_06(world: World) -> None:
    if CHAIN not in world.chains:
        return
    providers = world.chain(CHAIN).providers
    restarting = providers if len(providers) > MIN_ANSWERING else []
    while True:
        await world.sleep(CALM_BEFORE)
        halt = world.inject(CHAIN, "halt")
        try:
            await world.sleep(FROZEN)
            for provider in restarting:
                await hold(world, RESTART, "http_5xx", venues=[provider], status=503)
            await world.sleep(max(0.0, HALT - FROZEN - RESTART * len(restarting)))
        finally:
            world.clear(halt)
        await world.sleep(CALM_AFTER)
