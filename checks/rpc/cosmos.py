"""`cosmos_rpc`: a CometBFT (Tendermint) RPC endpoint of a Cosmos chain.

Every probe GETs, on a fresh connection and within the target's `timeout`, `{url}/status`
(the URL's path, such as a provider key, is kept and `/status` appended; its query is kept)
and, with `peers: true`, then `{url}/net_info`. CometBFT documents these answers wrapped in
JSON-RPC (`{"jsonrpc": "2.0", "id": -1, "result": {...}}`); some nodes and providers answer
the bare result object (`{"node_info": ..., "sync_info": ...}`, see keplr-wallet#702): both are
accepted. A JSON-RPC `error` object is an RPC error (or a rate limit, by its text), also when
it comes with an HTTP error status (JsonRpcClient reads it from a JSON 4xx/5xx answer).

From /status: `result.node_info.network` (the chain id, compared with `network`),
`result.sync_info.latest_block_height` (an int64 as a JSON string), `latest_block_time`
(RFC 3339 with nanoseconds, which must carry a timezone) and `catching_up`. From /net_info:
`n_peers` (a string).

Facts: CHAIN (the config's `chain`), CHAIN_ID (node_info.network), HEAD, HEAD_TIME (absent
while the node has no block: height 0), SYNCING (catching_up), PEERS (when asked) and
HTTP_STATUS. Facts are reported whatever the verdict.

Reasons: OK; DEGRADED (slower than `max_latency`, both requests together); WRONG_CHAIN;
SYNCING (catching_up); RPC_ERROR; RATE_LIMITED (HTTP 429, a rate-limit text); INVALID_RESPONSE
(not JSON, too large, wrong shapes); the HTTP and network reasons.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from pydantic import Field

from checks.base import CheckEnv, register
from checks.rpc.base import (
    RpcCheck,
    RpcError,
    RpcFailure,
    RpcProbe,
    RpcTargetBase,
    rate_limited,
)
from monitor.observation import Fact, Reason
from monitor.redact import scrub
from monitor.schema import TargetBase

MAX_SHOWN = 40
MAX_DATA = 160
_INT64 = re.compile(r"[0-9]{1,19}", re.ASCII)

Verdict = tuple[Reason, str]
# Cosmos chain ids: cosmoshub-4, osmosis-1, evmos_9001-2, dydx-mainnet-1 (at most 50 chars)
ChainId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=50)]


class CosmosRpcTarget(RpcTargetBase):
    kind: Literal["cosmos_rpc"]
    network: ChainId  # node_info.network, e.g. cosmoshub-4
    peers: bool = False  # ask /net_info for the peer count


def endpoint(url: str, route: str) -> str:
    """`url` with `/route` appended to its path (a key in the path or query is kept)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"{parts.path.rstrip('/')}/{route}"))


def _show(value: Any) -> str:
    text = scrub(repr(value) if not isinstance(value, dict | list) else type(value).__name__)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _invalid(detail: str) -> RpcFailure:
    return RpcFailure(Reason.INVALID_RESPONSE, detail)


def unwrap(document: Any, route: str, bare_keys: frozenset[str]) -> dict[str, Any]:
    """The result object of a CometBFT answer, wrapped in JSON-RPC or bare."""
    if not isinstance(document, dict):
        raise _invalid(f"/{route} is not an object: {_show(document)}")
    error = document.get("error")
    if error is not None and error != "":  # Tendermint once sent "error": "" beside results
        code = error.get("code") if isinstance(error, dict) else None
        message = error.get("message", "") if isinstance(error, dict) else error
        data = error.get("data") if isinstance(error, dict) else None
        rpc_error = RpcError(code if isinstance(code, int) and not isinstance(code, bool)
                             else None, str(message), data)
        detail = f"/{route}: {rpc_error}"
        if isinstance(data, str) and data:  # CometBFT puts the actual cause here
            detail += f" ({scrub(data)[:MAX_DATA]})"
        if rate_limited(rpc_error):
            raise RpcFailure(Reason.RATE_LIMITED, f"rate limited: {detail}")
        raise RpcFailure(Reason.RPC_ERROR, detail)
    result = document.get("result", document if bare_keys & document.keys() else None)
    if not isinstance(result, dict):
        raise _invalid(f"/{route} has no result object")
    return result


def _section(result: dict[str, Any], key: str) -> dict[str, Any]:
    value = result.get(key)
    if not isinstance(value, dict):
        raise _invalid(f"/status {key} is not an object: {_show(value)}")
    return value


def parse_int64(value: Any, what: str) -> int:
    """CometBFT sends int64 as a decimal string; a JSON number is tolerated."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and _INT64.fullmatch(value):
        return int(value)
    raise _invalid(f"{what} is not a number: {_show(value)}")


def parse_time(value: Any, what: str) -> float:
    """RFC 3339 (nanoseconds allowed: fromisoformat keeps microseconds) with a timezone."""
    if not isinstance(value, str):
        raise _invalid(f"{what} is not a timestamp: {_show(value)}")
    try:
        when = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(f"{what} is not an RFC 3339 time: {_show(value)}") from None
    if when.tzinfo is None:
        raise _invalid(f"{what} has no timezone: {_show(value)}")
    return when.timestamp()


class CosmosRpcCheck(RpcCheck[CosmosRpcTarget]):
    def __init__(self, target: CosmosRpcTarget, env: CheckEnv) -> None:
        super().__init__(target, env)
        url = target.url.reveal()
        self._status_url = endpoint(url, "status")
        self._net_info_url = endpoint(url, "net_info")

    async def ask(self, session: aiohttp.ClientSession, probe: RpcProbe) -> Verdict:
        facts = probe.facts
        document = await self._get(session, probe, self._status_url, "status")
        result = unwrap(document, "status", frozenset({"node_info", "sync_info"}))
        network = _section(result, "node_info").get("network")
        if not isinstance(network, str):
            raise _invalid(f"/status node_info.network is not a chain id: {_show(network)}")
        facts[Fact.CHAIN_ID] = network
        if network != self.target.network:
            return Reason.WRONG_CHAIN, (
                f"node is on {_show(network)}, expected {self.target.network!r} "
                f"({self.target.chain})")
        sync = _section(result, "sync_info")
        head = parse_int64(sync.get("latest_block_height"), "/status latest_block_height")
        head_time = parse_time(sync.get("latest_block_time"), "/status latest_block_time")
        catching_up = sync.get("catching_up")
        if not isinstance(catching_up, bool):
            raise _invalid(f"/status catching_up is not a boolean: {_show(catching_up)}")
        facts.update({Fact.HEAD: head, Fact.SYNCING: catching_up})
        if head > 0:  # a node without blocks reports the zero time (year 1)
            facts[Fact.HEAD_TIME] = head_time
        if self.target.peers:
            net_info = unwrap(await self._get(session, probe, self._net_info_url, "net_info"),
                              "net_info", frozenset({"n_peers", "peers"}))
            facts[Fact.PEERS] = parse_int64(net_info.get("n_peers"), "/net_info n_peers")
        if catching_up:
            return Reason.SYNCING, f"node is catching up (at block {head})"
        return Reason.OK, ""

    async def _get(self, session: aiohttp.ClientSession, probe: RpcProbe, url: str,
                   route: str) -> Any:
        try:
            return await self._client.get(session, url, probe.timing())
        except RpcFailure as failure:
            raise RpcFailure(failure.reason, f"/{route}: {failure.detail}",
                             retry_after=failure.retry_after, status=failure.status) from None


def build(target: TargetBase, env: CheckEnv) -> CosmosRpcCheck:
    if not isinstance(target, CosmosRpcTarget):
        raise TypeError(f"cosmos_rpc check built for a {type(target).__name__}")
    return CosmosRpcCheck(target, env)


register("cosmos_rpc", CosmosRpcTarget, build)
