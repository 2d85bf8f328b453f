"""Azure status: https://azure.status.microsoft/en-us/status/feed/ (RSS 2.0), read with
feedparser.

The public status page lists only wide-ranging incidents: the feed has no `<item>` while
all is well (its `lastBuildDate` changes on every build and is ignored) and one item per
active incident (`title`, `description` in HTML, `link`, `pubDate`). It carries no
severity, no components and no structured region or service, so:

- every item is an open incident of `minor` impact (the feed gives no severity);
- region and service filters are matched as case-insensitive substrings (or globs) of the
  item's title and description text. An incident whose text does not name the region or
  service is missed, and a name contained in another ("East US" in "East US 2") matches
  both. This is the limit of what the feed says.
"""

from __future__ import annotations

import calendar
import io
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import feedparser

from checks.status.clouds.common import (
    MAX_FEED_BYTES,
    FeedError,
    cap,
    check_size,
    lowered,
    matches,
    strip_html,
    text,
)
from checks.status.report import Incident, Indicator, StatusReport, worst

ITEM_IMPACT = Indicator.MINOR
MAX_ITEMS = 500


def parse(body: bytes, *, regions: Sequence[str] | None = None,
          services: Sequence[str] | None = None,
          max_bytes: int = MAX_FEED_BYTES) -> StatusReport:
    check_size(body, max_bytes)
    # A stream, never bytes or str: feedparser would take those for a file name or a URL.
    feed = feedparser.parse(io.BytesIO(body), sanitize_html=True,
                            resolve_relative_uris=False)
    _check_feed(feed)
    entries: list[Any] = list(feed.entries)
    if len(entries) > MAX_ITEMS:
        raise FeedError(f"more than {MAX_ITEMS} items")
    region_filter, service_filter = _anywhere(lowered(regions)), _anywhere(lowered(services))
    incidents: list[Incident] = []
    for entry in entries:
        title = strip_html(text(entry.get("title")))
        description = strip_html(text(entry.get("summary")) or text(entry.get("description")))
        haystack = [f"{title} {description}"]
        if not matches(region_filter, haystack) or not matches(service_filter, haystack):
            continue
        incidents.append(Incident(
            name=title or cap(description) or "Azure incident",
            impact=ITEM_IMPACT,
            status="active",
            updated_at=_when(entry),
            latest_update=description,
            url=text(entry.get("link")) or None,
        ))
    indicator = worst([i.impact for i in incidents])
    description = "no active incidents" if not incidents else (
        f"{len(incidents)} active incident(s); Azure's feed gives no severity")
    return StatusReport(indicator=indicator, incidents=tuple(incidents),
                        description=description)


def _check_feed(feed: Any) -> None:
    version = text(feed.get("version"))
    if not version.startswith(("rss", "atom")):
        raise FeedError("not an RSS or Atom feed")
    if feed.get("bozo"):
        error = feed.get("bozo_exception")
        if not isinstance(error, feedparser.CharacterEncodingOverride):
            raise FeedError(f"malformed feed: {error}")


def _anywhere(patterns: list[str] | None) -> list[str] | None:
    """Patterns that match anywhere in a text (free text has no fields to match whole)."""
    return None if patterns is None else [f"*{p.strip('*')}*" for p in patterns]


def _when(entry: Any) -> str | None:
    # RSS has pubDate (published); Atom has updated. dict.get: feedparser's own get maps
    # updated to published with a DeprecationWarning.
    parsed = dict.get(entry, "published_parsed") or dict.get(entry, "updated_parsed")
    if parsed is None:
        return None
    try:
        moment = datetime.fromtimestamp(calendar.timegm(parsed), UTC)
    except (TypeError, ValueError, OverflowError):
        return None
    return moment.isoformat().replace("+00:00", "Z")


__all__ = ["FeedError", "parse"]
