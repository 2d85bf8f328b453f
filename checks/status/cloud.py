"""`cloud_status`: the public health feed of a cloud (AWS, Google Cloud, Azure), filtered by
region and service, judged like a status page.

Config: `cloud: aws|gcp|azure`. When `cloud` is absent and `provider` (the organisation
label every target has) is one of aws, gcp or azure, the cloud is taken from it, so the
short form `provider: aws` works; an explicit `cloud` wins and `provider` stays a label.

One conditional GET per probe (a 304 reuses the last parsed report); the report is filtered
by `regions` and `services` (case-insensitive names or globs) in the parser, then judged
with no component filter. See the parser modules under checks/status/clouds/ for what each
feed says and how filters apply to it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from pydantic import Field, model_validator

from checks.base import CheckEnv, ProbeOnly, register
from checks.status.clouds import aws, azure, gcp
from checks.status.clouds.common import FeedError
from checks.status.fetch import ConditionalFetcher, FetchFailed
from checks.status.report import StatusReport, judge
from monitor.observation import Fact, Observation, Reason
from monitor.redact import scrub
from monitor.schema import ByteSize, HttpURL, TargetBase

Cloud = Literal["aws", "gcp", "azure"]
CLOUDS: tuple[Cloud, ...] = ("aws", "gcp", "azure")
FEED_URLS: dict[Cloud, str] = {
    "aws": "https://health.aws.amazon.com/public/currentevents",
    "gcp": "https://status.cloud.google.com/incidents.json",
    "azure": "https://azure.status.microsoft/en-us/status/feed/",
}
Parser = Callable[..., StatusReport]
PARSERS: dict[Cloud, Parser] = {"aws": aws.parse, "gcp": gcp.parse, "azure": azure.parse}
DEFAULT_MAX_BODY = 8 * 1024 * 1024
_MAX_DETAIL = 500


class CloudStatusTarget(TargetBase):
    default_interval = 60.0

    kind: Literal["cloud_status"]
    cloud: Cloud
    regions: list[str] | None = Field(default=None, min_length=1)
    services: list[str] | None = Field(default=None, min_length=1)
    url: HttpURL | None = None  # instead of the cloud's public feed
    max_body: ByteSize = DEFAULT_MAX_BODY

    @model_validator(mode="before")
    @classmethod
    def _cloud_from_provider(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("cloud") is None:
            provider = data.get("provider")
            if isinstance(provider, str) and provider.lower() in CLOUDS:
                return {**data, "cloud": provider.lower()}
        return data

    @property
    def feed_url(self) -> str:
        return self.url.reveal() if self.url is not None else FEED_URLS[self.cloud]


class CloudStatusCheck(ProbeOnly):
    def __init__(self, target: CloudStatusTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self._parse = PARSERS[target.cloud]
        self._fetcher = ConditionalFetcher(target.feed_url, max_body=target.max_body,
                                           user_agent=env.user_agent)
        self._last: StatusReport | None = None

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        try:
            fetched = await self._fetcher.fetch(self.target.timeout_s)
        except FetchFailed as failed:
            return self._observation(started_at, failed.reason, failed.detail,
                                     dict(failed.facts), failed.latency)
        facts: dict[str, Any] = {Fact.HTTP_STATUS: fetched.status}
        report = self._report(fetched.body)
        if isinstance(report, str):
            self._fetcher.forget()  # the next probe fetches the whole feed again
            return self._observation(started_at, Reason.INVALID_RESPONSE, report, facts,
                                     fetched.latency)
        self._last = report
        reason, detail, judged = judge(report, None)
        return self._observation(started_at, reason, detail, {**facts, **judged},
                                 fetched.latency)

    def _report(self, body: bytes | None) -> StatusReport | str:
        """The filtered report, or why there is none."""
        if body is None:
            return self._last or "304 Not Modified without a previous feed"
        target = self.target
        try:
            return self._parse(body, regions=_or_none(target.regions),
                               services=_or_none(target.services),
                               max_bytes=target.max_body)
        except FeedError as exc:
            return f"{target.cloud} feed: {exc}"

    def _observation(self, started_at: float, reason: Reason, detail: str,
                     facts: dict[str, Any], latency: float | None) -> Observation:
        return Observation(target=self.target.name, started_at=started_at, reason=reason,
                           latency=latency, detail=scrub(detail)[:_MAX_DETAIL], facts=facts)


def _or_none(values: Sequence[str] | None) -> Sequence[str] | None:
    return values or None


def build(target: TargetBase, env: CheckEnv) -> CloudStatusCheck:
    if not isinstance(target, CloudStatusTarget):
        raise TypeError(f"cloud_status check built for a {type(target).__name__}")
    return CloudStatusCheck(target, env)


register("cloud_status", CloudStatusTarget, build)
