"""The formats a simulated status page can serve: where, with which components, and how one
PageView is written in each (the documented shapes, as in tests/fixtures/status/<format>/).

    statuspage  Atlassian Statuspage v2: /api/v2/summary.json, /api/v2/status.json; one
                component group
    incidentio  incident.io's Statuspage-compatible API: the same paths, `null` for empty
                lists, no groups
    instatus    Instatus /summary.json (no components in the public summary)
    betterstack Better Stack /index.json (JSON:API)
    aws         AWS Health /public/currentevents: a JSON array, UTF-16 with a BOM
    gcp         Google Cloud /incidents.json
    azure       Azure status RSS /en-us/status/feed/ (no severity: every item is minor)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

import orjson

from monitor.simulate.status.model import PageIncident, PageView, iso, js_date, rfc822

Render = Callable[[PageView, str], bytes]
JSON = "application/json"


def _json(document: Any) -> bytes:
    return orjson.dumps(document)


# -- Statuspage v2 and incident.io ---------------------------------------------------------

INDICATOR_WORDS = {"none": "All Systems Operational", "minor": "Minor Service Outage",
                   "major": "Partial System Outage", "critical": "Major System Outage",
                   "maintenance": "Service Under Maintenance"}


def _statuspage(view: PageView, path: str, *, nulls: bool) -> bytes:
    def listed(items: list[Any]) -> list[Any] | None:
        return None if nulls and not items else items

    page = {"id": view.name, "name": view.name, "url": f"https://{view.name}.test",
            "updated_at": iso(view.updated_at)}
    status = {"indicator": view.indicator, "description": INDICATOR_WORDS[view.indicator]}
    if path.endswith("/status.json"):
        return _json({"page": page, "status": status})
    member_of = {m: g for g, members in view.groups.items() for m in members}
    components: list[dict[str, Any]] = []
    if not nulls:
        components += [{"id": f"group-{g}", "name": g, "status": "operational", "group": True,
                        "group_id": None, "components": [f"c-{m}" for m in members]}
                       for g, members in view.groups.items()]
    for name, state in view.components.items():
        entry: dict[str, Any] = {"id": f"c-{name}", "name": name, "status": state}
        if not nulls:
            entry |= {"group": False, "group_id": (f"group-{member_of[name]}"
                                                   if name in member_of else None)}
        components.append(entry)
    incidents = [{
        "id": i.id, "name": i.name, "status": i.status, "impact": i.impact,
        "created_at": iso(i.started_at), "updated_at": iso(i.updated_at),
        "shortlink": f"https://{view.name}.test/incidents/{i.id}",
        "incident_updates": [{"id": f"{i.id}-{n}", "status": i.status, "body": u.text,
                              "created_at": iso(u.at)}
                             for n, u in enumerate(i.updates)],
        "components": [{"id": f"c-{c}", "name": c, "status": view.components.get(c)}
                       for c in i.components],
    } for i in view.incidents]
    maintenances = [{
        "id": m.id, "name": m.name, "status": "in_progress" if m.active else "scheduled",
        "impact": "maintenance", "scheduled_for": iso(m.starts_at),
        "scheduled_until": iso(m.ends_at),
        "shortlink": f"https://{view.name}.test/incidents/{m.id}",
        "components": [{"id": f"c-{c}", "name": c} for c in m.components],
    } for m in view.maintenances]
    return _json({"page": page, "status": status, "components": listed(components),
                  "incidents": listed(incidents),
                  "scheduled_maintenances": listed(maintenances)})


# -- Instatus and Better Stack -------------------------------------------------------------

INSTATUS_IMPACT = {"minor": "DEGRADEDPERFORMANCE", "major": "PARTIALOUTAGE",
                   "critical": "MAJOROUTAGE"}


def _instatus(view: PageView, path: str) -> bytes:
    if view.incidents and view.indicator != "none":
        status = "HASISSUES"
    elif view.active_maintenance and not view.incidents:
        status = "UNDERMAINTENANCE"
    else:
        status = "UP"  # also while every open incident lags
    base = f"https://{view.name}.instatus.com"
    return _json({
        "page": {"name": view.name, "url": base, "status": status},
        "activeIncidents": [{"id": i.id, "name": i.name, "started": js_date(i.started_at),
                             "status": i.status.upper(), "impact": INSTATUS_IMPACT[i.impact],
                             "url": f"{base}/incident/{i.id}"} for i in view.incidents],
        "activeMaintenances": [{"id": m.id, "name": m.name, "start": js_date(m.starts_at),
                                "status": "INPROGRESS" if m.active else "NOTSTARTEDYET",
                                "duration": str(round((m.ends_at - m.starts_at) / 60)),
                                "url": f"{base}/maintenance/{m.id}"}
                               for m in view.maintenances],
    })


BETTERSTACK_STATE = {"none": "operational", "minor": "degraded", "major": "downtime",
                     "critical": "downtime", "maintenance": "maintenance"}
BETTERSTACK_RESOURCE = {"operational": "operational", "degraded_performance": "degraded",
                        "partial_outage": "downtime", "major_outage": "downtime",
                        "under_maintenance": "maintenance"}


def _betterstack(view: PageView, path: str) -> bytes:
    ids = {name: str(100 + n) for n, name in enumerate(view.components)}
    included: list[dict[str, Any]] = [
        {"id": ids[name], "type": "status_page_resource",
         "attributes": {"public_name": name, "status": BETTERSTACK_RESOURCE[state]}}
        for name, state in view.components.items()]
    for i in view.incidents:
        state = BETTERSTACK_STATE[i.impact]
        included.append({"id": i.id, "type": "status_report", "attributes": {
            "title": i.name, "report_type": "manual", "starts_at": iso(i.started_at),
            "ends_at": None, "aggregate_state": state.capitalize(),
            "affected_resources": [{"status_page_resource_id": ids[c], "status": state}
                                   for c in i.components if c in ids]}})
        included += [{"id": f"{i.id}-{n}", "type": "status_update", "attributes": {
            "message": u.text, "published_at": iso(u.at), "status_report_id": i.id}}
            for n, u in enumerate(i.updates)]
    for m in view.maintenances:
        included.append({"id": m.id, "type": "status_report", "attributes": {
            "title": m.name, "report_type": "maintenance", "starts_at": iso(m.starts_at),
            "ends_at": iso(m.ends_at), "aggregate_state": "Maintenance",
            "affected_resources": [{"status_page_resource_id": ids[c],
                                    "status": "maintenance"}
                                   for c in m.components if c in ids]}})
    return _json({"data": {"id": "1", "type": "status_page", "attributes": {
        "company_name": view.name, "subdomain": view.name, "announcement": "",
        "aggregate_state": BETTERSTACK_STATE[view.indicator],
        "updated_at": iso(view.updated_at)}}, "included": included})


# -- clouds ----------------------------------------------------------------------------------

AWS_REGION, AWS_REGION_NAME = "us-east-1", "N. Virginia"
AWS_CODE = {"minor": 2, "major": 3, "critical": 3}


def _aws(view: PageView, path: str) -> bytes:
    events = [{
        "date": str(int(i.started_at)),
        "arn": f"arn:aws:health:{AWS_REGION}::event/MULTIPLE_SERVICES/{i.id}",
        "region_name": AWS_REGION_NAME, "status": str(AWS_CODE[i.impact]),
        "service": f"{i.components[0] if i.components else 'multipleservices'}-{AWS_REGION}",
        "service_name": i.components[0] if len(i.components) == 1 else "Multiple services",
        "summary": i.name,
        "event_log": [{"summary": i.name, "message": u.text, "status": AWS_CODE[u.impact],
                       "timestamp": int(u.at)} for u in reversed(i.updates)],
        "impacted_services": {f"{c}-{AWS_REGION}": {
            "service_name": c, "current": str(AWS_CODE[i.impact]),
            "max": str(AWS_CODE[i.impact])} for c in i.components},
    } for i in view.incidents]
    # What AWS serves: UTF-16 with a byte order mark.
    return orjson.dumps(events).decode().encode("utf-16")


GCP_IMPACT = {"minor": ("SERVICE_DISRUPTION", "medium"), "major": ("SERVICE_OUTAGE", "high"),
              "critical": ("SERVICE_OUTAGE", "high")}
GCP_LOCATION = {"title": "Iowa (us-central1)", "id": "us-central1"}


def _gcp_incident(i: PageIncident) -> dict[str, Any]:
    impact, severity = GCP_IMPACT[i.impact]
    return {
        "id": i.id, "number": str(int(i.id.rsplit("-", 1)[-1], 16)), "begin": iso(i.started_at),
        "created": iso(i.started_at), "modified": iso(i.updated_at), "external_desc": i.name,
        "severity": severity, "status_impact": impact,
        "service_name": i.components[0] if len(i.components) == 1 else "Multiple Products",
        "service_key": i.components[0] if len(i.components) == 1 else "multiple",
        "affected_products": [{"title": c, "id": c} for c in i.components],
        "currently_affected_locations": [GCP_LOCATION], "previously_affected_locations": [],
        "most_recent_update": {"when": iso(i.updated_at), "text": i.updates[0].text,
                               "status": impact, "affected_locations": [GCP_LOCATION]},
        "uri": f"incidents/{i.id}",
    }


def _gcp(view: PageView, path: str) -> bytes:
    return _json([_gcp_incident(i) for i in reversed(view.incidents)])


def _azure_item(i: PageIncident) -> str:
    title = f"Active - {', '.join(i.components)} - {i.name}"
    description = f"<p>{i.updates[0].text}</p>"
    return (f"<item><guid isPermaLink=\"false\">{escape(i.id)}</guid>"
            "<link>https://azure.status.microsoft/en-us/status/history/?trackingId="
            f"{escape(i.id)}</link><title>{escape(title)}</title>"
            f"<description>{escape(description)}</description>"
            f"<pubDate>{rfc822(i.updated_at)}</pubDate></item>")


def _azure(view: PageView, path: str) -> bytes:
    items = "".join(_azure_item(i) for i in view.incidents)
    return ("<?xml version=\"1.0\" encoding=\"utf-8\"?>"
            "<rss version=\"2.0\" xmlns:a10=\"http://www.w3.org/2005/Atom\"><channel>"
            "<title>Azure Status</title><link>https://azure.status.microsoft/en-us/status/"
            "</link><description>Azure Status</description><language>en-US</language>"
            f"<lastBuildDate>{rfc822(view.updated_at)}</lastBuildDate>{items}"
            "</channel></rss>").encode()


# -- the table -------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class PageFormat:
    name: str
    paths: tuple[str, ...]  # the first is the feed's own URL path
    render: Render
    content_type: str = JSON
    components: tuple[str, ...] = ("API", "Website", "Trading", "Deposits & Withdrawals")
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    maintenance: bool = True  # the format can show maintenance windows
    check_kind: str = "statuspage"  # the outagemon kind reading it
    check_format: str = "statuspage"  # statuspage's `format`, or cloud_status's `cloud`


STATUSPAGE_PATHS = ("/api/v2/summary.json", "/api/v2/status.json")
FORMATS: dict[str, PageFormat] = {fmt.name: fmt for fmt in (
    PageFormat("statuspage", STATUSPAGE_PATHS,
               lambda view, path: _statuspage(view, path, nulls=False),
               groups={"Exchange": ("Trading", "Deposits & Withdrawals")}),
    PageFormat("incidentio", STATUSPAGE_PATHS,
               lambda view, path: _statuspage(view, path, nulls=True),
               components=("Ethereum RPC", "Solana RPC", "Dashboard")),
    PageFormat("instatus", ("/summary.json",), _instatus, components=(),
               check_format="instatus"),
    PageFormat("betterstack", ("/index.json",), _betterstack,
               components=("Bridge API", "Relayer"), check_format="betterstack"),
    PageFormat("aws", ("/public/currentevents",), _aws,
               content_type="application/json;charset=utf-16",
               components=("ec2", "lambda", "s3"), maintenance=False,
               check_kind="cloud_status", check_format="aws"),
    PageFormat("gcp", ("/incidents.json",), _gcp,
               components=("Google Compute Engine", "Cloud SQL"), maintenance=False,
               check_kind="cloud_status", check_format="gcp"),
    PageFormat("azure", ("/en-us/status/feed/",), _azure,
               content_type="application/rss+xml; charset=utf-8",
               components=("Virtual Machines", "Azure Storage"), maintenance=False,
               check_kind="cloud_status", check_format="azure"),
)}
