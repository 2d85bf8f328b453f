"""A fake WebSocket venue on 127.0.0.1 for tests.

    async with FakeWsVenue() as venue:
        ... connect to venue.url (or venue.url_for("/stream?key=...")) ...
        await venue.wait_connections(1)
        await venue.send('{"p": 1}')          # to every connected client
        await venue.close_clients(1001)       # close frame with that code to every client

Per connection the venue
- records every frame the client sends (`received`) and every upgrade request (`requests`,
  `attempts` with their monotonic times, rejected ones included);
- answers a `ping_text` frame with `pong_text` unless `answer_pings` is off;
- with `require_ping_within` set, drops (close 1008 "no ping") a client that has not sent
  `ping_text` for that many seconds, as Binance-like venues do;
- runs `handler(ws)` if set, e.g. to stream data or close at once; the connection stays open
  after it returns until either side closes it. An exception from it (other than the client
  going away) is kept in `errors` and raised by `stop()`, so a broken fake fails the test.
A silent venue is the default: it sends nothing unless told to.

`reject_status` answers every upgrade with that HTTP status (and `reject_headers`) instead.
`server_ping_interval` makes the library ping clients (protocol-level) at that interval and
drop those that do not pong within `server_ping_timeout`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from types import TracebackType

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

Handler = Callable[[ServerConnection], Awaitable[None]]

MAX_CLIENT_MESSAGE = 64 * 1024


class FakeWsVenue:
    def __init__(
        self,
        handler: Handler | None = None,
        *,
        reject_status: int | None = None,
        reject_headers: dict[str, str] | None = None,
        answer_pings: bool = True,
        ping_text: str = "ping",
        pong_text: str = "pong",
        require_ping_within: float | None = None,
        server_ping_interval: float | None = None,
        server_ping_timeout: float | None = None,
    ) -> None:
        self.handler = handler
        self.reject_status = reject_status
        self.reject_headers = reject_headers or {}
        self.answer_pings = answer_pings
        self.ping_text = ping_text
        self.pong_text = pong_text
        self.require_ping_within = require_ping_within
        self._server_ping = (server_ping_interval, server_ping_timeout)
        self.attempts: list[float] = []  # time.monotonic() of each upgrade request
        self.requests: list[Request] = []
        self.connections = 0  # upgrades accepted
        self.clients: set[ServerConnection] = set()
        self.received: list[str | bytes] = []
        self.errors: list[BaseException] = []
        self.port = 0
        self._server: Server | None = None
        self._connected = asyncio.Condition()

    @property
    def url(self) -> str:
        return self.url_for("/")

    def url_for(self, path: str) -> str:
        """ws://127.0.0.1:port plus `path` (which may carry a query)."""
        return f"ws://127.0.0.1:{self.port}{path}"

    async def start(self) -> FakeWsVenue:
        interval, timeout = self._server_ping
        self._server = await serve(
            self._serve_client,
            "127.0.0.1",
            0,
            process_request=self._process_request,
            ping_interval=interval,
            ping_timeout=timeout,
            close_timeout=0.5,
            max_size=MAX_CLIENT_MESSAGE,
        )
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self.errors:
            raise self.errors[0]

    async def __aenter__(self) -> FakeWsVenue:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    async def send(self, frame: str | bytes) -> None:
        """Send `frame` to every connected client (those that went away are skipped)."""
        for ws in list(self.clients):
            with contextlib.suppress(ConnectionClosed):
                await ws.send(frame)

    async def close_clients(self, code: int = 1000, reason: str = "") -> None:
        for ws in list(self.clients):
            await ws.close(code, reason)

    async def wait_connections(self, count: int, timeout: float = 5.0) -> None:
        """Wait until `count` upgrades in total have been accepted."""
        async with asyncio.timeout(timeout), self._connected:
            await self._connected.wait_for(lambda: self.connections >= count)

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.attempts.append(time.monotonic())
        self.requests.append(request)
        if self.reject_status is None:
            return None
        response = connection.respond(HTTPStatus(self.reject_status), "rejected\n")
        for name, value in self.reject_headers.items():
            response.headers[name] = value
        return response

    async def _serve_client(self, ws: ServerConnection) -> None:
        self.clients.add(ws)
        async with self._connected:
            self.connections += 1
            self._connected.notify_all()
        last_ping = [time.monotonic()]
        helpers = []
        if self.handler is not None:
            helpers.append(asyncio.create_task(self._run_handler(ws)))
        if self.require_ping_within is not None:
            helpers.append(asyncio.create_task(self._enforce_ping(ws, last_ping)))
        try:
            await self._read(ws, last_ping)
        finally:
            self.clients.discard(ws)
            for task in helpers:
                task.cancel()
            if helpers:
                await asyncio.wait(helpers)

    async def _read(self, ws: ServerConnection, last_ping: list[float]) -> None:
        try:
            async for message in ws:
                self.received.append(message)
                if message == self.ping_text:
                    last_ping[0] = time.monotonic()
                    if self.answer_pings:
                        await ws.send(self.pong_text)
        except ConnectionClosed:
            pass

    async def _run_handler(self, ws: ServerConnection) -> None:
        assert self.handler is not None
        try:
            await self.handler(ws)
        except ConnectionClosed:
            pass
        except Exception as exc:
            self.errors.append(exc)

    async def _enforce_ping(self, ws: ServerConnection, last_ping: list[float]) -> None:
        assert self.require_ping_within is not None
        while True:
            overdue_at = last_ping[0] + self.require_ping_within
            if time.monotonic() >= overdue_at:
                await ws.close(1008, "no ping")
                return
            await asyncio.sleep(overdue_at - time.monotonic())
