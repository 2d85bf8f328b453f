"""Simulated chains and the fake RPC providers serving them, in the shapes of the node
software outagemon's RPC kinds read (checks/rpc): EVM (geth), Solana (agave), Bitcoin Core
and CometBFT.

    World(venues=(), chains={
        "ethereum-sim": ChainSpec("evm", ("ethereum-sim-a", "ethereum-sim-b"), block_time=0.2),
        "solana-sim": ("solana", ["solana-sim-a"]),          # (kind, providers) with defaults
    })

A chain has one head that advances every `block_time` seconds (chain.py); each provider
shows it through its faults (provider.py) in its kind's answers (evm.py, solana.py,
bitcoin.py, cosmos.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.simulate.chains.base import RpcKind
from monitor.simulate.chains.bitcoin import BitcoinKind
from monitor.simulate.chains.chain import SimChain
from monitor.simulate.chains.cosmos import CosmosKind
from monitor.simulate.chains.evm import EvmKind
from monitor.simulate.chains.provider import RpcProvider
from monitor.simulate.chains.solana import SolanaKind

KINDS: dict[str, RpcKind] = {kind.name: kind for kind in (EvmKind(), SolanaKind(),
                                                          BitcoinKind(), CosmosKind())}


@dataclass(frozen=True, slots=True)
class ChainSpec:
    """One simulated chain: its kind, its providers' names and, when not the kind's
    defaults, its block time (seconds), chain id (EVM: a number; Solana: the genesis hash;
    Bitcoin: the network; Cosmos: the chain id) and the head when the world starts."""

    kind: str
    providers: Sequence[str]
    block_time: float | None = None
    chain_id: int | str | None = None
    start_height: int | None = None


ChainsArg = Mapping[str, "ChainSpec | tuple[str, Sequence[str]]"]


def chain_spec(name: str, value: ChainSpec | tuple[str, Sequence[str]]) -> ChainSpec:
    spec = value if isinstance(value, ChainSpec) else ChainSpec(value[0], tuple(value[1]))
    if spec.kind not in KINDS:
        raise ValueError(f"chain {name!r}: unknown kind {spec.kind!r}; kinds: "
                         f"{', '.join(KINDS)}")
    if isinstance(spec.providers, str) or not spec.providers:
        raise ValueError(f"chain {name!r}: providers must be a non-empty list of names")
    return spec


def make_chain(name: str, spec: ChainSpec) -> tuple[SimChain, list[RpcProvider]]:
    """The chain of `spec` and its providers (ValueError for a bad spec)."""
    kind = KINDS[spec.kind]
    chain_id = kind.default_chain_id(name) if spec.chain_id is None else spec.chain_id
    chain = SimChain(name, kind.name,
                     block_time=kind.block_time if spec.block_time is None else spec.block_time,
                     chain_id=kind.parse_chain_id(chain_id),
                     start_height=(kind.start_height if spec.start_height is None
                                   else spec.start_height))
    chain.providers = list(spec.providers)
    return chain, [RpcProvider(provider, chain, kind) for provider in spec.providers]


__all__ = ["KINDS", "ChainSpec", "ChainsArg", "RpcKind", "RpcProvider", "SimChain",
           "chain_spec", "make_chain"]
