"""Judging a normalised status report: worst of indicator, incidents and components."""

from __future__ import annotations

from checks.status.report import (
    MAX_COMPONENTS,
    ComponentStatus,
    Incident,
    Indicator,
    Maintenance,
    StatusReport,
    judge,
    select_components,
)
from monitor.observation import Fact, Reason

OK_ = ComponentStatus.OPERATIONAL


def test_indicator_none_with_an_open_minor_incident_is_degraded() -> None:
    report = StatusReport(Indicator.NONE, {"API": OK_},
                          (Incident("Delayed deposits", Indicator.MINOR, "investigating"),))
    reason, detail, facts = judge(report, None)
    assert reason is Reason.DEGRADED
    assert detail == "minor incident: Delayed deposits"
    assert facts[Fact.INDICATOR] == "minor"
    assert facts[Fact.INCIDENTS][0]["name"] == "Delayed deposits"


def test_active_maintenance_and_upcoming_listed() -> None:
    report = StatusReport(Indicator.MAINTENANCE, {"API": ComponentStatus.UNDER_MAINTENANCE},
                          maintenances=(Maintenance("DB upgrade", True),
                                        Maintenance("Next week", False)))
    reason, detail, facts = judge(report, None)
    assert (reason, detail) == (Reason.MAINTENANCE, "maintenance: DB upgrade")
    assert [m["active"] for m in facts[Fact.MAINTENANCES]] == [True, False]


def test_major_outage_asserts_failure_and_unknown_is_never_up() -> None:
    outage = StatusReport(Indicator.MAJOR, {"API": ComponentStatus.MAJOR_OUTAGE})
    assert judge(outage, None)[0] is Reason.ASSERTION_FAILED
    strange = StatusReport(Indicator.NONE, {"API": ComponentStatus.UNKNOWN})
    reason, detail, _ = judge(strange, None)
    assert reason is Reason.DEGRADED and detail == "status unknown: API"


def test_filter_keeps_only_the_components_a_user_depends_on() -> None:
    report = StatusReport(
        Indicator.MAJOR,
        {"Spot API": OK_, "Futures API": ComponentStatus.MAJOR_OUTAGE, "Website": OK_},
        (Incident("Futures down", Indicator.MAJOR, "identified", components=("Futures API",)),),
    )
    reason, _, facts = judge(report, ["spot *"])
    assert reason is Reason.OK
    assert facts[Fact.COMPONENTS] == {"Spot API": "operational"}
    assert facts[Fact.INCIDENTS] == []
    assert judge(report, ["*API"])[0] is Reason.ASSERTION_FAILED


def test_components_are_capped_unless_named() -> None:
    many = {f"c{i}": OK_ for i in range(80)}
    assert len(select_components(many, None)) == MAX_COMPONENTS
    assert len(select_components(many, ["c*"])) == MAX_COMPONENTS
    named = [f"c{i}" for i in range(60)]
    assert len(select_components(many, named)) == 60
