"""AWS Health Dashboard, public events: https://health.aws.amazon.com/public/currentevents

What the feed looks like (no official schema; from public code that reads it): a JSON array
of the open events, served as `application/json;charset=utf-16` with a byte order mark, and
`[]` when nothing is open. An event has `arn` (`arn:aws:health:<region>::event/...`; for
global events the region part is presumably empty or `global`, unconfirmed), `date` (unix
seconds, a string), `region_name` (a display name such as "N. Virginia"), `service`
(`<service>-<region>`), `service_name`, `summary`, `status` (a numeric string), `event_log`
(entries with `summary`, `message`, numeric `status`, unix `timestamp`) and
`impacted_services` (`{key: {service_name, current, max}}`).

The status codes are undocumented. From the payloads: 0 operational (resolved), 1
informational, 2 degradation, 3 disruption. We read them conservatively: a resolved (0) event
is dropped, 1 counts as minor (public samples show code 1 on "Increased Error Rates" entries),
2 minor, 3 major, and any other value is `unknown` impact, which is never healthy.

Filters: a region matches the event's region code (from the ARN, else the `service` suffix)
or its `region_name`; global events (no ARN region, or `global`) always count. A service
matches the event's `service` key (with or without its region suffix), `service_name`, or
any impacted service's key or name.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from checks.status.clouds.common import (
    MAX_FEED_BYTES,
    FeedError,
    cap,
    check_size,
    epoch_to_rfc3339,
    load_json_array,
    lowered,
    matches,
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

DASHBOARD_URL = "https://health.aws.amazon.com/health/status"
MAX_INCIDENT_COMPONENTS = 20
MAX_CODE_DIGITS = 18  # a status code or a unix timestamp written as digits

EVENT_IMPACT = {0: Indicator.NONE, 1: Indicator.MINOR, 2: Indicator.MINOR,
                3: Indicator.MAJOR}
EVENT_STATUS = {1: "informational", 2: "degradation", 3: "disruption"}
SERVICE_STATUS = {0: ComponentStatus.OPERATIONAL, 1: ComponentStatus.DEGRADED_PERFORMANCE,
                  2: ComponentStatus.DEGRADED_PERFORMANCE, 3: ComponentStatus.PARTIAL_OUTAGE}
RESOLVED = 0
GLOBAL_REGIONS = frozenset({"", "global"})

_ARN_REGION = re.compile(r"^arn:aws[a-z-]*:health:([a-z0-9-]*):")
_REGION_SUFFIX = re.compile(r"-((?:[a-z]{2}-gov|[a-z]{2})-[a-z]+-\d+)$")


def decode(body: bytes) -> str:
    """UTF-16 by its byte order mark (what AWS serves), UTF-8 (with or without BOM), or
    BOM-less UTF-16 recognised by its zero bytes."""
    try:
        if body.startswith((b"\xff\xfe", b"\xfe\xff")):
            return body.decode("utf-16")
        if body.startswith(b"\xef\xbb\xbf"):
            return body.decode("utf-8-sig")
        if len(body) >= 2 and body[0] == 0:
            return body.decode("utf-16-be")
        if len(body) >= 2 and body[1] == 0:
            return body.decode("utf-16-le")
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FeedError(f"undecodable feed: {exc.reason}") from None


def parse(body: bytes, *, regions: Sequence[str] | None = None,
          services: Sequence[str] | None = None,
          max_bytes: int = MAX_FEED_BYTES) -> StatusReport:
    check_size(body, max_bytes)
    events = load_json_array(decode(body))
    region_filter, service_filter = lowered(regions), lowered(services)
    incidents: list[Incident] = []
    components: dict[str, ComponentStatus] = {}
    for event in events:
        code = _event_code(event)
        if code == RESOLVED:
            continue
        region = region_of(event)
        labels = [region, text(event.get("region_name"))]
        if region not in GLOBAL_REGIONS and not matches(region_filter, labels):
            continue
        impacted = _impacted(event, region, service_filter)
        if service_filter is not None and not impacted and not matches(
                service_filter, _own_service_names(event, region)):
            continue
        for name, status in impacted.items():
            known = components.get(name)
            if known is None or _worse(status, known):
                components[name] = status
        incidents.append(_incident(event, code, region, tuple(impacted)))
    indicator = worst([i.impact for i in incidents])
    description = f"{len(incidents)} open event(s)" if incidents else "no open events"
    return StatusReport(indicator=indicator, components=components,
                        incidents=tuple(incidents), description=description)


def region_of(event: dict[str, Any]) -> str:
    """The region code from the ARN, else from the `service` key's suffix; "" if global."""
    match = _ARN_REGION.match(text(event.get("arn")))
    if match and match.group(1):
        return match.group(1)
    suffix = _REGION_SUFFIX.search(text(event.get("service")))
    return suffix.group(1) if suffix else ""


def _code(value: Any) -> int | None:
    """A status code or timestamp: an integer, or a string of at most MAX_CODE_DIGITS ASCII
    digits (str.isdigit() also takes '²', which int() refuses, and int() refuses more than
    4300 digits); None for anything else."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        text = value.strip()
        if text.isascii() and text.isdigit() and len(text) <= MAX_CODE_DIGITS:
            return int(text)
    return None


def _log(event: dict[str, Any]) -> list[dict[str, Any]]:
    """The event log, oldest first (stable for equal timestamps)."""
    entries = [e for e in event.get("event_log") or [] if isinstance(e, dict)]
    return sorted(entries, key=lambda e: _code(e.get("timestamp")) or 0)


def _event_code(event: dict[str, Any]) -> int | None:
    """The event's status code: its own, else the newest log entry's; None if neither."""
    code = _code(event.get("status"))
    if code is None and (log := _log(event)):
        code = _code(log[-1].get("status"))
    return code


def _strip_region(key: str, region: str) -> str:
    return key[: -len(region) - 1] if region and key.endswith(f"-{region}") else key


def _own_service_names(event: dict[str, Any], region: str) -> list[str]:
    key = text(event.get("service"))
    return [key, _strip_region(key, region), text(event.get("service_name"))]


def _impacted(event: dict[str, Any], region: str,
              service_filter: list[str] | None) -> dict[str, ComponentStatus]:
    """Impacted services (display name with region -> status) passing the service filter;
    the event's own service when it lists none and it passes."""
    result: dict[str, ComponentStatus] = {}
    impacted = event.get("impacted_services")
    entries = impacted.items() if isinstance(impacted, dict) else []
    for key, info in entries:
        info = info if isinstance(info, dict) else {}
        name = text(info.get("service_name")) or str(key)
        if not matches(service_filter, [str(key), _strip_region(str(key), region), name]):
            continue
        code = _code(info.get("current"))
        status = (SERVICE_STATUS.get(code, ComponentStatus.UNKNOWN) if code is not None
                  else ComponentStatus.UNKNOWN)
        result[_label(name, region)] = status
    return result


def _label(name: str, region: str) -> str:
    return f"{name} ({region})" if region else name


def _worse(a: ComponentStatus, b: ComponentStatus) -> bool:
    return SEVERITY[COMPONENT_INDICATOR[a]] > SEVERITY[COMPONENT_INDICATOR[b]]


def _incident(event: dict[str, Any], code: int | None, region: str,
              components: tuple[str, ...]) -> Incident:
    service = text(event.get("service_name")) or text(event.get("service")) or "AWS"
    summary = text(event.get("summary"))
    name = f"{_label(service, region)}: {summary}" if summary else _label(service, region)
    log = _log(event)
    newest = log[-1] if log else {}
    update = text(newest.get("message")) or text(newest.get("summary"))
    updated_at = epoch_to_rfc3339(newest.get("timestamp")) or epoch_to_rfc3339(
        event.get("date"))
    impact = EVENT_IMPACT.get(code, Indicator.UNKNOWN) if code is not None else (
        Indicator.UNKNOWN)
    status = EVENT_STATUS.get(code, f"status {code}") if code is not None else "unknown"
    return Incident(name=cap(name), impact=impact, status=status, updated_at=updated_at,
                    latest_update=cap(update), url=DASHBOARD_URL,
                    components=components[:MAX_INCIDENT_COMPONENTS])


__all__ = ["FeedError", "decode", "parse", "region_of"]
