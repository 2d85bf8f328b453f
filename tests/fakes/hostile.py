"""Hostile endpoints on 127.0.0.1: one per defence of SPEC section 10.

    async with HostileWorld() as world:
        world.endpoints["slowloris"]       # a URL, or host:port for the TLS hang
        world.stats()                      # requests and bytes sent per endpoint

Endpoints (`ENDPOINTS` names):
- slowloris: answers a request one byte per second (SLOWLORIS_BYTES_PER_SECOND).
- endless_chunked: a chunked body that never ends.
- gzip_bomb: Content-Encoding gzip, generated while it is sent; GZIP_BOMB_INFLATED (1 GiB)
  of zeros in about a thousandth of that (deflate compresses at most ~1030:1).
- invalid_utf8: a JSON body with bytes that are not UTF-8.
- deep_json: a Binance-like REST base whose server time is a list nested DEEP_JSON_LEVELS
  deep: below orjson's limit (1024), so the parser accepts it and the adapter must cope.
- huge_number / huge_number_text: a JSON number, and a numeric string, of HUGE_NUMBER_DIGITS
  digits.
- redirect_loop: a 302 to itself.
- status_page_50mb: a Statuspage v2 summary of STATUS_PAGE_BYTES (50 MB), generated while it
  is sent.
- ws_flood: a WebSocket that sends FLOOD_BURST small frames (about 300 KiB, more than one
  socket read takes) at once, FLOOD_BURSTS_PER_SECOND times a second: 20 000 messages a
  second, about a hundred times a busy venue's trade stream, in bursts that fill the client's
  reads.
- ws_huge_frame: a WebSocket whose first frame claims HUGE_FRAME_BYTES (100 MB); the payload
  follows at HUGE_FRAME_RATE until the client leaves, never held in memory.
- tls_hang: accepts TCP and never speaks TLS.

Every sender stops when the client goes away. Run as a program (`python -m
tests.fakes.hostile`) the world prints its endpoints as one JSON line on stdout and serves
until stdin closes, so that a test can keep the hostile side's CPU (the flood) out of its
own event loop; GET /stats on the `stats` URL answers `stats()` as JSON.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import struct
import sys
import zlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import Any

import orjson
from aiohttp import web
from websockets.frames import Frame, Opcode
from websockets.utils import accept_key

KiB = 1024
MiB = 1024 * KiB
GiB = 1024 * MiB

SLOWLORIS_BYTES_PER_SECOND = 1.0
GZIP_BOMB_INFLATED = GiB
DEEP_JSON_LEVELS = 1000
HUGE_NUMBER_DIGITS = 100_000
STATUS_PAGE_BYTES = 50 * 1000 * 1000
HUGE_FRAME_BYTES = 100 * 1000 * 1000
HUGE_FRAME_RATE = 20 * MiB  # bytes a second
FLOOD_BURST = 8192
FLOOD_BURSTS_PER_SECOND = 2.5
REDIRECT_PATH = "/loop"
STATUS_PAGE_PATH = "/status/api/v2/summary.json"
BINANCE_TIME_PATH = "/api/v3/time"
BINANCE_STATUS_PATH = "/sapi/v1/system/status"

ENDPOINTS = (
    "slowloris", "endless_chunked", "gzip_bomb", "invalid_utf8", "deep_json", "huge_number",
    "huge_number_text", "redirect_loop", "status_page_50mb", "ws_flood", "ws_huge_frame",
    "tls_hang",
)

_CHUNK = 64 * KiB
# gzip member header (RFC 1952): magic, deflate, no flags, no mtime, no extra flags, unknown OS.
_GZIP_HEADER = bytes([0x1F, 0x8B, 8, 0, 0, 0, 0, 0, 0, 255])
_FINAL_EMPTY_BLOCK = bytes([0x03, 0x00])  # a final fixed-Huffman block with no data
_ZEROS = bytes(MiB)
_SLOWLORIS_RESPONSE = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100_000
_CLIENT_GONE = (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError)


def gzip_bomb(inflated_size: int = GZIP_BOMB_INFLATED) -> Iterator[bytes]:
    """A gzip stream of `inflated_size` (a whole number of MiB) zero bytes, about a thousandth
    of that long, built from one compressed MiB: nothing larger than a MiB is ever allocated.

    A full flush after each MiB makes every MiB compress to the same bytes, so that piece is
    compressed once and repeated."""
    pieces = inflated_size // MiB
    yield _GZIP_HEADER
    yield from itertools.repeat(_compressed_mib(), pieces)
    yield _FINAL_EMPTY_BLOCK
    yield struct.pack("<II", _zeros_crc32(pieces), inflated_size % 2**32)


@functools.cache
def _compressed_mib() -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)  # raw deflate
    return compressor.compress(_ZEROS) + compressor.flush(zlib.Z_FULL_FLUSH)


@functools.cache
def _zeros_crc32(mebibytes: int) -> int:
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(_ZEROS, crc)
    return crc


def nested_json(levels: int = DEEP_JSON_LEVELS) -> bytes:
    return b"[" * levels + b"]" * levels


def status_page_pieces(total: int = STATUS_PAGE_BYTES) -> Iterator[bytes]:
    """A valid Statuspage v2 summary of about `total` bytes: a component list that goes on."""
    component = orjson.dumps({"name": "API " + "x" * 200, "status": "operational",
                              "group": False})
    yield b'{"status": {"indicator": "none", "description": "ok"}, "components": ['
    sent = 0
    per_piece = max(1, _CHUNK // (len(component) + 1))
    while sent < total:
        piece = b",".join([component] * per_piece)
        yield piece if sent == 0 else b"," + piece
        sent += len(piece) + 1
    yield b'], "incidents": [], "scheduled_maintenances": []}'


class HostileWorld:
    """Every hostile endpoint, started together on 127.0.0.1 (see the module doc)."""

    def __init__(self) -> None:
        self.endpoints: dict[str, str] = {}
        self.requests: Counter[str] = Counter()
        self.bytes_sent: Counter[str] = Counter()
        self._runner: web.AppRunner | None = None
        self._raw_servers: list[asyncio.Server] = []
        self._connections: dict[asyncio.StreamWriter, asyncio.Task[Any]] = {}

    def stats(self) -> dict[str, dict[str, int]]:
        return {"requests": dict(self.requests), "bytes_sent": dict(self.bytes_sent)}

    async def start(self) -> HostileWorld:
        # Built before serving, not by the first request: they take a moment of CPU.
        _compressed_mib(), _zeros_crc32(GZIP_BOMB_INFLATED // MiB), _flood_burst()
        base = await self._start_http()
        for name, path in (("endless_chunked", "/endless"), ("gzip_bomb", "/bomb"),
                           ("invalid_utf8", "/invalid-utf8"), ("huge_number", "/huge-number"),
                           ("huge_number_text", "/huge-number-text"),
                           ("redirect_loop", REDIRECT_PATH),
                           ("status_page_50mb", STATUS_PAGE_PATH), ("stats", "/stats")):
            self.endpoints[name] = base + path
        self.endpoints["deep_json"] = base
        self.endpoints["slowloris"] = f"http://{await self._raw(self._slowloris)}/"
        self.endpoints["ws_huge_frame"] = f"ws://{await self._raw(self._huge_frame)}/"
        self.endpoints["tls_hang"] = await self._raw(self._tls_hang)
        self.endpoints["ws_flood"] = f"ws://{await self._raw(self._flood)}/flood"
        return self

    async def stop(self) -> None:
        for server in self._raw_servers:
            server.close()
        # Ending the connections, not their tasks: Python 3.11's start_server trips over a
        # cancelled handler.
        for writer in self._connections:
            writer.transport.abort()
        await asyncio.gather(*self._connections.values(), return_exceptions=True)
        for server in self._raw_servers:
            await server.wait_closed()
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> HostileWorld:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.stop()

    # -- HTTP ----------------------------------------------------------------------------

    async def _start_http(self) -> str:
        app = web.Application()
        app.router.add_get("/endless", self._endless)
        app.router.add_get("/bomb", self._bomb)
        app.router.add_get("/invalid-utf8", self._fixed(
            "invalid_utf8", b'{"status": "ok \xff\xfe\xc3", "height": 1}'))
        app.router.add_get("/huge-number", self._fixed(
            "huge_number", b'{"height": ' + b"9" * HUGE_NUMBER_DIGITS + b"}"))
        app.router.add_get("/huge-number-text", self._fixed(
            "huge_number_text", b'{"height": "' + b"9" * HUGE_NUMBER_DIGITS + b'"}'))
        app.router.add_get(BINANCE_TIME_PATH, self._fixed(
            "deep_json", b'{"serverTime": ' + nested_json() + b"}"))
        app.router.add_get(BINANCE_STATUS_PATH, self._fixed(
            "deep_json_status", b'{"status": 0, "msg": "normal"}'))
        app.router.add_get(REDIRECT_PATH, self._redirect_loop)
        app.router.add_get(STATUS_PAGE_PATH, self._status_page)
        app.router.add_get("/stats", self._stats)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

    def _fixed(self, name: str, body: bytes) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def answer(_request: web.Request) -> web.Response:
            self.requests[name] += 1
            self.bytes_sent[name] += len(body)
            return web.Response(body=body, content_type="application/json")

        return answer

    async def _stream(self, name: str, request: web.Request, pieces: Iterator[bytes],
                      headers: dict[str, str] | None = None) -> web.StreamResponse:
        self.requests[name] += 1
        response = web.StreamResponse(headers=headers)
        response.content_type = "application/json"
        await response.prepare(request)
        with contextlib.suppress(*_CLIENT_GONE):
            for piece in pieces:
                await response.write(piece)
                self.bytes_sent[name] += len(piece)
        return response

    async def _endless(self, request: web.Request) -> web.StreamResponse:
        def forever() -> Iterator[bytes]:
            chunk = b"y" * _CHUNK
            while True:
                yield chunk

        return await self._stream("endless_chunked", request, forever())

    async def _bomb(self, request: web.Request) -> web.StreamResponse:
        return await self._stream("gzip_bomb", request, gzip_bomb(),
                                  headers={"Content-Encoding": "gzip"})

    async def _status_page(self, request: web.Request) -> web.StreamResponse:
        return await self._stream("status_page_50mb", request, status_page_pieces())

    async def _redirect_loop(self, _request: web.Request) -> web.Response:
        self.requests["redirect_loop"] += 1
        raise web.HTTPFound(REDIRECT_PATH)

    async def _stats(self, _request: web.Request) -> web.Response:
        return web.json_response(self.stats())

    # -- raw TCP -------------------------------------------------------------------------

    async def _raw(self, handler: Callable[[asyncio.StreamReader, asyncio.StreamWriter],
                                           Awaitable[None]]) -> str:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._connections[writer] = task
            try:
                await handler(reader, writer)
            except _CLIENT_GONE:
                pass
            finally:
                del self._connections[writer]
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        self._raw_servers.append(server)
        return f"127.0.0.1:{server.sockets[0].getsockname()[1]}"

    async def _slowloris(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        self.requests["slowloris"] += 1
        async with _client_leaving(reader) as gone:
            for byte in _SLOWLORIS_RESPONSE:
                writer.write(bytes([byte]))
                await writer.drain()
                self.bytes_sent["slowloris"] += 1
                # Paced by the wait itself: one byte per second, or out as soon as they leave.
                await asyncio.wait([gone], timeout=1 / SLOWLORIS_BYTES_PER_SECOND)
                if gone.done():
                    return

    async def _huge_frame(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_websocket(reader, writer)
        self.requests["ws_huge_frame"] += 1
        # One unfragmented binary frame (FIN + opcode 2), 64-bit length, unmasked.
        writer.write(bytes([0x82, 127]) + HUGE_FRAME_BYTES.to_bytes(8, "big"))
        zeros = bytes(MiB)
        async with _client_leaving(reader) as gone:
            for _ in range(HUGE_FRAME_BYTES // MiB):
                writer.write(zeros)
                await writer.drain()
                self.bytes_sent["ws_huge_frame"] += MiB
                await asyncio.wait([gone], timeout=MiB / HUGE_FRAME_RATE)  # the pace
                if gone.done():
                    return

    async def _tls_hang(self, reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        self.requests["tls_hang"] += 1
        await reader.read()  # takes the ClientHello and says nothing, until the client leaves

    async def _flood(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await _accept_websocket(reader, writer)
        self.requests["ws_flood"] += 1
        burst = _flood_burst()
        async with _client_leaving(reader) as gone:
            while not gone.done():
                writer.write(burst)
                await writer.drain()  # waits while the client is not reading
                self.bytes_sent["ws_flood"] += len(burst)
                await asyncio.wait([gone], timeout=1 / FLOOD_BURSTS_PER_SECOND)  # the pace


@contextlib.asynccontextmanager
async def _client_leaving(reader: asyncio.StreamReader) -> AsyncIterator[asyncio.Future[bytes]]:
    """A future that is done when the client closes its side of the connection."""
    gone = asyncio.ensure_future(reader.read())
    try:
        yield gone
    finally:
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)


@functools.cache
def _flood_burst() -> bytes:
    """FLOOD_BURST server-to-client text frames of a small trade message, back to back."""
    message = orjson.dumps({"e": "trade", "p": "101.5", "q": "0.01"})
    return Frame(Opcode.TEXT, message).serialize(mask=False) * FLOOD_BURST


async def _accept_websocket(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read a WebSocket upgrade request and accept it (no extensions, no subprotocol)."""
    request = await reader.readuntil(b"\r\n\r\n")
    key = _header(request, b"sec-websocket-key")
    writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                 b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                 + accept_key(key).encode() + b"\r\n\r\n")


def _header(request: bytes, name: bytes) -> str:
    for line in request.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name:
            return value.strip().decode("latin-1")
    raise ValueError(f"request has no {name.decode()} header")


async def _serve_until_stdin_closes() -> None:
    async with HostileWorld() as world:
        print(orjson.dumps(world.endpoints).decode(), flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(_serve_until_stdin_closes())
