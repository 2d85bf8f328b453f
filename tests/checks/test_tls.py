"""`tls` check against real TLS servers on 127.0.0.1 presenting trustme certificates."""

from __future__ import annotations

import asyncio
import socket
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509

from checks.base import CheckEnv
from checks.tls import TRUSTED, TlsCheck, TlsTarget, describe, matches_host
from monitor.observation import Fact, Phase, Reason
from tests.fakes.certs import TestCA

Serve = Callable[..., Awaitable[int]]


def tls_check(port: int, **fields: Any) -> TlsCheck:
    config = {"name": "t", "kind": "tls", "address": f"127.0.0.1:{port}", "timeout": "3s"}
    return TlsCheck(TlsTarget.model_validate({**config, **fields}), CheckEnv())


async def read_until_eof(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        await reader.read()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.close()


@pytest.fixture
async def serve() -> AsyncIterator[Serve]:
    servers: list[asyncio.Server] = []

    async def start(ssl_context: ssl.SSLContext | None, handler: Any = read_until_eof) -> int:
        server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=ssl_context)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for server in servers:
        server.close()
        await server.wait_closed()


@pytest.fixture
def test_ca() -> TestCA:
    return TestCA()


@pytest.fixture
def ca_file(test_ca: TestCA, tmp_path: Path) -> str:
    return test_ca.write_pem(tmp_path)


async def test_valid_certificate_is_ok(serve: Serve, test_ca: TestCA, ca_file: str) -> None:
    cert = test_ca.server_cert("127.0.0.1", "localhost", days_left=90)
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file).probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.CERT_EXPIRY] == cert.not_after.timestamp()
    assert obs.facts[Fact.CERT_DAYS_LEFT] == pytest.approx(90, abs=0.01)
    assert obs.facts["chain_valid"] is True
    assert obs.facts["hostname_match"] is True
    assert obs.facts["cert_subject"] == "127.0.0.1"
    assert "Testing CA" in obs.facts["cert_issuer"]
    assert obs.detail == "certificate valid for 90 days"
    assert {Phase.CONNECT, Phase.TLS} <= set(obs.phases)
    assert obs.latency is not None


async def test_server_name_is_used_for_sni_and_verification(
    serve: Serve, test_ca: TestCA, ca_file: str
) -> None:
    cert = test_ca.server_cert("localhost")
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file, server_name="localhost").probe()
    assert obs.reason is Reason.OK, obs.detail


async def test_near_expiry_is_degraded(serve: Serve, test_ca: TestCA, ca_file: str) -> None:
    cert = test_ca.server_cert("127.0.0.1", days_left=10)
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file, warn_before="21d").probe()
    assert obs.reason is Reason.DEGRADED
    assert obs.detail == "certificate expires in 10 days"
    assert obs.facts[Fact.CERT_DAYS_LEFT] == pytest.approx(10, abs=0.01)


async def test_expired_certificate_is_tls_error(
    serve: Serve, test_ca: TestCA, ca_file: str
) -> None:
    cert = test_ca.server_cert("127.0.0.1", days_left=-3)
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file).probe()
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail == "certificate expired 3 days ago"
    assert obs.facts[Fact.CERT_EXPIRY] == cert.not_after.timestamp()
    assert obs.facts[Fact.CERT_DAYS_LEFT] == pytest.approx(-3, abs=0.01)


async def test_not_yet_valid_certificate_is_tls_error(
    serve: Serve, test_ca: TestCA, ca_file: str
) -> None:
    cert = test_ca.server_cert("127.0.0.1", days_left=30, valid_for=28)  # starts in 2 days
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file).probe()
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail == "certificate not valid for another 2 days"


async def test_unknown_ca_is_tls_error_but_expiry_is_reported(
    serve: Serve, test_ca: TestCA
) -> None:
    cert = test_ca.server_cert("127.0.0.1", days_left=40)
    port = await serve(cert.context)
    obs = await tls_check(port).probe()  # no ca_file: only the system store
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail.startswith("certificate chain not trusted: ")
    assert "issuer" in obs.detail  # OpenSSL's own words: unable to get local issuer ...
    assert obs.facts[Fact.CERT_EXPIRY] == cert.not_after.timestamp()
    assert obs.facts["chain_valid"] is False
    assert obs.facts["hostname_match"] is True  # from the subjectAltName


async def test_hostname_mismatch_is_tls_error(
    serve: Serve, test_ca: TestCA, ca_file: str
) -> None:
    cert = test_ca.server_cert("other.example")
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file, server_name="localhost").probe()
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail == "certificate does not match host localhost"
    assert obs.facts["chain_valid"] is True
    assert obs.facts["hostname_match"] is False
    assert Fact.CERT_EXPIRY in obs.facts


async def test_ip_address_not_in_certificate_is_tls_error(
    serve: Serve, test_ca: TestCA, ca_file: str
) -> None:
    cert = test_ca.server_cert("localhost")
    port = await serve(cert.context)
    obs = await tls_check(port, ca_file=ca_file).probe()  # verifies 127.0.0.1
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail == "certificate does not match host 127.0.0.1"


async def test_hanging_handshake_is_timeout(serve: Serve) -> None:
    port = await serve(None)  # accepts TCP, never speaks TLS
    obs = await tls_check(port, timeout="500ms").probe()
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "TLS handshake did not complete within 0.5s"
    assert obs.latency is None
    assert Phase.CONNECT in obs.phases and Phase.TLS not in obs.phases


async def test_plaintext_server_is_tls_error(serve: Serve) -> None:
    async def http_error(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        writer.close()

    port = await serve(None, http_error)
    obs = await tls_check(port).probe()
    assert obs.reason is Reason.TLS_ERROR, obs.detail
    assert Fact.CERT_EXPIRY not in obs.facts


@pytest.fixture
def closed_port() -> Iterator[int]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    yield sock.getsockname()[1]
    sock.close()


async def test_refused(closed_port: int) -> None:
    obs = await tls_check(closed_port).probe()
    assert obs.reason is Reason.CONNECT_REFUSED
    assert obs.latency is None


async def test_missing_ca_file_is_an_error(tmp_path: Path) -> None:
    obs = await tls_check(1, ca_file=str(tmp_path / "missing.pem")).probe()
    assert obs.reason is Reason.ERROR
    assert obs.detail.startswith("cannot load ca_file: ")


def leaf(test_ca: TestCA, *names: str) -> x509.Certificate:
    issued = test_ca.ca.issue_cert(*names)
    return x509.load_pem_x509_certificate(issued.cert_chain_pems[0].bytes())


@pytest.mark.parametrize(
    ("names", "host", "expected"),
    [
        (("*.example.com",), "api.example.com", True),
        (("*.example.com",), "API.Example.COM.", True),
        (("*.example.com",), "example.com", False),
        (("*.example.com",), "a.b.example.com", False),
        (("example.com",), "example.com", True),
        (("example.com",), "example.org", False),
        (("127.0.0.1",), "127.0.0.1", True),
        (("127.0.0.1",), "127.0.0.2", False),
        (("localhost",), "127.0.0.1", False),
    ],
)
def test_matches_host(
    test_ca: TestCA, names: tuple[str, ...], host: str, expected: bool
) -> None:
    assert matches_host(leaf(test_ca, *names), host) is expected


@pytest.mark.parametrize("der", [b"", b"\x30\x03abc", b"\x30\x82\xff\xff" + b"\x00" * 64])
def test_malformed_certificate_raises_value_error(der: bytes) -> None:
    with pytest.raises(ValueError):
        describe(der, TRUSTED, "localhost")
