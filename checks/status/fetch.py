"""Polite fetching of status pages and feeds: one GET per probe, conditional (ETag and
If-Modified-Since) so an unchanged page costs the vendor a 304, bodies capped, one deadline.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import aiohttp

from checks.errors import classify_exception
from checks.http import parse_retry_after, read_capped, status_verdict
from monitor.observation import Fact, Reason

_NO_AIOHTTP_TIMEOUTS = aiohttp.ClientTimeout(total=None, connect=None, sock_read=None,
                                             sock_connect=None)
_RETRY_AFTER_STATUSES = frozenset({418, 429, 503})


@dataclass(frozen=True, slots=True)
class Fetched:
    """A new body (`body` set), or the page did not change since the last fetch (`body`
    None after a 304)."""

    body: bytes | None
    status: int
    latency: float
    content_type: str = ""


class FetchFailed(Exception):
    def __init__(self, reason: Reason, detail: str, facts: dict[str, object] | None = None,
                 latency: float | None = None) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.facts = facts or {}
        self.latency = latency


class ConditionalFetcher:
    """Remembers the validators of the last good answer of one URL."""

    def __init__(self, url: str, *, max_body: int, user_agent: str,
                 headers: dict[str, str] | None = None) -> None:
        self._url = url
        self._max_body = max_body
        self._headers = {"User-Agent": user_agent, **(headers or {})}
        self._etag: str | None = None
        self._last_modified: str | None = None

    def forget(self) -> None:
        """Drop the validators (the next fetch gets the whole page)."""
        self._etag = self._last_modified = None

    async def fetch(self, timeout: float) -> Fetched:
        headers = dict(self._headers)
        if self._etag:
            headers["If-None-Match"] = self._etag
        if self._last_modified:
            headers["If-Modified-Since"] = self._last_modified
        started = time.perf_counter()
        connected = False
        try:
            async with asyncio.timeout(timeout), aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(use_dns_cache=False, force_close=True),
                timeout=_NO_AIOHTTP_TIMEOUTS,
            ) as session, session.get(self._url, headers=headers,
                                      max_redirects=5) as response:
                connected = True
                if response.status == 304:
                    return Fetched(None, 304, time.perf_counter() - started)
                verdict = status_verdict(response.status, None)
                if verdict is not None:
                    raise self._failed(response, verdict, started)
                body = await read_capped(response, self._max_body)
                latency = time.perf_counter() - started
                if body is None:
                    raise FetchFailed(Reason.INVALID_RESPONSE,
                                      f"page larger than {self._max_body} bytes",
                                      {Fact.HTTP_STATUS: response.status}, latency)
                self._etag = response.headers.get("ETag")
                self._last_modified = response.headers.get("Last-Modified")
                return Fetched(body, response.status, latency,
                               response.headers.get("Content-Type", ""))
        except FetchFailed:
            raise
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:
            reason, detail = classify_exception(exc, connected=connected)
            raise FetchFailed(reason, detail) from None

    @staticmethod
    def _failed(response: aiohttp.ClientResponse, verdict: tuple[Reason, str],
                started: float) -> FetchFailed:
        facts: dict[str, object] = {Fact.HTTP_STATUS: response.status}
        if response.status in _RETRY_AFTER_STATUSES:
            retry = parse_retry_after(response.headers.get("Retry-After"), time.time())
            if retry is not None:
                facts[Fact.RETRY_AFTER] = retry
        return FetchFailed(verdict[0], verdict[1], facts, time.perf_counter() - started)
