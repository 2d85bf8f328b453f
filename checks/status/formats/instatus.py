"""Instatus public `<page>/summary.json`.

Documented shape (instatus.com/help/api/public-data):
  page: {name, url, status: UP|HASISSUES|UNDERMAINTENANCE}
  activeIncidents[]: {name, started, status: INVESTIGATING|IDENTIFIED|MONITORING|RESOLVED,
                      impact (e.g. MAJOROUTAGE), url}
  activeMaintenances[]: {name, start, status: NOTSTARTEDYET|INPROGRESS|COMPLETED,
                         duration (minutes, a string), url}
Times are JavaScript Date strings ('Sat Jun 11 2022 18:55:50 GMT+0000 (...)'); they are
re-written as RFC 3339. The summary lists no components (they are not in the public summary),
so a component filter finds none here. Newer Instatus docs (instatus.com/help/api) also list
page statuses such as ALLMAJOROUTAGE, SOMEPARTIALOUTAGE or ONEDEGRADEDPERFORMANCE: the
component status after the ALL/SOME/ONE prefix gives the indicator (ALL + MAJOROUTAGE is
critical). Impacts use the component vocabulary: OPERATIONAL, DEGRADEDPERFORMANCE,
PARTIALOUTAGE, MINOROUTAGE, MAJOROUTAGE, UNDERMAINTENANCE.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from checks.status.formats import (
    as_object,
    load_object,
    object_list,
    optional_text,
    parse_time,
    rfc3339,
    text,
    word,
)
from checks.status.report import Incident, Indicator, Maintenance, StatusReport

PAGE_STATUSES = {
    "up": Indicator.NONE,
    "hasissues": Indicator.MINOR,
    "undermaintenance": Indicator.MAINTENANCE,
}
IMPACTS = {
    "operational": Indicator.NONE,
    "degradedperformance": Indicator.MINOR,
    "minoroutage": Indicator.MINOR,
    "partialoutage": Indicator.MAJOR,
    "majoroutage": Indicator.CRITICAL,
    "undermaintenance": Indicator.MAINTENANCE,
}
_SCOPES = ("all", "some", "one")
MAX_DURATION_DIGITS = 9  # minutes: about 1900 years


def parse(body: bytes, now: float | None = None) -> StatusReport:
    del now  # the page states everything
    document = load_object(body)
    page = as_object(document.get("page"), "page")
    incidents = [
        _incident(entry)
        for entry in object_list(document.get("activeIncidents"), "activeIncidents")
        if word(entry.get("status")) != "resolved"
    ]
    maintenances = [
        _maintenance(entry)
        for entry in object_list(document.get("activeMaintenances"), "activeMaintenances")
        if word(entry.get("status")) != "completed"
    ]
    status = text(page.get("status"))
    return StatusReport(
        indicator=page_indicator(status),
        incidents=tuple(incidents),
        maintenances=tuple(maintenances),
        description=status,
    )


def page_indicator(status: str) -> Indicator:
    value = status.strip().lower()
    if value in PAGE_STATUSES:
        return PAGE_STATUSES[value]
    for scope in _SCOPES:
        if value.startswith(scope) and (impact := IMPACTS.get(value[len(scope):])):
            if scope != "all" and impact is Indicator.CRITICAL:
                return Indicator.MAJOR  # a major outage of some components
            return impact
    return Indicator.UNKNOWN


def _incident(entry: dict[str, Any]) -> Incident:
    return Incident(
        name=_name(entry),
        impact=IMPACTS.get(word(entry.get("impact")), Indicator.UNKNOWN),
        status=word(entry.get("status")),
        updated_at=rfc3339(parse_time(optional_text(entry.get("started")))),
        url=optional_text(entry.get("url")),
    )


def _maintenance(entry: dict[str, Any]) -> Maintenance:
    start = parse_time(optional_text(entry.get("start")))
    return Maintenance(
        name=_name(entry),
        active=word(entry.get("status")) == "inprogress",
        starts_at=rfc3339(start),
        ends_at=rfc3339(_end(start, text(entry.get("duration")).strip())),
        url=optional_text(entry.get("url")),
    )


def _end(start: datetime | None, minutes: str) -> datetime | None:
    """`start` plus a duration in minutes (ASCII digits); None when either is unusable, or
    the end would fall past the year 9999."""
    if start is None or not (minutes.isascii() and minutes.isdigit()):
        return None
    if len(minutes) > MAX_DURATION_DIGITS:
        return None
    try:
        return start + timedelta(minutes=int(minutes))
    except OverflowError:
        return None


def _name(entry: dict[str, Any]) -> str:
    return text(entry.get("name")).strip() or "(unnamed)"
