"""Named scenarios: scripts that inject and clear faults on a loop, on a compressed timeline.

A scenario is one async function taking the World, registered with @scenario. It sleeps with
`world.sleep` (so tests can run it faster through World(time_scale=...)) and should leave no
fault behind when cancelled; `hold` does both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.simulate.world import World

ScenarioFunction = Callable[["World"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    run: ScenarioFunction


SCENARIOS: dict[str, Scenario] = {}


class UnknownScenario(ValueError):
    pass


def scenario(name: str, description: str) -> Callable[[ScenarioFunction], ScenarioFunction]:
    """Register the decorated function as the scenario `name`."""

    def register(function: ScenarioFunction) -> ScenarioFunction:
        if name in SCENARIOS:
            raise ValueError(f"scenario {name!r} is already registered")
        SCENARIOS[name] = Scenario(name, description, function)
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
    """Give every venue (or `venues`) `fault` for `seconds` of scenario time, then clear it."""
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


@scenario("flaky", "every venue cycles through 300 ms latency, a 503 burst, 429 with "
                   "Retry-After 5, a stalled stream and calm, ~20 s each, forever")
async def flaky(world: World) -> None:
    while True:
        await hold(world, 20, "latency", ms=300)
        await hold(world, 20, "http_5xx", status=503)
        await hold(world, 20, "rate_limit", retry_after=5)
        await hold(world, 20, "stall_stream")
        await world.sleep(20)
