"""`outagemon simulate`: serve the simulated world until SIGTERM or Ctrl-C."""

from __future__ import annotations

import asyncio
import signal
import sys

import structlog

from monitor.cli import EXIT_FAILED, EXIT_OK, EXIT_USAGE, run_async
from monitor.simulate import World, list_scenarios, serve
from monitor.simulate.catalog import FULL_CHAINS, FULL_PAGES, FULL_VENUES
from monitor.simulate.incidents import regional_block
from monitor.simulate.scenarios import UnknownScenario, get_scenario
from monitor.simulate.world import DEFAULT_VANTAGES

log = structlog.get_logger("outagemon.simulate")

# Scenarios that compare vantage points: the world serves these for them (and the demo runs
# a daemon per vantage); every other scenario has DEFAULT_VANTAGES.
SCENARIO_VANTAGES: dict[str, tuple[str, ...]] = {regional_block.NAME: regional_block.VANTAGES}


def vantages_for(scenario: str | None) -> tuple[str, ...]:
    return SCENARIO_VANTAGES.get(scenario or "", DEFAULT_VANTAGES)


def simulate_command(scenario: str | None, *, host: str, port: int, list_only: bool) -> int:
    if list_only:
        for name, description in list_scenarios():
            print(f"{name:28} {description}")
        return EXIT_OK
    if scenario is not None:
        try:
            get_scenario(scenario)
        except UnknownScenario as exc:
            print(exc, file=sys.stderr)
            return EXIT_USAGE
    return run_async(_serve_until_signal(f"{host}:{port}", scenario))


def log_world(world: World) -> None:
    for venue in world.venues:
        log.info("simulated venue", venue=venue, rest=world.url(venue), ws=world.ws_url(venue))
    for provider in world.providers:
        log.info("simulated RPC provider", provider=provider, url=world.url(provider))
    for page in world.pages:
        log.info("simulated status page", page=page, url=world.url(page))
    for index, vantage in enumerate(world.vantages):
        relayed = {} if index == 0 else {name: world.url(name, vantage)
                                         for name in world.venues}
        log.info("simulated vantage", vantage=vantage, dns=world.dns_address(vantage),
                 zone=world.vantage(vantage).dns.zone.to_text(omit_final_dot=True),
                 venues=relayed or "direct")
    log.info("simulator control API", url=world.control_url, scenario=world.scenario)


async def _serve_until_signal(listen: str, scenario: str | None) -> int:
    task = asyncio.create_task(serve(listen, scenario, venues=FULL_VENUES, chains=FULL_CHAINS,
                                     pages=FULL_PAGES, vantages=vantages_for(scenario),
                                     on_ready=log_world))
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    try:
        await task
    except asyncio.CancelledError:
        return EXIT_OK
    except OSError as exc:
        log.error("cannot listen", address=listen, error=str(exc))
        return EXIT_FAILED
    return EXIT_OK
