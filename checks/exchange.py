"""`exchange`: a built-in venue adapter: REST health (server time, system status, rate
limits, venue errors) plus the venue's WebSocket stream of trades for one market.

Each probe makes its REST calls on a fresh connection (bounded by `timeout` overall, bodies
capped at `max_body`): the adapter's time call gives the clock skew (server time minus the
local midpoint of the request), the latency and the rate-limit headers; its status call, if
it has one, says whether the venue is in maintenance. The stream runs from `start()` on and
publishes every traded price to the shared price board.

One Observation combines both. A REST failure wins (a venue that is geo-blocked or in
maintenance says so first), then the stream's own failure (stale, disconnected), then the
soft limits that make it `degraded`: event lag, sequence gaps since the previous probe, REST
latency, clock skew and rate-limit use.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Annotated, Any, Literal

import aiohttp
import orjson
from pydantic import Field, field_validator

from checks.base import CheckEnv, register
from checks.errors import classify_exception
from checks.exchanges.base import Market, RestCall, VenueAdapter, Verdict, adapters
from checks.http import parse_retry_after, read_capped, status_verdict
from checks.stream import EventKind, StreamEvent, StreamSnapshot, StreamWatcher
from checks.websocket import Reconnect
from monitor.observation import Fact, Observation, Phase, Reason
from monitor.redact import SecretURL, scrub
from monitor.schema import ByteSize, PositiveDuration, TargetBase


class ExchangeTarget(TargetBase):
    kind: Literal["exchange"]
    exchange: str
    market: str
    rest_url: SecretURL | None = None  # override: a proxy, a mirror or a test server
    ws_url: SecretURL | None = None
    streams: bool = True  # false: REST only
    stale_after: PositiveDuration = 60.0
    max_event_lag: PositiveDuration | None = 2.0  # slower stream: degraded
    max_latency: PositiveDuration | None = None  # slower REST: degraded
    max_clock_skew: PositiveDuration = 1.0  # larger skew: degraded
    rate_limit_warn: Annotated[float, Field(gt=0, le=1)] = 0.8  # more used: degraded
    max_body: ByteSize = 1024 * 1024
    max_message: ByteSize = 1024 * 1024
    reconnect: Reconnect = Field(default_factory=Reconnect)

    @property
    def is_stream(self) -> bool:
        return self.streams

    @property
    def canonical_market(self) -> str:
        return str(Market.parse(self.market))

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        known = adapters()
        if value not in known:
            raise ValueError(f"unknown exchange {value!r} (known: {', '.join(sorted(known))})")
        return value

    @field_validator("market")
    @classmethod
    def _market(cls, value: str) -> str:
        return str(Market.parse(value))


MAX_DETAIL = 300
SERVER_TIME = "server_time"  # fact: the venue's clock at the time call, unix seconds
_MAX_ERROR_TEXT = 120
# After these the venue asked us to back off or will not serve us: no further requests.
_NO_FURTHER_CALLS = frozenset({Reason.RATE_LIMITED, Reason.GEO_BLOCKED})
_RETRY_AFTER_STATUSES = frozenset({418, 429, 503})
_SHAPE_ERRORS = (ValueError, KeyError, TypeError, IndexError)
# The check bounds itself with asyncio.timeout: aiohttp's timeouts round up to whole seconds.
_NO_AIOHTTP_TIMEOUTS = aiohttp.ClientTimeout(
    total=None, connect=None, sock_read=None, sock_connect=None
)


class _Rejected:
    """Marks an answer already counted as a failure, or not JSON (None is valid JSON)."""


_REJECTED = _Rejected()


@dataclass
class _Request:
    """Timing of one REST request; the trace hooks fill in the connect and send times."""

    label: str  # which call, for details
    wall: Callable[[], float]
    started_wall: float = 0.0
    started: float = field(default_factory=time.perf_counter)
    connected_at: float | None = None
    sent_at: float | None = None
    sent_wall: float | None = None
    headers_at: float | None = None
    headers_wall: float | None = None
    finished_at: float | None = None

    def __post_init__(self) -> None:
        self.started_wall = self.wall()

    def connected(self) -> None:
        self.connected_at = time.perf_counter()

    def sent(self) -> None:
        self.sent_at, self.sent_wall = time.perf_counter(), self.wall()

    def headers_received(self) -> None:
        self.headers_at, self.headers_wall = time.perf_counter(), self.wall()

    def finished(self) -> None:
        self.finished_at = time.perf_counter()

    @property
    def latency(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started

    @property
    def local_midpoint(self) -> float | None:
        """When, on our wall clock, the venue most likely read its clock.

        From the request leaving to the answer arriving, not from the start: the connect
        (DNS, TCP, TLS) happens before the venue sees the request and would bias the skew.
        """
        if self.headers_wall is None:
            return None
        before = self.sent_wall if self.sent_wall is not None else self.started_wall
        return (before + self.headers_wall) / 2

    @property
    def phases(self) -> dict[str, float]:
        phases: dict[str, float] = {}
        if self.headers_at is not None:
            asked = self.sent_at or self.connected_at or self.started
            phases[Phase.TTFB.value] = max(self.headers_at - asked, 0.0)
            if self.finished_at is not None:
                phases[Phase.TRANSFER.value] = max(self.finished_at - self.headers_at, 0.0)
        return phases


async def _on_connected(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
    if isinstance(ctx.trace_request_ctx, _Request):
        ctx.trace_request_ctx.connected()


async def _on_headers_sent(_: aiohttp.ClientSession, ctx: SimpleNamespace, __: Any) -> None:
    if isinstance(ctx.trace_request_ctx, _Request):
        ctx.trace_request_ctx.sent()


def _trace_config() -> aiohttp.TraceConfig:
    config = aiohttp.TraceConfig()
    config.on_connection_create_end.append(_on_connected)
    config.on_request_headers_sent.append(_on_headers_sent)
    config.freeze()
    return config


_TRACE_CONFIG = _trace_config()


@dataclass
class _Rest:
    """What the REST part of one probe found."""

    facts: dict[str, Any] = field(default_factory=dict)
    failures: list[Verdict] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    latency: float | None = None
    clock_skew: float | None = None
    used_ratio: float | None = None
    in_flight: _Request | None = None  # tells a connect timeout from a response timeout

    def fail(self, reason: Reason, detail: str) -> None:
        self.failures.append((reason, detail))

    @property
    def verdict(self) -> Verdict | None:
        """The failure to report: maintenance explains the others, else the first one."""
        for failure in self.failures:
            if failure[0] is Reason.MAINTENANCE:
                return failure
        return self.failures[0] if self.failures else None

    @property
    def may_continue(self) -> bool:
        return not any(reason in _NO_FURTHER_CALLS for reason, _ in self.failures)


class ExchangeCheck:
    """REST health on a fresh connection per probe, plus (unless REST-only) one stream."""

    def __init__(self, target: ExchangeTarget, env: CheckEnv, adapter: VenueAdapter) -> None:
        self.target = target
        self._env = env
        self._adapter = adapter
        self._headers = {"User-Agent": env.user_agent, "Accept": "application/json"}
        self._watcher: StreamWatcher | None = None
        self._last_price: float | None = None
        self._gaps_seen = 0

    # -- stream ----------------------------------------------------------------------------

    async def start(self) -> None:
        target = self.target
        if not target.streams or self._watcher is not None:
            return
        self._watcher = StreamWatcher(
            target.name,
            self._adapter,
            clock=self._env.clock,
            stale_after=target.stale_after,
            max_message=target.max_message,
            connect_timeout=target.timeout_s,
            reconnect_initial=target.reconnect.initial,
            reconnect_max=target.reconnect.max,
            max_event_lag=target.max_event_lag,
            on_event=self._publish,
        )
        await self._watcher.start()

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.close()

    def _publish(self, event: StreamEvent) -> None:
        if event.kind is not EventKind.DATA or event.price is None:
            return
        self._last_price = event.price
        target = self.target
        self._env.prices.publish(
            market=target.canonical_market,
            venue=target.exchange,
            price=event.price,
            at=self._env.clock.wall(),
            source=target.name,
        )

    # -- probe -----------------------------------------------------------------------------

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        watcher = self._watcher
        if watcher is None:
            rest = await self._rest()
        else:
            # A first probe waits for the first connect to end rather than report "not yet".
            rest, _ = await asyncio.gather(
                self._rest(), watcher.wait_first_attempt(self.target.timeout_s))
        snapshot = watcher.snapshot() if watcher is not None else None
        reason, detail = self._judge(rest, snapshot)
        facts = dict(rest.facts)
        if self._last_price is not None:
            facts[Fact.PRICE] = self._last_price
        return Observation(
            target=self.target.name,
            started_at=started_at,
            reason=reason,
            latency=rest.latency,
            detail=scrub(detail)[:MAX_DETAIL],
            phases=rest.phases,
            facts=facts,
            stream=snapshot.stats if snapshot is not None else None,
        )

    def _judge(self, rest: _Rest, snapshot: StreamSnapshot | None) -> Verdict:
        warnings = self._stream_warnings(snapshot) if snapshot is not None else []
        if rest.verdict is not None:
            return rest.verdict
        if snapshot is not None and not snapshot.reason.is_success:
            return snapshot.reason, f"stream: {snapshot.detail}"
        causes = warnings + self._soft_limits(rest)
        return (Reason.DEGRADED, "; ".join(causes)) if causes else (Reason.OK, "")

    def _stream_warnings(self, snapshot: StreamSnapshot) -> list[str]:
        warnings = []
        if snapshot.reason is Reason.DEGRADED:
            warnings.append(f"stream: {snapshot.detail}")
        gaps = snapshot.stats.sequence_gaps
        new_gaps, self._gaps_seen = gaps - self._gaps_seen, gaps
        if new_gaps > 0:
            warnings.append(f"stream: {new_gaps} messages missing (sequence gaps)")
        return warnings

    def _soft_limits(self, rest: _Rest) -> list[str]:
        target = self.target
        causes = []
        latency, limit = rest.latency, target.max_latency
        if latency is not None and limit is not None and latency > limit:
            causes.append(f"REST slow: {latency * 1000:.0f} ms, over max_latency "
                          f"{limit * 1000:g} ms")
        skew = rest.clock_skew
        if skew is not None and abs(skew) > target.max_clock_skew:
            causes.append(f"clock skew {skew:+.3f} s, over max_clock_skew "
                          f"{target.max_clock_skew:g} s")
        used = rest.used_ratio
        if used is not None and used > target.rate_limit_warn:
            causes.append(f"rate limit {used:.0%} used, over rate_limit_warn "
                          f"{target.rate_limit_warn:.0%}")
        return causes

    # -- REST ------------------------------------------------------------------------------

    async def _rest(self) -> _Rest:
        rest = _Rest()
        status_call = self._adapter.status_call
        try:
            async with asyncio.timeout(self.target.timeout_s), self._new_session() as session:
                await self._time(session, rest)
                if status_call is not None and rest.may_continue:
                    await self._status(session, status_call, rest)
        except Exception as exc:  # every failure is a Reason; CancelledError passes
            rest.fail(*self._exception_verdict(exc, rest.in_flight))
        return rest

    def _new_session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(use_dns_cache=False, force_close=True)
        return aiohttp.ClientSession(
            connector=connector, timeout=_NO_AIOHTTP_TIMEOUTS, trace_configs=[_TRACE_CONFIG]
        )

    async def _time(self, session: aiohttp.ClientSession, rest: _Rest) -> None:
        request = _Request("time", self._env.clock.wall)
        body = await self._call(session, self._adapter.time_call, request, rest)
        rest.latency = request.latency
        rest.phases = request.phases
        if body is _REJECTED:
            return
        try:
            server_time = self._adapter.parse_time(body)
        except _SHAPE_ERRORS as exc:
            rest.fail(Reason.INVALID_RESPONSE, f"time: unexpected answer ({_error_text(exc)})")
            return
        midpoint = request.local_midpoint
        rest.facts[SERVER_TIME] = server_time
        if midpoint is not None:
            rest.clock_skew = server_time - midpoint
            rest.facts[Fact.CLOCK_SKEW] = rest.clock_skew

    async def _status(self, session: aiohttp.ClientSession, call: RestCall, rest: _Rest) -> None:
        request = _Request("status", self._env.clock.wall)
        body = await self._call(session, call, request, rest)
        if body is _REJECTED:
            return
        try:
            status = self._adapter.parse_status(body)
        except _SHAPE_ERRORS as exc:
            rest.fail(Reason.INVALID_RESPONSE, f"status: unexpected answer ({_error_text(exc)})")
            return
        rest.facts[Fact.MAINTENANCE] = status.maintenance
        if status.maintenance:
            why = f": {status.detail}" if status.detail else ""
            rest.fail(Reason.MAINTENANCE, f"venue reports maintenance{why}")

    async def _call(
        self, session: aiohttp.ClientSession, call: RestCall, request: _Request, rest: _Rest
    ) -> Any:
        """The decoded JSON of an accepted answer, or _REJECTED after recording why not."""
        label = request.label
        rest.in_flight = request
        async with session.get(
            self._adapter.rest_base + call.path,
            params=dict(call.params),
            headers=self._headers,
            allow_redirects=False,
            trace_request_ctx=request,
        ) as response:
            request.headers_received()
            rest.facts[Fact.HTTP_STATUS] = response.status
            self._note_rate_limit(response.headers, rest)
            raw = await read_capped(response, self.target.max_body)
            request.finished()
        rest.in_flight = None
        if raw is None:
            limit = self.target.max_body
            rest.fail(Reason.INVALID_RESPONSE, f"{label}: body larger than {limit} bytes")
            return _REJECTED
        document = _decode(raw)
        verdict = self._answer_verdict(response.status, document)
        if verdict is not None:
            rest.fail(verdict[0], f"{label}: {verdict[1]}")
            self._note_retry_after(response, rest)
            return _REJECTED
        if document is _REJECTED:
            rest.fail(Reason.INVALID_RESPONSE, f"{label}: answer is not JSON")
        return document

    def _answer_verdict(self, status: int, document: Any) -> Verdict | None:
        """The venue's own verdict first (it knows errors inside a 200), then the status."""
        if document is not _REJECTED:
            venue = self._adapter.venue_error(status, document)
            if venue is not None:
                reason, detail = venue
                return reason, detail if status == 200 else f"HTTP {status}, {detail}"
        if 100 <= status < 200 or 300 <= status < 400:
            return Reason.INVALID_RESPONSE, f"HTTP {status} instead of an answer"
        return status_verdict(status, None)

    def _note_rate_limit(self, headers: Mapping[str, str], rest: _Rest) -> None:
        try:
            ratio = self._adapter.rate_limit_used_ratio(headers)
        except ValueError:
            ratio = None
        if ratio is not None:
            rest.used_ratio = ratio
            rest.facts[Fact.RATE_LIMIT_USED_RATIO] = ratio

    def _note_retry_after(self, response: aiohttp.ClientResponse, rest: _Rest) -> None:
        reason, detail = rest.failures[-1]
        if reason is not Reason.RATE_LIMITED and response.status not in _RETRY_AFTER_STATUSES:
            return
        seconds = parse_retry_after(response.headers.get("Retry-After"), self._env.clock.wall())
        if seconds is not None:
            rest.facts[Fact.RETRY_AFTER] = seconds
            rest.failures[-1] = (reason, f"{detail}, retry after {seconds:g}s")

    def _exception_verdict(self, exc: Exception, in_flight: _Request | None) -> Verdict:
        connected = in_flight is not None and in_flight.connected_at is not None
        reason, detail = classify_exception(exc, connected=connected)
        if isinstance(exc, TimeoutError):
            detail = f"{detail} (timeout {self.target.timeout_s:g}s)"
        return reason, f"{in_flight.label if in_flight is not None else 'REST'}: {detail}"


def _decode(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError):
        return _REJECTED


def _error_text(exc: BaseException) -> str:
    return " ".join(str(exc).split())[:_MAX_ERROR_TEXT] or type(exc).__name__


def build(target: TargetBase, env: CheckEnv) -> ExchangeCheck:
    if not isinstance(target, ExchangeTarget):
        raise TypeError(f"exchange check built for a {type(target).__name__}")
    adapter_class = adapters()[target.exchange]
    adapter = adapter_class(
        Market.parse(target.market),
        rest_url=target.rest_url.reveal() if target.rest_url is not None else None,
        ws_url=target.ws_url.reveal() if target.ws_url is not None else None,
    )
    return ExchangeCheck(target, env, adapter)


register("exchange", ExchangeTarget, build)
