"""`cosmos_rpc` against a fake provider on 127.0.0.1 serving tests/fixtures/rpc/cosmos."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from checks.base import CheckEnv
from checks.rpc.cosmos import CosmosRpcTarget, build, endpoint, parse_time
from monitor.observation import Fact, Observation, Reason
from tests.fakes.jsonrpc import FakeRpcProvider, fixture

CHAIN = "cosmos"
STATUS = fixture(CHAIN, "status.json")
# 2024-12-02T15:21:11.123456789Z, to the microsecond
HEAD_TIME = datetime(2024, 12, 2, 15, 21, 11, 123456, tzinfo=UTC).timestamp()


def make_target(url: str, **keys: Any) -> CosmosRpcTarget:
    document = {"name": "atom", "kind": "cosmos_rpc", "chain": "cosmoshub", "url": url,
                "network": "cosmoshub-4", "interval": "5s", "timeout": "2s"}
    return CosmosRpcTarget.model_validate({**document, **keys})


async def probe(url: str, **keys: Any) -> Observation:
    check = build(make_target(url, **keys), CheckEnv(user_agent="outagemon-test"))
    return await check.probe()


def status_with(**sync_info: Any) -> dict[str, Any]:
    result = STATUS["result"]
    return {**STATUS, "result": {**result, "sync_info": {**result["sync_info"], **sync_info}}}


@pytest.fixture
async def node() -> AsyncIterator[FakeRpcProvider]:
    async with FakeRpcProvider() as provider:
        provider.get("/status", STATUS)
        provider.get("/net_info", fixture(CHAIN, "net_info.json"))
        yield provider


async def test_ok_reports_the_head(node: FakeRpcProvider) -> None:
    obs = await probe(node.url())
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts == {Fact.CHAIN: "cosmoshub", Fact.CHAIN_ID: "cosmoshub-4",
                         Fact.HEAD: 23456789, Fact.HEAD_TIME: HEAD_TIME, Fact.SYNCING: False,
                         Fact.HTTP_STATUS: 200}
    assert [(r.http_method, r.path) for r in node.requests] == [("GET", "/status")]


async def test_bare_status_is_accepted(node: FakeRpcProvider) -> None:
    node.get("/status", fixture(CHAIN, "status_bare.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.HEAD] == 23456789 and obs.facts[Fact.HEAD_TIME] == HEAD_TIME


async def test_peers_from_net_info(node: FakeRpcProvider) -> None:
    obs = await probe(node.url(), peers=True)
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.PEERS] == 2
    assert [r.path for r in node.requests] == ["/status", "/net_info"]


def test_key_in_path_and_query_is_kept() -> None:
    assert endpoint("https://rpc.example/KEY/?a=b", "status") == "https://rpc.example/KEY/status?a=b"
    assert endpoint("https://rpc.example", "net_info") == "https://rpc.example/net_info"


async def test_other_network_is_wrong_chain(node: FakeRpcProvider) -> None:
    obs = await probe(node.url(), network="osmosis-1")
    assert obs.reason is Reason.WRONG_CHAIN
    assert obs.facts[Fact.CHAIN_ID] == "cosmoshub-4"
    assert "'cosmoshub-4', expected 'osmosis-1'" in obs.detail


async def test_catching_up_is_syncing(node: FakeRpcProvider) -> None:
    node.get("/status", fixture(CHAIN, "status_catching_up.json"))
    obs = await probe(node.url())
    assert obs.reason is Reason.SYNCING
    assert obs.facts[Fact.SYNCING] is True and obs.facts[Fact.HEAD] == 20111222
    assert obs.facts[Fact.HEAD_TIME] == datetime(2024, 6, 30, 8, 0, 1, 500000,
                                                 tzinfo=UTC).timestamp()


async def test_http_429_is_rate_limited(node: FakeRpcProvider) -> None:
    node.fail(429, "rate limited", headers={"Retry-After": "12"})
    obs = await probe(node.url())
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 12.0 and obs.facts[Fact.HTTP_STATUS] == 429
    assert obs.detail.startswith("/status: HTTP 429")


async def test_rate_limit_text_in_an_error_is_rate_limited(node: FakeRpcProvider) -> None:
    node.get("/status", {"jsonrpc": "2.0", "id": -1,
                         "error": {"code": -32000, "message": "Too Many Requests"}})
    obs = await probe(node.url())
    assert obs.reason is Reason.RATE_LIMITED


async def test_rpc_error(node: FakeRpcProvider) -> None:
    node.get("/net_info", {"jsonrpc": "2.0", "id": -1, "error": {
        "code": -32603, "message": "Internal error", "data": "net_info is disabled"}})
    obs = await probe(node.url(), peers=True)
    assert obs.reason is Reason.RPC_ERROR
    assert obs.detail == "/net_info: -32603: Internal error (net_info is disabled)"


async def test_rpc_error_with_an_http_error_status(node: FakeRpcProvider) -> None:
    node.get("/net_info", {"jsonrpc": "2.0", "id": -1, "error": {
        "code": -32603, "message": "Internal error", "data": "net_info is disabled"}},
        status=500)
    obs = await probe(node.url(), peers=True)
    assert obs.reason is Reason.RPC_ERROR
    assert obs.detail == "/net_info: -32603: Internal error (net_info is disabled)"
    assert obs.facts[Fact.HTTP_STATUS] == 500


@pytest.mark.parametrize("status", [401, 403])
async def test_refused_is_http_4xx(node: FakeRpcProvider, status: int) -> None:
    node.fail(status, "forbidden")
    obs = await probe(node.url())
    assert obs.reason is Reason.HTTP_4XX
    assert f"HTTP {status}" in obs.detail and obs.facts[Fact.HTTP_STATUS] == status


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("not_json", "not JSON"),
        ("oversized", "larger than 1024 bytes"),
        ("height_not_a_number", "latest_block_height is not a number: '23456789a'"),
        ("height_negative", "latest_block_height is not a number: -1"),
        ("bad_timestamp", "latest_block_time is not an RFC 3339 time: 'yesterday'"),
        ("no_timezone", "latest_block_time has no timezone: '2024-12-02T15:21:11.123'"),
        ("no_result", "/status has no result object"),
        ("catching_up_not_bool", "catching_up is not a boolean: 'false'"),
        ("n_peers_not_a_number", "/net_info n_peers is not a number: 'two'"),
    ],
)
async def test_invalid_responses(node: FakeRpcProvider, fault: str, expected: str) -> None:
    if fault == "not_json":
        node.get("/status", b"<html>cloudflare</html>")
    elif fault == "oversized":
        node.get("/status", {"pad": "x" * 2048, **STATUS})
    elif fault == "height_not_a_number":
        node.get("/status", status_with(latest_block_height="23456789a"))
    elif fault == "height_negative":
        node.get("/status", status_with(latest_block_height=-1))
    elif fault == "bad_timestamp":
        node.get("/status", status_with(latest_block_time="yesterday"))
    elif fault == "no_timezone":
        node.get("/status", status_with(latest_block_time="2024-12-02T15:21:11.123"))
    elif fault == "no_result":
        node.get("/status", {"jsonrpc": "2.0", "id": -1})
    elif fault == "catching_up_not_bool":
        node.get("/status", status_with(catching_up="false"))
    else:
        node.get("/net_info", {"jsonrpc": "2.0", "id": -1, "result": {"n_peers": "two"}})
    obs = await probe(node.url(), peers=True, max_body="1KiB" if fault == "oversized" else "1MiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert expected in obs.detail


def test_parse_time_keeps_microseconds_of_nanoseconds() -> None:
    assert parse_time("2019-08-01T11:52:22.818762194Z", "t") == datetime(
        2019, 8, 1, 11, 52, 22, 818762, tzinfo=UTC).timestamp()
    assert parse_time("2019-08-01T13:52:22+02:00", "t") == datetime(
        2019, 8, 1, 11, 52, 22, tzinfo=UTC).timestamp()


async def test_hanging_provider_times_out(node: FakeRpcProvider) -> None:
    node.hang = True
    obs = await probe(node.url(), timeout="500ms")
    assert obs.reason is Reason.TIMEOUT
    assert obs.latency is None and "0.5s" in obs.detail


async def test_slow_provider_is_degraded(node: FakeRpcProvider) -> None:
    node.delay = 0.02
    obs = await probe(node.url(), max_latency="1ms")
    assert obs.reason is Reason.DEGRADED


CANARY_PATH = "canary-path-0a1b2c3d4e"
CANARY_QUERY = "canary-query-5f6a7b8c9d"
CANARY_HEADER = "canary-header-e0f1a2b3c4"


@pytest.mark.parametrize("fault", ["ok", "echo", "http_403", "timeout"])
async def test_secrets_stay_out_of_observations(node: FakeRpcProvider, fault: str) -> None:
    status_path = f"/{CANARY_PATH}/status"
    node.get(status_path, STATUS)
    if fault == "echo":  # a provider quoting the request back in its error
        node.get(status_path, {"jsonrpc": "2.0", "id": -1, "error": {
            "code": -32603, "message": f"bad key {CANARY_HEADER}",
            "data": f"GET {status_path}?apikey={CANARY_QUERY}"}})
    elif fault == "http_403":
        node.fail(403, f"denied {CANARY_PATH}")
    elif fault == "timeout":
        node.hang = True
    timeout = "200ms" if fault == "timeout" else "2s"
    obs = await probe(node.url(f"/{CANARY_PATH}?apikey={CANARY_QUERY}"), timeout=timeout,
                      headers={"x-api-key": CANARY_HEADER})
    assert node.requests[0].path == status_path
    assert node.requests[0].query == f"apikey={CANARY_QUERY}"
    assert node.requests[0].headers["x-api-key"] == CANARY_HEADER
    if fault == "ok":
        assert obs.reason is Reason.OK, obs.detail
    shown = f"{obs.detail} {obs.facts!r}"
    for canary in (CANARY_PATH, CANARY_QUERY, CANARY_HEADER):
        assert canary not in shown
    if fault == "echo":
        assert obs.detail == "/status: -32603: bad key *** (GET ***/status?***)"
