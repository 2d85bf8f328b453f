"""`http`: one request per interval on a fresh connection, with phase timings and assertions.

Every probe opens a new connector (no pooled connection, no DNS cache), so DNS, routing and TLS
faults show on the very next probe. Phases, summed over redirect hops: `dns` (absent for IP
literals), `connect` (TCP), `tls` (handshake, timed from the moment the SSL transport wraps the
connected socket, see _TimedSSLContext), `ttfb` (request sent to response headers) and
`transfer` (headers to the last body byte). `latency` is the sum of the phases; it is None when
no complete response arrived (refused, timeout, broken). The ends of the phases come from the
kernel where it can tell (checks/wire.py): the handshake's round trip for `connect`, the
receive time of the bytes that finished the TLS handshake, began and ended the response, so
a busy event loop does not add its own delays to the target's latency.
"""

from __future__ import annotations

import asyncio
import email.utils
import functools
import re
import ssl
import time
from collections.abc import Awaitable, Callable, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC
from functools import cache
from types import SimpleNamespace
from typing import Annotated, Any, Literal, cast

import aiohappyeyeballs
import aiohttp
import orjson
from aiohttp.client_proto import ResponseHandler
from aiohttp.client_reqrep import ClientRequest
from cryptography import x509
from multidict import CIMultiDict
from pydantic import Field, model_validator

from checks import jsonpath, wire
from checks.base import DEFAULT_MAX_BODY, CheckEnv, ProbeOnly, register
from checks.errors import classify_exception
from monitor.observation import Fact, Observation, Phase, Reason
from monitor.redact import scrub
from monitor.schema import (
    ByteSize,
    HttpURL,
    PositiveDuration,
    Regex,
    SecretHeaders,
    Strict,
    TargetBase,
)

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpExpect(Strict):
    status: list[Annotated[int, Field(ge=100, le=599)]] | None = None  # None: any 2xx
    body_regex: Regex | None = None
    # dotted path -> expected value, or a comparison string like ">= 100"
    json_paths: dict[str, Any] | None = Field(default=None, alias="json")
    max_latency: PositiveDuration | None = None



class HttpTarget(TargetBase):
    kind: Literal["http"]
    url: HttpURL
    method: HttpMethod = "GET"
    headers: SecretHeaders = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = None
    max_body: ByteSize = DEFAULT_MAX_BODY
    max_redirects: Annotated[int, Field(ge=0, le=30)] = 5
    tls_verify: bool = True
    expect: HttpExpect = Field(default_factory=HttpExpect)


    @model_validator(mode="after")
    def _one_body(self) -> HttpTarget:
        if self.body is not None and self.json_body is not None:
            raise ValueError("set either body or json_body, not both")
        return self


MAX_RETRY_AFTER = 3600.0  # a longer Retry-After is recorded as this
_MAX_DETAIL = 300
_READ_CHUNK = 64 * 1024
_FOLLOWED_REDIRECTS = frozenset({301, 302, 303, 307, 308})  # what aiohttp follows
_RETRY_AFTER_STATUSES = frozenset({418, 429, 503})
_RETRY_AFTER_SECONDS = re.compile(r"^\d{1,10}(?:\.\d+)?$", re.ASCII)
# The probe bounds itself with asyncio.timeout: aiohttp's timeouts round up to whole seconds.
_NO_AIOHTTP_TIMEOUTS = aiohttp.ClientTimeout(
    total=None, connect=None, sock_read=None, sock_connect=None
)

Verdict = tuple[Reason, str]


@dataclass
class _Timeline:
    """Phase durations of one probe, fed by aiohttp trace hooks and _TimedSSLContext."""

    started: float = field(default_factory=time.perf_counter)
    phases: dict[str, float] = field(default_factory=dict)
    resolving: bool = False
    connected: bool = False
    headers_at: float | None = None
    finished_at: float | None = None
    peer_cert: bytes | None = None  # DER, of the last connection's server
    _dns_started: float = 0.0
    _connect_started: float = 0.0
    _dns_before_connect: float = 0.0
    _tls_started: float | None = None
    _tls_object: ssl.SSLObject | None = None
    _request_sent: float | None = None
    _request_written: float | None = None  # when the request's last bytes went to the kernel
    _first_byte_at: float | None = None  # of the current connection's response
    _last_byte_at: float | None = None
    _transport_up_at: float | None = None
    _handshake_rtt: float | None = None  # the TCP handshake as the kernel timed it

    def _add(self, phase: Phase, seconds: float) -> None:
        self.phases[phase.value] = self.phases.get(phase.value, 0.0) + max(seconds, 0.0)

    def connect_started(self) -> None:
        # aiohttp's "connection create" span covers DNS, TCP and TLS.
        self._connect_started = time.perf_counter()
        self._dns_before_connect = self.phases.get(Phase.DNS.value, 0.0)
        # A redirect hop starts over: what counts is the state of the current connection.
        self.connected = False
        self.headers_at = self._tls_started = self._tls_object = self.peer_cert = None
        self._first_byte_at = self._last_byte_at = self._transport_up_at = None
        self._handshake_rtt = self._request_written = None

    def tcp_connected(self, rtt: float | None) -> None:
        """The TCP handshake's duration as the kernel measured it (None: unknown)."""
        self._handshake_rtt = rtt

    def dns_started(self) -> None:
        self.resolving = True
        self._dns_started = time.perf_counter()

    def dns_ended(self) -> None:
        self.resolving = False
        self._add(Phase.DNS, time.perf_counter() - self._dns_started)

    def tls_started(self, tls_object: ssl.SSLObject) -> None:
        self._tls_started = time.perf_counter()
        self._tls_object = tls_object

    @property
    def handshaking(self) -> bool:
        return self._tls_started is not None and not self.connected

    def transport_up(self, at: float) -> None:
        """The connection (and its TLS handshake) is up (called from its protocol)."""
        self._transport_up_at = at

    def connect_ended(self) -> None:
        now = self._transport_up_at if self._transport_up_at is not None else time.perf_counter()
        dns = self.phases.get(Phase.DNS.value, 0.0) - self._dns_before_connect
        tcp_done = now
        if self._tls_started is not None:
            tcp_done = self._tls_started
            self._add(Phase.TLS, now - self._tls_started)
            self.peer_cert = _peer_certificate(self._tls_object)
            self._tls_object = None
        if self._handshake_rtt is not None:
            self._add(Phase.CONNECT, self._handshake_rtt)
        else:
            self._add(Phase.CONNECT, tcp_done - self._connect_started - dns)
        self.connected = True

    def request_sent(self) -> None:
        self._request_sent = time.perf_counter()

    def bytes_arrived(self, at: float, written: float | None = None) -> None:
        """Response bytes came off the socket (called from the connection's protocol), the
        request having last been written to it at `written` (None: unknown)."""
        if self._first_byte_at is None:
            self._first_byte_at = at
            self._request_written = written
        self._last_byte_at = at

    def headers_received(self) -> None:
        self.headers_at = (self._first_byte_at if self._first_byte_at is not None
                           else time.perf_counter())
        sent = self._request_written if self._request_written is not None else self._request_sent
        if sent is not None:
            self._add(Phase.TTFB, self.headers_at - sent)
            self._request_sent = self._request_written = None

    def body_read(self) -> None:
        self.finished()
        if self.headers_at is not None and self.finished_at is not None:
            self._add(Phase.TRANSFER, self.finished_at - self.headers_at)

    def finished(self) -> None:
        """The answer is complete: when its last bytes arrived, if the protocol saw them."""
        self.finished_at = (self._last_byte_at if self._last_byte_at is not None
                            else time.perf_counter())

    @property
    def latency(self) -> float | None:
        """The sum of the phases, each timed from our action to the socket's answer: the
        time the daemon itself takes between phases (a busy event loop resuming the probe)
        is not the target's and is left out."""
        if self.finished_at is None:
            return None
        measured = sum(self.phases.values())
        return measured if measured > 0 else self.finished_at - self.started


# The timeline of the probe running in the current task; read by trace hooks and the TLS
# context, which aiohttp and asyncio call from inside that task (or a copy of its context).
_TIMELINE: ContextVar[_Timeline | None] = ContextVar("outagemon_http_timeline", default=None)


def _peer_certificate(tls_object: ssl.SSLObject | None) -> bytes | None:
    if tls_object is None:
        return None
    try:
        return tls_object.getpeercert(binary_form=True)
    except (ValueError, ssl.SSLError):
        return None


class _TimedSSLContext(ssl.SSLContext):
    """Marks the start of each TLS handshake, so TLS is timed apart from the TCP connect.

    asyncio's (and uvloop's) SSL transport calls wrap_bio() once the TCP connection is up,
    just before it sends the ClientHello. If a loop ever does not, TLS time stays in `connect`.
    """

    def wrap_bio(
        self,
        incoming: ssl.MemoryBIO,
        outgoing: ssl.MemoryBIO,
        server_side: bool = False,
        server_hostname: str | bytes | None = None,
        session: ssl.SSLSession | None = None,
    ) -> ssl.SSLObject:
        tls_object = super().wrap_bio(incoming, outgoing, server_side, server_hostname, session)
        timeline = _TIMELINE.get()
        if timeline is not None:
            timeline.tls_started(tls_object)
        return tls_object


@cache
def _ssl_context(verify: bool) -> ssl.SSLContext:
    """Shared per verify mode: loading the trust store is slow and the context is reusable."""
    context = _TimedSSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and hostname
    if verify:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_alpn_protocols(["http/1.1"])
    return context


TraceHook = Callable[[aiohttp.ClientSession, SimpleNamespace, Any], Awaitable[None]]


def _hook(action: Callable[[_Timeline], None]) -> TraceHook:
    async def on_event(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, _: Any) -> None:
        timeline = _TIMELINE.get()
        if timeline is not None:
            action(timeline)

    return on_event


class _StampedResponseHandler(ResponseHandler):
    """Notes on the probe's timeline when the connection came up and when response bytes
    arrived: the kernel's receive time of the raw read that carried them (checks/wire.py),
    or the time of the I/O callback where the kernel gives none.

    Under load the task reading a response resumes a while after its bytes arrived (other
    probes' callbacks run first); that wait is the daemon's, not the server's, and must not
    count in the latency. aiohttp builds the protocol inside the probe's task, so the
    timeline is found there.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(loop)
        self.timeline = _TIMELINE.get()
        self.raw: wire.StampedTransport | None = None  # the socket's own transport

    def _arrived(self) -> float:
        raw = self.raw
        return raw.read_at if raw is not None and raw.read_at is not None \
            else time.perf_counter()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        if self.timeline is not None:
            self.timeline.transport_up(self._arrived())
        super().connection_made(transport)

    def data_received(self, data: bytes) -> None:
        if self.timeline is not None:
            self.timeline.bytes_arrived(self._arrived(),
                                        self.raw.written_at if self.raw is not None else None)
        super().data_received(data)


def _stamped(protocol: asyncio.BaseProtocol, raw: wire.StampedTransport) -> None:
    if isinstance(protocol, _StampedResponseHandler):
        protocol.raw = raw
        if protocol.timeline is not None:
            protocol.timeline.tcp_connected(wire.handshake_rtt(raw.get_extra_info("socket")))


class _StampingConnector(aiohttp.TCPConnector):
    """Connections on checks/wire.py's StampedTransport, each protocol a
    _StampedResponseHandler."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # aiohttp builds every connection's protocol with this factory (no public hook)
        self._factory = cast("functools.partial[ResponseHandler]",
                             functools.partial(_StampedResponseHandler, loop=self._loop))

    async def _wrap_create_connection(  # type: ignore[override]
        self,
        protocol_factory: Callable[[], ResponseHandler],
        *,
        addr_infos: list[aiohappyeyeballs.AddrInfoType],
        req: ClientRequest,
        timeout: aiohttp.ClientTimeout,
        client_error: type[Exception] = aiohttp.ClientConnectorError,
        server_hostname: str | None = None,
        **kwargs: Any,
    ) -> tuple[asyncio.Transport, ResponseHandler]:
        """aiohttp's own (3.10 and later), connecting through `wire.open_connection` rather than
        `loop.create_connection`. The probe's deadline bounds it (the session sets no
        aiohttp timeouts)."""
        try:
            sock = await aiohappyeyeballs.start_connection(
                addr_infos=addr_infos, local_addr_infos=self._local_addr_infos,
                happy_eyeballs_delay=self._happy_eyeballs_delay, interleave=self._interleave,
                loop=self._loop)
            transport, protocol = await wire.open_connection(
                self._loop, protocol_factory, sock, ssl_context=kwargs.get("ssl") or None,
                server_hostname=server_hostname, on_transport=_stamped)
        except ssl.SSLCertVerificationError as exc:
            raise aiohttp.ClientConnectorCertificateError(req.connection_key, exc) from exc
        except ssl.SSLError as exc:
            raise aiohttp.ClientConnectorSSLError(req.connection_key, exc) from exc
        except OSError as exc:
            if exc.errno is None and isinstance(exc, asyncio.TimeoutError):
                raise
            raise client_error(req.connection_key, exc) from exc
        return transport, cast(ResponseHandler, protocol)


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_dns_resolvehost_start.append(_hook(_Timeline.dns_started))
    config.on_dns_resolvehost_end.append(_hook(_Timeline.dns_ended))
    config.on_connection_create_start.append(_hook(_Timeline.connect_started))
    config.on_connection_create_end.append(_hook(_Timeline.connect_ended))
    config.on_request_headers_sent.append(_hook(_Timeline.request_sent))
    config.on_request_chunk_sent.append(_hook(_Timeline.request_sent))
    config.on_request_redirect.append(_hook(_Timeline.headers_received))
    config.on_request_end.append(_hook(_Timeline.headers_received))
    config.freeze()
    return config


_TRACE_CONFIG = _trace_config()


class HttpCheck(ProbeOnly):
    def __init__(self, target: HttpTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self._ssl = _ssl_context(target.tls_verify)
        self._headers: CIMultiDict[str] = CIMultiDict({"User-Agent": env.user_agent})
        self._headers.update(target.headers)  # case-insensitive override
        regex = target.expect.body_regex
        self._body_regex = re.compile(regex) if regex is not None else None

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        timeline = _Timeline()
        facts: dict[str, Any] = {}
        token = _TIMELINE.set(timeline)
        try:
            reason, detail = await self._bounded_exchange(timeline, facts)
        finally:
            _TIMELINE.reset(token)
        if timeline.peer_cert is not None and (expiry := _cert_expiry(timeline.peer_cert)):
            facts[Fact.CERT_EXPIRY] = expiry
        return Observation(
            target=self.target.name,
            started_at=started_at,
            reason=reason,
            latency=timeline.latency,
            detail=scrub(detail)[:_MAX_DETAIL],
            phases=dict(timeline.phases),
            facts=facts,
        )

    async def _bounded_exchange(self, timeline: _Timeline, facts: dict[str, Any]) -> Verdict:
        try:
            async with asyncio.timeout(self.target.timeout_s), self._new_session() as session:
                return await self._exchange(session, timeline, facts)
        except Exception as exc:  # every failure is a Reason; CancelledError passes
            return self._exception_verdict(exc, timeline)

    def _new_session(self) -> aiohttp.ClientSession:
        connector = _StampingConnector(ssl=self._ssl, use_dns_cache=False, force_close=True)
        return aiohttp.ClientSession(
            connector=connector, timeout=_NO_AIOHTTP_TIMEOUTS, trace_configs=[_TRACE_CONFIG]
        )

    async def _exchange(
        self, session: aiohttp.ClientSession, timeline: _Timeline, facts: dict[str, Any]
    ) -> Verdict:
        target = self.target
        async with session.request(
            target.method,
            target.url.reveal(),
            headers=self._headers,
            data=target.body,
            json=target.json_body,
            allow_redirects=target.max_redirects > 0,
            # aiohttp gives up on the max_redirects-th redirect; we allow that many.
            max_redirects=target.max_redirects + 1,
        ) as response:
            facts[Fact.HTTP_STATUS] = response.status
            rejected = self._status_verdict(response, facts)
            if rejected is not None:
                timeline.finished()
                return rejected
            body = b""
            if target.method != "HEAD":
                read = await read_capped(response, target.max_body)
                if read is None:
                    timeline.finished()
                    return Reason.INVALID_RESPONSE, f"body larger than {target.max_body} bytes"
                body = read
            timeline.body_read()
        return self._assess(body, timeline.latency)

    def _status_verdict(
        self, response: aiohttp.ClientResponse, facts: dict[str, Any]
    ) -> Verdict | None:
        status = response.status
        verdict = status_verdict(
            status, self.target.expect.status, redirects_followed=self.target.max_redirects > 0
        )
        if verdict is None or status not in _RETRY_AFTER_STATUSES:
            return verdict
        retry_after = parse_retry_after(response.headers.get("Retry-After"), self._env.clock.wall())
        if retry_after is None:
            return verdict
        facts[Fact.RETRY_AFTER] = retry_after
        return verdict[0], f"{verdict[1]}, retry after {retry_after:g}s"

    def _assess(self, body: bytes, latency: float | None) -> Verdict:
        expect = self.target.expect
        if self._body_regex is not None and not self._body_regex.search(
            body.decode("utf-8", errors="replace")
        ):
            return Reason.ASSERTION_FAILED, f"body does not match {_shorten(expect.body_regex)}"
        if expect.json_paths:
            try:
                document = orjson.loads(body)
            except (ValueError, RecursionError) as exc:  # orjson.JSONDecodeError is a ValueError
                return Reason.INVALID_RESPONSE, f"response is not valid JSON: {_shorten(str(exc))}"
            failure = jsonpath.first_failure(document, expect.json_paths)
            if failure is not None:
                return Reason.ASSERTION_FAILED, f"JSON {failure}"
        if expect.max_latency is not None and latency is not None and latency > expect.max_latency:
            took, limit = latency * 1000, expect.max_latency * 1000
            return Reason.DEGRADED, f"slow: {took:.0f} ms, over max_latency {limit:g} ms"
        return Reason.OK, ""

    def _exception_verdict(self, exc: Exception, timeline: _Timeline) -> Verdict:
        if isinstance(exc, aiohttp.TooManyRedirects):
            return Reason.INVALID_RESPONSE, (
                f"too many redirects (more than {self.target.max_redirects})"
            )
        timeout = self.target.timeout_s
        if isinstance(exc, TimeoutError) and timeline.resolving:
            return Reason.DNS_ERROR, f"name resolution timed out after {timeout:g}s"
        reason, detail = classify_exception(exc, connected=timeline.connected)
        if reason is Reason.CONNECT_TIMEOUT and timeline.handshaking:
            detail = f"TLS handshake timed out after {timeout:g}s"
        elif reason is Reason.TIMEOUT:
            waiting_for = "the body" if timeline.headers_at is not None else "the response"
            detail = f"timed out after {timeout:g}s waiting for {waiting_for}"
        return reason, detail


def status_verdict(
    status: int, expected: Sequence[int] | None, *, redirects_followed: bool = True
) -> Verdict | None:
    """None when `status` is acceptable; otherwise why not (Retry-After not included)."""
    if (status in expected) if expected is not None else (200 <= status < 300):
        return None
    if status in (418, 429):
        return Reason.RATE_LIMITED, f"HTTP {status}: rate limited"
    if status == 451:
        return Reason.GEO_BLOCKED, "HTTP 451: unavailable for legal reasons"
    if 400 <= status < 500:
        return Reason.HTTP_4XX, f"HTTP {status}"
    if 500 <= status < 600:
        return Reason.HTTP_5XX, f"HTTP {status}"
    if status in _FOLLOWED_REDIRECTS and not redirects_followed:
        return Reason.INVALID_RESPONSE, f"HTTP {status}: redirect not followed (max_redirects 0)"
    if 100 <= status < 400:
        wanted = ", ".join(map(str, expected)) if expected is not None else "2xx"
        return Reason.ASSERTION_FAILED, f"HTTP {status}, expected {_shorten(wanted)}"
    return Reason.INVALID_RESPONSE, f"invalid HTTP status {status}"


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Retry-After as seconds from `now` (unix time), within [0, MAX_RETRY_AFTER]; None if bad.

    Accepts delay-seconds (also with a fraction) or an HTTP-date.
    """
    if value is None:
        return None
    text = value.strip()
    if _RETRY_AFTER_SECONDS.match(text):
        seconds = float(text)
    else:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError, OverflowError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


async def read_capped(response: aiohttp.ClientResponse, cap: int) -> bytes | None:
    """The body, or None as soon as it grows past `cap` bytes (counted after decompression)."""
    body = bytearray()
    async for chunk in response.content.iter_chunked(min(_READ_CHUNK, cap + 1)):
        body += chunk
        if len(body) > cap:
            return None
    return bytes(body)


def _cert_expiry(der: bytes) -> float | None:
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc.timestamp()
    except ValueError:
        return None


def _shorten(text: str | None, limit: int = 80) -> str:
    text = text or ""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def build(target: TargetBase, env: CheckEnv) -> HttpCheck:
    if not isinstance(target, HttpTarget):
        raise TypeError(f"http check built for a {type(target).__name__}")
    return HttpCheck(target, env)


register("http", HttpTarget, build)
