"""The Solana halt of 6 Feb 2024 against the demo: one page for the chain, none for its
providers (not even while they restart), nothing for the chains that kept going."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from monitor.commands.demo import DEMO_CHAINS
from monitor.simulate import World
from monitor.simulate.incidents.solana_2024_02_06 import CHAIN
from monitor.simulate.scenarios import AlertMatch, get_scenario
from tests.conftest import wait_for
from tests.scenarios.chain_views import (
    heads,
    notified_chains,
    notified_targets,
    providers_of,
    record_faults,
    rpc_targets,
)
from tests.scenarios.harness import play

NAME = "solana-2024-02-06"
HALTED = AlertMatch("ChainHalted", {"chain": CHAIN})


async def test_solana_halt_pages_for_the_chain_not_its_providers(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path) as run:
        solana = providers_of(run, CHAIN)
        assert len(solana) >= 3  # one restarts while two still confirm the halt
        others = [name for name in run.world.chains
                  if name != CHAIN and run.world.chain(name).block_time <= 2.0]

        await run.wait_notified([HALTED], timeout=30)
        assert run.world.chain(CHAIN).halted
        frozen = run.world.chain(CHAIN).head
        during = await heads(run, [CHAIN])
        assert set(during.values()) == {frozen}, during  # every provider at the one slot
        before = await heads(run, others)

        been_down: set[str] = set()  # providers seen down (restarting)

        async def restart_held_back() -> bool:
            alerts = await run.daemon.get_json("/api/v1/alerts")
            held = {alert["labels"]["target"] for alert in alerts
                    if alert["labels"]["alertname"] == "TargetDown"
                    and alert["labels"]["target"] in solana
                    and alert["annotations"].get("held_back") == f"chain {CHAIN} halted"}
            been_down.update(held)
            return bool(held)

        await wait_for(restart_held_back, timeout=30,
                       what="a restarting provider's TargetDown held back by the halt")
        # Fired, held back and never, while a restart is held back; the resolution below.
        await run.check(replace(expected, resolve=()), timeout=30)

        # Every provider restarts (down, held back), answers the frozen slot again and is up
        # before the halt ends: were they down until blocks flow, their TargetDown would go
        # out then.
        async def restarts_over() -> bool:
            states = {name: item["state"] for name, item in (await rpc_targets(run)).items()}
            been_down.update(name for name in solana if states[name] == "down")
            return been_down == set(solana) and all(states[name] == "up" for name in solana)

        await wait_for(restarts_over, timeout=30, what="every solana provider up again")
        assert run.world.chain(CHAIN).halted and not run.notified(HALTED, "resolved")
        await run.wait_notified(expected.resolve, status="resolved", timeout=30)

        # Recovered: slots advance past the frozen one on every provider.
        async def advancing() -> bool:
            now = await heads(run, [CHAIN])
            return len(now) == len(solana) and min(now.values()) > frozen

        await wait_for(advancing, timeout=10, what="solana providers past the frozen slot")
        # The other chains kept producing blocks, and their providers stayed up.
        after = await heads(run, others)
        assert all(after[name] > head for name, head in before.items()), (before, after)
        targets = await rpc_targets(run)
        assert {targets[name]["state"] for name in before} == {"up"}

        assert [item.status for item in run.notified(HALTED)] == ["firing", "resolved"]
        for match in (*expected.held, *expected.never):
            assert not run.notified(match), f"{match} notified:\n{run.describe()}"
        assert not notified_targets(run) & set(solana), run.describe()
        assert notified_chains(run) == {CHAIN}, run.describe()


async def test_the_replay_repeats_and_leaves_no_fault_behind() -> None:
    async with World(venues=(), chains=DEMO_CHAINS, time_scale=0.001) as world:
        injected = record_faults(world)
        world.play(NAME)
        await wait_for(lambda: injected.count((CHAIN, "halt")) >= 2, timeout=10,
                       what="the replay played twice")
    assert world.faults() == []
    once = injected[:injected.index((CHAIN, "halt"), 1)]
    restarts = [(provider, "http_5xx") for provider in world.chain(CHAIN).providers]
    assert once == [(CHAIN, "halt"), *restarts]
