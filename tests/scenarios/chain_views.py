"""For the chain incident replays' own assertions: what the demo daemon of a scenario run
makes of the simulated chains (GET /api/v1/targets), and which faults a replay injects."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.simulate import World
from monitor.simulate.faults import FaultBook
from tests.scenarios.harness import ScenarioRun


def record_faults(world: World) -> list[tuple[str, str]]:
    """A list that fills with (name, fault kind) for each fault injected on a chain or
    provider of `world` from now on, in order."""
    injected: list[tuple[str, str]] = []
    seen: set[str] = set()
    for name in [*world.chains, *world.providers]:
        book = (world.chain(name) if name in world.chains else world.provider(name)).faults

        def note(name: str = name, book: FaultBook = book) -> None:
            for fault in book:
                if fault.id not in seen:
                    seen.add(fault.id)
                    injected.append((name, fault.kind.value))

        book.on_change(note)
    return injected


def providers_of(run: ScenarioRun, chain: str) -> list[str]:
    """The RPC targets of `chain` in the run's config."""
    return [target["name"] for target in run.config["targets"] if target.get("chain") == chain]


async def rpc_targets(run: ScenarioRun) -> dict[str, Mapping[str, Any]]:
    """Each RPC target's entry in /api/v1/targets (state, reason, facts), by name."""
    targets = await run.daemon.get_json("/api/v1/targets")
    return {item["target"]: item for item in targets if item["kind"].endswith("_rpc")}


async def heads(run: ScenarioRun, chains: list[str]) -> dict[str, int]:
    """The head each provider of `chains` last reported to the daemon."""
    targets = await rpc_targets(run)
    out: dict[str, int] = {}
    for chain in chains:
        for name in providers_of(run, chain):
            head = targets[name]["facts"].get("head")
            if isinstance(head, int):
                out[name] = head
    return out


def notified_targets(run: ScenarioRun) -> set[str]:
    """Every target some notification was about."""
    return {item.labels["target"] for item in run.seen() if "target" in item.labels}


def notified_chains(run: ScenarioRun) -> set[str]:
    """Every chain some notification was about (ChainHalted or a provider's alert)."""
    return {item.labels["chain"] for item in run.seen() if "chain" in item.labels}
