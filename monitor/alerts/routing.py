"""Routing a batch of alerts to notifiers, and the maintenance windows that hold them back."""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from croniter import croniter

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.settings import MaintenanceWindow, Notifier, NotifierMatch


@dataclass(frozen=True, slots=True)
class Batch:
    """Alerts that go out together. `seqs[i]` counts the notifications alert i has had
    (0: its first firing; each repeat, update and the resolution add one)."""

    status: AlertStatus
    alerts: tuple[Alert, ...]
    seqs: tuple[int, ...]
    group_key: str
    created_at: float
    group_labels: Mapping[str, str] = field(default_factory=dict)


def matches(alert: Alert, match: NotifierMatch) -> bool:
    if match.severity is not None and alert.labels.get("severity") not in match.severity:
        return False
    for key, wanted in (match.labels or {}).items():
        value = alert.labels.get(key)
        patterns = [wanted] if isinstance(wanted, str) else wanted
        if value is None or not any(fnmatch.fnmatchcase(value, p) for p in patterns):
            return False
    return True


def notification_id(notifier: str, group_key: str, status: AlertStatus,
                    alerts: Sequence[Alert], seqs: Sequence[int]) -> str:
    """The same notification (same alerts at the same point of their history) keeps its id,
    across retries and restarts: receivers dedupe on it."""
    parts = sorted(f"{a.fingerprint}:{s}" for a, s in zip(alerts, seqs, strict=True))
    text = "\x00".join([notifier, group_key, str(status), *parts])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def route(batch: Batch, notifiers: Sequence[Notifier]) -> list[Notification]:
    """One Notification per notifier whose `match` takes at least one alert of the batch."""
    out = []
    for notifier in notifiers:
        chosen = [(a, s) for a, s in zip(batch.alerts, batch.seqs, strict=True)
                  if matches(a, notifier.match)]
        if not chosen:
            continue
        alerts = tuple(a for a, _ in chosen)
        seqs = [s for _, s in chosen]
        status = (AlertStatus.FIRING if any(a.status is AlertStatus.FIRING for a in alerts)
                  else AlertStatus.RESOLVED)
        out.append(Notification(
            id=notification_id(notifier.name, batch.group_key, status, alerts, seqs),
            notifier=notifier.name, status=status, alerts=alerts,
            group_key=batch.group_key, created_at=batch.created_at,
            group_labels=dict(batch.group_labels),
        ))
    return out


def window_active(window: MaintenanceWindow, now: float) -> bool:
    if window.start is not None and window.end is not None:
        return window.start.timestamp() <= now < window.end.timestamp()
    if window.cron is None or window.duration is None:
        return False
    # croniter's get_prev is strictly before its base: nudge the base so that a window
    # starting exactly now counts as started.
    start = croniter(window.cron, now + 0.001).get_prev(float)
    return bool(start <= now < start + window.duration)


def covers(window: MaintenanceWindow, target: str) -> bool:
    return any(fnmatch.fnmatchcase(target, pattern) for pattern in window.targets)


def in_maintenance(windows: Sequence[MaintenanceWindow], target: str, now: float) -> str:
    """The reason of the first active window covering `target`, '' when none does."""
    for window in windows:
        if covers(window, target) and window_active(window, now):
            return window.reason or "maintenance window"
    return ""
