"""A fake blockchain RPC provider on 127.0.0.1: JSON-RPC 2.0 over POST and plain JSON GETs.

    async with FakeRpcProvider(evm_defaults()) as node:     # a healthy Ethereum mainnet node
        node.reply("eth_syncing", fixture("evm", "eth_syncing_progress.json"))
        ... node.url("/v3/<key>?x=1") ...                   # any path is served

JSON-RPC (POST to any path, so provider URLs with a key in the path work): `result(method,
value)`, `error(method, code, message, data)` or `handle(method, fn)` set the answer to a
method; `fn(params, request)` returns the result, or an `Error` to answer with. `reply(method,
document)` takes a whole documented response (`{"jsonrpc", "id", "result"|"error"}`, as in
tests/fixtures/rpc/<chain>/) and serves its result or error. Unknown methods get -32601.
`batches` says how a batch is answered: "answer" item by item, "error" with one error object
(id null, as providers without batch support do), "http400" with HTTP 400. `legacy_errors`
answers a single request whose answer is an error as Bitcoin Core before 28.0 does: HTTP 500
(404 for -32601, 400 for -32600) with the error in a legacy reply as the JSON body.

GET: `get(path, body, status=200)` serves a JSON document (anything but bytes/str is encoded
as JSON); unknown paths are 404.

Faults, for every request whatever its method: `fail(status, body, headers)` answers with that
HTTP status (e.g. a 429 with Retry-After); `raw_body` answers 200 with those bytes (non-JSON,
oversized); `delay` waits before answering; `hang` never answers (the connection stays open
until the client gives up or the provider stops).

Every request is recorded in `requests`; `rpc_calls` lists the JSON-RPC methods asked, in
order, batches flattened.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

import aiohttp
import orjson
from aiohttp import web
from multidict import CIMultiDict

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "rpc"

BatchMode = Literal["answer", "error", "http400"]
BATCH_NOT_SUPPORTED = {"code": -32600, "message": "batch requests are not supported"}
# Bitcoin Core's HTTP status for a failed single request before 28.0 (src/httprpc.cpp).
_LEGACY_ERROR_STATUS = {-32600: 400, -32601: 404}


def fixture(chain: str, name: str) -> Any:
    """A JSON fixture from tests/fixtures/rpc/<chain>/<name>."""
    return orjson.loads((FIXTURES / chain / name).read_bytes())


def fixture_result(chain: str, name: str) -> Any:
    """The `result` of a fixture holding a whole JSON-RPC response."""
    return fixture(chain, name)["result"]


def evm_defaults(chain_id: int = 1) -> dict[str, Any]:
    """Results of a healthy, synced EVM node (the block is a recorded anvil block)."""
    return {
        "eth_chainId": hex(chain_id),
        "eth_getBlockByNumber": fixture_result("evm", "eth_getBlockByNumber_latest.json"),
        "eth_syncing": False,
        "net_peerCount": fixture_result("evm", "net_peerCount.json"),
    }


@dataclass(frozen=True)
class Error:
    """A JSON-RPC error object to answer with."""

    code: int
    message: str
    data: Any = None

    def encode(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error


Handler = Callable[[Any, web.Request], Any]


@dataclass
class Recorded:
    http_method: str
    path: str
    query: str
    headers: Mapping[str, str]  # case-insensitive
    payload: Any  # the decoded request body (None if there was none or it was not JSON)

    @property
    def rpc_methods(self) -> list[str]:
        calls = self.payload if isinstance(self.payload, list) else [self.payload]
        return [call["method"] for call in calls
                if isinstance(call, dict) and isinstance(call.get("method"), str)]

    @property
    def is_batch(self) -> bool:
        return isinstance(self.payload, list)


class FakeRpcProvider:
    def __init__(self, results: Mapping[str, Any] | None = None) -> None:
        self._methods: dict[str, Handler] = {}
        self._paths: dict[str, tuple[int, Any]] = {}
        self.batches: BatchMode = "answer"
        self.legacy_errors = False
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self.body: Any = b""
        self.raw_body: bytes | None = None
        self.delay = 0.0
        self.hang = False
        self.requests: list[Recorded] = []
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0
        for method, value in (results or {}).items():
            self.result(method, value)

    # -- configuration -------------------------------------------------------------------

    def result(self, method: str, value: Any) -> None:
        self._methods[method] = lambda _params, _request: value

    def error(self, method: str, code: int, message: str, data: Any = None) -> None:
        answer = Error(code, message, data)
        self._methods[method] = lambda _params, _request: answer

    def handle(self, method: str, handler: Handler) -> None:
        self._methods[method] = handler

    def reply(self, method: str, document: Mapping[str, Any]) -> None:
        """Serve a documented JSON-RPC response's result or error for `method`."""
        error = document.get("error")
        if error is not None:
            self.error(method, error["code"], error["message"], error.get("data"))
        else:
            self.result(method, document["result"])

    def get(self, path: str, body: Any, status: int = 200) -> None:
        self._paths[path] = (status, body)

    def fail(self, status: int, body: Any = b"", headers: Mapping[str, str] | None = None) -> None:
        """Answer every request with this HTTP status (and body, headers)."""
        self.status, self.body, self.headers = status, body, dict(headers or {})

    @property
    def rpc_calls(self) -> list[str]:
        return [method for request in self.requests for method in request.rpc_methods]

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    # -- serving -------------------------------------------------------------------------

    async def __aenter__(self) -> FakeRpcProvider:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        recorded = Recorded(request.method, request.path, request.query_string,
                            CIMultiDict(request.headers), _decode(await request.read()))
        self.requests.append(recorded)
        if self.hang:
            await self._closing.wait()
            raise web.HTTPServiceUnavailable()
        if self.delay:
            await asyncio.sleep(self.delay)  # a slow provider, not synchronisation
        if self.status is not None:
            return web.Response(status=self.status, body=_encode(self.body), headers=self.headers)
        if self.raw_body is not None:
            return web.Response(body=self.raw_body, content_type="application/json")
        if request.method == "GET":
            status, document = self._paths.get(request.path, (404, {"error": "not found"}))
            return web.Response(status=status, body=_encode(document),
                                content_type="application/json")
        return self._json_rpc(recorded.payload, request)

    def _json_rpc(self, payload: Any, request: web.Request) -> web.Response:
        if payload is None:
            return _json(_error_reply(None, {"code": -32700, "message": "Parse error"}))
        if isinstance(payload, list):
            if self.batches == "http400":
                return web.Response(status=400, text="batch requests are not supported")
            if self.batches == "error":
                return _json(_error_reply(None, BATCH_NOT_SUPPORTED))
            return _json([self._answer(item, request) for item in payload])
        reply = self._answer(payload, request)
        if self.legacy_errors and "error" in reply:
            error = reply["error"]
            return _json({"result": None, "error": error, "id": reply["id"]},
                         status=_LEGACY_ERROR_STATUS.get(error["code"], 500))
        return _json(reply)

    def _answer(self, call: Any, request: web.Request) -> dict[str, Any]:
        if not isinstance(call, dict) or not isinstance(call.get("method"), str):
            return _error_reply(None, {"code": -32600, "message": "Invalid Request"})
        call_id = call.get("id")
        handler = self._methods.get(call["method"])
        if handler is None:
            return _error_reply(call_id, {"code": -32601, "message": "Method not found"})
        answer = handler(call.get("params"), request)
        if isinstance(answer, Error):
            return _error_reply(call_id, answer.encode())
        return {"jsonrpc": "2.0", "id": call_id, "result": answer}


def _decode(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return None


def _encode(body: Any) -> bytes:
    if isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode()
    return orjson.dumps(body)


def _error_reply(call_id: Any, error: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": call_id, "error": error}


def _json(document: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document),
                        content_type="application/json")


def forwarding_app(upstream: str, seen: list[Recorded]) -> web.Application:
    """POSTs to any path are forwarded to `upstream` (a real node such as anvil, which only
    serves `/`), so a provider URL with a key in its path or query can point at it. Each
    request is recorded in `seen` first."""

    async def forward(request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        seen.append(Recorded(request.method, request.path, request.query_string,
                             CIMultiDict(request.headers), _decode(raw)))
        async with aiohttp.ClientSession() as session, session.post(
                upstream, data=raw, headers={"Content-Type": "application/json"},
                timeout=aiohttp.ClientTimeout(total=5)) as response:
            body = await response.read()
            return web.Response(status=response.status, body=body,
                                content_type="application/json")

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", forward)
    return app
