"""Where the simulated servers are hosted, for the demo's `depends_on` and the cloud incident
replays.

Every venue runs in AWS us-east-1 (as Coinbase does). Of each chain with several providers the
first one does too (an Infura-like provider) and the others run elsewhere, so every chain keeps
a provider outside the region; a chain's lone provider runs elsewhere. Status pages are
hosted elsewhere, so a region outage cannot silence them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from monitor.simulate.world import World

US_EAST_1 = "us-east-1"


def in_us_east_1(world: World, name: str) -> bool:
    """Whether the venue, provider or status page `name` is hosted in AWS us-east-1."""
    if name in world.venues:
        return True
    if name in world.providers:
        providers = world.provider(name).chain.providers
        return len(providers) > 1 and name == providers[0]
    return False
