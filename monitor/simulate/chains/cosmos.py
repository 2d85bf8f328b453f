"""CometBFT RPC (v0.38's answers): GET routes (the last path segment, so a provider key in
the path works) answered in a JSON-RPC envelope (`"id": -1`), and JSON-RPC POST alike.

    /status     node_info.network (the chain id), sync_info: latest_block_height (a string),
                latest_block_time (RFC 3339, nanoseconds), catching_up (syncing: true), ...
    /net_info   n_peers (a string), peers
    /health     {}
    /abci_info  the application's last height

An error is a JSON-RPC error object in an HTTP 200 (`rpc_error`: code -32603 with `data`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from monitor.simulate.chains.base import Method, RpcKind, View

NODE_VERSION = "0.38.17"
EARLIEST_DEPTH = 100_000
_REVISION = re.compile(r"^(.*-)([0-9]+)$")


def rfc3339(when: float) -> str:
    """RFC 3339 in UTC with nanoseconds, as CometBFT writes times."""
    seconds = int(when // 1)
    nanos = round((when - seconds) * 1e9)
    if nanos >= 1_000_000_000:
        seconds, nanos = seconds + 1, nanos - 1_000_000_000
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{nanos:09d}Z"


def _node_info(view: View, moniker: str, node_id: str) -> dict[str, Any]:
    return {
        "protocol_version": {"p2p": "8", "block": "11", "app": "0"},
        "id": node_id,
        "listen_addr": "tcp://0.0.0.0:26656",
        "network": view.chain_id,
        "version": NODE_VERSION,
        "channels": "40202122233038606100",
        "moniker": moniker,
        "other": {"tx_index": "on", "rpc_address": "tcp://0.0.0.0:26657"},
    }


def _status(view: View, _: list[Any]) -> dict[str, Any]:
    head = view.head
    earliest = max(head - EARLIEST_DEPTH, 1)
    return {
        "node_info": _node_info(view, "simulated-node", view.hash(0)[24:64]),
        "sync_info": {
            "latest_block_hash": view.hash(head).upper(),
            "latest_app_hash": view.hash(head)[::-1].upper(),
            "latest_block_height": str(head),
            "latest_block_time": rfc3339(view.timestamp(head)),
            "earliest_block_hash": view.hash(earliest).upper(),
            "earliest_app_hash": view.hash(earliest)[::-1].upper(),
            "earliest_block_height": str(earliest),
            "earliest_block_time": rfc3339(view.timestamp(earliest)),
            "catching_up": view.syncing,
        },
        "validator_info": {
            "address": view.hash(1)[24:64].upper(),
            "pub_key": {"type": "tendermint/PubKeyEd25519",
                        "value": "A6DoBUypNtUAyEHWtQ9bFjfNg8Bo9CrnkUGl6k6OHN4="},
            "voting_power": "0",
        },
    }


def _net_info(view: View, _: list[Any]) -> dict[str, Any]:
    peers = [{"node_info": _node_info(view, f"peer-{index}", view.hash(index + 2)[24:64]),
              "is_outbound": index % 2 == 0, "connection_status": {},
              "remote_ip": f"192.0.2.{10 + index}"}
             for index in range(view.peers)]
    return {"listening": True, "listeners": ["Listener(@)"], "n_peers": str(view.peers),
            "peers": peers}


def _abci_info(view: View, _: list[Any]) -> dict[str, Any]:
    return {"response": {"data": "SimApp", "version": "v0.50.11",
                         "last_block_height": str(view.head),
                         "last_block_app_hash": view.hash(view.head)[::-1].upper()}}


class CosmosKind(RpcKind):
    name = "cosmos"
    check_kind = "cosmos_rpc"
    block_time = 2.0
    start_height = 23_000_000
    peers = 3
    rate_limit_error = (-32005, "rate limit exceeded")
    get_routes = {"status": "status", "net_info": "net_info", "health": "health",
                  "abci_info": "abci_info"}

    def default_chain_id(self, chain: str) -> int | str:
        return f"{chain}-1"

    def other_chain_id(self, chain_id: int | str) -> int | str:
        """The next revision (a node left on the old chain after an upgrade, reversed)."""
        found = _REVISION.match(str(chain_id))
        return f"{found[1]}{int(found[2]) + 1}" if found else f"{chain_id}-2"

    def methods(self) -> Mapping[str, Method]:
        return {
            "status": _status,
            "net_info": _net_info,
            "health": lambda view, _: {},
            "abci_info": _abci_info,
        }
