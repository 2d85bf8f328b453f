"""Dotted paths into parsed JSON, and the small comparison language of `expect: json:`.

A path is keys joined by dots; a segment that is an integer indexes a list (`data.0.price`;
`-1` is the last element). Keys that themselves contain dots cannot be addressed.

An expected value is either
- a plain value: equality. A number also matches a numeric string (`100` matches `"100.0"`),
  booleans only match booleans, `null` only matches null; or
- a string starting with an operator `==`, `!=`, `>=`, `<=`, `>`, `<` and an operand. A
  numeric operand compares numerically, also against numeric strings; `true`, `false` and
  `null` compare as those JSON values; anything else compares as text (quote it to force
  text: `== "42"`).

Everything here is pure: no I/O, no exceptions for bad documents, only failure texts.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Mapping
from enum import Enum
from typing import Any, Final

import orjson


class _Missing(Enum):
    MISSING = "missing"


MISSING: Final = _Missing.MISSING
"""What `resolve` returns when the path does not exist."""

MAX_SHOWN = 80  # longest value quoted in a failure text
MAX_INTEGER_TEXT = 310  # digits read exactly as an int; past a float's range anyway

_COMPARISON = re.compile(r"^\s*(==|!=|>=|<=|>|<)\s*(.*?)\s*$", re.DOTALL)
_NUMBER = re.compile(r"^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$")
_INTEGER = re.compile(r"^[+-]?\d+$")
_LITERALS: Final[dict[str, Any]] = {"true": True, "false": False, "null": None}
_OPERATORS: Final[dict[str, Callable[[Any, Any], bool]]] = {
    "==": operator.eq,
    "!=": operator.ne,
    ">=": operator.ge,
    "<=": operator.le,
    ">": operator.gt,
    "<": operator.lt,
}


def resolve(document: Any, path: str) -> Any:
    """The value at `path`, or MISSING."""
    current = document
    for segment in path.split("."):
        if isinstance(current, dict):
            if segment not in current:
                return MISSING
            current = current[segment]
        elif isinstance(current, list) and _INTEGER.match(segment):
            index = int(segment)
            if not -len(current) <= index < len(current):
                return MISSING
            current = current[index]
        else:
            return MISSING
    return current


def first_failure(document: Any, expectations: Mapping[str, Any]) -> str | None:
    """The failure text of the first expectation `document` does not meet, else None."""
    for path, expected in expectations.items():
        failure = check(document, path, expected)
        if failure is not None:
            return failure
    return None


def check(document: Any, path: str, expected: Any) -> str | None:
    """None when the value at `path` meets `expected`; otherwise a short failure text."""
    actual = resolve(document, path)
    if actual is MISSING:
        return f"{path}: missing (expected {_show_expected(expected)})"
    if isinstance(expected, str) and (match := _COMPARISON.match(expected)):
        return _compare(path, actual, match.group(1), match.group(2))
    if _plain_equal(expected, actual):
        return None
    return f"{path}: expected {_show(expected)}, got {_show(actual)}"


def to_number(value: Any) -> int | float | None:
    """A JSON number or numeric string as a number; None for anything else, including a
    numeric string beyond a float's range (int() refuses more than MAX_INTEGER_TEXT digits)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and _NUMBER.match(value.strip()):
        text = value.strip()
        if _INTEGER.match(text) and len(text) <= MAX_INTEGER_TEXT:
            return int(text)
        number = float(text)
        return number if math.isfinite(number) else None
    return None


def _compare(path: str, actual: Any, op: str, operand_text: str) -> str | None:
    wanted = f"{op} {operand_text}"
    number = to_number(operand_text)
    if number is not None:
        actual_number = to_number(actual)
        if actual_number is None:
            return f"{path}: expected a number {_truncate(wanted)}, got {_show(actual)}"
        return None if _OPERATORS[op](actual_number, number) else _mismatch(path, wanted, actual)
    if operand_text in _LITERALS and op in ("==", "!="):
        equal = _plain_equal(_LITERALS[operand_text], actual)
        return None if equal == (op == "==") else _mismatch(path, wanted, actual)
    text = _unquote(operand_text)
    if not isinstance(actual, str):
        if op == "!=":
            return None
        return f"{path}: expected text {_truncate(wanted)}, got {_show(actual)}"
    return None if _OPERATORS[op](actual, text) else _mismatch(path, wanted, actual)


def _plain_equal(expected: Any, actual: Any) -> bool:
    if isinstance(expected, bool) or isinstance(actual, bool):
        return isinstance(expected, bool) and isinstance(actual, bool) and expected == actual
    if isinstance(expected, int | float):
        actual_number = to_number(actual)
        return actual_number is not None and actual_number == expected
    return bool(expected == actual)


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        return text[1:-1]
    return text


def _mismatch(path: str, wanted: str, actual: Any) -> str:
    return f"{path}: expected {_truncate(wanted)}, got {_show(actual)}"


def _show_expected(expected: Any) -> str:
    if isinstance(expected, str) and _COMPARISON.match(expected):
        return _truncate(expected.strip())
    return _show(expected)


def _show(value: Any) -> str:
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # orjson.JSONEncodeError: too deep, or an integer beyond 64 bits
        text = f"<{type(value).__name__}>"
    return _truncate(text)


def _truncate(text: str) -> str:
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."
