"""Table-driven tests of the dotted-path evaluator behind `expect: json:`."""

from __future__ import annotations

from typing import Any

import pytest

from checks.jsonpath import MISSING, check, first_failure, resolve, to_number

DOC: dict[str, Any] = {
    "status": "ok",
    "code": 0,
    "healthy": True,
    "note": None,
    "height": 19_000_123,
    "data": [
        {"price": "42.50", "symbol": "BTC-USD", "size": 3},
        {"price": 41.25, "symbol": "ETH-USD", "size": "7"},
    ],
    "nested": {"a": {"b": {"c": "deep"}}},
    "0": "key that looks like an index",
    "tags": [],
}


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("status", "ok"),
        ("data.0.price", "42.50"),
        ("data.1.symbol", "ETH-USD"),
        ("data.-1.size", "7"),
        ("nested.a.b.c", "deep"),
        ("0", "key that looks like an index"),
        ("note", None),
        ("tags", []),
    ],
)
def test_resolve_finds(path: str, value: Any) -> None:
    assert resolve(DOC, path) == value


@pytest.mark.parametrize(
    "path",
    [
        "nope",
        "data.2.price",  # index out of range
        "data.-3.price",
        "data.x.price",  # non-integer segment into a list
        "status.length",  # into a string
        "code.0",  # into a number
        "note.x",  # into null
        "nested.a.b.c.d",
        "",
        "data..price",
    ],
)
def test_resolve_missing(path: str) -> None:
    assert resolve(DOC, path) is MISSING


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        # plain values: equality
        ("status", "ok"),
        ("code", 0),
        ("code", 0.0),
        ("healthy", True),
        ("note", None),
        ("tags", []),
        ("data.0.price", 42.5),  # a number matches a numeric string
        ("data.1.size", 7),
        # operators with numbers, also against numeric strings
        ("height", ">= 19000000"),
        ("height", "> 19000122"),
        ("height", "< 19000124"),
        ("height", "<= 19000123"),
        ("height", "== 19000123"),
        ("height", "!= 1"),
        ("data.0.price", "> 42"),
        ("data.0.price", "==42.5"),
        ("data.1.size", ">= 7"),
        ("data.1.price", "< 1e3"),
        ("code", "== -0"),
        # operators with text
        ("status", "== ok"),
        ("status", "!= down"),
        ("data.0.symbol", '== "BTC-USD"'),
        ("data.0.symbol", "< CCC"),
        ("code", "!= ok"),  # not text, so certainly not equal to it
        # JSON literals
        ("healthy", "== true"),
        ("healthy", "!= false"),
        ("note", "== null"),
        ("status", "!= null"),
    ],
)
def test_check_passes(path: str, expected: Any) -> None:
    assert check(DOC, path, expected) is None


@pytest.mark.parametrize(
    ("path", "expected", "fragment"),
    [
        ("status", "degraded", 'status: expected "degraded", got "ok"'),
        ("code", 1, "code: expected 1, got 0"),
        ("code", False, "code: expected false, got 0"),  # booleans are not numbers
        ("healthy", 1, "healthy: expected 1, got true"),
        ("note", 0, "note: expected 0, got null"),
        ("data.0.symbol", 42, 'got "BTC-USD"'),
        ("status", 0, 'got "ok"'),
        ("data.1.size", "7.0", 'expected "7.0", got "7"'),  # plain strings compare as text
        ("height", "< 100", "height: expected < 100, got 19000123"),
        ("data.0.price", ">= 43", 'data.0.price: expected >= 43, got "42.50"'),
        ("status", "> 5", 'status: expected a number > 5, got "ok"'),
        ("healthy", ">= 1", "expected a number >= 1, got true"),
        ("status", "== down", 'status: expected == down, got "ok"'),
        ("status", "!= ok", "expected != ok"),
        ("code", "== ok", "code: expected text == ok, got 0"),
        ("data.0.symbol", '== "42"', 'got "BTC-USD"'),
        ("healthy", "== false", "expected == false, got true"),
        ("missing.path", "ok", 'missing.path: missing (expected "ok")'),
        ("missing.path", ">= 3", "missing.path: missing (expected >= 3)"),
    ],
)
def test_check_fails_with_a_naming_detail(path: str, expected: Any, fragment: str) -> None:
    failure = check(DOC, path, expected)
    assert failure is not None
    assert fragment in failure


def test_long_values_are_truncated() -> None:
    doc = {"blob": "x" * 10_000}
    failure = check(doc, "blob", "y")
    assert failure is not None
    assert len(failure) < 200
    assert failure.endswith('..."') or failure.endswith("...")


def test_unprintable_values_do_not_crash() -> None:
    deep: Any = []
    for _ in range(600):  # deeper than orjson serialises
        deep = [deep]
    failure = check({"v": deep, "big": 2**70}, "v", 1)
    assert failure is not None and failure.startswith("v: expected 1, got <list>")
    assert check({"big": 2**70}, "big", "> 1") is None


def test_first_failure_reports_the_first_in_order() -> None:
    assert first_failure(DOC, {"status": "ok", "code": "== 0"}) is None
    failure = first_failure(DOC, {"status": "ok", "code": 5, "height": "< 0"})
    assert failure is not None and failure.startswith("code:")


@pytest.mark.parametrize(
    ("value", "number"),
    [
        (3, 3),
        (2.5, 2.5),
        ("42", 42),
        (" 42.50 ", 42.5),
        ("-1e3", -1000.0),
        (".5", 0.5),
        ("+7", 7),
        (True, None),
        ("nan", None),
        ("inf", None),
        (float("nan"), None),
        ("0x10", None),
        ("1_000", None),
        ("", None),
        (None, None),
        ([1], None),
        ("9" * 300, 10**300 - 1),  # exact while it is within a float's range
        ("9" * 100_000, None),  # past int()'s digit limit and a float's range
        ("-" + "9" * 5000, None),
        ("1e999", None),
    ],
)
def test_to_number(value: Any, number: float | None) -> None:
    assert to_number(value) == number


def test_a_huge_numeric_string_fails_the_comparison_instead_of_raising() -> None:
    failure = check({"height": "9" * 100_000}, "height", "> 0")
    assert failure is not None and failure.startswith('height: expected a number > 0, got "99')
    assert len(failure) < 200
