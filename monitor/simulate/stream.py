"""The simulated exchange's WebSocket trade stream (Binance raw-stream protocol).

A client sends {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}, gets
{"result": null, "id": 1}, then one trade event per subscribed symbol per tick. Faults act on
open streams: latency delays each message (its event time stays, so event lag grows),
stall_stream silences the stream, reset aborts the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

from monitor.simulate.faults import FaultBook, FaultKind
from monitor.simulate.market import Market

CLOSE_TIMEOUT = 0.2  # seconds to wait for the client's close frame when we close
MAX_CLIENT_MESSAGE = 64 * 1024
MAX_QUEUED = 10_000  # messages held back by a latency fault before new ones are dropped


def _error(code: int, msg: str, request_id: Any) -> bytes:
    return orjson.dumps({"error": {"code": code, "msg": msg}, "id": request_id})


class StreamConnection:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse) -> None:
        self.path = request.path
        self.ws = ws
        self.transport = request.transport
        self.symbols: list[str] = []
        # (monotonic time due, payload): a FIFO so that delayed messages keep their order.
        self.outbox: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue(MAX_QUEUED)

    def post(self, payload: bytes, due: float = 0.0) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait((due, payload))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def close(self) -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT * 2):
                await self.ws.close(code=WSCloseCode.GOING_AWAY, message=b"simulator stopping")
        except TimeoutError:
            self.abort()


class TradeStreams:
    """All open trade streams of one venue."""

    def __init__(self, market: Market, faults: FaultBook, *, rate: float) -> None:
        if rate <= 0:
            raise ValueError(f"trade rate must be positive, got {rate}")
        self._market = market
        self._faults = faults
        self._interval = 1.0 / rate
        self._connections: set[StreamConnection] = set()
        faults.on_change(self._reset_if_told)

    @property
    def open_count(self) -> int:
        return len(self._connections)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT, max_msg_size=MAX_CLIENT_MESSAGE)
        await ws.prepare(request)
        conn = StreamConnection(request, ws)
        stream = request.match_info.get("stream")
        if stream:  # /ws/<symbol>@trade subscribes through the URL
            self._subscribe(conn, [stream])
        self._connections.add(conn)
        tasks = [asyncio.create_task(self._publish(conn)), asyncio.create_task(self._send(conn))]
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    conn.post(self._command(conn, message.data))
        finally:
            self._connections.discard(conn)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        return ws

    async def close(self) -> None:
        await asyncio.gather(*(conn.close() for conn in list(self._connections)))

    def _reset_if_told(self) -> None:
        for conn in list(self._connections):
            if self._faults.active(FaultKind.RESET, conn.path) is not None:
                conn.abort()

    def _command(self, conn: StreamConnection, text: str) -> bytes:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return _error(3, "Invalid JSON: expected value", None)
        if not isinstance(request, dict):
            return _error(2, "Invalid request: expected an object", None)
        request_id = request.get("id")
        method = request.get("method")
        params = request.get("params", [])
        if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
            return _error(1, "Invalid value type: expected a list of stream names", request_id)
        if method == "SUBSCRIBE":
            problem = self._subscribe(conn, params)
        elif method == "UNSUBSCRIBE":
            problem = self._unsubscribe(conn, params)
        elif method == "LIST_SUBSCRIPTIONS":
            streams = [f"{symbol.lower()}@trade" for symbol in conn.symbols]
            return orjson.dumps({"result": streams, "id": request_id})
        else:
            problem = f"unknown method {method!r}"
        if problem:
            return _error(2, f"Invalid request: {problem}", request_id)
        return orjson.dumps({"result": None, "id": request_id})

    def _symbols(self, streams: list[str]) -> list[str] | str:
        symbols = []
        for stream in streams:
            symbol, _, kind = stream.partition("@")
            if kind != "trade" or not self._market.lists(symbol.upper()):
                return f"unsupported stream {stream!r}"
            symbols.append(symbol.upper())
        return symbols

    def _subscribe(self, conn: StreamConnection, streams: list[str]) -> str | None:
        symbols = self._symbols(streams)
        if isinstance(symbols, str):
            return symbols
        conn.symbols.extend(symbol for symbol in symbols if symbol not in conn.symbols)
        return None

    def _unsubscribe(self, conn: StreamConnection, streams: list[str]) -> str | None:
        symbols = self._symbols(streams)
        if isinstance(symbols, str):
            return symbols
        conn.symbols[:] = [symbol for symbol in conn.symbols if symbol not in symbols]
        return None

    async def _publish(self, conn: StreamConnection) -> None:
        loop = asyncio.get_running_loop()
        tick = loop.time()
        while True:
            # Keep a steady rate, but never burst to catch up after a slow loop.
            tick = max(tick + self._interval, loop.time())
            await asyncio.sleep(tick - loop.time())
            if self._faults.active(FaultKind.STALL_STREAM, conn.path) is not None:
                continue
            due = loop.time() + self._faults.delay(conn.path)
            for symbol in conn.symbols:
                conn.post(orjson.dumps(self._market.trade(symbol)), due)

    async def _send(self, conn: StreamConnection) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due, payload = await conn.outbox.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await conn.ws.send_str(payload.decode())
            except ConnectionError:
                return
