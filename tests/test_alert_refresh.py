"""Firing alerts are pushed to Alertmanager again every RESEND_INTERVAL."""

from __future__ import annotations

from pathlib import Path

from monitor.alerts.rules import TargetSnapshot
from monitor.clock import FakeClock
from monitor.daemon import Daemon
from monitor.health import State
from monitor.notify.alertmanager import RESEND_INTERVAL
from monitor.settings import Config


def test_firing_alerts_are_re_pushed_to_alertmanager(tmp_path: Path) -> None:
    config = Config.model_validate({
        "targets": [{"name": "a", "kind": "http", "url": "http://127.0.0.1:1/"}],
        "notifiers": [{"name": "am", "type": "alertmanager", "url": "http://127.0.0.1:2/"},
                      {"name": "hook", "type": "webhook", "url": "http://127.0.0.1:3/"}],
    })
    clock = FakeClock()
    daemon = Daemon(config, clock=clock, state_path=str(tmp_path / "s.db"))
    now = clock.wall()
    assert daemon._alertmanager_refresh(now) == []  # nothing fires yet
    daemon.alerts.evaluate(now, [TargetSnapshot(config.targets[0], State.DOWN, now)])
    first = daemon._alertmanager_refresh(now + RESEND_INTERVAL)
    assert [n.notifier for n in first] == ["am"]
    assert [a.labels["alertname"] for a in first[0].alerts] == ["TargetDown"]
    assert daemon._alertmanager_refresh(now + RESEND_INTERVAL + 30) == []
    again = daemon._alertmanager_refresh(now + 2 * RESEND_INTERVAL + 1)
    assert len(again) == 1 and again[0].id != first[0].id
