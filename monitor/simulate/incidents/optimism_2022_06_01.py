"""Optimism, 1 June 2022: the OP airdrop overloads the public RPC endpoint.

When claims for the first OP airdrop opened, the traffic swamped Optimism's public RPC
endpoint: it answered 429 and then timed out, and users were told to switch to another
provider. The chain itself kept producing blocks, and the other providers served it fine.

Replayed on a compressed timeline: after 30 s of calm, `optimism-public-sim` answers 429
(Retry-After 2) for 60 s, then stops answering (requests hang) for 60 s, then recovers; its
peers `optimism-sim-a` and `optimism-sim-b` stay healthy throughout. outagemon should blame
the public endpoint (RateLimited, then TargetDown), not the chain.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_CHAINS
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

CHAIN = "optimism-sim"
PUBLIC = "optimism-public-sim"
HEALTHY = tuple(name for name in FULL_CHAINS[CHAIN].providers if name != PUBLIC)
CALM_BEFORE = 30.0
RATE_LIMITED = 60.0
RETRY_AFTER = 2
TIMING_OUT = 60.0
CALM_AFTER = 90.0

OTHER_CHAINS = tuple(name for name in FULL_CHAINS if name != CHAIN)
PUBLIC_ALERTS = (AlertMatch("RateLimited", {"target": PUBLIC}),
                 AlertMatch("TargetDown", {"target": PUBLIC}))


@scenario(
    "optimism-2022-06-01",
    "OP airdrop of 1 Jun 2022, compressed: after 30 s the public endpoint "
    "optimism-public-sim answers 429 (Retry-After 2) for 60 s, then hangs for 60 s, then "
    "recovers, while the chain and its other providers stay fine; 90 s calm, forever. "
    "Expected: RateLimited and TargetDown for the public endpoint fire and resolve; no "
    "ChainHalted, nothing for the other providers or chains",
    expected=Expected(
        fire=PUBLIC_ALERTS,
        never=(AlertMatch("ChainHalted", {"chain": CHAIN}),
               *(AlertMatch(alertname, {"target": provider}) for provider in HEALTHY
                 for alertname in ("RateLimited", "TargetDown", "TargetDegraded",
                                   "RpcLagging")),
               *(AlertMatch(alertname, {"chain": chain}) for chain in OTHER_CHAINS
                 for alertname in ("ChainHalted", "RpcLagging", "TargetDown"))),
        resolve=PUBLIC_ALERTS,
    ),
)
async def optimism_2022_06_01(world: World) -> None:
    if PUBLIC not in world.providers:
        return
    while True:
        await world.sleep(CALM_BEFORE)
        await hold(world, RATE_LIMITED, "rate_limit", venues=[PUBLIC], retry_after=RETRY_AFTER)
        await hold(world, TIMING_OUT, "hang", venues=[PUBLIC])
        await world.sleep(CALM_AFTER)
