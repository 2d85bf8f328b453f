"""Binance, 10 October 2025: the day of the largest liquidation cascade in crypto.

Around 21:00 UTC a tariff announcement set off a crash; more than 19 billion dollars of
leveraged positions were liquidated across venues within a day, most of it that evening.
Binance was overloaded: its API slowed and answered 503 (with -1008 SERVER_BUSY, "Server is
currently overloaded with other requests. Please try again in a few minutes.", or the CDN's
own error page) and 429, and its WebSocket market data fell further and further behind. At
about 21:40 USDe traded near 0.65 on Binance alone, while it held close to 1.00 elsewhere.

Replayed on the Binance-shaped venues only, the evening in about five minutes: after 20 s of
calm the stream lag grows step by step (0.5 s to 4 s, over 100 s), REST answers slowing down
at first; then the overload: 503 with -1008 for 40 s, 429 with Retry-After for 40 s, the
CDN's 503 page for 40 s; 30 s into it USDE-USDT trades 35 % low (about 0.65) for 60 s; then
60 s of calm, and again.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from monitor.simulate.catalog import FULL_VENUES
from monitor.simulate.scenarios import AlertMatch, Expected, hold, scenario
from monitor.simulate.venues.binance import EDGE_UNAVAILABLE

if TYPE_CHECKING:
    from monitor.simulate.world import World

SHAPE = "binance"
# The demo's Binance venue and the others, for the expected alerts.
VENUE = next(name for name, shape in FULL_VENUES.items() if shape == SHAPE)
OTHER_VENUES = tuple(name for name, shape in FULL_VENUES.items() if shape != SHAPE)

STREAM_PATH = "/ws"  # Binance's raw streams: a latency there delays every trade message
REST_PATH = "/api/v3"  # server time, ping, tickers; the status endpoint stays quick
CALM_BEFORE = 20.0
# (stream delay in ms, seconds): the lag grows in steps small enough that the stream never
# falls silent for stale_after, only late.
LAG_STEPS = ((500, 10.0), (1000, 10.0), (2000, 10.0), (3000, 20.0), (4000, 50.0))
# (REST delay in ms, seconds) alongside, while the lag is still small: slow answers, within
# the demo's 2 s timeout (a faster-probing config times out). Then REST is quick again, so
# the lag is what the venue's targets show.
REST_SPIKES = ((500, 10.0), (1200, 10.0), (0, 5.0), (1200, 5.0))
# (fault, params, seconds), one after the other.
OVERLOAD: tuple[tuple[str, dict[str, Any], float], ...] = (
    ("http_5xx", {"status": 503}, 40.0),  # the venue's own answer: -1008 SERVER_BUSY
    ("rate_limit", {"status": 429, "retry_after": 1}, 40.0),
    ("http_5xx", {"status": 503, "body": EDGE_UNAVAILABLE, "content_type": "text/html"}, 40.0),
)
DEPEG_AFTER = 30.0  # into the overload
DEPEG = 60.0
DEPEG_RATIO = -0.35  # USDe at about 0.65
STABLE_MARKET = "USDE-USDT"
CALM_AFTER = 60.0

_FIRE = (
    AlertMatch("PriceDeviation", {"market": STABLE_MARKET}),
    AlertMatch("FeedLagHigh", {"target": VENUE}),
    AlertMatch("TargetDown", {"target": VENUE}),
    AlertMatch("RateLimited", {"target": VENUE}),
)
_VENUE_ALERTS = ("TargetDown", "TargetDegraded", "RateLimited", "FeedLagHigh",
                 "WebSocketStale")


@scenario(
    "binance-2025-10-10",
    "Binance overload and USDe dislocation of 10 Oct 2025, on the Binance-shaped venues "
    "only: after 20 s calm the stream lag grows from 0.5 s to 4 s over 100 s (REST slow, "
    "0.5-1.2 s, in its first 30 s); then 503 with -1008 SERVER_BUSY for 40 s, 429 "
    "(Retry-After 1) for 40 s, the CDN's 503 page for 40 s; 30 s into that USDE-USDT trades "
    "at about 0.65 for 60 s; 60 s calm, forever. Expected: FeedLagHigh, TargetDown and "
    "RateLimited for the Binance venue and PriceDeviation{market=USDE-USDT} fire and "
    "resolve; nothing for BTC prices or the other venues",
    expected=Expected(
        fire=_FIRE,
        never=(AlertMatch("PriceDeviation", {"market": "BTC-USDT"}),
               AlertMatch("DependencyOutage"),
               AlertMatch("ChainHalted"),
               *(AlertMatch(alertname, {"target": venue}) for venue in OTHER_VENUES
                 for alertname in _VENUE_ALERTS)),
        resolve=_FIRE,
    ),
)
async def binance_2025_10_10(world: World) -> None:
    venues = [name for name in world.venues if world.shape(name) == SHAPE]
    if not venues:
        return
    while True:
        await world.sleep(CALM_BEFORE)
        await asyncio.gather(_steps(world, venues, STREAM_PATH, LAG_STEPS),
                             _steps(world, venues, REST_PATH, REST_SPIKES))
        await asyncio.gather(_overload(world, venues), _depeg(world, venues))
        await world.sleep(CALM_AFTER)


async def _steps(world: World, venues: list[str], path: str,
                 steps: tuple[tuple[int, float], ...]) -> None:
    """A latency of each step's ms on `path` for its seconds (0: none)."""
    for ms, seconds in steps:
        if ms:
            await hold(world, seconds, "latency", path=path, venues=venues, ms=ms)
        else:
            await world.sleep(seconds)


async def _overload(world: World, venues: list[str]) -> None:
    for fault, params, seconds in OVERLOAD:
        await hold(world, seconds, fault, venues=venues, **params)


async def _depeg(world: World, venues: list[str]) -> None:
    await world.sleep(DEPEG_AFTER)
    await hold(world, DEPEG, "price_offset", venues=venues, ratio=DEPEG_RATIO,
               market=STABLE_MARKET)
