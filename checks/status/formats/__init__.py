"""Parsers of vendor status page JSON: pure functions `parse(body, now) -> StatusReport`.

Each module reads one vendor's documented public JSON. All of them share the rules here:
the body must be UTF-8 JSON (orjson rejects anything else), a value of the wrong type is a
`FormatError`, a missing or `null` list is an empty list (incident.io's Statuspage-compatible
API returns `null` for empty lists), and an enum value we do not know maps to UNKNOWN, never
to operational. `now` (unix seconds) is only used where the page gives times but no state.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from checks.status.report import COMPONENT_INDICATOR, SEVERITY, ComponentStatus, StatusReport

Parser = Callable[[bytes, float | None], StatusReport]


class FormatError(ValueError):
    """The page is JSON but not of the shape its format documents."""


def load_object(body: bytes) -> dict[str, Any]:
    """The JSON object of `body`; ValueError (orjson's JSONDecodeError) if it is not JSON."""
    document = orjson.loads(body)
    if not isinstance(document, dict):
        raise FormatError(f"expected a JSON object, got {_kind(document)}")
    return document


def as_object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise FormatError(f"{what}: expected an object, got {_kind(value)}")
    return value


def object_list(value: Any, what: str) -> list[dict[str, Any]]:
    """A list of objects; `null` or missing is empty."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise FormatError(f"{what}: expected a list, got {_kind(value)}")
    for entry in value:
        if not isinstance(entry, dict):
            raise FormatError(f"{what}: expected a list of objects, got {_kind(entry)}")
    return value


def text(value: Any) -> str:
    """A string field; absent or null is empty, numbers are written out, anything else is
    a FormatError."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    raise FormatError(f"expected a string, got {_kind(value)}")


def optional_text(value: Any) -> str | None:
    return text(value) or None


def word(value: Any) -> str:
    """An enum value, normalised for lookup (lower case, trimmed)."""
    return text(value).strip().lower()


def add_component(components: dict[str, ComponentStatus], name: str,
                  status: ComponentStatus) -> None:
    """Two components of one name (in different groups) count as the worse of the two."""
    if not name:
        return
    known = components.get(name)
    if known is None or (SEVERITY[COMPONENT_INDICATOR[status]]
                         > SEVERITY[COMPONENT_INDICATOR[known]]):
        components[name] = status


def parse_time(value: str | None) -> datetime | None:
    """ISO 8601 / RFC 3339, or JavaScript's Date.toString() form that Instatus shows
    ('Sat Jun 11 2022 18:55:50 GMT+0000 (Coordinated Universal Time)'); None if neither."""
    if not value:
        return None
    raw = value.strip()
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        try:
            parsed = datetime.strptime(raw.split(" (", 1)[0], "%a %b %d %Y %H:%M:%S GMT%z")
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def rfc3339(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__
