"""StreamWatcher against real WebSocket servers on 127.0.0.1 (tests/fakes/ws_server.py).

The watcher talks to the venue through `TinyProtocol` below: JSON frames
{"type": "data"|"error"|..., "E": event time in ms, "T": event time in s, "seq": n, "ch": ...};
the text "pong" answers a keepalive; anything that is not JSON makes classify raise (which the
watcher must survive).
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import random
import re
import socket
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
import pytest
from aiohttp import ClientSession, web
from websockets.asyncio.server import ServerConnection
from websockets.client import ClientProtocol
from websockets.datastructures import Headers
from websockets.frames import Close, Frame, Opcode
from websockets.http11 import Response
from websockets.protocol import State as ProtocolState
from websockets.uri import parse_uri
from websockets.utils import accept_key

from checks.stream import (
    READ_SLICE,
    Backoff,
    EventKind,
    Keepalive,
    StreamEvent,
    StreamSnapshot,
    StreamWatcher,
    _StampedConnection,
)
from monitor.clock import FakeClock, RealClock
from monitor.observation import EVENT_LAG_BUCKETS, Reason
from tests.conftest import LocalServer, wait_for
from tests.fakes.ws_server import FakeWsVenue

SUBSCRIBE = '{"op":"subscribe"}'


class TinyProtocol:
    def __init__(self, url: str, *, keepalive: Keepalive | None = None,
                 subscribe: Sequence[str] = (SUBSCRIBE,)) -> None:
        self.url = url
        self._keepalive = keepalive
        self._subscribe = list(subscribe)

    async def endpoint(self) -> str:
        return self.url

    def subscribe_frames(self) -> Sequence[str]:
        return self._subscribe

    @property
    def keepalive(self) -> Keepalive | None:
        return self._keepalive

    def classify(self, frame: str | bytes) -> StreamEvent:
        if frame == "pong":
            return StreamEvent(EventKind.PONG)
        document = orjson.loads(frame)  # raises on anything that is not JSON, on purpose
        event_time = None
        if "E" in document:
            event_time = document["E"] / 1000
        elif "T" in document:
            event_time = document["T"]
        return StreamEvent(
            EventKind(document.get("type", "data")),
            event_time=event_time,
            sequence=document.get("seq"),
            channel=document.get("ch", ""),
            detail=document.get("msg", ""),
        )


WatcherFactory = Callable[..., StreamWatcher]


@pytest.fixture
async def make_watcher() -> AsyncIterator[WatcherFactory]:
    """Watchers with short test timings; all are closed after the test."""
    watchers: list[StreamWatcher] = []

    def make(protocol: TinyProtocol, **overrides: Any) -> StreamWatcher:
        settings: dict[str, Any] = {
            "clock": RealClock(), "stale_after": 5.0, "max_message": 64 * 1024,
            "connect_timeout": 2.0, "reconnect_initial": 0.05, "reconnect_max": 0.2,
        }
        settings.update(overrides)
        watcher = StreamWatcher("test", protocol, **settings)
        watchers.append(watcher)
        return watcher

    yield make
    for watcher in watchers:
        await watcher.close()


@pytest.fixture
async def venue() -> AsyncIterator[FakeWsVenue]:
    async with FakeWsVenue() as server:
        yield server


async def started(watcher: StreamWatcher) -> StreamWatcher:
    await watcher.start()
    return watcher


async def snapshot_when(watcher: StreamWatcher, predicate: Callable[[StreamSnapshot], bool],
                        *, timeout: float = 5.0, what: str = "snapshot") -> StreamSnapshot:
    """Poll snapshots until one meets `predicate`; returns it."""
    seen: list[StreamSnapshot] = []

    def check() -> bool:
        seen.append(watcher.snapshot())
        return predicate(seen[-1])

    try:
        await wait_for(check, timeout=timeout, what=what)
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last snapshot: {seen[-1] if seen else None}") from None
    return seen[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def data(**fields: Any) -> str:
    return orjson.dumps({"type": "data", **fields}).decode()


# -- connect, subscribe, count, lag -----------------------------------------------------------

async def test_subscribes_counts_messages_and_measures_event_lag(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    seen: list[StreamEvent] = []
    watcher = await started(make_watcher(TinyProtocol(venue.url), on_event=seen.append))
    await wait_for(lambda: SUBSCRIBE in venue.received, what="the subscribe frame")
    for _ in range(5):
        await venue.send(data(E=int(time.time() * 1000) - 300))
    await venue.send('{"type": "ack"}')
    await venue.send('{"type": "heartbeat"}')

    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == 5)
    stats = snap.stats
    assert snap.reason is Reason.OK and snap.detail == ""
    assert stats.connected
    assert len(seen) == 5 and all(event.kind is EventKind.DATA for event in seen)
    assert stats.event_lag_count == 5
    assert stats.event_lag_last is not None and 0.29 <= stats.event_lag_last < 0.4
    assert 5 * 0.29 <= stats.event_lag_sum < 5 * 0.4
    le_half_second = EVENT_LAG_BUCKETS.index(0.5)
    assert stats.event_lag_buckets[le_half_second] == 5 and sum(stats.event_lag_buckets) == 5
    assert stats.connect_seconds is not None and 0 < stats.connect_seconds < 1
    assert stats.first_message_seconds is not None and 0 <= stats.first_message_seconds < 1
    assert stats.last_message_age is not None and stats.last_message_age < 1
    assert stats.reconnects == {}
    assert len(venue.requests) == 1 and venue.requests[0].path == "/"


async def test_messages_in_window_resets_at_each_snapshot(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    seen: list[StreamEvent] = []
    watcher = await started(make_watcher(TinyProtocol(venue.url), on_event=seen.append))
    await venue.wait_connections(1)
    await venue.send(data())
    await venue.send(data())
    await wait_for(lambda: len(seen) == 2, what="2 messages")
    assert watcher.snapshot().stats.messages_in_window == 2
    await venue.send(data())
    await wait_for(lambda: len(seen) == 3, what="3 messages")
    assert watcher.snapshot().stats.messages_in_window == 1
    stats = watcher.snapshot().stats
    assert (stats.messages_in_window, stats.messages_total) == (0, 3)


async def test_event_lag_is_measured_to_a_few_milliseconds(make_watcher: WatcherFactory) -> None:
    delay = 0.1

    async def stamp_then_wait(ws: ServerConnection) -> None:
        for _ in range(10):
            await asyncio.sleep(0.02)
            # the venue is 100 ms late with its own message: its event time is 100 ms before
            # the send (stamped at the send itself, so a sleep that overshoots on a busy
            # machine does not add to it)
            await ws.send(data(T=time.time() - delay))

    lags: list[float] = []
    async with FakeWsVenue(stamp_then_wait) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url)))
        seen = 0
        deadline = time.monotonic() + 5
        while seen < 10:  # one snapshot per message: each lag on its own
            snap = watcher.snapshot()
            if snap.stats.event_lag_count > seen:
                seen = snap.stats.event_lag_count
                assert snap.stats.event_lag_last is not None
                lags.append(snap.stats.event_lag_last)
            assert time.monotonic() < deadline, f"only {seen} lags measured"
            await asyncio.sleep(0.01)
    print(f"\nevent lag for a 100 ms delay: min {min(lags) * 1000:.2f} ms, "
          f"mean {statistics.mean(lags) * 1000:.2f} ms, max {max(lags) * 1000:.2f} ms")
    # Polling can merge two messages into one reading: check the mean of all too.
    assert all(abs(lag - delay) <= 0.005 for lag in lags), lags
    total = watcher.snapshot().stats
    assert abs(total.event_lag_sum / total.event_lag_count - delay) <= 0.005


async def test_lag_over_max_event_lag_is_degraded(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url), max_event_lag=0.2))
    await venue.wait_connections(1)
    await venue.send(data(E=int(time.time() * 1000) - 1500))
    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == 1)
    assert snap.reason is Reason.DEGRADED
    # to the millisecond, so a lag just past the limit does not read "0.2 s over 0.2 s"
    assert re.fullmatch(r"event lag 1\.5\d\d s over 0\.2 s", snap.detail), snap.detail
    await venue.send(data(E=int(time.time() * 1000)))
    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == 2)
    assert snap.reason is Reason.OK


async def test_sequence_gaps_are_counted_per_channel(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url)))
    await venue.wait_connections(1)
    frames = [("a", 1), ("a", 2), ("a", 5), ("b", 10), ("a", 3), ("a", 4), ("b", 12),
              ("b", 12), ("b", 10**12)]
    for channel, sequence in frames:
        await venue.send(data(ch=channel, seq=sequence))
    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == len(frames))
    # a: 2 -> 5 loses 3 and 4; 5 -> 3 is a restart. b: 10 -> 12 loses 11; a duplicate and an
    # absurd jump are not gaps.
    assert snap.stats.sequence_gaps == 3


async def test_venue_error_event_shows_in_the_detail(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url), stale_after=0.5))
    await venue.wait_connections(1)
    await venue.send('{"type": "error", "msg": "unknown symbol\\nFOO"}')
    snap = await snapshot_when(watcher, lambda s: s.reason is Reason.STALE)
    assert snap.detail.endswith("; venue error: unknown symbol FOO")


# -- staleness ----------------------------------------------------------------------------------

async def test_silent_stream_turns_stale_then_is_reconnected(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    stale_after = 0.5
    watcher = await started(make_watcher(TinyProtocol(venue.url), stale_after=stale_after))
    await venue.wait_connections(1)
    connected_at = time.monotonic()
    snap = await snapshot_when(watcher, lambda s: s.reason is Reason.STALE,
                               timeout=stale_after + 1)
    assert snap.stats.connected
    assert snap.detail.startswith("no message in 0.") and snap.detail.endswith("since connecting")
    await venue.wait_connections(2, timeout=2 * stale_after + 1)
    reconnected_after = time.monotonic() - connected_at
    assert 2 * stale_after <= reconnected_after < 2 * stale_after + 0.5
    assert watcher.snapshot().stats.reconnects == {"stale": 1}


async def test_stale_after_data_stops_says_how_long(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url), stale_after=0.3))
    await venue.wait_connections(1)
    await venue.send(data())
    snap = await snapshot_when(watcher, lambda s: s.reason is Reason.STALE)
    assert snap.detail.startswith("no message for 0.")
    assert snap.stats.last_message_age is not None and snap.stats.last_message_age >= 0.3


# -- disconnects and back-off -----------------------------------------------------------------

@pytest.mark.parametrize(("code", "why", "words"), [
    (1000, "closed_by_server", "closed by server (1000 OK: bye)"),
    (1001, "server_shutdown", "server shutting down (1001 going away: bye)"),
    (1012, "server_shutdown", "server shutting down (1012 service restart: bye)"),
    (1008, "closed_by_server", "closed by server (1008 policy violation: bye)"),
])
async def test_server_close_is_classified_and_reconnected(
    venue: FakeWsVenue, make_watcher: WatcherFactory, code: int, why: str, words: str
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=0.3,
                                         reconnect_max=0.3))
    await venue.wait_connections(1)
    await venue.close_clients(code, "bye")
    snap = await snapshot_when(watcher, lambda s: not s.stats.connected)
    assert snap.reason is Reason.ERROR
    assert snap.detail == f"disconnected: {words}"
    assert snap.stats.reconnects == {why: 1}
    await venue.wait_connections(2)
    await snapshot_when(watcher, lambda s: s.stats.connected and s.reason is Reason.OK)
    gap = venue.attempts[1] - venue.attempts[0]
    assert 0.3 <= gap < 0.6


async def test_reconnect_delays_grow_to_the_cap(make_watcher: WatcherFactory) -> None:
    async def close_at_once(ws: ServerConnection) -> None:
        await ws.close(1000, "go away")

    initial, cap = 0.05, 0.4
    async with FakeWsVenue(close_at_once) as venue:
        watcher = make_watcher(TinyProtocol(venue.url), reconnect_initial=initial,
                               reconnect_max=cap)
        watcher.backoff = Backoff(initial, cap, rng=random.Random(7))
        await watcher.start()
        await wait_for(lambda: len(venue.attempts) >= 9, what="9 connection attempts")
        attempts = venue.attempts[:9]
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts)]
    twin = Backoff(initial, cap, rng=random.Random(7))
    planned = [twin.next_delay() for _ in gaps]
    print("\nreconnect gaps (ms):", [round(g * 1000) for g in gaps],
          "planned:", [round(p * 1000) for p in planned])
    for gap, plan in zip(gaps, planned, strict=True):
        assert plan <= gap < plan + 0.1  # plus the connect and close handshakes
    assert statistics.mean(gaps[-4:]) > 2 * statistics.mean(gaps[:2])
    assert max(gaps) < cap + 0.1
    assert watcher.snapshot().stats.reconnects["closed_by_server"] >= 8


def test_backoff_is_exponential_with_jitter_between_initial_and_cap() -> None:
    class Extremes(random.Random):
        def __init__(self, pick_high: bool) -> None:
            super().__init__()
            self.pick_high = pick_high

        def uniform(self, a: float, b: float) -> float:
            return b if self.pick_high else a

    high = Backoff(1.0, 10.0, rng=Extremes(pick_high=True))
    assert [high.next_delay() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    high.reset()
    assert high.next_delay() == 1
    low = Backoff(1.0, 10.0, rng=Extremes(pick_high=False))
    assert {low.next_delay() for _ in range(100)} == {1.0}
    spread = Backoff(0.5, 8.0)
    for _ in range(10):
        spread.next_delay()
    delays = [spread.next_delay() for _ in range(200)]
    assert all(0.5 <= delay <= 8.0 for delay in delays)
    assert max(delays) - min(delays) > 4  # jittered, not fixed


# -- keepalive --------------------------------------------------------------------------------

async def test_keepalive_pings_keep_a_demanding_venue_happy(make_watcher: WatcherFactory) -> None:
    async with FakeWsVenue(require_ping_within=0.5) as venue:
        ping = Keepalive(interval=0.2, frame="ping", timeout=1.0)
        watcher = await started(make_watcher(TinyProtocol(venue.url, keepalive=ping)))
        await wait_for(lambda: venue.received.count("ping") >= 7, timeout=3,
                       what="7 pings (about 1.5 s)")
        assert venue.connections == 1
        snap = watcher.snapshot()
        assert snap.stats.connected and snap.stats.reconnects == {}


async def test_client_without_keepalive_is_dropped_by_a_demanding_venue(
    make_watcher: WatcherFactory,
) -> None:
    async with FakeWsVenue(require_ping_within=0.5) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=1.0,
                                             reconnect_max=1.0))
        snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
        assert snap.stats.reconnects == {"closed_by_server": 1}
        assert snap.detail == "disconnected: closed by server (1008 policy violation: no ping)"


async def test_missing_pong_is_a_keepalive_timeout(make_watcher: WatcherFactory) -> None:
    async with FakeWsVenue(answer_pings=False) as venue:
        ping = Keepalive(interval=0.2, frame="ping", timeout=0.3)
        watcher = await started(make_watcher(TinyProtocol(venue.url, keepalive=ping),
                                             reconnect_initial=1.0, reconnect_max=1.0))
        await venue.wait_connections(1)
        connected_at = time.monotonic()
        snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
        took = time.monotonic() - connected_at
        assert snap.stats.reconnects == {"keepalive_timeout": 1}
        assert 0.5 - 0.05 <= took < 1.0  # first ping at 0.2 s, no pong by 0.5 s
        assert not snap.stats.connected and snap.reason is Reason.TIMEOUT
        assert snap.detail == "disconnected: no pong within 0.3 s"


async def test_library_answers_the_servers_protocol_pings(make_watcher: WatcherFactory) -> None:
    pongs: list[float] = []

    async def ping_client(ws: ServerConnection) -> None:
        for _ in range(5):
            waiter = await ws.ping()
            pongs.append(await asyncio.wait_for(waiter, 1.0))

    async with FakeWsVenue(ping_client) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url)))
        await wait_for(lambda: len(pongs) == 5, what="5 pongs")
        assert venue.connections == 1
        assert watcher.snapshot().stats.reconnects == {}


# -- handshake failures -------------------------------------------------------------------------

@pytest.mark.parametrize(("status", "reason"), [
    (451, Reason.GEO_BLOCKED),
    (429, Reason.RATE_LIMITED),
    (418, Reason.RATE_LIMITED),
    (404, Reason.HTTP_4XX),
    (503, Reason.HTTP_5XX),
    (200, Reason.INVALID_RESPONSE),
])
async def test_rejected_handshake_maps_to_a_reason(
    make_watcher: WatcherFactory, status: int, reason: Reason
) -> None:
    async with FakeWsVenue(reject_status=status) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url)))
        assert await watcher.wait_first_attempt(2.0)
        snap = watcher.snapshot()
        assert snap.reason is reason
        assert snap.detail.startswith(f"connect failed: HTTP {status}")
        assert not snap.stats.connected and snap.stats.connect_seconds is None
        assert snap.stats.reconnects["connect_failed"] >= 1


async def test_refused_port_is_connect_refused(make_watcher: WatcherFactory) -> None:
    port = free_port()
    watcher = await started(make_watcher(TinyProtocol(f"ws://127.0.0.1:{port}/")))
    assert await watcher.wait_first_attempt(2.0)
    snap = watcher.snapshot()
    assert snap.reason is Reason.CONNECT_REFUSED
    assert snap.detail == "connect failed: connection refused"


async def test_upgrade_that_never_comes_is_a_timeout(make_watcher: WatcherFactory) -> None:
    async def mute(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(65536)  # read the upgrade request, never answer
        await reader.read(65536)
        writer.close()

    server = await asyncio.start_server(mute, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        watcher = await started(make_watcher(TinyProtocol(f"ws://127.0.0.1:{port}/"),
                                             connect_timeout=0.3))
        assert await watcher.wait_first_attempt(2.0)
        snap = watcher.snapshot()
        await watcher.close()
    assert snap.reason is Reason.TIMEOUT
    assert snap.detail == "connect failed: no WebSocket upgrade within 0.3 s"


async def test_retry_after_lengthens_the_next_delay(make_watcher: WatcherFactory) -> None:
    async with FakeWsVenue(reject_status=429, reject_headers={"Retry-After": "1"}) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=0.05,
                                             reconnect_max=5.0))
        await wait_for(lambda: len(venue.attempts) >= 2, what="a second attempt")
        assert 1.0 <= venue.attempts[1] - venue.attempts[0] < 1.3
        assert watcher.snapshot().reason is Reason.RATE_LIMITED


# -- hostile frames -----------------------------------------------------------------------------

async def test_frame_over_max_message_is_dropped_without_reading_it(
    make_watcher: WatcherFactory,
) -> None:
    max_message = 64 * 1024
    declared = 100 * 1024 * 1024
    written = [0]

    async def huge_frame(ws: ServerConnection) -> None:
        # A binary frame header declaring 100 MiB, then the body, slowly.
        assert ws.transport is not None
        ws.transport.write(b"\x82\x7f" + declared.to_bytes(8, "big"))
        chunk = b"x" * 65536
        while written[0] < declared and not ws.transport.is_closing():
            ws.transport.write(chunk)
            written[0] += len(chunk)
            await asyncio.sleep(0.01)

    tracemalloc.start()
    try:
        async with FakeWsVenue(huge_frame) as venue:
            watcher = await started(make_watcher(TinyProtocol(venue.url),
                                                 max_message=max_message,
                                                 reconnect_initial=1.0, reconnect_max=1.0))
            snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
            _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    print(f"\noversized frame: {written[0] / 1024:.0f} KiB written before the disconnect, "
          f"traced peak {peak / 1024 / 1024:.1f} MiB")
    assert snap.stats.reconnects == {"error": 1}
    assert snap.detail == f"disconnected: message larger than {max_message} bytes"
    assert written[0] < 4 * 1024 * 1024
    assert peak < 8 * 1024 * 1024


async def test_plain_oversized_message_is_an_error_disconnect(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url), max_message=1000,
                                         reconnect_initial=1.0, reconnect_max=1.0))
    await venue.wait_connections(1)
    await venue.send("x" * 1001)
    snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
    assert snap.stats.reconnects == {"error": 1}
    assert snap.detail == "disconnected: message larger than 1000 bytes"


async def test_a_connection_failed_on_an_oversized_frame_is_not_ok_while_it_closes(
    make_watcher: WatcherFactory
) -> None:
    async def oversized_then_silent(reader: asyncio.StreamReader,
                                    writer: asyncio.StreamWriter) -> None:
        request = await reader.readuntil(b"\r\n\r\n")
        key = next(line.split(b":", 1)[1].strip() for line in request.split(b"\r\n")
                   if line.lower().startswith(b"sec-websocket-key:"))
        writer.write(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                     b"Connection: Upgrade\r\nSec-WebSocket-Accept: "
                     + accept_key(key.decode()).encode() + b"\r\n\r\n")
        writer.write(bytes([0x82, 126]) + (5000).to_bytes(2, "big"))  # then nothing more
        await reader.read()  # never answers the client's close: it must time out

    server = await asyncio.start_server(oversized_then_silent, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        watcher = await started(make_watcher(TinyProtocol(f"ws://127.0.0.1:{port}/",
                                                          subscribe=()),
                                             max_message=1000, reconnect_initial=5.0))
        closing = await snapshot_when(
            watcher, lambda s: s.stats.connected and s.reason is not Reason.OK)
        assert (closing.reason, closing.detail) == (
            Reason.ERROR, "closing: message larger than 1000 bytes")
        assert closing.stats.connected and closing.stats.reconnects == {}
        gone = await snapshot_when(watcher, lambda s: not s.stats.connected)
        assert (gone.reason, gone.detail) == (
            Reason.ERROR, "disconnected: message larger than 1000 bytes")


async def test_malformed_frames_never_stop_the_watcher(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    watcher = await started(make_watcher(TinyProtocol(venue.url)))
    await venue.wait_connections(1)
    hostile: list[str | bytes] = [
        '{"type": "dat', b"\xff\xfe\x00binary", "[" * 5000 + "]" * 5000,
        '{"type": "data", "E": 1e999}', '{"type": "no such kind"}', "", b"",
    ]
    for frame in hostile:
        await venue.send(frame)
    await venue.send('{"type": "data", "E": 1' + "0" * 400 + "}")  # too big for a double
    await venue.send(data())
    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == 1)
    assert snap.stats.connected and snap.stats.reconnects == {}
    assert venue.connections == 1


async def test_invalid_utf8_text_frame_is_an_error_disconnect(
    make_watcher: WatcherFactory,
) -> None:
    async def bad_text(ws: ServerConnection) -> None:
        assert ws.transport is not None
        ws.transport.write(b"\x81\x04\xff\xfe\xfd\xfc")  # a text frame that is not UTF-8

    async with FakeWsVenue(bad_text) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=1.0,
                                             reconnect_max=1.0))
        snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
    assert snap.stats.reconnects == {"error": 1}
    assert snap.detail.startswith("disconnected: closed by us (1007 invalid frame payload data")


async def test_flood_neither_starves_the_loop_nor_loses_count(
    make_watcher: WatcherFactory, serve_app: Callable[[web.Application], Any]
) -> None:
    rate, seconds, batch = 10_000, 2.0, 100
    sent = [0]
    done = asyncio.Event()

    async def flood(ws: ServerConnection) -> None:
        frame = data(E=0)
        start = time.monotonic()
        tick = 0
        while (tick := tick + 1) * batch <= rate * seconds:
            for _ in range(batch):
                await ws.send(frame)
            sent[0] += batch
            next_tick = start + tick * batch / rate
            await asyncio.sleep(max(0.0, next_tick - time.monotonic()))
        done.set()

    async def livez(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/livez", livez)
    server: LocalServer = await serve_app(app)
    latencies: list[float] = []
    async with FakeWsVenue(flood) as venue, ClientSession() as http:
        watcher = await started(make_watcher(TinyProtocol(venue.url), stale_after=10))
        await venue.wait_connections(1)
        flood_started = time.monotonic()
        while not done.is_set():
            asked = time.perf_counter()
            async with http.get(server.url("/livez")) as response:
                assert response.status == 200
                await response.read()
            latencies.append(time.perf_counter() - asked)
            await asyncio.sleep(0.05)
        flood_took = time.monotonic() - flood_started
        counted_during = watcher.snapshot().stats.messages_total
        snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == sent[0])
    print(f"\nflood: {sent[0]} messages in {flood_took:.2f} s "
          f"({sent[0] / flood_took:.0f}/s); counted by the end of the flood: {counted_during}; "
          f"/livez polled {len(latencies)} times, max {max(latencies) * 1000:.1f} ms, "
          f"median {statistics.median(latencies) * 1000:.1f} ms")
    assert max(latencies) < 0.1
    assert len(latencies) >= 15
    assert counted_during >= 0.9 * sent[0]
    assert snap.stats.reconnects == {}


# -- robustness of the loop -------------------------------------------------------------------

async def test_failing_callback_does_not_stop_counting(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    def explode(_: StreamEvent) -> None:
        raise RuntimeError("callback bug")

    watcher = await started(make_watcher(TinyProtocol(venue.url), on_event=explode))
    await venue.wait_connections(1)
    for _ in range(3):
        await venue.send(data())
    snap = await snapshot_when(watcher, lambda s: s.stats.messages_total == 3)
    assert snap.stats.reconnects == {}


async def test_snapshot_before_start_says_not_connected(make_watcher: WatcherFactory) -> None:
    watcher = make_watcher(TinyProtocol("ws://127.0.0.1:9/"))
    assert not await watcher.wait_first_attempt(1.0)
    snap = watcher.snapshot()
    assert (snap.reason, snap.detail) == (Reason.ERROR, "not connected yet")
    assert snap.stats.messages_total == 0 and snap.stats.last_message_age is None
    assert snap.stats.event_lag_buckets == (0,) * len(EVENT_LAG_BUCKETS)


async def test_close_is_fast_even_when_the_server_ignores_the_close(
    make_watcher: WatcherFactory,
) -> None:
    async def deaf(ws: ServerConnection) -> None:
        assert ws.transport is not None
        ws.transport.pause_reading()  # never sees our close frame

    async with FakeWsVenue(deaf) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url)))
        await snapshot_when(watcher, lambda s: s.stats.connected)
        started_close = time.monotonic()
        await watcher.close()
        took = time.monotonic() - started_close
    print(f"\nclose() with a deaf server took {took * 1000:.0f} ms")
    assert took < 1.0
    assert not watcher.snapshot().stats.connected


async def test_connection_reset_is_an_error_disconnect(make_watcher: WatcherFactory) -> None:
    async def reset(ws: ServerConnection) -> None:
        assert ws.transport is not None
        ws.transport.abort()

    async with FakeWsVenue(reset) as venue:
        watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=1.0,
                                             reconnect_max=1.0))
        snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
    assert snap.stats.reconnects == {"error": 1}
    assert snap.reason is Reason.ERROR and snap.detail == (
        "disconnected: connection lost without a close frame")


async def test_a_closed_connection_is_freed_at_once_not_by_the_collector(
        make_watcher: WatcherFactory, venue: FakeWsVenue) -> None:
    # A connection that lived long is in the collector's oldest generation, which a big daemon
    # collects once in minutes: a reference cycle would keep each reconnect's connection
    # (and its buffers) alive until then.
    watcher = await started(make_watcher(TinyProtocol(venue.url), reconnect_initial=0.01,
                                         reconnect_max=0.01))
    await venue.wait_connections(1)
    gc.collect()
    gc.disable()
    try:
        for connections in range(2, 12):
            await venue.close_clients(1001)
            await venue.wait_connections(connections)
        await snapshot_when(watcher, lambda s: s.stats.connected)
        alive = [o for o in gc.get_objects() if type(o) is _StampedConnection]
    finally:
        gc.enable()
    assert len(alive) == 1  # the one connected now


async def test_backoff_sleeps_on_the_injected_clock(make_watcher: WatcherFactory) -> None:
    clock = FakeClock()
    watcher = await started(make_watcher(TinyProtocol(f"ws://127.0.0.1:{free_port()}/"),
                                         clock=clock, reconnect_initial=10.0, reconnect_max=10.0))
    assert await watcher.wait_first_attempt(2.0)
    await clock.settle()
    assert watcher.snapshot().stats.reconnects == {"connect_failed": 1}
    await clock.advance(10.0)
    await snapshot_when(watcher, lambda s: s.stats.reconnects == {"connect_failed": 2})


async def test_protocol_bug_ends_the_connection_not_the_watcher(
    venue: FakeWsVenue, make_watcher: WatcherFactory
) -> None:
    class BrokenSubscribe(TinyProtocol):
        def subscribe_frames(self) -> Sequence[str]:
            raise KeyError("bug")

    watcher = await started(make_watcher(BrokenSubscribe(venue.url), reconnect_initial=0.3,
                                         reconnect_max=0.3))
    snap = await snapshot_when(watcher, lambda s: bool(s.stats.reconnects))
    assert snap.stats.reconnects == {"error": 1}
    assert (snap.reason, snap.detail) == (Reason.ERROR, "internal error: KeyError('bug')")
    await venue.wait_connections(2)  # and it keeps trying


# -- one socket read of a flood ---------------------------------------------------------------


class ReadingTransport(asyncio.Transport):
    """Just enough transport for a connection fed by hand: records pause and resume."""

    def __init__(self) -> None:
        super().__init__()
        self.paused = False

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def is_closing(self) -> bool:
        return False

    def set_write_buffer_limits(self, high: int | None = None, low: int | None = None) -> None:
        pass

    def write(self, data: Any) -> None:
        pass

    def can_write_eof(self) -> bool:
        return False

    def close(self) -> None:
        pass


def open_connection(max_queue: int | None = None) -> tuple[_StampedConnection, ReadingTransport]:
    """A client connection past its handshake, on a hand-fed transport."""
    connection = _StampedConnection(
        ClientProtocol(parse_uri("ws://127.0.0.1/"), state=ProtocolState.OPEN),
        max_queue=max_queue)
    transport = ReadingTransport()
    connection.connection_made(transport)
    connection.response = Response(101, "Switching Protocols", Headers())
    return connection, transport


async def test_a_read_full_of_small_frames_is_parsed_a_slice_per_loop_turn() -> None:
    frame = Frame(Opcode.TEXT, b'{"n":1}').serialize(mask=False)
    per_slice = READ_SLICE // len(frame)
    total = 8 * per_slice
    connection, transport = open_connection()

    connection.data_received(frame * total)  # one read of a flooding server
    assert len(connection.arrivals) <= per_slice + 1
    assert transport.paused  # no more reads while a backlog waits
    turns = 0
    while len(connection.arrivals) < total:
        assert turns < total, "the backlog is not being parsed"
        await asyncio.sleep(0)  # one turn of the loop: other tasks and timers run here
        turns += 1
    assert 7 <= turns <= 9
    assert not transport.paused
    assert [await connection.recv() for _ in range(total)] == ['{"n":1}'] * total


async def test_parsing_waits_while_the_message_queue_is_full() -> None:
    frame = Frame(Opcode.TEXT, b'{"n":1}').serialize(mask=False)
    total = 4 * (READ_SLICE // len(frame))
    connection, transport = open_connection(max_queue=16)

    connection.data_received(frame * total)
    parsed = len(connection.arrivals)
    assert 16 < parsed < total
    for _ in range(5):
        await asyncio.sleep(0)  # turns of the loop in which nobody takes a message
    assert len(connection.arrivals) == parsed  # the rest waits as bytes, not as messages
    assert transport.paused
    assert [await connection.recv() for _ in range(total)] == ['{"n":1}'] * total
    assert len(connection.arrivals) == total and not transport.paused


async def test_the_end_of_the_stream_comes_after_the_backlog() -> None:
    frame = Frame(Opcode.TEXT, b"x" * 100).serialize(mask=False)
    closing = Frame(Opcode.CLOSE, Close(1001, "bye").serialize()).serialize(mask=False)
    connection, _ = open_connection()
    connection.data_received(frame * (3 * READ_SLICE // len(frame)) + closing)
    connection.eof_received()  # before the backlog had its turns
    assert connection.protocol.close_rcvd == Close(1001, "bye")
