"""The readers the venue adapters share, one table per reader."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from multidict import CIMultiDict

from checks.exchanges.parsing import (
    MAX_DETAIL,
    FrameError,
    header,
    header_integer,
    integer,
    is_int,
    json_frame,
    millis_to_seconds,
    nanos_to_seconds,
    price,
    rfc3339_to_seconds,
    short,
)
from tests.checks.exchanges.harness import DEEP_ARRAY, FRAMES, deep_object

# -- short ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("Invalid symbol.", MAX_DETAIL, "Invalid symbol."),
        ("two\nlines\r\n\tand  tabs", MAX_DETAIL, "two lines and tabs"),
        ("  padded  ", MAX_DETAIL, "padded"),
        ("x" * 500, MAX_DETAIL, "x" * MAX_DETAIL),
        ("spam " * 100, 12, "spam spam sp"),
        (-1003, MAX_DETAIL, "-1003"),
        (None, MAX_DETAIL, "None"),
        ({"code": 1}, MAX_DETAIL, "{'code': 1}"),
        ("", MAX_DETAIL, ""),
    ],
)
def test_short(text: object, limit: int, expected: str) -> None:
    assert short(text, limit) == expected


def test_short_quotes_nesting_near_the_parser_limit_shallowly() -> None:
    nested = json_frame("[" * 1000 + "]" * 1000)  # orjson reads it; str() of it recurses
    assert short(nested) == "[[[[[[[...]]]]]]]"
    assert short({"msg": nested}, 20) == "{'msg': [[[[[[...]]]"


# -- integers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, True), (-5, True), (2**70, True), (True, False), (False, False), (1.0, False),
     ("1", False), (None, False)],
)
def test_is_int(value: object, expected: bool) -> None:
    assert is_int(value) is expected


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        (1717171717123, {}, 1717171717123),
        (-5, {}, -5),  # a JSON number keeps its sign; callers check the range
        ("1717171717123", {}, 1717171717123),
        ("0", {}, 0),
        ("0001", {}, 1),
        ("9" * 20, {}, int("9" * 20)),
        ("1773480413589", {"numbers": False}, 1773480413589),
        ("9" * 16, {"numbers": False, "max_digits": 16}, int("9" * 16)),
    ],
)
def test_integer(value: object, options: dict[str, Any], expected: int) -> None:
    assert integer(value, **options) == expected


@pytest.mark.parametrize(
    ("value", "options"),
    [
        (True, {}),
        (False, {}),
        (1.0, {}),
        (1717171717123.5, {}),
        (None, {}),
        ([1], {}),
        ("", {}),
        ("-1", {}),
        ("+1", {}),
        ("1.5", {}),
        ("1e3", {}),
        (" 1", {}),
        ("1 ", {}),
        ("123\n", {}),
        ("1_000", {}),
        ("٣٣", {}),  # Arabic-Indic digits: isdigit() but not ASCII
        ("１２", {}),  # full-width digits
        ("9" * 21, {}),
        (1773480413589, {"numbers": False}),
        ("9" * 17, {"numbers": False, "max_digits": 16}),
    ],
)
def test_integer_refuses(value: object, options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="not an integer"):
        integer(value, **options)


def test_integer_error_is_bounded() -> None:
    with pytest.raises(ValueError) as caught:
        integer("x\n" * 10_000)
    assert len(str(caught.value)) < 80 and "\n" not in str(caught.value)


# -- prices --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("91234.56", {}, 91234.56),
        ("91234.56000000", {}, 91234.56),
        ("1e-8", {}, 1e-8),
        (83565.0, {}, 83565.0),
        (7, {}, 7.0),
        ("83551.3", {"numbers": False}, 83551.3),
        (83565.0, {"strings": False}, 83565.0),
        ("1" * 64, {}, float("1" * 64)),
        ("1" * 100, {"max_text": None}, float("1" * 100)),
    ],
)
def test_price(value: object, options: dict[str, Any], expected: float) -> None:
    assert price(value, **options) == expected


@pytest.mark.parametrize(
    ("value", "options", "error"),
    [
        ("0", {}, ValueError),
        ("-1", {}, ValueError),
        (-1, {}, ValueError),
        (0.0, {}, ValueError),
        ("nan", {}, ValueError),
        ("NaN", {}, ValueError),
        ("inf", {}, ValueError),
        ("1e400", {}, ValueError),
        ("abc", {}, ValueError),
        ("", {}, ValueError),
        ("1" * 65, {}, ValueError),
        (True, {}, TypeError),
        (None, {}, TypeError),
        ([1], {}, TypeError),
        (91234.56, {"numbers": False}, TypeError),  # Binance and OKX send decimal strings
        ("83565.0", {"strings": False}, TypeError),  # Kraken v2 sends JSON numbers
    ],
)
def test_price_refuses(value: object, options: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        price(value, **options)


@pytest.mark.parametrize(
    ("options", "wording"),
    [({}, "a number or a decimal string"), ({"numbers": False}, "a decimal string"),
     ({"strings": False}, "a number")],
)
def test_price_type_error_names_what_the_venue_sends(options: dict[str, Any],
                                                     wording: str) -> None:
    with pytest.raises(TypeError, match=f"^price must be {wording}, not NoneType$"):
        price(None, **options)


# -- times ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("convert", "value", "expected"),
    [
        (millis_to_seconds, 1763700123456, 1763700123.456),
        (millis_to_seconds, 0, 0.0),
        (nanos_to_seconds, 1717171717123456789, 1717171717.123456789),
        (nanos_to_seconds, 1545913818099033203, 1545913818099033203 / 1_000_000_000),
    ],
)
def test_epoch_units(convert: Any, value: int, expected: float) -> None:
    assert convert(value) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-14T09:26:53Z", 1773480413.0),
        ("2026-03-14T09:26:53.589Z", 1773480413.589),
        ("2026-03-14T10:26:53.589+01:00", 1773480413.589),
        ("2026-03-14T04:56:53.589-04:30", 1773480413.589),
        ("2026-03-14T09:26:53.589-00:00", 1773480413.589),
        ("2026-03-14T09:27:10.714302Z", 1773480430.714302),
        # Nanoseconds (Coinbase) and more, exactly rounded: fromisoformat alone keeps 6 digits.
        ("2026-03-14T09:27:10.871245678Z", 1773480430.871245678),
        ("2026-03-14T09:27:10.123456789012Z", 1773480430.123456789012),
        ("2026-03-14t09:27:10.5z", 1773480430.5),  # RFC 3339 allows lower case
        ("2026-03-14 09:27:10Z", 1773480430.0),
        ("1970-01-01T00:00:00Z", 0.0),
    ],
)
def test_rfc3339(text: str, expected: float) -> None:
    assert rfc3339_to_seconds(text) == expected


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ("2026-03-14T09:27:10", ValueError),  # no offset: ambiguous
        ("2026-03-14T09:27:10.714302", ValueError),
        ("2026-03-14", ValueError),  # date only
        ("2026-13-14T09:27:10Z", ValueError),
        ("2026-02-30T09:27:10Z", ValueError),
        ("2026-03-14T24:00:00Z", ValueError),
        ("2026-03-14T23:59:60Z", ValueError),  # leap seconds do not fit a datetime
        ("2026-03-14T09:27:10+01:00:30", ValueError),  # RFC 3339 offsets are whole minutes
        ("2026-03-14T09:27:10.1234567890123Z", ValueError),  # past 12 fraction digits
        ("2026-03-14T09:27:10." + "1" * 5000 + "Z", ValueError),
        ("yesterday", ValueError),
        ("", ValueError),
        (1773480413, TypeError),
        (None, TypeError),
    ],
)
def test_rfc3339_refuses(value: object, error: type[Exception]) -> None:
    with pytest.raises(error):
        rfc3339_to_seconds(value)


def test_rfc3339_error_is_bounded() -> None:
    with pytest.raises(ValueError) as caught:
        rfc3339_to_seconds("2026-03-14T" + "x" * 10_000)
    assert len(str(caught.value)) < 100


# -- headers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-Bapi-Limit": "100"}, "100"),
        ({"x-bapi-limit": "100"}, "100"),  # a plain dict: found by a scan
        ({"X-BAPI-LIMIT": "100", "Other": "1"}, "100"),
        (CIMultiDict({"x-BAPI-limit": "100"}), "100"),
        ({"X-Bapi-Limit-Status": "99"}, None),
        ({}, None),
    ],
)
def test_header(headers: Mapping[str, str], expected: str | None) -> None:
    assert header(headers, "X-Bapi-Limit") == expected


@pytest.mark.parametrize(
    ("value", "options", "expected"),
    [
        ("5400", {}, 5400),
        (" 15 ", {}, 15),
        ("0", {}, 0),
        ("", {}, None),
        ("-1", {}, None),
        ("1e3", {}, None),
        ("5400.5", {}, None),
        ("٣٣", {}, None),
        ("9" * 21, {}, None),
        ("9" * 13, {"max_digits": 12}, None),
    ],
)
def test_header_integer(value: str, options: dict[str, Any], expected: int | None) -> None:
    assert header_integer({"x-mbx-used-weight-1m": value}, "X-MBX-USED-WEIGHT-1M",
                          **options) == expected


def test_header_integer_of_a_missing_header() -> None:
    assert header_integer({"X-MBX-USED-WEIGHT-1S": "5"}, "X-MBX-USED-WEIGHT-1M") is None


# -- JSON frames ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("frame", "expected"),
    [
        ('{"e": "trade"}', {"e": "trade"}),
        (b'{"e": "trade"}', {"e": "trade"}),
        ("[]", []),
        ("null", None),
        ('"pong"', "pong"),
        ("9" * 30, float("9" * 30)),  # orjson reads a big integer as a float
    ],
)
def test_json_frame(frame: str | bytes, expected: Any) -> None:
    assert json_frame(frame) == expected


def test_json_frame_reads_nesting_up_to_orjson_limit() -> None:
    document = json_frame("[" * 1024 + "]" * 1024)
    for _ in range(1023):
        document = document[0]
    assert document == []


@pytest.mark.parametrize(
    "frame",
    [
        b"\xff\xfe\xfa",  # not UTF-8
        b'{"p": "\xc3\x28"}',  # invalid UTF-8 inside a string
        "\ud800",  # a lone surrogate cannot be UTF-8 either
        "",
        b"",
        "pong",
        "{",
        '{"a": NaN}',
        "1e400",
        DEEP_ARRAY,
        deep_object("a", 50_000),
        "[" * 1025 + "]" * 1025,  # past orjson's nesting limit
    ],
)
def test_json_frame_refuses(frame: str | bytes) -> None:
    with pytest.raises(FrameError, match="frame is not JSON"):
        json_frame(frame)


def test_frame_error_is_a_value_error() -> None:
    """Adapters that catch ValueError around their whole classify keep catching it."""
    assert issubclass(FrameError, ValueError)


@settings(max_examples=200, deadline=None)
@given(frame=FRAMES)
def test_json_frame_only_raises_frame_error(frame: str | bytes) -> None:
    with contextlib.suppress(FrameError):
        json_frame(frame)
