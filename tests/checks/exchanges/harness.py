"""Plumbing the venue adapter tests share: fixtures, hostile frames, hypothesis strategies for
JSON documents, a StreamWatcher for local venues, and the local WebSocket venue itself.

A local venue (`LocalVenue`) runs on 127.0.0.1 for one adapter's stream test. Per connection it
greets the client, answers every frame the client sends, pushes frames every PACE seconds once
the client subscribed, and closes a connection that is overdue (by default: one that sent no
ping for `drop_after` seconds), so a test can show that the adapter's keepalive is the one the
venue wants:

    class LocalOkx(SubscribingVenue):
        def pushes(self) -> list[str]:
            return [a_trade_stamped_now()]

    async with serving(LocalOkx(FIXTURES, pong="ws_pong.txt", drop_after=0.6)) as venue:
        adapter = OkxAdapter(Market.parse("BTC-USDT"), ws_url=venue.url())
        async with watching("okx-local", adapter) as watcher:
            await wait_for(lambda: venue.pings >= 7, what="seven pings")
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import orjson
from hypothesis import strategies as st
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from checks.stream import StreamEvent, StreamProtocol, StreamWatcher
from monitor.clock import RealClock
from tests.fakes.venue import fixture_bytes, fixture_json

SHAPE_ERRORS = (ValueError, KeyError, TypeError, IndexError)  # what a parse_* may raise
PACE = 0.05  # seconds between a local venue's pushes

# -- fixtures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Fixtures:
    """The recorded fixtures of one venue, tests/fixtures/exchanges/<venue>/."""

    venue: str

    def raw(self, name: str) -> bytes:
        return fixture_bytes(self.venue, name)

    def doc(self, name: str) -> Any:
        return fixture_json(self.venue, name)


# -- hostile frames ------------------------------------------------------------------------

DEEP_ARRAY = "[" * 100_000 + "]" * 100_000


def deep_object(key: str = "a", depth: int = 50_000) -> str:
    """`depth` objects nested under `key`, around the number 1."""
    return f'{{"{key}":' * depth + "1" + "}" * depth


# Frames no adapter may raise on or read a price from: not UTF-8, a lone surrogate, empty,
# truncated, JSON without an object, and nesting far past any parser's limit.
HOSTILE_FRAMES: list[str | bytes] = [
    b"\xff\xfe\xfa", "\ud800", "", "{", "[]", "null", DEEP_ARRAY, deep_object(),
]

# -- hypothesis ----------------------------------------------------------------------------

FRAMES = st.binary(max_size=200) | st.text(max_size=200)

# What orjson can encode: integers within 64 bits, finite floats.
ORJSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=25,
)


def json_values(keys: Sequence[str]) -> st.SearchStrategy[Any]:
    """JSON-like values whose objects mostly use the venue's `keys`; for json.dumps, so big
    integers and NaN come too."""
    return st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(list(keys)) | st.text(max_size=5), children,
                          max_size=5),
        max_leaves=20,
    )


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every key/index path inside a JSON document."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        children: list[tuple[Any, Any]] = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    else:
        children = []
    for key, child in children:
        found += paths(child, (*prefix, key))
    return found


def replaced(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


def one_field_replaced(data: st.DataObject, document: Any, value: Any) -> bytes:
    """`document` as a frame, with the field at a drawn path replaced by `value`."""
    path = data.draw(st.sampled_from(paths(document)))
    return orjson.dumps(replaced(document, path, value))


def assert_sane(event: StreamEvent) -> None:
    assert isinstance(event, StreamEvent)
    if event.price is not None:
        assert math.isfinite(event.price) and event.price > 0
    if event.event_time is not None:
        assert math.isfinite(event.event_time)


# -- streams -------------------------------------------------------------------------------


def stream_watcher(name: str, adapter: StreamProtocol, *,
                   max_event_lag: float | None = None) -> StreamWatcher:
    """A watcher for a local venue: real time, quick reconnects."""
    return StreamWatcher(
        name,
        adapter,
        clock=RealClock(),
        stale_after=5.0,
        max_message=1 << 20,
        connect_timeout=2.0,
        reconnect_initial=0.05,
        reconnect_max=0.2,
        max_event_lag=max_event_lag,
    )


@contextlib.asynccontextmanager
async def watching(name: str, adapter: StreamProtocol, *,
                   max_event_lag: float | None = None) -> AsyncIterator[StreamWatcher]:
    """`stream_watcher(...)`, started, and closed on the way out."""
    watcher = stream_watcher(name, adapter, max_event_lag=max_event_lag)
    await watcher.start()
    try:
        yield watcher
    finally:
        await watcher.close()


@dataclass
class Session:
    """One client connection, as a local venue sees it."""

    ws: ServerConnection
    last_ping: float = field(default_factory=time.monotonic)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)


SessionT = TypeVar("SessionT", bound=Session)


class LocalVenue(Generic[SessionT]):
    """The skeleton of a local venue (see the module doc); subclasses say how it answers
    (`answer`, `greet`) and what it pushes (`pushes`, or all of `tick`)."""

    close_code = 1008
    close_reason = "no ping"

    def __init__(self, session: Callable[[ServerConnection], SessionT], *,
                 drop_after: float | None = None) -> None:
        self.new_session = session
        self.drop_after = drop_after  # seconds without a ping before the venue closes
        self.connections = 0
        self.pings = 0
        self.drops = 0
        self.received: list[str | bytes] = []
        self.port = 0

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    async def handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        session = self.new_session(ws)
        if not await self.greet(session):
            return
        reader = asyncio.create_task(self._read(session))
        try:
            while not reader.done():
                if self.overdue(session):
                    self.drops += 1
                    await ws.close(self.close_code, self.close_reason)
                    return
                await self.tick(session)
                await asyncio.sleep(PACE)  # the venue's pace, not a synchronisation
        except ConnectionClosed:
            pass
        finally:
            reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await reader

    async def _read(self, session: SessionT) -> None:
        async for frame in session.ws:
            self.received.append(frame)
            await self.answer(session, frame)

    def pinged(self, session: SessionT) -> None:
        self.pings += 1
        session.last_ping = time.monotonic()

    # -- what a venue says -----------------------------------------------------------------

    async def greet(self, session: SessionT) -> bool:
        """Run on connect; False ends the connection (the venue closed it)."""
        return True

    async def answer(self, session: SessionT, frame: str | bytes) -> None:
        raise NotImplementedError

    def overdue(self, session: SessionT) -> bool:
        silent = time.monotonic() - session.last_ping
        return self.drop_after is not None and silent > self.drop_after

    async def tick(self, session: SessionT) -> None:
        if session.subscribed.is_set():
            for frame in self.pushes():
                await session.ws.send(frame)

    def pushes(self) -> list[str]:
        """Frames sent every PACE seconds to a subscribed client."""
        return []


class SubscribingVenue(LocalVenue[Session]):
    """Answers a ping (as `is_ping` tells; by default the text "ping") with the fixture
    `pong`, and an {"op": "subscribe"} request with the fixture ws_ack.json."""

    def __init__(self, fixtures: Fixtures, *, pong: str, drop_after: float | None) -> None:
        super().__init__(Session, drop_after=drop_after)
        self.fixtures = fixtures
        self.pong = pong

    def is_ping(self, frame: str | bytes) -> bool:
        return frame == "ping"

    async def answer(self, session: Session, frame: str | bytes) -> None:
        if self.is_ping(frame):
            self.pinged(session)
            await session.ws.send(self.fixtures.raw(self.pong).decode())
        elif orjson.loads(frame).get("op") == "subscribe":
            await session.ws.send(self.fixtures.raw("ws_ack.json").decode())
            session.subscribed.set()


VenueT = TypeVar("VenueT", bound=LocalVenue[Any])


@contextlib.asynccontextmanager
async def serving(venue: VenueT) -> AsyncIterator[VenueT]:
    """Run `venue` on a free port of 127.0.0.1 (see `venue.url`)."""
    async with serve(venue.handle, "127.0.0.1", 0) as server:
        venue.port = next(iter(server.sockets)).getsockname()[1]
        yield venue
