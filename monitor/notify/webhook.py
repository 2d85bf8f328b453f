"""`webhook`: POST the Prometheus Alertmanager webhook payload (version "4").

Any receiver built for Alertmanager works unchanged. With `secret`, every request is signed
per the Standard Webhooks spec: headers webhook-id (the notification id, stable across
retries so receivers can dedupe), webhook-timestamp (unix seconds of this attempt) and
webhook-signature (`v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`). The secret may be
given as `whsec_<base64>` (the key is the decoded bytes) or as plain text (its UTF-8 bytes).

Results: 2xx delivered; 408, 429 and 5xx retryable (Retry-After honoured); any other status
(other 4xx, and 3xx: redirects are not followed, so a signed body never goes elsewhere) is a
permanent failure; network errors and timeouts are retryable. Details never contain the URL
(only its redacted form) nor any registered secret.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import time
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
import orjson

from checks.http import parse_retry_after
from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.redact import scrub
from monitor.settings import Notifier as NotifierConfig

ALERTMANAGER_VERSION = "4"
ZERO_TIME = "0001-01-01T00:00:00Z"  # Alertmanager's endsAt while an alert fires
SECRET_PREFIX = "whsec_"
MAX_RESPONSE_BODY = 64 * 1024  # read at most this much of a receiver's answer
MAX_DETAIL = 300
_SNIPPET = 120  # of the response body, in a failure detail
_RETRYABLE_STATUSES = frozenset({408, 429})
USER_AGENT = "outagemon-webhook"


def rfc3339(timestamp: float) -> str:
    """Unix seconds as RFC 3339 UTC text (milliseconds kept when present)."""
    moment = datetime.fromtimestamp(timestamp, tz=UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _common(mappings: Iterable[Mapping[str, str]]) -> dict[str, str]:
    """The key/value pairs every mapping shares (Alertmanager's commonLabels rule)."""
    iterator = iter(mappings)
    first = next(iterator, None)
    if first is None:
        return {}
    common = dict(first)
    for mapping in iterator:
        common = {k: v for k, v in common.items() if mapping.get(k) == v}
    return common


def alert_payload(alert: Alert) -> dict[str, Any]:
    return {
        "status": alert.status.value,
        "labels": dict(alert.labels),
        "annotations": dict(alert.annotations),
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": ZERO_TIME if alert.ends_at is None else rfc3339(alert.ends_at),
        "generatorURL": alert.generator_url,
        "fingerprint": alert.fingerprint,
    }


def alertmanager_payload(notification: Notification) -> dict[str, Any]:
    """The Alertmanager webhook (version 4) body for one notification."""
    alerts = notification.alerts
    status = (
        AlertStatus.FIRING
        if any(a.status is AlertStatus.FIRING for a in alerts)
        else AlertStatus.RESOLVED
    ) if alerts else notification.status
    return {
        "version": ALERTMANAGER_VERSION,
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": status.value,
        "receiver": notification.notifier,
        "groupLabels": dict(notification.group_labels),
        "commonLabels": _common(a.labels for a in alerts),
        "commonAnnotations": _common(a.annotations for a in alerts),
        "externalURL": notification.external_url,
        "alerts": [alert_payload(a) for a in alerts],
    }


def signing_key(secret: str) -> bytes:
    """The HMAC key: `whsec_<base64>` decoded, otherwise the text's UTF-8 bytes."""
    if secret.startswith(SECRET_PREFIX):
        encoded = secret[len(SECRET_PREFIX):]
        try:
            # tolerate missing padding, as the reference libraries do
            key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("a whsec_ secret must be base64 after the prefix") from None
        if not key:
            raise ValueError("the webhook secret is empty")
        return key
    if not secret:
        raise ValueError("the webhook secret is empty")
    return secret.encode()


def sign(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """The webhook-signature header value for one request."""
    signed = msg_id.encode() + b"." + str(timestamp).encode() + b"." + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


async def _read_prefix(response: aiohttp.ClientResponse, cap: int) -> bytes:
    """At most `cap` bytes of the body; the rest is discarded with the connection."""
    body = bytearray()
    while len(body) < cap:
        chunk = await response.content.read(cap - len(body))
        if not chunk:
            break
        body += chunk
    return bytes(body)


class WebhookNotifier:
    """One configured webhook. `wall` gives the webhook-timestamp and the Retry-After base."""

    def __init__(self, config: NotifierConfig, *, wall: Callable[[], float] = time.time,
                 max_response_body: int = MAX_RESPONSE_BODY) -> None:
        if config.url is None:
            raise ValueError(f"webhook notifier {config.name!r} needs url")
        self.name = config.name
        self._url = config.url
        self._key = signing_key(config.secret) if config.secret else None
        self._wall = wall
        self._max_response_body = max_response_body

    @property
    def redacted_url(self) -> str:
        return self._url.redacted

    def headers(self, notification: Notification, body: bytes) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        if self._key is not None:
            timestamp = int(self._wall())
            headers["webhook-id"] = notification.id
            headers["webhook-timestamp"] = str(timestamp)
            headers["webhook-signature"] = sign(self._key, notification.id, timestamp, body)
        return headers

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        body = orjson.dumps(alertmanager_payload(notification))
        headers = self.headers(notification, body)
        try:
            async with asyncio.timeout(timeout), session.post(
                self._url.reveal(), data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                answer = await _read_prefix(response, self._max_response_body)
                retry_header = response.headers.get("Retry-After")
        except TimeoutError:
            return Delivery(ok=False, detail=self._detail(f"timed out after {timeout:g}s"))
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            return Delivery(ok=False, detail=self._detail(self._describe(exc)))
        return self._result(status, answer, retry_header)

    def _result(self, status: int, answer: bytes, retry_header: str | None) -> Delivery:
        if 200 <= status < 300:
            return Delivery(ok=True, detail=self._detail(f"HTTP {status}"), status=status)
        snippet = " ".join(answer[:_SNIPPET].decode("utf-8", errors="replace").split())
        text = f"HTTP {status}" + (f": {snippet}" if snippet else "")
        if status in _RETRYABLE_STATUSES or 500 <= status < 600:
            retry_after = parse_retry_after(retry_header, self._wall())
            if retry_after is not None:
                text += f" (retry after {retry_after:g}s)"
            return Delivery(ok=False, detail=self._detail(text), status=status,
                            retry_after=retry_after)
        if 300 <= status < 400:
            text = f"HTTP {status}: redirects are not followed"
        return Delivery(ok=False, detail=self._detail(text), status=status, permanent=True)

    def _describe(self, exc: BaseException) -> str:
        message = str(exc).replace(self._url.reveal(), self._url.redacted)
        return f"{type(exc).__name__}: {message}" if message else type(exc).__name__

    def _detail(self, text: str) -> str:
        detail = f"POST {self._url.redacted}: {text}"
        return scrub(detail.replace(self._url.reveal(), self._url.redacted))[:MAX_DETAIL]


def build(config: NotifierConfig) -> WebhookNotifier:
    return WebhookNotifier(config)


register_notifier("webhook", build)
