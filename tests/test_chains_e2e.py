"""One provider behind, the whole chain halted, the wrong chain: two real anvil nodes behind
the daemon, judged by the correlate step."""

from __future__ import annotations

from pathlib import Path

from monitor.daemon import Daemon
from monitor.observation import Fact, Reason, State
from monitor.settings import Config
from tests.conftest import wait_for
from tests.fakes.anvil import AnvilNode, StartAnvil, stop_mining


def provider(name: str, node: AnvilNode, chain_id: int = 31337) -> dict[str, object]:
    return {"name": name, "kind": "evm_rpc", "chain": "devnet", "chain_id": chain_id,
            "url": node.url, "max_lag_blocks": 2, "max_head_age": "3s"}


def config(*targets: dict[str, object]) -> Config:
    return Config.model_validate({
        "defaults": {"interval": "500ms", "timeout": "500ms"},
        "alerts": {"defaults": {"failure_threshold": 2, "success_threshold": 1}},
        "targets": list(targets),
    })


async def test_lagging_provider_then_chain_halt(start_anvil: StartAnvil, tmp_path: Path) -> None:
    node_a, node_b = start_anvil(), start_anvil()
    daemon = Daemon(config(provider("node-a", node_a), provider("node-b", node_b)),
                    state_path=str(tmp_path / "s.db"))
    await daemon.start()
    try:
        a, b = daemon.runs["node-a"].health, daemon.runs["node-b"].health
        await wait_for(lambda: a.state is State.UP and b.state is State.UP, what="both up")

        await stop_mining(node_a.url)  # one provider stops following the chain
        await wait_for(lambda: a.last is not None and a.last.reason is Reason.LAGGING,
                       timeout=15, what="node-a lagging")
        assert b.state is State.UP
        assert b.last is not None and b.last.reason is Reason.OK
        assert a.last is not None and a.last.facts[Fact.LAG_BLOCKS] > 2

        await stop_mining(node_b.url)  # now nobody produces blocks: the chain halted
        await wait_for(lambda: b.last is not None and b.last.excused_by == "devnet halted",
                       timeout=15, what="the halt")
        assert b.state is State.UP  # affected by the halt, not blamed for it
        assert b.last.reason is Reason.STALE and b.last.facts[Fact.CHAIN_HALTED] is True
        text = daemon.exposition.render_now().decode()
        assert 'outagemon_chain_halted{chain="devnet"} 1.0' in text
        assert 'outagemon_up{kind="evm_rpc",provider="node-b",target="node-b"} 1.0' in text
    finally:
        await daemon.stop()


async def test_a_node_of_another_chain_is_wrong_chain(
    start_anvil: StartAnvil, tmp_path: Path
) -> None:
    other = start_anvil(chain_id=8453)
    daemon = Daemon(config(provider("impostor", other, chain_id=31337)),
                    state_path=str(tmp_path / "s.db"))
    await daemon.start()
    try:
        health = daemon.runs["impostor"].health
        await wait_for(lambda: health.state is State.DOWN, what="down")
        assert health.last is not None and health.last.reason is Reason.WRONG_CHAIN
    finally:
        await daemon.stop()
