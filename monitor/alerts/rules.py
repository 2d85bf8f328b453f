"""Which alerts a target's state implies: pure functions from a snapshot to candidate alerts.

A candidate is an alert before the engine gives it a start time and a notification history.
Labels stay bounded (names, kinds, chains, markets); every number and every piece of vendor
or error text goes into the annotations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from monitor.correlate import ChainView
from monitor.observation import Fact, Observation, Reason, State
from monitor.schema import TargetBase

CERT_WARN_SECONDS = 14 * 86400.0
STREAM_KINDS = frozenset({"websocket", "exchange"})
INCIDENT_KINDS = {"statuspage": "StatusPageIncident", "cloud_status": "CloudIncident"}
MAX_LISTED = 50  # names listed in one description


@dataclass(frozen=True, slots=True)
class TargetSnapshot:
    """What the engine needs of one target: its definition and its health right now."""

    target: TargetBase
    state: State
    since: float | None = None  # wall clock of the last state change
    last: Observation | None = None


@dataclass(frozen=True, slots=True)
class Candidate:
    labels: dict[str, str]
    summary: str
    description: str
    target: str | None = None  # the target it is about (None: chain or dependency alerts)
    since: float | None = None
    repeat_interval: float | None = None  # None: the configured default
    # Changes when the alert's content changes in a way worth a new notification (a new
    # update on an open incident).
    update_key: str = ""
    # Seconds it waits, on top of group_wait, before its first notification (see
    # dependency_settle).
    settle: float = 0.0


def dependency_settle(target: TargetBase, alertname: str) -> float:
    """A TargetDown of a target that names a dependency waits one probe interval more: the
    other targets of the dependency are all probed in that time, so when the dependency
    itself failed, its DependencyOutage forms and holds the TargetDowns back before any is
    sent, instead of the first few dependents paging one by one."""
    return target.interval_s if alertname == "TargetDown" and target.depends_on else 0.0


def target_labels(target: TargetBase, alertname: str, severity: str,
                  vantage: str) -> dict[str, str]:
    labels = {**target.labels, "alertname": alertname, "severity": severity,
              "target": target.name, "provider": target.provider_label, "kind": target.kind,
              "vantage": vantage}
    chain = getattr(target, "chain", None)
    if isinstance(chain, str):
        labels["chain"] = chain
    return labels


def severity_of(target: TargetBase, default: str) -> str:
    return target.alert.severity or default


def target_candidates(snap: TargetSnapshot, *, now: float, vantage: str,
                      default_severity: str) -> list[Candidate]:
    """Every alert one target's snapshot implies."""
    if snap.state is State.UNKNOWN:
        return []
    specific = _specific(snap, now)
    generic = [] if specific else _generic(snap)
    names = {rule.name for rule in specific}
    extra = [] if "CertificateExpiringSoon" in names else _cert_from_facts(snap, now)
    severity = severity_of(snap.target, default_severity)
    return [
        Candidate(
            labels={**target_labels(snap.target, rule.name, severity, vantage), **rule.labels},
            summary=rule.summary, description=rule.description, target=snap.target.name,
            since=snap.since, repeat_interval=snap.target.alert.repeat_interval,
            update_key=rule.update_key, settle=dependency_settle(snap.target, rule.name),
        )
        for rule in [*specific, *generic, *extra]
    ]


@dataclass(frozen=True, slots=True)
class _Rule:
    name: str
    summary: str
    description: str
    labels: dict[str, str] = field(default_factory=dict)
    update_key: str = ""


def _detail(snap: TargetSnapshot) -> str:
    return snap.last.detail if snap.last is not None else ""


def _reason(snap: TargetSnapshot) -> Reason | None:
    return snap.last.reason if snap.last is not None else None


def _facts(snap: TargetSnapshot) -> Mapping[str, Any]:
    return snap.last.facts if snap.last is not None else {}


def _specific(snap: TargetSnapshot, now: float) -> list[_Rule]:
    """Alerts more precise than TargetDown/TargetDegraded; any of them replaces those."""
    target, name = snap.target, snap.target.name
    if snap.state is State.MAINTENANCE:
        if target.kind == "exchange":
            return [_Rule("ExchangeMaintenance", f"{target.provider_label} is in maintenance",
                     _detail(snap) or "the venue says it is in maintenance")]
        return []
    if target.kind in INCIDENT_KINDS:
        return _incident(snap)
    if snap.state not in (State.DOWN, State.DEGRADED):
        return []
    reason, detail = _reason(snap), _detail(snap)
    if target.kind == "price" and reason is Reason.ASSERTION_FAILED:
        return [_price(snap)]
    by_reason: dict[Reason | None, tuple[str, str]] = {
        Reason.RATE_LIMITED: ("RateLimited", f"{name} is rate limiting us"),
        Reason.GEO_BLOCKED: ("GeoBlocked", f"{name} refuses this vantage point"),
        Reason.WRONG_CHAIN: ("WrongChain", f"{name} serves the wrong chain"),
    }
    if target.kind.endswith("_rpc"):
        by_reason[Reason.LAGGING] = ("RpcLagging", f"{name} lags behind its chain")
    if target.kind in STREAM_KINDS:
        by_reason[Reason.STALE] = ("WebSocketStale", f"{name}: stream stopped delivering")
    if reason in by_reason:
        alertname, summary = by_reason[reason]
        return [_Rule(alertname, summary, detail)]
    if snap.state is State.DEGRADED:
        return _degraded_causes(snap)
    return []


def _degraded_causes(snap: TargetSnapshot) -> list[_Rule]:
    target, detail = snap.target, _detail(snap)
    out: list[_Rule] = []
    if target.kind == "tls" and "expire" in detail:
        out.append(_Rule("CertificateExpiringSoon", f"{target.name}: certificate expires soon",
                          detail))
    if target.kind == "exchange":
        skew = _facts(snap).get(Fact.CLOCK_SKEW)
        limit = getattr(target, "max_clock_skew", None)
        skewed = isinstance(skew, int | float) and isinstance(limit, int | float) and (
            abs(skew) > limit)
        if "clock skew" in detail or skewed:
            out.append(_Rule("ClockSkew", f"{target.name}: clock skew against the venue",
                             _skew_text(detail, skew)))
        if "event lag" in detail:
            out.append(_Rule("FeedLagHigh", f"{target.name}: feed events arrive late", detail))
    return out


def _skew_text(detail: str, skew: object) -> str:
    if isinstance(skew, int | float) and "clock skew" not in detail:
        return f"clock skew {skew:+.3f} s; {detail}".rstrip("; ")
    return detail


def _generic(snap: TargetSnapshot) -> list[_Rule]:
    name, detail = snap.target.name, _detail(snap) or str(_reason(snap) or "")
    if snap.state is State.DOWN:
        return [_Rule("TargetDown", f"{name} is down", detail)]
    if snap.state is State.DEGRADED:
        return [_Rule("TargetDegraded", f"{name} is degraded", detail)]
    return []


def _cert_from_facts(snap: TargetSnapshot, now: float) -> list[_Rule]:
    expiry = _facts(snap).get(Fact.CERT_EXPIRY)
    if not isinstance(expiry, int | float) or isinstance(expiry, bool):
        return []
    left = expiry - now
    if left > CERT_WARN_SECONDS:
        return []
    return [_Rule("CertificateExpiringSoon", f"{snap.target.name}: certificate expires soon",
                  f"certificate expires in {left / 86400:.1f} days")]


def _price(snap: TargetSnapshot) -> _Rule:
    facts = _facts(snap)
    market = str(facts.get(Fact.MARKET) or getattr(snap.target, "market", ""))
    deviations = facts.get(Fact.DEVIATIONS) or {}
    ratios = ", ".join(f"{venue} {float(ratio):+.2%}"
                       for venue, ratio in sorted(deviations.items()))
    description = _detail(snap) + (f" (deviations: {ratios})" if ratios else "")
    return _Rule("PriceDeviation", f"{market} prices diverge across venues", description,
                 labels={"market": market})


def _incident(snap: TargetSnapshot) -> list[_Rule]:
    incidents = _facts(snap).get(Fact.INCIDENTS) or []
    if not isinstance(incidents, list) or not incidents:
        return []
    alertname = INCIDENT_KINDS[snap.target.kind]
    first = incidents[0]
    summary = f"{snap.target.provider_label}: {first.get('name', 'incident')}"
    description = "\n".join(_incident_line(i) for i in incidents[:MAX_LISTED])
    key = hashlib.sha256(json.dumps(
        [[i.get("name"), i.get("status"), i.get("updated_at"), i.get("latest_update")]
         for i in incidents], sort_keys=True, default=str).encode()).hexdigest()[:16]
    return [_Rule(alertname, summary, description, update_key=key)]


def _incident_line(incident: Mapping[str, Any]) -> str:
    parts = [f"{incident.get('name', 'incident')} [{incident.get('status', '?')}, "
             f"impact {incident.get('impact', '?')}]"]
    if incident.get("latest_update"):
        parts.append(f"latest update: {incident['latest_update']}")
    if incident.get("url"):
        parts.append(str(incident["url"]))
    return " - ".join(parts)


def chain_candidates(chains: Iterable[ChainView], vantage: str) -> list[Candidate]:
    return [
        Candidate(
            labels={"alertname": "ChainHalted", "severity": "critical", "chain": view.chain,
                    "vantage": vantage},
            summary=f"chain {view.chain} halted",
            description=f"none of the {view.providers} providers of {view.chain} advances "
                        f"(best head {view.best_head})",
        )
        for view in chains if view.halted
    ]


@dataclass(frozen=True, slots=True)
class DependencyRule:
    min_targets: int
    min_ratio: float
    window: float


def dependency_outages(snaps: Sequence[TargetSnapshot], rule: DependencyRule, *, now: float,
                       firing: set[str]) -> dict[str, list[str]]:
    """Dependency -> its down members, for each dependency in outage. One already in outage
    (named in `firing`) stays so while enough members are down, however long ago they fell."""
    members: dict[str, list[TargetSnapshot]] = {}
    for snap in snaps:
        for dep in snap.target.depends_on:
            members.setdefault(dep, []).append(snap)
    out: dict[str, list[str]] = {}
    for dep, group in members.items():
        down = [s for s in group if s.state is State.DOWN]
        count = len(down) if dep in firing else _densest(
            [s.since if s.since is not None else now for s in down], rule.window)
        if count >= rule.min_targets and count / len(group) >= rule.min_ratio:
            out[dep] = sorted(s.target.name for s in down)
    return out


def _densest(times: list[float], window: float) -> int:
    """The most of `times` that fit in one span of `window` seconds."""
    times.sort()
    best = start = 0
    for end, value in enumerate(times):
        while value - times[start] > window:
            start += 1
        best = max(best, end - start + 1)
    return best


def dependency_candidate(dep: str, down: list[str], total: int, vantage: str) -> Candidate:
    listed = ", ".join(down[:MAX_LISTED]) + (" ..." if len(down) > MAX_LISTED else "")
    return Candidate(
        labels={"alertname": "DependencyOutage", "severity": "critical", "dependency": dep,
                "vantage": vantage},
        summary=f"{dep} outage: {len(down)} of {total} dependent targets are down",
        description=f"held back TargetDown of: {listed}",
    )
