"""`evm_rpc`: an Ethereum-compatible JSON-RPC provider (Ethereum, Base, Arbitrum, BSC, ...).

Every probe asks, on a fresh connection and within the target's `timeout`, in ONE batch:
eth_chainId, eth_getBlockByNumber("latest", false), eth_syncing and, with `peers: true`,
net_peerCount. A provider that answers a batch with a JSON-RPC error (or anything but an
array carrying our ids), or with HTTP 400/405/413/501, is asked again one call at a time; when
that works the check remembers it and asks one call at a time from then on.

What the provider says becomes facts: CHAIN (the config's `chain`), CHAIN_ID, HEAD (latest block
number), HEAD_TIME (its timestamp, unix seconds), SYNCING, PEERS (when asked) and HTTP_STATUS.
Facts are reported whatever the verdict; the correlate step uses the head of successful
observations only. `latency` is the batch request's (one call at a time: the slowest call's).

The check judges only its own provider: RATE_LIMITED (HTTP 429, JSON-RPC code -32005 "limit
exceeded", or a rate-limit text), WRONG_CHAIN (eth_chainId differs from `chain_id`), RPC_ERROR
(any other JSON-RPC error, also for net_peerCount when asked), INVALID_RESPONSE (not JSON, too
large, wrong shapes: quantities must be 0x-prefixed hex of bounded length), SYNCING (eth_syncing
is not false), DEGRADED (slower than `max_latency`), and the HTTP and network reasons. Lag behind
other providers, stale heads and chain halts are judged across providers (monitor/correlate.py).

With `ws_url`, the check also keeps a newHeads subscription (eth_subscribe) open from `start()`:
the observation carries its stream stats (event lag = arrival minus block timestamp) and the
freshest head seen by either the subscription or the probe. A subscription that is not
connected, or whose eth_subscribe the provider refused, makes an otherwise good probe DEGRADED;
a silent one is only noted in the detail (no new heads may be a chain halt, which is the
correlate step's to judge). Without `max_head_age` the stream counts as silent after
DEFAULT_STREAM_STALE seconds (and is reconnected after twice that). The subscription machinery
is shared with `solana_rpc` (SubscribedRpcCheck in checks/rpc/base.py).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import aiohttp
import structlog
from pydantic import Field

from checks.base import CheckEnv, register
from checks.rpc.base import (
    HeadSubscription,
    RpcError,
    RpcFailure,
    RpcProbe,
    RpcTimings,
    SubscribedRpcCheck,
    SubscribedTargetBase,
    rate_limited,
    reply_value,
)
from checks.stream import EventKind, StreamEvent
from monitor.observation import Fact, Reason
from monitor.redact import SecretURL, scrub
from monitor.schema import TargetBase


class EvmRpcTarget(SubscribedTargetBase):
    kind: Literal["evm_rpc"]
    chain_id: Annotated[int, Field(ge=1, strict=True)]  # EIP-155: 1 Ethereum, 8453 Base, ...
    peers: bool = False  # ask net_peerCount (many public providers refuse it)


# JSON-RPC code for "request exceeds defined limit" (EIP-1474); EVM providers use it for rate
# and quota limits.
LIMIT_EXCEEDED = -32005
# Rate-limit texts of EVM providers that the shared pattern (checks.rpc.base) does not know,
# such as Infura's "daily request count exceeded" and "project ID request rate exceeded".
# HTTP statuses with which some providers refuse a batch they do not support.
_BATCH_REFUSED_STATUSES = frozenset({400, 405, 413, 501})
# Hex quantities (0x-prefixed, at least one digit). Leading zeros are tolerated; the number of
# digits is bounded per field: 16 for uint64 (block number, timestamp), 64 for uint256.
_QUANTITY = re.compile(r"0x[0-9a-fA-F]+", re.ASCII)
UINT64_DIGITS = 16
UINT256_DIGITS = 64
PEERS_DIGITS = 8
MAX_SHOWN = 40  # characters of a malformed value quoted in a detail

CHAIN_ID = "eth_chainId"
BLOCK = "eth_getBlockByNumber"
SYNCING = "eth_syncing"
PEERS = "net_peerCount"

Verdict = tuple[Reason, str]

log = structlog.get_logger("outagemon.evm_rpc")


class ShapeError(ValueError):
    """A reply that is not what the method's specification says."""


def parse_quantity(value: Any, what: str, *, max_digits: int = UINT256_DIGITS) -> int:
    """A JSON-RPC hex quantity ("0x1b4") as an int; ShapeError for anything else."""
    if (not isinstance(value, str) or len(value) > 2 + max_digits
            or _QUANTITY.fullmatch(value) is None):
        raise ShapeError(f"{what} is not a hex quantity: {_show(value)}")
    return int(value[2:], 16)


def parse_head(block: Any, what: str = "latest block") -> tuple[int, float]:
    """(number, timestamp) of a block object."""
    if not isinstance(block, dict):
        raise ShapeError(f"{what} is not a block object: {_show(block)}")
    number = parse_quantity(block.get("number"), f"{what} number", max_digits=UINT64_DIGITS)
    timestamp = parse_quantity(block.get("timestamp"), f"{what} timestamp",
                               max_digits=UINT64_DIGITS)
    return number, float(timestamp)


def parse_syncing(value: Any) -> tuple[bool, str]:
    """Whether the node says it is syncing, and how far it got when it says so."""
    if value is False:
        return False, ""
    if value is True:
        return True, "node is syncing"
    if not isinstance(value, dict):
        raise ShapeError(f"eth_syncing is neither false nor an object: {_show(value)}")
    try:
        current = parse_quantity(value.get("currentBlock"), "currentBlock",
                                 max_digits=UINT64_DIGITS)
        highest = parse_quantity(value.get("highestBlock"), "highestBlock",
                                 max_digits=UINT64_DIGITS)
    except ShapeError:
        return True, "node is syncing"
    return True, f"node is syncing (block {current} of {highest})"


def is_rate_limit(error: RpcError) -> bool:
    return error.code == LIMIT_EXCEEDED or rate_limited(error)


def _show(value: Any) -> str:
    text = scrub(repr(value) if not isinstance(value, dict | list) else type(value).__name__)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _is_id(value: Any, ids: Mapping[int, str]) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value in ids


class _BatchRefused(Exception):
    """The provider does not take batches (as far as this answer tells)."""


@dataclass
class _Answers:
    results: dict[str, Any] = field(default_factory=dict)  # method -> result or RpcError
    latency: float | None = None
    status: int | None = None


class NewHeads(HeadSubscription):
    """An eth_subscribe newHeads subscription; remembers the last head it announced."""

    label = "newHeads"
    method = "eth_subscribe"
    params = ("newHeads",)
    notification = "eth_subscription"

    def announce(self, result: Any) -> StreamEvent:
        try:
            number, timestamp = parse_head(result, "new head")
        except ShapeError as exc:
            return StreamEvent(EventKind.ERROR, detail=str(exc))
        self.head, self.head_time = number, timestamp
        return StreamEvent(EventKind.DATA, event_time=timestamp)


class EvmRpcCheck(SubscribedRpcCheck[EvmRpcTarget]):
    def __init__(self, target: EvmRpcTarget, env: CheckEnv) -> None:
        super().__init__(target, env)
        self._calls: list[tuple[str, Any]] = [(CHAIN_ID, []), (BLOCK, ["latest", False]),
                                              (SYNCING, [])]
        if target.peers:
            self._calls.append((PEERS, []))
        self.batches = True  # False once the provider was found to refuse batches

    def subscription(self, url: SecretURL) -> NewHeads:
        return NewHeads(url)

    async def ask(self, session: aiohttp.ClientSession, probe: RpcProbe) -> Verdict:
        # Not timed with probe.timing(): the latency is the batch's alone (one call at a time:
        # the slowest call's), and a failed probe has none.
        answers = await self._exchange(session)
        probe.latency = answers.latency
        return self._judge(answers, probe.facts)

    async def _exchange(self, session: aiohttp.ClientSession) -> _Answers:
        if self.batches and len(self._calls) > 1:
            try:
                return await self._batch(session)
            except _BatchRefused:
                pass
            answers = await self._one_by_one(session)
            if any(not isinstance(v, RpcError) for v in answers.results.values()):
                self.batches = False  # one call at a time worked: stay with it
                log.info("provider refuses batches: asking one call at a time",
                         target=self.target.name)
            return answers
        return await self._one_by_one(session)

    async def _batch(self, session: aiohttp.ClientSession) -> _Answers:
        timings = RpcTimings()
        ids = {index + 1: method for index, (method, _) in enumerate(self._calls)}
        payload = [{"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}
                   for (request_id, method), (_, params) in zip(ids.items(), self._calls,
                                                                strict=True)]
        try:
            body = await self._client.post(session, payload, timings)
        except RpcFailure as failure:
            if failure.status in _BATCH_REFUSED_STATUSES:
                raise _BatchRefused from None
            raise
        replies = body if isinstance(body, list) else [body]
        if not all(isinstance(reply, dict) for reply in replies):
            raise RpcFailure(Reason.INVALID_RESPONSE, "JSON-RPC reply is not an object")
        by_id = {reply["id"]: reply for reply in replies if _is_id(reply.get("id"), ids)}
        if not isinstance(body, list) or not by_id:
            for reply in replies:  # a refusal may be a rate limit: that is not batch support
                value = reply_value(reply, "the batch") if "error" in reply else None
                if isinstance(value, RpcError) and is_rate_limit(value):
                    raise RpcFailure(Reason.RATE_LIMITED, f"rate limited: {value}",
                                     status=timings.status)
            raise _BatchRefused
        answers = _Answers(latency=timings.latency, status=timings.status)
        for request_id, method in ids.items():
            reply = by_id.get(request_id)
            if reply is None:
                raise RpcFailure(Reason.INVALID_RESPONSE, f"no reply to {method} in the batch")
            answers.results[method] = reply_value(reply, method)
        return answers

    async def _one_by_one(self, session: aiohttp.ClientSession) -> _Answers:
        answers = _Answers()
        for method, params in self._calls:
            timings = RpcTimings()
            [value] = await self._client.call(session, [(method, params)], timings)
            answers.results[method] = value
            answers.status = timings.status
            if timings.latency is not None:
                answers.latency = max(answers.latency or 0.0, timings.latency)
            if isinstance(value, RpcError) and is_rate_limit(value):
                break  # asking more would only make it worse
        return answers

    # -- verdict ---------------------------------------------------------------------------

    def _judge(self, answers: _Answers, facts: dict[str, Any]) -> Verdict:
        """Facts from every usable answer; the verdict from the worst problem found."""
        if answers.status is not None:
            facts[Fact.HTTP_STATUS] = answers.status
        errors: list[str] = []
        shapes: list[str] = []
        limited: list[str] = []
        syncing = ""
        for method, value in answers.results.items():
            if isinstance(value, RpcError):
                (limited if is_rate_limit(value) else errors).append(f"{method}: {value}")
                continue
            try:
                syncing = self._read(method, value, facts) or syncing
            except ShapeError as exc:
                shapes.append(str(exc))
        if limited:
            return Reason.RATE_LIMITED, f"rate limited: {limited[0]}"
        chain_id = facts.get(Fact.CHAIN_ID)
        if chain_id is not None and chain_id != self.target.chain_id:
            return Reason.WRONG_CHAIN, (
                f"chain id {chain_id}, expected {self.target.chain_id} ({self.target.chain})")
        if errors:
            return Reason.RPC_ERROR, "; ".join(errors)
        if shapes:
            return Reason.INVALID_RESPONSE, "; ".join(shapes)
        if syncing:
            return Reason.SYNCING, syncing
        return Reason.OK, ""

    @staticmethod
    def _read(method: str, value: Any, facts: dict[str, Any]) -> str:
        """Records what one answer says; returns the syncing detail when the node syncs."""
        if method == CHAIN_ID:
            facts[Fact.CHAIN_ID] = parse_quantity(value, "chain id")
        elif method == BLOCK:
            if value is None:
                raise ShapeError("no latest block")
            facts[Fact.HEAD], facts[Fact.HEAD_TIME] = parse_head(value)
        elif method == SYNCING:
            syncing, detail = parse_syncing(value)
            facts[Fact.SYNCING] = syncing
            return detail
        elif method == PEERS:
            facts[Fact.PEERS] = parse_quantity(value, "peer count", max_digits=PEERS_DIGITS)
        return ""


def build(target: TargetBase, env: CheckEnv) -> EvmRpcCheck:
    if not isinstance(target, EvmRpcTarget):
        raise TypeError(f"evm_rpc check built for a {type(target).__name__}")
    return EvmRpcCheck(target, env)


register("evm_rpc", EvmRpcTarget, build)
