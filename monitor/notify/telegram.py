"""Telegram Bot API: sendMessage with HTML formatting.

POST {base}/bot<token>/sendMessage with chat_id, text and parse_mode=HTML. `text` is limited
to 4096 characters after entity parsing, so the visible text is budgeted before the markup
is added; only `<`, `>` and `&` need escaping in HTML mode. A flood-control 429 carries
`parameters.retry_after` (seconds) in the JSON body, which is preferred over Retry-After.
The bot token is a secret: it is part of the request URL only, never of a detail.
"""

from __future__ import annotations

import html
from typing import Any

import aiohttp
import orjson

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.notify.http import (
    CONTEXT_LABELS,
    ELLIPSIS,
    capped_retry_after,
    clip,
    post_json,
    units,
)
from monitor.settings import Notifier as NotifierConfig

DEFAULT_BASE_URL = "https://api.telegram.org"
MAX_TEXT = 4096

Segment = tuple[str, bool]  # (visible text, bold)


def _alert_segments(alert: Alert) -> list[Segment]:
    state = "RESOLVED" if alert.status is AlertStatus.RESOLVED else "FIRING"
    severity = alert.labels.get("severity")
    segments: list[Segment] = [(alert.name, True),
                               (f" {state}" + (f" [{severity}]" if severity else "") + "\n",
                                False)]
    for key in ("summary", "description"):
        if alert.annotations.get(key):
            segments.append((alert.annotations[key] + "\n", False))
    labels = " ".join(f"{k}={alert.labels[k]}" for k in CONTEXT_LABELS if alert.labels.get(k))
    if labels:
        segments.append((labels + "\n", False))
    segments.append(("\n", False))
    return segments


def _fit(segments: list[Segment], limit: int) -> list[Segment]:
    """Cut the visible text to `limit` units; a cut ends in an ellipsis."""
    if sum(units(text) for text, _ in segments) <= limit:
        return segments
    out: list[Segment] = []
    left = limit
    for text, bold in segments:
        size = units(text)
        if size < left:  # strictly: one unit stays free for the ellipsis
            out.append((text, bold))
            left -= size
            continue
        out.append((clip(text + ELLIPSIS, left), bold))
        break
    return out


def telegram_text(notification: Notification) -> list[Segment]:
    resolved = notification.status is AlertStatus.RESOLVED
    count = len(notification.alerts)
    head = f"{'✅ RESOLVED' if resolved else '🔴 FIRING'}" + (f" ({count} alerts)" if count > 1
                                                              else "")
    segments: list[Segment] = [(head, True), ("\n\n", False)]
    for alert in notification.alerts:
        segments.extend(_alert_segments(alert))
    text_segments = _fit(segments, MAX_TEXT)
    # drop trailing blank lines (an all-whitespace tail makes an ugly message)
    while text_segments and not text_segments[-1][0].strip():
        text_segments.pop()
    return text_segments


def render_html(segments: list[Segment]) -> str:
    return "".join(f"<b>{html.escape(t, quote=False)}</b>" if bold
                   else html.escape(t, quote=False) for t, bold in segments)


def _body_retry_after(body: bytes) -> float | None:
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    parameters = data.get("parameters") if isinstance(data, dict) else None
    if not isinstance(parameters, dict):
        return None
    return capped_retry_after(parameters.get("retry_after"))


class TelegramNotifier:
    def __init__(self, config: NotifierConfig) -> None:
        if not (config.token and config.chat_id):
            raise ValueError("a telegram notifier needs token and chat_id")
        self.name = config.name
        self._token = config.token
        self._chat_id = config.chat_id
        self._base = config.url.reveal().rstrip("/") if config.url else DEFAULT_BASE_URL

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        payload: dict[str, Any] = {
            "chat_id": self._chat_id,
            "text": render_html(telegram_text(notification)),
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        url = f"{self._base}/bot{self._token}/sendMessage"
        return await post_json(session, url, payload, timeout, secrets=[self._token],
                               body_retry_after=_body_retry_after)


register_notifier("telegram", TelegramNotifier)
