"""`bitcoin_rpc`: a Bitcoin Core JSON-RPC endpoint (own node or provider).

Every probe asks, on a fresh connection and within the target's `timeout`:

1. getblockchaininfo (in ONE batch with getnetworkinfo when `peers: true`);
2. only for nodes older than Bitcoin Core 23.0, whose getblockchaininfo has no `time` (the tip's
   block time, added in 23.0, #22407): getblockheader(bestblockhash) for its `time`.

Authentication: none (public keyless endpoints), a header (`headers: {Authorization: ...}` or a
provider's key header), or HTTP basic auth as `user:password@` in the URL (rpcuser/rpcpassword
or rpcauth). The password and the encoded Authorization value are registered as secrets.
Bitcoin Core answers bad credentials with HTTP 401 (HTTP_4XX).

Facts: CHAIN (the config's `chain`), CHAIN_ID (getblockchaininfo `chain`: main, test, testnet4,
signet, regtest), HEAD (`blocks`), HEAD_TIME (tip block time), SYNCING, `headers`,
`best_block_hash`, `median_time`, PEERS (getnetworkinfo `connections`, when asked) and
HTTP_STATUS. Facts are reported whatever the verdict.

Reasons: OK; DEGRADED (slower than `max_latency`); WRONG_CHAIN (`chain` differs from
`network`); SYNCING when `initialblockdownload` is true or the node has validated headers more
than SYNC_HEADERS_GAP blocks beyond its tip (a single header ahead is normal for the moments
between a block's header arriving and the block being validated); RPC_ERROR (JSON-RPC errors,
e.g. -28 while the node warms up); RATE_LIMITED (HTTP 429, a rate-limit text); INVALID_RESPONSE;
the HTTP and network reasons. Bitcoin Core before 28.0 answers a failed single request with
HTTP 500 (404 for an unknown method) and the JSON-RPC error as the body, rather than in a 200
(it speaks JSON-RPC 2.0 only since 28.0): the client reads that error, so it shows as RPC_ERROR
(or RATE_LIMITED) as with newer nodes, and HTTP_STATUS says 500 or 404. Note: regtest nodes
stay in initial block download until a block newer than 24 h is mined.
"""

from __future__ import annotations

from typing import Any, Literal

import aiohttp
from pydantic import model_validator
from yarl import URL

from checks.base import CheckEnv, register
from checks.rpc.base import RpcCheck, RpcError, RpcFailure, RpcProbe, RpcTargetBase
from monitor.observation import Fact, Reason
from monitor.redact import SECRETS, scrub
from monitor.schema import TargetBase

Network = Literal["main", "test", "testnet4", "signet", "regtest"]
SYNC_HEADERS_GAP = 1
MAX_SHOWN = 40

HEADERS = "headers"
BEST_BLOCK_HASH = "best_block_hash"
MEDIAN_TIME = "median_time"

Verdict = tuple[Reason, str]


class BitcoinRpcTarget(RpcTargetBase):
    kind: Literal["bitcoin_rpc"]
    network: Network = "main"  # as getblockchaininfo names it
    peers: bool = False  # ask getnetworkinfo for the connection count

    @model_validator(mode="after")
    def _basic_auth(self) -> BitcoinRpcTarget:
        auth = aiohttp.BasicAuth.from_url(URL(self.url.reveal()))
        if auth is None:
            return self
        if any(name.lower() == "authorization" for name in self.headers):
            raise ValueError("give credentials either in the url or as an Authorization "
                             "header, not both")
        encoded = auth.encode()  # what goes on the wire: "Basic base64(user:password)"
        SECRETS.add([encoded, encoded.partition(" ")[2], auth.password])
        return self


def _show(value: Any) -> str:
    text = scrub(repr(value) if not isinstance(value, dict | list) else type(value).__name__)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _object(value: Any, method: str) -> dict[str, Any]:
    if isinstance(value, RpcError):
        raise RpcFailure(Reason.RPC_ERROR, f"{method}: {value}")
    if not isinstance(value, dict):
        raise RpcFailure(Reason.INVALID_RESPONSE, f"{method} is not an object: {_show(value)}")
    return value


def _integer(document: dict[str, Any], key: str, method: str) -> int:
    value = document.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RpcFailure(Reason.INVALID_RESPONSE,
                         f"{method} {key} is not a count: {_show(value)}")
    return value


def _unix_time(document: dict[str, Any], key: str, method: str) -> float:
    value = document.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise RpcFailure(Reason.INVALID_RESPONSE,
                         f"{method} {key} is not a unix time: {_show(value)}")
    return float(value)


class BitcoinRpcCheck(RpcCheck[BitcoinRpcTarget]):
    def __init__(self, target: BitcoinRpcTarget, env: CheckEnv) -> None:
        super().__init__(target, env)
        self._calls: list[tuple[str, Any]] = [("getblockchaininfo", [])]
        if target.peers:
            self._calls.append(("getnetworkinfo", []))

    async def ask(self, session: aiohttp.ClientSession, probe: RpcProbe) -> Verdict:
        facts = probe.facts
        replies = await self.call(session, probe, self._calls)
        info = _object(replies[0], "getblockchaininfo")
        chain = info.get("chain")
        if not isinstance(chain, str):
            raise RpcFailure(Reason.INVALID_RESPONSE,
                             f"getblockchaininfo chain is not a name: {_show(chain)}")
        facts[Fact.CHAIN_ID] = chain
        if chain != self.target.network:
            return Reason.WRONG_CHAIN, (
                f"node is on {_show(chain)}, expected {self.target.network!r} "
                f"({self.target.chain})")
        blocks = _integer(info, "blocks", "getblockchaininfo")
        headers = _integer(info, "headers", "getblockchaininfo")
        ibd = info.get("initialblockdownload")
        best = info.get("bestblockhash")
        if not isinstance(ibd, bool) or not isinstance(best, str):
            raise RpcFailure(Reason.INVALID_RESPONSE,
                             "getblockchaininfo lacks initialblockdownload or bestblockhash")
        facts.update({Fact.HEAD: blocks, HEADERS: headers, BEST_BLOCK_HASH: best,
                      MEDIAN_TIME: _unix_time(info, "mediantime", "getblockchaininfo")})
        if "time" in info:  # Bitcoin Core 23.0 and later
            facts[Fact.HEAD_TIME] = _unix_time(info, "time", "getblockchaininfo")
        if self.target.peers:
            network = _object(replies[1], "getnetworkinfo")
            facts[Fact.PEERS] = _integer(network, "connections", "getnetworkinfo")
        if Fact.HEAD_TIME not in facts:
            [header] = await self.call(session, probe, [("getblockheader", [best, True])])
            header = _object(header, "getblockheader")
            facts[Fact.HEAD_TIME] = _unix_time(header, "time", "getblockheader")
        syncing = ibd or headers - blocks > SYNC_HEADERS_GAP
        facts[Fact.SYNCING] = syncing
        if ibd:
            return Reason.SYNCING, (
                f"initial block download: block {blocks} of {headers} headers")
        if syncing:
            return Reason.SYNCING, (
                f"block {blocks} is {headers - blocks} behind the validated headers ({headers})")
        return Reason.OK, ""


def build(target: TargetBase, env: CheckEnv) -> BitcoinRpcCheck:
    if not isinstance(target, BitcoinRpcTarget):
        raise TypeError(f"bitcoin_rpc check built for a {type(target).__name__}")
    return BitcoinRpcCheck(target, env)


register("bitcoin_rpc", BitcoinRpcTarget, build)
