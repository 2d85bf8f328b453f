"""Keep secrets out of everything printable.

A configured URL may carry an API key in its path, query or userinfo, and headers may carry
tokens. Such values are shown only as `scheme://host[:port]/…#hash`; every secret fragment
is also registered so that any text (log lines, error details, API output) can be scrubbed.
"""

from __future__ import annotations

import hashlib
import re
import threading
import weakref
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import GetCoreSchemaHandler
from pydantic_core import CoreSchema, core_schema

# Fragments shorter than this are too common to scrub without mangling ordinary text;
# real keys and tokens are longer.
MIN_SECRET_LENGTH = 8
MASK = "***"


def short_hash(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()[:8]


def redact_url(url: str) -> str:
    """scheme://host[:port] plus a short hash of the whole URL; path and query dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return f"<invalid url #{short_hash(url)}>"
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{port}" if port else host
    has_more = bool(parts.path.strip("/") or parts.query or parts.fragment or parts.username)
    return f"{parts.scheme}://{netloc}/{'…' if has_more else ''}#{short_hash(url)}"


def url_secret_fragments(url: str) -> list[str]:
    """The parts of a URL that may be secret: the whole URL, path, query values, userinfo."""
    fragments = [url]
    try:
        parts = urlsplit(url)
    except ValueError:
        return fragments
    fragments.append(parts.path)
    fragments.extend(segment for segment in parts.path.split("/"))
    fragments.append(parts.query)
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        fragments.extend((value, f"{key}={value}"))
    if parts.password:
        fragments.append(parts.password)
        fragments.append(unquote(parts.password))
    if parts.username:
        fragments.append(parts.username)
    return fragments


class SecretRegistry:
    """The secret strings known to the process; scrub() masks them in any text.

    `add` keeps secrets for the life of the process (the configuration's URLs, headers,
    notifier secrets), masked with one pattern compiled when that set grows. `renew` holds
    the current secrets of an owner that gets new ones all the time (a venue's token for each
    stream connection): each call replaces the owner's previous ones, which go with the owner
    itself. Added to the pattern instead, every reconnect would grow the set for good and
    compile a new pattern of every secret, which re's module cache keeps (512 of them).
    """

    def __init__(self) -> None:
        self._secrets: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._renewed: weakref.WeakKeyDictionary[object, frozenset[str]] = (
            weakref.WeakKeyDictionary())
        self._renewals = 0
        # (renewals, owners) when built: an owner collected since changes the owner count
        self._renewed_cache: tuple[tuple[int, int], tuple[str, ...]] = ((0, 0), ())
        self._lock = threading.Lock()

    def add(self, values: Iterable[str]) -> None:
        new = _secret_values(values)
        with self._lock:
            if new - self._secrets:
                self._secrets |= new
                self._pattern = None

    def add_url(self, url: str) -> None:
        self.add(url_secret_fragments(url))

    def renew(self, owner: object, values: Iterable[str]) -> None:
        """`owner`'s secrets are now `values` (its previous ones no longer are)."""
        new = _secret_values(values)
        with self._lock:
            self._renewed[owner] = new
            self._renewals += 1

    def clear(self) -> None:
        with self._lock:
            self._secrets.clear()
            self._pattern = None
            self._renewed.clear()
            self._renewals += 1

    def _renewed_longest_first(self) -> tuple[str, ...]:
        with self._lock:
            key = (self._renewals, len(self._renewed))
            built, values = self._renewed_cache
            if built != key:
                values = tuple(sorted(set().union(*self._renewed.values()), key=len,
                                      reverse=True))
                self._renewed_cache = (key, values)
            return values

    def _compiled(self) -> re.Pattern[str] | None:
        with self._lock:
            if self._pattern is None and self._secrets:
                # Longest first so a whole URL is masked before its fragments.
                ordered = sorted(self._secrets, key=len, reverse=True)
                self._pattern = re.compile("|".join(re.escape(s) for s in ordered))
            return self._pattern

    def scrub(self, text: str) -> str:
        if not text:
            return text
        pattern = self._compiled()
        if pattern is not None:
            text = pattern.sub(MASK, text)
        for secret in self._renewed_longest_first():  # few: plain replacement is enough
            if secret in text:
                text = text.replace(secret, MASK)
        return text


def _secret_values(values: Iterable[str]) -> frozenset[str]:
    return frozenset(v for v in values if isinstance(v, str) and len(v) >= MIN_SECRET_LENGTH)


SECRETS = SecretRegistry()


def scrub(text: str) -> str:
    return SECRETS.scrub(text)


class SecretURL:
    """A URL that prints redacted. `.reveal()` gives the real URL, for I/O only.

    Not a `str` subclass on purpose: libraries that call `str()` on it get the redacted form
    and fail loudly instead of silently leaking or silently requesting the wrong URL.
    """

    __slots__ = ("_redacted", "_url")

    def __init__(self, url: str) -> None:
        self._url = url
        self._redacted = redact_url(url)
        SECRETS.add_url(url)

    def reveal(self) -> str:
        return self._url

    @property
    def redacted(self) -> str:
        return self._redacted

    @property
    def scheme(self) -> str:
        return urlsplit(self._url).scheme

    def __str__(self) -> str:
        return self._redacted

    def __repr__(self) -> str:
        return f"SecretURL({self._redacted!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretURL) and other._url == self._url

    def __hash__(self) -> int:
        return hash(self._url)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls._validate,
            core_schema.union_schema(
                [core_schema.is_instance_schema(cls), core_schema.str_schema()]
            ),
            serialization=core_schema.plain_serializer_function_ser_schema(
                lambda v: v.redacted if isinstance(v, SecretURL) else str(v)
            ),
        )

    @classmethod
    def _validate(cls, value: Any) -> SecretURL:
        if isinstance(value, SecretURL):
            return value
        return cls(value)
