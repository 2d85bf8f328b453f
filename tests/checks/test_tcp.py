"""`tcp` check against real servers on 127.0.0.1: banners, send/expect, TLS, failures."""

from __future__ import annotations

import asyncio
import socket
import time
import tracemalloc
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from checks.base import CheckEnv
from checks.tcp import TcpCheck, TcpTarget
from monitor.observation import Fact, Phase, Reason
from tests.fakes.certs import TestCA

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
Serve = Callable[..., Awaitable[int]]


def tcp_check(port: int, **fields: Any) -> TcpCheck:
    config = {"name": "t", "kind": "tcp", "address": f"127.0.0.1:{port}", "timeout": "3s"}
    return TcpCheck(TcpTarget.model_validate({**config, **fields}), CheckEnv())


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start handlers on 127.0.0.1; each must end once the client has closed."""
    servers: list[asyncio.Server] = []

    async def start(handler: Handler, ssl: Any = None) -> int:
        async def guarded(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            try:
                await handler(reader, writer)
            except (ConnectionError, OSError):
                pass  # the probe closed first; that is its right
            finally:
                writer.close()

        server = await asyncio.start_server(guarded, "127.0.0.1", 0, ssl=ssl)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


def banner(text: bytes, *, then_close: bool = False) -> Handler:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(text)
        await writer.drain()
        if not then_close:
            await reader.read()  # until the probe hangs up

    return handler


async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.read()


async def test_banner_that_matches_is_ok(serve: Serve) -> None:
    port = await serve(banner(b"SSH-2.0-OpenSSH_9.6\r\n"))
    obs = await tcp_check(port, expect=r"^SSH-2\.0-").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.latency is not None and obs.latency > 0
    assert set(obs.phases) == {Phase.CONNECT}  # an IP literal needs no DNS
    assert obs.facts[Fact.PEER] == f"127.0.0.1:{port}"


async def test_connect_only_is_ok(serve: Serve) -> None:
    port = await serve(silent)
    obs = await tcp_check(port).probe()
    assert obs.reason is Reason.OK
    assert obs.latency is not None


async def test_banner_mismatch_before_close_is_assertion_failed(serve: Serve) -> None:
    port = await serve(banner(b"220 smtp ready\r\n", then_close=True))
    obs = await tcp_check(port, expect=r"^SSH-").probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert "closed the connection" in obs.detail
    assert "220 smtp ready" in obs.detail
    assert obs.latency is not None


async def test_banner_mismatch_on_open_connection_is_assertion_failed(serve: Serve) -> None:
    port = await serve(banner(b"220 smtp ready\r\n"))
    obs = await tcp_check(port, expect=r"^SSH-", timeout="500ms").probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert "16 bytes received within 0.5s" in obs.detail


async def test_send_ping_expect_pong(serve: Serve) -> None:
    received: list[bytes] = []

    async def pong(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        line = await reader.readuntil(b"\r\n")
        received.append(line)
        writer.write(b"+PONG\r\n" if line == b"PING\r\n" else b"-ERR\r\n")
        await writer.drain()
        await reader.read()

    port = await serve(pong)
    obs = await tcp_check(port, send="PING\r\n", expect="PONG").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert received == [b"PING\r\n"]


async def test_utf8_split_across_reads_still_matches(serve: Serve) -> None:
    async def split(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write("prix: 3 €".encode()[:-2])
        await writer.drain()
        await asyncio.sleep(0.05)  # a fake server may delay: the euro sign arrives in halves
        writer.write("prix: 3 €".encode()[-2:])
        await writer.drain()
        await reader.read()

    port = await serve(split)
    obs = await tcp_check(port, expect="3 €").probe()
    assert obs.reason is Reason.OK, obs.detail


async def test_refused(closed_port: int) -> None:
    obs = await tcp_check(closed_port).probe()
    assert obs.reason is Reason.CONNECT_REFUSED
    assert obs.latency is None
    assert Phase.CONNECT not in obs.phases


async def test_silent_server_times_out(serve: Serve) -> None:
    port = await serve(silent)
    began = time.monotonic()
    obs = await tcp_check(port, expect="hello", timeout="500ms").probe()
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "the server sent nothing within 0.5s"
    assert obs.latency is None
    assert obs.phases[Phase.CONNECT] < 0.5
    assert time.monotonic() - began < 2


async def test_endless_junk_stops_at_max_read(serve: Serve) -> None:
    written = 0

    async def junk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal written
        chunk = b"x" * 65536
        while written < 10 * 2**20:
            writer.write(chunk)
            await writer.drain()
            written += len(chunk)

    port = await serve(junk)
    tracemalloc.start()
    try:
        began = time.monotonic()
        obs = await tcp_check(port, expect="never-there", max_read="64KiB").probe()
        elapsed = time.monotonic() - began
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert "max_read (65536 bytes)" in obs.detail
    assert obs.facts["received_bytes"] == 65536
    assert elapsed < 2
    assert peak < 4 * 2**20


async def test_unresolvable_host_is_dns_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # The machine's resolver is not on loopback, so no test may ask it: fail the lookup the
    # way getaddrinfo does for a name that does not exist.
    async def no_such_name(*args: object, **kwargs: object) -> NoReturn:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(asyncio.get_running_loop(), "getaddrinfo", no_such_name)
    target = TcpTarget(name="t", kind="tcp", address="no-such-host.invalid:443", timeout="2s")
    obs = await TcpCheck(target, CheckEnv()).probe()
    assert obs.reason is Reason.DNS_ERROR, obs.detail
    assert obs.latency is None


async def test_connect_timeout_when_the_backlog_is_full() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    # Connections the listener never accepts fill its queue; further SYNs are dropped.
    fillers = [socket.socket() for _ in range(4)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        obs = await tcp_check(port, timeout="500ms").probe()
    finally:
        for filler in fillers:
            filler.close()
        listener.close()
    assert obs.reason is Reason.CONNECT_TIMEOUT
    assert obs.detail == "connect timed out after 0.5s"


@pytest.fixture
def test_ca() -> TestCA:
    return TestCA()


async def test_tls_with_a_trusted_ca(
    serve: Serve, test_ca: TestCA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The test-only route to trust: OpenSSL reads SSL_CERT_FILE as the system store.
    monkeypatch.setenv("SSL_CERT_FILE", test_ca.write_pem(tmp_path))
    cert = test_ca.server_cert("localhost")
    port = await serve(banner(b"hello over tls\n"), ssl=cert.context)
    obs = await tcp_check(port, tls=True, server_name="localhost", expect="hello").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert {Phase.CONNECT, Phase.TLS} <= set(obs.phases)


async def test_tls_untrusted_is_tls_error(serve: Serve, test_ca: TestCA) -> None:
    cert = test_ca.server_cert("localhost")
    port = await serve(banner(b"hello\n"), ssl=cert.context)
    obs = await tcp_check(port, tls=True, server_name="localhost").probe()
    assert obs.reason is Reason.TLS_ERROR
    assert "certificate verification failed" in obs.detail
    assert Phase.TLS not in obs.phases


async def test_tls_verify_off_accepts_an_untrusted_certificate(
    serve: Serve, test_ca: TestCA
) -> None:
    cert = test_ca.server_cert("other.example")
    port = await serve(banner(b"hello\n"), ssl=cert.context)
    obs = await tcp_check(port, tls=True, tls_verify=False, expect="hello").probe()
    assert obs.reason is Reason.OK, obs.detail


async def test_tls_to_a_plaintext_server_is_tls_error(serve: Serve) -> None:
    port = await serve(banner(b"HTTP/1.0 400 Bad Request\r\n\r\n", then_close=True))
    obs = await tcp_check(port, tls=True, tls_verify=False).probe()
    assert obs.reason is Reason.TLS_ERROR, obs.detail


async def test_tls_handshake_that_hangs_is_timeout(serve: Serve) -> None:
    port = await serve(silent)
    obs = await tcp_check(port, tls=True, tls_verify=False, timeout="500ms").probe()
    assert obs.reason is Reason.TIMEOUT
    assert "TLS handshake" in obs.detail


def test_expect_must_compile() -> None:
    with pytest.raises(ValueError, match="regular expression does not compile"):
        TcpTarget(name="t", kind="tcp", address="127.0.0.1:1", expect="(")
