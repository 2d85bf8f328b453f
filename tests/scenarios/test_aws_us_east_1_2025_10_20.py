"""The AWS us-east-1 replay against the demo daemon: one page for the region, none per
target, the DNS targets failing with DNS reasons, chains advancing through providers outside
the region."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.commands.demo import DEMO_CHAINS, DEMO_PAGES, DEMO_VENUES
from monitor.simulate import World
from monitor.simulate.incidents.aws_us_east_1_2025_10_20 import (
    DEPENDENCY,
    NAME,
    OUTSIDE,
    SPARED_SHAPES,
    VENDOR_PAGE,
)
from monitor.simulate.regions import in_us_east_1
from monitor.simulate.scenarios import AlertMatch, get_scenario
from tests.conftest import wait_for
from tests.scenarios.chain_views import heads
from tests.scenarios.harness import ScenarioRun, play
from tests.scenarios.injections import record_injections

FAST_CHAIN_BLOCK = 2.0  # chains whose heads surely move within a few seconds
# The demo's group_wait (10 s: two probe intervals, within which a region's targets all fall)
# at the harness's tenfold speed.
GROUP_WAIT = "1s"


def demo_group_wait(data: dict[str, Any]) -> None:
    data["alerts"]["group_wait"] = GROUP_WAIT


async def targets(run: ScenarioRun) -> dict[str, Mapping[str, Any]]:
    return {item["target"]: item for item in await run.daemon.get_json("/api/v1/targets")}


def failing_dns_targets(run: ScenarioRun) -> list[str]:
    world = run.world
    return [f"{venue}-dns" for venue in world.venues
            if in_us_east_1(world, venue) and world.shape(venue) not in SPARED_SHAPES]


async def test_aws_outage_pages_once_for_the_region(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path, adjust=demo_group_wait) as run:
        dns_targets = failing_dns_targets(run)
        details: dict[str, str] = {}

        async def dns_failing() -> bool:
            now = await targets(run)
            details.update({name: now[name]["detail"] for name in dns_targets
                            if now[name]["state"] == "down"
                            and now[name]["reason"] == "dns_error"})
            return set(details) == set(dns_targets)

        await wait_for(dns_failing, timeout=20, interval=0.1,
                       what="every failing venue's DNS target down with dns_error")
        assert set(details.values()) == {"SERVFAIL", "no answer"}

        fast = [name for name in OUTSIDE
                if run.world.chain(run.world.provider(name).chain.name).block_time
                <= FAST_CHAIN_BLOCK]
        chains = sorted({run.world.provider(name).chain.name for name in fast})
        before = await heads(run, chains)

        async def advanced() -> bool:
            now = await heads(run, chains)
            return all(now.get(name, 0) > before.get(name, 0) for name in fast)

        await wait_for(advanced, timeout=10, interval=0.2,
                       what="the providers outside us-east-1 advancing during the outage")
        now = await targets(run)
        assert all(now[name]["state"] == "up" for name in OUTSIDE), {
            name: now[name]["state"] for name in OUTSIDE}
        assert now["coinbase-sim"]["state"] == "down"  # the outage is still on

        await run.check(expected)

        outage = run.notified(AlertMatch("DependencyOutage", {"dependency": DEPENDENCY}),
                              "firing")
        assert len(outage) == 1, run.describe()
        listed = outage[0].annotations["description"]
        assert all(name in listed for name in ("coinbase-sim", "ethereum-sim-a", *dns_targets))
        assert not run.notified(AlertMatch("TargetDown")), run.describe()


async def test_the_replay_hits_us_east_1_only_repeats_and_leaves_no_fault_behind() -> None:
    async with World(venues=DEMO_VENUES, chains=DEMO_CHAINS, pages=DEMO_PAGES,
                     time_scale=0.001) as world:
        injected = record_injections(world)
        world.play(NAME)
        await wait_for(lambda: sum(fault == "incident" and name == VENDOR_PAGE
                                   for name, fault, _ in injected) >= 2,
                       timeout=10, what="the replay played twice")
        world.play("calm")
        await wait_for(lambda: world.faults() == [], timeout=5, what="every fault cleared")
    failing = {name for name, fault, _ in injected if fault == "http_5xx"}
    assert failing == {name for name in [*world.venues, *world.providers]
                       if in_us_east_1(world, name)
                       and (name not in world.venues or world.shape(name) not in SPARED_SHAPES)}
    assert not failing & set(OUTSIDE)
    assert {fault for name, fault, _ in injected if name in failing} == {
        "http_5xx", "dns_servfail", "dns_empty"}
    assert all(vantage is None for *_, vantage in injected)
