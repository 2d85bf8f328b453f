"""Random faults for the soak: from a seeded RNG, every few seconds one fault on one simulated
venue, provider, chain or status page, for 5 to 60 s, through its world's control API
(docs/simulator.md, "Control API"). Faults clear themselves (`duration_s`); now and then one
is cleared early with DELETE, as an operator would. The first run opens with a tour of every
fault kind, a second apart, during the warm-up."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp

from bench.soak.sites import Sites
from monitor.simulate.status.formats import FORMATS
from monitor.simulate.venues import SHAPES

MIN_SECONDS, MAX_SECONDS = 5.0, 60.0
TOUR_EVERY = 1.0  # seconds between the faults of the opening tour (FaultInjector.tour)
EARLY_CLEAR = 0.1  # share of faults cleared before their duration ends
MARKETS = ("BTC-USDT", "ETH-USDT", "SOL-USDT", "BNB-USDT")

Params = dict[str, Any]
ParamMaker = Callable[[random.Random], Params]


def _none(_: random.Random) -> Params:
    return {}


COMMON: dict[str, ParamMaker] = {
    "latency": lambda r: {"ms": r.choice((200, 800, 2000, 6000))},
    "http_5xx": lambda r: {"status": r.choice((500, 502, 503))},
    "rate_limit": lambda r: {"retry_after": r.randint(1, 10), "status": r.choice((429, 418))},
    "reset": _none,
    "hang": _none,
    "garbage": _none,
    "oversized": lambda r: {"size": 2 * 1024 * 1024},
}
VENUE: dict[str, ParamMaker] = {
    **COMMON,
    "geo_block": _none,
    "stall_stream": _none,
    "maintenance": _none,
    "price_offset": lambda r: {"ratio": r.choice((-0.05, 0.04)), "market": r.choice(MARKETS)},
}
PROVIDER: dict[str, ParamMaker] = {
    **COMMON,
    "stall_stream": _none,
    "freeze": _none,
    "lag": lambda r: {"blocks": r.randint(5, 30)},
    "rewind": lambda r: {"blocks": r.randint(2, 6)},
    "wrong_chain": _none,
    "rpc_error": _none,
    "syncing": lambda r: {"behind": r.randint(20, 200)},
}
CHAIN: dict[str, ParamMaker] = {"halt": _none, "syncing": lambda r: {"behind": 50}}
PAGE: dict[str, ParamMaker] = {
    **COMMON,
    "incident": lambda r: {"impact": r.choice(("minor", "major", "critical")),
                           "name": r.choice(("Degraded API", "Delayed withdrawals")),
                           "indicator_lags": r.random() < 0.3},
    "maintenance": _none,
}
# Faults on the whole target: no path.
WHOLE = frozenset({"price_offset", "freeze", "lag", "rewind", "wrong_chain", "syncing", "halt",
                   "incident", "maintenance"})


@dataclass(frozen=True)
class Site:
    scope: str  # venue, provider, chain or page: the key naming it in a fault order
    name: str
    faults: dict[str, ParamMaker]
    paths: tuple[str, ...] = ()  # REST paths a fault may be limited to


def soak_sites(sites: Sites) -> list[Site]:
    out = [Site("venue", v.name, VENUE, (SHAPES[v.shape].time_path,)) for v in sites.venues]
    out += [Site("provider", p.name, PROVIDER) for p in sites.providers]
    out += [Site("chain", name, CHAIN) for name in sites.chains]
    for page in sites.pages:
        kinds = PAGE if FORMATS[page.format].maintenance else {
            k: v for k, v in PAGE.items() if k != "maintenance"}
        out.append(Site("page", page.name, kinds))
    return out


@dataclass
class FaultInjector:
    sites: Sites
    rng: random.Random
    every: float
    injected: Counter[str] = field(default_factory=Counter)  # by fault kind
    refused: Counter[str] = field(default_factory=Counter)  # by "kind: error"
    cleared_early: int = 0

    toured: bool = False

    def tour(self, targets: list[Site]) -> list[tuple[Site, str]]:
        """Every fault kind once on a random site of each scope, and the faults that make
        pages read large or broken bodies on every page (each format has its own parser):
        the one-off peaks of memory they cause belong to the warm-up, not to the figures."""
        stops: list[tuple[Site, str]] = []
        for scope in ("venue", "provider", "chain", "page"):
            sites = [site for site in targets if site.scope == scope]
            kinds = sorted({kind for site in sites for kind in site.faults})
            stops += [(self.rng.choice([s for s in sites if kind in s.faults]), kind)
                      for kind in kinds]
        stops += [(site, kind) for site in targets if site.scope == "page"
                  for kind in ("oversized", "garbage")]
        self.rng.shuffle(stops)
        return stops

    def order(self, site: Site, kind: str | None = None) -> tuple[dict[str, Any], float]:
        kind = kind or self.rng.choice(sorted(site.faults))
        duration = round(self.rng.uniform(MIN_SECONDS, MAX_SECONDS), 1)
        order: dict[str, Any] = {site.scope: site.name, "fault": kind,
                                 "params": site.faults[kind](self.rng), "duration_s": duration}
        if site.paths and kind not in WHOLE and self.rng.random() < 0.2:
            order["path"] = self.rng.choice(site.paths)
        return order, duration

    async def run(self) -> None:
        """Inject until cancelled; the worlds clear every fault on their own in the end."""
        targets = soak_sites(self.sites)
        early: set[asyncio.Task[None]] = set()
        async with aiohttp.ClientSession() as session:
            try:
                if not self.toured:
                    self.toured = True
                    for site, kind in self.tour(targets):
                        await self._inject(session, site, self.order(site, kind)[0])
                        await asyncio.sleep(TOUR_EVERY)
                while True:
                    site = self.rng.choice(targets)
                    order, duration = self.order(site)
                    fault_id = await self._inject(session, site, order)
                    if fault_id is not None and self.rng.random() < EARLY_CLEAR:
                        task = asyncio.create_task(self._clear_later(
                            session, site, fault_id, self.rng.uniform(1.0, duration)))
                        early.add(task)
                        task.add_done_callback(early.discard)
                    await asyncio.sleep(self.every)
            finally:
                for task in early:
                    task.cancel()
                await asyncio.gather(*early, return_exceptions=True)

    async def clear_all(self) -> None:
        """Clear every fault of every world (DELETE /-/sim/faults)."""
        async with aiohttp.ClientSession() as session:
            for control in sorted(set(self.sites.control.values())):
                async with session.delete(f"{control}/-/sim/faults") as resp:
                    resp.raise_for_status()

    async def _inject(self, session: aiohttp.ClientSession, site: Site,
                      order: dict[str, Any]) -> str | None:
        url = f"{self.sites.control[site.name]}/-/sim/faults"
        async with session.post(url, json=order) as resp:
            body = await resp.json()
        if resp.status != 201:
            self.refused[f"{order['fault']} on a {site.scope}: {body.get('error')}"] += 1
            return None
        self.injected[str(order["fault"])] += 1
        return str(body["id"])

    async def _clear_later(self, session: aiohttp.ClientSession, site: Site, fault_id: str,
                           after: float) -> None:
        await asyncio.sleep(after)
        url = f"{self.sites.control[site.name]}/-/sim/faults/{fault_id}"
        with contextlib.suppress(aiohttp.ClientError):  # a world gone is the injector's news
            async with session.delete(url) as resp:
                if resp.status == 200:  # 404: it had ended already
                    self.cleared_early += 1
