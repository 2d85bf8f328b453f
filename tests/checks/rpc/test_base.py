"""JsonRpcClient (checks/rpc/base.py) against a fake provider on 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson
import pytest

from checks.rpc.base import (
    MAX_ERROR_BODY,
    MAX_ERROR_TEXT,
    JsonRpcClient,
    RpcError,
    RpcFailure,
    RpcTimings,
    rate_limited,
)
from monitor.observation import Fact, Reason
from monitor.redact import SECRETS
from tests.fakes.jsonrpc import FakeRpcProvider, fixture

USER_AGENT = "outagemon-test"
JSON = {"Content-Type": "application/json"}
WARMUP = {"code": -28, "message": "Loading block index…"}


@pytest.fixture
async def node() -> AsyncIterator[FakeRpcProvider]:
    async with FakeRpcProvider() as provider:
        yield provider


def client(node: FakeRpcProvider, max_body: int = 1024 * 1024) -> JsonRpcClient:
    return JsonRpcClient(node.url("/key"), headers={"x-api-key": "k"}, max_body=max_body,
                         user_agent=USER_AGENT)


async def call(node: FakeRpcProvider, calls: Sequence[tuple[str, Any]], *,
               max_body: int = 1024 * 1024, timings: RpcTimings | None = None) -> list[Any]:
    rpc = client(node, max_body)
    async with rpc.session() as session:
        return await rpc.call(session, calls, timings)


async def failure(node: FakeRpcProvider, calls: Sequence[tuple[str, Any]] = (("m", []),),
                  **options: Any) -> RpcFailure:
    with pytest.raises(RpcFailure) as raised:
        await call(node, calls, **options)
    return raised.value


def error_reply(error: dict[str, Any], call_id: Any = 1) -> bytes:
    return orjson.dumps({"result": None, "error": error, "id": call_id})


# -- requests and replies --------------------------------------------------------------------

async def test_several_calls_go_in_one_batch(node: FakeRpcProvider) -> None:
    node.result("getSlot", 7)
    node.error("getHealth", -32005, "Node is behind by 3 slots", {"numSlotsBehind": 3})
    replies = await call(node, [("getSlot", [{"commitment": "processed"}]), ("getHealth", [])])
    assert replies == [7, RpcError(-32005, "Node is behind by 3 slots", {"numSlotsBehind": 3})]
    [request] = node.requests
    assert request.is_batch and request.path == "/key"
    assert request.payload == [
        {"jsonrpc": "2.0", "id": 1, "method": "getSlot", "params": [{"commitment": "processed"}]},
        {"jsonrpc": "2.0", "id": 2, "method": "getHealth", "params": []},
    ]
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["User-Agent"] == USER_AGENT and request.headers["x-api-key"] == "k"


async def test_batch_replies_are_matched_by_id(node: FakeRpcProvider) -> None:
    node.raw_body = orjson.dumps([{"jsonrpc": "2.0", "id": 2, "result": "second"},
                                  {"jsonrpc": "2.0", "id": 1, "result": "first"}])
    assert await call(node, [("a", []), ("b", [])]) == ["first", "second"]


async def test_a_missing_batch_reply_is_invalid(node: FakeRpcProvider) -> None:
    node.raw_body = orjson.dumps([{"jsonrpc": "2.0", "id": 1, "result": "first"}])
    failed = await failure(node, [("a", []), ("b", [])])
    assert failed.reason is Reason.INVALID_RESPONSE and failed.detail == "no reply to b"


async def test_one_call_is_a_single_request(node: FakeRpcProvider) -> None:
    node.result("getblockcount", 871234)
    timings = RpcTimings()
    assert await call(node, [("getblockcount", [])], timings=timings) == [871234]
    [request] = node.requests
    assert not request.is_batch
    assert request.payload == {"jsonrpc": "2.0", "id": 1, "method": "getblockcount",
                               "params": []}
    assert timings.status == 200 and timings.latency is not None and timings.latency > 0


async def test_an_error_without_id_answers_a_single_request(node: FakeRpcProvider) -> None:
    node.raw_body = orjson.dumps({"jsonrpc": "2.0", "id": None,
                                  "error": {"code": -32700, "message": "Parse error"}})
    assert await call(node, [("m", [])]) == [RpcError(-32700, "Parse error")]


@pytest.mark.parametrize("batch", [False, True])
@pytest.mark.parametrize("reply_id", [[1], {"id": 1}, 1.5])
async def test_invalid_ids_are_invalid(node: FakeRpcProvider, batch: bool,
                                       reply_id: Any) -> None:
    reply = {"jsonrpc": "2.0", "id": reply_id, "result": 1}
    node.raw_body = orjson.dumps([reply] if batch else reply)
    failed = await failure(node, [("a", []), ("b", [])] if batch else [("a", [])])
    assert failed.reason is Reason.INVALID_RESPONSE
    assert failed.detail == "JSON-RPC reply has an invalid id"


async def test_a_reply_that_is_not_an_object_is_invalid(node: FakeRpcProvider) -> None:
    node.raw_body = b"[1, 2]"
    failed = await failure(node, [("a", []), ("b", [])])
    assert failed.reason is Reason.INVALID_RESPONSE
    assert failed.detail == "JSON-RPC reply is not an object"


async def test_secret_at_the_cut_of_a_long_error_is_masked(node: FakeRpcProvider) -> None:
    secret = "provider-key-0123456789abcdef"
    SECRETS.add([secret])
    # "-32000: " and 285 characters: the secret straddles the MAX_DETAIL (300) cut.
    node.error("eth_call", -32000, "x" * 285 + secret + "y" * 2 * MAX_ERROR_TEXT)
    [error] = await call(node, [("eth_call", [])])
    assert isinstance(error, RpcError)
    assert len(error.message) == MAX_ERROR_TEXT
    assert str(error) == "-32000: " + "x" * 285 + "***" + "yyyy"


async def test_get_returns_the_document(node: FakeRpcProvider) -> None:
    node.get("/key/status", {"result": {"node_info": {}}})
    rpc = client(node)
    async with rpc.session() as session:
        assert await rpc.get(session, node.url("/key/status")) == {"result": {"node_info": {}}}
    assert node.requests[0].http_method == "GET"


# -- HTTP errors -----------------------------------------------------------------------------

async def test_bitcoin_core_before_28_http_500_is_the_rpc_error(node: FakeRpcProvider) -> None:
    node.legacy_errors = True
    node.reply("getblockchaininfo", fixture("bitcoin", "error_warmup.json"))
    timings = RpcTimings()
    replies = await call(node, [("getblockchaininfo", [])], timings=timings)
    assert replies == [RpcError(-28, "Loading block index…")]
    assert timings.status == 500 and timings.latency is not None


async def test_bitcoin_core_before_28_http_404_is_method_not_found(
        node: FakeRpcProvider) -> None:
    node.legacy_errors = True
    timings = RpcTimings()
    assert await call(node, [("getdeploymentinfo", [])], timings=timings) == [
        RpcError(-32601, "Method not found")]
    assert timings.status == 404


async def test_rate_limit_text_in_an_http_500_error(node: FakeRpcProvider) -> None:
    node.legacy_errors = True
    node.error("getblockchaininfo", -32000, "daily request limit reached, upgrade your plan")
    [error] = await call(node, [("getblockchaininfo", [])])
    assert isinstance(error, RpcError) and rate_limited(error)


async def test_get_of_an_http_500_rpc_error_returns_the_document(node: FakeRpcProvider) -> None:
    document = {"jsonrpc": "2.0", "id": -1, "error": {
        "code": -32603, "message": "Internal error", "data": "net_info is disabled"}}
    node.get("/net_info", document, status=500)
    rpc = client(node)
    async with rpc.session() as session:
        assert await rpc.get(session, node.url("/net_info")) == document


@pytest.mark.parametrize(("status", "body", "headers", "reason"), [
    (500, b"<html>Internal Server Error</html>", {"Content-Type": "text/html"},
     Reason.HTTP_5XX),
    (500, error_reply(WARMUP), {"Content-Type": "text/plain"}, Reason.HTTP_5XX),
    (500, error_reply(WARMUP), {}, Reason.HTTP_5XX),  # application/octet-stream
    (502, b'{"error": "bad gateway"}', JSON, Reason.HTTP_5XX),
    (500, b'{"error": {"code": "-28", "message": "warming up"}}', JSON, Reason.HTTP_5XX),
    (500, b'{"error": {"code": true, "message": "warming up"}}', JSON, Reason.HTTP_5XX),
    (500, b'{"error": {"code": -28}}', JSON, Reason.HTTP_5XX),
    (500, b'{"result": null, "error": ', JSON, Reason.HTTP_5XX),
    (503, error_reply({"code": -1, "message": "x" * MAX_ERROR_BODY}), JSON, Reason.HTTP_5XX),
    (400, b"batch requests are not supported", {"Content-Type": "text/plain"},
     Reason.HTTP_4XX),
])
async def test_other_http_errors_keep_their_status(node: FakeRpcProvider, status: int,
                                                   body: bytes, headers: dict[str, str],
                                                   reason: Reason) -> None:
    node.fail(status, body, headers=headers)
    failed = await failure(node)
    assert failed.reason is reason
    assert failed.detail == f"HTTP {status}"
    assert failed.facts() == {Fact.HTTP_STATUS: status}


@pytest.mark.parametrize("body", [b"Too Many Requests",
                                  error_reply({"code": 429, "message": "Too Many Requests"})])
async def test_http_429_is_rate_limited_with_retry_after(node: FakeRpcProvider,
                                                         body: bytes) -> None:
    node.fail(429, body, headers={"Retry-After": "7", **JSON})
    failed = await failure(node)
    assert failed.reason is Reason.RATE_LIMITED
    assert failed.detail == "HTTP 429: rate limited"
    assert failed.facts() == {Fact.RETRY_AFTER: 7.0, Fact.HTTP_STATUS: 429}


@pytest.mark.parametrize("status", [401, 402, 403])
async def test_refused_key_stays_http_4xx_whatever_the_body(node: FakeRpcProvider,
                                                            status: int) -> None:
    node.fail(status, error_reply({"code": -32600, "message": "Must be authenticated!"}),
              headers=JSON)
    failed = await failure(node)
    assert failed.reason is Reason.HTTP_4XX
    assert failed.detail == (f"HTTP {status}: the provider refused the request "
                             "(API key, plan or quota?)")


# -- bodies ----------------------------------------------------------------------------------

async def test_non_json_is_invalid(node: FakeRpcProvider) -> None:
    node.raw_body = b"<html>Cloudflare</html>"
    timings = RpcTimings()
    failed = await failure(node, timings=timings)
    assert failed.reason is Reason.INVALID_RESPONSE and failed.detail == "body is not JSON"
    assert timings.status == 200


async def test_oversized_body_is_invalid(node: FakeRpcProvider) -> None:
    node.raw_body = b'{"jsonrpc": "2.0", "id": 1, "result": "' + b"x" * 2048 + b'"}'
    failed = await failure(node, max_body=1024)
    assert failed.reason is Reason.INVALID_RESPONSE
    assert failed.detail == "body larger than 1024 bytes"
