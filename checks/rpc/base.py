"""What every RPC kind shares: the config keys, a JSON-RPC 2.0 client over HTTP with size
caps and one deadline, the normalisation of provider errors into reasons, and the probe
itself (RpcCheck: a kind only says what to ask and how to judge the answers).

A provider check asks its node for the head (height and time), the chain it is on, whether
it is syncing and its peers, and returns them as facts (monitor.observation.Fact.HEAD, ...).
It does NOT judge lag against other providers or chain halts: that is the correlate step,
which sees every provider of a chain (monitor/correlate.py).

A kind whose provider can push new heads (`evm_rpc`, `solana_rpc`) derives from
SubscribedRpcCheck: with `ws_url` it keeps one subscription (a HeadSubscription) open on a
StreamWatcher from `start()` on, and its observations carry the stream's stats and the
fresher of the probe's and the stream's heads.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, ClassVar, Generic, TypeVar

import aiohttp
import orjson
from pydantic import Field

from checks.base import CheckEnv, ProbeOnly
from checks.errors import classify_exception
from checks.http import parse_retry_after, read_capped, status_verdict
from checks.stream import EventKind, Keepalive, StreamEvent, StreamSnapshot, StreamWatcher
from monitor.observation import Fact, Observation, Reason
from monitor.redact import SecretURL, scrub
from monitor.schema import (
    ByteSize,
    HttpURL,
    Name,
    PositiveDuration,
    SecretHeaders,
    TargetBase,
    WsURL,
)

DEFAULT_MAX_BODY = 1024 * 1024
MAX_DETAIL = 300
# Error texts are kept longer than a detail so that scrubbing (which must see a secret whole)
# happens before the detail is cut to MAX_DETAIL.
MAX_ERROR_TEXT = 4096
MAX_ERROR_BODY = 64 * 1024  # read of a 4xx/5xx answer, for a JSON-RPC error in it
_NO_AIOHTTP_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None,
                                             sock_connect=None)
# Texts providers use for rate limiting inside a JSON-RPC error (Infura, Alchemy, QuickNode,
# public endpoints): matched case-insensitively.
_RATE_LIMIT_TEXT = re.compile(
    r"rate.?limit|too many requests|exceeded .*(limit|capacity|quota)|throttl|"
    r"request limit|compute units|daily limit|credits|"
    r"\b(request|rate|count|quota)\s+exceeded\b",
    re.IGNORECASE,
)
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_REFUSED_STATUSES = frozenset({401, 402, 403})
DEFAULT_STREAM_STALE = 60.0  # seconds without a new head before a head stream says stale
SUBSCRIBE_ID = 1

Verdict = tuple[Reason, str]


class RpcTargetBase(TargetBase):
    """Keys of every RPC provider target (`evm_rpc`, `solana_rpc`, `bitcoin_rpc`,
    `cosmos_rpc`); each kind adds its own."""

    url: HttpURL
    ws_url: WsURL | None = None  # optional head subscription
    headers: SecretHeaders = Field(default_factory=dict)
    chain: Name  # groups providers of one chain: `ethereum`, `base`, `solana`, ...
    max_lag_blocks: Annotated[int, Field(ge=0)] | None = None  # default: the chain's
    max_head_age: PositiveDuration | None = None  # default: the chain's
    max_latency: PositiveDuration | None = None  # slower: degraded
    max_body: ByteSize = DEFAULT_MAX_BODY


class SubscribedTargetBase(RpcTargetBase):
    """Keys of a kind whose `ws_url` opens a head subscription (SubscribedRpcCheck)."""

    @property
    def is_stream(self) -> bool:
        return self.ws_url is not None


@dataclass(frozen=True, slots=True)
class RpcError:
    """A JSON-RPC `error` object from the provider (inside an HTTP 200)."""

    code: int | None
    message: str
    data: Any = None

    def __str__(self) -> str:
        code = f"{self.code}: " if self.code is not None else ""
        return scrub(f"{code}{self.message}")[:MAX_DETAIL]


class RpcFailure(Exception):
    """The request as a whole failed; `reason` and `detail` say how."""

    def __init__(self, reason: Reason, detail: str, *, retry_after: float | None = None,
                 status: int | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = scrub(detail)[:MAX_DETAIL]
        self.retry_after = retry_after
        self.status = status

    def facts(self) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if self.retry_after is not None:
            facts[Fact.RETRY_AFTER] = self.retry_after
        if self.status is not None:
            facts[Fact.HTTP_STATUS] = self.status
        return facts


def rate_limited(error: RpcError) -> bool:
    """Provider-independent rate-limit signs in a JSON-RPC error (not code -32005: its meaning
    depends on the chain, so each kind decides it)."""
    return _RATE_LIMIT_TEXT.search(error.message) is not None or error.code == 429


@dataclass
class RpcTimings:
    latency: float | None = None
    status: int | None = None


class JsonRpcClient:
    """One provider. Every probe opens a fresh connection (that is what notices DNS, routing
    and TLS faults) and all of a probe's requests share one deadline."""

    def __init__(self, url: str, *, headers: Mapping[str, str], max_body: int,
                 user_agent: str) -> None:
        self._url = url
        self._headers = {"User-Agent": user_agent, "Content-Type": "application/json",
                         "Accept": "application/json", **headers}
        self._max_body = max_body
        self._ids = itertools.count(1)

    def session(self, trace: aiohttp.TraceConfig | None = None) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(use_dns_cache=False, force_close=True)
        return aiohttp.ClientSession(connector=connector, timeout=_NO_AIOHTTP_TIMEOUTS,
                                     trace_configs=[trace] if trace is not None else None)

    async def call(self, session: aiohttp.ClientSession, calls: Sequence[tuple[str, Any]],
                   timings: RpcTimings | None = None) -> list[Any | RpcError]:
        """Results of `calls` ((method, params) pairs) in order, as one batch when there are
        several. Each item is the `result`, or an RpcError. Raises RpcFailure when the
        request as a whole failed."""
        requests = [{"jsonrpc": "2.0", "id": next(self._ids), "method": method,
                     "params": params} for method, params in calls]
        payload: Any = requests if len(requests) > 1 else requests[0]
        body = await self.post(session, payload, timings)
        replies = body if isinstance(body, list) else [body]
        by_id: dict[Any, Any] = {}
        for reply in replies:
            if not isinstance(reply, dict):
                raise RpcFailure(Reason.INVALID_RESPONSE, "JSON-RPC reply is not an object")
            reply_id = reply.get("id")
            if not isinstance(reply_id, int | str | None):
                raise RpcFailure(Reason.INVALID_RESPONSE, "JSON-RPC reply has an invalid id")
            by_id[reply_id] = reply
        if len(requests) == 1 and len(replies) == 1 and isinstance(body, dict) \
                and "error" in body and body.get("id") is None:
            by_id = {requests[0]["id"]: body}  # some nodes drop the id on errors
        return [reply_value(by_id.get(request["id"]), str(request["method"]))
                for request in requests]

    async def post(self, session: aiohttp.ClientSession, payload: Any,
                   timings: RpcTimings | None = None) -> Any:
        return await self._request(session, "POST", self._url, orjson.dumps(payload), timings)

    async def get(self, session: aiohttp.ClientSession, url: str,
                  timings: RpcTimings | None = None) -> Any:
        """GET a JSON document (Cosmos `/status` is a plain GET)."""
        return await self._request(session, "GET", url, None, timings)

    async def _request(self, session: aiohttp.ClientSession, method: str, url: str,
                       data: bytes | None, timings: RpcTimings | None) -> Any:
        started = time.perf_counter()
        connected = False
        error_reply: dict[str, Any] | None = None
        try:
            async with session.request(method, url, data=data, headers=self._headers,
                                       allow_redirects=False) as response:
                connected = True
                if timings is not None:
                    timings.status = response.status
                verdict = status_verdict(response.status, None, redirects_followed=False)
                if verdict is None:
                    raw = await read_capped(response, self._max_body)
                else:
                    error_reply = await _error_reply(response, verdict[0],
                                                     min(self._max_body, MAX_ERROR_BODY))
                    if error_reply is None:
                        raise _http_failure(response, verdict)
                if timings is not None:
                    timings.latency = time.perf_counter() - started
        except RpcFailure:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            reason, detail = classify_exception(exc, connected=connected)
            raise RpcFailure(reason, detail) from None
        if error_reply is not None:
            return error_reply
        if raw is None:
            raise RpcFailure(Reason.INVALID_RESPONSE, f"body larger than {self._max_body} bytes")
        try:
            return orjson.loads(raw)
        except (orjson.JSONDecodeError, RecursionError):
            raise RpcFailure(Reason.INVALID_RESPONSE, "body is not JSON") from None


def _http_failure(response: aiohttp.ClientResponse, verdict: Verdict) -> RpcFailure:
    reason, detail = verdict
    retry_after = None
    if response.status in _RETRY_AFTER_STATUSES:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
    if response.status in _REFUSED_STATUSES:
        detail = f"{detail}: the provider refused the request (API key, plan or quota?)"
    return RpcFailure(reason, detail, retry_after=retry_after, status=response.status)


async def _error_reply(response: aiohttp.ClientResponse, reason: Reason,
                       cap: int) -> dict[str, Any] | None:
    """The JSON-RPC error reply that came with an HTTP error, or None when there is none.

    Bitcoin Core before 28.0 answers a failing single request with HTTP 500 (404 for an unknown
    method, 400 for an invalid request) and the JSON-RPC error as the body. Only HTTP_4XX and
    HTTP_5XX answers with a JSON content type are read; a refused key (401-403), a rate limit
    (429, with its Retry-After) and a geo block keep their HTTP reason whatever the body."""
    if reason not in (Reason.HTTP_4XX, Reason.HTTP_5XX) or response.status in _REFUSED_STATUSES:
        return None
    content_type = response.content_type
    if content_type != "application/json" and not content_type.endswith("+json"):
        return None
    try:
        raw = await read_capped(response, cap)
    except aiohttp.ClientError:
        return None  # the status is known: report it rather than the broken body
    if raw is None:
        return None
    try:
        document = orjson.loads(raw)
    except (orjson.JSONDecodeError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    error = document.get("error")
    if not isinstance(error, dict) or not isinstance(error.get("message"), str):
        return None
    code = error.get("code")
    if not isinstance(code, int) or isinstance(code, bool):
        return None
    return document


def reply_value(reply: Any, method: str) -> Any:
    """The `result` of one JSON-RPC reply, or an RpcError for its `error`."""
    if reply is None:
        raise RpcFailure(Reason.INVALID_RESPONSE, f"no reply to {method}")
    error = reply.get("error")
    if error is not None:
        if not isinstance(error, dict):
            return RpcError(None, str(error)[:MAX_ERROR_TEXT])
        code = error.get("code")
        return RpcError(code if isinstance(code, int) and not isinstance(code, bool) else None,
                        str(error.get("message", ""))[:MAX_ERROR_TEXT], error.get("data"))
    if "result" not in reply:
        raise RpcFailure(Reason.INVALID_RESPONSE, f"reply to {method} has no result")
    return reply["result"]


@dataclass
class RpcProbe:
    """One probe: the facts found so far (reported whatever the verdict), where its current
    request is (to tell a DNS, connect and response timeout apart) and the requests it timed.

    Requests timed with `timing()` count for the probe: the last HTTP status among them is the
    HTTP_STATUS fact, and once one was answered even a failed probe has a latency (its
    duration). A kind that times its requests itself sets `latency`, which then is the latency
    of a successful probe; its failed probes have none unless `timing()` saw an answer."""

    facts: dict[str, Any]
    latency: float | None = None
    resolving: bool = False
    connected: bool = False
    timings: list[RpcTimings] = field(default_factory=list)

    def timing(self) -> RpcTimings:
        """Timings for the next request (JsonRpcClient's `timings` argument)."""
        self.timings.append(RpcTimings())
        return self.timings[-1]

    @property
    def status(self) -> int | None:
        statuses = [t.status for t in self.timings if t.status is not None]
        return statuses[-1] if statuses else None

    def trace(self) -> aiohttp.TraceConfig:
        async def dns_start(*_: Any) -> None:
            self.resolving = True

        async def dns_end(*_: Any) -> None:
            self.resolving = False

        async def connect_start(*_: Any) -> None:
            self.connected = False

        async def connect_end(*_: Any) -> None:
            self.connected = True

        trace = aiohttp.TraceConfig()
        trace.on_dns_resolvehost_start.append(dns_start)
        trace.on_dns_resolvehost_end.append(dns_end)
        trace.on_connection_create_start.append(connect_start)
        trace.on_connection_create_end.append(connect_end)
        return trace


TargetT = TypeVar("TargetT", bound=RpcTargetBase)


class RpcCheck(ProbeOnly, ABC, Generic[TargetT]):
    """The probe of every RPC kind: all of its requests on one fresh connection within one
    deadline (the target's `timeout`), a failure's reason (RpcFailure's, or the network's and
    the timeout's), DEGRADED when an otherwise good probe took longer than `max_latency`, and the
    Observation with the facts found whatever the verdict. A kind implements `ask`."""

    def __init__(self, target: TargetT, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self._client = JsonRpcClient(target.url.reveal(), headers=target.headers,
                                     max_body=target.max_body, user_agent=env.user_agent)

    @abstractmethod
    async def ask(self, session: aiohttp.ClientSession, probe: RpcProbe) -> Verdict:
        """Ask the provider (on `session`) and judge the answers. Record facts in `probe.facts`
        as they are found; raise RpcFailure to end the probe with its reason."""

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        target = self.target
        probe = RpcProbe(facts={Fact.CHAIN: target.chain})
        started = time.perf_counter()
        latency: float | None = None
        try:
            async with asyncio.timeout(target.timeout_s), \
                    self._client.session(probe.trace()) as session:
                reason, detail = await self.ask(session, probe)
            latency = probe.latency if probe.latency is not None \
                else time.perf_counter() - started
        except RpcFailure as failure:
            probe.facts.update(failure.facts())
            reason, detail = failure.reason, failure.detail
            if probe.status is not None:
                latency = time.perf_counter() - started
        except Exception as exc:  # every failure is a Reason; CancelledError passes
            reason, detail = _exception_verdict(exc, probe, target.timeout_s)
        if probe.status is not None:
            probe.facts[Fact.HTTP_STATUS] = probe.status
        limit = target.max_latency
        if reason is Reason.OK and latency is not None and limit is not None and latency > limit:
            reason, detail = Reason.DEGRADED, (
                f"slow: {latency * 1000:.0f} ms, over max_latency {limit * 1000:g} ms")
        return Observation(target=target.name, started_at=started_at, reason=reason,
                           latency=latency, detail=scrub(detail)[:MAX_DETAIL],
                           facts=probe.facts)

    async def call(self, session: aiohttp.ClientSession, probe: RpcProbe,
                   calls: Sequence[tuple[str, Any]]) -> list[Any]:
        """JsonRpcClient.call, timed in `probe`; RATE_LIMITED as soon as a reply says so."""
        replies = await self._client.call(session, calls, probe.timing())
        for (method, _), reply in zip(calls, replies, strict=True):
            if isinstance(reply, RpcError) and rate_limited(reply):
                raise RpcFailure(Reason.RATE_LIMITED, f"rate limited: {method}: {reply}")
        return replies


def _exception_verdict(exc: Exception, probe: RpcProbe, timeout: float) -> Verdict:
    if isinstance(exc, TimeoutError):
        if probe.resolving:
            return Reason.DNS_ERROR, f"name resolution timed out after {timeout:g}s"
        if probe.connected:
            return Reason.TIMEOUT, f"timed out after {timeout:g}s waiting for the response"
        return Reason.CONNECT_TIMEOUT, f"connect timed out after {timeout:g}s"
    return classify_exception(exc, connected=probe.connected)


class HeadSubscription(ABC):
    """The StreamProtocol of a head subscription: one JSON-RPC subscribe request (id
    SUBSCRIBE_ID), its confirmation or refusal, then notifications that each announce a head.
    A kind says what to send (`method`, `params`), which notifications carry heads
    (`notification`) and what one says (`announce`)."""

    label: ClassVar[str]  # names the stream in details: "<label> stream: ..."
    method: ClassVar[str]
    params: ClassVar[tuple[Any, ...]] = ()
    notification: ClassVar[str]

    def __init__(self, url: SecretURL) -> None:
        self._url = url
        self.head: int | None = None
        self.head_time: float | None = None  # None: the notifications carry no time
        self.refused = ""  # the provider's error to our subscribe request, until one succeeds

    async def endpoint(self) -> str:
        return self._url.reveal()

    def subscribe_frames(self) -> Sequence[str]:
        return [orjson.dumps({"jsonrpc": "2.0", "id": SUBSCRIBE_ID, "method": self.method,
                              "params": list(self.params)}).decode()]

    @property
    def keepalive(self) -> Keepalive | None:
        return None  # heads arrive every few seconds at most; a silent stream is reconnected

    def classify(self, frame: str | bytes) -> StreamEvent:
        try:
            document = orjson.loads(frame)
        except orjson.JSONDecodeError:
            return StreamEvent.ignore()
        if not isinstance(document, dict):
            return StreamEvent.ignore()
        if document.get("id") == SUBSCRIBE_ID:
            error = document.get("error")
            if error is not None:
                message = error.get("message") if isinstance(error, dict) else error
                self.refused = f"{self.method}: {message}"
                return StreamEvent(EventKind.ERROR, detail=self.refused)
            self.refused = ""
            return StreamEvent(EventKind.ACK)
        params = document.get("params")
        if document.get("method") != self.notification or not isinstance(params, dict):
            return StreamEvent.ignore()
        return self.announce(params.get("result"))

    @abstractmethod
    def announce(self, result: Any) -> StreamEvent:
        """The event for one notification's `result`: DATA after recording `head` (and
        `head_time` when the notification has one), ERROR for a malformed one. Must not
        raise."""


class SubscribedRpcCheck(RpcCheck[TargetT], ABC):
    """An RpcCheck that, with `ws_url`, keeps a head subscription open from `start()` on. Its
    observations carry the stream's stats and the stream's head when that is fresher than the
    probe's (HEAD_TIME too when the stream knows it). A subscription that is not connected, or
    that the provider refused, makes an otherwise good probe DEGRADED; other stream trouble
    (silence: maybe a halt, which is the correlate step's to judge) is only noted in the
    detail. Without `max_head_age` the stream counts as silent after DEFAULT_STREAM_STALE
    seconds (and is reconnected after twice that)."""

    def __init__(self, target: TargetT, env: CheckEnv) -> None:
        super().__init__(target, env)
        self._heads = self.subscription(target.ws_url) if target.ws_url is not None else None
        self._watcher: StreamWatcher | None = None

    @abstractmethod
    def subscription(self, url: SecretURL) -> HeadSubscription:
        """The kind's head subscription on `url`."""

    async def start(self) -> None:
        target = self.target
        if self._heads is None or self._watcher is not None:
            return
        user_agent = {"User-Agent": self._env.user_agent}
        if any(name.lower() == "user-agent" for name in target.headers):
            user_agent = {}
        self._watcher = StreamWatcher(
            target.name,
            self._heads,
            clock=self._env.clock,
            stale_after=target.max_head_age or DEFAULT_STREAM_STALE,
            max_message=target.max_body,
            connect_timeout=target.timeout_s,
            headers={**user_agent, **target.headers},
        )
        await self._watcher.start()

    async def close(self) -> None:
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            await watcher.close()

    async def probe(self) -> Observation:
        watcher, heads = self._watcher, self._heads
        if watcher is None or heads is None:
            return await super().probe()
        # a first probe waits for the first connect rather than say "not yet"
        observation, _ = await asyncio.gather(
            super().probe(), watcher.wait_first_attempt(self.target.timeout_s))
        return _with_stream(observation, watcher.snapshot(), heads)


def _with_stream(observation: Observation, snapshot: StreamSnapshot,
                 heads: HeadSubscription) -> Observation:
    stats = snapshot.stats
    facts = dict(observation.facts)
    if stats.connected and heads.head is not None:
        probed = facts.get(Fact.HEAD)
        if not isinstance(probed, int) or heads.head > probed:
            facts[Fact.HEAD] = heads.head
            if heads.head_time is not None:
                facts[Fact.HEAD_TIME] = heads.head_time
    reason, detail = observation.reason, observation.detail
    if snapshot.detail:
        note = f"{heads.label} stream: {snapshot.detail}"
        if reason is Reason.OK and (not stats.connected or heads.refused):
            reason, detail = Reason.DEGRADED, note
        else:
            detail = "; ".join(filter(None, [detail, note]))
    return replace(observation, reason=reason, detail=scrub(detail)[:MAX_DETAIL],
                   facts=facts, stream=stats)
