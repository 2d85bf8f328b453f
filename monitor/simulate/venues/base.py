"""What a venue shape says: how one real venue's REST API and WebSocket stream look.

A shape is mostly data (paths, intervals, limits) plus small functions that build the venue's
JSON bodies and frames. The simulated venue (exchange.py, stream.py) does everything else:
routing, faults, rate counting, broadcasting trades and enforcing the keepalive rule.
"""

from __future__ import annotations

import itertools
import time
import uuid
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, ClassVar

from monitor.simulate.market import MARKETS, Tape, Trade

Frame = Any  # a JSON-encodable value, or a str sent as is


@dataclass(frozen=True, slots=True)
class Answer:
    """An HTTP answer: a JSON-encodable body (bytes or str are sent as is)."""

    body: Any
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True, slots=True)
class ServerKeepalive:
    """How the venue's server treats quiet clients, in seconds; None: no such rule. A client
    that follows the venue's documented keepalive is never dropped."""

    ping_every: float | None = None  # the server sends protocol-level pings this often ...
    pong_within: float | None = None  # ... and drops a client with no pong for this long
    client_ping_within: float | None = None  # drops a client that did not ping for this long
    idle_after: float | None = None  # drops when it sent nothing (a pong counts) for this long
    subscribe_within: float | None = None  # drops a client not subscribed by then

    def scaled(self, factor: float) -> ServerKeepalive:
        changes = {item.name: getattr(self, item.name) * factor for item in fields(self)
                   if getattr(self, item.name) is not None}
        return replace(self, **changes)

    @property
    def window(self) -> float | None:
        """The longest a silent client may live: the time scale of the rule."""
        limits = [self.pong_within, self.client_ping_within, self.idle_after,
                  self.subscribe_within]
        present = [limit for limit in limits if limit is not None]
        return max(present) if present else None


@dataclass(eq=False)
class Client:
    """One WebSocket client as its venue's shape sees it; shapes read and update it."""

    tape: Tape
    query: Mapping[str, str]
    tokens: set[str]  # tokens the venue handed out (KuCoin's bullet)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    markets: dict[str, str] = field(default_factory=dict)  # market -> name the client used
    channels: set[str] = field(default_factory=set)  # other channels (Coinbase heartbeats)
    opened: float = field(default_factory=time.monotonic)
    opened_ns: int = field(default_factory=time.time_ns)
    subscribed: bool = False
    last_sent: float = field(default_factory=time.monotonic)
    last_ping: float = field(default_factory=time.monotonic)  # the client's keepalive
    last_pong: float = field(default_factory=time.monotonic)  # to our protocol pings
    pings: int = 0
    pongs: int = 0
    refused: str | None = None  # set by on_open: send its frames, then close with this reason
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def number(self) -> int:
        """The next per-connection message number: 1, 2, ..."""
        return next(self._numbers)

    def pinged(self) -> None:
        self.last_ping = time.monotonic()
        self.pings += 1

    def subscribe(self, market: str, name: str) -> None:
        self.markets[market] = name
        self.subscribed = True


def rfc3339(at_ns: int, digits: int = 6) -> str:
    """2026-03-14T09:27:10.714302Z, with `digits` of fraction (0 to 9)."""
    seconds, nanos = divmod(at_ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if digits:
        text += "." + f"{nanos:09d}"[:digits]
    return text + "Z"


class Shape(ABC):
    """One venue's shapes. Subclasses set the class data and implement the abstract methods."""

    name: ClassVar[str]  # the adapter it imitates: `exchange: <name>`
    ws_paths: ClassVar[tuple[str, ...]]  # route patterns; the first is the advertised one
    time_path: ClassVar[str]
    status_path: ClassVar[str | None] = None  # None: the venue documents none
    ticker_path: ClassVar[str | None] = None  # may hold {symbol}
    ticker_param: ClassVar[str] = "symbol"  # else the symbol comes in this query parameter
    ticker_lists_all: ClassVar[bool] = False  # no symbol: a list of every market's ticker
    static: ClassVar[Mapping[str, Any]] = {}  # GET paths with a fixed JSON answer (ping)
    bullet_path: ClassVar[str | None] = None  # POST: a WebSocket token and server (KuCoin)
    keepalive: ClassVar[ServerKeepalive] = ServerKeepalive()
    heartbeat_every: ClassVar[float | None] = None  # seconds between heartbeat_frame calls
    rate_window: ClassVar[float] = 60.0  # seconds of the venue's rate-limit window
    rate_limit: ClassVar[int] = 0  # weight per window in the headers; 0: no such headers

    def __init__(self) -> None:
        self._markets = {self.symbol(market): market for market in MARKETS}

    # -- markets ---------------------------------------------------------------------------

    @abstractmethod
    def symbol(self, market: str) -> str:
        """The venue's spelling of BASE-QUOTE `market`."""

    def market_of(self, symbol: str) -> str | None:
        return self._markets.get(symbol)

    @staticmethod
    def decimal(price: Decimal) -> str:
        return format(price, "f")

    # -- REST ------------------------------------------------------------------------------

    def weight(self, path: str, query: Mapping[str, str]) -> int:
        return 1

    def rate_headers(self, used: int, reset_ms: int) -> dict[str, str]:
        """Rate-limit headers with `used` weight in the window, which resets in `reset_ms`."""
        return {}

    @abstractmethod
    def time_body(self, now_ns: int) -> Any:
        ...

    def status_body(self, maintenance: bool, now_ms: int) -> Any:
        raise NotImplementedError(f"{self.name} has no status endpoint")

    def ticker_body(self, symbol: str, price: Decimal, now_ms: int) -> Any:
        raise NotImplementedError(f"{self.name} has no ticker endpoint")

    def unknown_symbol(self, symbol: str | None) -> Answer:
        return Answer({"error": f"unknown symbol {symbol!r}"}, 400)

    def bullet_body(self, endpoint: str, token: str, keepalive_scale: float) -> Any:
        """The token answer pointing at `endpoint` (ping timings times keepalive_scale)."""
        raise NotImplementedError(f"{self.name} hands out no WebSocket tokens")

    @abstractmethod
    def overloaded(self, status: int) -> Answer:
        """The venue's answer when it is down or overloaded (the http_5xx fault)."""

    @abstractmethod
    def rate_limited(self, status: int, retry_after: int) -> Answer:
        """The venue's rate-limit error; `status` is 429, or 418 for an IP ban."""

    @abstractmethod
    def geo_blocked(self) -> Answer:
        """The venue's answer to a restricted location."""

    def maintenance(self) -> Answer:
        """What every request gets in maintenance, on a venue without a status endpoint."""
        return self.overloaded(503)

    # -- stream ----------------------------------------------------------------------------

    def on_open(self, client: Client) -> list[Frame]:
        """Frames sent on connect (a welcome); may set client.refused."""
        return []

    def on_url(self, client: Client, stream: str) -> None:  # noqa: B027 (optional hook)
        """A subscription in the URL path ({stream} of a ws path)."""

    @abstractmethod
    def on_message(self, client: Client, text: str) -> list[Frame]:
        """The answers to one text frame from the client (subscribe, ping, ...)."""

    @abstractmethod
    def trade_frame(self, client: Client, trade: Trade) -> Frame:
        ...

    def heartbeat_frame(self, client: Client, now: float) -> Frame | None:
        """Called every heartbeat_every seconds (monotonic `now`); None: nothing to send."""
        return None

    def status_frame(self, client: Client, maintenance: bool) -> Frame | None:
        """Pushed on connect and whenever maintenance starts or ends; None: the venue has no
        such channel."""
        return None
