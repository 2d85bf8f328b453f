"""What a venue adapter provides, and the registry of adapters.

An adapter is small and mostly data: its URLs, how it spells a market, which REST calls give
the server time and the system status and how to read them, how it reports errors and rate
limits, and how its WebSocket stream is subscribed, kept alive and read. The `exchange` kind
does the I/O; an adapter only builds requests and interprets answers, so it is tested with
recorded fixtures.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from checks.http import status_verdict
from checks.stream import Keepalive, StreamEvent
from monitor.observation import Reason

_MARKET = re.compile(r"^([A-Z0-9]{1,20})-([A-Z0-9]{1,20})$")


@dataclass(frozen=True, slots=True)
class Market:
    """A market in outagemon's one notation: BASE-QUOTE, upper case (BTC-USDT)."""

    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> Market:
        match = _MARKET.match(text.strip().upper())
        if match is None:
            raise ValueError(f"market {text!r} must look like BTC-USDT (BASE-QUOTE)")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"{self.base}-{self.quote}"


@dataclass(frozen=True, slots=True)
class RestCall:
    path: str  # appended to the adapter's REST base URL
    params: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class VenueStatus:
    maintenance: bool
    detail: str = ""


Verdict = tuple[Reason, str]


class VenueAdapter(ABC):
    """One venue. Subclasses set the class attributes and implement the abstract methods.

    Every `parse_*` method gets the JSON-decoded body; on a body of the wrong shape it raises
    ValueError (or KeyError/TypeError/IndexError), which the exchange kind turns into
    `invalid_response`.
    """

    name: ClassVar[str]  # the `exchange:` value in the config, e.g. "binance"
    rest_url: ClassVar[str]  # default REST base, e.g. "https://api.binance.com"
    ws_url: ClassVar[str]  # default WebSocket URL
    time_call: ClassVar[RestCall]
    status_call: ClassVar[RestCall | None] = None
    # Set at class level; an instance may follow its server instead (KuCoin's bullet).
    keepalive: Keepalive | None = None

    def __init__(self, market: Market, *, rest_url: str | None = None,
                 ws_url: str | None = None) -> None:
        self.market = market
        self.symbol = self.venue_symbol(market)
        self.rest_base = (rest_url or self.rest_url).rstrip("/")
        self.ws_base = ws_url or self.ws_url

    # -- market ------------------------------------------------------------------------

    @abstractmethod
    def venue_symbol(self, market: Market) -> str:
        """The venue's spelling of `market` (BTCUSDT, BTC-USDT, BTC/USDT, ...)."""

    # -- REST --------------------------------------------------------------------------

    @abstractmethod
    def parse_time(self, body: Any) -> float:
        """Server time from the time_call's body, unix seconds."""

    def parse_status(self, body: Any) -> VenueStatus:
        """The status_call's body: is the venue in maintenance?"""
        return VenueStatus(maintenance=False)

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        """A venue error inside the body (Kraken's `error` array inside a 200, OKX `code`,
        Bybit `retCode`, Binance `{"code": -1003}`...), mapped to a reason; None if the body
        reports no error. Called for every REST answer that parsed as JSON."""
        return None

    def rate_limit_used_ratio(self, headers: Mapping[str, str]) -> float | None:
        """Share of the rate limit used (0..1) from response headers, if the venue says."""
        return None

    # -- stream ------------------------------------------------------------------------

    async def endpoint(self) -> str:
        """The WebSocket URL to connect to now (KuCoin first asks for a token over REST)."""
        return self.ws_base

    @abstractmethod
    def subscribe_frames(self) -> Sequence[str]:
        """Frames that subscribe to trades (or tickers) of the market."""

    @abstractmethod
    def classify(self, frame: str | bytes) -> StreamEvent:
        """What one frame means; never raises on malformed input."""


def unknown_code_reason(http_status: int) -> Reason:
    """A venue error code an adapter does not know: the HTTP status still says something
    (a 451 is geo-blocked, a 5xx an outage); in a 200 it is a plain venue error."""
    verdict = status_verdict(http_status, None)
    return verdict[0] if verdict is not None else Reason.ERROR


ADAPTERS: dict[str, type[VenueAdapter]] = {}
_NOT_ADAPTERS = frozenset({"base", "parsing"})  # modules of this package that hold no adapter
AdapterClass = TypeVar("AdapterClass", bound=type[VenueAdapter])


def register_adapter(adapter: AdapterClass) -> AdapterClass:
    """Class decorator: make the adapter available as `exchange: <adapter.name>`."""
    if adapter.name in ADAPTERS:
        raise RuntimeError(f"exchange adapter {adapter.name!r} registered twice")
    ADAPTERS[adapter.name] = adapter
    return adapter


def adapters() -> dict[str, type[VenueAdapter]]:
    """Every adapter: each module in this package registers its own on import."""
    import checks.exchanges as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_ADAPTERS:
            importlib.import_module(f"{package.__name__}.{module.name}")
    return ADAPTERS
