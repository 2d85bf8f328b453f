"""The regional-block scenario with a daemon per vantage point: the blocked vantage pages
for the venue, the other one sees it up and pages nothing for it."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from monitor.simulate import World
from monitor.simulate.incidents.regional_block import (
    BLOCKED_VANTAGE,
    NAME,
    OPEN_VANTAGE,
    VANTAGES,
    VENUE,
    VENUE_TARGETS,
)
from monitor.simulate.scenarios import AlertMatch, get_scenario
from tests.conftest import wait_for
from tests.scenarios.harness import ScenarioRun, play_vantages
from tests.scenarios.injections import record_injections

# The block lasts six scenario minutes: twenty times as fast keeps the test short.
TIME_SCALE = 0.05
# Two daemons probe at once: each at half the harness's pace (and with its timeout doubled)
# keeps a loaded machine from timing out probes that have nothing to do with the block.
INTERVAL = "1s"
TIMEOUT = "800ms"


def half_pace(data: dict[str, Any]) -> None:
    data["defaults"] = {"interval": INTERVAL, "timeout": TIMEOUT}
    for target in data["targets"]:
        if "interval" in target:
            target["interval"] = INTERVAL


async def targets(run: ScenarioRun) -> dict[str, Mapping[str, Any]]:
    return {item["target"]: item for item in await run.daemon.get_json("/api/v1/targets")}


async def test_one_vantage_blocked_the_other_sees_the_venue_up(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play_vantages(NAME, tmp_path, vantages=VANTAGES, time_scale=TIME_SCALE,
                             adjust=half_pace) as run:
        blocked, open_ = run.at(BLOCKED_VANTAGE), run.at(OPEN_VANTAGE)
        seen: dict[str, tuple[str, str]] = {}

        async def firewalled() -> bool:
            now = await targets(blocked)
            seen.update({name: (now[name]["reason"], now[name]["detail"])
                         for name in (f"{VENUE}-dns", f"{VENUE}-port", VENUE)
                         if now[name]["state"] == "down"})
            return len(seen) == 3

        await wait_for(firewalled, timeout=20, interval=0.1,
                       what=f"{VENUE}'s DNS, port and API down from {BLOCKED_VANTAGE}")
        assert seen[f"{VENUE}-dns"][0] == "assertion_failed"
        assert "possible DNS poisoning" in seen[f"{VENUE}-dns"][1]
        assert seen[f"{VENUE}-port"] == ("connect_timeout", "connect timed out after 0.8s")
        assert seen[VENUE][0] == "connect_timeout"
        from_open = await targets(open_)
        assert all(from_open[name]["state"] == "up" for name in VENUE_TARGETS), {
            name: from_open[name]["state"] for name in VENUE_TARGETS}

        await run.check(expected)

        geo = blocked.notified(AlertMatch("GeoBlocked", {"target": VENUE}), "firing")
        assert "451" in geo[0].annotations["description"]
        assert not [item for item in open_.seen() if item.labels.get("target") in VENUE_TARGETS
                    ], open_.describe()
        assert {item.labels.get("target") for item in blocked.seen()} <= {*VENUE_TARGETS, None}, (
            blocked.describe())


async def test_the_block_is_scoped_to_one_vantage_repeats_and_leaves_no_fault_behind() -> None:
    async with World(venues=(VENUE, "okx-sim"), vantages=VANTAGES, time_scale=0.001) as world:
        injected = record_injections(world)
        world.play(NAME)
        await wait_for(lambda: len(injected) >= 6, timeout=10, what="the block played twice")
        world.play("calm")
        await wait_for(lambda: world.faults() == [], timeout=5, what="every fault cleared")
    assert injected[:6] == [(VENUE, fault, BLOCKED_VANTAGE)
                            for fault in ("dns_poison", "blackhole", "geo_block")] * 2


async def test_a_world_with_one_vantage_has_nothing_to_compare() -> None:
    async with World(venues=(VENUE,), time_scale=0.001) as world:
        injected = record_injections(world)
        scenario = get_scenario(NAME)
        await asyncio.wait_for(scenario.run(world), 1)  # returns at once: calm
    assert injected == []
