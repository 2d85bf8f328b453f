"""checks/wire.py: a TCP transport whose reads carry the kernel's receive time, against real
loopback sockets."""

from __future__ import annotations

import asyncio
import socket
import struct
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from checks import wire

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="kernel stamps are Linux's")


@dataclass
class Recorder(asyncio.Protocol):
    """A protocol that notes everything the transport tells it."""

    transport: asyncio.Transport | None = None
    data: bytearray = field(default_factory=bytearray)
    eof: bool = False
    lost: asyncio.Future[Exception | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())
    got_data: asyncio.Event = field(default_factory=asyncio.Event)
    pauses: int = 0
    resumes: int = 0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.data += data
        self.got_data.set()

    def eof_received(self) -> bool | None:
        self.eof = True
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)

    def pause_writing(self) -> None:
        self.pauses += 1

    def resume_writing(self) -> None:
        self.resumes += 1


@dataclass
class Pair:
    transport: wire.StampedTransport
    protocol: Recorder
    peer: socket.socket  # the server's end, blocking


@pytest.fixture
async def pair() -> AsyncIterator[Pair]:
    loop = asyncio.get_running_loop()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, listener.getsockname())
        peer, _ = listener.accept()
    protocol = Recorder()
    transport = wire.StampedTransport(loop, client, protocol)
    transport.start()
    yield Pair(transport, protocol, peer)
    transport.abort()
    peer.close()
    await asyncio.wait_for(protocol.lost, 5)


async def test_the_handshake_round_trip_comes_from_the_kernel(pair: Pair) -> None:
    rtt = wire.handshake_rtt(pair.transport.get_extra_info("socket"))
    assert rtt is not None and 0 < rtt < 0.05


async def test_a_read_is_stamped_when_the_data_arrived_not_when_the_loop_got_to_it(
        pair: Pair) -> None:
    loop = asyncio.get_running_loop()

    def busy_loop_while_the_data_arrives() -> None:
        pair.peer.sendall(b"hello")
        time.sleep(0.3)  # on purpose: the loop is busy as the bytes arrive

    loop.call_soon(busy_loop_while_the_data_arrives)
    sent = time.perf_counter()
    await asyncio.wait_for(pair.protocol.got_data.wait(), 5)
    received = time.perf_counter()
    assert bytes(pair.protocol.data) == b"hello"
    assert pair.transport.read_at is not None
    assert pair.transport.read_at - sent < 0.05  # the kernel's time: at once
    assert received - sent >= 0.3  # the callback's time: after the busy spell


async def test_a_write_is_stamped_as_it_goes_to_the_kernel(pair: Pair) -> None:
    before = time.perf_counter()
    assert pair.transport.written_at is None
    pair.transport.write(b"ping")
    assert pair.transport.written_at is not None
    assert before <= pair.transport.written_at <= time.perf_counter()
    assert pair.peer.recv(16) == b"ping"


async def test_writes_beyond_the_high_water_mark_pause_the_protocol_until_drained(
        pair: Pair) -> None:
    payload = bytes(range(256)) * 40_000  # 10 MB: more than the socket buffers hold
    pair.transport.write(payload)
    assert pair.protocol.pauses == 1
    assert pair.transport.get_write_buffer_size() > 0
    pair.transport.close()  # must still deliver every byte, then end
    received = bytearray()

    def drain() -> None:
        while chunk := pair.peer.recv(1 << 20):
            received.extend(chunk)

    await asyncio.gather(asyncio.to_thread(drain), asyncio.wait_for(pair.protocol.lost, 10))
    assert received == payload
    assert pair.protocol.resumes == 1
    assert pair.protocol.lost.result() is None


async def test_closing_with_bytes_a_peer_never_takes_gives_up_after_the_grace(
        pair: Pair, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wire, "CLOSE_GRACE", 0.05)
    pair.transport.write(b"x" * 10_000_000)  # more than the socket buffers hold; unread
    pair.transport.close()
    assert await asyncio.wait_for(pair.protocol.lost, 5) is None
    assert pair.transport.get_extra_info("socket").fileno() == -1  # closed, not leaked


async def test_the_peer_closing_is_eof_then_the_end(pair: Pair) -> None:
    pair.peer.sendall(b"bye")
    pair.peer.shutdown(socket.SHUT_WR)
    assert await asyncio.wait_for(pair.protocol.lost, 5) is None
    assert pair.protocol.eof and bytes(pair.protocol.data) == b"bye"
    assert pair.transport.is_closing()


async def test_a_reset_ends_the_connection_with_the_error(pair: Pair) -> None:
    pair.peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    pair.peer.close()  # RST
    assert isinstance(await asyncio.wait_for(pair.protocol.lost, 5), ConnectionResetError)


async def test_a_protocol_that_raises_ends_its_connection() -> None:
    loop = asyncio.get_running_loop()

    class Broken(Recorder):
        def data_received(self, data: bytes) -> None:
            raise ValueError("bad bytes")

    with socket.create_server(("127.0.0.1", 0)) as listener:
        client = socket.socket()
        client.setblocking(False)
        await loop.sock_connect(client, listener.getsockname())
        peer, _ = listener.accept()
    with peer:
        protocol = Broken()
        wire.StampedTransport(loop, client, protocol).start()
        peer.sendall(b"x")
        assert isinstance(await asyncio.wait_for(protocol.lost, 5), ValueError)
