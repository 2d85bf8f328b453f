"""The `statuspage` kind against a fake status page on 127.0.0.1 serving the fixtures.

The fake honours If-None-Match with a 304, so the conditional fetching is exercised for real.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
from aiohttp import web
from pydantic import ValidationError

from checks.base import CheckEnv
from checks.registry import kinds
from checks.status.statuspage import (
    DEFAULT_STATUS_MAX_BODY,
    StatuspageCheck,
    StatuspageTarget,
    build,
    detect_format,
    resolve,
)
from monitor.clock import FakeClock
from monitor.observation import Fact, Observation, Reason

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "status"
USER_AGENT = "outagemon-test/1"
NOW = 1741057200.0  # 2025-03-04T03:00Z: inside the fixtures' maintenance windows


class Served(Protocol):
    port: int

    def url(self, path: str = "/") -> str: ...


ServeApp = Callable[[web.Application], Awaitable[Served]]


@dataclass
class FakePage:
    """One status page: what it serves now and what it was asked."""

    body: bytes = b""
    status: int = 200
    etag: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # path, If-None-Match
    not_modified: int = 0

    def serve(self, fmt: str, name: str, etag: str | None = None) -> None:
        self.body = (FIXTURES / fmt / f"{name}.json").read_bytes()
        self.status = 200
        self.etag = etag

    async def handle(self, request: web.Request) -> web.StreamResponse:
        validator = request.headers.get("If-None-Match")
        self.requests.append((request.path, validator))
        if self.status == 200 and self.etag is not None and validator == self.etag:
            self.not_modified += 1
            return web.Response(status=304, headers={"ETag": self.etag})
        headers = dict(self.headers)
        if self.etag is not None:
            headers["ETag"] = self.etag
        return web.Response(status=self.status, body=self.body, headers=headers,
                            content_type="application/json")


@pytest.fixture
async def page(serve_app: ServeApp) -> tuple[FakePage, Served]:
    fake = FakePage()
    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", fake.handle)
    return fake, await serve_app(app)


def make_target(url: str, **keys: Any) -> StatuspageTarget:
    document = {"name": "venue-status", "kind": "statuspage", "url": url, "interval": "60s",
                "timeout": "2s"}
    return StatuspageTarget.model_validate({**document, **keys})


def make_check(url: str, **keys: Any) -> StatuspageCheck:
    return build(make_target(url, **keys), CheckEnv(clock=FakeClock(start=0.0, wall_offset=NOW),
                                                     user_agent=USER_AGENT))


async def probe_once(served: Served, path: str = "/", **keys: Any) -> Observation:
    return await make_check(served.url(path), **keys).probe()


async def test_none_indicator_with_open_minor_incident_is_degraded(
        page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "none_with_incident")
    observation = await probe_once(served)
    assert observation.reason is Reason.DEGRADED
    assert "Delayed BTC withdrawals" in observation.detail
    assert observation.facts[Fact.INDICATOR] == "minor"
    assert observation.facts[Fact.HTTP_STATUS] == 200
    [incident] = observation.facts[Fact.INCIDENTS]
    assert incident["latest_update"] == "Withdrawals are queued; funds are safe."
    assert observation.latency is not None and observation.latency >= 0
    assert fake.requests[0][0] == "/api/v2/summary.json"  # bare page URL -> summary


async def test_active_maintenance_lists_the_upcoming_one(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "maintenance")
    observation = await probe_once(served)
    assert observation.reason is Reason.MAINTENANCE
    assert observation.detail == "maintenance: Futures engine upgrade"
    windows = {m["name"]: m for m in observation.facts[Fact.MAINTENANCES]}
    assert windows["Futures engine upgrade"]["active"] is True
    assert windows["Database failover drill"]["active"] is False
    assert windows["Database failover drill"]["starts_at"] == "2025-03-11T02:00:00.000Z"
    assert "Old window" not in windows


async def test_major_outage_is_an_assertion_failure_naming_the_incident(
        page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "major_outage")
    observation = await probe_once(served)
    assert observation.reason is Reason.ASSERTION_FAILED
    assert "Spot order placement failing" in observation.detail
    assert observation.facts[Fact.COMPONENTS]["Spot Trading"] == "partial_outage"
    assert "Trading" not in observation.facts[Fact.COMPONENTS]  # a group


async def test_component_filter_applies(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "major_outage")
    observation = await probe_once(served, components=["futures*"])
    assert observation.reason is Reason.OK
    assert observation.facts[Fact.COMPONENTS] == {"Futures Trading": "operational"}


async def test_not_modified_keeps_the_previous_state(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "major_outage", etag='"v1"')
    check = make_check(served.url("/"))
    first = await check.probe()
    assert first.reason is Reason.ASSERTION_FAILED
    fake.body = b"this would not parse: the server must not send it"
    second = await check.probe()
    assert fake.requests[-1][1] == '"v1"'
    assert fake.not_modified == 1
    assert second.reason is Reason.ASSERTION_FAILED
    assert second.detail == first.detail
    assert second.facts[Fact.HTTP_STATUS] == 304
    assert second.facts[Fact.INCIDENTS] == first.facts[Fact.INCIDENTS]
    # A changed page (new ETag) is fetched whole and judged afresh.
    fake.serve("statuspage", "operational", etag='"v2"')
    third = await check.probe()
    assert third.reason is Reason.OK
    assert fake.not_modified == 1


async def test_unrequested_304_without_an_earlier_page(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.status = 304
    observation = await probe_once(served)
    assert observation.reason is Reason.INVALID_RESPONSE


async def test_oversized_page_is_invalid(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.serve("statuspage", "operational")
    observation = await probe_once(served, max_body="1KiB")
    assert observation.reason is Reason.INVALID_RESPONSE
    assert "larger than 1024 bytes" in observation.detail


@pytest.mark.parametrize("body", [
    b"<html><body>We'll be right back</body></html>",
    b'{"status": {"indicator": "none"',
    b'{"status": {"indicator": "\xff"}}',
    b'{"page": {"name": "no status object"}}',
])
async def test_garbled_page_is_invalid(page: tuple[FakePage, Served], body: bytes) -> None:
    fake, served = page
    fake.body = body
    observation = await probe_once(served)
    assert observation.reason is Reason.INVALID_RESPONSE
    assert observation.detail.startswith("not a statuspage status page")


async def test_garbled_page_drops_the_validators(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.body, fake.etag = b"garbage", '"bad"'
    check = make_check(served.url("/"))
    assert (await check.probe()).reason is Reason.INVALID_RESPONSE
    fake.serve("statuspage", "operational", etag='"bad"')
    assert (await check.probe()).reason is Reason.OK
    assert fake.requests[-1][1] is None  # asked unconditionally, got the whole page
    assert fake.not_modified == 0


async def test_rate_limited(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.status, fake.headers = 429, {"Retry-After": "120"}
    observation = await probe_once(served)
    assert observation.reason is Reason.RATE_LIMITED
    assert observation.facts[Fact.HTTP_STATUS] == 429
    assert observation.facts[Fact.RETRY_AFTER] == 120.0


async def test_server_error(page: tuple[FakePage, Served]) -> None:
    fake, served = page
    fake.status = 503
    assert (await probe_once(served)).reason is Reason.HTTP_5XX


@pytest.mark.parametrize(("fmt", "name", "path", "reason"), [
    ("instatus", "has_issues", "/summary.json", Reason.ASSERTION_FAILED),
    ("instatus", "maintenance", "/summary.json", Reason.MAINTENANCE),
    ("betterstack", "degraded", "/index.json", Reason.DEGRADED),
    ("betterstack", "maintenance", "/index.json", Reason.MAINTENANCE),
    ("incidentio", "nulls", "/api/v2/summary.json", Reason.OK),
])
async def test_other_formats_end_to_end(page: tuple[FakePage, Served], fmt: str, name: str,
                                        path: str, reason: Reason) -> None:
    fake, served = page
    fake.serve(fmt, name)
    keys = {} if fmt == "incidentio" else {"format": fmt}
    observation = await probe_once(served, **keys)
    assert observation.reason is reason
    assert fake.requests[0][0] == path


async def test_user_agent_and_accept_headers(serve_app: ServeApp) -> None:
    seen: dict[str, str] = {}

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.update(request.headers)
        return web.json_response({"status": {"indicator": "none"}})

    app = web.Application()
    app.router.add_get("/api/v2/status.json", handler)
    served = await serve_app(app)
    observation = await probe_once(served, "/api/v2/status.json")
    assert observation.reason is Reason.OK
    assert seen["User-Agent"] == USER_AGENT
    assert seen["Accept"] == "application/json"


@pytest.mark.parametrize(("url", "fmt", "fetched"), [
    ("https://status.coinbase.com", "statuspage", "https://status.coinbase.com/api/v2/summary.json"),
    ("https://status.example.com/", "statuspage", "https://status.example.com/api/v2/summary.json"),
    ("https://status.example.com/api/v2/summary.json", "statuspage",
     "https://status.example.com/api/v2/summary.json"),
    ("https://status.example.com/api/v2/status.json", "statuspage",
     "https://status.example.com/api/v2/status.json"),
    ("https://status.openai.com", "statuspage", "https://status.openai.com/api/v2/summary.json"),
    ("https://example.instatus.com", "instatus", "https://example.instatus.com/summary.json"),
    ("https://status.example.com/summary.json", "instatus",
     "https://status.example.com/summary.json"),
    ("https://example.betteruptime.com/", "betterstack",
     "https://example.betteruptime.com/index.json"),
    ("https://betteruptime.com/status/example", "betterstack",
     "https://betteruptime.com/status/example/index.json"),
    ("https://example.betterstack.com", "betterstack", "https://example.betterstack.com/index.json"),
    ("https://status.example.com/index.json", "betterstack",
     "https://status.example.com/index.json"),
    ("https://status.example.com/?lang=en", "statuspage",
     "https://status.example.com/api/v2/summary.json?lang=en"),
])
def test_format_detection(url: str, fmt: str, fetched: str) -> None:
    assert detect_format(url) == fmt
    assert resolve(url) == (fmt, fetched)


@pytest.mark.parametrize(("url", "choice", "fetched"), [
    ("https://status.example.com", "instatus", "https://status.example.com/summary.json"),
    ("https://status.example.com", "betterstack", "https://status.example.com/index.json"),
    ("https://example.instatus.com", "statuspage",
     "https://example.instatus.com/api/v2/summary.json"),
    ("https://status.example.com/custom/feed.json", "betterstack",
     "https://status.example.com/custom/feed.json"),
])
def test_explicit_format_overrides_detection(url: str, choice: str, fetched: str) -> None:
    assert resolve(url, choice) == (choice, fetched)


def test_target_defaults_and_validation() -> None:
    target = make_target("https://status.example.com")
    assert target.format == "auto"
    assert target.components is None
    assert target.max_body == DEFAULT_STATUS_MAX_BODY == 4 * 1024 * 1024
    assert StatuspageTarget.default_interval == 60.0
    assert make_target("https://x.test", max_body="512KiB").max_body == 512 * 1024
    with pytest.raises(ValidationError):
        make_target("ftp://status.example.com")
    bads: list[dict[str, Any]] = [{"format": "rss"}, {"components": []}, {"surprise": 1}]
    for bad in bads:
        with pytest.raises(ValidationError):
            make_target("https://status.example.com", **bad)


def test_registered() -> None:
    spec = kinds()["statuspage"]
    assert spec.model is StatuspageTarget
    assert isinstance(spec.build(make_target("https://status.example.com"), CheckEnv()),
                      StatuspageCheck)


def test_config_loader_gives_the_kind_its_default_interval() -> None:
    from monitor.config import load_config_text

    config = load_config_text(
        "targets:\n"
        "  - name: venue-status\n"
        "    kind: statuspage\n"
        "    url: https://status.example.com\n"
        "    components: [\"Spot*\"]\n"
    )
    [target] = config.targets
    assert isinstance(target, StatuspageTarget)
    assert target.interval == 60.0
