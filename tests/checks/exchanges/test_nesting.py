"""Documents nested just below orjson's limit (1024 levels) parse, so every adapter must read
them without exceeding Python's recursion limit: quoting such a value in an error detail
once raised RecursionError from the REST readers and from classify."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from checks.exchanges.base import Market, VenueAdapter, adapters
from checks.stream import StreamEvent
from tests.checks.exchanges.harness import SHAPE_ERRORS, paths, replaced
from tests.fakes.venue import FIXTURES

LEVELS = 1000  # orjson accepts it; str() of it exceeds the default recursion limit
NESTED = "[" * LEVELS + "]" * LEVELS
_PLACEHOLDER = "@@nested@@"


def documents() -> list[tuple[str, Path]]:
    return [(path.parent.name, path) for path in sorted(FIXTURES.glob("*/*.json"))]


def nested_variants(document: Any) -> list[bytes]:
    """`document` once per field, that field replaced by NESTED (as text: orjson writes
    at most 255 levels)."""
    variants = []
    for path in paths(document):
        text = orjson.dumps(replaced(orjson.loads(orjson.dumps(document)), path, _PLACEHOLDER))
        variants.append(text.replace(orjson.dumps(_PLACEHOLDER), NESTED.encode()))
    return variants


def adapter_of(venue: str) -> VenueAdapter:
    return adapters()[venue](Market.parse("BTC-USDT"))


@pytest.mark.parametrize(("venue", "path"), documents(), ids=lambda v: getattr(v, "name", v))
def test_adapters_read_documents_nested_near_the_parser_limit(venue: str, path: Path) -> None:
    adapter = adapter_of(venue)
    variants = nested_variants(orjson.loads(path.read_bytes()))
    assert variants
    for frame in variants:
        assert isinstance(adapter.classify(frame), StreamEvent)
        body = orjson.loads(frame)
        adapter.venue_error(200, body)
        for read in (adapter.parse_time, adapter.parse_status):
            with contextlib.suppress(*SHAPE_ERRORS):  # a wrong shape is fine; anything else not
                read(body)


@pytest.mark.parametrize("venue", sorted(adapters()))
def test_a_nested_error_message_is_quoted_shallowly(venue: str) -> None:
    body = orjson.loads('{"code": ' + NESTED + ', "retCode": ' + NESTED + ', "msg": ' + NESTED
                        + ', "retMsg": "x", "error": ' + NESTED + "}")
    verdict = adapter_of(venue).venue_error(200, body)
    if verdict is not None:
        assert len(verdict[1]) <= 300
        assert "[[[[[[[[" not in verdict[1]
