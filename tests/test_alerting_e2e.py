"""Alerting end to end: the real daemon process watching the simulator sends signed
Alertmanager-format notifications to a local webhook receiver, survives a receiver outage
and its own restart without losing one, and holds back inside maintenance windows."""

from __future__ import annotations

import json
import signal
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from monitor.simulate import World
from tests.conftest import wait_for
from tests.daemon_process import DaemonProcess
from tests.notify.receiver import Receiver, free_port

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGhlLXRlc3Q="  # base64 of a test key
VENUE = "binance-sim"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(VENUE,)) as w:
        yield w


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver(free_port())
    await rec.start()
    yield rec
    await rec.stop()


def config(world: World, receiver: Receiver, extra: str = "") -> str:
    return f"""
vantage: e2e
defaults: {{interval: 300ms, timeout: 300ms}}
alerts:
  defaults: {{failure_threshold: 2, success_threshold: 1, severity: critical}}
  group_wait: 200ms
targets:
  - {{name: venue-time, kind: http, provider: binance,
      url: "{world.url(VENUE)}/api/v3/time"}}
notifiers:
  - {{name: ops, type: webhook, url: "{receiver.url()}", secret: "{SECRET}"}}
{extra}"""


def _epoch(rfc3339: str) -> float:
    return datetime.fromisoformat(rfc3339).timestamp()


def payloads(receiver: Receiver) -> list[dict[str, Any]]:
    return [json.loads(r.body) for r in receiver.received]


async def start_daemon(tmp_path: Path, text: str) -> DaemonProcess:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return await DaemonProcess(path, tmp_path / "state.db").start()


async def test_fault_fires_a_signed_notification_and_clearing_resolves_it(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    daemon = await start_daemon(tmp_path, config(world, receiver))
    try:
        await daemon.wait_ready()
        fault = world.inject(VENUE, "http_5xx")
        await wait_for(lambda: any(p["status"] == "firing" for p in payloads(receiver)),
                       timeout=15, what="a firing notification")
        firing = receiver.received[0]
        body = json.loads(firing.body)
        Webhook(SECRET).verify(firing.body, firing.headers)  # raises if the signature is bad
        assert body["version"] == "4" and body["receiver"] == "ops"
        alert = body["alerts"][0]
        assert alert["labels"]["alertname"] == "TargetDown"
        assert alert["labels"]["target"] == "venue-time"
        assert alert["labels"]["vantage"] == "e2e"
        assert set(body) >= {"status", "alerts", "groupLabels", "commonLabels",
                             "commonAnnotations", "externalURL", "groupKey",
                             "truncatedAlerts"}
        api = await daemon.get_json("/api/v1/alerts")
        assert [a["labels"]["alertname"] for a in api] == ["TargetDown"]
        metrics = (await daemon.get("/metrics"))[1]
        assert 'outagemon_alerts_firing{alertname="TargetDown",severity="critical"} 1.0' \
            in metrics
        assert 'outagemon_notifications_total{notifier="ops",result="sent"}' in metrics

        world.clear(fault)
        await wait_for(lambda: any(p["status"] == "resolved" for p in payloads(receiver)),
                       timeout=15, what="a resolved notification")
        resolved = next(r for r in receiver.received if json.loads(r.body)["status"]
                        == "resolved")
        Webhook(SECRET).verify(resolved.body, resolved.headers)
    finally:
        await daemon.stop()


async def test_receiver_outage_and_daemon_restart_lose_nothing(
    world: World, tmp_path: Path
) -> None:
    receiver = Receiver(free_port())  # down: nobody listens yet
    text = config(world, receiver)
    daemon = await start_daemon(tmp_path, text)
    fault = world.inject(VENUE, "http_5xx")
    try:
        await daemon.wait_ready()
        await wait_for(lambda: any(e.get("event") == "notification delivery failed, will retry"
                                   for e in daemon.events), timeout=15, what="a failed attempt")
        daemon.send(signal.SIGTERM)
        assert await daemon.wait(timeout=6) == 0
    finally:
        await daemon.stop()
    world.clear(fault)  # the target recovers while nobody watches
    await receiver.start()
    try:
        restarted = await start_daemon(tmp_path, text)
        try:
            await wait_for(lambda: {p["status"] for p in payloads(receiver)}
                           >= {"firing", "resolved"}, timeout=30,
                           what="the firing kept in the outbox and the resolution")
        finally:
            await restarted.stop()
    finally:
        await receiver.stop()
    by_id: dict[str, set[bytes]] = {}
    for got in receiver.received:
        by_id.setdefault(got.headers["webhook-id"], set()).add(
            json.dumps(json.loads(got.body)["alerts"], sort_keys=True).encode())
    # a duplicate (at-least-once) carries the same webhook-id and the same alerts
    assert all(len(bodies) == 1 for bodies in by_id.values())


async def test_no_notification_inside_a_maintenance_window(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    window = """maintenance:
  - targets: ["venue-*"]
    start: "2000-01-01T00:00:00Z"
    end: "2999-01-01T00:00:00Z"
"""
    daemon = await start_daemon(tmp_path, config(world, receiver, window))
    try:
        await daemon.wait_ready()
        world.inject(VENUE, "http_5xx")

        async def held_long_enough() -> bool:
            alerts = await daemon.get_json("/api/v1/alerts")
            held = [a for a in alerts if "held_back" in a["annotations"]]
            # well past group_wait (200 ms) and several evaluations (1 s apart)
            return bool(held) and time.time() - _epoch(held[0]["startsAt"]) > 3.0

        await wait_for(held_long_enough, timeout=20, what="a held-back alert")
        metrics = (await daemon.get("/metrics"))[1]
        assert ('outagemon_target_state{kind="http",provider="binance",state="down",'
                'target="venue-time"} 1.0') in metrics  # metrics still flow
        assert receiver.received == []
    finally:
        await daemon.stop()


async def test_thirty_targets_behind_one_region_page_once(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    targets = "".join(
        f'  - {{name: svc-{i:02d}, kind: http, url: "{world.url(VENUE)}/api/v3/ping", '
        f"depends_on: [aws-sim-us-east-1]}}\n" for i in range(30))
    text = f"""
vantage: e2e
defaults: {{interval: 300ms, timeout: 300ms}}
alerts:
  defaults: {{failure_threshold: 1, success_threshold: 1}}
  group_wait: 2s
  dependency_outage: {{min_targets: 2, min_ratio: 0.5, window: 2m}}
targets:
{targets}notifiers:
  - {{name: ops, type: webhook, url: "{receiver.url()}"}}
"""
    daemon = await start_daemon(tmp_path, text)
    try:
        await daemon.wait_ready()
        world.inject(VENUE, "http_5xx")

        def sent_names() -> list[str]:
            return [a["labels"]["alertname"] for p in payloads(receiver) for a in p["alerts"]]

        await wait_for(lambda: "DependencyOutage" in sent_names(), timeout=20,
                       what="the DependencyOutage notification")

        async def every_member_known() -> bool:
            alerts = await daemon.get_json("/api/v1/alerts")
            held = [a for a in alerts if a["labels"]["alertname"] == "TargetDown"]
            return len(held) == 30 and all("held_back" in a["annotations"] for a in held)

        await wait_for(every_member_known, timeout=20, what="30 held-back TargetDown")
        outage = next(a for p in payloads(receiver) for a in p["alerts"]
                      if a["labels"]["alertname"] == "DependencyOutage")
        assert outage["labels"]["dependency"] == "aws-sim-us-east-1"
        assert "svc-00" in outage["annotations"]["description"]
        assert sent_names().count("DependencyOutage") == 1
        metrics = (await daemon.get("/metrics"))[1]
        assert 'outagemon_dependency_failing_targets{dependency="aws-sim-us-east-1"} 30.0' \
            in metrics
        assert "TargetDown" not in sent_names()
    finally:
        await daemon.stop()
