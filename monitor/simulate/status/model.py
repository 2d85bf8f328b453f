"""What a simulated status page shows, worked out from its faults: components, open
incidents (with their updates), maintenance windows and the top indicator. Every format
renders this one view in its own words (monitor/simulate/status/formats.py).

An `incident` fault opens (or updates) the incident of its name; the incident stays open
while any fault of its name is active and resolves when the last one ends. Its impact and
`indicator_lags` quirk are the newest injection's; every injection adds one update.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from monitor.simulate.faults import Fault, IncidentParams, PageMaintenanceParams

IMPACTS = ("minor", "major", "critical")
# A component's status while an incident of this impact touches it.
COMPONENT_STATUS = {"minor": "degraded_performance", "major": "partial_outage",
                    "critical": "major_outage"}
MAINTENANCE_STATUS = "under_maintenance"
OPERATIONAL = "operational"
# How long a maintenance window is announced to last, and how far ahead an announced one is.
WINDOW = 3600.0


@dataclass(frozen=True, slots=True)
class Update:
    at: float
    text: str
    impact: str


@dataclass(frozen=True, slots=True)
class PageIncident:
    id: str
    name: str
    impact: str  # minor, major, critical
    lags: bool
    started_at: float
    components: tuple[str, ...]
    updates: tuple[Update, ...]  # newest first

    @property
    def updated_at(self) -> float:
        return self.updates[0].at

    @property
    def status(self) -> str:
        """The Statuspage word for where the incident is: investigating, then identified."""
        return "investigating" if len(self.updates) == 1 else "identified"


@dataclass(frozen=True, slots=True)
class PageMaintenance:
    id: str
    name: str
    active: bool
    starts_at: float
    ends_at: float
    components: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class PageView:
    name: str
    updated_at: float
    components: dict[str, str]  # name -> Statuspage component status
    incidents: tuple[PageIncident, ...] = ()
    maintenances: tuple[PageMaintenance, ...] = ()
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def indicator(self) -> str:
        """none, minor, major, critical or maintenance: the worst shown incident's impact
        (lagging incidents are not shown in it), else maintenance while one is active."""
        shown = [i.impact for i in self.incidents if not i.lags]
        if shown:
            return max(shown, key=IMPACTS.index)
        if any(m.active for m in self.maintenances):
            return "maintenance"
        return "none"

    @property
    def active_maintenance(self) -> bool:
        return any(m.active for m in self.maintenances)


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in text.lower()).strip("-")[:40]


def incidents(faults: Iterable[Fault], default_components: Sequence[str]
              ) -> tuple[PageIncident, ...]:
    """The open incidents, in order of opening."""
    by_name: dict[str, list[Fault]] = {}
    for fault in faults:
        if isinstance(fault.params, IncidentParams):
            by_name.setdefault(fault.params.name, []).append(fault)
    found = []
    for name, group in by_name.items():
        latest = group[-1].params
        assert isinstance(latest, IncidentParams)
        updates = []
        for fault in group:
            assert isinstance(fault.params, IncidentParams)
            updates.append(Update(fault.started_at, fault.params.update, fault.params.impact))
        found.append(PageIncident(
            id=f"{_slug(name)}-{group[0].id}", name=name, impact=latest.impact,
            lags=latest.indicator_lags, started_at=group[0].started_at,
            components=latest.components or tuple(default_components[:1]),
            updates=tuple(reversed(updates))))
    return tuple(found)


def maintenances(faults: Iterable[Fault], all_components: Sequence[str]
                 ) -> tuple[PageMaintenance, ...]:
    found = []
    for fault in faults:
        params = fault.params
        if not isinstance(params, PageMaintenanceParams):
            continue
        starts = fault.started_at if params.active else fault.started_at + WINDOW
        length = fault.duration or WINDOW
        found.append(PageMaintenance(
            id=f"{_slug(params.name)}-{fault.id}", name=params.name, active=params.active,
            starts_at=starts, ends_at=starts + length,
            components=params.components or tuple(all_components)))
    return tuple(found)


def component_statuses(names: Sequence[str], open_incidents: Sequence[PageIncident],
                       windows: Sequence[PageMaintenance]) -> dict[str, str]:
    """Each component's status: the worst incident touching it, else under maintenance in an
    active window, else operational. A component the page does not list is ignored."""
    statuses = dict.fromkeys(names, OPERATIONAL)
    for window in windows:
        if window.active:
            for name in window.components:
                if name in statuses:
                    statuses[name] = MAINTENANCE_STATUS
    worst: dict[str, str] = {}
    for incident in open_incidents:
        for name in incident.components:
            if name in statuses and (name not in worst or IMPACTS.index(incident.impact)
                                     > IMPACTS.index(worst[name])):
                worst[name] = incident.impact
    statuses.update((name, COMPONENT_STATUS[impact]) for name, impact in worst.items())
    return statuses


def iso(moment: float) -> str:
    """RFC 3339 in UTC with milliseconds, like 2026-01-01T12:00:00.000Z."""
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def js_date(moment: float) -> str:
    """JavaScript's Date.toString() in UTC, as Instatus shows times."""
    return datetime.fromtimestamp(moment, UTC).strftime(
        "%a %b %d %Y %H:%M:%S GMT+0000 (Coordinated Universal Time)")


def rfc822(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).strftime("%a, %d %b %Y %H:%M:%S Z")
