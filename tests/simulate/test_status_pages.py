"""Simulated status pages, read by outagemon's real statuspage and cloud_status checks on
127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from checks.base import Check, CheckEnv
from checks.status import cloud, statuspage
from monitor.commands.demo import AWS_TARGET, DEMO_CHAINS, DEMO_PAGES, demo_config
from monitor.observation import Fact, Reason
from monitor.simulate import FaultError, World
from monitor.simulate.scenarios import get_scenario
from monitor.simulate.status import FORMATS

PAGES = {f"{fmt}-sim": fmt for fmt in FORMATS}
STATUSPAGE_LIKE = [fmt for fmt in FORMATS if FORMATS[fmt].check_kind == "statuspage"]
CLOUDS = [fmt for fmt in FORMATS if FORMATS[fmt].check_kind == "cloud_status"]
# Formats that can say an incident is more than minor (Azure's feed has no severity).
WITH_SEVERITY = [fmt for fmt in FORMATS if fmt != "azure"]
# Formats that show components (Instatus' summary lists none).
WITH_COMPONENTS = [fmt for fmt in STATUSPAGE_LIKE if FORMATS[fmt].components]


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(), pages=PAGES) as started:
        yield started


def check_for(world: World, fmt: str, **extra: Any) -> Check:
    page = f"{fmt}-sim"
    spec = FORMATS[fmt]
    if spec.check_kind == "statuspage":
        target = statuspage.StatuspageTarget.model_validate({
            "name": page, "kind": "statuspage", "url": world.url(page),
            "format": spec.check_format, "interval": "1s", "timeout": "2s", **extra})
        return statuspage.build(target, CheckEnv())
    cloud_target = cloud.CloudStatusTarget.model_validate({
        "name": page, "kind": "cloud_status", "cloud": spec.check_format,
        "url": world.feed_url(page), "interval": "1s", "timeout": "2s", **extra})
    return cloud.build(cloud_target, CheckEnv())


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_calm_page_is_ok_and_unchanged_page_answers_304(world: World, fmt: str) -> None:
    check = check_for(world, fmt)
    page = world.page(f"{fmt}-sim")
    first = await check.probe()
    assert first.reason is Reason.OK, first.detail
    second = await check.probe()
    assert second.reason is Reason.OK
    assert second.facts[Fact.HTTP_STATUS] == 304
    assert (page.requests, page.not_modified) == (2, 1)
    # A change is served whole again, and the state follows it.
    world.inject(f"{fmt}-sim", "incident", impact="minor", name="Slow deposits")
    third = await check.probe()
    assert third.facts[Fact.HTTP_STATUS] == 200
    assert third.reason is Reason.DEGRADED
    fourth = await check.probe()
    assert fourth.facts[Fact.HTTP_STATUS] == 304
    assert fourth.reason is Reason.DEGRADED  # the kept report
    assert page.not_modified == 2


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_minor_incident_is_degraded_and_resolves(world: World, fmt: str) -> None:
    check = check_for(world, fmt)
    fault_id = world.inject(f"{fmt}-sim", "incident", impact="minor", name="Slow deposits")
    observation = await check.probe()
    assert observation.reason is Reason.DEGRADED
    assert "Slow deposits" in observation.detail
    assert world.clear(fault_id)
    assert (await check.probe()).reason is Reason.OK


@pytest.mark.parametrize("fmt", WITH_SEVERITY)
async def test_major_incident_fails_with_its_name(world: World, fmt: str) -> None:
    check = check_for(world, fmt)
    world.inject(f"{fmt}-sim", "incident", impact="major", name="Withdrawals down")
    observation = await check.probe()
    assert observation.reason is Reason.ASSERTION_FAILED
    assert "Withdrawals down" in observation.detail


@pytest.mark.parametrize("fmt", STATUSPAGE_LIKE)
async def test_lagging_indicator_is_seen_through(world: World, fmt: str) -> None:
    page = f"{fmt}-sim"
    world.inject(page, "incident", impact="minor", name="Slow API", indicator_lags=True)
    assert world.page(page).view().indicator == "none"
    observation = await check_for(world, fmt).probe()
    assert observation.reason is Reason.DEGRADED
    assert "Slow API" in observation.detail


@pytest.mark.parametrize("fmt", STATUSPAGE_LIKE)
async def test_updates_and_escalation(world: World, fmt: str) -> None:
    page = f"{fmt}-sim"
    check = check_for(world, fmt)
    first = world.inject(page, "incident", impact="minor", name="Outage", update="one")
    world.inject(page, "incident", impact="minor", name="Outage", update="two")
    observation = await check.probe()
    assert observation.reason is Reason.DEGRADED
    [incident] = observation.facts[Fact.INCIDENTS]
    if fmt in ("statuspage", "incidentio"):
        assert incident["latest_update"] == "two"
    world.inject(page, "incident", impact="major", name="Outage", update="three")
    assert (await check.probe()).reason is Reason.ASSERTION_FAILED
    world.clear(first)  # still open while a fault of its name is
    assert (await check.probe()).reason is Reason.ASSERTION_FAILED
    world.clear_all()
    assert (await check.probe()).reason is Reason.OK


async def test_statuspage_groups_and_incidentio_nulls(world: World) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(world.feed_url("statuspage-sim")) as response:
            summary = await response.json()
        async with session.get(world.feed_url("incidentio-sim")) as response:
            nulls = await response.json()
        async with session.get(world.url("statuspage-sim") + "/api/v2/status.json") as response:
            status = await response.json()
    assert any(c.get("group") for c in summary["components"])
    assert nulls["incidents"] is None and nulls["scheduled_maintenances"] is None
    assert all("group" not in c for c in nulls["components"])
    assert status["status"]["indicator"] == "none"


@pytest.mark.parametrize("fmt", [f for f in STATUSPAGE_LIKE if FORMATS[f].maintenance])
async def test_active_maintenance(world: World, fmt: str) -> None:
    page = f"{fmt}-sim"
    check = check_for(world, fmt)
    announced = world.inject(page, "maintenance", active=False, name="DB upgrade")
    assert (await check.probe()).reason is Reason.OK
    world.clear(announced)
    world.inject(page, "maintenance", active=True, name="DB upgrade")
    observation = await check.probe()
    assert observation.reason is Reason.MAINTENANCE
    assert "DB upgrade" in observation.detail


@pytest.mark.parametrize("fmt", WITH_COMPONENTS)
async def test_component_filter(world: World, fmt: str) -> None:
    page = f"{fmt}-sim"
    first, *others = FORMATS[fmt].components
    world.inject(page, "incident", impact="major", name="Broken", components=[first])
    elsewhere = await check_for(world, fmt, components=others).probe()
    assert elsewhere.reason is Reason.OK, elsewhere.detail
    assert (await check_for(world, fmt, components=[first]).probe()).reason is (
        Reason.ASSERTION_FAILED)


@pytest.mark.parametrize("fmt", list(FORMATS))
async def test_garbage_is_invalid_response(world: World, fmt: str) -> None:
    world.inject(f"{fmt}-sim", "garbage")
    observation = await check_for(world, fmt).probe()
    assert observation.reason is Reason.INVALID_RESPONSE


@pytest.mark.parametrize("fault", ["http_5xx", "rate_limit"])
async def test_generic_faults(world: World, fault: str) -> None:
    world.inject("statuspage-sim", fault)
    observation = await check_for(world, "statuspage").probe()
    assert observation.reason is not Reason.OK


async def test_aws_feed_is_utf16_and_region_filtered(world: World) -> None:
    world.inject("aws-sim", "incident", impact="major", name="EC2 errors", components=["ec2"])
    async with aiohttp.ClientSession() as session, session.get(
            world.feed_url("aws-sim")) as response:
        body = await response.read()
    assert body.startswith(b"\xff\xfe")
    assert (await check_for(world, "aws", regions=["us-east-1"]).probe()).reason is (
        Reason.ASSERTION_FAILED)
    assert (await check_for(world, "aws", regions=["eu-west-1"]).probe()).reason is Reason.OK


async def test_invalid_page_faults(world: World) -> None:
    with pytest.raises(FaultError):
        world.inject("aws-sim", "maintenance")
    with pytest.raises(FaultError):
        world.inject("statuspage-sim", "incident", impact="huge")
    with pytest.raises(FaultError):
        world.inject("statuspage-sim", "incident", components=["Nope"])
    with pytest.raises(FaultError):
        world.inject("statuspage-sim", "maintenance", path="/api")
    with pytest.raises(ValueError):
        World(venues=(), pages={"x": "nope"})


async def test_control_api_and_state(world: World) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.post(f"{world.control_url}/-/sim/faults", json={
                "page": "instatus-sim", "fault": "incident",
                "params": {"impact": "critical", "name": "Down"}}) as response:
            assert response.status == 201
            assert (await response.json())["page"] == "instatus-sim"
        async with session.get(f"{world.control_url}/-/sim/state") as response:
            state = await response.json()
    page = state["pages"]["instatus-sim"]
    assert page["indicator"] == "critical"
    assert page["feed_url"] == world.feed_url("instatus-sim")
    assert set(state["pages"]) == set(PAGES)


async def test_vendor_incident_scenario_opens_and_resolves() -> None:
    async with World(venues=(), pages={"v": "statuspage", "a": "aws"},
                     time_scale=0.0005) as world:
        seen: set[tuple[str, str]] = set()
        world.play("vendor-incident")
        from tests.conftest import wait_for

        def watch() -> bool:
            view = world.page("v").view()
            seen.update((i.impact, str(i.lags)) for i in view.incidents)
            if view.active_maintenance:
                seen.add(("maintenance", ""))
            if world.page("a").view().incidents:
                seen.add(("aws", ""))
            return {("major", "True"), ("maintenance", "")} <= seen

        await wait_for(watch, interval=0.001, what="the scenario's incident and maintenance")
    assert ("minor", "True") in seen and ("aws", "") in seen
    assert get_scenario("vendor-incident").description


async def test_demo_config_has_page_targets() -> None:
    async with World(venues=("binance-sim",), chains=dict(list(DEMO_CHAINS.items())[:1]),
                     pages=DEMO_PAGES) as world:
        config = demo_config(world)
    targets = {target.name: target for target in config.targets}
    aws = targets[AWS_TARGET]
    assert isinstance(aws, cloud.CloudStatusTarget) and aws.url is not None
    assert aws.regions == ["us-east-1"]
    statuspages = [t for t in config.targets if isinstance(t, statuspage.StatuspageTarget)]
    assert {t.format for t in statuspages} == {"statuspage", "instatus", "betterstack"}
    assert targets["binance-sim"].depends_on == [AWS_TARGET]
    assert any(t.kind.endswith("_rpc") and t.depends_on == [AWS_TARGET]
               for t in config.targets)
