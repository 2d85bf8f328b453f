"""The simulated world: venues and RPC providers on loopback, each on its own port, plus the
control API.

With port=0 every server picks a free port. With a fixed port P the control API listens on P,
the venues on P+1, P+2, ... in the order given, then the providers, chain by chain.

Every venue has a shape (monitor/simulate/venues): the real venue whose REST API and
WebSocket stream it imitates. `venues` is a list of names, whose shapes follow from the names
("okx-sim" is OKX-shaped, any unknown name Binance-shaped), or a mapping of name to shape.
All venues quote one shared random walk per market, so they agree within a small spread.

`chains` maps a chain name to its kind and providers (monitor/simulate/chains): each chain has
one head advancing at its block time, served by every provider of the chain in the kind's
answers. `pages` maps a status page name to its format (monitor/simulate/status): a fake
vendor status page or cloud health feed whose incidents and maintenance are faults. Venue,
provider, chain and page names share one namespace: faults are injected by name.

`vantages` names the points of view the world serves (monitor/simulate/vantage.py): each has
its own DNS server resolving `<name>.test` for every venue, provider and page
(monitor/simulate/dns.py). The first vantage reaches the servers directly; every further one
through a relay per server on its own port, so that a fault given a `vantage` (a blackhole,
a geo-block, a DNS fault) is seen from that vantage only. With a fixed port P, after the
servers come the first vantage's DNS server, then for each further vantage its relays (in the
servers' order) and its DNS server; each DNS server uses its port number for UDP and TCP.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Iterator, Mapping, Sequence
from types import TracebackType
from typing import Any, Protocol

import structlog
from aiohttp import web

from monitor.simulate.chains import ChainsArg, RpcProvider, SimChain, chain_spec, make_chain
from monitor.simulate.control import control_app
from monitor.simulate.dns import ZONE
from monitor.simulate.exchange import ExchangeVenue
from monitor.simulate.faults import (
    DNS_KINDS,
    VANTAGE_KINDS,
    WHOLE_KINDS,
    Fault,
    FaultBook,
    FaultError,
    FaultKind,
    NoParams,
    parse_duration,
    parse_kind,
    parse_params,
    parse_path,
)
from monitor.simulate.market import PriceWalk
from monitor.simulate.scenarios import ScenarioFunction, get_scenario
from monitor.simulate.status import StatusPage
from monitor.simulate.vantage import Vantage
from monitor.simulate.venues import SHAPES, shape_for

log = structlog.get_logger("outagemon.simulate")

DEFAULT_VENUES = ("binance-sim",)
DEFAULT_VANTAGES = ("demo",)
VENUE_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*\Z")
# How long a stopping server waits for a request still being handled before cancelling it.
SHUTDOWN_TIMEOUT = 0.2


def _base_url(scheme: str, host: str, port: int) -> str:
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class Faulty(Protocol):
    """What can be given faults: a venue, a provider, a chain or a status page."""

    faults: FaultBook
    fault_kinds: frozenset[FaultKind]

    def check_fault(self, kind: FaultKind, params: NoParams) -> None: ...


def check_names(names: Sequence[str], what: str = "venue") -> None:
    for name in names:
        if not VENUE_NAME.match(name):
            raise ValueError(f"invalid {what} name {name!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"duplicate names in {list(names)}")


def venue_shapes(venues: Sequence[str] | Mapping[str, str], *,
                 allow_none: bool = False) -> dict[str, str]:
    """{venue name: shape name}, checked: names valid and unique, shapes known."""
    if isinstance(venues, str):
        raise ValueError("venues must be a list of names or a mapping, not a string")
    names = list(venues)
    if not names and not allow_none:
        raise ValueError("a world needs at least one venue")
    check_names(names)
    shapes = dict(venues) if isinstance(venues, Mapping) else {n: shape_for(n) for n in names}
    for name, shape in shapes.items():
        if shape not in SHAPES:
            raise ValueError(f"venue {name!r}: unknown shape {shape!r}; shapes: "
                             f"{', '.join(SHAPES)}")
    return shapes


class World:
    def __init__(self, host: str = "127.0.0.1", port: int = 0,
                 venues: Sequence[str] | Mapping[str, str] = DEFAULT_VENUES, *,
                 trade_rate: float = 10.0, time_scale: float = 1.0, seed: int | None = None,
                 keepalive_scale: float = 1.0, chains: ChainsArg | None = None,
                 pages: Mapping[str, str] | None = None,
                 vantages: Sequence[str] = DEFAULT_VANTAGES) -> None:
        """`time_scale` multiplies every scenario sleep (tests use a small one); `seed` fixes
        the random draws of prices and trades; `keepalive_scale` multiplies every venue's
        keepalive intervals (1: the real venues' intervals; tests use a small one, with
        clients that scale theirs alike). `chains`: {name: ChainSpec or (kind, providers)};
        with chains, `venues` may be empty. `pages`: {name: format} of simulated status
        pages (monitor/simulate/status/formats.py), served after the providers.
        `vantages`: the vantage points served, the first one directly."""
        shapes = venue_shapes(venues, allow_none=bool(chains or pages))
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        if keepalive_scale <= 0:
            raise ValueError("keepalive_scale must be positive")
        self.host = host
        self.port = port
        self.time_scale = time_scale
        self.walk = PriceWalk(seed)
        self._venues = {
            name: ExchangeVenue(name, shape, walk=self.walk, trade_rate=trade_rate,
                                seed=None if seed is None else seed + index,
                                keepalive_scale=keepalive_scale)
            for index, (name, shape) in enumerate(shapes.items())
        }
        self._chains: dict[str, SimChain] = {}
        self._providers: dict[str, RpcProvider] = {}
        for chain_name, value in (chains or {}).items():
            spec = chain_spec(chain_name, value)
            chain, providers = make_chain(chain_name, spec)
            self._chains[chain_name] = chain
            self._providers.update((provider.name, provider) for provider in providers)
        if isinstance(pages, str):
            raise ValueError("pages must be a mapping of name to format")
        self._pages = {name: StatusPage(name, fmt) for name, fmt in (pages or {}).items()}
        check_names([*self._venues, *self._chains,
                     *(provider for chain in self._chains.values()
                       for provider in chain.providers), *self._pages],
                    "venue, chain, provider or page")
        if isinstance(vantages, str) or not vantages:
            raise ValueError("vantages must be a non-empty list of names")
        check_names(list(vantages), "vantage")
        served = {**dict.fromkeys(self._venues, "venue"),
                  **dict.fromkeys(self._providers, "provider"),
                  **dict.fromkeys(self._pages, "page")}
        # DNS faults seen from every vantage point
        self._dns_faults = {name: FaultBook(name, scope) for name, scope in served.items()}
        geo_answers = {name: venue.shape.geo_blocked for name, venue in self._venues.items()}
        self._vantages = {
            name: Vantage(name, served, direct=index == 0, geo_answers=geo_answers,
                          world_dns_faults=lambda item: self._dns_faults[item])
            for index, name in enumerate(vantages)
        }
        self._runners: list[web.AppRunner] = []
        self._ports: dict[str, int] = {}
        self._control_port: int | None = None
        self._scenario: str | None = None
        self._scenario_task: asyncio.Task[None] | None = None
        self._stopped = False

    # -- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        if self._runners or self._stopped:
            raise RuntimeError("a world starts once")
        try:
            self._control_port = await self._listen(control_app(self), self.port)
            apps = [(name, venue.app) for name, venue in self._venues.items()]
            apps += [(name, provider.app) for name, provider in self._providers.items()]
            apps += [(name, page.app) for name, page in self._pages.items()]
            for index, (name, app) in enumerate(apps, start=1):
                port = self.port + index if self.port else 0
                self._ports[name] = await self._listen(app, port)
            ports: Iterator[int] = (itertools.count(self.port + len(apps) + 1) if self.port
                                    else itertools.repeat(0))
            for vantage in self._vantages.values():
                await vantage.start(self.host, self._ports, ports)
        except BaseException:
            await self.stop()
            raise

    async def stop(self) -> None:
        """Stop everything; held requests and open streams are let go, so this is fast."""
        self._stopped = True
        await self._stop_scenario()
        await asyncio.gather(*(venue.close() for venue in self._venues.values()),
                             *(provider.close() for provider in self._providers.values()),
                             *(page.close() for page in self._pages.values()))
        for chain in self._chains.values():
            chain.faults.clear()
        for book in self._seen_books():
            book.clear()
        await asyncio.gather(*(vantage.close() for vantage in self._vantages.values()))
        runners, self._runners = self._runners, []
        await asyncio.gather(*(runner.cleanup() for runner in runners))
        self._ports.clear()
        self._control_port = None

    async def __aenter__(self) -> World:
        await self.start()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def _listen(self, app: web.Application, port: int) -> int:
        runner = web.AppRunner(app, access_log=None, handle_signals=False,
                               shutdown_timeout=SHUTDOWN_TIMEOUT)
        await runner.setup()
        self._runners.append(runner)
        site = web.TCPSite(runner, self.host, port)
        await site.start()
        return int(runner.addresses[0][1])

    # -- addresses -------------------------------------------------------------------------

    @property
    def venues(self) -> list[str]:
        return list(self._venues)

    def venue(self, name: str) -> ExchangeVenue:
        try:
            return self._venues[name]
        except KeyError:
            raise FaultError(f"unknown venue {name!r}; venues: {', '.join(self._venues)}") from None

    @property
    def chains(self) -> list[str]:
        return list(self._chains)

    @property
    def providers(self) -> list[str]:
        return list(self._providers)

    def chain(self, name: str) -> SimChain:
        try:
            return self._chains[name]
        except KeyError:
            raise FaultError(f"unknown chain {name!r}; chains: {', '.join(self._chains)}") \
                from None

    def provider(self, name: str) -> RpcProvider:
        try:
            return self._providers[name]
        except KeyError:
            raise FaultError(f"unknown provider {name!r}; providers: "
                             f"{', '.join(self._providers)}") from None

    @property
    def pages(self) -> list[str]:
        return list(self._pages)

    def page(self, name: str) -> StatusPage:
        try:
            return self._pages[name]
        except KeyError:
            raise FaultError(f"unknown page {name!r}; pages: {', '.join(self._pages)}") \
                from None

    def feed_url(self, page: str, vantage: str | None = None) -> str:
        """The full URL of a status page's feed, like http://127.0.0.1:PORT/index.json."""
        return self.url(page, vantage) + self.page(page).feed_path

    def url(self, venue: str, vantage: str | None = None) -> str:
        """Base URL of a venue's REST API, of a provider or of a status page, like
        http://127.0.0.1:PORT, as `vantage` (default: the first) reaches it."""
        if venue not in self._providers and venue not in self._pages:
            self.venue(venue)
        if venue not in self._ports:
            raise RuntimeError("world not started")
        point = self.vantage(vantage)
        port = self._ports[venue] if point.direct else point.relays[venue].port
        return _base_url("http", self.host, port)

    @property
    def vantages(self) -> list[str]:
        return list(self._vantages)

    def vantage(self, name: str | None = None) -> Vantage:
        """The vantage point `name`; None: the first."""
        if name is None:
            return next(iter(self._vantages.values()))
        try:
            return self._vantages[name]
        except KeyError:
            raise FaultError(f"unknown vantage {name!r}; vantages: "
                             f"{', '.join(self._vantages)}") from None

    def dns_address(self, vantage: str | None = None) -> str:
        """host:port of the DNS server `vantage` (default: the first) asks, for a `dns`
        target's `resolver`."""
        if self._control_port is None:
            raise RuntimeError("world not started")
        return self.vantage(vantage).dns.address

    def dns_name(self, name: str) -> str:
        """The DNS name of a venue, provider or status page: "okx-sim" -> "okx-sim.test"."""
        if name not in self._dns_faults:
            raise FaultError(f"{name!r} has no DNS name: only venues, providers and status "
                             "pages have one")
        return self.vantage().dns.name_of(name)

    def ws_url(self, venue: str, vantage: str | None = None) -> str:
        """The venue's public WebSocket URL, like ws://127.0.0.1:PORT/ws (KuCoin clients ask
        the bullet endpoint for it, with a token), or an EVM provider's (newHeads).
        ValueError for a provider without one."""
        if venue in self._providers:
            path = self._providers[venue].ws_path
            if path is None:
                raise ValueError(f"provider {venue!r} serves no WebSocket")
        else:
            path = self.venue(venue).ws_path
        return self.url(venue, vantage).replace("http", "ws", 1) + path

    def _faulty(self, name: str) -> Faulty:
        found: Faulty | None = (self._venues.get(name) or self._providers.get(name)
                                or self._chains.get(name) or self._pages.get(name))
        if found is None:
            known = [*self._venues, *self._providers, *self._chains, *self._pages]
            raise FaultError(f"unknown venue, provider or chain (or status page) {name!r}; known: "
                             f"{', '.join(known)}")
        return found

    def _books(self) -> list[FaultBook]:
        items: list[Faulty] = [*self._venues.values(), *self._providers.values(),
                               *self._chains.values(), *self._pages.values()]
        return [item.faults for item in items] + self._seen_books()

    def _seen_books(self) -> list[FaultBook]:
        """The books of what vantage points see: DNS faults, and each vantage's own."""
        return [*self._dns_faults.values(),
                *(book for vantage in self._vantages.values() for book in vantage.books.values())]

    def shape(self, venue: str) -> str:
        """The shape of `venue`: the adapter name its API imitates ("okx")."""
        return self.venue(venue).shape.name

    @property
    def control_url(self) -> str:
        if self._control_port is None:
            raise RuntimeError("world not started")
        return _base_url("http", self.host, self._control_port)

    # -- faults ----------------------------------------------------------------------------

    def add_fault(self, venue: str, fault: str, params: Mapping[str, Any] | None = None, *,
                  path: str | None = None, duration: float | None = None,
                  vantage: str | None = None) -> Fault:
        """Start `fault` on `venue` (a venue, provider or chain name; for `path` and below
        only, when given) until cleared or, with `duration`, for that many seconds; with
        `vantage`, as that vantage point alone sees it. Raises FaultError on any invalid
        input."""
        target = self._faulty(venue)
        book = target.faults
        kind = parse_kind(fault)
        if vantage is not None or (kind in VANTAGE_KINDS and kind is not FaultKind.GEO_BLOCK):
            return self._add_seen_fault(venue, kind, params, path=path, duration=duration,
                                        vantage=vantage)
        if kind not in target.fault_kinds:
            allowed = ", ".join(sorted(k.value for k in target.fault_kinds))
            raise FaultError(f"{kind.value} does not apply to the {book.scope} {venue!r}; "
                             f"a {book.scope}'s faults: {allowed}")
        parsed_path = parse_path(path)
        if kind is FaultKind.PRICE_OFFSET and parsed_path is not None:
            raise FaultError("price_offset applies to the whole venue: give params.market, "
                             "not a path")
        if (kind in WHOLE_KINDS or (book.scope == "page" and kind is FaultKind.MAINTENANCE)) \
                and parsed_path is not None:
            raise FaultError(f"{kind.value} applies to the whole {book.scope}, not a path")
        parsed = parse_params(kind, params or {}, book.scope)
        try:
            target.check_fault(kind, parsed)
        except ValueError as exc:
            raise FaultError(f"invalid params for {kind.value}: {exc}") from None
        return book.add(kind, parsed, path=parsed_path, duration=parse_duration(duration))

    def _add_seen_fault(self, name: str, kind: FaultKind, params: Mapping[str, Any] | None,
                        *, path: str | None, duration: float | None,
                        vantage: str | None) -> Fault:
        """A fault of what vantage points see of `name`: its DNS answers (from every vantage
        when `vantage` is None), the path to it, a venue's geo-fence."""
        if name not in self._dns_faults:
            raise FaultError(f"{kind.value} applies to what has an address (a venue, provider "
                             f"or status page), not the chain {name!r}")
        scope = self._dns_faults[name].scope
        if parse_path(path) is not None:
            raise FaultError(f"{kind.value} applies to the whole {scope}, not a path")
        if vantage is None:
            if kind not in DNS_KINDS:
                raise FaultError(f"{kind.value} is seen from one vantage point: give a vantage "
                                 f"other than the first (vantages: {', '.join(self._vantages)})")
            book = self._dns_faults[name]
        else:
            point = self.vantage(vantage)
            allowed = DNS_KINDS if point.direct else VANTAGE_KINDS
            if kind not in allowed:
                names = ", ".join(sorted(k.value for k in allowed))
                first = (f"; {vantage!r} is the first vantage, which reaches the servers "
                         "directly" if point.direct else "")
                raise FaultError(f"{kind.value} cannot be seen from the vantage {vantage!r} "
                                 f"alone; its faults: {names}{first}")
            if kind is FaultKind.GEO_BLOCK and scope != "venue":
                raise FaultError(f"geo_block applies to venues, not the {scope} {name!r}")
            book = point.books[name]
        parsed = parse_params(kind, params or {}, scope)
        return book.add(kind, parsed, duration=parse_duration(duration))

    def inject(self, venue: str, fault: str, *, path: str | None = None,
               duration: float | None = None, vantage: str | None = None,
               **params: Any) -> str:
        """Like add_fault, with the fault's parameters as keywords; returns the fault id."""
        return self.add_fault(venue, fault, params, path=path, duration=duration,
                              vantage=vantage).id

    def clear(self, fault_id: str) -> bool:
        """End one fault; False when it is not active (already ended or never existed)."""
        return any(book.remove(fault_id) for book in self._books())

    def clear_all(self) -> int:
        return sum(book.clear() for book in self._books())

    def faults(self, venue: str | None = None) -> list[Fault]:
        """Active faults of `venue` (a venue, provider, chain or page), or of everything."""
        if venue is not None:
            books = [self._faulty(venue).faults]
            if venue in self._dns_faults:
                books += [self._dns_faults[venue],
                          *(point.books[venue] for point in self._vantages.values())]
            return [fault for book in books for fault in book]
        return [fault for book in self._books() for fault in book]

    # -- scenarios -------------------------------------------------------------------------

    @property
    def scenario(self) -> str | None:
        return self._scenario

    def play(self, name: str) -> None:
        """Run the scenario `name` in the background, instead of any running one."""
        scenario = get_scenario(name)
        if self._scenario_task is not None:
            self._scenario_task.cancel()
        self._scenario = name
        self._scenario_task = asyncio.create_task(self._run_scenario(scenario.run),
                                                  name=f"scenario {name}")

    async def sleep(self, seconds: float) -> None:
        """Sleep `seconds` of scenario time."""
        await asyncio.sleep(seconds * self.time_scale)

    async def _run_scenario(self, run: ScenarioFunction) -> None:
        try:
            await run(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("scenario failed", scenario=self._scenario)

    async def _stop_scenario(self) -> None:
        task, self._scenario_task = self._scenario_task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        started = self._control_port is not None
        return {
            "control_url": self.control_url if started else None,
            "scenario": self._scenario,
            "venues": {
                name: {
                    "kind": venue.kind,
                    "shape": venue.shape.name,
                    "url": self.url(name) if started else None,
                    "ws_url": self.ws_url(name) if started else None,
                    "faults": [fault.to_json() for fault in venue.faults],
                }
                for name, venue in self._venues.items()
            },
            "chains": {name: chain.state() for name, chain in self._chains.items()},
            "providers": {
                name: provider.state(self.url(name) if started else None,
                                     self.ws_url(name) if started and provider.ws_path
                                     else None)
                for name, provider in self._providers.items()
            },
            "pages": {name: page.state(self.url(name) if started else None)
                      for name, page in self._pages.items()},
            "dns": {"zone": ZONE, "faults": [fault.to_json() for book in
                                             self._dns_faults.values() for fault in book]},
            "vantages": {
                name: {
                    "direct": point.direct,
                    "dns": point.dns.address if started else None,
                    "urls": {item: self.url(item, name) if started else None
                             for item in self._dns_faults},
                    "faults": [fault.to_json() for fault in point.faults()],
                }
                for name, point in self._vantages.items()
            },
        }
