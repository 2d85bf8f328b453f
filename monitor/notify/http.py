"""HTTP and text helpers the chat and incident notifiers share: one JSON POST with the
delivery rules (2xx ok; 408, 429, 5xx and network errors retried; other statuses permanent),
details that never hold the URL or a token, and limits counted the way vendors count them."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from checks.http import MAX_RETRY_AFTER, parse_retry_after, read_capped
from monitor.alerting import Alert
from monitor.notify.base import Delivery
from monitor.redact import MASK, MIN_SECRET_LENGTH, scrub, url_secret_fragments

MAX_RESPONSE_BYTES = 64 * 1024
MAX_DETAIL = 300
ELLIPSIS = "…"
CONTEXT_LABELS = ("target", "provider", "vantage", "chain", "market", "dependency", "kind")
BodyRetryAfter = Callable[[bytes], float | None]


def units(text: str) -> int:
    """Length in UTF-16 code units: what JavaScript-based limits count (>= code points)."""
    return len(text.encode("utf-16-le")) // 2


def clip(text: str, limit: int) -> str:
    """`text` cut to at most `limit` UTF-16 units, marked with an ellipsis when cut."""
    if units(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = text[: limit - 1]
    while cut and units(cut) > limit - 1:
        cut = cut[:-1]
    return cut + ELLIPSIS


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def alert_time(alert: Alert) -> float:
    return alert.ends_at if alert.ends_at is not None else alert.starts_at


def _hide(text: str, secrets: Iterable[str]) -> str:
    text = scrub(text)
    for secret in sorted(secrets, key=len, reverse=True):
        if len(secret) >= MIN_SECRET_LENGTH:
            text = text.replace(secret, MASK)
    return text


def _classify(status: int, retry_header: str | None, body: bytes, *,
              secrets: Iterable[str], body_retry_after: BodyRetryAfter | None) -> Delivery:
    snippet = _hide(body[:MAX_DETAIL].decode("utf-8", "replace").strip(), secrets)
    detail = f"HTTP {status}" + (f": {snippet}" if snippet else "")
    if 200 <= status < 300:
        return Delivery(ok=True, detail=detail, status=status)
    if status in (408, 429) or status >= 500:
        retry_after = body_retry_after(body) if body_retry_after else None
        if retry_after is None:
            retry_after = parse_retry_after(retry_header, time.time())
        return Delivery(ok=False, detail=detail, status=status, retry_after=retry_after)
    return Delivery(ok=False, detail=detail, status=status, permanent=True)


async def post_json(session: aiohttp.ClientSession, url: str, payload: Any, timeout: float, *,
                    secrets: Iterable[str] = (),
                    body_retry_after: BodyRetryAfter | None = None) -> Delivery:
    """One POST of `payload` as JSON. 2xx ok; 408/429/5xx and network errors retryable;
    other statuses permanent. The detail never holds the URL or any of `secrets`."""
    hidden = [*url_secret_fragments(url), *secrets]
    try:
        async with session.post(
            url, data=orjson.dumps(payload), headers={"Content-Type": "application/json"},
            timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False,
        ) as response:
            body = await read_capped(response, MAX_RESPONSE_BYTES) or b""
            return _classify(response.status, response.headers.get("Retry-After"), body,
                             secrets=hidden, body_retry_after=body_retry_after)
    except TimeoutError:
        return Delivery(ok=False, detail=f"timed out after {timeout:g}s")
    except (aiohttp.ClientError, OSError, ValueError) as exc:
        return Delivery(ok=False, detail=_hide(f"{type(exc).__name__}: {exc}", hidden))


def capped_retry_after(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return min(float(value), MAX_RETRY_AFTER)
