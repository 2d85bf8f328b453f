"""The simulated venue's WebSocket streams, in the venue's own shape.

The shape answers what clients send (subscribe, ping) and renders every frame; this module
runs the connections: one trade per subscribed market per tick, broadcast to every subscriber
(so trade ids stay consecutive per connection), heartbeats, the status channel, and the
venue's keepalive rule as the server enforces it. Faults act on open streams: latency delays
each message (its event time stays, so event lag grows), stall_stream silences trades and
heartbeats (pings are still answered), maintenance stops trading, reset aborts the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
import structlog
from aiohttp import WSCloseCode, WSMsgType, web

from monitor.simulate.faults import FaultBook, FaultKind
from monitor.simulate.market import Tape
from monitor.simulate.venues.base import Client, Frame, ServerKeepalive, Shape

CLOSE_TIMEOUT = 0.2  # seconds to wait for the client's close frame when we close
MAX_CLIENT_MESSAGE = 64 * 1024
MAX_QUEUED = 10_000  # messages held back by a latency fault before new ones are dropped
MIN_GUARD_INTERVAL = 0.005
MAX_GUARD_INTERVAL = 1.0
MAX_DROPS_KEPT = 100

log = structlog.get_logger("outagemon.simulate")


def encode(frame: Frame) -> str:
    return frame if isinstance(frame, str) else orjson.dumps(frame).decode()


class StreamConnection:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse, client: Client) -> None:
        self.path = request.path
        self.ws = ws
        self.client = client
        self.transport = request.transport
        self.maintenance = False  # as last told through the status channel
        self.dropping = False
        self.last_server_ping = time.monotonic()
        # (monotonic time due, text): a FIFO so that delayed messages keep their order.
        self.outbox: asyncio.Queue[tuple[float, str]] = asyncio.Queue(MAX_QUEUED)

    def post(self, frame: Frame, due: float = 0.0) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.outbox.put_nowait((due, encode(frame)))

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def close(self, code: int = WSCloseCode.GOING_AWAY,
                    message: bytes = b"simulator stopping") -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT * 2):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            self.abort()


class TradeStreams:
    """All open streams of one venue."""

    def __init__(self, shape: Shape, tape: Tape, faults: FaultBook, *, rate: float,
                 keepalive: ServerKeepalive, tokens: set[str]) -> None:
        if rate <= 0:
            raise ValueError(f"trade rate must be positive, got {rate}")
        self._shape = shape
        self._tape = tape
        self._faults = faults
        self._interval = 1.0 / rate
        self._keepalive = keepalive
        self._tokens = tokens
        self._connections: set[StreamConnection] = set()
        self._loops: list[asyncio.Task[None]] = []
        self._spawned: set[asyncio.Task[None]] = set()
        # Why the keepalive rule closed connections, latest last.
        self.dropped: deque[str] = deque(maxlen=MAX_DROPS_KEPT)
        faults.on_change(self._on_fault_change)

    @property
    def open_count(self) -> int:
        return len(self._connections)

    @property
    def clients(self) -> list[Client]:
        return [conn.client for conn in self._connections]

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        # autoping off: pongs to our pings are seen (keepalive), pings are answered below.
        ws = web.WebSocketResponse(timeout=CLOSE_TIMEOUT, max_msg_size=MAX_CLIENT_MESSAGE,
                                   autoping=False)
        await ws.prepare(request)
        client = Client(tape=self._tape, query=dict(request.query), tokens=self._tokens)
        conn = StreamConnection(request, ws, client)
        frames = self._shape.on_open(client)
        if client.refused is not None:
            for frame in frames:
                await ws.send_str(encode(frame))
            await conn.close(WSCloseCode.POLICY_VIOLATION, client.refused.encode())
            return ws
        conn.maintenance = self._in_maintenance(conn)
        status = self._shape.status_frame(client, conn.maintenance)
        for frame in [*frames, *([status] if status is not None else [])]:
            conn.post(frame)
        stream = request.match_info.get("stream")
        if stream:  # a subscription in the URL (Binance's /ws/<symbol>@trade)
            self._shape.on_url(client, stream)
        self._connections.add(conn)
        self._start_background()
        sender = asyncio.create_task(self._send(conn))
        try:
            await self._receive(conn)
        finally:
            self._connections.discard(conn)
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
        return ws

    async def _receive(self, conn: StreamConnection) -> None:
        async for message in conn.ws:
            if message.type is WSMsgType.TEXT:
                for frame in self._shape.on_message(conn.client, message.data):
                    conn.post(frame)
            elif message.type is WSMsgType.PING:
                await conn.ws.pong(message.data)
            elif message.type is WSMsgType.PONG:
                conn.client.last_pong = time.monotonic()
                conn.client.pongs += 1

    async def close(self) -> None:
        tasks = [*self._loops, *self._spawned]
        self._loops, self._spawned = [], set()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.gather(*(conn.close() for conn in list(self._connections)))

    # -- faults ----------------------------------------------------------------------------

    def _stalled(self, conn: StreamConnection) -> bool:
        return self._faults.active(FaultKind.STALL_STREAM, conn.path) is not None

    def _in_maintenance(self, conn: StreamConnection) -> bool:
        return self._faults.active(FaultKind.MAINTENANCE, conn.path) is not None

    def _on_fault_change(self) -> None:
        for conn in list(self._connections):
            if self._faults.active(FaultKind.RESET, conn.path) is not None:
                conn.abort()
                continue
            maintenance = self._in_maintenance(conn)
            if maintenance != conn.maintenance:
                conn.maintenance = maintenance
                frame = self._shape.status_frame(conn.client, maintenance)
                if frame is not None:
                    conn.post(frame, self._due(conn))

    def _due(self, conn: StreamConnection) -> float:
        return time.monotonic() + self._faults.delay(conn.path)

    # -- background work -------------------------------------------------------------------

    def _start_background(self) -> None:
        if self._loops:
            return
        loops: list[tuple[Callable[[], None], float]] = [(self._trade, self._interval)]
        if self._shape.heartbeat_every is not None:
            loops.append((self._heartbeat, self._shape.heartbeat_every))
        window = self._keepalive.window
        if window is not None or self._keepalive.ping_every is not None:
            shortest = min(limit for limit in (window, self._keepalive.ping_every)
                           if limit is not None)
            interval = min(max(shortest / 10, MIN_GUARD_INTERVAL), MAX_GUARD_INTERVAL)
            loops.append((self._guard, interval))
        self._loops = [asyncio.create_task(self._every(interval, step))
                       for step, interval in loops]

    async def _every(self, interval: float, step: Callable[[], None]) -> None:
        loop = asyncio.get_running_loop()
        # A random phase, so that venues started together do not tick together.
        tick = loop.time() + random.random() * interval
        while True:
            # Keep a steady rate, but never burst to catch up after a slow loop.
            tick = max(tick + interval, loop.time())
            await asyncio.sleep(tick - loop.time())
            try:
                step()
            except Exception:  # a broken shape must not silence the venue for good
                log.exception("simulated stream step failed", shape=self._shape.name)

    def _trade(self) -> None:
        live = [conn for conn in self._connections
                if not self._stalled(conn) and not self._in_maintenance(conn)]
        for market in {market for conn in live for market in conn.client.markets}:
            trade = self._tape.trade(market)
            for conn in live:
                if market in conn.client.markets:
                    conn.post(self._shape.trade_frame(conn.client, trade), self._due(conn))

    def _heartbeat(self) -> None:
        now = time.monotonic()
        for conn in list(self._connections):
            if self._stalled(conn):
                continue
            frame = self._shape.heartbeat_frame(conn.client, now)
            if frame is not None:
                conn.post(frame, self._due(conn))

    def _guard(self) -> None:
        now = time.monotonic()
        rule = self._keepalive
        for conn in list(self._connections):
            if conn.dropping:
                continue
            why = violation(rule, conn.client, now)
            if why is not None:
                conn.dropping = True
                self.dropped.append(why)
                self._spawn(conn.close(WSCloseCode.POLICY_VIOLATION, why.encode()))
            elif rule.ping_every is not None and now - conn.last_server_ping >= rule.ping_every:
                conn.last_server_ping = now
                self._spawn(self._ping(conn))

    async def _ping(self, conn: StreamConnection) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await conn.ws.ping(b"")

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)

    async def _send(self, conn: StreamConnection) -> None:
        while True:
            due, text = await conn.outbox.get()
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await conn.ws.send_str(text)
            except ConnectionError:
                return
            conn.client.last_sent = time.monotonic()


def violation(rule: ServerKeepalive, client: Client, now: float) -> str | None:
    """Why the venue drops `client` now under `rule`; None while it follows the rule."""
    if (rule.subscribe_within is not None and not client.subscribed
            and now - client.opened >= rule.subscribe_within):
        return f"no subscription within {rule.subscribe_within:g} s"
    if rule.idle_after is not None and now - client.last_sent >= rule.idle_after:
        return f"nothing to send for {rule.idle_after:g} s"
    if rule.client_ping_within is not None and now - client.last_ping >= rule.client_ping_within:
        return f"no ping for {rule.client_ping_within:g} s"
    if rule.pong_within is not None and now - client.last_pong >= rule.pong_within:
        return f"no pong for {rule.pong_within:g} s"
    return None
