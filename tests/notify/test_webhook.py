"""The webhook notifier: Alertmanager v4 payload, Standard Webhooks signing, result classes."""

from __future__ import annotations

import asyncio
import base64
import re

import aiohttp
import orjson
import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from monitor.notify.base import notifier_types
from monitor.notify.webhook import (
    ZERO_TIME,
    WebhookNotifier,
    alertmanager_payload,
    signing_key,
)
from tests.notify.receiver import (
    Receiver,
    Reply,
    make_alert,
    make_notification,
    webhook_config,
)

WHSEC = "whsec_" + base64.b64encode(b"sixteen byte key-canary").decode()
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")

TOP_KEYS = {"version", "status", "receiver", "alerts", "groupLabels", "commonLabels",
            "commonAnnotations", "externalURL", "groupKey", "truncatedAlerts"}
ALERT_KEYS = {"status", "labels", "annotations", "startsAt", "endsAt", "fingerprint",
              "generatorURL"}


async def send_once(notifier: WebhookNotifier, nid: str = "n-1", timeout: float = 5.0,
                    ) -> tuple[bool, str, int | None, float | None, bool]:
    async with aiohttp.ClientSession() as session:
        d = await notifier.send(session, make_notification(nid), timeout)
    return d.ok, d.detail, d.status, d.retry_after, d.permanent


def test_registered() -> None:
    assert "webhook" in notifier_types()
    notifier = notifier_types()["webhook"](webhook_config("http://127.0.0.1:1/x"))
    assert notifier.name == "hook"


def test_payload_has_every_alertmanager_v4_key() -> None:
    firing = make_alert("TargetDown", "binance")
    resolved = make_alert("TargetDown", "kraken", ends_at=1_700_000_123.5)
    payload = alertmanager_payload(make_notification("n-1", firing, resolved))
    assert set(payload) == TOP_KEYS
    assert payload["version"] == "4"
    assert payload["status"] == "firing"
    assert payload["receiver"] == "hook"
    assert payload["groupKey"] == '{}:{alertname="TargetDown"}'
    assert payload["truncatedAlerts"] == 0
    assert payload["externalURL"] == "http://outagemon.local"
    assert payload["groupLabels"] == {"alertname": "TargetDown"}
    assert payload["commonLabels"] == {"alertname": "TargetDown", "severity": "critical"}
    assert payload["commonAnnotations"] == {"description": "connect refused"}
    first, second = payload["alerts"]
    for alert in payload["alerts"]:
        assert set(alert) == ALERT_KEYS
        assert RFC3339.match(alert["startsAt"])
        assert re.fullmatch(r"[0-9a-f]{16}", alert["fingerprint"])
    assert first["status"] == "firing"
    assert first["endsAt"] == ZERO_TIME
    assert first["startsAt"] == "2023-11-14T22:13:20Z"
    assert first["fingerprint"] == firing.fingerprint
    assert first["generatorURL"] == "http://outagemon.local/targets/binance"
    assert second["status"] == "resolved"
    assert second["endsAt"] == "2023-11-14T22:15:23.500Z"
    # serialisable as is
    assert orjson.loads(orjson.dumps(payload)) == payload


def test_all_resolved_payload_is_resolved() -> None:
    payload = alertmanager_payload(make_notification("n", make_alert(ends_at=1_700_000_100.0)))
    assert payload["status"] == "resolved"


def test_signing_key_forms() -> None:
    assert signing_key(WHSEC) == b"sixteen byte key-canary"
    assert signing_key("plain-text-secret") == b"plain-text-secret"
    with pytest.raises(ValueError):
        signing_key("whsec_!!!not base64!!!")


async def test_signature_verifies_with_standardwebhooks(receiver: Receiver) -> None:
    notifier = WebhookNotifier(webhook_config(receiver.url(), WHSEC))
    ok, detail, status, _, _ = await send_once(notifier, "notif-42")
    assert ok and status == 200, detail
    got = receiver.received[0]
    assert got.headers["webhook-id"] == "notif-42"
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["webhook-signature"].startswith("v1,")
    payload = Webhook(WHSEC).verify(got.body, got.headers)
    assert payload["version"] == "4" and payload["alerts"][0]["labels"]["target"] == "binance"
    wrong = "whsec_" + base64.b64encode(b"another key entirely").decode()
    with pytest.raises(WebhookVerificationError):
        Webhook(wrong).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):  # tampered body
        Webhook(WHSEC).verify(got.body.replace(b"binance", b"bybit!!"), got.headers)


async def test_plain_text_secret_signs_with_its_bytes(receiver: Receiver) -> None:
    secret = "plain-text-secret-value"
    notifier = WebhookNotifier(webhook_config(receiver.url(), secret))
    ok, *_ = await send_once(notifier)
    assert ok
    got = receiver.received[0]
    Webhook(secret.encode()).verify(got.body, got.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(b"plain-text-secret-valuX").verify(got.body, got.headers)


async def test_no_secret_no_signature_headers(receiver: Receiver) -> None:
    ok, *_ = await send_once(WebhookNotifier(webhook_config(receiver.url())))
    assert ok
    assert "webhook-signature" not in receiver.received[0].headers


async def test_webhook_id_is_stable_across_retries(receiver: Receiver) -> None:
    receiver.script = [Reply(503)]
    notifier = WebhookNotifier(webhook_config(receiver.url(), WHSEC))
    first = await send_once(notifier, "same-id")
    second = await send_once(notifier, "same-id")
    assert not first[0] and second[0]
    assert receiver.ids == ["same-id", "same-id"]
    for got in receiver.received:
        Webhook(WHSEC).verify(got.body, got.headers)
    assert receiver.received[0].body == receiver.received[1].body


@pytest.mark.parametrize(
    ("reply", "ok", "permanent", "retry_after"),
    [
        (Reply(200), True, False, None),
        (Reply(204), True, False, None),
        (Reply(500), False, False, None),
        (Reply(503, headers={"Retry-After": "30"}), False, False, 30.0),
        (Reply(408), False, False, None),
        (Reply(429, headers={"Retry-After": "120"}), False, False, 120.0),
        (Reply(429, headers={"Retry-After": "soon"}), False, False, None),
        (Reply(400, body="bad payload"), False, True, None),
        (Reply(401), False, True, None),
        (Reply(404), False, True, None),
        (Reply(413), False, True, None),
        (Reply(302, headers={"Location": "http://127.0.0.1:1/elsewhere"}), False, True, None),
    ],
)
async def test_result_classes(receiver: Receiver, reply: Reply, ok: bool, permanent: bool,
                              retry_after: float | None) -> None:
    receiver.script = [reply]
    got_ok, detail, status, got_retry, got_permanent = await send_once(
        WebhookNotifier(webhook_config(receiver.url())))
    assert (got_ok, got_permanent, got_retry) == (ok, permanent, retry_after)
    assert status == reply.status
    assert f"HTTP {reply.status}" in detail
    assert len(receiver.received) == 1  # redirects are not followed


async def test_connection_refused_is_retryable(idle_receiver: Receiver) -> None:
    ok, detail, status, _, permanent = await send_once(
        WebhookNotifier(webhook_config(idle_receiver.url())))
    assert not ok and not permanent and status is None
    assert "POST http://127.0.0.1:" in detail


async def test_timeout_is_retryable(receiver: Receiver) -> None:
    receiver.script = [Reply(200, hold=asyncio.Event())]  # never answers
    ok, detail, status, _, permanent = await send_once(
        WebhookNotifier(webhook_config(receiver.url())), timeout=0.2)
    assert not ok and not permanent and status is None
    assert "timed out after 0.2s" in detail


async def test_response_body_read_is_capped(receiver: Receiver) -> None:
    receiver.script = [Reply(500, body="x" * 1_000_000)]
    notifier = WebhookNotifier(webhook_config(receiver.url()), max_response_body=1024)
    ok, detail, *_ = await send_once(notifier)
    assert not ok and len(detail) <= 300


async def test_canary_secrets_never_in_details(receiver: Receiver,
                                               idle_receiver: Receiver) -> None:
    url_canary = "CANARY-URL-TOKEN-7f3a9c"
    secret_canary = "CANARY-SECRET-b81d44e2"

    def echo(got: object) -> Reply:  # a receiver that echoes everything back
        return Reply(500, body=f"bad request {got!r} {secret_canary} {url_canary}")

    receiver.script = [echo]
    for target in (receiver, idle_receiver):
        url = target.url(f"/hooks/{url_canary}?token={url_canary}")
        notifier = WebhookNotifier(webhook_config(url, secret_canary))
        ok, detail, *_ = await send_once(notifier)
        assert not ok
        assert url_canary not in detail and secret_canary not in detail
        assert url not in detail
        assert "http://127.0.0.1:" in detail  # the redacted form names the host
    assert receiver.received[0].path_qs.startswith(f"/hooks/{url_canary}")
