"""Better Stack (Better Uptime) public status page JSON, `<page>/index.json`.

Documented shape (betterstack.com/docs/uptime/status-pages/subscribing-to-status-updates/
subscribing-to-api, and the status report / status update API attribute pages):
  data: {type: status_page, attributes: {aggregate_state: operational|degraded|downtime|
         maintenance, announcement, ...}}
  included[]: JSON:API entries by `type`:
    status_page_resource: {public_name, status: operational|degraded|downtime|maintenance|
                           not_monitored}  — the components
    status_report: {title, report_type: manual|automatic|maintenance, starts_at, ends_at,
                    aggregate_state (Operational|Degraded|Downtime|Maintenance, any case),
                    affected_resources[] {status_page_resource_id, status}}
    status_update: {message, published_at, status_report_id}
A report whose state is operational (or resolved) is closed. A maintenance report is active
between starts_at and ends_at when `now` is given (past ones are dropped); without `now`, it
is active while the page's own state is maintenance. `not_monitored` resources are left out:
the page shows no state for them. Downtime maps to a major outage (critical).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from checks.status.formats import (
    add_component,
    as_object,
    load_object,
    object_list,
    optional_text,
    parse_time,
    text,
    word,
)
from checks.status.report import ComponentStatus, Incident, Indicator, Maintenance, StatusReport

STATES = {
    "operational": Indicator.NONE,
    "degraded": Indicator.MINOR,
    "downtime": Indicator.CRITICAL,
    "maintenance": Indicator.MAINTENANCE,
}
RESOURCE_STATUSES = {
    "operational": ComponentStatus.OPERATIONAL,
    "degraded": ComponentStatus.DEGRADED_PERFORMANCE,
    "downtime": ComponentStatus.MAJOR_OUTAGE,
    "maintenance": ComponentStatus.UNDER_MAINTENANCE,
}
CLOSED = frozenset({"operational", "resolved"})


def parse(body: bytes, now: float | None = None) -> StatusReport:
    document = load_object(body)
    data = as_object(document.get("data"), "data")
    attributes = as_object(data.get("attributes"), "data.attributes")
    indicator = STATES.get(word(attributes.get("aggregate_state")), Indicator.UNKNOWN)
    included = object_list(document.get("included"), "included")
    names: dict[str, str] = {}
    components: dict[str, ComponentStatus] = {}
    updates: dict[str, tuple[str, str]] = {}  # report id -> (published_at, message)
    reports: list[tuple[str, dict[str, Any]]] = []
    for entry in included:
        kind = text(entry.get("type"))
        attrs = as_object(entry.get("attributes") or {}, f"{kind}.attributes")
        if kind == "status_page_resource":
            name = text(attrs.get("public_name")).strip()
            names[text(entry.get("id"))] = name
            status = word(attrs.get("status"))
            if status != "not_monitored":
                add_component(components, name,
                              RESOURCE_STATUSES.get(status, ComponentStatus.UNKNOWN))
        elif kind == "status_update":
            report_id = text(attrs.get("status_report_id"))
            published = text(attrs.get("published_at"))
            if report_id not in updates or published >= updates[report_id][0]:
                updates[report_id] = (published, text(attrs.get("message")))
        elif kind == "status_report":
            reports.append((text(entry.get("id")), attrs))
    incidents: list[Incident] = []
    maintenances: list[Maintenance] = []
    for report_id, attrs in reports:
        state = word(attrs.get("aggregate_state"))
        if state in CLOSED:
            continue
        affected = tuple(
            names[ref] for r in object_list(attrs.get("affected_resources"), "affected_resources")
            if (ref := text(r.get("status_page_resource_id"))) in names and names[ref]
        )
        title = text(attrs.get("title")).strip() or "(unnamed)"
        if word(attrs.get("report_type")) == "maintenance":
            window = _window(attrs, now, indicator)
            if window is not None:
                maintenances.append(Maintenance(
                    name=title, active=window, starts_at=optional_text(attrs.get("starts_at")),
                    ends_at=optional_text(attrs.get("ends_at")), components=affected))
            continue
        published, message = updates.get(report_id, ("", ""))
        incidents.append(Incident(
            name=title,
            impact=STATES.get(state, Indicator.UNKNOWN),
            status=state,
            updated_at=published or optional_text(attrs.get("starts_at")),
            latest_update=message,
            components=affected,
        ))
    return StatusReport(indicator=indicator, components=components, incidents=tuple(incidents),
                        maintenances=tuple(maintenances),
                        description=text(attributes.get("announcement")))


def _window(attrs: dict[str, Any], now: float | None, indicator: Indicator) -> bool | None:
    """Active (True), upcoming (False) or over (None)."""
    if now is None:
        return indicator is Indicator.MAINTENANCE
    moment = datetime.fromtimestamp(now, UTC)
    starts = parse_time(optional_text(attrs.get("starts_at")))
    ends = parse_time(optional_text(attrs.get("ends_at")))
    if ends is not None and ends <= moment:
        return None
    return starts is None or starts <= moment
