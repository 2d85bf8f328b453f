"""Discord webhooks: POST `content` plus up to 10 rich embeds to the configured webhook URL.

Limits (Discord's Message resource, "Embed Limits", and Execute Webhook): content 2000
characters; at most 10 embeds; embed title 256, description 4096, at most 25 fields, field
name 256 and value 1024, footer 2048; title + description + field names and values + footer
+ author name over all embeds of one message at most 6000 characters.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.base import Delivery, register_notifier
from monitor.notify.http import CONTEXT_LABELS, alert_time, clip, post_json, rfc3339, units
from monitor.settings import Notifier as NotifierConfig

MAX_CONTENT = 2000
MAX_EMBEDS = 10
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_TOTAL = 6000
LABEL_VALUE_LIMIT = 200  # labels are bounded; keep fields compact

COLOURS = {"critical": 0xE01E5A, "warning": 0xECB22E, "info": 0x36A3D9}
RESOLVED_COLOUR = 0x2EB67D


def _embed(alert: Alert) -> dict[str, Any]:
    resolved = alert.status is AlertStatus.RESOLVED
    severity = alert.labels.get("severity", "")
    target = alert.labels.get("target", "")
    title = f"[{'RESOLVED' if resolved else 'FIRING'}] {alert.name}" + (
        f" · {target}" if target else "")
    description = "\n\n".join(x for x in (alert.annotations.get("summary", ""),
                                          alert.annotations.get("description", "")) if x)
    keys = [k for k in ("severity", *CONTEXT_LABELS) if alert.labels.get(k)]
    fields = [{"name": clip(k, MAX_FIELD_NAME),
               "value": clip(alert.labels[k], min(LABEL_VALUE_LIMIT, MAX_FIELD_VALUE)),
               "inline": True} for k in keys[:MAX_FIELDS]]
    embed: dict[str, Any] = {
        "title": clip(title, MAX_TITLE),
        "color": RESOLVED_COLOUR if resolved else COLOURS.get(severity, COLOURS["warning"]),
        "fields": fields,
        "timestamp": rfc3339(alert_time(alert)),
        "footer": {"text": clip(f"fingerprint {alert.fingerprint}", MAX_FOOTER)},
    }
    if description:
        embed["description"] = clip(description, MAX_DESCRIPTION)
    if alert.generator_url.startswith(("http://", "https://")):
        embed["url"] = alert.generator_url
    return embed


def embed_chars(embed: dict[str, Any]) -> int:
    """The characters Discord counts towards the 6000 total."""
    total = units(embed.get("title", "")) + units(embed.get("description", ""))
    total += sum(units(f["name"]) + units(f["value"]) for f in embed.get("fields", []))
    total += units(embed.get("footer", {}).get("text", ""))
    total += units(embed.get("author", {}).get("name", ""))
    return total


def _fit_total(embeds: list[dict[str, Any]]) -> None:
    """Shrink the longest descriptions first, then drop fields, then whole embeds."""
    while embeds:
        over = sum(embed_chars(e) for e in embeds) - MAX_TOTAL
        if over <= 0:
            return
        longest = max(embeds, key=lambda e: units(e.get("description", "")))
        length = units(longest.get("description", ""))
        if length > 1:
            longest["description"] = clip(longest["description"], max(1, length - over))
            continue
        widest = max(embeds, key=lambda e: len(e["fields"]))
        if widest["fields"]:
            widest["fields"].pop()
            continue
        embeds.pop()


def discord_message(notification: Notification) -> dict[str, Any]:
    alerts = notification.alerts
    resolved = notification.status is AlertStatus.RESOLVED
    names = ", ".join(sorted({a.name for a in alerts}))
    embeds = [_embed(a) for a in alerts[:MAX_EMBEDS]]
    _fit_total(embeds)
    content = f"**{'Resolved' if resolved else 'Firing'}** ({len(alerts)}): {names}"
    if len(embeds) < len(alerts):
        content += f"\nShowing {len(embeds)} of {len(alerts)} alerts."
    return {"content": clip(content, MAX_CONTENT), "embeds": embeds,
            "allowed_mentions": {"parse": []}}


class DiscordNotifier:
    def __init__(self, config: NotifierConfig) -> None:
        if config.url is None:
            raise ValueError("a discord notifier needs url")
        self.name = config.name
        self._url = config.url

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        return await post_json(session, self._url.reveal(), discord_message(notification),
                               timeout)


register_notifier("discord", DiscordNotifier)
