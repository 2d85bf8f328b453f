"""The cloud feed parsers on recorded-shape fixtures (documented shapes, made-up values)."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from checks.status.clouds import aws, azure, gcp
from checks.status.clouds.common import FeedError
from checks.status.report import ComponentStatus, Indicator, judge
from monitor.observation import Reason

FIXTURES = Path(__file__).parents[2] / "fixtures" / "status"


def fixture(cloud: str, name: str) -> bytes:
    return (FIXTURES / cloud / name).read_bytes()


# --- AWS ---------------------------------------------------------------------------------


def test_aws_fixture_is_really_utf16_with_bom() -> None:
    body = fixture("aws", "events.json")
    assert body[:2] in (b"\xff\xfe", b"\xfe\xff")
    with pytest.raises(UnicodeDecodeError):
        body.decode("utf-8")


def test_aws_empty_feed_is_healthy() -> None:
    report = aws.parse(fixture("aws", "empty.json"))
    assert report.indicator is Indicator.NONE
    assert report.incidents == ()
    assert judge(report, None)[0] is Reason.OK


def test_aws_open_events_and_resolved_dropped() -> None:
    report = aws.parse(fixture("aws", "events.json"))
    names = [i.name for i in report.incidents]
    assert len(names) == 3  # the resolved (status 0) RDS event is not open
    assert not any("Relational Database" in n for n in names)
    assert report.indicator is Indicator.MAJOR  # the status-3 region-wide event
    ec2 = next(i for i in report.incidents if "Elastic Compute" in i.name)
    assert ec2.impact is Indicator.MINOR
    assert ec2.name == "Amazon Elastic Compute Cloud (us-east-1): Increased API Error Rates"
    assert ec2.latest_update == "We have identified the cause and are working on a fix."
    assert ec2.updated_at == "2026-01-01T01:00:00Z"
    assert report.components["Amazon Elastic Compute Cloud (us-east-1)"] is (
        ComponentStatus.DEGRADED_PERFORMANCE)
    assert report.components["AWS Lambda (ap-southeast-9)"] is ComponentStatus.PARTIAL_OUTAGE


def test_aws_utf8_body_is_accepted() -> None:
    assert aws.parse(fixture("aws", "events_utf8.json")) == aws.parse(
        fixture("aws", "events.json"))


def test_aws_big_endian_utf16_is_accepted() -> None:
    text = fixture("aws", "events.json").decode("utf-16")
    assert aws.parse(text.encode("utf-16-be")) == aws.parse(text.encode("utf-8"))
    assert aws.parse(b"\xfe\xff" + text.encode("utf-16-be")) == aws.parse(text.encode())


def test_aws_region_filter() -> None:
    report = aws.parse(fixture("aws", "events.json"), regions=["US-EAST-1"])
    names = sorted(i.name for i in report.incidents)
    # the us-east-1 event and the global IAM event; the ap-southeast-9 outage is elsewhere
    assert len(names) == 2
    assert any("Identity and Access" in n for n in names)
    assert report.indicator is Indicator.MINOR
    by_display_name = aws.parse(fixture("aws", "events.json"), regions=["n. virginia"])
    assert by_display_name.incidents == report.incidents


def test_aws_region_glob_and_service_filter() -> None:
    report = aws.parse(fixture("aws", "events.json"), regions=["ap-*"], services=["lambda"])
    [incident] = [i for i in report.incidents if "Multiple services" in i.name]
    assert incident.components == ("AWS Lambda (ap-southeast-9)",)
    assert set(report.components) == {"AWS Lambda (ap-southeast-9)"}
    by_name = aws.parse(fixture("aws", "events.json"), services=["amazon elastic compute*"])
    assert [i.name for i in by_name.incidents] == [
        "Amazon Elastic Compute Cloud (us-east-1): Increased API Error Rates"]


def test_aws_unknown_status_is_not_healthy() -> None:
    report = aws.parse(fixture("aws", "unknown_status.json"))
    [incident] = report.incidents
    assert incident.impact is Indicator.UNKNOWN
    assert incident.status == "status 7"
    assert report.components["Amazon Simple Queue Service (eu-west-1)"] is (
        ComponentStatus.UNKNOWN)
    reason, detail, _ = judge(report, None)
    assert reason is Reason.DEGRADED
    assert "Simple Queue Service" in detail


@pytest.mark.parametrize("status", ["9" * 5000, "²", "3" * 19, -1])
def test_aws_unreadable_status_is_unknown_not_a_crash(status: object) -> None:
    body = orjson.dumps([{"service": "ec2-us-east-1", "status": status,
                          "event_log": [{"timestamp": status}, {"timestamp": "1700000000"}]}])
    [incident] = aws.parse(body).incidents
    assert incident.impact is Indicator.UNKNOWN


def test_aws_missing_status_falls_back_to_log_then_unknown() -> None:
    from_log = aws.parse(b'[{"service": "s3-us-east-1", "event_log": '
                         b'[{"status": 3, "timestamp": 1}]}]')
    assert from_log.incidents[0].impact is Indicator.MAJOR
    nothing = aws.parse(b'[{"service": "s3-us-east-1", "status": null}]')
    assert nothing.incidents[0].impact is Indicator.UNKNOWN


@pytest.mark.parametrize("body", [b"", b"not json", b'{"events": []}', b"[1, 2]",
                                  b"\xff\xfe\x00\xd8", "[{".encode("utf-16")])
def test_aws_garbled_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        aws.parse(body)


def test_aws_oversized_is_a_parse_error() -> None:
    with pytest.raises(FeedError, match="larger"):
        aws.parse(fixture("aws", "events.json"), max_bytes=100)


# --- Google Cloud ------------------------------------------------------------------------


def test_gcp_closed_incidents_only_is_healthy() -> None:
    report = gcp.parse(fixture("gcp", "closed_only.json"))
    assert report.indicator is Indicator.NONE
    assert report.incidents == ()
    assert judge(report, None)[0] is Reason.OK


def test_gcp_open_incidents() -> None:
    report = gcp.parse(fixture("gcp", "incidents.json"))
    assert len(report.incidents) == 3  # the closed one is left out
    by_id = {i.url: i for i in report.incidents}
    compute = by_id["https://status.cloud.google.com/incidents/openIncident0002"]
    assert compute.impact is Indicator.MINOR
    assert compute.name == "Compute Engine instance creation failures in us-central1"
    assert compute.latest_update == "Summary: Our engineers are mitigating the issue."
    assert compute.status == "service_disruption"
    sql = by_id["https://status.cloud.google.com/incidents/openIncident0003"]
    assert sql.impact is Indicator.CRITICAL  # a high-severity outage
    assert sql.components == ("Cloud SQL", "Cloud Run")
    info = by_id["https://status.cloud.google.com/incidents/openIncident0004"]
    assert info.impact is Indicator.NONE
    assert report.indicator is Indicator.CRITICAL
    assert report.components["Cloud SQL"] is ComponentStatus.MAJOR_OUTAGE


def test_gcp_information_only_is_ok_but_listed() -> None:
    report = gcp.parse(fixture("gcp", "information_only.json"))
    reason, _, facts = judge(report, None)
    assert reason is Reason.OK
    assert [i["name"] for i in facts["incidents"]] == ["Billing reports delayed"]


def test_gcp_location_filter() -> None:
    report = gcp.parse(fixture("gcp", "incidents.json"), regions=["us-central1"])
    # Compute Engine in us-central1 and the global billing notice; not europe-west1
    assert {i.name for i in report.incidents} == {
        "Compute Engine instance creation failures in us-central1", "Billing reports delayed"}
    assert report.indicator is Indicator.MINOR
    by_title = gcp.parse(fixture("gcp", "incidents.json"), regions=["belgium*"])
    assert any("Cloud SQL" in i.name for i in by_title.incidents)


def test_gcp_product_filter() -> None:
    report = gcp.parse(fixture("gcp", "incidents.json"), services=["cloud run"])
    [incident] = report.incidents
    assert incident.components == ("Cloud Run",)
    assert set(report.components) == {"Cloud Run"}
    by_id = gcp.parse(fixture("gcp", "incidents.json"), services=["COMPUTEKEY02"])
    assert [i.components for i in by_id.incidents] == [("Google Compute Engine",)]
    none = gcp.parse(fixture("gcp", "incidents.json"), services=["bigquery"],
                     regions=["us-central1"])
    assert none.incidents == () and none.indicator is Indicator.NONE


@pytest.mark.parametrize(("fields", "impact"), [
    ({"status_impact": "SERVICE_OUTAGE", "severity": "medium"}, Indicator.MAJOR),
    ({"status_impact": "SERVICE_DISRUPTION", "severity": "high"}, Indicator.MAJOR),
    ({"status_impact": "SERVICE_INFORMATION", "severity": "medium"}, Indicator.MINOR),
    ({"status_impact": "SERVICE_EXPLODED", "severity": "low"}, Indicator.UNKNOWN),
    ({"severity": "catastrophic"}, Indicator.UNKNOWN),
    ({}, Indicator.UNKNOWN),
])
def test_gcp_impact_mapping(fields: dict[str, str], impact: Indicator) -> None:
    assert gcp.impact_of(fields) is impact


@pytest.mark.parametrize("body", [b"", b"<html>", b'{"incidents": []}', b'["x"]'])
def test_gcp_garbled_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        gcp.parse(body)


def test_gcp_oversized_is_a_parse_error() -> None:
    with pytest.raises(FeedError):
        gcp.parse(fixture("gcp", "incidents.json"), max_bytes=1000)


# --- Azure -------------------------------------------------------------------------------


def test_azure_empty_feed_is_healthy() -> None:
    report = azure.parse(fixture("azure", "empty.xml"))
    assert report.indicator is Indicator.NONE
    assert report.incidents == ()


def test_azure_items_are_incidents() -> None:
    report = azure.parse(fixture("azure", "active.xml"))
    assert report.indicator is Indicator.MINOR
    first, second = report.incidents
    assert first.name == "Active - Virtual Machines - Connectivity issues in West Europe"
    assert first.latest_update.startswith("Impact Statement: Starting at 09:00 UTC")
    assert "<" not in first.latest_update
    assert first.url == ("https://azure.status.microsoft/en-us/status/history/"
                         "?trackingId=TEST-001")
    assert first.updated_at == "2026-01-01T10:30:00Z"
    assert second.impact is Indicator.MINOR
    reason, detail, _ = judge(report, None)
    assert reason is Reason.DEGRADED and "Virtual Machines" in detail


def test_azure_filters_match_text() -> None:
    west = azure.parse(fixture("azure", "active.xml"), regions=["west europe"])
    assert [i.name for i in west.incidents] == [
        "Active - Virtual Machines - Connectivity issues in West Europe"]
    storage = azure.parse(fixture("azure", "active.xml"), services=["azure storage"])
    assert len(storage.incidents) == 1 and "Storage" in storage.incidents[0].name
    nothing = azure.parse(fixture("azure", "active.xml"), regions=["japan east"])
    assert nothing.incidents == () and nothing.indicator is Indicator.NONE


@pytest.mark.parametrize("body", [
    b"", b"garbage", b'{"items": []}', b"<html><body>status</body></html>",
    b'<rss version="2.0"><channel><title>x</title><item><title>cut off',
])
def test_azure_garbled_is_a_parse_error(body: bytes) -> None:
    with pytest.raises(FeedError):
        azure.parse(body)


def test_azure_oversized_is_a_parse_error() -> None:
    with pytest.raises(FeedError):
        azure.parse(fixture("azure", "active.xml"), max_bytes=200)


def test_azure_body_is_never_taken_for_a_file_name(tmp_path: Path) -> None:
    secret = tmp_path / "feed.xml"
    secret.write_bytes(fixture("azure", "active.xml"))
    with pytest.raises(FeedError):
        azure.parse(str(secret).encode())
