"""The alert vocabulary shared by the alert engine, the outbox and the notifiers.

An Alert is one problem (alertname + target, plus chain, market or dependency where they
apply), in the Prometheus Alertmanager shape so that receivers built for Alertmanager work
unchanged: labels (bounded, never free text), annotations (summary, description: incident
text, error detail and numbers live here), startsAt, endsAt, fingerprint.
A Notification is what goes to one notifier at one moment: one or more alerts that started
close together, firing or resolved.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

ALERT_NAMES = (
    "TargetDown", "TargetDegraded", "RateLimited", "GeoBlocked", "ExchangeMaintenance",
    "ClockSkew", "WebSocketStale", "FeedLagHigh", "RpcLagging", "ChainHalted", "WrongChain",
    "StatusPageIncident", "CloudIncident", "PriceDeviation", "DependencyOutage",
    "CertificateExpiringSoon",
)


class AlertStatus(StrEnum):
    FIRING = "firing"
    RESOLVED = "resolved"


def fingerprint(labels: Mapping[str, str]) -> str:
    """Stable identity of an alert from its labels (16 hex digits, like Alertmanager's)."""
    canonical = "\x00".join(f"{k}\x01{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Alert:
    labels: Mapping[str, str]  # alertname, severity, target, provider, kind, vantage, ...
    annotations: Mapping[str, str]  # summary, description
    starts_at: float  # unix seconds
    ends_at: float | None = None  # set once resolved
    generator_url: str = ""

    @property
    def status(self) -> AlertStatus:
        return AlertStatus.FIRING if self.ends_at is None else AlertStatus.RESOLVED

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def name(self) -> str:
        return self.labels["alertname"]


@dataclass(frozen=True, slots=True)
class Notification:
    """One delivery to one notifier. `id` is stable across retries of this notification
    (the webhook-id receivers dedupe on)."""

    id: str
    notifier: str
    status: AlertStatus  # firing if any alert in it fires
    alerts: tuple[Alert, ...]
    group_key: str
    created_at: float
    external_url: str = ""
    group_labels: Mapping[str, str] = field(default_factory=dict)
