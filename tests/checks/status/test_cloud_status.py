"""The `cloud_status` kind against local feeds on 127.0.0.1 (via `url`)."""

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
from checks.status.cloud import FEED_URLS, CloudStatusTarget, build
from monitor.observation import Fact, Observation, Reason

FIXTURES = Path(__file__).parents[2] / "fixtures" / "status"


class Served(Protocol):
    def url(self, path: str = "/") -> str: ...


ServeApp = Callable[[web.Application], Awaitable[Served]]


@dataclass
class Feed:
    """A feed that answers conditional GETs like the real ones: ETag and 304."""

    body: bytes = b"[]"
    status: int = 200
    version: int = 1
    requests: list[dict[str, str]] = field(default_factory=list)
    answers: list[int] = field(default_factory=list)

    def load(self, cloud: str, name: str) -> None:
        self.body = (FIXTURES / cloud / name).read_bytes()
        self.version += 1

    @property
    def etag(self) -> str:
        return f'"v{self.version}"'

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.status == 200 and request.headers.get("If-None-Match") == self.etag:
            response = web.Response(status=304, headers={"ETag": self.etag})
        elif self.status != 200:
            response = web.Response(status=self.status, text="unavailable")
        else:
            response = web.Response(body=self.body, headers={"ETag": self.etag},
                                    content_type="application/json")
        self.answers.append(response.status)
        return response


@pytest.fixture
async def feed(serve_app: ServeApp) -> tuple[Feed, str]:
    served = Feed()
    app = web.Application()
    app.router.add_get("/feed", served.handle)
    server = await serve_app(app)
    return served, server.url("/feed")


def make_target(url: str | None, **keys: Any) -> CloudStatusTarget:
    document: dict[str, Any] = {"name": "cloud", "kind": "cloud_status", "interval": "60s",
                                "timeout": "2s", "cloud": "aws"}
    if url is not None:
        document["url"] = url
    return CloudStatusTarget.model_validate({**document, **keys})


def checker(url: str, **keys: Any) -> Callable[[], Awaitable[Observation]]:
    check = build(make_target(url, **keys), CheckEnv(user_agent="outagemon-test/1"))
    return check.probe


async def test_healthy_feed_is_ok(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "empty.json")
    observation = await checker(url)()
    assert observation.reason is Reason.OK
    assert observation.detail == ""
    assert observation.latency is not None
    assert observation.facts[Fact.HTTP_STATUS] == 200
    assert observation.facts[Fact.INDICATOR] == "none"
    assert observation.facts[Fact.INCIDENTS] == []
    assert served.requests[0]["User-Agent"] == "outagemon-test/1"


async def test_open_regional_aws_event_degrades(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "regional_degradation.json")
    observation = await checker(url, regions=["us-east-1"])()
    assert observation.reason is Reason.DEGRADED
    assert "Increased API Error Rates" in observation.detail
    [incident] = observation.facts[Fact.INCIDENTS]
    assert incident["latest_update"] == "We have identified the cause and are working on a fix."


async def test_event_in_another_region_is_ok(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "regional_degradation.json")
    assert (await checker(url, regions=["eu-*"])()).reason is Reason.OK


async def test_unknown_aws_status_is_not_ok(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "unknown_status.json")
    observation = await checker(url)()
    assert observation.reason is Reason.DEGRADED
    assert observation.facts[Fact.INDICATOR] == "unknown"


async def test_gcp_outage_fails_the_assertion(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("gcp", "incidents.json")
    observation = await checker(url, cloud="gcp", regions=["europe-west1"],
                                services=["cloud sql"])()
    assert observation.reason is Reason.ASSERTION_FAILED
    assert observation.detail.startswith("critical outage: Cloud SQL instances unavailable")
    assert observation.facts[Fact.COMPONENTS] == {"Cloud SQL": "major_outage"}


async def test_gcp_regional_disruption_degrades(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("gcp", "regional_disruption.json")
    observation = await checker(url, cloud="gcp", regions=["us-central1"])()
    assert observation.reason is Reason.DEGRADED
    assert "Compute Engine instance creation failures" in observation.detail


async def test_azure_feed(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("azure", "empty.xml")
    probe = checker(url, cloud="azure", regions=["West Europe"])
    assert (await probe()).reason is Reason.OK
    served.load("azure", "active.xml")
    observation = await probe()
    assert observation.reason is Reason.DEGRADED
    assert "Virtual Machines" in observation.detail


async def test_not_modified_keeps_the_previous_state(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "regional_degradation.json")
    probe = checker(url)
    first = await probe()
    second = await probe()
    assert served.answers == [200, 304]
    assert served.requests[1]["If-None-Match"] == served.etag
    assert second.reason is first.reason is Reason.DEGRADED
    assert second.detail == first.detail
    assert second.facts[Fact.INCIDENTS] == first.facts[Fact.INCIDENTS]
    assert second.facts[Fact.HTTP_STATUS] == 304
    served.load("aws", "empty.json")  # a new version: a new ETag, a full answer
    assert (await probe()).reason is Reason.OK
    assert served.answers == [200, 304, 200]


async def test_invalid_feed_is_invalid_response(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.body = b"<html>maintenance page</html>"
    probe = checker(url)
    observation = await probe()
    assert observation.reason is Reason.INVALID_RESPONSE
    assert observation.detail.startswith("aws feed:")
    # The fetcher forgot the validators: the next probe gets the whole (still bad) page.
    again = await probe()
    assert "If-None-Match" not in served.requests[1]
    assert again.reason is Reason.INVALID_RESPONSE
    served.load("aws", "empty.json")
    assert (await probe()).reason is Reason.OK


async def test_oversized_feed_is_invalid_response(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.load("aws", "events.json")
    observation = await checker(url, max_body="1KiB")()
    assert observation.reason is Reason.INVALID_RESPONSE
    assert "larger than 1024" in observation.detail


async def test_http_error_is_its_reason(feed: tuple[Feed, str]) -> None:
    served, url = feed
    served.status = 503
    observation = await checker(url)()
    assert observation.reason is Reason.HTTP_5XX
    assert observation.facts[Fact.HTTP_STATUS] == 503


def test_cloud_is_taken_from_provider_when_absent() -> None:
    document = {"name": "aws-health", "kind": "cloud_status", "provider": "AWS"}
    target = CloudStatusTarget.model_validate(document)
    assert target.cloud == "aws"
    assert target.provider == "AWS"  # still the organisation label
    assert target.feed_url == FEED_URLS["aws"]
    explicit = CloudStatusTarget.model_validate({**document, "provider": "acme",
                                                 "cloud": "gcp"})
    assert explicit.cloud == "gcp" and explicit.provider_label == "acme"


@pytest.mark.parametrize("keys", [{}, {"provider": "acme"}, {"cloud": "oracle"},
                                  {"cloud": "aws", "regions": []},
                                  {"cloud": "aws", "url": "ftp://example.invalid/"},
                                  {"cloud": "aws", "colour": "red"}])
def test_invalid_definitions_are_rejected(keys: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        CloudStatusTarget.model_validate({"name": "c", "kind": "cloud_status", **keys})


def test_defaults_and_registration() -> None:
    target = CloudStatusTarget.model_validate({"name": "c", "kind": "cloud_status",
                                               "cloud": "azure"})
    assert CloudStatusTarget.default_interval == 60.0
    assert target.max_body == 8 * 1024 * 1024
    assert target.feed_url == "https://azure.status.microsoft/en-us/status/feed/"
    assert kinds()["cloud_status"].model is CloudStatusTarget
