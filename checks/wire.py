"""Probe connections timed by the kernel rather than by the event loop.

Under load an I/O callback runs a while after its bytes arrived: other probes' callbacks run
first, and on a busy machine the process waits for a CPU. Stamped in the callback, that wait
would count as the target's latency. Here the kernel stamps what arrives instead:

- SO_TIMESTAMPNS makes it stamp each received segment, and reading with recvmsg() hands the
  stamp over with the bytes (`StampedTransport.read_at`); what was written is stamped as it
  goes to the kernel (`written_at`), not when the writer's task ran;
- TCP_INFO gives the round trip of the TCP handshake as the kernel measured it
  (`handshake_rtt`).

`StampedTransport` is a plain TCP transport on the loop's reader and writer callbacks (the
loop's own transports read with recv() and drop the stamps); TLS runs on top of it through
asyncio's SSLProtocol, as `loop.create_connection` would set it up. Where the kernel gives no
stamp (not Linux, or a socket that refuses the option), the time of the callback is used.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import sys
import time
from asyncio import sslproto
from collections.abc import Callable
from typing import Any

SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)  # Linux's value; Python omits the name
_TIMESPEC = struct.Struct("@qq")
_ANCILLARY = socket.CMSG_SPACE(_TIMESPEC.size)
READ_SIZE = 256 * 1024
WRITE_HIGH_WATER = 64 * 1024
CLOSE_GRACE = 10.0  # seconds a closed connection may take to hand over what is left to write

# struct tcp_info (linux/tcp.h): eight u8 fields, then u32 fields; tcpi_rtt is the 16th
# (microseconds) and tcpi_total_retrans the 24th.
_TCP_INFO = struct.Struct("@8B24I")
_RTT, _TOTAL_RETRANS = 8 + 15, 8 + 23


def handshake_rtt(sock: socket.socket) -> float | None:
    """Seconds the TCP handshake took as the kernel measured it (its first round-trip
    sample), or None when unknown or when a SYN had to be sent again (then the kernel has
    no clean sample and the caller's own timing is the better one)."""
    if sys.platform != "linux":
        return None
    try:
        fields = _TCP_INFO.unpack(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO,
                                                  _TCP_INFO.size))
    except (OSError, struct.error):
        return None
    if fields[_TOTAL_RETRANS] or not fields[_RTT]:
        return None
    return float(fields[_RTT]) / 1e6


def _arrival(ancillary: list[tuple[int, int, bytes]], now: float) -> float:
    """The perf_counter time the kernel received the data of one read (`now` without a
    stamp). The kernel stamps with the wall clock; the two clocks are read together."""
    for level, kind, data in ancillary:
        if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(data) >= _TIMESPEC.size:
            seconds, nanoseconds = _TIMESPEC.unpack_from(data)
            stamped: float = now - (time.time() - (seconds + nanoseconds * 1e-9))
            return min(stamped, now)
    return now


class StampedTransport(asyncio.Transport):
    """A client TCP transport whose reads carry the kernel's receive time."""

    def __init__(self, loop: asyncio.AbstractEventLoop, sock: socket.socket,
                 protocol: asyncio.BaseProtocol) -> None:
        super().__init__({"socket": sock, "sockname": _name(sock.getsockname),
                          "peername": _name(sock.getpeername)})
        self._loop = loop
        self._sock = sock
        self._fd = sock.fileno()
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)
        self._buffer = bytearray()
        self._high = WRITE_HIGH_WATER
        self._low = WRITE_HIGH_WATER // 4
        self._protocol_paused = False
        self._reading = False
        self._closing = False
        self._lost = False
        self._eof_pending = False
        self.read_at: float | None = None  # perf_counter time the last read's data arrived
        self.written_at: float | None = None  # perf_counter time bytes last went to the kernel
        sock.setblocking(False)
        with contextlib.suppress(OSError):  # no stamps: reads are timed by their callback
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def start(self) -> None:
        """Tell the protocol it is connected and start reading."""
        self._protocol.connection_made(self)
        if not self._closing:
            self.resume_reading()

    # -- reading -----------------------------------------------------------------------

    def is_reading(self) -> bool:
        return self._reading

    def pause_reading(self) -> None:
        if self._reading:
            self._reading = False
            self._loop.remove_reader(self._fd)

    def resume_reading(self) -> None:
        if not self._reading and not self._closing:
            self._reading = True
            self._loop.add_reader(self._fd, self._read_ready)

    def _read_ready(self) -> None:
        protocol = self._protocol
        try:
            if self._buffered:
                buffer = protocol.get_buffer(-1)  # type: ignore[attr-defined]
                size, ancillary, _, _ = self._sock.recvmsg_into([buffer], _ANCILLARY)
                self.read_at = _arrival(ancillary, time.perf_counter())
                if size:
                    protocol.buffer_updated(size)  # type: ignore[attr-defined]
                    return
            else:
                data, ancillary, _, _ = self._sock.recvmsg(READ_SIZE, _ANCILLARY)
                self.read_at = _arrival(ancillary, time.perf_counter())
                if data:
                    protocol.data_received(data)  # type: ignore[attr-defined]
                    return
        except (BlockingIOError, InterruptedError):
            return
        except Exception as exc:  # the socket's error or the protocol's: the end of it
            self._force_close(exc)
            return
        self._read_eof()

    def _read_eof(self) -> None:
        self.pause_reading()
        try:
            keep_open = self._protocol.eof_received()  # type: ignore[attr-defined]
        except Exception as exc:
            self._force_close(exc)
            return
        if not keep_open:
            self.close()

    # -- writing -----------------------------------------------------------------------

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if self._lost or self._eof_pending or not data:
            return
        if not self._buffer:
            try:
                sent = self._sock.send(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError as exc:
                self._force_close(exc)
                return
            self.written_at = time.perf_counter()
            if sent == len(data):
                return
            data = memoryview(data)[sent:]
            self._loop.add_writer(self._fd, self._write_ready)
        self._buffer += data
        self._maybe_pause_protocol()

    def writelines(self, list_of_data: Any) -> None:
        self.write(b"".join(list_of_data))

    def _write_ready(self) -> None:
        try:
            sent = self._sock.send(self._buffer)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._force_close(exc)
            return
        del self._buffer[:sent]
        self.written_at = time.perf_counter()
        if self._buffer:
            return
        self._loop.remove_writer(self._fd)
        self._maybe_resume_protocol()
        if self._closing:
            self._lost = True
            self._loop.call_soon(self._connection_lost, None)
        elif self._eof_pending:
            self._shutdown_write()

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        if self._closing or self._eof_pending:
            return
        self._eof_pending = True
        if not self._buffer:
            self._shutdown_write()

    def _shutdown_write(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_WR)

    def get_write_buffer_size(self) -> int:
        return len(self._buffer)

    def get_write_buffer_limits(self) -> tuple[int, int]:
        return self._low, self._high

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        self._high = WRITE_HIGH_WATER if high is None else high
        self._low = self._high // 4 if low is None else low
        self._maybe_pause_protocol()

    def _maybe_pause_protocol(self) -> None:
        if not self._protocol_paused and len(self._buffer) > self._high:
            self._protocol_paused = True
            self._protocol.pause_writing()

    def _maybe_resume_protocol(self) -> None:
        if self._protocol_paused and len(self._buffer) <= self._low:
            self._protocol_paused = False
            self._protocol.resume_writing()

    # -- closing -----------------------------------------------------------------------

    def is_closing(self) -> bool:
        return self._closing

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        self._protocol = protocol
        self._buffered = isinstance(protocol, asyncio.BufferedProtocol)

    def get_protocol(self) -> asyncio.BaseProtocol:
        return self._protocol

    def close(self) -> None:
        """Stop reading; the connection ends once what was written has gone out, or after
        CLOSE_GRACE if the peer does not take it (a probe must not hold a socket for ever)."""
        if self._closing:
            return
        self._closing = True
        self.pause_reading()
        if self._buffer:
            self._loop.call_later(CLOSE_GRACE, self._force_close, None)
        else:
            self._lost = True
            self._loop.call_soon(self._connection_lost, None)

    def abort(self) -> None:
        self._force_close(None)

    def _force_close(self, exc: Exception | None) -> None:
        if self._lost:
            return
        if self._buffer:
            self._buffer.clear()
            self._loop.remove_writer(self._fd)
        self._closing = True
        self.pause_reading()
        self._lost = True
        self._loop.call_soon(self._connection_lost, exc)

    def _connection_lost(self, exc: Exception | None) -> None:
        try:
            self._protocol.connection_lost(exc)
        finally:
            self._sock.close()


def _name(get: Callable[[], Any]) -> Any:
    try:
        return get()
    except OSError:
        return None


async def open_connection(
    loop: asyncio.AbstractEventLoop,
    protocol_factory: Callable[[], asyncio.BaseProtocol],
    sock: socket.socket,
    *,
    ssl_context: ssl.SSLContext | None = None,
    server_hostname: str | None = None,
    on_transport: Callable[[asyncio.BaseProtocol, StampedTransport], None] = lambda p, t: None,
) -> tuple[asyncio.Transport, asyncio.BaseProtocol]:
    """`loop.create_connection(protocol_factory, sock=sock, ssl=...)` on a StampedTransport:
    returns once the protocol is connected (after the TLS handshake with a context).
    `on_transport` sees the protocol and its raw transport before any byte moves."""
    protocol = protocol_factory()
    if ssl_context is None:
        transport = StampedTransport(loop, sock, protocol)
        on_transport(protocol, transport)
        transport.start()
        return transport, protocol
    waiter: asyncio.Future[None] = loop.create_future()
    tls = sslproto.SSLProtocol(loop, protocol, ssl_context, waiter,
                               server_hostname=server_hostname)
    raw = StampedTransport(loop, sock, tls)
    on_transport(protocol, raw)
    raw.start()
    try:
        await waiter
    except BaseException:
        raw.close()
        raise
    return tls._app_transport, protocol
