"""Atlassian Statuspage v2 `/api/v2/summary.json` (and `/api/v2/status.json`), also served
by incident.io status pages.

Documented shape (developer.statuspage.io, each page's /api page; e.g.
confluence.status.atlassian.com/api):
  status: {indicator: none|minor|major|critical (|maintenance), description}
  components[]: {name, status: operational|degraded_performance|partial_outage|
                 major_outage|under_maintenance, group: bool, group_id}
                 — a group is an entry with `group: true`; it is skipped, its members kept
  incidents[]: unresolved only: {name, status: investigating|identified|monitoring|...,
               impact: none|minor|major|critical, updated_at, shortlink,
               incident_updates[] (newest first) {body}, components[] {name}}
  scheduled_maintenances[]: upcoming or in progress: {name, status: scheduled|in_progress|
               verifying|completed, scheduled_for, scheduled_until, shortlink, components[]}
incident.io's compatible endpoint may send `null` for an empty list and has no groups.
`status.json` carries only `status`: it parses to an indicator without details.
"""

from __future__ import annotations

from typing import Any

from checks.status.formats import (
    add_component,
    as_object,
    load_object,
    object_list,
    optional_text,
    text,
    word,
)
from checks.status.report import ComponentStatus, Incident, Indicator, Maintenance, StatusReport

INDICATORS = {
    "none": Indicator.NONE,
    "minor": Indicator.MINOR,
    "major": Indicator.MAJOR,
    "critical": Indicator.CRITICAL,
    "maintenance": Indicator.MAINTENANCE,
}
COMPONENT_STATUSES = {status.value: status for status in ComponentStatus
                      if status is not ComponentStatus.UNKNOWN}
CLOSED_INCIDENT = frozenset({"resolved", "postmortem", "completed"})
ACTIVE_MAINTENANCE = frozenset({"in_progress", "verifying"})
DONE_MAINTENANCE = frozenset({"completed", "cancelled"})


def parse(body: bytes, now: float | None = None) -> StatusReport:
    del now  # the page states everything
    document = load_object(body)
    status = as_object(document.get("status"), "status")
    components: dict[str, ComponentStatus] = {}
    for entry in object_list(document.get("components"), "components"):
        if entry.get("group") is True:
            continue
        state = COMPONENT_STATUSES.get(word(entry.get("status")), ComponentStatus.UNKNOWN)
        add_component(components, text(entry.get("name")).strip(), state)
    incidents = [
        _incident(entry)
        for entry in object_list(document.get("incidents"), "incidents")
        if word(entry.get("status")) not in CLOSED_INCIDENT
    ]
    maintenances = [
        _maintenance(entry)
        for entry in object_list(document.get("scheduled_maintenances"),
                                 "scheduled_maintenances")
        if word(entry.get("status")) not in DONE_MAINTENANCE
    ]
    return StatusReport(
        indicator=INDICATORS.get(word(status.get("indicator")), Indicator.UNKNOWN),
        components=components,
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
        description=text(status.get("description")),
    )


def _incident(entry: dict[str, Any]) -> Incident:
    updates = object_list(entry.get("incident_updates"), "incident_updates")
    return Incident(
        name=_name(entry),
        impact=INDICATORS.get(word(entry.get("impact")), Indicator.UNKNOWN),
        status=word(entry.get("status")),
        updated_at=optional_text(entry.get("updated_at")),
        latest_update=text(updates[0].get("body")) if updates else "",
        url=optional_text(entry.get("shortlink")),
        components=_component_names(entry),
    )


def _maintenance(entry: dict[str, Any]) -> Maintenance:
    return Maintenance(
        name=_name(entry),
        active=word(entry.get("status")) in ACTIVE_MAINTENANCE,
        starts_at=optional_text(entry.get("scheduled_for")),
        ends_at=optional_text(entry.get("scheduled_until")),
        url=optional_text(entry.get("shortlink")),
        components=_component_names(entry),
    )


def _name(entry: dict[str, Any]) -> str:
    return text(entry.get("name")).strip() or "(unnamed)"


def _component_names(entry: dict[str, Any]) -> tuple[str, ...]:
    affected = object_list(entry.get("components"), "affected components")
    return tuple(name for c in affected if (name := text(c.get("name")).strip()))
