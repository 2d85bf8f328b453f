"""A fake exchange venue on 127.0.0.1: REST answers per path and one WebSocket endpoint.

REST: `venue.rest(path, reply)` serves a `Reply` (status, headers, body) or a function of the
request returning one; call it again at any time to change the answer. Unknown paths are 404.

WebSocket (at `ws_path`): every text frame a client sends is recorded and handed to
`on_frame(client, text)`, which may answer with `await client.send(...)` (for subscribes and
pings). The test pushes frames with `await venue.push(frame)` or lets `venue.feed(make, every)`
push periodically; `make(client)` returns the frame for that client, or None to skip it (not
subscribed yet). `venue.silent = True` stops every outgoing application frame (the feed,
pushes and handler answers) while connections stay open; `close_clients(code)` closes them.
`KeepaliveRule` drops a client that sends no matching frame within `timeout` seconds;
`protocol_ping` makes the server send WebSocket ping frames and drop clients that do not pong.

    async with FakeVenue(on_frame=answer_subscribe) as venue:
        venue.rest("/api/v3/time", lambda _: Reply(body={"serverTime": now_ms()}))
        venue.feed(lambda client: trade_frame() if client.subscribed else None, every=0.05)
        ... venue.url("/"), venue.ws_url ...

Fixture helpers read tests/fixtures/exchanges/<venue>/<name>.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import orjson
from aiohttp import WSCloseCode, WSMsgType, web

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "exchanges"
MAX_CLIENT_FRAME = 64 * 1024
CLOSE_TIMEOUT = 0.5  # seconds to wait for a client's close frame before aborting

Frame = str | bytes | Mapping[str, Any] | list[Any]  # mappings and lists are sent as JSON


def now_ms() -> int:
    return int(time.time() * 1000)


def fixture_path(venue: str, name: str) -> Path:
    return FIXTURES / venue / name


def fixture_bytes(venue: str, name: str) -> bytes:
    return fixture_path(venue, name).read_bytes()


def fixture_json(venue: str, name: str) -> Any:
    return orjson.loads(fixture_bytes(venue, name))


def encode(frame: Frame) -> str | bytes:
    """Text as is, bytes as a binary frame, anything else as JSON text."""
    if isinstance(frame, str | bytes):
        return frame
    return orjson.dumps(frame).decode()


@dataclass(frozen=True)
class Reply:
    """One REST answer. `body`: bytes or str are sent as they are, anything else as JSON."""

    status: int = 200
    body: Any = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (a slow venue)

    def payload(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return orjson.dumps(self.body)


Responder = Reply | Callable[[web.Request], Reply]


@dataclass(frozen=True)
class KeepaliveRule:
    """Drop a client that sends no frame for which `matches(text)` is true within `timeout`."""

    timeout: float
    matches: Callable[[str], bool]
    close_code: int = WSCloseCode.POLICY_VIOLATION


class FakeClient:
    """One connected WebSocket client, as the venue sees it."""

    def __init__(self, venue: FakeVenue, ws: web.WebSocketResponse, request: web.Request) -> None:
        self._venue = venue
        self.ws = ws
        self.request = request
        self.received: list[str] = []
        self.subscribed = False  # handlers set it; feeds usually check it
        self.state: dict[str, Any] = {}  # free for handlers
        self.seen_keepalive = asyncio.Event()

    async def send(self, frame: Frame) -> bool:
        """Send unless the venue is silent or the client is gone; True if sent."""
        if self._venue.silent or self.ws.closed:
            return False
        data = encode(frame)
        try:
            if isinstance(data, bytes):
                await self.ws.send_bytes(data)
            else:
                await self.ws.send_str(data)
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def close(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        try:
            async with asyncio.timeout(CLOSE_TIMEOUT):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection without a close frame."""
        if self.request.transport is not None:
            self.request.transport.abort()


FrameHandler = Callable[[FakeClient, str], Awaitable[None] | None]
FrameMaker = Callable[[FakeClient], Frame | None]


class FakeVenue:
    def __init__(
        self,
        *,
        ws_path: str = "/ws",
        on_frame: FrameHandler | None = None,
        keepalive: KeepaliveRule | None = None,
        protocol_ping: float | None = None,
    ) -> None:
        self.ws_path = ws_path
        self.on_frame = on_frame
        self.keepalive = keepalive
        self.protocol_ping = protocol_ping
        self.silent = False
        self.clients: list[FakeClient] = []  # connected now
        self.connections = 0  # accepted so far
        self.keepalive_drops = 0
        self.hits: Counter[str] = Counter()  # REST path -> requests
        self._routes: dict[str, Responder] = {}
        self._feeds: list[asyncio.Task[None]] = []
        self._clients_changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.app = web.Application()
        self.app.router.add_get(ws_path, self._websocket)
        self.app.router.add_route("*", "/{tail:.*}", self._rest)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> FakeVenue:
        runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        self._runner = runner
        self._port = runner.addresses[0][1]
        return self

    async def stop(self) -> None:
        for task in self._feeds:
            task.cancel()
        await asyncio.gather(*self._feeds, return_exceptions=True)
        self._feeds.clear()
        await self.close_clients(WSCloseCode.GOING_AWAY)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeVenue:
        return await self.start()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self._port}{path}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}{self.ws_path}"

    # -- REST --------------------------------------------------------------------------------

    def rest(self, path: str, reply: Responder) -> None:
        """Serve `reply` at `path` (GET and any other method) from now on."""
        self._routes[path] = reply

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        self.hits[request.path] += 1
        responder = self._routes.get(request.path)
        if responder is None:
            return web.Response(status=404, text="not found")
        reply = responder(request) if callable(responder) else responder
        if reply.delay > 0:
            await asyncio.sleep(reply.delay)
        headers = {"Content-Type": "application/json", **reply.headers}
        return web.Response(status=reply.status, body=reply.payload(), headers=headers)

    # -- WebSocket ---------------------------------------------------------------------------

    async def push(self, frame: Frame | FrameMaker) -> int:
        """Send to every client (a FrameMaker decides per client); how many got it."""
        sent = 0
        for client in list(self.clients):
            data = frame(client) if callable(frame) else frame
            if data is not None and await client.send(data):
                sent += 1
        return sent

    def feed(self, make: FrameMaker, every: float) -> None:
        """Push `make(client)` to every client every `every` seconds until stop()."""
        self._feeds.append(asyncio.create_task(self._run_feed(make, every)))

    async def close_clients(self, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None:
        await asyncio.gather(*(client.close(code, message) for client in list(self.clients)))

    async def wait_for_clients(self, count: int = 1, timeout: float = 5.0) -> None:
        """Wait until at least `count` clients are connected."""
        async with asyncio.timeout(timeout), self._clients_changed:
            await self._clients_changed.wait_for(lambda: len(self.clients) >= count)

    async def _run_feed(self, make: FrameMaker, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            await self.push(make)

    async def _websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(
            max_msg_size=MAX_CLIENT_FRAME, heartbeat=self.protocol_ping, timeout=CLOSE_TIMEOUT
        )
        await ws.prepare(request)
        client = FakeClient(self, ws, request)
        self.clients.append(client)
        self.connections += 1
        async with self._clients_changed:
            self._clients_changed.notify_all()
        watchdog = asyncio.create_task(self._watch_keepalive(client)) if self.keepalive else None
        try:
            async for message in ws:
                if message.type is WSMsgType.TEXT:
                    await self._on_text(client, message.data)
        finally:
            self.clients.remove(client)
            if watchdog is not None:
                watchdog.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watchdog
        return ws

    async def _on_text(self, client: FakeClient, text: str) -> None:
        client.received.append(text)
        if self.keepalive is not None and self.keepalive.matches(text):
            client.seen_keepalive.set()
        if self.on_frame is not None:
            result = self.on_frame(client, text)
            if inspect.isawaitable(result):
                await result

    async def _watch_keepalive(self, client: FakeClient) -> None:
        rule = self.keepalive
        assert rule is not None
        while True:
            try:
                async with asyncio.timeout(rule.timeout):
                    await client.seen_keepalive.wait()
            except TimeoutError:
                self.keepalive_drops += 1
                await client.close(rule.close_code, b"keepalive timeout")
                return
            client.seen_keepalive.clear()
