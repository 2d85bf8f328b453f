"""`bitcoin_rpc` against a fake provider on 127.0.0.1 serving tests/fixtures/rpc/bitcoin."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from pydantic import ValidationError

from checks.base import CheckEnv
from checks.rpc.bitcoin import (
    BEST_BLOCK_HASH,
    HEADERS,
    MEDIAN_TIME,
    BitcoinRpcTarget,
    build,
)
from monitor.observation import Fact, Observation, Reason
from tests.fakes.jsonrpc import Error, FakeRpcProvider, fixture, fixture_result

CHAIN = "bitcoin"
INFO = fixture_result(CHAIN, "getblockchaininfo.json")


def make_target(url: str, **keys: Any) -> BitcoinRpcTarget:
    document = {"name": "btc", "kind": "bitcoin_rpc", "chain": "bitcoin", "url": url,
                "interval": "5s", "timeout": "2s"}
    return BitcoinRpcTarget.model_validate({**document, **keys})


async def probe(url: str, **keys: Any) -> Observation:
    check = build(make_target(url, **keys), CheckEnv(user_agent="outagemon-test"))
    return await check.probe()


def with_info(**changes: Any) -> dict[str, Any]:
    return {**INFO, **changes}


@pytest.fixture
async def node() -> AsyncIterator[FakeRpcProvider]:
    async with FakeRpcProvider() as provider:
        provider.reply("getblockchaininfo", fixture(CHAIN, "getblockchaininfo.json"))
        provider.reply("getnetworkinfo", fixture(CHAIN, "getnetworkinfo.json"))
        provider.reply("getblockheader", fixture(CHAIN, "getblockheader.json"))
        yield provider


async def test_ok_reports_the_head(node: FakeRpcProvider) -> None:
    obs = await probe(node.url())
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts == {
        Fact.CHAIN: "bitcoin", Fact.CHAIN_ID: "main", Fact.HEAD: 871234, HEADERS: 871234,
        BEST_BLOCK_HASH: "00000000000000000001a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f7",
        MEDIAN_TIME: 1733149901.0, Fact.HEAD_TIME: 1733152871.0, Fact.SYNCING: False,
        Fact.HTTP_STATUS: 200,
    }
    assert node.rpc_calls == ["getblockchaininfo"]  # `time` is there: no getblockheader
    assert "authorization" not in {name.lower() for name in node.requests[0].headers}


async def test_peers_are_asked_in_the_same_batch(node: FakeRpcProvider) -> None:
    obs = await probe(node.url(), peers=True)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.PEERS] == 10
    assert [r.rpc_methods for r in node.requests] == [["getblockchaininfo", "getnetworkinfo"]]


async def test_head_time_from_the_header_before_core_23(node: FakeRpcProvider) -> None:
    node.reply("getblockchaininfo", fixture(CHAIN, "getblockchaininfo_v22.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.OK, obs.detail  # one header ahead is not syncing
    assert obs.facts[Fact.HEAD_TIME] == 1733152859.0 and obs.facts[HEADERS] == 871235
    assert node.rpc_calls == ["getblockchaininfo", "getblockheader"]


async def test_other_network_is_wrong_chain(node: FakeRpcProvider) -> None:
    node.reply("getblockchaininfo", fixture(CHAIN, "getblockchaininfo_testnet4.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.WRONG_CHAIN
    assert obs.facts[Fact.CHAIN_ID] == "testnet4"
    assert "'testnet4', expected 'main'" in obs.detail
    assert (await probe(node.url(), network="testnet4")).reason is Reason.OK


async def test_initial_block_download_is_syncing(node: FakeRpcProvider) -> None:
    node.reply("getblockchaininfo", fixture(CHAIN, "getblockchaininfo_ibd.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.SYNCING
    assert obs.facts[Fact.SYNCING] is True and obs.facts[Fact.HEAD] == 412007
    assert "initial block download: block 412007 of 871234" in obs.detail


async def test_headers_ahead_of_blocks_is_syncing(node: FakeRpcProvider) -> None:
    node.result("getblockchaininfo", with_info(blocks=871230))
    obs = await probe(node.url())
    assert obs.reason is Reason.SYNCING
    assert "4 behind the validated headers" in obs.detail


async def test_http_429_is_rate_limited(node: FakeRpcProvider) -> None:
    node.fail(429, "Too Many Requests", headers={"Retry-After": "30"})
    obs = await probe(node.url())
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 30.0 and obs.facts[Fact.HTTP_STATUS] == 429


async def test_rate_limit_text_in_an_error_is_rate_limited(node: FakeRpcProvider) -> None:
    node.error("getblockchaininfo", -32000, "daily request limit reached, upgrade your plan")
    obs = await probe(node.url())
    assert obs.reason is Reason.RATE_LIMITED


async def test_warmup_is_an_rpc_error(node: FakeRpcProvider) -> None:
    node.reply("getblockchaininfo", fixture(CHAIN, "error_warmup.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.RPC_ERROR
    assert "getblockchaininfo: -28: Loading block index" in obs.detail


@pytest.mark.parametrize(("document", "reason", "detail"), [
    (fixture(CHAIN, "error_warmup.json"), Reason.RPC_ERROR,
     "getblockchaininfo: -28: Loading block index…"),
    ({"error": {"code": -32000, "message": "daily request limit reached"}}, Reason.RATE_LIMITED,
     "rate limited: getblockchaininfo: -32000: daily request limit reached"),
])
async def test_http_500_of_nodes_before_28_reads_the_error(node: FakeRpcProvider,
                                                           document: dict[str, Any],
                                                           reason: Reason, detail: str) -> None:
    node.legacy_errors = True  # a failed single request: HTTP 500 with the JSON-RPC error
    node.reply("getblockchaininfo", document)
    obs = await probe(node.url())
    assert obs.reason is reason
    assert obs.detail == detail
    assert obs.facts[Fact.HTTP_STATUS] == 500


async def test_peers_error_is_an_rpc_error(node: FakeRpcProvider) -> None:
    node.error("getnetworkinfo", -32601, "Method not found")
    obs = await probe(node.url(), peers=True)
    assert obs.reason is Reason.RPC_ERROR
    assert "getnetworkinfo: -32601" in obs.detail


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_is_http_4xx(node: FakeRpcProvider, status: int) -> None:
    node.fail(status, b"", headers={"WWW-Authenticate": 'Basic realm="jsonrpc"'})
    obs = await probe(node.url())
    assert obs.reason is Reason.HTTP_4XX
    assert f"HTTP {status}" in obs.detail and obs.facts[Fact.HTTP_STATUS] == status


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("not_json", "not JSON"),
        ("oversized", "larger than 1024 bytes"),
        ("blocks_not_a_number", "getblockchaininfo blocks is not a count: '871234'"),
        ("bad_time", "getblockchaininfo time is not a unix time: '2024-12-02T15:21:11Z'"),
        ("not_an_object", "getblockchaininfo is not an object: None"),
        ("bad_header_time", "getblockheader time is not a unix time: None"),
    ],
)
async def test_invalid_responses(node: FakeRpcProvider, fault: str, expected: str) -> None:
    if fault == "not_json":
        node.raw_body = b"Loading block index..."
    elif fault == "oversized":
        node.raw_body = b'{"result": "' + b"0" * 4096 + b'", "error": null, "id": 1}'
    elif fault == "blocks_not_a_number":
        node.result("getblockchaininfo", with_info(blocks="871234"))
    elif fault == "bad_time":
        node.result("getblockchaininfo", with_info(time="2024-12-02T15:21:11Z"))
    elif fault == "not_an_object":
        node.result("getblockchaininfo", None)
    else:
        node.reply("getblockchaininfo", fixture(CHAIN, "getblockchaininfo_v22.json"))
        node.result("getblockheader", {"hash": INFO["bestblockhash"], "height": 871234})
    obs = await probe(node.url(), max_body="1KiB" if fault == "oversized" else "1MiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert expected in obs.detail


async def test_hanging_provider_times_out(node: FakeRpcProvider) -> None:
    node.hang = True
    obs = await probe(node.url(), timeout="500ms")
    assert obs.reason is Reason.TIMEOUT
    assert obs.latency is None and "0.5s" in obs.detail


async def test_slow_provider_is_degraded(node: FakeRpcProvider) -> None:
    node.delay = 0.02
    obs = await probe(node.url(), max_latency="1ms")
    assert obs.reason is Reason.DEGRADED


async def test_basic_auth_from_the_url(node: FakeRpcProvider) -> None:
    obs = await probe(f"http://rpcuser:s3cret-pass-word@127.0.0.1:{node.port}/")
    assert obs.reason is Reason.OK, obs.detail
    sent = node.requests[0].headers["Authorization"]
    assert sent == "Basic " + base64.b64encode(b"rpcuser:s3cret-pass-word").decode()


def test_credentials_in_url_and_header_are_refused() -> None:
    with pytest.raises(ValidationError, match="either in the url or as an Authorization"):
        make_target("http://user:password-1234@127.0.0.1:8332/",
                    headers={"Authorization": "Basic abc"})


CANARY_USER = "canary-user-1a2b3c4d"
CANARY_PASSWORD = "canary-password-5e6f7a8b"
CANARY_PATH = "canary-path-9c0d1e2f"
CANARY_QUERY = "canary-query-3a4b5c6d"
CANARY_HEADER = "canary-header-7e8f9a0b"


def echo(params: Any, request: web.Request) -> Error:
    """A provider that quotes the request back (URL, headers) in its error message."""
    headers = request.headers
    return Error(-32000, f"denied {headers.get('Authorization')} {headers.get('x-api-key')} "
                         f"for {request.path_qs}")


@pytest.mark.parametrize("fault", ["ok", "echo", "http_401", "timeout"])
async def test_secrets_stay_out_of_observations(node: FakeRpcProvider, fault: str) -> None:
    if fault == "echo":
        node.handle("getblockchaininfo", echo)
    elif fault == "http_401":
        node.fail(401, f"no such user {CANARY_USER}")
    elif fault == "timeout":
        node.hang = True
    url = (f"http://{CANARY_USER}:{CANARY_PASSWORD}@127.0.0.1:{node.port}/{CANARY_PATH}"
           f"?key={CANARY_QUERY}")
    timeout = "200ms" if fault == "timeout" else "2s"
    obs = await probe(url, timeout=timeout, headers={"x-api-key": CANARY_HEADER})
    sent = node.requests[0].headers
    token = base64.b64encode(f"{CANARY_USER}:{CANARY_PASSWORD}".encode()).decode()
    assert sent["Authorization"] == f"Basic {token}" and sent["x-api-key"] == CANARY_HEADER
    shown = f"{obs.detail} {obs.facts!r}"
    for canary in (CANARY_USER, CANARY_PASSWORD, CANARY_PATH, CANARY_QUERY, CANARY_HEADER,
                   token):
        assert canary not in shown
    if fault == "echo":
        assert obs.reason is Reason.RPC_ERROR
        assert obs.detail == "getblockchaininfo: -32000: denied *** *** for ***?***"
