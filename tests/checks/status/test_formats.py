"""The status page parsers (checks/status/formats) on fixtures of the documented shapes.

Fixtures live in tests/fixtures/status/<format>/: the vendors' documented fields with made-up
values, one file per state, plus the quirks (incident.io nulls, an open incident under a
`none` indicator, enum values nobody documented).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from checks.status.formats import FormatError, betterstack, instatus, statuspage_v2
from checks.status.report import (
    MAX_COMPONENTS,
    ComponentStatus,
    Indicator,
    StatusReport,
    judge,
    select_components,
)
from monitor.observation import Fact, Reason

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "status"
NOW = datetime(2025, 3, 4, 3, 0, tzinfo=UTC).timestamp()  # inside the fixtures' windows
PARSE = {"statuspage": statuspage_v2.parse, "incidentio": statuspage_v2.parse,
         "instatus": instatus.parse, "betterstack": betterstack.parse}


def fixture(fmt: str, name: str) -> bytes:
    return (FIXTURES / fmt / f"{name}.json").read_bytes()


def parse(fmt: str, name: str) -> StatusReport:
    return PARSE[fmt](fixture(fmt, name), NOW)


@pytest.mark.parametrize(("fmt", "name", "state", "reason"), [
    ("statuspage", "operational", Indicator.NONE, Reason.OK),
    ("statuspage", "none_with_incident", Indicator.MINOR, Reason.DEGRADED),
    ("statuspage", "major_outage", Indicator.MAJOR, Reason.ASSERTION_FAILED),
    ("statuspage", "critical_outage", Indicator.CRITICAL, Reason.ASSERTION_FAILED),
    ("statuspage", "maintenance", Indicator.MAINTENANCE, Reason.MAINTENANCE),
    ("statuspage", "unknown_values", Indicator.UNKNOWN, Reason.DEGRADED),
    ("statuspage", "status_only", Indicator.MINOR, Reason.DEGRADED),
    ("incidentio", "nulls", Indicator.NONE, Reason.OK),
    ("incidentio", "incident", Indicator.MAJOR, Reason.ASSERTION_FAILED),
    ("instatus", "up", Indicator.NONE, Reason.OK),
    ("instatus", "minor_issue", Indicator.MINOR, Reason.DEGRADED),
    ("instatus", "has_issues", Indicator.CRITICAL, Reason.ASSERTION_FAILED),
    ("instatus", "maintenance", Indicator.MAINTENANCE, Reason.MAINTENANCE),
    ("instatus", "unknown", Indicator.UNKNOWN, Reason.DEGRADED),
    ("betterstack", "operational", Indicator.NONE, Reason.OK),
    ("betterstack", "degraded", Indicator.MINOR, Reason.DEGRADED),
    ("betterstack", "downtime", Indicator.CRITICAL, Reason.ASSERTION_FAILED),
    ("betterstack", "maintenance", Indicator.MAINTENANCE, Reason.MAINTENANCE),
    ("betterstack", "unknown", Indicator.UNKNOWN, Reason.DEGRADED),
])
def test_each_fixture_normalises_to_its_state(fmt: str, name: str, state: Indicator,
                                              reason: Reason) -> None:
    verdict, _detail, facts = judge(parse(fmt, name), None)
    assert facts[Fact.INDICATOR] == state.value
    assert verdict is reason


# --- Statuspage v2 ---------------------------------------------------------------------

def test_statuspage_groups_are_skipped_and_members_kept() -> None:
    report = parse("statuspage", "operational")
    assert "Trading" not in report.components
    assert report.components == {
        "Spot Trading": ComponentStatus.OPERATIONAL,
        "Futures Trading": ComponentStatus.OPERATIONAL,
        "REST API": ComponentStatus.OPERATIONAL,
        "WebSocket Feeds": ComponentStatus.OPERATIONAL,
    }
    assert report.indicator is Indicator.NONE
    assert report.description == "All Systems Operational"


def test_statuspage_open_incident_under_none_indicator() -> None:
    report = parse("statuspage", "none_with_incident")
    assert report.indicator is Indicator.NONE
    [incident] = report.incidents
    assert incident.name == "Delayed BTC withdrawals"
    assert incident.impact is Indicator.MINOR
    assert incident.status == "investigating"
    assert incident.latest_update == "Withdrawals are queued; funds are safe."  # newest first
    assert incident.url == "https://stspg.test/inc1"
    assert incident.updated_at == "2025-03-01T10:04:00.000Z"
    assert incident.components == ("Withdrawals",)


def test_statuspage_maintenance_active_upcoming_and_completed() -> None:
    report = parse("statuspage", "maintenance")
    assert [(m.name, m.active) for m in report.maintenances] == [
        ("Futures engine upgrade", True), ("Database failover drill", False)]
    active = report.maintenances[0]
    assert (active.starts_at, active.ends_at) == ("2025-03-04T02:00:00.000Z",
                                                  "2025-03-04T04:00:00.000Z")
    assert active.components == ("Futures Trading",)
    assert report.components["Futures Trading"] is ComponentStatus.UNDER_MAINTENANCE


@pytest.mark.parametrize("status", ["in_progress", "verifying"])
def test_statuspage_in_progress_and_verifying_are_active(status: str) -> None:
    body = {"status": {"indicator": "none"}, "scheduled_maintenances": [
        {"name": "w", "status": status, "scheduled_for": None, "scheduled_until": None}]}
    [window] = statuspage_v2.parse(orjson.dumps(body)).maintenances
    assert window.active


def test_statuspage_unknown_enums_are_unknown_never_operational() -> None:
    report = parse("statuspage", "unknown_values")
    assert report.indicator is Indicator.UNKNOWN
    assert report.components["Staking"] is ComponentStatus.UNKNOWN
    assert report.components["REST API"] is ComponentStatus.OPERATIONAL
    [window] = report.maintenances
    assert not window.active  # an unknown maintenance status is not taken as active


def test_statuspage_resolved_incidents_are_dropped() -> None:
    body = {"status": {"indicator": "none"}, "incidents": [
        {"name": "old", "status": "resolved", "impact": "critical"},
        {"name": "older", "status": "postmortem", "impact": "major"}]}
    assert statuspage_v2.parse(orjson.dumps(body)).incidents == ()


def test_incidentio_null_lists_parse() -> None:
    report = parse("incidentio", "nulls")
    assert report.incidents == () and report.maintenances == ()
    assert set(report.components) == {"Ethereum Mainnet RPC", "Solana Mainnet RPC"}
    body = {"status": {"indicator": "none"}, "components": None, "incidents": None,
            "scheduled_maintenances": None}
    assert statuspage_v2.parse(orjson.dumps(body)).components == {}


def test_incidentio_components_without_group_keys() -> None:
    report = parse("incidentio", "incident")
    assert report.components["Ethereum Mainnet RPC"] is ComponentStatus.PARTIAL_OUTAGE
    assert report.incidents[0].latest_update == "A bad deploy is being rolled back."


def test_duplicate_component_names_keep_the_worse_status() -> None:
    body = {"status": {"indicator": "minor"}, "components": [
        {"name": "API", "status": "operational", "group_id": "eu"},
        {"name": "API", "status": "partial_outage", "group_id": "us"},
        {"name": "API", "status": "degraded_performance", "group_id": "ap"}]}
    assert statuspage_v2.parse(orjson.dumps(body)).components == {
        "API": ComponentStatus.PARTIAL_OUTAGE}


# --- Instatus --------------------------------------------------------------------------

def test_instatus_incident_fields() -> None:
    [incident] = parse("instatus", "has_issues").incidents
    assert incident.name == "Swaps are failing"
    assert incident.impact is Indicator.CRITICAL
    assert incident.status == "investigating"
    assert incident.updated_at == "2025-03-01T09:30:00Z"
    assert incident.url == "https://example-wallet.instatus.com/incident/clexampleincident01"


def test_instatus_maintenance_windows() -> None:
    report = parse("instatus", "maintenance")
    assert [(m.name, m.active, m.starts_at, m.ends_at) for m in report.maintenances] == [
        ("Node upgrade", True, "2025-03-02T01:00:00Z", "2025-03-02T02:30:00Z"),
        ("Database maintenance", False, "2025-03-09T01:00:00Z", "2025-03-09T02:00:00Z"),
    ]
    assert report.components == {}  # the public summary lists none


@pytest.mark.parametrize("minutes", ["9" * 30, "9" * 5000, "99999999999", "²", "-5", "1.5"])
def test_instatus_maintenance_with_an_unusable_duration_has_no_end(minutes: str) -> None:
    body = orjson.dumps({"page": {"status": "UNDERMAINTENANCE"}, "activeMaintenances": [
        {"name": "m", "start": "2025-03-02T01:00:00Z", "duration": minutes,
         "status": "INPROGRESS"}]})
    [maintenance] = instatus.parse(body).maintenances
    assert maintenance.starts_at == "2025-03-02T01:00:00Z" and maintenance.ends_at is None


def test_instatus_unknown_values() -> None:
    report = parse("instatus", "unknown")
    assert report.indicator is Indicator.UNKNOWN
    [incident] = report.incidents
    assert incident.impact is Indicator.UNKNOWN
    assert incident.updated_at is None  # "not a date"


@pytest.mark.parametrize(("status", "indicator"), [
    ("UP", Indicator.NONE), ("HASISSUES", Indicator.MINOR),
    ("UNDERMAINTENANCE", Indicator.MAINTENANCE), ("ALLMAJOROUTAGE", Indicator.CRITICAL),
    ("SOMEMAJOROUTAGE", Indicator.MAJOR), ("ONEPARTIALOUTAGE", Indicator.MAJOR),
    ("SOMEDEGRADEDPERFORMANCE", Indicator.MINOR), ("ONEUNDERMAINTENANCE", Indicator.MAINTENANCE),
    ("SOMETHINGELSE", Indicator.UNKNOWN), ("", Indicator.UNKNOWN),
])
def test_instatus_page_statuses(status: str, indicator: Indicator) -> None:
    assert instatus.page_indicator(status) is indicator


# --- Better Stack ----------------------------------------------------------------------

def test_betterstack_resources_and_closed_reports() -> None:
    report = parse("betterstack", "operational")
    assert report.components == {"Bridge API": ComponentStatus.OPERATIONAL,
                                 "Relayer": ComponentStatus.OPERATIONAL}  # not_monitored left out
    assert report.incidents == ()


def test_betterstack_open_report_with_latest_update() -> None:
    [incident] = parse("betterstack", "degraded").incidents
    assert incident.name == "Slow relaying to L2"
    assert incident.impact is Indicator.MINOR
    assert incident.latest_update == "A fix is being deployed."
    assert incident.updated_at == "2025-03-02T08:55:00.000Z"
    assert incident.components == ("Relayer",)


def test_betterstack_maintenance_by_time() -> None:
    report = parse("betterstack", "maintenance")
    assert [(m.name, m.active) for m in report.maintenances] == [
        ("Relayer upgrade", True), ("API gateway migration", False)]  # the past one dropped
    assert report.description == "Relayer upgrade tonight"


def test_betterstack_unknown_states() -> None:
    report = parse("betterstack", "unknown")
    assert report.indicator is Indicator.UNKNOWN
    assert report.components["Relayer"] is ComponentStatus.UNKNOWN


# --- Errors ----------------------------------------------------------------------------

GARBAGE: list[tuple[str, bytes]] = [
    ("html", b"<!doctype html><html><body>Status</body></html>"),
    ("truncated", b'{"status": {"indicator": "none"'),
    ("invalid utf-8", b'{"status": {"indicator": "\xff\xfe"}}'),
    ("array", b"[]"),
    ("empty", b""),
]


@pytest.mark.parametrize("parser", list(PARSE.values()))
@pytest.mark.parametrize(("what", "body"), GARBAGE, ids=[g[0] for g in GARBAGE])
def test_garbage_is_a_value_error(parser: Any, what: str, body: bytes) -> None:
    with pytest.raises(ValueError):
        parser(body, NOW)


@pytest.mark.parametrize(("parser", "document"), [
    (statuspage_v2.parse, {"page": {}}),  # no status object
    (statuspage_v2.parse, {"status": "none"}),
    (statuspage_v2.parse, {"status": {"indicator": "none"}, "components": {"a": 1}}),
    (statuspage_v2.parse, {"status": {"indicator": "none"}, "incidents": ["x"]}),
    (statuspage_v2.parse, {"status": {"indicator": ["none"]}}),
    (instatus.parse, {"activeIncidents": []}),  # no page
    (instatus.parse, {"page": {"status": "UP"}, "activeIncidents": "none"}),
    (betterstack.parse, {"included": []}),  # no data
    (betterstack.parse, {"data": {"attributes": None}}),
    (betterstack.parse, {"data": {"attributes": {}}, "included": [1, 2]}),
])
def test_wrong_shape_is_a_format_error(parser: Any, document: dict[str, Any]) -> None:
    with pytest.raises(FormatError):
        parser(orjson.dumps(document), NOW)


# --- Component filter ------------------------------------------------------------------

def many_components(count: int) -> StatusReport:
    components = [{"name": f"node-{i:03d}", "status": "operational"} for i in range(count)]
    components[-1]["status"] = "major_outage"
    body = {"status": {"indicator": "none"}, "components": components}
    return statuspage_v2.parse(orjson.dumps(body))


def test_filter_by_names_and_globs_case_insensitive() -> None:
    report = parse("statuspage", "major_outage")
    assert set(select_components(report.components, ["rest api"])) == {"REST API"}
    assert set(select_components(report.components, ["*trading"])) == {
        "Spot Trading", "Futures Trading"}
    reason, _detail, facts = judge(report, ["Futures Trading"])
    assert reason is Reason.OK  # the outage touches Spot Trading only
    assert facts[Fact.COMPONENTS] == {"Futures Trading": "operational"}
    assert facts[Fact.INCIDENTS] == []


def test_filter_sees_incidents_on_chosen_components() -> None:
    reason, detail, _facts = judge(parse("statuspage", "major_outage"), ["Spot*"])
    assert reason is Reason.ASSERTION_FAILED
    assert "Spot order placement failing" in detail


def test_components_are_capped_without_a_filter() -> None:
    report = many_components(MAX_COMPONENTS + 10)
    _reason, _detail, facts = judge(report, None)
    assert len(facts[Fact.COMPONENTS]) == MAX_COMPONENTS
    assert len(select_components(report.components, ["node-*"])) == MAX_COMPONENTS
    names = [f"node-{i:03d}" for i in range(MAX_COMPONENTS + 10)]
    assert len(select_components(report.components, names)) == MAX_COMPONENTS + 10
