"""Regional blocking: the venue is up; one vantage point is refused (SPEC section 1).

Seen from the vantage `restricted`, the Binance-shaped venue is blocked the ways real ones are:
a national firewall forges the venue's DNS answers (DNS poisoning) and blackholes its
addresses (connect timeouts), and the venue's own edge refuses the location (HTTP 451
"Service unavailable from a restricted location", as Binance answers US users). The vantage
`demo` sees the venue up all along. outagemon should tell a blocked vantage from a venue
that is down: the restricted daemon pages GeoBlocked and TargetDown for that venue only, the
demo daemon pages nothing for it, and nothing looks like a cloud region outage.

Real blocks last months. Here the DNS answers stay forged for six minutes, long enough for
Prometheus's RegionalBlocking (down at one vantage while up at another, for 5 m; see
config/prometheus/rules.yml) to fire for the venue's DNS target while TargetDownEverywhere
stays quiet. Within them the addresses are blackholed for 150 s, then after 30 s the edge
answers 451 for 150 s. Then the block lifts for 90 s, and it starts again.

The demo runs it with a daemon per vantage (`VANTAGES`); in a world with a single vantage
point there is nothing to compare and the scenario stays calm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_VENUES
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

NAME = "regional-block"
OPEN_VANTAGE = "demo"
BLOCKED_VANTAGE = "restricted"
VANTAGES = (OPEN_VANTAGE, BLOCKED_VANTAGE)
BLOCKED_SHAPE = "binance"
VENUE = next((name for name, shape in FULL_VENUES.items() if shape == BLOCKED_SHAPE),
             "binance-sim")

CALM_BEFORE = 30.0
POISONED = 360.0  # the DNS answers are forged for the whole block
BLACKHOLED = 150.0  # from its start: connect timeouts
BETWEEN = 30.0  # only the DNS answers forged
GEO_FENCED = 150.0  # the venue's edge answers 451
CALM_AFTER = 60.0

# The demo's targets on the venue (monitor/commands/demo.py).
VENUE_TARGETS = (VENUE, f"{VENUE}-usde", f"{VENUE}-dns", f"{VENUE}-port", f"{VENUE}-ping",
                 f"{VENUE}-system-status")


def _blocked(name: str, **labels: str) -> AlertMatch:
    return AlertMatch(name, {"vantage": BLOCKED_VANTAGE, **labels})


@scenario(
    NAME,
    f"regional blocking, two vantage points ({OPEN_VANTAGE}, {BLOCKED_VANTAGE}): after 30 s, "
    f"seen from {BLOCKED_VANTAGE} only, the Binance-shaped venue's DNS answers are forged for "
    "6 min (long enough for Prometheus's RegionalBlocking); within them its addresses are "
    "blackholed (connect timeouts) for 150 s, then after 30 s its edge answers 451 "
    f"restricted location for 150 s; then 90 s unblocked, forever. {OPEN_VANTAGE} sees the "
    f"venue up all along. Expected: {BLOCKED_VANTAGE} pages GeoBlocked and TargetDown "
    f"(DNS, port) for that venue, which resolve; {OPEN_VANTAGE} pages nothing for it; no "
    "DependencyOutage",
    expected=Expected(
        fire=(_blocked("GeoBlocked", target=VENUE),
              _blocked("TargetDown", target=f"{VENUE}-dns"),
              _blocked("TargetDown", target=f"{VENUE}-port")),
        never=(AlertMatch("DependencyOutage"),
               AlertMatch("GeoBlocked", {"vantage": OPEN_VANTAGE}),
               *(AlertMatch("TargetDown", {"vantage": OPEN_VANTAGE, "target": target})
                 for target in VENUE_TARGETS)),
        resolve=(_blocked("GeoBlocked", target=VENUE),
                 _blocked("TargetDown", target=f"{VENUE}-dns"),
                 _blocked("TargetDown", target=f"{VENUE}-port")),
    ),
)
async def regional_block(world: World) -> None:
    if len(world.vantages) < 2 or not world.venues:
        return
    vantage = BLOCKED_VANTAGE if BLOCKED_VANTAGE in world.vantages else world.vantages[-1]
    venue = next((name for name in world.venues if world.shape(name) == BLOCKED_SHAPE),
                 world.venues[0])
    while True:
        await world.sleep(CALM_BEFORE)
        forged = world.inject(venue, "dns_poison", vantage=vantage)
        try:
            await hold(world, BLACKHOLED, "blackhole", venues=[venue], vantage=vantage)
            await world.sleep(BETWEEN)
            await hold(world, GEO_FENCED, "geo_block", venues=[venue], vantage=vantage)
            await world.sleep(POISONED - BLACKHOLED - BETWEEN - GEO_FENCED)
        finally:
            world.clear(forged)
        await world.sleep(CALM_AFTER)
