"""The Arbitrum One sequencer stall of 15 Dec 2023 against the demo: one page for the chain,
none for its providers, nothing for Ethereum or the other chains, which kept going."""

from __future__ import annotations

from pathlib import Path

from monitor.commands.demo import DEMO_CHAINS
from monitor.simulate import World
from monitor.simulate.incidents.arbitrum_2023_12_15 import CHAIN, SURGE_LATENCY_MS
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

NAME = "arbitrum-2023-12-15"
HALTED = AlertMatch("ChainHalted", {"chain": CHAIN})


async def test_arbitrum_stall_pages_for_the_chain_only(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path) as run:
        arbitrum = providers_of(run, CHAIN)
        assert run.world.chain(CHAIN).chain_id == 42161 and len(arbitrum) >= 2
        others = [name for name in run.world.chains
                  if name != CHAIN and run.world.chain(name).block_time <= 2.0]
        assert "ethereum-sim" in others

        # The inscription surge: answers slow, yet no provider alert.
        async def slowed() -> bool:
            targets = await rpc_targets(run)
            return all((targets[name]["latency_seconds"] or 0) >= SURGE_LATENCY_MS / 1000
                       for name in arbitrum)

        await wait_for(slowed, timeout=15, what="the surge slowing every arbitrum provider")

        await run.wait_notified([HALTED], timeout=30)
        assert run.world.chain(CHAIN).halted
        frozen = run.world.chain(CHAIN).head
        during = await heads(run, [CHAIN])
        assert set(during.values()) == {frozen}, during  # every provider at the one block
        before = await heads(run, others)
        await run.check(expected, timeout=30)

        async def advancing() -> bool:
            now = await heads(run, [CHAIN])
            return len(now) == len(arbitrum) and min(now.values()) > frozen

        await wait_for(advancing, timeout=10, what="arbitrum providers past the frozen head")
        # Ethereum and the other chains kept producing blocks; their providers stayed up.
        after = await heads(run, others)
        assert all(after[name] > head for name, head in before.items()), (before, after)
        targets = await rpc_targets(run)
        assert {targets[name]["state"] for name in [*before, *arbitrum]} == {"up"}

        assert [item.status for item in run.notified(HALTED)] == ["firing", "resolved"]
        assert not notified_targets(run) & set(arbitrum), run.describe()
        assert notified_chains(run) == {CHAIN}, run.describe()


async def test_the_replay_repeats_and_leaves_no_fault_behind() -> None:
    async with World(venues=(), chains=DEMO_CHAINS, time_scale=0.001) as world:
        injected = record_faults(world)
        world.play(NAME)
        await wait_for(lambda: injected.count((CHAIN, "halt")) >= 2, timeout=10,
                       what="the replay played twice")
    assert world.faults() == []
    surge = [(provider, "latency") for provider in world.chain(CHAIN).providers]
    assert injected[:len(surge) + 1] == [*surge, (CHAIN, "halt")]
    assert injected[len(surge) + 1:2 * len(surge) + 2] == [*surge, (CHAIN, "halt")]
