"""Google Cloud Service Health: https://status.cloud.google.com/incidents.json

The feed (schema published at status.cloud.google.com/incidents.schema.json) is a JSON array
of recent incidents, open and closed. Fields read: `id`, `begin`, `end` (absent or null
while open), `modified`, `external_desc`, `severity` (low, medium, high), `status_impact`
(SERVICE_INFORMATION, SERVICE_DISRUPTION, SERVICE_OUTAGE), `service_name`, `service_key`,
`affected_products` ([{title, id}]), `currently_affected_locations` and
`previously_affected_locations` ([{title, id}], ids such as `us-central1`),
`most_recent_update` ({when, status, text}) and `uri`.

Impact is the worse of `status_impact` (information none, disruption minor, outage major)
and `severity` (low none, medium minor, high major), critical for a high-severity outage;
an unrecognised value is `unknown`, never healthy. An open incident whose newest update says
AVAILABLE (recovered) counts as impact none but stays listed.

Filters: a service matches an affected product's title or id (or `service_name` /
`service_key`, which is often "Multiple Products"). A region matches a location's id or
title among the currently affected locations (the previously affected ones when none is
current); the `global` location and incidents naming no location always count.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import urljoin

from checks.status.clouds.common import (
    MAX_FEED_BYTES,
    FeedError,
    cap,
    check_size,
    load_json_array,
    lowered,
    matches,
    strip_markdown,
    text,
)
from checks.status.report import (
    COMPONENT_INDICATOR,
    SEVERITY,
    ComponentStatus,
    Incident,
    Indicator,
    StatusReport,
    worst,
)

BASE_URL = "https://status.cloud.google.com/"
STATUS_IMPACT = {"SERVICE_INFORMATION": Indicator.NONE,
                 "SERVICE_DISRUPTION": Indicator.MINOR,
                 "SERVICE_OUTAGE": Indicator.MAJOR}
SEVERITY_IMPACT = {"low": Indicator.NONE, "medium": Indicator.MINOR, "high": Indicator.MAJOR}
PRODUCT_STATUS = {Indicator.NONE: ComponentStatus.OPERATIONAL,
                  Indicator.MINOR: ComponentStatus.DEGRADED_PERFORMANCE,
                  Indicator.MAJOR: ComponentStatus.PARTIAL_OUTAGE,
                  Indicator.CRITICAL: ComponentStatus.MAJOR_OUTAGE}
RECOVERED = "AVAILABLE"
GLOBAL_LOCATION = "global"


def parse(body: bytes, *, regions: Sequence[str] | None = None,
          services: Sequence[str] | None = None,
          max_bytes: int = MAX_FEED_BYTES) -> StatusReport:
    check_size(body, max_bytes)
    entries = load_json_array(body)
    region_filter, service_filter = lowered(regions), lowered(services)
    incidents: list[Incident] = []
    components: dict[str, ComponentStatus] = {}
    for entry in entries:
        if not is_open(entry) or not _in_regions(entry, region_filter):
            continue
        products = _products(entry, service_filter)
        if products is None:
            continue
        impact = impact_of(entry)
        status = PRODUCT_STATUS.get(impact, ComponentStatus.UNKNOWN)
        for product in products:
            known = components.get(product)
            if known is None or _worse(status, known):
                components[product] = status
        incidents.append(_incident(entry, impact, products))
    indicator = worst([i.impact for i in incidents])
    description = f"{len(incidents)} open incident(s)" if incidents else "no open incidents"
    return StatusReport(indicator=indicator, components=components,
                        incidents=tuple(incidents), description=description)


def is_open(entry: dict[str, Any]) -> bool:
    return not entry.get("end")


def impact_of(entry: dict[str, Any]) -> Indicator:
    found: list[Indicator] = []
    status_impact, severity = entry.get("status_impact"), entry.get("severity")
    if status_impact is not None:
        found.append(STATUS_IMPACT.get(str(status_impact).upper(), Indicator.UNKNOWN))
    if severity is not None:
        found.append(SEVERITY_IMPACT.get(str(severity).lower(), Indicator.UNKNOWN))
    if not found:
        return Indicator.UNKNOWN
    impact = worst(found)
    if status_impact == "SERVICE_OUTAGE" and str(severity).lower() == "high":
        impact = Indicator.CRITICAL
    update = entry.get("most_recent_update")
    if isinstance(update, dict) and update.get("status") == RECOVERED:
        impact = Indicator.NONE
    return impact


def _named(items: Any) -> list[dict[str, Any]]:
    return [i for i in items if isinstance(i, dict)] if isinstance(items, list) else []


def _in_regions(entry: dict[str, Any], region_filter: list[str] | None) -> bool:
    locations = (_named(entry.get("currently_affected_locations"))
                 or _named(entry.get("previously_affected_locations")))
    if region_filter is None or not locations:
        return True
    ids = [text(loc.get("id")) for loc in locations]
    if any(i.lower() == GLOBAL_LOCATION for i in ids):
        return True
    return matches(region_filter, ids + [text(loc.get("title")) for loc in locations])


def _products(entry: dict[str, Any], service_filter: list[str] | None) -> list[str] | None:
    """Titles of the affected products passing the filter; None when the incident is not
    about a chosen service."""
    products = _named(entry.get("affected_products"))
    chosen = [text(p.get("title")) or text(p.get("id")) for p in products
              if matches(service_filter, [text(p.get("title")), text(p.get("id"))])]
    if chosen:
        return chosen
    own = [text(entry.get("service_name")), text(entry.get("service_key"))]
    if service_filter is None or matches(service_filter, own):
        return [own[0]] if own[0] and not products else []
    return None


def _worse(a: ComponentStatus, b: ComponentStatus) -> bool:
    return SEVERITY[COMPONENT_INDICATOR[a]] > SEVERITY[COMPONENT_INDICATOR[b]]


def _incident(entry: dict[str, Any], impact: Indicator, products: list[str]) -> Incident:
    update = entry.get("most_recent_update")
    update = update if isinstance(update, dict) else {}
    description = strip_markdown(text(entry.get("external_desc")))
    service = text(entry.get("service_name"))
    name = description or service or f"incident {text(entry.get('id'))}".strip()
    uri = text(entry.get("uri"))
    return Incident(
        name=cap(name),
        impact=impact,
        status=(text(update.get("status")) or text(entry.get("status_impact"))
                or "unknown").lower(),
        updated_at=text(update.get("when")) or text(entry.get("modified")) or None,
        latest_update=strip_markdown(text(update.get("text"))),
        url=urljoin(BASE_URL, uri) if uri else BASE_URL,
        components=tuple(products),
    )


__all__ = ["FeedError", "impact_of", "is_open", "parse"]
