"""The OP airdrop of 1 Jun 2022 against the demo: the overloaded public endpoint is blamed
(429s, then timeouts), the chain and its other providers are not."""

from __future__ import annotations

from pathlib import Path

from monitor.commands.demo import DEMO_CHAINS
from monitor.simulate import World
from monitor.simulate.incidents.optimism_2022_06_01 import CHAIN, HEALTHY, PUBLIC
from monitor.simulate.scenarios import AlertMatch, get_scenario
from tests.conftest import wait_for
from tests.scenarios.chain_views import (
    heads,
    notified_chains,
    notified_targets,
    record_faults,
    rpc_targets,
)
from tests.scenarios.harness import play

NAME = "optimism-2022-06-01"
RATE_LIMITED = AlertMatch("RateLimited", {"target": PUBLIC})
DOWN = AlertMatch("TargetDown", {"target": PUBLIC})


async def test_airdrop_overload_blames_the_public_endpoint_only(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path) as run:
        assert run.world.chain(CHAIN).chain_id == 10 and len(HEALTHY) >= 2

        await run.wait_notified([RATE_LIMITED], timeout=30)
        before = await heads(run, [CHAIN])
        await run.wait_notified([DOWN], timeout=30)
        description = run.notified(DOWN, "firing")[0].annotations["description"]
        assert "timeout" in description.lower() or "timed out" in description.lower(), (
            description)
        # While the public endpoint failed, the chain went on and its peers served it.
        targets = await rpc_targets(run)
        assert all(targets[name]["state"] == "up" for name in HEALTHY)
        during = await heads(run, [CHAIN])
        assert all(during[name] > before[name] for name in HEALTHY), (before, during)

        await run.check(expected, timeout=30)

        # Recovered at the tip: the public endpoint is up and not behind its peers.
        async def caught_up() -> bool:
            public = (await rpc_targets(run))[PUBLIC]
            return bool(public["state"] == "up" and public["facts"].get("lag_blocks") == 0)

        await wait_for(caught_up, timeout=10, what=f"{PUBLIC} up at the tip")

        statuses = [(item.labels["alertname"], item.status) for item in run.seen()
                    if item.labels.get("target") == PUBLIC]
        assert statuses.index(("RateLimited", "firing")) < statuses.index(
            ("TargetDown", "firing")), statuses  # the 429s came first, then the timeouts
        assert notified_targets(run) == {PUBLIC}, run.describe()
        assert notified_chains(run) == {CHAIN}, run.describe()


async def test_the_replay_repeats_and_leaves_no_fault_behind() -> None:
    async with World(venues=(), chains=DEMO_CHAINS, time_scale=0.001) as world:
        injected = record_faults(world)
        world.play(NAME)
        await wait_for(lambda: len(injected) >= 4, timeout=10, what="the replay played twice")
    assert world.faults() == []
    assert injected[:4] == [(PUBLIC, "rate_limit"), (PUBLIC, "hang")] * 2
