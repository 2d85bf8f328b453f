"""PagerDuty Events API v2: one event per alert, POST https://events.pagerduty.com/v2/enqueue.

Schema (PagerDuty developer docs, "Send an Alert Event"): routing_key and event_action
(trigger, acknowledge, resolve) are required; dedup_key at most 255 characters correlates a
resolve with its trigger (here: the alert fingerprint); a trigger needs payload.summary (at
most 1024 characters), payload.source and payload.severity (critical, error, warning, info),
with optional timestamp, component, group, class and custom_details. The response is 202
when accepted; 400 is not retried, 429 and 5xx are. The whole event is at most 512 KB.
`url` in the config overrides the endpoint (tests); the routing key never reaches a detail.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.notify.http import clip, post_json, rfc3339
from monitor.settings import Notifier as NotifierConfig

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
MAX_SUMMARY = 1024
MAX_DEDUP_KEY = 255
MAX_DESCRIPTION = 16 * 1024  # keeps an event far below the 512 KB limit
SEVERITIES = {"critical": "critical", "warning": "warning", "info": "info"}
DEFAULT_SEVERITY = "error"  # for a severity label outside critical/warning/info


def _summary(alert: Alert) -> str:
    target = alert.labels.get("target", "")
    summary = alert.annotations.get("summary", "")
    text = alert.name + (f" {target}" if target else "") + (f": {summary}" if summary else "")
    return clip(text, MAX_SUMMARY)


def pagerduty_event(alert: Alert, routing_key: str, notification: Notification
                    ) -> dict[str, Any]:
    event: dict[str, Any] = {
        "routing_key": routing_key,
        "dedup_key": alert.fingerprint[:MAX_DEDUP_KEY],
    }
    if alert.status is AlertStatus.RESOLVED:
        event["event_action"] = "resolve"
        return event
    labels = alert.labels
    details: dict[str, Any] = {"labels": dict(labels), "fingerprint": alert.fingerprint,
                               "starts_at": rfc3339(alert.starts_at)}
    if alert.annotations.get("description"):
        details["description"] = clip(alert.annotations["description"], MAX_DESCRIPTION)
    payload: dict[str, Any] = {
        "summary": _summary(alert),
        "source": labels.get("target") or labels.get("provider") or "outagemon",
        "severity": SEVERITIES.get(labels.get("severity", ""), DEFAULT_SEVERITY),
        "timestamp": rfc3339(alert.starts_at),
        "class": alert.name,
        "custom_details": details,
    }
    if labels.get("kind"):
        payload["component"] = labels["kind"]
    group = labels.get("provider") or labels.get("chain") or labels.get("dependency")
    if group:
        payload["group"] = group
    event.update(event_action="trigger", payload=payload, client="outagemon")
    link = alert.generator_url or notification.external_url
    if link.startswith(("http://", "https://")):
        event["client_url"] = link
    return event


class PagerDutyNotifier:
    def __init__(self, config: NotifierConfig) -> None:
        if not config.routing_key:
            raise ValueError("a pagerduty notifier needs routing_key")
        self.name = config.name
        self._routing_key = config.routing_key
        self._url = config.url.reveal() if config.url else DEFAULT_URL

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        """One event per alert, in order; the first failure ends the attempt. A retry sends
        them all again, which PagerDuty deduplicates by dedup_key."""
        last = Delivery(ok=True, detail="no alerts")
        total = len(notification.alerts)
        for index, alert in enumerate(notification.alerts, 1):
            event = pagerduty_event(alert, self._routing_key, notification)
            last = await post_json(session, self._url, event, timeout,
                                   secrets=[self._routing_key])
            if not last.ok:
                return Delivery(ok=False, detail=f"event {index}/{total}: {last.detail}",
                                status=last.status, retry_after=last.retry_after,
                                permanent=last.permanent)
        return last


register_notifier("pagerduty", PagerDutyNotifier)
