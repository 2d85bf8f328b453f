"""An exchange's announced maintenance: announced, in progress, the venue suspended, back.

Venues announce system upgrades ahead on their status pages. When the window opens, the
venue's own status endpoint reports maintenance (Binance's /sapi/v1/system/status says 1,
Kraken's SystemStatus `maintenance`, OKX an `ongoing` event) and trading stops; then the
venue often suspends outright: every request, the status endpoint's included, answers 503
and its streams go silent. Then REST and trading come back, and the page marks the
maintenance completed.

Replayed on the first Binance-shaped venue (else the first venue with a status endpoint)
with the first Statuspage-format page as its vendor page: after 20 s of calm the page
announces "Scheduled system upgrade" for 20 s; the window opens on the page, and 5 s later
the venue's status endpoint reports maintenance and its stream stops trading (30 s); then
the venue suspends, 503 on every request (30 s); then it is back, and 10 s later the page
completes the maintenance; 60 s of calm, and again.

outagemon should say ExchangeMaintenance once, keep it open through the suspension, and
hold back the venue's TargetDown and WebSocketStale until the venue is healthy again.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from monitor.simulate.catalog import FULL_PAGES, FULL_VENUES
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario

if TYPE_CHECKING:
    from monitor.simulate.world import World

SHAPE = "binance"
PAGE_FORMAT = "statuspage"
# The demo's venue and vendor page, and the other venues, for the expected alerts.
VENUE = next(name for name, shape in FULL_VENUES.items() if shape == SHAPE)
PAGE = next(name for name, fmt in FULL_PAGES.items() if fmt == PAGE_FORMAT)
OTHER_VENUES = tuple(name for name in FULL_VENUES if name != VENUE)

MAINTENANCE_NAME = "Scheduled system upgrade"
CALM_BEFORE = 20.0
ANNOUNCED = 20.0  # on the page, before the window opens
PAGE_LEAD = 5.0  # the window is open on the page; the venue has not stopped yet
VENUE_MAINTENANCE = 30.0  # the status endpoint says maintenance; no trades
SUSPENDED = 30.0  # and every request answers 503
PAGE_TAIL = 10.0  # the venue is back; the page completes the maintenance after this
CALM_AFTER = 60.0

_VENUE_ALERTS = ("TargetDown", "TargetDegraded", "RateLimited", "WebSocketStale",
                 "ExchangeMaintenance")


@scenario(
    "exchange-maintenance",
    "an exchange's announced maintenance: after 20 s calm the exchange's Statuspage page "
    "announces a system upgrade (20 s); the window opens, and 5 s later the Binance-shaped "
    "venue's status endpoint says maintenance and its stream stops (30 s); then the venue "
    "suspends, 503 on every request (30 s); then it is back and, 10 s later, the page "
    "completes the maintenance; 60 s calm, forever. Expected: ExchangeMaintenance fires and "
    "resolves once the venue is back; the venue's TargetDown during the suspension is held "
    "back; nothing fires for the other venues",
    expected=Expected(
        fire=(AlertMatch("ExchangeMaintenance", {"target": VENUE}),),
        held=(AlertMatch("TargetDown", {"target": VENUE}),),
        never=(AlertMatch("DependencyOutage"),
               AlertMatch("StatusPageIncident", {"target": PAGE}),
               *(AlertMatch(alertname, {"target": venue}) for venue in OTHER_VENUES
                 for alertname in _VENUE_ALERTS)),
        resolve=(AlertMatch("ExchangeMaintenance", {"target": VENUE}),),
    ),
)
async def exchange_maintenance(world: World) -> None:
    venue = _venue(world)
    if venue is None:
        return
    page = next((name for name in world.pages
                 if world.page(name).format.name == PAGE_FORMAT), None)
    while True:
        await world.sleep(CALM_BEFORE)
        if page is not None:
            await hold(world, ANNOUNCED, "maintenance", venues=[page], active=False,
                       name=MAINTENANCE_NAME)
        else:
            await world.sleep(ANNOUNCED)
        window = (world.inject(page, "maintenance", active=True, name=MAINTENANCE_NAME)
                  if page is not None else None)
        try:
            await world.sleep(PAGE_LEAD)
            stopped = world.inject(venue, "maintenance")
            try:
                await world.sleep(VENUE_MAINTENANCE)
                await hold(world, SUSPENDED, "http_5xx", venues=[venue], status=503)
            finally:
                world.clear(stopped)
            await world.sleep(PAGE_TAIL)
        finally:
            if window is not None:
                world.clear(window)
        await world.sleep(CALM_AFTER)


def _venue(world: World) -> str | None:
    """The first Binance-shaped venue, else the first whose shape has a status endpoint."""
    with_status = [name for name in world.venues
                   if world.venue(name).shape.status_path is not None]
    return next((name for name in with_status if world.shape(name) == SHAPE),
                with_status[0] if with_status else None)

