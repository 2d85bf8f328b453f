"""What every RPC kind shares: the config keys, a JSON-RPC 2.0 client over HTTP with size
caps and one deadline, and the normalisation of provider errors into reasons.

A provider check asks its node for the head (height and time), the chain it is on, whether
it is syncing and its peers, and returns them as facts (monitor.observation.Fact.HEAD, ...).
It does NOT judge lag against other providers or chain halts: that is the correlate step,
which sees every provider of a chain (monitor/correlate.py).
"""

from __future__ import annotations

import asyncio
import itertools
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any

import aiohttp
import orjson
from pydantic import Field, field_validator

from checks.errors import classify_exception
from checks.http import parse_retry_after, read_capped, status_verdict
from monitor.observation import Fact, Reason
from monitor.redact import SecretURL, scrub
from monitor.schema import ByteSize, Name, PositiveDuration, SecretHeaders, TargetBase

DEFAULT_MAX_BODY = 1024 * 1024
MAX_DETAIL = 300
_NO_AIOHTTP_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None,
                                             sock_connect=None)
# Texts providers use for rate limiting inside a JSON-RPC error (Infura, Alchemy, QuickNode,
# public endpoints): matched case-insensitively.
_RATE_LIMIT_TEXT = re.compile(
    r"rate.?limit|too many requests|exceeded .*(limit|capacity|quota)|throttl|"
    r"request limit|compute units|daily limit|credits",
    re.IGNORECASE,
)
_RATE_LIMIT_HTTP = frozenset({429})
_RETRY_AFTER_STATUSES = frozenset({429, 503})

Verdict = tuple[Reason, str]


class RpcTargetBase(TargetBase):
    """Keys of every RPC provider target (`evm_rpc`, `solana_rpc`, `bitcoin_rpc`,
    `cosmos_rpc`); each kind adds its own."""

    url: SecretURL
    ws_url: SecretURL | None = None  # optional head subscription
    headers: SecretHeaders = Field(default_factory=dict)
    chain: Name  # groups providers of one chain: `ethereum`, `base`, `solana`, ...
    max_lag_blocks: Annotated[int, Field(ge=0)] | None = None  # default: the chain's
    max_head_age: PositiveDuration | None = None  # default: the chain's
    max_latency: PositiveDuration | None = None  # slower: degraded
    max_body: ByteSize = DEFAULT_MAX_BODY

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: SecretURL) -> SecretURL:
        if value.scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https:// (got {value.redacted})")
        return value

    @field_validator("ws_url")
    @classmethod
    def _ws_scheme(cls, value: SecretURL | None) -> SecretURL | None:
        if value is not None and value.scheme not in ("ws", "wss"):
            raise ValueError(f"ws_url must be ws:// or wss:// (got {value.redacted})")
        return value


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

    def session(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(use_dns_cache=False, force_close=True)
        return aiohttp.ClientSession(connector=connector, timeout=_NO_AIOHTTP_TIMEOUTS)

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
            by_id[reply.get("id")] = reply
        if len(requests) == 1 and len(replies) == 1 and isinstance(body, dict) \
                and "error" in body and body.get("id") is None:
            by_id = {requests[0]["id"]: body}  # some nodes drop the id on errors
        return [_result(by_id.get(request["id"]), str(request["method"]))
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
        try:
            async with session.request(method, url, data=data, headers=self._headers,
                                       allow_redirects=False) as response:
                connected = True
                if timings is not None:
                    timings.status = response.status
                verdict = status_verdict(response.status, None, redirects_followed=False)
                if verdict is not None:
                    raise _http_failure(response, verdict)
                raw = await read_capped(response, self._max_body)
                if timings is not None:
                    timings.latency = time.perf_counter() - started
        except RpcFailure:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            reason, detail = classify_exception(exc, connected=connected)
            raise RpcFailure(reason, detail) from None
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
    if response.status in (401, 402, 403):
        detail = f"{detail}: the provider refused the request (API key, plan or quota?)"
    return RpcFailure(reason, detail, retry_after=retry_after, status=response.status)


def _result(reply: Any, method: str) -> Any:
    if reply is None:
        raise RpcFailure(Reason.INVALID_RESPONSE, f"no reply to {method}")
    error = reply.get("error")
    if error is not None:
        if not isinstance(error, dict):
            return RpcError(None, str(error)[:MAX_DETAIL])
        code = error.get("code")
        return RpcError(code if isinstance(code, int) and not isinstance(code, bool) else None,
                        str(error.get("message", ""))[:MAX_DETAIL], error.get("data"))
    if "result" not in reply:
        raise RpcFailure(Reason.INVALID_RESPONSE, f"reply to {method} has no result")
    return reply["result"]
