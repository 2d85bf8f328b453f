"""`solana_rpc`: a Solana JSON-RPC provider.

Every probe asks, on a fresh connection and within the target's `timeout`:

1. in ONE batch: getHealth, getSlot {commitment: processed}, getSlot {commitment: finalized}
   and, when `genesis_hash` is set, getGenesisHash;
2. getBlockTime(head), the estimated production time of the processed slot. A node answers
   it from its bank forks (unrooted slots) or its ledger (rooted ones); a provider behind a
   load balancer may send it to a node that has not seen the slot yet (-32004 block not
   available, -32014 not yet available), and a skipped slot has no block (-32007, -32009, or
   null). Then ONE more batch asks the FALLBACK_SLOTS slots before the head and the newest
   time found is used (`head_time_slot` says whose it is: it is at most a few slots, ~0.4 s
   each, older than the head). When none has a time, the head time stays unknown.

Facts: CHAIN (the config's `chain`), HEAD (the processed slot), `finalized_slot`, HEAD_TIME
(unix seconds) with `head_time_slot`, CHAIN_ID (the genesis hash, only when `genesis_hash` is
configured), `num_slots_behind` (when the node says so) and HTTP_STATUS. Facts are reported
whatever the verdict; the correlate step uses the heads of successful observations only.

Reasons: OK; DEGRADED (slower than `max_latency`, all requests together); WRONG_CHAIN
(getGenesisHash differs from `genesis_hash`); LAGGING (getHealth error -32005 with
data.numSlotsBehind: the node itself says it is behind; on Solana -32005 is "node unhealthy",
not a rate limit); RPC_ERROR (any other JSON-RPC error, including -32005 without
numSlotsBehind, "Node is unhealthy", where the node does not know how far behind it is);
RATE_LIMITED (HTTP 429 or a rate-limit text in an error); INVALID_RESPONSE (not JSON, too
large, wrong shapes); the HTTP and network reasons. Lag behind other providers and halts are
judged across providers (monitor/correlate.py).

With `ws_url`, the check also keeps a `slotSubscribe` subscription open from `start()` on (as
`evm_rpc` does with newHeads: SubscribedRpcCheck in checks/rpc/base.py). Each slotNotification
({slot, parent, root}) announces a processed slot, the same commitment as the HEAD the probe
asks for; the highest one seen is the stream's head and becomes HEAD when it is higher than the
probe's. Notifications carry no time, so HEAD_TIME and `head_time_slot` stay getBlockTime's and
the stream has no event lag. An unconnected or refused subscription makes an otherwise good
probe DEGRADED. Solana's RPC docs give no keepalive rule: slots are announced about every
0.4 s, a silent stream is reconnected, and the server's protocol pings are answered by the
WebSocket library.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import aiohttp
from pydantic import Field

from checks.base import CheckEnv, register
from checks.rpc.base import (
    HeadSubscription,
    RpcError,
    RpcFailure,
    RpcProbe,
    SubscribedRpcCheck,
    SubscribedTargetBase,
)
from checks.stream import EventKind, StreamEvent
from monitor.observation import Fact, Reason
from monitor.redact import SecretURL, scrub
from monitor.schema import TargetBase

NODE_UNHEALTHY = -32005
# getBlockTime errors meaning "this slot has no block time here" (agave custom_error.rs).
BLOCK_NOT_AVAILABLE = -32004
SLOT_SKIPPED = -32007
LONG_TERM_STORAGE_SLOT_SKIPPED = -32009
BLOCK_STATUS_NOT_AVAILABLE_YET = -32014
_NO_BLOCK_TIME = frozenset({BLOCK_NOT_AVAILABLE, SLOT_SKIPPED, LONG_TERM_STORAGE_SLOT_SKIPPED,
                            BLOCK_STATUS_NOT_AVAILABLE_YET})
FALLBACK_SLOTS = 4
MAX_SHOWN = 40

FINALIZED_SLOT = "finalized_slot"
HEAD_TIME_SLOT = "head_time_slot"
NUM_SLOTS_BEHIND = "num_slots_behind"

Verdict = tuple[Reason, str]
Base58 = Annotated[str, Field(pattern=r"^[1-9A-HJ-NP-Za-km-z]{32,44}$")]


class SolanaRpcTarget(SubscribedTargetBase):
    kind: Literal["solana_rpc"]
    # mainnet-beta 5eykt4UsFv8P8NJdTREpY1vzqKqZKvdpKuc147dw2N9d; unset: not checked
    genesis_hash: Base58 | None = None


def _show(value: Any, limit: int = MAX_SHOWN) -> str:
    text = scrub(repr(value) if not isinstance(value, dict | list) else type(value).__name__)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _slot(value: Any, what: str) -> int:
    if isinstance(value, RpcError):
        raise RpcFailure(Reason.RPC_ERROR, f"{what}: {value}")
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RpcFailure(Reason.INVALID_RESPONSE, f"{what} is not a slot number: {_show(value)}")
    return value


def _block_time(value: Any, slot: int) -> float | None:
    """The time getBlockTime(slot) answered; None when the slot has none on this provider."""
    if value is None:
        return None
    if isinstance(value, RpcError):
        if value.code in _NO_BLOCK_TIME:
            return None
        raise RpcFailure(Reason.RPC_ERROR, f"getBlockTime({slot}): {value}")
    if not isinstance(value, int) or isinstance(value, bool):
        raise RpcFailure(Reason.INVALID_RESPONSE,
                         f"getBlockTime({slot}) is not a unix timestamp: {_show(value)}")
    return float(value)


def _health(value: Any, facts: dict[str, Any]) -> Verdict:
    if value == "ok":
        return Reason.OK, ""
    if not isinstance(value, RpcError):
        return Reason.INVALID_RESPONSE, f"getHealth answered {_show(value)}, not \"ok\""
    if value.code == NODE_UNHEALTHY:
        behind = value.data.get("numSlotsBehind") if isinstance(value.data, dict) else None
        if isinstance(behind, int) and not isinstance(behind, bool) and behind >= 0:
            facts[NUM_SLOTS_BEHIND] = behind
            return Reason.LAGGING, f"node says it is {behind} slots behind the cluster"
        return Reason.RPC_ERROR, f"node says it is unhealthy: {value}"
    return Reason.RPC_ERROR, f"getHealth: {value}"


class SlotStream(HeadSubscription):
    """A slotSubscribe subscription; remembers the highest slot it announced."""

    label = "slot"
    method = "slotSubscribe"
    notification = "slotNotification"

    def announce(self, result: Any) -> StreamEvent:
        if not isinstance(result, dict):
            return StreamEvent(EventKind.ERROR,
                               detail=f"slot notification is not an object: {_show(result)}")
        slot = result.get("slot")
        if not isinstance(slot, int) or isinstance(slot, bool) or slot < 0:
            return StreamEvent(EventKind.ERROR,
                               detail=f"slot notification's slot is not a slot number: "
                                      f"{_show(slot)}")
        # Slots may be announced out of order (forks, late banks): keep the highest.
        self.head = slot if self.head is None else max(self.head, slot)
        return StreamEvent(EventKind.DATA)


class SolanaRpcCheck(SubscribedRpcCheck[SolanaRpcTarget]):
    def __init__(self, target: SolanaRpcTarget, env: CheckEnv) -> None:
        super().__init__(target, env)
        self._calls: list[tuple[str, Any]] = [
            ("getHealth", []),
            ("getSlot", [{"commitment": "processed"}]),
            ("getSlot", [{"commitment": "finalized"}]),
        ]
        if target.genesis_hash is not None:
            self._calls.append(("getGenesisHash", []))

    def subscription(self, url: SecretURL) -> SlotStream:
        return SlotStream(url)

    async def ask(self, session: aiohttp.ClientSession, probe: RpcProbe) -> Verdict:
        facts = probe.facts
        replies = await self.call(session, probe, self._calls)
        health, processed, finalized = replies[:3]
        if self.target.genesis_hash is not None:
            verdict = self._genesis(replies[3], facts)
            if verdict is not None:
                return verdict
        head = _slot(processed, "getSlot(processed)")
        facts[Fact.HEAD] = head
        facts[FINALIZED_SLOT] = _slot(finalized, "getSlot(finalized)")
        await self._head_time(session, probe, head)
        return _health(health, facts)

    def _genesis(self, value: Any, facts: dict[str, Any]) -> Verdict | None:
        if isinstance(value, RpcError):
            return Reason.RPC_ERROR, f"getGenesisHash: {value}"
        if not isinstance(value, str):
            return Reason.INVALID_RESPONSE, f"getGenesisHash is not a hash: {_show(value)}"
        facts[Fact.CHAIN_ID] = value
        if value != self.target.genesis_hash:
            return Reason.WRONG_CHAIN, (
                f"genesis hash {_show(value, 80)}, expected {self.target.genesis_hash} "
                f"({self.target.chain})")
        return None

    async def _head_time(self, session: aiohttp.ClientSession, probe: RpcProbe,
                         head: int) -> None:
        [value] = await self.call(session, probe, [("getBlockTime", [head])])
        when = _block_time(value, head)
        slot = head
        if when is None:
            slots = [head - back for back in range(1, FALLBACK_SLOTS + 1) if head - back >= 0]
            if not slots:
                return
            values = await self.call(session, probe,
                                     [("getBlockTime", [earlier]) for earlier in slots])
            for slot, value in zip(slots, values, strict=True):
                when = _block_time(value, slot)
                if when is not None:
                    break
        if when is not None:
            probe.facts[Fact.HEAD_TIME] = when
            probe.facts[HEAD_TIME_SLOT] = slot


def build(target: TargetBase, env: CheckEnv) -> SolanaRpcCheck:
    if not isinstance(target, SolanaRpcTarget):
        raise TypeError(f"solana_rpc check built for a {type(target).__name__}")
    return SolanaRpcCheck(target, env)


register("solana_rpc", SolanaRpcTarget, build)
