"""Slack incoming webhooks: POST a Block Kit message to the configured webhook URL.

Limits (Block Kit reference): at most 50 blocks per message; a header's plain_text at most
150 characters; a section's text at most 3000; a context block at most 10 elements.
The top-level `text` is the notification fallback when `blocks` are present.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.notify.http import CONTEXT_LABELS, ELLIPSIS, clip, post_json, units
from monitor.settings import Notifier as NotifierConfig

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000  # `text`; Slack truncates far later (40,000), but keep it readable
_PARTIAL_ENTITY = re.compile(r"&[a-z]*$")


def escape_mrkdwn(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _fit_mrkdwn(text: str, limit: int) -> str:
    """Escape, then clip without leaving half an entity behind."""
    escaped = escape_mrkdwn(text)
    if units(escaped) <= limit:
        return escaped
    return _PARTIAL_ENTITY.sub("", clip(escaped, limit - 1)[:-1]) + ELLIPSIS


def _title(notification: Notification) -> str:
    names = sorted({a.name for a in notification.alerts})
    word = "Resolved" if notification.status is AlertStatus.RESOLVED else "Firing"
    icon = "✅" if notification.status is AlertStatus.RESOLVED else "🔴"
    count = f" ({len(notification.alerts)})" if len(notification.alerts) > 1 else ""
    return f"{icon} {word}{count}: {', '.join(names)}"


def _alert_line(alert: Alert) -> str:
    state = "RESOLVED" if alert.status is AlertStatus.RESOLVED else "FIRING"
    severity = alert.labels.get("severity", "")
    summary = alert.annotations.get("summary", "")
    return f"[{state}] {alert.name}" + (f" ({severity})" if severity else "") + (
        f": {summary}" if summary else "")


def _context(labels: Mapping[str, str]) -> list[dict[str, str]]:
    shown = [(k, labels[k]) for k in CONTEXT_LABELS if labels.get(k)]
    return [{"type": "mrkdwn", "text": _fit_mrkdwn(f"{k}: {v}", 200)}
            for k, v in shown[:MAX_CONTEXT_ELEMENTS]]


def _alert_blocks(alert: Alert) -> list[dict[str, Any]]:
    state = "RESOLVED" if alert.status is AlertStatus.RESOLVED else "FIRING"
    head = f"*{escape_mrkdwn(alert.name)}* {state}"
    severity = alert.labels.get("severity")
    if severity:
        head += f" · {escape_mrkdwn(severity)}"
    body = "\n".join(x for x in (alert.annotations.get("summary", ""),
                                 alert.annotations.get("description", "")) if x)
    text = head + ("\n" + _fit_mrkdwn(body, MAX_SECTION - units(head) - 1) if body else "")
    blocks: list[dict[str, Any]] = [{"type": "section", "text": {"type": "mrkdwn",
                                                                  "text": text}}]
    context = _context(alert.labels)
    if context:
        blocks.append({"type": "context", "elements": context})
    return blocks


def slack_message(notification: Notification) -> dict[str, Any]:
    title = _title(notification)
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": clip(title, MAX_HEADER),
                                    "emoji": True}}]
    shown = 0
    for alert in notification.alerts:
        more = _alert_blocks(alert)
        # keep one block free for the "and N more" line
        if len(blocks) + len(more) > MAX_BLOCKS - 1:
            break
        blocks.extend(more)
        shown += 1
    hidden = len(notification.alerts) - shown
    if hidden:
        blocks.append({"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"…and {hidden} more alert(s) not shown"}]})
    fallback = "\n".join([title, *(_alert_line(a) for a in notification.alerts)])
    return {"text": _fit_mrkdwn(fallback, MAX_FALLBACK), "blocks": blocks}


class SlackNotifier:
    def __init__(self, config: NotifierConfig) -> None:
        if config.url is None:
            raise ValueError("a slack notifier needs url")
        self.name = config.name
        self._url = config.url

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        return await post_json(session, self._url.reveal(), slack_message(notification),
                               timeout)


register_notifier("slack", SlackNotifier)
