"""Bitcoin Core JSON-RPC (29.0's answers): POST to any path (wallet paths alike), single
requests and batches; a "jsonrpc": "2.0" request gets a 2.0 reply, any other a legacy one
(and a failed single legacy request HTTP 500, 404 or 400; see jsonrpc.py).

    getblockchaininfo          chain (the chain id: main, test, testnet4, signet, regtest),
                               blocks, headers, bestblockhash, time, mediantime,
                               initialblockdownload (syncing: true, headers at the tip), ...
    getnetworkinfo             connections, version, subversion, ...
    getblockcount, getbestblockhash, getblockhash(height)
    getblockheader(hash, verbose=true)   -5 "Block not found" for any other hash
    uptime
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from monitor.simulate.chains.base import JsonRpcError, Method, RpcKind, View, integer, text

NETWORKS = ("main", "test", "testnet4", "signet", "regtest")
BLOCK_NOT_FOUND = -5
OUT_OF_RANGE = -8
MEDIAN_SPAN = 11  # mediantime: the median time of the last 11 blocks
BITS = "17027726"
STARTED = time.time()


def _chainwork(height: int) -> str:
    return f"{height * 0x1000000:064x}"


def _header(view: View, height: int) -> dict[str, Any]:
    header: dict[str, Any] = {
        "hash": view.hash(height),
        "confirmations": view.head - height + 1,
        "height": height,
        "version": 536887296,
        "versionHex": "20004000",
        "merkleroot": view.hash(height)[::-1],
        "time": int(view.timestamp(height)),
        "mediantime": _median_time(view, height),
        "nonce": height % 4_294_967_296,
        "bits": BITS,
        "difficulty": 103919634711492.2,
        "chainwork": _chainwork(height),
        "nTx": 1,
    }
    if height > 0:
        header["previousblockhash"] = view.hash(height - 1)
    return header


def _median_time(view: View, height: int) -> int:
    times = sorted(int(view.timestamp(h)) for h in range(max(height - MEDIAN_SPAN + 1, 0),
                                                         height + 1))
    return times[len(times) // 2]


def _blockchain_info(view: View, _: list[Any]) -> dict[str, Any]:
    head = view.head
    return {
        "chain": view.chain_id,
        "blocks": head,
        "headers": view.tip if view.syncing else head,
        "bestblockhash": view.hash(head),
        "bits": BITS,
        "target": "0000000000000000000277260000000000000000000000000000000000000000",
        "difficulty": 103919634711492.2,
        "time": int(view.timestamp(head)),
        "mediantime": _median_time(view, head),
        "verificationprogress": head / view.tip if view.syncing and view.tip else 1.0,
        "initialblockdownload": view.syncing,
        "chainwork": _chainwork(head),
        "size_on_disk": 700_000_000_000 + head * 1000,
        "pruned": False,
        "warnings": [],
    }


def _network_info(view: View, _: list[Any]) -> dict[str, Any]:
    return {
        "version": 290000, "subversion": "/Satoshi:29.0.0/", "protocolversion": 70016,
        "localservices": "0000000000000c09",
        "localservicesnames": ["NETWORK", "WITNESS", "NETWORK_LIMITED", "P2P_V2"],
        "localrelay": True, "timeoffset": 0, "networkactive": True,
        "connections": view.peers, "connections_in": 0, "connections_out": view.peers,
        "networks": [], "relayfee": 0.00001, "incrementalfee": 0.00001,
        "localaddresses": [], "warnings": [],
    }


def _block_hash(view: View, params: list[Any]) -> str:
    height = integer(params, 0, "height")
    if not 0 <= height <= view.head:
        raise JsonRpcError(OUT_OF_RANGE, "Block height out of range")
    return view.hash(height)


def _block_header(view: View, params: list[Any]) -> Any:
    height = view.chain.height_of(text(params, 0, "blockhash"))
    if height is None or height > view.head:
        raise JsonRpcError(BLOCK_NOT_FOUND, "Block not found")
    verbose = params[1] if len(params) > 1 else True
    return _header(view, height) if verbose else view.hash(height) * 2 + "00" * 16


class BitcoinKind(RpcKind):
    name = "bitcoin"
    check_kind = "bitcoin_rpc"
    block_time = 10.0
    start_height = 870_000
    peers = 10
    style = "bitcoin"
    rate_limit_error = (-32005, "Too many requests: rate limit exceeded")

    def default_chain_id(self, chain: str) -> int | str:
        return "main"

    def other_chain_id(self, chain_id: int | str) -> int | str:
        return "test" if chain_id != "test" else "main"

    def methods(self) -> Mapping[str, Method]:
        return {
            "getblockchaininfo": _blockchain_info,
            "getnetworkinfo": _network_info,
            "getblockcount": lambda view, _: view.head,
            "getbestblockhash": lambda view, _: view.hash(view.head),
            "getblockhash": _block_hash,
            "getblockheader": _block_header,
            "uptime": lambda view, _: int(time.time() - STARTED),
        }
