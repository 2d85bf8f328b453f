"""Reading what venues send: bounded text, numbers, times, headers and JSON frames.

Every reader takes untrusted input and raises ValueError or TypeError when it has the wrong
shape; an adapter turns that into `invalid_response` (REST) or a malformed-frame event (stream).
"""

from __future__ import annotations

import functools
import re
import reprlib
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from math import isfinite
from typing import Any, TypeGuard

import orjson

MAX_DETAIL = 160  # characters of venue text kept in a detail
MAX_NUMBER_TEXT = 64  # characters of a decimal string read as a price
MAX_DIGITS = 20  # digits of an integer sent as text (2**64 has 20)
MAX_FRACTION_DIGITS = 12  # digits of an RFC 3339 seconds fraction
MAX_SHOWN_LEVELS = 6  # nesting shown of a list or object quoted in a detail

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_SECOND = timedelta(seconds=1)
_MINUTE = timedelta(minutes=1)
_FRACTION = re.compile(r"[.,](\d+)")


class FrameError(ValueError):
    """A frame that is not one JSON document."""


def short(text: object, limit: int = MAX_DETAIL) -> str:
    """Untrusted venue text as one line of at most `limit` characters. A list or object is
    shown only MAX_SHOWN_LEVELS deep: str() of one nested near orjson's limit (1024 levels)
    would exceed Python's recursion limit."""
    shown = text if isinstance(text, str) else _shown_repr(limit).repr(text)
    return " ".join(shown.split())[:limit]


def shown(value: object, limit: int = MAX_DETAIL) -> str:
    """repr() of untrusted venue data, at most `limit` characters and MAX_SHOWN_LEVELS deep."""
    return _shown_repr(limit).repr(value)[:limit]


@functools.cache
def _shown_repr(limit: int) -> reprlib.Repr:
    shown = reprlib.Repr()
    shown.maxlevel = MAX_SHOWN_LEVELS
    shown.maxstring = shown.maxother = limit
    shown.maxdict = shown.maxlist = limit // 2
    return shown


def is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (bool is an int subclass in Python, but not a number a venue sends)."""
    return isinstance(value, int) and not isinstance(value, bool)


def integer(value: object, *, numbers: bool = True, max_digits: int = MAX_DIGITS) -> int:
    """An integer sent as a JSON number (unless `numbers` is off) or as a string of ASCII digits
    (at most `max_digits`, no sign). Bools, floats and anything else raise ValueError."""
    if numbers and is_int(value):
        return value
    if isinstance(value, str) and len(value) <= max_digits and value.isascii() and value.isdigit():
        return int(value)
    raise ValueError(f"not an integer: {short(value, 40)!r}")


def price(value: object, *, strings: bool = True, numbers: bool = True,
          max_text: int | None = MAX_NUMBER_TEXT) -> float:
    """A finite positive price sent as a decimal string and/or a JSON number, as the venue
    documents. `max_text` bounds the string (None: unbounded)."""
    if strings and isinstance(value, str):
        if max_text is not None and len(value) > max_text:
            raise ValueError("price text too long")
        number = float(value)
    elif numbers and isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    else:
        raise TypeError(f"price must be {_price_kinds(strings, numbers)}, "
                        f"not {type(value).__name__}")
    if not isfinite(number) or number <= 0:
        raise ValueError(f"price is not positive and finite: {short(value)!r}")
    return number


def _price_kinds(strings: bool, numbers: bool) -> str:
    if strings and numbers:
        return "a number or a decimal string"
    return "a decimal string" if strings else "a number"


def newest_trade(trades: object, time_key: str) -> tuple[dict[str, Any] | None, int]:
    """The newest trade of a message's trade list (by the integer time under `time_key`; the
    later one wins a tie) and its time; (None, -1) for an empty list."""
    if not isinstance(trades, list):
        raise TypeError("data is not an array")
    newest: dict[str, Any] | None = None
    newest_time = -1
    for trade in trades:
        if not isinstance(trade, dict):
            raise TypeError("trade is not an object")
        trade_time = integer(trade[time_key])
        if trade_time >= newest_time:
            newest, newest_time = trade, trade_time
    return newest, newest_time


def millis_to_seconds(millis: int) -> float:
    """Unix seconds from epoch milliseconds (true division: correctly rounded)."""
    return millis / 1000


def nanos_to_seconds(nanos: int) -> float:
    """Unix seconds from epoch nanoseconds (true division: correctly rounded)."""
    return nanos / 1_000_000_000


def rfc3339_to_seconds(value: object) -> float:
    """Unix seconds of an RFC 3339 timestamp with an explicit offset, exactly rounded from all
    the fraction digits given (up to 12). A naive or date-only value raises ValueError."""
    if not isinstance(value, str):
        raise TypeError(f"timestamp must be a string, not {type(value).__name__}")
    text = value.upper()  # RFC 3339 allows a lower-case t and z; fromisoformat does not
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:  # its message quotes the whole (untrusted) text
        raise ValueError(f"not an RFC 3339 timestamp: {short(value, 40)!r}") from exc
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"timestamp has no UTC offset: {short(value, 40)!r}")
    if offset % _MINUTE:
        raise ValueError(f"UTC offset is not whole minutes: {short(value, 40)!r}")
    whole = (moment.replace(microsecond=0) - _EPOCH) // _SECOND
    return float(Decimal(whole) + _fraction(text, moment.microsecond))


def _fraction(text: str, microsecond: int) -> Decimal:
    # fromisoformat keeps microseconds only, and venues send nanoseconds: the digits it dropped
    # are read back from the text, checked against the microseconds it did read.
    match = _FRACTION.search(text)
    digits = match.group(1) if match is not None else ""
    if len(digits) > MAX_FRACTION_DIGITS:
        raise ValueError(f"seconds fraction longer than {MAX_FRACTION_DIGITS} digits")
    if int(digits[:6].ljust(6, "0")) != microsecond:
        raise ValueError(f"not an RFC 3339 timestamp: {short(text, 40)!r}")
    return Decimal(f"0.{digits}") if digits else Decimal(0)


def header(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` whatever the case of its key, None if absent."""
    value = headers.get(name)  # a case-insensitive mapping (aiohttp's CIMultiDict) answers here
    if value is not None:
        return value
    wanted = name.lower()
    return next((found for key, found in headers.items() if key.lower() == wanted), None)


def header_integer(headers: Mapping[str, str], name: str, *,
                   max_digits: int = MAX_DIGITS) -> int | None:
    """Header `name` as a non-negative integer (surrounding blanks allowed); None if it is
    absent or not one."""
    value = header(headers, name)
    if value is None:
        return None
    try:
        return integer(value.strip(), numbers=False, max_digits=max_digits)
    except ValueError:
        return None


def json_frame(frame: str | bytes) -> Any:
    """The JSON document in a WebSocket frame. Bytes that are not UTF-8, text that is not JSON
    and nesting deeper than orjson allows (1024 levels) raise FrameError."""
    try:
        return orjson.loads(frame)
    except (orjson.JSONDecodeError, TypeError, RecursionError) as exc:
        raise FrameError("frame is not JSON") from exc
