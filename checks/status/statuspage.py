"""`statuspage`: a vendor's own status page (Atlassian Statuspage, incident.io, Instatus,
Better Stack), fetched politely and judged by checks.status.report.judge.

Which JSON is fetched, with `format: auto` (the URL decides; the first rule that matches):
  1. the path ends in /api/v2/summary.json or /api/v2/status.json  -> statuspage, as given
  2. the host is betteruptime.com, *.betteruptime.com or *.betterstack.com, or the path
     ends in /index.json                                             -> betterstack
  3. the host is *.instatus.com, or the path ends in /summary.json   -> instatus
  4. anything else (a bare page such as https://status.coinbase.com) -> statuspage
An explicit `format` skips the guess. A URL that does not already end in .json gets the
format's endpoint appended to its path: /api/v2/summary.json (statuspage, also incident.io),
/summary.json (instatus), /index.json (betterstack). The query string is kept.

One ConditionalFetcher lives as long as the check, so ETag / Last-Modified validators carry
over between probes; a 304 reuses the last parsed report. A page that does not parse is
INVALID_RESPONSE and drops the validators, so the next probe fetches the whole page again.
"""

from __future__ import annotations

from typing import ClassVar, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field

from checks.base import CheckEnv, ProbeOnly, register
from checks.status.fetch import ConditionalFetcher, FetchFailed
from checks.status.formats import Parser, betterstack, instatus, statuspage_v2
from checks.status.report import StatusReport, judge
from monitor.observation import Fact, Observation, Reason
from monitor.redact import scrub
from monitor.schema import ByteSize, HttpURL, TargetBase

Format = Literal["statuspage", "instatus", "betterstack"]
DEFAULT_STATUS_MAX_BODY = 4 * 1024 * 1024
_MAX_DETAIL = 300
_MAX_COMPONENT_PATTERNS = 200

PARSERS: dict[Format, Parser] = {
    "statuspage": statuspage_v2.parse,
    "instatus": instatus.parse,
    "betterstack": betterstack.parse,
}
ENDPOINTS: dict[Format, str] = {
    "statuspage": "/api/v2/summary.json",
    "instatus": "/summary.json",
    "betterstack": "/index.json",
}


class StatuspageTarget(TargetBase):
    default_interval: ClassVar[float | None] = 60.0

    kind: Literal["statuspage"]
    url: HttpURL
    format: Literal["auto", "statuspage", "instatus", "betterstack"] = "auto"
    # Component names or shell globs (case-insensitive); None: the whole page.
    components: list[str] | None = Field(default=None, min_length=1,
                                         max_length=_MAX_COMPONENT_PATTERNS)
    max_body: ByteSize = DEFAULT_STATUS_MAX_BODY


def detect_format(url: str) -> Format:
    """The format of a page URL by the rules in the module docstring."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    path = parts.path.rstrip("/").lower()
    if path.endswith(("/api/v2/summary.json", "/api/v2/status.json")):
        return "statuspage"
    if (host == "betteruptime.com" or host.endswith((".betteruptime.com", ".betterstack.com"))
            or path.endswith("/index.json")):
        return "betterstack"
    if host.endswith(".instatus.com") or path.endswith("/summary.json"):
        return "instatus"
    return "statuspage"


def resolve(url: str, choice: str = "auto") -> tuple[Format, str]:
    """(format, URL to fetch) of a configured page URL and `format` key."""
    fmt: Format
    if choice == "auto":
        fmt = detect_format(url)
    elif choice in PARSERS:
        fmt = choice  # narrowed to Format by the membership test
    else:
        raise ValueError(f"unknown status page format {choice!r}")
    parts = urlsplit(url)
    if parts.path.lower().endswith(".json"):
        return fmt, url
    path = parts.path.rstrip("/") + ENDPOINTS[fmt]
    return fmt, urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


class StatuspageCheck(ProbeOnly):
    def __init__(self, target: StatuspageTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self.format, fetch_url = resolve(target.url.reveal(), target.format)
        self._parse = PARSERS[self.format]
        self._fetcher = ConditionalFetcher(
            fetch_url, max_body=target.max_body, user_agent=env.user_agent,
            headers={"Accept": "application/json"},
        )
        self._last: StatusReport | None = None

    @property
    def last_report(self) -> StatusReport | None:
        return self._last

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        try:
            fetched = await self._fetcher.fetch(self.target.timeout_s)
        except FetchFailed as failed:
            return self._observation(started_at, failed.reason, failed.detail,
                                     failed.latency, dict(failed.facts))
        facts: dict[str, object] = {Fact.HTTP_STATUS: fetched.status}
        if fetched.body is None:
            if self._last is None:  # a 304 we did not ask for
                self._fetcher.forget()
                return self._observation(started_at, Reason.INVALID_RESPONSE,
                                         "HTTP 304 but no earlier page to reuse",
                                         fetched.latency, facts)
            report = self._last
        else:
            try:
                report = self._parse(fetched.body, started_at)
            except (ValueError, RecursionError) as exc:  # FormatError, JSONDecodeError
                self._fetcher.forget()
                detail = f"not a {self.format} status page: {exc}"
                return self._observation(started_at, Reason.INVALID_RESPONSE, detail,
                                         fetched.latency, facts)
            self._last = report
        reason, detail, judged = judge(report, self.target.components)
        facts.update(judged)
        return self._observation(started_at, reason, detail, fetched.latency, facts)

    def _observation(self, started_at: float, reason: Reason, detail: str,
                     latency: float | None, facts: dict[str, object]) -> Observation:
        return Observation(target=self.target.name, started_at=started_at, reason=reason,
                           latency=latency, detail=scrub(detail)[:_MAX_DETAIL], facts=facts)


def build(target: TargetBase, env: CheckEnv) -> StatuspageCheck:
    if not isinstance(target, StatuspageTarget):
        raise TypeError(f"statuspage check built for a {type(target).__name__}")
    return StatuspageCheck(target, env)


register("statuspage", StatuspageTarget, build)
