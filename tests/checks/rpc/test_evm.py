"""The `evm_rpc` check against a real Ethereum node (anvil, on 127.0.0.1) and against a fake
provider serving documented JSON-RPC shapes (tests/fakes/jsonrpc.py) for what anvil cannot be
made to do: rate limits, refusals, broken answers, syncing, batch refusal, hanging."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import orjson
import pytest
from aiohttp import web
from pydantic import ValidationError
from websockets.asyncio.server import ServerConnection

from checks.base import CheckEnv
from checks.registry import kinds
from checks.rpc.evm import (
    EvmRpcCheck,
    EvmRpcTarget,
    NewHeads,
    ShapeError,
    build,
    parse_head,
    parse_quantity,
    parse_syncing,
)
from checks.stream import EventKind
from monitor.observation import Fact, Observation, Reason
from monitor.redact import SecretURL
from tests.conftest import LocalServer, wait_for
from tests.fakes import anvil as anvil_fakes
from tests.fakes.anvil import AnvilNode, StartAnvil, mine, start_mining, stop_mining
from tests.fakes.jsonrpc import (
    BatchMode,
    FakeRpcProvider,
    Recorded,
    evm_defaults,
    fixture,
    forwarding_app,
)
from tests.fakes.ws_server import FakeWsVenue

ServeApp = Callable[[web.Application], Awaitable[LocalServer]]
# anvil's fixtures (tests/fakes/anvil.py), found by name:
anvil = anvil_fakes.anvil
start_anvil = anvil_fakes.start_anvil

EVM = "evm"  # tests/fixtures/rpc/evm
USER_AGENT = "outagemon-test/1"
ANVIL_CHAIN_ID = 31337
CANARY = "canaryKEY0123456789abcdef"  # an API key in a URL path
CANARY_QUERY = "canaryQUERY9876543210"
CANARY_HEADER = "canaryHEADER5555555555"


def make_target(url: str, **keys: Any) -> EvmRpcTarget:
    document = {"name": "eth-node", "kind": "evm_rpc", "url": url, "chain": "ethereum",
                "chain_id": 1, "interval": "5s", "timeout": "2s"}
    return EvmRpcTarget.model_validate({**document, **keys})


def make_check(url: str, **keys: Any) -> EvmRpcCheck:
    return build(make_target(url, **keys), CheckEnv(user_agent=USER_AGENT))


async def probe(url: str, **keys: Any) -> Observation:
    check = make_check(url, **keys)
    await check.start()
    try:
        return await check.probe()
    finally:
        await check.close()


@asynccontextmanager
async def running(check: EvmRpcCheck) -> AsyncIterator[EvmRpcCheck]:
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


@pytest.fixture
async def provider() -> AsyncIterator[FakeRpcProvider]:
    """A fake provider answering like a healthy Ethereum mainnet node."""
    async with FakeRpcProvider(evm_defaults()) as fake:
        yield fake


def leaks(obs: Observation, *secrets: str) -> list[str]:
    text = f"{obs!r} {obs.detail} {obs.facts!r}"
    return [secret for secret in secrets if secret in text]


# -- against anvil ---------------------------------------------------------------------------

async def test_ok_against_anvil(anvil: AnvilNode) -> None:
    await stop_mining(anvil.url)
    height = await mine(anvil.url, 5)
    obs = await probe(anvil.url, chain_id=ANVIL_CHAIN_ID)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.detail == ""
    assert obs.facts[Fact.CHAIN] == "ethereum"
    assert obs.facts[Fact.CHAIN_ID] == ANVIL_CHAIN_ID
    assert obs.facts[Fact.HEAD] == height >= 5
    assert abs(obs.facts[Fact.HEAD_TIME] - time.time()) < 60  # anvil stamps wall-clock time
    assert obs.facts[Fact.SYNCING] is False
    assert obs.facts[Fact.HTTP_STATUS] == 200
    assert Fact.PEERS not in obs.facts
    assert obs.latency is not None and 0 < obs.latency < 2
    assert obs.stream is None


async def test_head_follows_anvil_mining(anvil: AnvilNode) -> None:
    await stop_mining(anvil.url)
    check = make_check(anvil.url, chain_id=ANVIL_CHAIN_ID)
    first = (await check.probe()).facts[Fact.HEAD]
    assert (await check.probe()).facts[Fact.HEAD] == first  # nothing mined in between
    await mine(anvil.url, 3)
    assert (await check.probe()).facts[Fact.HEAD] == first + 3
    assert check.batches  # anvil takes batches: one request per probe
    await start_mining(anvil.url, 1)

    async def advanced() -> bool:
        return bool((await check.probe()).facts[Fact.HEAD] > first + 3)

    await wait_for(advanced, timeout=5, interval=0.1, what="interval mining to resume")


async def test_other_chain_id_is_wrong_chain(start_anvil: StartAnvil) -> None:
    ours = start_anvil(chain_id=1)
    base = start_anvil(chain_id=8453)
    assert (await probe(ours.url, chain_id=1)).reason is Reason.OK
    obs = await probe(base.url, chain_id=1)
    assert obs.reason is Reason.WRONG_CHAIN
    assert obs.detail == "chain id 8453, expected 1 (ethereum)"
    assert obs.facts[Fact.CHAIN_ID] == 8453
    assert isinstance(obs.facts[Fact.HEAD], int)  # reported; correlate ignores failures


async def test_peers_refused_by_anvil_is_rpc_error(anvil: AnvilNode) -> None:
    obs = await probe(anvil.url, chain_id=ANVIL_CHAIN_ID, peers=True)
    assert obs.reason is Reason.RPC_ERROR
    assert obs.detail == "net_peerCount: -32601: Method not found"
    assert isinstance(obs.facts[Fact.HEAD], int)
    assert Fact.PEERS not in obs.facts


async def test_new_heads_stream_on_anvil(anvil: AnvilNode) -> None:
    await stop_mining(anvil.url)
    check = make_check(anvil.url, chain_id=ANVIL_CHAIN_ID, ws_url=anvil.ws_url)
    assert check.target.is_stream
    async with running(check):
        first = await check.probe()
        assert first.reason is Reason.OK, first.detail
        assert first.stream is not None and first.stream.connected
        height = await mine(anvil.url, 3)

        async def three_heads() -> bool:
            obs = await check.probe()
            return obs.stream is not None and obs.stream.messages_total >= 3

        await wait_for(three_heads, timeout=5, what="three newHeads notifications")
        obs = await check.probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.HEAD] == height
    assert obs.stream is not None
    assert obs.stream.messages_total == 3
    assert obs.stream.event_lag_count == 3
    assert obs.stream.first_message_seconds is not None


async def test_stream_head_fresher_than_the_probe_wins(anvil: AnvilNode,
                                                       provider: FakeRpcProvider) -> None:
    # HTTP from a fake stuck at block 0xa2 (162), heads from anvil beyond it.
    provider.result("eth_chainId", hex(ANVIL_CHAIN_ID))
    await stop_mining(anvil.url)
    check = make_check(provider.url(), chain_id=ANVIL_CHAIN_ID, ws_url=anvil.ws_url)
    async with running(check):
        assert (await check.probe()).facts[Fact.HEAD] == 0xA2
        height = await mine(anvil.url, 200)

        async def stream_head() -> bool:
            return bool((await check.probe()).facts[Fact.HEAD] == height)

        await wait_for(stream_head, timeout=5, what="the stream's head in the facts")


async def test_stream_not_connected_degrades_a_good_probe(anvil: AnvilNode) -> None:
    ws_url = f"ws://127.0.0.1:{unused_port()}"
    obs = await probe(anvil.url, chain_id=ANVIL_CHAIN_ID, ws_url=ws_url)
    assert obs.reason is Reason.DEGRADED
    assert obs.detail.startswith("newHeads stream: connect failed: connection refused")
    assert isinstance(obs.facts[Fact.HEAD], int)  # the probe's head still counts
    assert obs.stream is not None and not obs.stream.connected


async def test_refused_subscription_degrades_a_good_probe(anvil: AnvilNode) -> None:
    refusal = {"jsonrpc": "2.0", "id": 1, "error": {
        "code": -32601, "message": "the method eth_subscribe does not exist/is not available"}}

    async def refuse(ws: ServerConnection) -> None:
        await ws.send(orjson.dumps(refusal).decode())

    async with FakeWsVenue(refuse) as venue:
        check = make_check(anvil.url, chain_id=ANVIL_CHAIN_ID, ws_url=venue.url)
        async with running(check):
            async def degraded() -> bool:
                return (await check.probe()).reason is Reason.DEGRADED

            await wait_for(degraded, timeout=5, what="the refusal to show")
            obs = await check.probe()
    assert "eth_subscribe: the method eth_subscribe does not exist" in obs.detail
    assert obs.stream is not None and obs.stream.connected
    assert venue.received and "newHeads" in str(venue.received[0])


async def test_api_keys_never_leak(anvil: AnvilNode, serve_app: ServeApp) -> None:
    seen: list[Recorded] = []
    proxy = await serve_app(forwarding_app(anvil.url, seen))
    url = proxy.url(f"/v3/{CANARY}?apikey={CANARY_QUERY}")
    secrets = (CANARY, CANARY_QUERY, CANARY_HEADER)
    keys = {"headers": {"X-Api-Key": CANARY_HEADER}}

    ok = await probe(url, chain_id=ANVIL_CHAIN_ID, **keys)
    assert ok.reason is Reason.OK, ok.detail
    assert seen[-1].path == f"/v3/{CANARY}" and CANARY_QUERY in seen[-1].query
    assert seen[-1].headers["X-Api-Key"] == CANARY_HEADER  # the key was really used
    assert seen[-1].headers["User-Agent"] == USER_AGENT
    assert leaks(ok, *secrets) == []

    wrong = await probe(url, chain_id=1, **keys)
    assert wrong.reason is Reason.WRONG_CHAIN
    assert leaks(wrong, *secrets) == []

    # anvil answers 404 to a WebSocket upgrade on another path.
    ws = await probe(url, chain_id=ANVIL_CHAIN_ID,
                     ws_url=f"{anvil.ws_url}/ws/{CANARY}?apikey={CANARY_QUERY}", **keys)
    assert ws.reason is Reason.DEGRADED and "HTTP 404" in ws.detail
    assert leaks(ws, *secrets) == []

    refused = await probe(f"http://127.0.0.1:{unused_port()}/v3/{CANARY}", **keys)
    assert refused.reason is Reason.CONNECT_REFUSED
    assert leaks(refused, *secrets) == []


async def test_key_echoed_in_an_rpc_error_is_masked(provider: FakeRpcProvider) -> None:
    provider.error("eth_chainId", -32002, f"invalid project id {CANARY}")
    obs = await probe(provider.url(f"/v3/{CANARY}"))
    assert obs.reason is Reason.RPC_ERROR
    assert obs.detail == "eth_chainId: -32002: invalid project id ***"
    assert provider.requests[0].path == f"/v3/{CANARY}"


# -- against a fake provider -----------------------------------------------------------------

async def test_fake_provider_ok_in_one_batch(provider: FakeRpcProvider) -> None:
    obs = await probe(provider.url(), peers=True)
    assert obs.reason is Reason.OK, obs.detail
    block = fixture(EVM, "eth_getBlockByNumber_latest.json")["result"]
    assert obs.facts == {
        Fact.CHAIN: "ethereum", Fact.CHAIN_ID: 1, Fact.HEAD: int(block["number"], 16),
        Fact.HEAD_TIME: float(int(block["timestamp"], 16)), Fact.SYNCING: False,
        Fact.PEERS: 2, Fact.HTTP_STATUS: 200,
    }
    [request] = provider.requests
    assert request.is_batch
    assert request.rpc_methods == ["eth_chainId", "eth_getBlockByNumber", "eth_syncing",
                                   "net_peerCount"]
    assert request.payload[1]["params"] == ["latest", False]
    assert request.headers["Content-Type"] == "application/json"


async def test_http_429_is_rate_limited_with_retry_after(provider: FakeRpcProvider) -> None:
    provider.fail(429, b"Too Many Requests", headers={"Retry-After": "7"})
    obs = await probe(provider.url())
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.retry_after == 7.0
    assert obs.facts[Fact.HTTP_STATUS] == 429
    assert obs.latency is None


@pytest.mark.parametrize("document", ["error_limit_exceeded.json",
                                      "error_daily_request_count.json"])
async def test_rate_limit_inside_a_200(provider: FakeRpcProvider, document: str) -> None:
    provider.reply("eth_getBlockByNumber", fixture(EVM, document))
    obs = await probe(provider.url())
    assert obs.reason is Reason.RATE_LIMITED
    message = fixture(EVM, document)["error"]["message"]
    assert obs.detail.startswith("rate limited: eth_getBlockByNumber: ")
    assert message in obs.detail
    assert obs.facts[Fact.HTTP_STATUS] == 200


async def test_other_rpc_error(provider: FakeRpcProvider) -> None:
    provider.reply("eth_getBlockByNumber", fixture(EVM, "error_header_not_found.json"))
    obs = await probe(provider.url())
    assert obs.reason is Reason.RPC_ERROR
    assert obs.detail == "eth_getBlockByNumber: -32000: header not found"
    assert obs.facts[Fact.CHAIN_ID] == 1  # what did answer is still reported
    assert Fact.HEAD not in obs.facts


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_refused_key_is_http_4xx(provider: FakeRpcProvider, status: int) -> None:
    provider.fail(status, b'{"error":"invalid key"}')
    obs = await probe(provider.url())
    assert obs.reason is Reason.HTTP_4XX
    assert obs.detail == (f"HTTP {status}: the provider refused the request "
                          "(API key, plan or quota?)")
    assert obs.facts[Fact.HTTP_STATUS] == status


async def test_http_5xx(provider: FakeRpcProvider) -> None:
    provider.fail(502, b"Bad Gateway")
    obs = await probe(provider.url())
    assert obs.reason is Reason.HTTP_5XX
    assert obs.detail == "HTTP 502"


async def test_non_json_is_invalid(provider: FakeRpcProvider) -> None:
    provider.raw_body = b"<html>Cloudflare</html>"
    obs = await probe(provider.url())
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == "body is not JSON"


async def test_huge_body_is_invalid(provider: FakeRpcProvider) -> None:
    provider.raw_body = b"[" + b"0," * 200_000 + b"0]"
    obs = await probe(provider.url(), max_body="64KiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == "body larger than 65536 bytes"


def _block(**fields: Any) -> dict[str, Any]:
    return {**evm_defaults()["eth_getBlockByNumber"], **fields}


@pytest.mark.parametrize(("method", "result", "detail"), [
    ("eth_chainId", "0xzz", "chain id is not a hex quantity: '0xzz'"),
    ("eth_chainId", "1", "chain id is not a hex quantity: '1'"),
    ("eth_chainId", "0x", "chain id is not a hex quantity: '0x'"),
    ("eth_chainId", 1, "chain id is not a hex quantity: 1"),
    ("eth_chainId", "0x" + "1" * 65, "chain id is not a hex quantity: '0x1111"),
    ("eth_getBlockByNumber", _block(number="0x" + "f" * 17), "latest block number is not"),
    ("eth_getBlockByNumber", _block(number="-0x1"), "latest block number is not"),
    ("eth_getBlockByNumber", _block(number=" 0x1"), "latest block number is not"),
    ("eth_getBlockByNumber", _block(timestamp="1700000000"), "latest block timestamp is"),
    ("eth_getBlockByNumber", _block(timestamp=None), "latest block timestamp is not"),
    ("eth_getBlockByNumber", None, "no latest block"),
    ("eth_getBlockByNumber", ["0x1"], "latest block is not a block object: list"),
    ("eth_syncing", "false", "eth_syncing is neither false nor an object: 'false'"),
    ("eth_syncing", 0, "eth_syncing is neither false nor an object: 0"),
])
async def test_wrong_shapes_are_invalid(provider: FakeRpcProvider, method: str, result: Any,
                                        detail: str) -> None:
    provider.result(method, result)
    obs = await probe(provider.url())
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail.startswith(detail), obs.detail


async def test_batch_reply_missing_an_item_is_invalid(provider: FakeRpcProvider) -> None:
    provider.raw_body = orjson.dumps([{"jsonrpc": "2.0", "id": 1, "result": "0x1"}])
    check = make_check(provider.url())
    obs = await check.probe()
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == "no reply to eth_getBlockByNumber in the batch"
    assert check.batches


async def test_syncing_node(provider: FakeRpcProvider) -> None:
    provider.reply("eth_syncing", fixture(EVM, "eth_syncing_progress.json"))
    obs = await probe(provider.url())
    assert obs.reason is Reason.SYNCING
    assert obs.detail == "node is syncing (block 902 of 1108)"
    assert obs.facts[Fact.SYNCING] is True
    assert isinstance(obs.facts[Fact.HEAD], int)


@pytest.mark.parametrize("mode", ["error", "http400"])
async def test_batch_refused_falls_back_to_single_calls(provider: FakeRpcProvider,
                                                        mode: BatchMode) -> None:
    provider.batches = mode
    check = make_check(provider.url(), peers=True)
    obs = await check.probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.HEAD] == 0xA2 and obs.facts[Fact.PEERS] == 2
    assert [r.is_batch for r in provider.requests] == [True, False, False, False, False]
    assert not check.batches
    provider.requests.clear()
    again = await check.probe()  # remembered: no batch tried again
    assert again.reason is Reason.OK
    assert [r.is_batch for r in provider.requests] == [False] * 4
    assert provider.rpc_calls == ["eth_chainId", "eth_getBlockByNumber", "eth_syncing",
                                  "net_peerCount"]


async def test_rate_limited_batch_refusal_is_not_a_fallback(provider: FakeRpcProvider) -> None:
    provider.raw_body = orjson.dumps(fixture(EVM, "error_limit_exceeded.json") | {"id": None})
    check = make_check(provider.url())
    obs = await check.probe()
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.detail == "rate limited: -32005: limit exceeded"
    assert check.batches


async def test_failed_fallback_is_not_remembered(provider: FakeRpcProvider) -> None:
    provider.batches = "error"
    provider.reply("eth_chainId", fixture(EVM, "error_limit_exceeded.json"))
    check = make_check(provider.url())
    obs = await check.probe()
    assert obs.reason is Reason.RATE_LIMITED
    assert provider.rpc_calls == ["eth_chainId", "eth_getBlockByNumber", "eth_syncing",
                                  "eth_chainId"]  # the batch, then stopped at the rate limit
    assert check.batches  # nothing but errors one at a time either: try a batch again


async def test_hanging_provider_times_out(provider: FakeRpcProvider) -> None:
    provider.hang = True
    started = time.monotonic()
    obs = await probe(provider.url(), timeout="300ms")
    assert time.monotonic() - started < 2
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "timed out after 0.3s waiting for the response"
    assert obs.latency is None


async def test_connection_refused() -> None:
    obs = await probe(f"http://127.0.0.1:{unused_port()}/")
    assert obs.reason is Reason.CONNECT_REFUSED
    assert obs.facts == {Fact.CHAIN: "ethereum"}


async def test_slow_provider_is_degraded(provider: FakeRpcProvider) -> None:
    obs = await probe(provider.url(), max_latency="1us")
    assert obs.reason is Reason.DEGRADED
    assert obs.detail.startswith("slow: ") and "over max_latency 0.001 ms" in obs.detail
    assert obs.facts[Fact.HEAD] == 0xA2


async def test_wrong_chain_outranks_rpc_errors(provider: FakeRpcProvider) -> None:
    provider.result("eth_chainId", "0x38")
    provider.reply("eth_syncing", fixture(EVM, "error_header_not_found.json"))
    obs = await probe(provider.url())
    assert obs.reason is Reason.WRONG_CHAIN
    assert obs.facts[Fact.CHAIN_ID] == 56


# -- configuration and parsing ---------------------------------------------------------------

def test_kind_is_registered() -> None:
    spec = kinds()["evm_rpc"]
    assert spec.model is EvmRpcTarget and spec.build is build


@pytest.mark.parametrize(("keys", "message"), [
    ({"chain_id": None}, "chain_id"),
    ({"chain_id": 0}, "greater than or equal to 1"),
    ({"chain_id": "1"}, "valid integer"),
    ({"ws_url": "http://127.0.0.1:1/"}, "must be ws:// or wss://"),
    ({"url": "ws://127.0.0.1:1/"}, "must be http:// or https://"),
    ({"peers": "sometimes"}, "peers"),
    ({"unknown": 1}, "unknown"),
])
def test_invalid_targets(keys: dict[str, Any], message: str) -> None:
    document = {"name": "t", "kind": "evm_rpc", "url": "https://rpc.example/", "chain": "base",
                "chain_id": 8453, **keys}
    document = {k: v for k, v in document.items() if v is not None}
    with pytest.raises(ValidationError, match=message):
        EvmRpcTarget.model_validate(document)


def test_target_defaults() -> None:
    target = make_target("https://rpc.example/")
    assert target.peers is False and target.ws_url is None and not target.is_stream


@pytest.mark.parametrize(("text", "value"), [("0x0", 0), ("0x1b4", 436), ("0X1", None),
                                             ("0x01", 1), ("0xABC", 0xABC), ("0x", None),
                                             ("1b4", None), ("0x1 ", None), ("0x-1", None),
                                             ("0x" + "f" * 64, 2**256 - 1),
                                             ("0x" + "f" * 65, None)])
def test_parse_quantity(text: str, value: int | None) -> None:
    if value is None:
        with pytest.raises(ShapeError):
            parse_quantity(text, "x")
    else:
        assert parse_quantity(text, "x") == value


def test_parse_head_and_syncing() -> None:
    assert parse_head({"number": "0x10", "timestamp": "0x5"}) == (16, 5.0)
    with pytest.raises(ShapeError):
        parse_head({"number": True, "timestamp": "0x5"})
    assert parse_syncing(False) == (False, "")
    assert parse_syncing(True) == (True, "node is syncing")
    assert parse_syncing({"currentBlock": "bad"}) == (True, "node is syncing")


def test_new_heads_classify() -> None:
    heads = NewHeads(SecretURL("ws://127.0.0.1:1/"))
    [frame] = heads.subscribe_frames()
    assert '"eth_subscribe"' in frame and '"newHeads"' in frame
    assert heads.classify('{"jsonrpc":"2.0","id":1,"result":"0xabc"}').kind is EventKind.ACK
    refused = heads.classify('{"jsonrpc":"2.0","id":1,"error":{"code":-32601,"message":"no"}}')
    assert refused.kind is EventKind.ERROR and refused.detail == "eth_subscribe: no"
    note = ('{"jsonrpc":"2.0","method":"eth_subscription","params":{"subscription":"0xabc",'
            '"result":{"number":"0x10","timestamp":"0x6553f100"}}}')
    event = heads.classify(note)
    assert event.kind is EventKind.DATA and event.event_time == float(0x6553F100)
    assert (heads.head, heads.head_time) == (16, float(0x6553F100))
    bad = note.replace('"0x10"', '"ten"')
    assert heads.classify(bad).kind is EventKind.ERROR
    assert heads.head == 16
    for junk in ("not json", "[1]", '{"method":"other"}', b"\xff"):
        assert heads.classify(junk).kind is EventKind.IGNORE
