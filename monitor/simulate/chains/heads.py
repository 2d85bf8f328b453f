"""newHeads over WebSocket (eth_subscribe), for the providers of kinds that have it (EVM).

A connection answers eth_subscribe ["newHeads"] with a subscription id and then pushes the
provider's head each time it changes (as geth does: new heads only, none on subscribe);
eth_unsubscribe ends a subscription; any other request is answered as over HTTP. Faults:
stall_stream silences the pushes, reset aborts open connections (the handshake itself goes
through the provider's faults like any request).
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from typing import TYPE_CHECKING, Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from monitor.simulate.chains import jsonrpc
from monitor.simulate.chains.base import INVALID_PARAMS, JsonRpcError
from monitor.simulate.faults import FaultKind

if TYPE_CHECKING:
    from monitor.simulate.chains.provider import RpcProvider

MAX_CLIENT_MESSAGE = 64 * 1024
CLOSE_TIMEOUT = 0.2
MIN_TICK, MAX_TICK = 0.02, 0.5  # how often a connection looks at the head


class HeadStreams:
    """The open WebSocket connections of one provider."""

    def __init__(self, provider: RpcProvider) -> None:
        self._provider = provider
        self._sockets: dict[web.WebSocketResponse, web.BaseRequest] = {}
        block_time = provider.chain.block_time
        self._tick = min(max(block_time / 4, MIN_TICK), MAX_TICK)

    @property
    def open_count(self) -> int:
        return len(self._sockets)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_CLIENT_MESSAGE, timeout=CLOSE_TIMEOUT)
        await ws.prepare(request)
        self._sockets[ws] = request
        subscriptions: set[str] = set()
        pusher = asyncio.create_task(self._push(ws, subscriptions))
        try:
            async for message in ws:
                if message.type is not WSMsgType.TEXT:
                    continue
                reply = self._answer(message.data, subscriptions)
                if reply is not None:
                    await ws.send_str(reply)
        except ConnectionError:
            pass
        finally:
            pusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pusher
            self._sockets.pop(ws, None)
        return ws

    def _answer(self, text: str, subscriptions: set[str]) -> str | None:
        provider = self._provider
        view = provider.view()
        base = provider.caller(view, "/")

        def call(method: str, params: list[Any]) -> Any:
            if method == "eth_subscribe":
                if params[:1] != ["newHeads"]:
                    raise JsonRpcError(INVALID_PARAMS, f"no {params[:1]!r} subscription in "
                                       "eth namespace")
                subscription = "0x" + secrets.token_hex(16)
                subscriptions.add(subscription)
                return subscription
            if method == "eth_unsubscribe":
                found = bool(params) and params[0] in subscriptions
                subscriptions.discard(params[0] if params else "")
                return found
            return base(method, params)

        _, document = jsonrpc.answer(text.encode(), call, provider.kind.style)
        return None if document is None else orjson.dumps(document).decode()

    async def _push(self, ws: web.WebSocketResponse, subscriptions: set[str]) -> None:
        provider = self._provider
        last = provider.view(consume=False).head
        while not ws.closed:
            await asyncio.sleep(self._tick)
            if provider.faults.latest(FaultKind.STALL_STREAM) is not None:
                continue
            view = provider.view(consume=False)
            if view.head == last:
                continue
            last = view.head
            header = provider.kind.new_head(view, view.head)
            for subscription in list(subscriptions):
                frame = {"jsonrpc": "2.0", "method": "eth_subscription",
                         "params": {"subscription": subscription, "result": header}}
                try:
                    await ws.send_str(orjson.dumps(frame).decode())
                except ConnectionError:
                    return

    def abort_all(self) -> None:
        for request in list(self._sockets.values()):
            if request.transport is not None:
                request.transport.abort()

    async def close(self) -> None:
        async def close_one(ws: web.WebSocketResponse, request: web.BaseRequest) -> None:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT * 2):
                    await ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator stopping")
            except TimeoutError:
                if request.transport is not None:
                    request.transport.abort()

        await asyncio.gather(*(close_one(ws, request)
                               for ws, request in list(self._sockets.items())))

