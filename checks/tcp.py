"""`tcp`: connect (optionally with TLS), optionally send a line and expect a regex.

The connection is made in steps so that each one is timed and a failure or a timeout is
blamed on the right one: the host is resolved (phase `dns`, skipped for an IP literal), each
resolved address is tried in turn (phase `connect`), and with `tls: true` TLS is started on
the open connection with `StreamWriter.start_tls` (phase `tls`). `Session` does this for the
`tls` kind as well.

With `expect`, what the server sends is read (at most `max_read` bytes) until the regex
matches. It is `assertion_failed` when the server closes, the cap is reached, or the timeout
comes after the server did send something that does not match; `timeout` only when it sent
nothing at all. A timeout while resolving is `dns_error`, while connecting
`connect_timeout`, during the TLS handshake `timeout`. `latency` is the whole probe's time,
None when the target did not answer (refused, unresolvable, or nothing came back in time).
"""

from __future__ import annotations

import asyncio
import codecs
import ipaddress
import re
import socket
import ssl
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from time import perf_counter
from typing import Any, Literal

from pydantic import field_validator

from checks.base import CheckEnv, ProbeOnly, register
from checks.errors import classify_exception
from monitor.observation import Fact, Observation, Phase, Reason
from monitor.redact import SECRETS, scrub
from monitor.schema import Address, ByteSize, Regex, TargetBase, split_address

READ_CHUNK = 64 * 1024
PREVIEW_CHARS = 80
MAX_DETAIL = 300


class TcpTarget(TargetBase):
    kind: Literal["tcp"]
    address: Address
    tls: bool = False
    server_name: str | None = None
    tls_verify: bool = True
    send: str | None = None
    expect: Regex | None = None  # matched against what the server sends
    max_read: ByteSize = 64 * 1024

    @field_validator("send")
    @classmethod
    def _send_may_hold_credentials(cls, value: str | None) -> str | None:
        # `send` may be an AUTH line: a server echoing it must not leak it into a detail.
        if value:
            SECRETS.add([value, *value.split()])
        return value



class Step(StrEnum):
    """Where a connection is; a timeout or an error is attributed to the current step."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    EXCHANGE = "exchange"


@dataclass(frozen=True)
class Outcome:
    reason: Reason
    detail: str = ""


def error_text(exc: BaseException) -> str:
    return scrub(str(exc) or type(exc).__name__)[:MAX_DETAIL]


def is_ip_literal(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def client_tls_context(*, verify: bool = True, ca_file: str | None = None) -> ssl.SSLContext:
    """The system trust store, plus `ca_file` when given; `verify=False` checks nothing."""
    if not verify:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    context = ssl.create_default_context()
    if ca_file is not None:
        context.load_verify_locations(cafile=ca_file)
    return context


def format_peer(sockaddr: tuple[Any, ...]) -> str:
    host, port = str(sockaddr[0]), int(sockaddr[1])
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Session:
    """One TCP connection, optionally upgraded to TLS, with its phase timings.

    Open it inside the probe's `asyncio.timeout_at(deadline)` block and `aclose()` it after
    that block: closing (a TLS close_notify may wait for the peer) then cannot turn a
    result into a timeout, and still ends by `deadline`.
    """

    def __init__(self, host: str, port: int, deadline: float) -> None:
        self.host = host
        self.port = port
        self.deadline = deadline
        self.step = Step.DNS
        self.phases: dict[str, float] = {}
        self.peer: str | None = None
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    @contextmanager
    def _timed(self, step: Step, phase: Phase | None) -> Iterator[None]:
        self.step = step
        start = perf_counter()
        yield
        if phase is not None:
            self.phases[phase] = perf_counter() - start

    async def _resolve(self) -> list[tuple[socket.AddressFamily, tuple[Any, ...]]]:
        phase = None if is_ip_literal(self.host) else Phase.DNS
        with self._timed(Step.DNS, phase):
            infos = await asyncio.get_running_loop().getaddrinfo(
                self.host, self.port, type=socket.SOCK_STREAM
            )
        return [(family, sockaddr) for family, _, _, _, sockaddr in infos]

    async def connect(self) -> None:
        addresses = await self._resolve()
        last_error: OSError = OSError(f"{self.host} resolved to no address")
        with self._timed(Step.CONNECT, Phase.CONNECT):
            for family, sockaddr in addresses:
                try:
                    self.reader, self.writer = await asyncio.open_connection(
                        str(sockaddr[0]), self.port, family=family
                    )
                except OSError as exc:
                    last_error = exc
                    continue
                self.peer = format_peer(sockaddr)
                return
            raise last_error

    async def start_tls(self, context: ssl.SSLContext, server_name: str) -> bytes | None:
        """Upgrade the connection; returns the peer's leaf certificate (DER)."""
        assert self.writer is not None, "connect() first"
        with self._timed(Step.TLS, Phase.TLS):
            await self.writer.start_tls(context, server_hostname=server_name)
        ssl_object = self.writer.get_extra_info("ssl_object")
        if not isinstance(ssl_object, ssl.SSLObject):
            return None
        return ssl_object.getpeercert(binary_form=True)

    def start_exchange(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        assert self.reader is not None and self.writer is not None, "connect() first"
        self.step = Step.EXCHANGE
        return self.reader, self.writer

    def failure(self, exc: Exception) -> Outcome:
        """What an exception raised in the current step means."""
        if self.step is Step.DNS and isinstance(exc, UnicodeError):
            return Outcome(Reason.DNS_ERROR, f"invalid host name {self.host!r}")
        if self.step is Step.TLS and isinstance(exc, ssl.SSLCertVerificationError):
            message = scrub(exc.verify_message or str(exc))[:MAX_DETAIL]
            return Outcome(Reason.TLS_ERROR, f"certificate verification failed: {message}")
        if self.step is Step.TLS and isinstance(exc, OSError | EOFError) and not isinstance(
            exc, ssl.SSLError
        ):
            return Outcome(Reason.TLS_ERROR, "connection closed during the TLS handshake")
        reason, detail = classify_exception(exc, connected=self.step is Step.EXCHANGE)
        return Outcome(reason, detail)

    def timed_out(self, timeout: float) -> Outcome:
        """What running out of time in the current step means (EXCHANGE: see the caller)."""
        if self.step is Step.DNS:
            return Outcome(Reason.DNS_ERROR, f"name resolution timed out after {timeout:g}s")
        if self.step is Step.CONNECT:
            return Outcome(Reason.CONNECT_TIMEOUT, f"connect timed out after {timeout:g}s")
        if self.step is Step.TLS:
            return Outcome(Reason.TIMEOUT, f"TLS handshake did not complete within {timeout:g}s")
        return Outcome(Reason.TIMEOUT, f"no response within {timeout:g}s")

    async def aclose(self) -> None:
        """Close gracefully until the deadline, then abort; never raises (but cancellation)."""
        writer = self.writer
        if writer is None:
            return
        self.writer = self.reader = None
        closed = False
        try:
            writer.close()
            async with asyncio.timeout_at(self.deadline):
                await writer.wait_closed()
            closed = True
        except Exception:  # a reset or a TLS alert on the way out changes nothing
            pass
        finally:
            if not closed:
                writer.transport.abort()


@dataclass
class _Received:
    """What the server sent so far, bounded by max_read."""

    size: int = 0
    text: str = ""
    eof: bool = False

    def preview(self) -> str:
        return repr(self.text[:PREVIEW_CHARS])


class TcpCheck(ProbeOnly):
    def __init__(self, target: TcpTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self._host, self._port = split_address(target.address)
        self._server_name = target.server_name or self._host
        self._payload = target.send.encode("utf-8") if target.send is not None else None
        self._expect = re.compile(target.expect) if target.expect is not None else None
        self._tls_context: ssl.SSLContext | None = None

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        start = perf_counter()
        timeout = self.target.timeout_s
        session = Session(self._host, self._port, asyncio.get_running_loop().time() + timeout)
        received = _Received()
        try:
            async with asyncio.timeout_at(session.deadline):
                outcome = await self._run(session, received)
        except TimeoutError:
            outcome = self._timed_out(session, received, timeout)
        except Exception as exc:
            outcome = session.failure(exc)
        finally:
            await session.aclose()
        # The target answered when it accepted the connection and we did not end up waiting.
        connected = session.step in (Step.TLS, Step.EXCHANGE)
        answered = connected and outcome.reason is not Reason.TIMEOUT
        facts: dict[str, Any] = {Fact.PEER: session.peer} if session.peer else {}
        if self._expect is not None and session.step is Step.EXCHANGE:
            facts["received_bytes"] = received.size
        return Observation(
            target=self.target.name,
            started_at=started_at,
            reason=outcome.reason,
            latency=perf_counter() - start if answered else None,
            detail=scrub(outcome.detail)[:MAX_DETAIL],
            phases=dict(session.phases),
            facts=facts,
        )

    def _context(self) -> ssl.SSLContext:
        if self._tls_context is None:
            self._tls_context = client_tls_context(verify=self.target.tls_verify)
        return self._tls_context

    async def _run(self, session: Session, received: _Received) -> Outcome:
        await session.connect()
        if self.target.tls:
            await session.start_tls(self._context(), self._server_name)
        reader, writer = session.start_exchange()
        if self._payload is not None:
            writer.write(self._payload)
            await writer.drain()
        if self._expect is None:
            return Outcome(Reason.OK)
        return await self._read_until_match(reader, self._expect, received)

    async def _read_until_match(
        self, reader: asyncio.StreamReader, expect: re.Pattern[str], received: _Received
    ) -> Outcome:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        cap = self.target.max_read
        while received.size < cap:
            chunk = await reader.read(min(READ_CHUNK, cap - received.size))
            received.eof = not chunk
            received.size += len(chunk)
            received.text += decoder.decode(chunk, final=received.eof)
            if expect.search(received.text):
                return Outcome(Reason.OK)
            if received.eof:
                return Outcome(
                    Reason.ASSERTION_FAILED,
                    f"expect /{expect.pattern}/ did not match the {received.size} bytes received"
                    f" before the server closed the connection: {received.preview()}",
                )
        return Outcome(
            Reason.ASSERTION_FAILED,
            f"expect /{expect.pattern}/ did not match within max_read ({cap} bytes): "
            f"{received.preview()}",
        )

    def _timed_out(self, session: Session, received: _Received, timeout: float) -> Outcome:
        if session.step is not Step.EXCHANGE:
            return session.timed_out(timeout)
        if self._expect is None:
            return Outcome(Reason.TIMEOUT, f"sending did not complete within {timeout:g}s")
        if received.size == 0:
            return Outcome(Reason.TIMEOUT, f"the server sent nothing within {timeout:g}s")
        # It did answer, just not what was expected: that is a wrong answer, not a silence.
        return Outcome(
            Reason.ASSERTION_FAILED,
            f"expect /{self._expect.pattern}/ did not match the {received.size} bytes received"
            f" within {timeout:g}s: {received.preview()}",
        )


def build(target: TargetBase, env: CheckEnv) -> TcpCheck:
    assert isinstance(target, TcpTarget)
    return TcpCheck(target, env)


register("tcp", TcpTarget, build)
