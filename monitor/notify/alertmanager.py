"""Push alerts to a Prometheus Alertmanager: POST {url}/api/v2/alerts.

The body is a JSON array of postableAlert objects (Alertmanager's api/v2/openapi.yaml):
`labels` (required; a label set, `alertname` expected), `annotations`, `startsAt`,
`endsAt` (RFC 3339) and `generatorURL` (a URI). Alertmanager answers 200.

Alertmanager resolves an alert by itself once its endsAt passes, and its docs ask clients to
re-send active alerts continuously (on the order of 30 s to 3 min). A firing alert is sent
with endsAt = now + ENDS_AT_FACTOR * RESEND_INTERVAL, so THE DAEMON MUST RE-SEND EVERY
FIRING ALERT TO AN ALERTMANAGER NOTIFIER AT LEAST EVERY RESEND_INTERVAL seconds, or the
alert resolves there on its own. A resolved alert is sent with its real end time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import aiohttp

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.notify.http import clip, post_json, rfc3339
from monitor.settings import Notifier as NotifierConfig

RESEND_INTERVAL = 60.0  # seconds between re-sends of a firing alert (the daemon's duty)
ENDS_AT_FACTOR = 4
ALERTS_PATH = "/api/v2/alerts"
MAX_ANNOTATION = 8192  # Alertmanager sets no limit; receivers downstream (chat) do


def postable_alert(alert: Alert, now: float, external_url: str = "") -> dict[str, Any]:
    if alert.status is AlertStatus.RESOLVED and alert.ends_at is not None:
        ends_at = alert.ends_at
    else:
        ends_at = now + ENDS_AT_FACTOR * RESEND_INTERVAL
    body: dict[str, Any] = {
        "labels": dict(alert.labels),
        "annotations": {k: clip(v, MAX_ANNOTATION) for k, v in alert.annotations.items()},
        "startsAt": rfc3339(alert.starts_at),
        "endsAt": rfc3339(ends_at),
    }
    link = alert.generator_url or external_url
    if link.startswith(("http://", "https://")):
        body["generatorURL"] = link
    return body


class AlertmanagerNotifier:
    def __init__(self, config: NotifierConfig, clock: Callable[[], float] = time.time) -> None:
        if config.url is None:
            raise ValueError("an alertmanager notifier needs url")
        self.name = config.name
        self._url = config.url
        self._clock = clock

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        now = self._clock()
        alerts = [postable_alert(a, now, notification.external_url)
                  for a in notification.alerts]
        url = self._url.reveal().rstrip("/") + ALERTS_PATH
        return await post_json(session, url, alerts, timeout)


register_notifier("alertmanager", AlertmanagerNotifier)
