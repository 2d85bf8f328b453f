"""The vendor notifiers against local receivers that check each vendor's documented schema."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from html.parser import HTMLParser
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web

import monitor.notify.pagerduty
import monitor.notify.telegram  # noqa: F401  (registers the remaining vendor types)
from monitor.alerting import Alert, AlertStatus, Notification
from monitor.notify.alertmanager import RESEND_INTERVAL, AlertmanagerNotifier
from monitor.notify.base import Delivery, NotifierProtocol, notifier_types
from monitor.notify.discord import embed_chars
from monitor.notify.http import units
from monitor.redact import SECRETS
from monitor.settings import Notifier as NotifierConfig

TOKEN = "123456789:CANARY-telegram-token-xyz"
ROUTING_KEY = "CANARYroutingkey0123456789abcdef"  # 32 characters, like an integration key
URL_CANARY = "CANARY-url-secret-9f8e7d"
VENDORS = ("slack", "discord", "telegram", "pagerduty", "alertmanager")
SUCCESS = {"slack": 200, "discord": 204, "telegram": 200, "pagerduty": 202, "alertmanager": 200}
Serve = Callable[[web.Application], Awaitable[Any]]


# ---- fixtures and builders ------------------------------------------------------------------

@dataclass
class Receiver:
    """Records every request; answers with queued (status, body, headers), else success."""

    default_status: int
    base: str = ""
    requests: list[tuple[str, Any]] = field(default_factory=list)
    answers: list[tuple[int, bytes, dict[str, str]]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((request.path, orjson.loads(await request.read())))
        if self.answers:
            status, body, headers = self.answers.pop(0)
            return web.Response(status=status, body=body, headers=headers)
        if self.default_status == 204:
            return web.Response(status=204)
        return web.Response(status=self.default_status, body=b'{"ok":true}',
                            content_type="application/json")


async def start_receiver(serve: Serve, kind: str) -> Receiver:
    receiver = Receiver(SUCCESS[kind])
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", receiver.handle)
    server = await serve(app)
    receiver.base = server.url("")
    return receiver


def config_for(kind: str, base: str) -> NotifierConfig:
    fields: dict[str, Any] = {"name": f"{kind}-test", "type": kind}
    if kind == "telegram":
        fields.update(token=TOKEN, chat_id="-1001234567890", url=base)
    elif kind == "pagerduty":
        fields.update(routing_key=ROUTING_KEY, url=f"{base}/v2/enqueue")
    elif kind == "alertmanager":
        fields.update(url=f"{base}/am")
    else:
        fields.update(url=f"{base}/hooks/{URL_CANARY}")
    return NotifierConfig(**fields)


def make_notifier(kind: str, base: str) -> NotifierProtocol:
    return notifier_types()[kind](config_for(kind, base))


def make_alert(name: str = "TargetDown", *, target: str = "binance-rest",
               resolved: bool = False, description: str = "HTTP 503 from /api/v3/ping",
               severity: str = "critical") -> Alert:
    labels = {"alertname": name, "severity": severity, "target": target,
              "provider": "binance", "kind": "exchange", "vantage": "eu-1"}
    return Alert(labels=labels,
                 annotations={"summary": f"{target} is down <&>", "description": description},
                 starts_at=1_767_225_600.0, ends_at=1_767_225_900.0 if resolved else None,
                 generator_url="http://monitor.local/targets/" + target)


def make_notification(*alerts: Alert) -> Notification:
    firing = any(a.status is AlertStatus.FIRING for a in alerts)
    return Notification(id="n-1", notifier="x", alerts=alerts, group_key="g",
                        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
                        created_at=1_767_225_610.0)


async def deliver(kind: str, receiver: Receiver, notification: Notification) -> Delivery:
    notifier = make_notifier(kind, receiver.base)
    async with aiohttp.ClientSession() as session:
        return await notifier.send(session, notification, 5.0)


# ---- validators (from each vendor's documentation) --------------------------------------------

def is_rfc3339(value: Any) -> bool:
    try:
        return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is not None
    except ValueError:
        return False


def check_text_object(obj: Any, kinds: set[str], limit: int) -> None:
    assert obj["type"] in kinds and isinstance(obj["text"], str) and obj["text"]
    assert units(obj["text"]) <= limit


def validate_slack(path: str, body: Any) -> None:
    assert isinstance(body["text"], str) and body["text"]
    blocks = body["blocks"]
    assert 1 <= len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            check_text_object(block["text"], {"plain_text"}, 150)
        elif block["type"] == "section":
            check_text_object(block["text"], {"mrkdwn", "plain_text"}, 3000)
        elif block["type"] == "context":
            assert 1 <= len(block["elements"]) <= 10
            for element in block["elements"]:
                check_text_object(element, {"mrkdwn", "plain_text"}, 3000)
        else:
            raise AssertionError(f"unexpected block {block['type']}")


def validate_discord(path: str, body: Any) -> None:
    assert isinstance(body["content"], str) and units(body["content"]) <= 2000
    embeds = body["embeds"]
    assert 1 <= len(embeds) <= 10
    for embed in embeds:
        assert 1 <= units(embed["title"]) <= 256
        assert units(embed.get("description", "")) <= 4096
        assert isinstance(embed["color"], int) and 0 <= embed["color"] <= 0xFFFFFF
        assert is_rfc3339(embed["timestamp"])
        assert len(embed["fields"]) <= 25
        for f in embed["fields"]:
            assert 1 <= units(f["name"]) <= 256 and 1 <= units(f["value"]) <= 1024
            assert isinstance(f["inline"], bool)
        assert units(embed["footer"]["text"]) <= 2048
    assert sum(embed_chars(e) for e in embeds) <= 6000


class TelegramHTML(HTMLParser):
    """Visible text and tag balance of a parse_mode=HTML message (only <b> used here)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.text = ""
        self.open: list[str] = []

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        assert tag == "b", tag
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.open and self.open.pop() == tag

    def handle_data(self, data: str) -> None:
        self.text += data


def telegram_visible(text: str) -> str:
    parser = TelegramHTML()
    parser.feed(text)
    parser.close()
    assert not parser.open
    return parser.text


def validate_telegram(path: str, body: Any) -> None:
    assert path == f"/bot{TOKEN}/sendMessage"
    assert isinstance(body["chat_id"], int | str)
    assert body["parse_mode"] == "HTML"
    assert 1 <= units(telegram_visible(body["text"])) <= 4096


def validate_pagerduty(path: str, body: Any) -> None:
    assert path == "/v2/enqueue"
    assert body["routing_key"] == ROUTING_KEY
    assert body["event_action"] in {"trigger", "acknowledge", "resolve"}
    assert isinstance(body["dedup_key"], str) and 1 <= len(body["dedup_key"]) <= 255
    if body["event_action"] != "trigger":
        return
    payload = body["payload"]
    assert isinstance(payload["summary"], str) and 1 <= units(payload["summary"]) <= 1024
    assert isinstance(payload["source"], str) and payload["source"]
    assert payload["severity"] in {"critical", "error", "warning", "info"}
    assert is_rfc3339(payload["timestamp"])
    for key in ("component", "group", "class"):
        assert isinstance(payload.get(key, ""), str)
    assert isinstance(payload.get("custom_details", {}), dict)
    assert len(orjson.dumps(body)) <= 512 * 1024


def validate_alertmanager(path: str, body: Any) -> None:
    assert path == "/am/api/v2/alerts"
    assert isinstance(body, list) and body
    for alert in body:
        assert set(alert) <= {"labels", "annotations", "startsAt", "endsAt", "generatorURL"}
        labels = alert["labels"]
        assert labels.get("alertname")
        for label_set in (labels, alert.get("annotations", {})):
            assert all(isinstance(k, str) and isinstance(v, str) for k, v in label_set.items())
        assert is_rfc3339(alert["startsAt"]) and is_rfc3339(alert["endsAt"])
        assert isinstance(alert.get("generatorURL", ""), str)


VALIDATORS: dict[str, Callable[[str, Any], None]] = {
    "slack": validate_slack, "discord": validate_discord, "telegram": validate_telegram,
    "pagerduty": validate_pagerduty, "alertmanager": validate_alertmanager,
}


def validate_all(kind: str, receiver: Receiver) -> None:
    assert receiver.requests
    for path, body in receiver.requests:
        VALIDATORS[kind](path, body)


# ---- tests ------------------------------------------------------------------------------------

@pytest.mark.parametrize("kind", VENDORS)
@pytest.mark.parametrize("resolved", [False, True])
async def test_firing_and_resolved_payloads(serve_app: Serve, kind: str,
                                            resolved: bool) -> None:
    receiver = await start_receiver(serve_app, kind)
    alerts = (make_alert(resolved=resolved),
              make_alert("RateLimited", target="kraken-ws", severity="warning",
                         resolved=resolved))
    delivery = await deliver(kind, receiver, make_notification(*alerts))
    assert delivery.ok and delivery.status == SUCCESS[kind], delivery
    validate_all(kind, receiver)
    text = orjson.dumps([body for _, body in receiver.requests]).decode()
    if kind in ("slack", "discord", "telegram"):
        assert ("RESOLVED" in text.upper()) == resolved
        assert "RateLimited" in text and "kraken-ws" in text
    if kind == "telegram":
        assert "&lt;&amp;&gt;" in receiver.requests[0][1]["text"]


async def test_pagerduty_trigger_then_resolve_share_dedup_key(serve_app: Serve) -> None:
    receiver = await start_receiver(serve_app, "pagerduty")
    firing = make_alert()
    assert (await deliver("pagerduty", receiver, make_notification(firing))).ok
    resolved = make_alert(resolved=True)
    assert (await deliver("pagerduty", receiver, make_notification(resolved))).ok
    validate_all("pagerduty", receiver)
    (_, trigger), (_, resolve) = receiver.requests
    assert trigger["event_action"] == "trigger" and resolve["event_action"] == "resolve"
    assert trigger["dedup_key"] == resolve["dedup_key"] == firing.fingerprint
    assert trigger["payload"]["severity"] == "critical"


async def test_pagerduty_one_event_per_alert_and_severity_mapping(serve_app: Serve) -> None:
    receiver = await start_receiver(serve_app, "pagerduty")
    alerts = (make_alert(severity="info"), make_alert("ClockSkew", severity="warning"))
    assert (await deliver("pagerduty", receiver, make_notification(*alerts))).ok
    events = [body for _, body in receiver.requests]
    assert [e["dedup_key"] for e in events] == [a.fingerprint for a in alerts]
    assert [e["payload"]["severity"] for e in events] == ["info", "warning"]


async def test_telegram_429_honours_retry_after_in_body(serve_app: Serve) -> None:
    receiver = await start_receiver(serve_app, "telegram")
    body = b'{"ok":false,"error_code":429,"description":"Too Many Requests: retry after 7",' \
           b'"parameters":{"retry_after":7}}'
    receiver.answers.append((429, body, {"Retry-After": "99"}))
    delivery = await deliver("telegram", receiver, make_notification(make_alert()))
    assert not delivery.ok and not delivery.permanent
    assert delivery.status == 429 and delivery.retry_after == 7.0


@pytest.mark.parametrize("kind", VENDORS)
async def test_503_is_retryable_with_retry_after_header(serve_app: Serve, kind: str) -> None:
    receiver = await start_receiver(serve_app, kind)
    receiver.answers.append((503, b"busy", {"Retry-After": "12"}))
    delivery = await deliver(kind, receiver, make_notification(make_alert()))
    assert not delivery.ok and not delivery.permanent
    assert delivery.status == 503 and delivery.retry_after == 12.0


@pytest.mark.parametrize("kind", VENDORS)
async def test_400_is_permanent(serve_app: Serve, kind: str) -> None:
    receiver = await start_receiver(serve_app, kind)
    receiver.answers.append((400, b"invalid_payload", {}))
    delivery = await deliver(kind, receiver, make_notification(make_alert()))
    assert not delivery.ok and delivery.permanent and delivery.status == 400
    assert "invalid_payload" in delivery.detail


@pytest.mark.parametrize("kind", VENDORS)
async def test_long_descriptions_and_many_alerts_stay_within_limits(serve_app: Serve,
                                                                    kind: str) -> None:
    receiver = await start_receiver(serve_app, kind)
    huge = "x&<" * 4000 + "🔥" * 3000
    alerts = tuple(make_alert(target=f"target-{i:03}" + "y" * 300, description=huge)
                   for i in range(60))
    delivery = await deliver(kind, receiver, make_notification(*alerts))
    assert delivery.ok, delivery
    validate_all(kind, receiver)
    if kind == "slack":
        assert "more alert" in orjson.dumps(receiver.requests[0][1]).decode()
    if kind == "discord":
        assert "Showing 10 of 60" in receiver.requests[0][1]["content"]
    if kind == "telegram":
        assert telegram_visible(receiver.requests[0][1]["text"]).endswith("…")


@pytest.mark.parametrize("kind", VENDORS)
async def test_secrets_never_in_detail_even_when_echoed(serve_app: Serve, kind: str) -> None:
    """The receiver echoes the request path and body in its error; the detail hides them,
    even with the process-wide secret registry empty."""
    async def echo(request: web.Request) -> web.Response:
        return web.Response(status=403, text=f"bad {request.path} {await request.text()}"[:250])

    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", echo)
    server = await serve_app(app)
    notifier = make_notifier(kind, server.url(""))
    SECRETS.clear()
    async with aiohttp.ClientSession() as session:
        delivery = await notifier.send(session, make_notification(make_alert()), 5.0)
    assert delivery.permanent and delivery.status == 403
    for canary in (TOKEN, ROUTING_KEY, URL_CANARY, server.url("")):
        assert canary not in delivery.detail


@pytest.mark.parametrize("kind", VENDORS)
async def test_network_error_is_retryable_and_scrubbed(kind: str) -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    notifier = make_notifier(kind, f"http://127.0.0.1:{port}")
    async with aiohttp.ClientSession() as session:
        delivery = await notifier.send(session, make_notification(make_alert()), 5.0)
    assert not delivery.ok and not delivery.permanent and delivery.status is None
    for canary in (TOKEN, ROUTING_KEY, URL_CANARY):
        assert canary not in delivery.detail


async def test_alertmanager_firing_ends_in_future_resolved_keeps_end(serve_app: Serve) -> None:
    receiver = await start_receiver(serve_app, "alertmanager")
    now = 1_767_226_000.0
    notifier = AlertmanagerNotifier(config_for("alertmanager", receiver.base),
                                    clock=lambda: now)
    alerts = (make_alert(), make_alert("ClockSkew", resolved=True))
    async with aiohttp.ClientSession() as session:
        assert (await notifier.send(session, make_notification(*alerts), 5.0)).ok
    validate_all("alertmanager", receiver)
    firing, resolved = receiver.requests[0][1]
    ends = datetime.fromisoformat(firing["endsAt"]).timestamp()
    assert ends == now + 4 * RESEND_INTERVAL
    assert datetime.fromisoformat(resolved["endsAt"]).timestamp() == 1_767_225_900.0
    assert firing["labels"]["alertname"] == "TargetDown"
    assert firing["generatorURL"].startswith("http://monitor.local/")
