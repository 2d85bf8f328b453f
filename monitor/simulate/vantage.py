"""Vantage points: where outagemon watches the simulated world from.

A world has one or more vantage points. Each has its own DNS server (monitor/simulate/dns.py)
and a fault book per served name (venue, provider, status page) for what that vantage alone
sees. The first vantage reaches the servers directly, so only DNS faults can be scoped to it.
Every further vantage reaches each server through a relay of its own, on its own port, which
passes bytes both ways and can stand for the network path and the venue's edge:

    blackhole   the relay stops accepting and lets its accept queue fill: new connections
                time out while connecting (an IP blackholed by a national firewall);
                connections already relayed are cut
    geo_block   new connections to a venue get its restricted-location answer (451 and its
                shape's body) from the relay, as a CDN geo-fence in front of the venue would;
                relayed WebSocket streams go on, relayed HTTP connections are cut (so a
                client's next request, on a new connection, is refused)
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import socket
from collections.abc import Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import orjson
import structlog

from monitor.simulate.dns import WorldDns
from monitor.simulate.faults import Fault, FaultBook, FaultKind
from monitor.simulate.venues.base import Answer

log = structlog.get_logger("outagemon.simulate")

BACKLOG = 128
CHUNK = 64 * 1024
HEAD_TIMEOUT = 5.0  # a geo-blocked client that sends no request head is let go after this
UPGRADE = b"upgrade: websocket"

GeoAnswer = Callable[[], Answer]


@dataclass(eq=False)
class _Flow:
    """One relayed connection."""

    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter
    stream: bool = False  # its first request asked for a WebSocket upgrade

    def cut(self) -> None:
        self.client.transport.abort()
        self.upstream.transport.abort()

    def close(self) -> None:
        """Close both ends once what is buffered is sent."""
        self.client.close()
        self.upstream.close()

    def classify(self, first: bytes) -> None:
        self.stream = UPGRADE in first.lower()


class Relay:
    """One vantage point's own listener for one server (`upstream`, a port on `host`)."""

    def __init__(self, name: str, faults: FaultBook, geo_answer: GeoAnswer | None) -> None:
        self.name = name
        self.faults = faults
        self.geo_answer = geo_answer
        self.port = 0
        self._host = "127.0.0.1"
        self._upstream = 0
        self._sock: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._filler: socket.socket | None = None  # the connection that fills the queue
        self._geo_blocked = False
        self._flows: set[_Flow] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        faults.on_change(self._follow_faults)

    @property
    def blackholed(self) -> bool:
        return self._filler is not None

    async def start(self, host: str, port: int, upstream: int) -> int:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
            sock.listen(BACKLOG)
            sock.setblocking(False)
        except OSError:
            sock.close()
            raise
        self._sock, self._host, self._upstream = sock, host, upstream
        self.port = sock.getsockname()[1]
        self._follow_faults()
        if not self.blackholed:
            self._accept()
        return self.port

    async def close(self) -> None:
        if self._accepting is not None:
            self._accepting.cancel()
        self._end_blackhole(resume=False)
        self._cut_flows(streams=True)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *filter(None, [self._accepting]),
                             return_exceptions=True)
        if self._sock is not None:
            self._sock.close()
            self._sock = None

    # -- faults ----------------------------------------------------------------------------

    def _active(self, kind: FaultKind) -> Fault | None:
        return self.faults.latest(kind)

    def _follow_faults(self) -> None:
        if self._sock is None:
            return
        wanted = self._active(FaultKind.BLACKHOLE) is not None
        if wanted and not self.blackholed:
            self._start_blackhole()
        elif not wanted and self.blackholed:
            self._end_blackhole(resume=True)
        geo_blocked = self.geo_answer is not None and (
            self._active(FaultKind.GEO_BLOCK) is not None)
        if geo_blocked and not self._geo_blocked:
            self._cut_flows(streams=False)
        self._geo_blocked = geo_blocked

    def _start_blackhole(self) -> None:
        """Stop accepting and fill the accept queue: the kernel then drops every new SYN, so
        a client's connect times out (a refused port would answer RST at once)."""
        assert self._sock is not None
        if self._accepting is not None:
            self._accepting.cancel()
            self._accepting = None
        self._sock.listen(0)  # Linux queues one connection beyond a backlog of 0
        filler = socket.socket(self._sock.family, socket.SOCK_STREAM)
        filler.setblocking(False)
        error = filler.connect_ex(self._sock.getsockname()[:2])
        if error not in (0, errno.EINPROGRESS):
            log.warning("blackhole filler did not connect", relay=self.name, errno=error)
        self._filler = filler
        self._cut_flows(streams=True)

    def _end_blackhole(self, *, resume: bool) -> None:
        filler, self._filler = self._filler, None
        if filler is not None:
            filler.close()
            if self._sock is not None:
                self._sock.listen(BACKLOG)
        if resume and self._sock is not None and self._accepting is None:
            self._accept()

    def _cut_flows(self, *, streams: bool) -> None:
        for flow in list(self._flows):
            if streams or not flow.stream:
                flow.cut()
                self._flows.discard(flow)

    # -- connections -----------------------------------------------------------------------

    def _accept(self) -> None:
        self._accepting = asyncio.create_task(self._accept_loop(), name=f"relay {self.name}")

    async def _accept_loop(self) -> None:
        assert self._sock is not None
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, _ = await loop.sock_accept(self._sock)
            except OSError as exc:  # e.g. out of file descriptors: keep serving the others
                log.warning("relay accept failed", relay=self.name, error=str(exc))
                await asyncio.sleep(0.1)
                continue
            self._spawn(self._serve(conn))

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, conn: socket.socket) -> None:
        try:
            reader, writer = await asyncio.open_connection(sock=conn)
        except OSError:
            conn.close()
            return
        try:
            if self.geo_answer is not None and self._geo_blocked:
                await self._refuse(reader, writer, self.geo_answer())
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(self._host, self._upstream)
            except OSError:
                return
            flow = _Flow(writer, up_writer)
            self._flows.add(flow)
            try:
                await asyncio.gather(_pipe(reader, up_writer, flow.classify),
                                     _pipe(up_reader, writer))
            finally:
                self._flows.discard(flow)
                flow.close()
        finally:
            writer.close()

    async def _refuse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                      answer: Answer) -> None:
        try:
            async with asyncio.timeout(HEAD_TIMEOUT):
                head = await reader.readuntil(b"\r\n\r\n")
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ConnectionError):
            return
        writer.write(http_response(answer, upgrade=UPGRADE in head.lower()))
        with contextlib.suppress(ConnectionError):
            await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                first: Callable[[bytes], None] | None = None) -> None:
    """Copy `reader` to `writer` until EOF, then half-close `writer`; `first` sees the first
    chunk."""
    try:
        while chunk := await reader.read(CHUNK):
            if first is not None:
                first(chunk)
                first = None
            writer.write(chunk)
            await writer.drain()
        if not writer.transport.is_closing() and writer.can_write_eof():
            writer.write_eof()
    except (ConnectionError, OSError, RuntimeError):  # uvloop: RuntimeError once closed
        writer.transport.abort()


def http_response(answer: Answer, *, upgrade: bool = False) -> bytes:
    """`answer` as an HTTP/1.1 response that closes the connection; a WebSocket handshake
    that the answer would accept (an error inside a 200) is refused with 451 instead."""
    status = answer.status if answer.status >= 400 or not upgrade else 451
    body = answer.body
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = orjson.dumps(body)
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    headers = {"Content-Type": answer.content_type, "Content-Length": str(len(body)),
               "Connection": "close", **answer.headers}
    head = f"HTTP/1.1 {status} {phrase}\r\n" + "".join(
        f"{key}: {value}\r\n" for key, value in headers.items()) + "\r\n"
    return head.encode("latin-1") + body


class Vantage:
    """One vantage point: its DNS server, its faults per name and, unless `direct`, a relay
    per served name."""

    def __init__(self, name: str, served: Mapping[str, str], *, direct: bool,
                 world_dns_faults: Callable[[str], Iterable[Fault]],
                 geo_answers: Mapping[str, GeoAnswer]) -> None:
        """`served`: {name: scope ("venue", "provider" or "page")}, in serving order."""
        self.name = name
        self.direct = direct
        self.books = {item: FaultBook(item, scope, vantage=name)
                      for item, scope in served.items()}
        self.relays = {} if direct else {
            item: Relay(item, self.books[item], geo_answers.get(item)) for item in served}
        self.dns = WorldDns(list(served), lambda item: [*world_dns_faults(item),
                                                        *self.books[item]])

    def faults(self) -> list[Fault]:
        return [fault for book in self.books.values() for fault in book]

    async def start(self, host: str, upstream: Mapping[str, int], ports: Iterator[int]) -> None:
        """Start the relays (to the servers' `upstream` ports), then the DNS server, each on
        the next of `ports` (0: a free port)."""
        for item, relay in self.relays.items():
            await relay.start(host, next(ports), upstream[item])
        await self.dns.start(host, next(ports))

    async def close(self) -> None:
        await asyncio.gather(*(relay.close() for relay in self.relays.values()),
                             self.dns.close())
