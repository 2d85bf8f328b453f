"""The normalised shape every status page and cloud feed parser produces, and how such a
report becomes an Observation. Parsers are pure (bytes in, StatusReport out) and are
tested with recorded fixtures; the kinds do the fetching.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from monitor.observation import Fact, Reason


class ComponentStatus(StrEnum):
    OPERATIONAL = "operational"
    DEGRADED_PERFORMANCE = "degraded_performance"
    PARTIAL_OUTAGE = "partial_outage"
    MAJOR_OUTAGE = "major_outage"
    UNDER_MAINTENANCE = "under_maintenance"
    UNKNOWN = "unknown"  # a value we do not know is never taken for operational


class Indicator(StrEnum):
    """The page's overall state, ordered by severity (the metric value)."""

    NONE = "none"
    MINOR = "minor"
    MAJOR = "major"
    CRITICAL = "critical"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


INDICATOR_VALUE = {Indicator.NONE: 0, Indicator.MINOR: 1, Indicator.MAJOR: 2,
                   Indicator.CRITICAL: 3, Indicator.MAINTENANCE: 4}
SEVERITY = {Indicator.NONE: 0, Indicator.MAINTENANCE: 1, Indicator.UNKNOWN: 2,
            Indicator.MINOR: 3, Indicator.MAJOR: 4, Indicator.CRITICAL: 5}
COMPONENT_INDICATOR = {
    ComponentStatus.OPERATIONAL: Indicator.NONE,
    ComponentStatus.DEGRADED_PERFORMANCE: Indicator.MINOR,
    ComponentStatus.PARTIAL_OUTAGE: Indicator.MAJOR,
    ComponentStatus.MAJOR_OUTAGE: Indicator.CRITICAL,
    ComponentStatus.UNDER_MAINTENANCE: Indicator.MAINTENANCE,
    ComponentStatus.UNKNOWN: Indicator.UNKNOWN,
}
MAX_COMPONENTS = 50  # exported per page unless the filter names more
MAX_INCIDENTS = 20
MAX_TEXT = 500


@dataclass(frozen=True, slots=True)
class Incident:
    name: str
    impact: Indicator  # none, minor, major, critical (maintenance for a maintenance window)
    status: str  # the vendor's word: investigating, identified, monitoring, ...
    updated_at: str | None = None  # RFC 3339
    latest_update: str = ""  # text of the newest update
    url: str | None = None
    components: tuple[str, ...] = ()  # affected component names, where the page says


@dataclass(frozen=True, slots=True)
class Maintenance:
    name: str
    active: bool  # in progress now (puts the target in maintenance) or upcoming
    starts_at: str | None = None
    ends_at: str | None = None
    url: str | None = None
    components: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class StatusReport:
    indicator: Indicator  # what the page itself says overall
    components: dict[str, ComponentStatus] = field(default_factory=dict)  # groups excluded
    incidents: tuple[Incident, ...] = ()  # open ones only
    maintenances: tuple[Maintenance, ...] = ()  # active and upcoming
    description: str = ""  # the page's own summary line


def select_components(components: dict[str, ComponentStatus],
                      patterns: Sequence[str] | None) -> dict[str, ComponentStatus]:
    """Components named by the filter (names or shell globs, case-insensitive); all when no
    filter. Capped at MAX_COMPONENTS unless the filter names more explicitly."""
    if not patterns:
        return dict(list(components.items())[:MAX_COMPONENTS])
    lowered = [p.lower() for p in patterns]
    chosen = {name: status for name, status in components.items()
              if any(fnmatch.fnmatchcase(name.lower(), p) for p in lowered)}
    limit = max(MAX_COMPONENTS, sum(1 for p in patterns if not _is_glob(p)))
    return dict(list(chosen.items())[:limit])


def _is_glob(pattern: str) -> bool:
    return any(char in pattern for char in "*?[")


def worst(indicators: Sequence[Indicator]) -> Indicator:
    return max(indicators, key=SEVERITY.__getitem__, default=Indicator.NONE)


def judge(report: StatusReport, patterns: Sequence[str] | None) -> tuple[Reason, str,
                                                                           dict[str, Any]]:
    """Reason, detail and facts of a report, seen through the target's component filter.

    The page's state is the worst of its own indicator, its open incidents' impact and the
    filtered components (a page can say `none` while an incident is open). With a filter,
    only incidents and maintenance touching the chosen components count (those that name no
    component count too: the page did not say they are elsewhere).
    """
    components = select_components(report.components, patterns)
    incidents = [i for i in report.incidents if _concerns(i.components, components, patterns)]
    maintenances = [m for m in report.maintenances
                    if _concerns(m.components, components, patterns)]
    active = [m for m in maintenances if m.active]
    candidates = [COMPONENT_INDICATOR[s] for s in components.values()]
    candidates += [i.impact for i in incidents]
    if not patterns:
        candidates.append(report.indicator)
    state = worst(candidates)
    if active and SEVERITY[state] <= SEVERITY[Indicator.MAINTENANCE]:
        state = Indicator.MAINTENANCE
    facts: dict[str, Any] = {
        Fact.INDICATOR: state.value,
        Fact.COMPONENTS: {name: status.value for name, status in components.items()},
        Fact.INCIDENTS: [_incident_json(i) for i in incidents[:MAX_INCIDENTS]],
        Fact.MAINTENANCES: [_maintenance_json(m) for m in maintenances[:MAX_INCIDENTS]],
    }
    reason, detail = _verdict(state, incidents, active, components)
    return reason, detail[:MAX_TEXT], facts


def _concerns(affected: tuple[str, ...], chosen: dict[str, ComponentStatus],
              patterns: Sequence[str] | None) -> bool:
    return not patterns or not affected or any(name in chosen for name in affected)


def _verdict(state: Indicator, incidents: list[Incident], active: list[Maintenance],
             components: dict[str, ComponentStatus]) -> tuple[Reason, str]:
    headline = incidents[0].name if incidents else ""
    broken = [n for n, s in components.items() if s is not ComponentStatus.OPERATIONAL]
    about = headline or (", ".join(broken[:5]) if broken else "")
    suffix = f": {about}" if about else ""
    if state is Indicator.NONE:
        return Reason.OK, ""
    if state is Indicator.MAINTENANCE:
        return Reason.MAINTENANCE, f"maintenance: {active[0].name}" if active else "maintenance"
    if state is Indicator.UNKNOWN:
        return Reason.DEGRADED, f"status unknown{suffix}"
    if state is Indicator.MINOR:
        return Reason.DEGRADED, f"minor incident{suffix}"
    # The vendor says its service is (partly) down: the probe worked, the page asserts an
    # outage.
    return Reason.ASSERTION_FAILED, f"{state.value} outage{suffix}"


def _incident_json(incident: Incident) -> dict[str, Any]:
    return {"name": incident.name[:MAX_TEXT], "impact": incident.impact.value,
            "status": incident.status, "updated_at": incident.updated_at,
            "latest_update": incident.latest_update[:MAX_TEXT], "url": incident.url,
            "components": list(incident.components)}


def _maintenance_json(maintenance: Maintenance) -> dict[str, Any]:
    return {"name": maintenance.name[:MAX_TEXT], "active": maintenance.active,
            "starts_at": maintenance.starts_at, "ends_at": maintenance.ends_at,
            "url": maintenance.url, "components": list(maintenance.components)}
