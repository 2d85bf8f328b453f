"""EVM JSON-RPC (geth's answers): single requests and batches over HTTP POST to any path,
and the same over WebSocket with eth_subscribe newHeads.

    eth_chainId, net_version          the chain id (hex; decimal string)
    eth_blockNumber                   the head (hex)
    eth_getBlockByNumber(tag, full)   latest/pending: the head; safe: head-32; finalized:
                                      head-64; earliest: 0; a hex number; beyond the head: null
    eth_getBlockByHash(hash, full)    a block of this chain, else null
    eth_syncing                       false, or {startingBlock, currentBlock, highestBlock}
    net_peerCount, net_listening, web3_clientVersion

Blocks carry number, hash, parentHash and timestamp (integer seconds: several blocks of a
fast chain share one) plus the usual header fields, with no transactions.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.simulate.chains.base import (
    INVALID_PARAMS,
    JsonRpcError,
    Method,
    RpcKind,
    View,
    text,
)

SAFE_DEPTH = 32
FINALIZED_DEPTH = 64
CLIENT_VERSION = "Geth/v1.14.12-stable/linux-amd64/go1.23.4 (outagemon simulator)"
EMPTY_ROOT = "0x56e81f171bcc55a6ff8345e692c0f86e5b48e01b996cadc001622fb5e363b421"
EMPTY_UNCLES = "0x1dcc4de8dec75d7aab85b567b6ccd41ad312451b948a7413f0a142fd40d49347"
ZERO_HASH = "0x" + "0" * 64


def _block_number(view: View, tag: Any) -> int:
    named = {"latest": view.head, "pending": view.head, "earliest": 0,
             "safe": max(view.head - SAFE_DEPTH, 0),
             "finalized": max(view.head - FINALIZED_DEPTH, 0)}
    if isinstance(tag, str) and tag in named:
        return named[tag]
    if isinstance(tag, str) and tag.startswith("0x"):
        try:
            return int(tag[2:], 16)
        except ValueError:
            pass
    raise JsonRpcError(INVALID_PARAMS, f"invalid argument 0: hex string without 0x prefix "
                       f"or unknown block tag {tag!r}")


def block(view: View, height: int) -> dict[str, Any]:
    """The block object of `height`, without transactions (a newHeads header alike)."""
    parent = "0x" + view.hash(height - 1) if height > 0 else ZERO_HASH
    return {
        "number": hex(height),
        "hash": "0x" + view.hash(height),
        "parentHash": parent,
        "timestamp": hex(int(view.timestamp(height))),
        "miner": "0x0000000000000000000000000000000000000000",
        "stateRoot": "0x" + view.hash(height)[::-1],
        "transactionsRoot": EMPTY_ROOT,
        "receiptsRoot": EMPTY_ROOT,
        "sha3Uncles": EMPTY_UNCLES,
        "logsBloom": "0x" + "0" * 512,
        "difficulty": "0x0",
        "gasLimit": "0x1c9c380",
        "gasUsed": "0x0",
        "baseFeePerGas": "0x7",
        "extraData": "0x",
        "mixHash": ZERO_HASH,
        "nonce": "0x0000000000000000",
        "size": "0x264",
        "uncles": [],
        "transactions": [],
    }


def _get_block_by_number(view: View, params: list[Any]) -> Any:
    if not params:
        raise JsonRpcError(INVALID_PARAMS, "missing value for required argument 0")
    height = _block_number(view, params[0])
    return block(view, height) if height <= view.head else None


def _get_block_by_hash(view: View, params: list[Any]) -> Any:
    height = view.chain.height_of(text(params, 0, "block hash"))
    return block(view, height) if height is not None and height <= view.head else None


def _syncing(view: View, _: list[Any]) -> Any:
    if not view.syncing:
        return False
    return {"startingBlock": hex(max(view.head - 1000, 0)), "currentBlock": hex(view.head),
            "highestBlock": hex(view.tip)}


class EvmKind(RpcKind):
    name = "evm"
    check_kind = "evm_rpc"
    block_time = 1.0
    start_height = 21_000_000
    peers = 25
    rate_limit_error = (-32005, "project ID request rate exceeded")
    websocket = True

    def default_chain_id(self, chain: str) -> int | str:
        return 31337  # anvil's, hardhat's

    def other_chain_id(self, chain_id: int | str) -> int | str:
        return int(chain_id) + 1

    def parse_chain_id(self, value: int | str) -> int | str:
        if isinstance(value, str):
            try:
                value = int(value, 16) if value.startswith("0x") else int(value)
            except ValueError:
                raise ValueError(f"an EVM chain id is a number, got {value!r}") from None
        if isinstance(value, bool) or value < 1:
            raise ValueError(f"an EVM chain id is a positive number, got {value!r}")
        return value

    def methods(self) -> Mapping[str, Method]:
        return {
            "eth_chainId": lambda view, _: hex(int(view.chain_id)),
            "net_version": lambda view, _: str(view.chain_id),
            "eth_blockNumber": lambda view, _: hex(view.head),
            "eth_getBlockByNumber": _get_block_by_number,
            "eth_getBlockByHash": _get_block_by_hash,
            "eth_syncing": _syncing,
            "net_peerCount": lambda view, _: hex(view.peers),
            "net_listening": lambda view, _: True,
            "web3_clientVersion": lambda view, _: CLIENT_VERSION,
        }

    def new_head(self, view: View, height: int) -> Any:
        return block(view, height)
