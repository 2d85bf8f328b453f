"""Solana JSON-RPC (agave's answers): single requests and batches over HTTP POST.

    getHealth                 "ok"; syncing: -32005 "Node is behind by N slots" with
                              data.numSlotsBehind (agave has no "syncing" answer)
    getSlot({commitment})     processed: the head; confirmed: head-1; finalized (the
                              default): head-31
    getBlockTime(slot)        the slot's unix time (integer seconds); a slot beyond the
                              head: -32004 block not available
    getBlockHeight            the finalized slot minus the skipped ones (none skip here)
    getGenesisHash            the chain id: a base58 hash
    getVersion

The chain id of a Solana chain is its genesis hash (base58 of sha256 of the chain's name,
unless given).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

from monitor.simulate.chains.base import (
    INVALID_PARAMS,
    JsonRpcError,
    Method,
    RpcKind,
    View,
    integer,
)

CONFIRMED_DEPTH = 1
FINALIZED_DEPTH = 31
NODE_UNHEALTHY = -32005
BLOCK_NOT_AVAILABLE = -32004
VERSION = {"solana-core": "2.1.21", "feature-set": 1725507508}
_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = _ALPHABET[rest] + digits
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + digits


def genesis_hash(seed: str) -> str:
    return base58(hashlib.sha256(seed.encode()).digest())


def _commitment(params: list[Any]) -> str:
    config = params[0] if params else {}
    if not isinstance(config, dict):
        raise JsonRpcError(INVALID_PARAMS, "Invalid params: expected a config object")
    value = config.get("commitment", "finalized")
    if value not in ("processed", "confirmed", "finalized"):
        raise JsonRpcError(INVALID_PARAMS, f"Invalid params: unknown commitment {value!r}")
    return str(value)


def _slot(view: View, params: list[Any]) -> int:
    depth = {"processed": 0, "confirmed": CONFIRMED_DEPTH, "finalized": FINALIZED_DEPTH}
    return max(view.head - depth[_commitment(params)], 0)


def _health(view: View, _: list[Any]) -> str:
    if view.syncing:
        behind = view.tip - view.head
        raise JsonRpcError(NODE_UNHEALTHY, f"Node is behind by {behind} slots",
                           {"numSlotsBehind": behind})
    return "ok"


def _block_time(view: View, params: list[Any]) -> int:
    slot = integer(params, 0, "slot")
    if slot > view.head or slot < 0:
        raise JsonRpcError(BLOCK_NOT_AVAILABLE, f"Block not available for slot {slot}")
    return int(view.timestamp(slot))


class SolanaKind(RpcKind):
    name = "solana"
    check_kind = "solana_rpc"
    block_time = 0.4
    start_height = 300_000_000
    peers = 0
    rate_limit_error = (429, "Too many requests for a specific RPC call")

    def default_chain_id(self, chain: str) -> int | str:
        return genesis_hash(chain)

    def other_chain_id(self, chain_id: int | str) -> int | str:
        return genesis_hash(f"{chain_id}/other")

    def methods(self) -> Mapping[str, Method]:
        return {
            "getHealth": _health,
            "getSlot": _slot,
            "getBlockTime": _block_time,
            "getBlockHeight": lambda view, params: _slot(view, params),
            "getGenesisHash": lambda view, _: view.chain_id,
            "getVersion": lambda view, _: VERSION,
        }
