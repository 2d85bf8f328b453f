"""A fake RPC provider of one simulated chain, in its kind's shape, and its faults.

The head a provider shows is the chain's, changed by its faults (in this order): `freeze`
pins it where the chain was when the freeze started; `lag` keeps it `blocks` behind the
chain's (it falls behind without stepping back: it stays where it was until the chain is
`blocks` ahead, then follows); `syncing` takes `behind` off it (and the provider says it is
syncing); `rewind` takes `blocks` off it for ONE answer (the fault then ends itself: the
provider follows the chain again). A chain's `halt` stops every provider. `wrong_chain`
changes the chain id the provider reports and `rpc_error` answers methods (all, or `method`)
with a JSON-RPC error inside an HTTP 200.

The answering faults are the venues' ones, in a provider's words: `rate_limit` is HTTP 429
(or 418) with Retry-After and the kind's rate-limit error as a JSON-RPC body, `http_5xx` a
plain-text status page, `reset`, `hang`, `garbage` and `oversized` as for venues. `latency`
delays answers; `stall_stream` silences newHeads streams.
"""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.simulate import respond
from monitor.simulate.chains import jsonrpc
from monitor.simulate.chains.base import METHOD_NOT_FOUND, JsonRpcError, RpcKind, View
from monitor.simulate.chains.chain import SimChain
from monitor.simulate.chains.heads import HeadStreams
from monitor.simulate.faults import (
    PROVIDER_KINDS,
    BlocksParams,
    Fault,
    FaultBook,
    FaultKind,
    Http5xxParams,
    NoParams,
    OversizedParams,
    RateLimitParams,
    RewindParams,
    RpcErrorParams,
    SyncingParams,
    WrongChainParams,
)

MAX_REQUEST_BODY = 256 * 1024


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None
          ) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(document),
                        content_type="application/json", headers=headers)


class RpcProvider:
    kind_name = "provider"
    fault_kinds = PROVIDER_KINDS

    def __init__(self, name: str, chain: SimChain, kind: RpcKind) -> None:
        self.name = name
        self.chain = chain
        self.kind = kind
        self.faults = FaultBook(name, scope="provider")
        self.faults.on_change(self._on_fault_change)
        self.streams = HeadStreams(self)
        self._methods = kind.methods()
        self._stopping = False
        self.app = self._build_app()

    @property
    def ws_path(self) -> str | None:
        return "/" if self.kind.websocket else None

    async def close(self) -> None:
        """Let go of every held request and close every stream, before the server stops."""
        self._stopping = True
        self.faults.clear()
        await self.streams.close()

    def check_fault(self, kind: FaultKind, params: NoParams) -> None:
        """ValueError when a fault's params cannot apply to this provider's kind."""
        if isinstance(params, WrongChainParams) and params.chain_id is not None:
            self.kind.parse_chain_id(params.chain_id)

    # -- the head --------------------------------------------------------------------------

    def view(self, *, consume: bool = True) -> View:
        """The chain as this provider shows it now. With `consume`, a pending rewind is shown
        and ends (each answer to a request is one view)."""
        chain = self.chain
        now = time.time()
        tip = chain.height_at(now)
        head = tip
        book = self.faults
        if (freeze := book.latest(FaultKind.FREEZE)) is not None:
            head = min(head, chain.height_at(freeze.started_at))
        if (lag := book.latest(FaultKind.LAG)) is not None:
            assert isinstance(lag.params, BlocksParams)
            # falls behind without stepping back: stays put until N behind, then follows
            head = min(head, max(tip - lag.params.blocks, chain.height_at(lag.started_at)))
        syncing = self._syncing()
        if syncing is not None:
            head -= syncing.behind
        if (rewind := book.latest(FaultKind.REWIND)) is not None:
            assert isinstance(rewind.params, RewindParams)
            head -= rewind.params.blocks
            if consume:
                book.remove(rewind.id)
        chain_id = chain.chain_id
        if (wrong := book.latest(FaultKind.WRONG_CHAIN)) is not None:
            assert isinstance(wrong.params, WrongChainParams)
            given = wrong.params.chain_id
            chain_id = (self.kind.other_chain_id(chain_id) if given is None
                        else self.kind.parse_chain_id(given))
        return View(chain=chain, head=max(head, 0), tip=tip, chain_id=chain_id,
                    syncing=syncing is not None, peers=self.kind.peers, now=now)

    def _syncing(self) -> SyncingParams | None:
        fault = self.faults.latest(FaultKind.SYNCING)
        if fault is not None and isinstance(fault.params, SyncingParams):
            return fault.params
        return self.chain.syncing()

    def caller(self, view: View, path: str) -> jsonrpc.Call:
        """Calls answered from `view`, with the rpc_error faults that apply to `path`."""
        errors = [fault.params for fault in self.faults.matching(path)
                  if isinstance(fault.params, RpcErrorParams)]

        def call(method: str, params: list[Any]) -> Any:
            for error in reversed(errors):
                if error.method in (None, method):
                    raise JsonRpcError(error.code, error.message, error.data)
            handler = self._methods.get(method)
            if handler is None:
                raise JsonRpcError(METHOD_NOT_FOUND, f"the method {method} does not "
                                   "exist/is not available")
            return handler(view, params)

        return call

    # -- serving ---------------------------------------------------------------------------

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._misbehave], client_max_size=MAX_REQUEST_BODY)
        app.router.add_post("/{tail:.*}", self._post)
        app.router.add_get("/{tail:.*}", self._get)
        return app

    async def _post(self, request: web.Request) -> web.Response:
        try:
            raw = await request.read()
        except ConnectionResetError:  # the client gave up while a `hang` held the request
            return web.Response(status=400)
        status, document = jsonrpc.answer(raw, self.caller(self.view(), request.path),
                                          self.kind.style)
        if document is None:
            return web.Response(status=status)
        return _json(document, status)

    async def _get(self, request: web.Request) -> web.StreamResponse:
        if self.kind.websocket and respond.is_upgrade(request):
            return await self.streams.handle(request)
        route = request.path.rstrip("/").rsplit("/", 1)[-1]
        method = self.kind.get_routes.get(route)
        if method is None:
            if self.kind.get_routes:
                return _json({"jsonrpc": "2.0", "id": self.kind.get_id, "error": {
                    "code": METHOD_NOT_FOUND, "message": "Method not found",
                    "data": f"unknown route /{route}"}}, 404)
            return web.Response(status=405, text="JSONRPC server handles only POST requests")
        call = self.caller(self.view(), request.path)
        try:
            result = call(method, [])
        except JsonRpcError as error:
            return _json({"jsonrpc": "2.0", "id": self.kind.get_id, "error": error.encode()})
        return _json({"jsonrpc": "2.0", "id": self.kind.get_id, "result": result})

    # -- faults ----------------------------------------------------------------------------

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        instead = await respond.misbehave(request, self.faults, lambda: self._stopping,
                                          lambda fault: self._answer(request, fault))
        return instead if instead is not None else await handler(request)

    async def _answer(self, request: web.Request, fault: Fault) -> web.StreamResponse:
        params = fault.params
        if isinstance(params, RateLimitParams):
            code, message = self.kind.rate_limit_error
            return _json({"jsonrpc": "2.0", "id": None,
                          "error": {"code": code, "message": message}},
                         params.status, {"Retry-After": str(params.retry_after)})
        if isinstance(params, Http5xxParams):
            if params.body is not None:
                return respond.http_5xx(params)
            return web.Response(status=params.status, text=f"{params.status} Service "
                                "Unavailable", content_type="text/plain")
        if isinstance(params, OversizedParams):
            return await respond.oversized(request, params)
        if fault.kind is FaultKind.GARBAGE:
            return respond.garbage()
        return respond.abort(request)  # reset

    def _on_fault_change(self) -> None:
        if any(fault.kind is FaultKind.RESET for fault in self.faults):
            self.streams.abort_all()

    def state(self, url: str | None, ws_url: str | None) -> dict[str, Any]:
        return {"kind": self.kind.name, "chain": self.chain.name, "url": url, "ws_url": ws_url,
                "head": self.view(consume=False).head,
                "faults": [fault.to_json() for fault in self.faults]}
