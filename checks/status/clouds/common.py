"""Helpers shared by the cloud feed parsers: errors, filters, text and time."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import orjson

from checks.status.report import MAX_TEXT

MAX_FEED_BYTES = 8 * 1024 * 1024  # a parser refuses a larger body (the kind caps it too)
MAX_EVENTS = 5000  # entries read from one feed; more means the feed is not what we expect


class FeedError(ValueError):
    """The body is not the feed we expected (garbled, wrong shape, too large)."""


def check_size(body: bytes, max_bytes: int) -> None:
    if len(body) > max_bytes:
        raise FeedError(f"feed larger than {max_bytes} bytes")


def load_json_array(text: str | bytes) -> list[dict[str, Any]]:
    """A JSON array of objects, or FeedError."""
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise FeedError(f"not JSON: {exc}") from None
    if not isinstance(data, list):
        raise FeedError(f"expected a JSON array, got {type(data).__name__}")
    if len(data) > MAX_EVENTS:
        raise FeedError(f"more than {MAX_EVENTS} entries")
    if not all(isinstance(entry, dict) for entry in data):
        raise FeedError("expected an array of objects")
    return data


def lowered(patterns: Sequence[str] | None) -> list[str] | None:
    """Filter patterns ready for `matches`; None (no filter) for None or an empty list."""
    return [p.lower() for p in patterns] if patterns else None


def matches(patterns: list[str] | None, candidates: Iterable[str]) -> bool:
    """True without a filter, or when any candidate matches any pattern (case-insensitive
    names or shell globs; `patterns` come from `lowered`)."""
    if patterns is None:
        return True
    return any(fnmatch.fnmatchcase(c.lower(), p) for c in candidates if c for p in patterns)


def text(value: Any) -> str:
    """A string field, or "" for anything else (a feed's null, number, object)."""
    return value if isinstance(value, str) else ""


def cap(value: str) -> str:
    value = " ".join(value.split())
    return value if len(value) <= MAX_TEXT else value[: MAX_TEXT - 3] + "..."


def epoch_to_rfc3339(value: Any) -> str | None:
    """Unix seconds (a number or a numeric string) as RFC 3339 UTC, else None."""
    if isinstance(value, bool):
        return None
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class _TextOnly(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_data(self, data: str) -> None:
        self.parts.append(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"br", "p", "div", "li"}:
            self.parts.append(" ")


def strip_html(markup: str) -> str:
    parser = _TextOnly()
    parser.feed(markup)
    parser.close()
    return cap("".join(parser.parts))


_MARKDOWN = re.compile(r"\*\*|__|`")


def strip_markdown(value: str) -> str:
    return cap(_MARKDOWN.sub("", value))
