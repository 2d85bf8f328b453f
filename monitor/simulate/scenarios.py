"""Named scenarios: scripts that inject and clear faults on a loop, on a compressed timeline.

A scenario is one async function taking the World, registered with @scenario. It sleeps with
`world.sleep` (so tests can run it faster through World(time_scale=...)) and should leave no
fault behind when cancelled; `hold` does both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.simulate.world import World

ScenarioFunction = Callable[["World"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class AlertMatch:
    """An alert by name and some of its labels (all must be equal)."""

    alertname: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, labels: Mapping[str, str]) -> bool:
        return (labels.get("alertname") == self.alertname
                and all(labels.get(key) == value for key, value in self.labels.items()))

    def __str__(self) -> str:
        inner = ", ".join(f"{key}={value}" for key, value in sorted(self.labels.items()))
        return f"{self.alertname}{{{inner}}}"


@dataclass(frozen=True, slots=True)
class Expected:
    """What a receiver of the demo's notifications should see while the scenario plays:
    `fire` each arrive firing, `held` are active (GET /api/v1/alerts) but never notified
    (held back behind a dependency, a halt or maintenance), `never` are neither notified nor
    active, and `resolve` arrive resolved once the scenario's fault is over."""

    fire: tuple[AlertMatch, ...] = ()
    held: tuple[AlertMatch, ...] = ()
    never: tuple[AlertMatch, ...] = ()
    resolve: tuple[AlertMatch, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    run: ScenarioFunction
    expected: Expected | None = None


SCENARIOS: dict[str, Scenario] = {}


class UnknownScenario(ValueError):
    pass


def scenario(name: str, description: str, *, expected: Expected | None = None
             ) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register the decorated function as the scenario `name`; `expected`: the alerts the
    demo's notifications should show while it plays."""

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} is already registered")
        SCENARIOS[name] = Scenario(name, description, function, expected)
        return function

    return register


def list_scenarios() -> list[tuple[str, str]]:
    return [(item.name, item.description) for item in SCENARIOS.values()]


def get_scenario(name: str) -> Scenario:
    try:
        return SCENARIOS[name]
    except KeyError:
        known = ", ".join(SCENARIOS)
        raise UnknownScenario(f"unknown scenario {name!r}; known scenarios: {known}") from None


async def hold(world: World, seconds: float, fault: str, *, path: str | None = None,
               venues: Iterable[str] | None = None, **params: Any) -> None:
    """Give every venue (or `venues`: venues, providers or chains) `fault` for `seconds` of
    scenario time, then clear it."""
    ids = [world.inject(venue, fault, path=path, **params)
           for venue in (world.venues if venues is None else venues)]
    try:
        await world.sleep(seconds)
    finally:
        for fault_id in ids:
            world.clear(fault_id)


@scenario("calm", "no faults: every venue answers normally")
async def calm(world: World) -> None:
    return None


# The phases of `flaky`, each PHASE seconds: (fault, params); None is calm.
PHASE = 20.0
FLAKY: tuple[tuple[str | None, dict[str, Any]], ...] = (
    ("latency", {"ms": 300}),
    ("http_5xx", {"status": 503}),
    ("rate_limit", {"retry_after": 5}),
    ("stall_stream", {}),
    ("maintenance", {}),
    ("price_offset", {"ratio": -0.05, "market": "BTC-USDT"}),
    (None, {}),
)


@scenario("flaky", "every venue cycles through 300 ms latency, a 503 burst, 429 with "
                   "Retry-After 5, a stalled stream, maintenance, prices 5 % low on BTC-USDT "
                   "and calm, ~20 s each, forever; venues start their cycles staggered; "
                   "chains have the chain-trouble scenario's faults, status pages the "
                   "vendor-incident scenario's")
async def flaky(world: World) -> None:
    venues = world.venues
    cycle = PHASE * len(FLAKY)
    await asyncio.gather(*(_flaky_venue(world, venue, index * cycle / len(venues))
                           for index, venue in enumerate(venues)),
                         chain_trouble(world), vendor_incident(world))


async def _flaky_venue(world: World, venue: str, delay: float) -> None:
    await world.sleep(delay)
    while True:
        for fault, params in FLAKY:
            if fault is None:
                await world.sleep(PHASE)
            else:
                await hold(world, PHASE, fault, venues=[venue], **params)


@scenario("depeg", "USDe-style dislocation: one venue (the Binance-shaped one, if any) quotes "
                   "USDE-USDT 35 % low for 60 s after 20 s of calm, forever")
async def depeg(world: World) -> None:
    venue = next((name for name in world.venues if world.shape(name) == "binance"),
                 world.venues[0])
    while True:
        await world.sleep(20)
        await hold(world, 60, "price_offset", venues=[venue], ratio=-0.35, market="USDE-USDT")


@dataclass(frozen=True, slots=True)
class ChainStep:
    """`fault` for `seconds` on the first chain of `kind` (provider number `provider` of it,
    or the chain itself when None); no fault: calm. A step whose chain or provider the world
    lacks is calm too."""

    seconds: float
    fault: str | None = None
    kind: str = ""
    provider: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)


# Two tracks, played side by side, forever: the EVM chain's story and the other chains'.
CHAIN_TRACKS: tuple[tuple[ChainStep, ...], ...] = (
    (
        ChainStep(20),
        ChainStep(30, "lag", "evm", 0, {"blocks": 20}),
        ChainStep(15),
        ChainStep(45, "halt", "evm"),
        ChainStep(20),
        ChainStep(10, "rewind", "evm", 1, {"blocks": 4}),
        ChainStep(20),
    ),
    (
        ChainStep(15),
        ChainStep(25, "rate_limit", "solana", 1, {"retry_after": 5}),
        ChainStep(15),
        ChainStep(25, "rpc_error", "cosmos", 0, {"code": -32603, "message": "Internal error",
                                                  "data": "simulated failure"}),
        ChainStep(15),
        ChainStep(25, "syncing", "bitcoin", 0, {"behind": 12}),
        ChainStep(15),
        ChainStep(25, "wrong_chain", "solana", 0),
    ),
)


def step_target(world: World, step: ChainStep) -> str | None:
    """The name `step` hits in `world`, or None."""
    chain = next((name for name in world.chains if world.chain(name).kind == step.kind), None)
    if chain is None or step.provider is None:
        return chain
    providers = world.chain(chain).providers
    return providers[step.provider] if step.provider < len(providers) else None


@scenario("chain-trouble", "RPC providers misbehave: an EVM provider lags 20 blocks, then the "
                           "EVM chain halts for 45 s and recovers, the other provider rewinds "
                           "4 blocks; meanwhile a Solana provider answers 429, a Cosmos one "
                           "an error inside a 200, the Bitcoin node syncs, the other Solana "
                           "provider is on another chain; forever")
async def chain_trouble(world: World) -> None:
    if world.chains:
        await asyncio.gather(*(_chain_track(world, track) for track in CHAIN_TRACKS))


async def _chain_track(world: World, steps: tuple[ChainStep, ...]) -> None:
    while True:
        for step in steps:
            target = step_target(world, step) if step.fault is not None else None
            if step.fault is None or target is None:
                await world.sleep(step.seconds)
            else:
                await hold(world, step.seconds, step.fault, venues=[target], **step.params)


def _first_page(world: World, formats: tuple[str, ...]) -> str | None:
    return next((name for name in world.pages
                 if world.page(name).format.name in formats), None)


VENDOR_INCIDENT = "Delayed withdrawals"
AWS_EVENT = "Increased API Error Rates"


@scenario("vendor-incident", "status pages: an AWS us-east-1 event opens; a vendor page "
                             "opens a minor incident whose top indicator lags, updates it, "
                             "escalates it to major, resolves it; then a maintenance window "
                             "is announced, runs and ends; forever")
async def vendor_incident(world: World) -> None:
    aws = _first_page(world, ("aws",))
    vendor = _first_page(world, ("statuspage", "incidentio", "instatus", "betterstack"))
    if aws is None and vendor is None:
        return
    while True:
        ids: list[str] = []
        try:
            await world.sleep(15)
            if aws is not None:
                ids.append(world.inject(aws, "incident", impact="minor", name=AWS_EVENT,
                                        components=["ec2"], update="We are investigating "
                                        "increased API error rates in US-EAST-1."))
            await world.sleep(10)
            if vendor is not None:
                steps = (("minor", "We are investigating delayed withdrawals.", 20),
                         ("minor", "The cause is identified: a cloud provider issue.", 20),
                         ("major", "Withdrawals are now failing for most users.", 30))
                for impact, update, seconds in steps:
                    ids.append(world.inject(vendor, "incident", impact=impact,
                                            name=VENDOR_INCIDENT, update=update,
                                            indicator_lags=True))
                    await world.sleep(seconds)
        finally:
            for fault_id in ids:
                world.clear(fault_id)
        if vendor is not None and world.page(vendor).format.maintenance:
            await world.sleep(15)
            await hold(world, 15, "maintenance", venues=[vendor], active=False,
                       name="Database upgrade")
            await hold(world, 20, "maintenance", venues=[vendor], active=True,
                       name="Database upgrade")
        await world.sleep(15)


# Replays of real incidents, one module each, register themselves on import.
from monitor.simulate import incidents  # noqa: E402,F401
