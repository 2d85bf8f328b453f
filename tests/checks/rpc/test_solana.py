"""`solana_rpc` against a fake provider on 127.0.0.1 serving tests/fixtures/rpc/solana, and its
slotSubscribe stream against a fake PubSub server (FakeWsVenue) on 127.0.0.1."""

from __future__ import annotations

import copy
import socket
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web

from checks.base import CheckEnv
from checks.rpc.solana import (
    FINALIZED_SLOT,
    HEAD_TIME_SLOT,
    NUM_SLOTS_BEHIND,
    SlotStream,
    SolanaRpcCheck,
    SolanaRpcTarget,
    build,
)
from checks.stream import EventKind
from monitor.observation import Fact, Observation, Reason
from monitor.redact import SecretURL
from tests.conftest import wait_for
from tests.fakes.jsonrpc import Error, FakeRpcProvider, fixture, fixture_result
from tests.fakes.ws_server import FakeWsVenue

CHAIN = "solana"
MAINNET = fixture_result(CHAIN, "getGenesisHash_mainnet.json")
DEVNET = fixture_result(CHAIN, "getGenesisHash_devnet.json")
HEAD = fixture_result(CHAIN, "getSlot_processed.json")
FINALIZED = fixture_result(CHAIN, "getSlot_finalized.json")
HEAD_TIME = fixture_result(CHAIN, "getBlockTime.json")


def make_target(url: str, **keys: Any) -> SolanaRpcTarget:
    document = {"name": "sol", "kind": "solana_rpc", "chain": "solana", "url": url,
                "interval": "5s", "timeout": "2s"}
    return SolanaRpcTarget.model_validate({**document, **keys})


async def probe(node: FakeRpcProvider, path: str = "/", **keys: Any) -> Observation:
    check = build(make_target(node.url(path), **keys), CheckEnv(user_agent="outagemon-test"))
    return await check.probe()


def slots(params: Any, _request: web.Request) -> Any:
    commitment = params[0]["commitment"]
    return HEAD if commitment == "processed" else FINALIZED


def block_times(times: dict[int, Any]) -> Any:
    """getBlockTime answering per slot; unknown slots are skipped ones (-32007)."""
    skipped = fixture(CHAIN, "getBlockTime_skipped.json")["error"]

    def answer(params: Any, _request: web.Request) -> Any:
        slot = params[0]
        if slot in times:
            return times[slot]
        return Error(skipped["code"], f"Slot {slot} was skipped, or missing due to ledger jump")

    return answer


@pytest.fixture
async def node() -> AsyncIterator[FakeRpcProvider]:
    async with FakeRpcProvider() as provider:
        provider.reply("getHealth", fixture(CHAIN, "getHealth_ok.json"))
        provider.handle("getSlot", slots)
        provider.handle("getBlockTime", block_times({HEAD: HEAD_TIME}))
        provider.reply("getGenesisHash", fixture(CHAIN, "getGenesisHash_mainnet.json"))
        yield provider


async def test_ok_reports_the_head(node: FakeRpcProvider) -> None:
    obs = await probe(node)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts == {Fact.CHAIN: "solana", Fact.HEAD: 301522418, FINALIZED_SLOT: 301522386,
                         Fact.HEAD_TIME: 1733152871.0, HEAD_TIME_SLOT: 301522418,
                         Fact.HTTP_STATUS: 200}
    assert obs.latency is not None and obs.detail == "" and obs.stream is None
    assert node.rpc_calls == ["getHealth", "getSlot", "getSlot", "getBlockTime"]
    assert [len(r.rpc_methods) for r in node.requests] == [3, 1]  # one batch, then the time


async def test_genesis_hash_is_the_chain_id(node: FakeRpcProvider) -> None:
    obs = await probe(node, genesis_hash=MAINNET)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.CHAIN_ID] == MAINNET
    assert node.requests[0].rpc_methods == ["getHealth", "getSlot", "getSlot", "getGenesisHash"]


async def test_other_genesis_is_wrong_chain(node: FakeRpcProvider) -> None:
    node.reply("getGenesisHash", fixture(CHAIN, "getGenesisHash_devnet.json"))
    obs = await probe(node, genesis_hash=MAINNET)
    assert obs.reason is Reason.WRONG_CHAIN
    assert obs.facts[Fact.CHAIN_ID] == DEVNET
    assert DEVNET in obs.detail and MAINNET in obs.detail


async def test_node_behind_is_lagging(node: FakeRpcProvider) -> None:
    node.reply("getHealth", fixture(CHAIN, "getHealth_behind.json"))
    obs = await probe(node)
    assert obs.reason is Reason.LAGGING
    assert obs.facts[NUM_SLOTS_BEHIND] == 42
    assert obs.facts[Fact.HEAD] == HEAD  # what the node says is still reported
    assert "42 slots behind" in obs.detail


async def test_unhealthy_without_slots_behind_is_an_rpc_error(node: FakeRpcProvider) -> None:
    node.reply("getHealth", fixture(CHAIN, "getHealth_unhealthy.json"))
    obs = await probe(node)
    assert obs.reason is Reason.RPC_ERROR
    assert "-32005: Node is unhealthy" in obs.detail
    assert NUM_SLOTS_BEHIND not in obs.facts


async def test_head_time_falls_back_to_an_earlier_slot(node: FakeRpcProvider) -> None:
    not_available = fixture(CHAIN, "getBlockTime_not_available.json")["error"]
    times = {HEAD: Error(not_available["code"], not_available["message"]),
             HEAD - 1: None, HEAD - 3: HEAD_TIME - 1}
    node.handle("getBlockTime", block_times(times))
    obs = await probe(node)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.HEAD_TIME] == HEAD_TIME - 1
    assert obs.facts[HEAD_TIME_SLOT] == HEAD - 3
    assert [len(r.rpc_methods) for r in node.requests] == [3, 1, 4]


async def test_head_time_stays_unknown_without_block_times(node: FakeRpcProvider) -> None:
    node.handle("getBlockTime", block_times({}))
    obs = await probe(node)
    assert obs.reason is Reason.OK, obs.detail
    assert Fact.HEAD_TIME not in obs.facts and obs.facts[Fact.HEAD] == HEAD


async def test_http_429_is_rate_limited(node: FakeRpcProvider) -> None:
    node.fail(429, {"error": "slow down"}, headers={"Retry-After": "7"})
    obs = await probe(node)
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 7.0 and obs.facts[Fact.HTTP_STATUS] == 429


async def test_rate_limit_text_in_an_error_is_rate_limited(node: FakeRpcProvider) -> None:
    node.error("getSlot", -32000, "Too many requests for a specific RPC call, contact support")
    obs = await probe(node)
    assert obs.reason is Reason.RATE_LIMITED
    assert "Too many requests" in obs.detail


async def test_other_rpc_error(node: FakeRpcProvider) -> None:
    node.error("getSlot", -32602, "Invalid params: unknown commitment")
    obs = await probe(node)
    assert obs.reason is Reason.RPC_ERROR
    assert "getSlot(processed): -32602: Invalid params" in obs.detail


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_is_http_4xx(node: FakeRpcProvider, status: int) -> None:
    node.fail(status, {"error": "invalid api key"})
    obs = await probe(node)
    assert obs.reason is Reason.HTTP_4XX
    assert f"HTTP {status}" in obs.detail and "refused" in obs.detail
    assert obs.facts[Fact.HTTP_STATUS] == status


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("not_json", "not JSON"),
        ("oversized", "larger than 1024 bytes"),
        ("slot_not_a_number", "getSlot(processed) is not a slot number: '301522418'"),
        ("bad_block_time", "is not a unix timestamp"),
        ("health_not_ok", "getHealth answered 'behind'"),
    ],
)
async def test_invalid_responses(node: FakeRpcProvider, fault: str, expected: str) -> None:
    if fault == "not_json":
        node.raw_body = b"<html>502 Bad Gateway</html>"
    elif fault == "oversized":
        node.raw_body = b'{"jsonrpc": "2.0", "result": "' + b"x" * 2048 + b'", "id": 1}'
    elif fault == "slot_not_a_number":
        node.handle("getSlot", lambda params, request: str(slots(params, request)))
    elif fault == "bad_block_time":
        node.result("getBlockTime", "2024-12-02T15:21:11Z")
    else:
        node.result("getHealth", "behind")
    obs = await probe(node, max_body="1KiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert expected in obs.detail


async def test_hanging_provider_times_out(node: FakeRpcProvider) -> None:
    node.hang = True
    obs = await probe(node, timeout="500ms")
    assert obs.reason is Reason.TIMEOUT
    assert obs.latency is None and "500ms" not in obs.detail and "0.5s" in obs.detail


async def test_slow_provider_is_degraded(node: FakeRpcProvider) -> None:
    node.delay = 0.02
    obs = await probe(node, max_latency="1ms")
    assert obs.reason is Reason.DEGRADED
    assert "over max_latency 1 ms" in obs.detail
    assert obs.facts[Fact.HEAD] == HEAD


CANARY_PATH = "canary-path-5b1e3c4d2a6f"
CANARY_QUERY = "canary-query-9c0b1a2f3e4d"
CANARY_HEADER = "canary-header-7e8d9c0b1a2f"


def echo(params: Any, request: web.Request) -> Error:
    """A provider that quotes the request back (URL, headers) in its error message."""
    return Error(-32000, f"bad key {request.headers.get('x-api-key')} for {request.path_qs}")


@pytest.mark.parametrize("fault", ["ok", "echo", "http_403", "timeout"])
async def test_secrets_stay_out_of_observations(node: FakeRpcProvider, fault: str) -> None:
    if fault == "echo":
        node.handle("getHealth", echo)
    elif fault == "http_403":
        node.fail(403, f"denied for {CANARY_PATH}")
    elif fault == "timeout":
        node.hang = True
    timeout = "200ms" if fault == "timeout" else "2s"
    obs = await probe(node, f"/{CANARY_PATH}?api-key={CANARY_QUERY}", timeout=timeout,
                      headers={"x-api-key": CANARY_HEADER})
    assert node.requests[0].path == f"/{CANARY_PATH}"
    assert node.requests[0].headers["x-api-key"] == CANARY_HEADER
    shown = f"{obs.detail} {obs.facts!r}"
    for canary in (CANARY_PATH, CANARY_QUERY, CANARY_HEADER):
        assert canary not in shown
    if fault == "echo":
        assert obs.reason is Reason.RPC_ERROR
        assert obs.detail == "getHealth: -32000: bad key *** for ***?***"


# -- the slotSubscribe stream (ws_url) -------------------------------------------------------

SUBSCRIBE_REQUEST = fixture(CHAIN, "slotSubscribe_request.json")
CONFIRMED = fixture(CHAIN, "slotSubscribe.json")
REFUSED = fixture(CHAIN, "slotSubscribe_refused.json")
NOTIFICATION = fixture(CHAIN, "slotNotification.json")
PROBED_FACTS = {Fact.CHAIN: "solana", Fact.HEAD: HEAD, FINALIZED_SLOT: FINALIZED,
                Fact.HEAD_TIME: float(HEAD_TIME), HEAD_TIME_SLOT: HEAD, Fact.HTTP_STATUS: 200}


def make_check(node: FakeRpcProvider, **keys: Any) -> SolanaRpcCheck:
    return build(make_target(node.url(), **keys), CheckEnv(user_agent="outagemon-test"))


@asynccontextmanager
async def running(check: SolanaRpcCheck) -> AsyncIterator[SolanaRpcCheck]:
    await check.start()
    try:
        yield check
    finally:
        await check.close()


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


def notification(slot: int) -> str:
    note = copy.deepcopy(NOTIFICATION)
    note["params"]["result"].update(slot=slot, parent=slot - 1)
    return orjson.dumps(note).decode()


async def answer_subscribe(venue: FakeWsVenue, reply: Mapping[str, Any]) -> None:
    """Wait for the check's slotSubscribe and answer it, as a PubSub server does."""
    await wait_for(lambda: bool(venue.received), timeout=5, what="the slotSubscribe request")
    assert orjson.loads(venue.received[0]) == SUBSCRIBE_REQUEST
    await venue.send(orjson.dumps(reply).decode())


async def probe_until(check: SolanaRpcCheck, messages: int) -> Observation:
    """Probe until the stream has counted `messages` notifications; that probe's observation."""
    seen: list[Observation] = []

    async def counted() -> bool:
        seen.append(await check.probe())
        stream = seen[-1].stream
        return stream is not None and stream.messages_total >= messages

    await wait_for(counted, timeout=5, what=f"{messages} slot notifications")
    return seen[-1]


async def test_slot_stream_counts_notifications_and_keeps_the_highest_slot(
        node: FakeRpcProvider) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(node, ws_url=venue.url)
        assert check.target.is_stream
        async with running(check):
            await answer_subscribe(venue, CONFIRMED)
            await venue.send(notification(HEAD - 10))
            behind = await probe_until(check, 1)
            await venue.send(notification(HEAD + 3))
            await venue.send(notification(HEAD + 1))  # out of order: not fresher
            ahead = await probe_until(check, 3)
    assert behind.reason is Reason.OK, behind.detail
    assert behind.facts == PROBED_FACTS  # the probe's head is fresher than the stream's
    assert ahead.reason is Reason.OK and ahead.detail == ""
    # the stream's slot, while the time stays getBlockTime's, of the slot it names
    assert ahead.facts == {**PROBED_FACTS, Fact.HEAD: HEAD + 3}
    stream = ahead.stream
    assert stream is not None and stream.connected
    assert stream.messages_total == 3  # the confirmation is not a message
    assert stream.event_lag_count == 0  # notifications carry no time
    assert stream.first_message_seconds is not None
    assert len(venue.received) == 1  # the request alone: no application-level pings


async def test_refused_subscription_degrades_a_good_probe(node: FakeRpcProvider) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(node, ws_url=venue.url)
        async with running(check):
            await answer_subscribe(venue, REFUSED)

            async def degraded() -> bool:
                return (await check.probe()).reason is Reason.DEGRADED

            await wait_for(degraded, timeout=5, what="the refusal to show")
            obs = await check.probe()
    assert obs.detail.startswith("slot stream: ")
    assert "slotSubscribe: Method not found" in obs.detail
    assert obs.facts == PROBED_FACTS
    assert obs.stream is not None and obs.stream.connected and obs.stream.messages_total == 0


async def probe_once(check: SolanaRpcCheck) -> Observation:
    async with running(check):
        return await check.probe()


async def test_unreachable_ws_url_degrades_a_good_probe(node: FakeRpcProvider) -> None:
    ws_url = f"ws://127.0.0.1:{unused_port()}/{CANARY_PATH}?api-key={CANARY_QUERY}"
    obs = await probe_once(make_check(node, ws_url=ws_url))
    assert obs.reason is Reason.DEGRADED
    assert obs.detail.startswith("slot stream: connect failed: connection refused")
    assert obs.facts == PROBED_FACTS  # the HTTP part is whole
    assert obs.stream is not None and not obs.stream.connected
    assert CANARY_PATH not in obs.detail and CANARY_QUERY not in obs.detail


async def test_a_failed_probe_keeps_its_reason_and_notes_the_stream(
        node: FakeRpcProvider) -> None:
    node.fail(429, {"error": "slow down"})
    obs = await probe_once(make_check(node, ws_url=f"ws://127.0.0.1:{unused_port()}/"))
    assert obs.reason is Reason.RATE_LIMITED
    assert "; slot stream: connect failed: connection refused" in obs.detail


def test_only_a_ws_url_makes_a_stream() -> None:
    assert not make_target("http://127.0.0.1:1/").is_stream
    assert make_target("http://127.0.0.1:1/", ws_url="ws://127.0.0.1:1/").is_stream


def test_slot_stream_classify() -> None:
    stream = SlotStream(SecretURL("ws://127.0.0.1:1/"))
    assert stream.keepalive is None
    assert [orjson.loads(frame) for frame in stream.subscribe_frames()] == [SUBSCRIBE_REQUEST]
    refused = stream.classify(orjson.dumps(REFUSED))
    assert refused.kind is EventKind.ERROR and refused.detail == "slotSubscribe: Method not found"
    assert stream.refused == refused.detail
    assert stream.classify(orjson.dumps(CONFIRMED).decode()).kind is EventKind.ACK
    assert stream.refused == ""
    event = stream.classify(orjson.dumps(NOTIFICATION).decode())
    assert event.kind is EventKind.DATA and event.event_time is None
    slot = NOTIFICATION["params"]["result"]["slot"]
    assert (stream.head, stream.head_time) == (slot, None)
    assert stream.classify(notification(slot - 1)).kind is EventKind.DATA
    assert stream.head == slot
    for bad in ('"76"', "true", "-1", "null"):
        broken = notification(slot + 1).replace(f'"slot":{slot + 1}', f'"slot":{bad}')
        assert stream.classify(broken).kind is EventKind.ERROR, bad
    not_an_object = '{"jsonrpc":"2.0","method":"slotNotification","params":{"result":76}}'
    assert stream.classify(not_an_object).kind is EventKind.ERROR
    assert stream.head == slot
    other = NOTIFICATION | {"method": "rootNotification"}
    for junk in ("not json", "[1]", '{"method":"other"}', b"\xff", orjson.dumps(other)):
        assert stream.classify(junk).kind is EventKind.IGNORE
