"""Long-lived WebSocket streams: the shared machinery of the `websocket` and `exchange` kinds.

A StreamProtocol says how to talk to one stream (where to connect, what to subscribe, how to
keep the connection alive, what each frame means). A StreamWatcher keeps one connection open
with it: it connects, subscribes, keeps alive, reconnects with back-off, records why every
disconnect happened, and on request returns a snapshot (see `StreamSnapshot`).

Choices a user of StreamWatcher may want to know:
- `connect_timeout` bounds `protocol.endpoint()` plus DNS, TCP, TLS and the HTTP upgrade. It
  and the close of a socket run on real time; back-off, keepalive and staleness use the
  injected clock.
- No proxy from the environment is used (as the `http` kind), and the library's own ping is
  off: keepalive is the protocol's job. Pings from the server are answered by the library.
- Silent for `stale_after`: the snapshot says STALE. Silent for STALE_CLOSE_FACTOR (2) times
  `stale_after`: the socket is closed (DisconnectReason.STALE) and a new one opened.
- Event lag is receipt time minus the venue's event time, where receipt is when the frame came
  off the socket (see `_StampedConnection`), not when the reader got to it. A venue clock
  ahead of ours reads as zero lag. DEGRADED compares the mean lag of the messages since the
  previous snapshot (the last lag when there were none) with `max_event_lag`.
- Sequence gaps are counted per channel within one connection: what was missed while
  disconnected shows in `reconnects`, not as gaps. A backwards step or a jump of more than
  MAX_SEQUENCE_JUMP restarts the count instead of adding a gap.
- Back-off (see `Backoff`) starts over after a connection that delivered data and stayed up
  for `stale_after` (at most HEALTHY_AFTER_CAP seconds). A Retry-After header on a rejected
  handshake lengthens the next delay (up to `reconnect_max`).
- `wait_first_attempt` lets a first probe wait for the first connect to succeed or fail
  instead of reporting "not connected yet".
"""

from __future__ import annotations

import asyncio
import bisect
import math
import random
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, cast

import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
    SecurityError,
)
from websockets.frames import CLOSE_CODE_EXPLANATIONS, DATA_OPCODES, Close, CloseCode, Frame
from websockets.protocol import Event
from websockets.protocol import State as ProtocolState
from websockets.uri import parse_uri

from checks.errors import classify_exception
from checks.http import parse_retry_after, status_verdict
from monitor.clock import Clock
from monitor.observation import EVENT_LAG_BUCKETS, DisconnectReason, Reason, StreamStats
from monitor.redact import scrub

log = structlog.get_logger("outagemon.stream")


class EventKind(StrEnum):
    DATA = "data"  # market data: counts as a message, may carry event time, price, sequence
    HEARTBEAT = "heartbeat"  # the venue's own liveness message (not data)
    PONG = "pong"  # the answer to our keepalive
    ACK = "ack"  # subscription confirmed
    ERROR = "error"  # the venue reports an error on the stream (detail says what)
    IGNORE = "ignore"  # anything else


@dataclass(frozen=True, slots=True)
class StreamEvent:
    kind: EventKind
    event_time: float | None = None  # unix seconds, as stamped by the venue
    price: float | None = None
    sequence: int | None = None  # the venue's message number, for gap detection
    channel: str = ""  # sequences are counted per channel
    detail: str = ""

    @classmethod
    def ignore(cls) -> StreamEvent:
        return _IGNORE


_IGNORE = StreamEvent(EventKind.IGNORE)


@dataclass(frozen=True, slots=True)
class Keepalive:
    """An application-level ping: send `frame` every `interval`; without a PONG (as
    `classify` tells) within `timeout` of sending, the connection is considered dead.
    With `any_frame_answers`, every received frame counts as the answer."""

    interval: float
    frame: str
    timeout: float = 10.0
    any_frame_answers: bool = False


class StreamProtocol(Protocol):
    async def endpoint(self) -> str:
        """The URL to connect to now (a venue may hand out a tokenised URL first)."""

    def subscribe_frames(self) -> Sequence[str]:
        """Text frames to send right after connecting."""

    @property
    def keepalive(self) -> Keepalive | None:
        """The application-level ping rule, if the venue has one."""

    def classify(self, frame: str | bytes) -> StreamEvent:
        """What one received frame means. Must not raise on malformed input: IGNORE or
        ERROR instead."""


@dataclass(frozen=True, slots=True)
class StreamSnapshot:
    reason: Reason  # OK, STALE, DEGRADED (event lag) or why it is not connected
    detail: str
    stats: StreamStats


EventCallback = Callable[[StreamEvent], None]

CLOSE_TIMEOUT = 0.5  # seconds to wait for the server's close frame before dropping the socket
MAX_QUEUE = 16  # frames the library buffers before it stops reading (memory: x max_message)
YIELD_EVERY = 64  # frames handled between forced yields, so a flood cannot starve the loop
READ_SLICE = 4 * 1024  # bytes of a socket read parsed per turn of the event loop
STALE_CLOSE_FACTOR = 2.0  # silent for this many times stale_after: reconnect
HEALTHY_AFTER_CAP = 30.0
MAX_CHANNELS = 1024  # channels tracked for sequence gaps per connection
MAX_SEQUENCE_JUMP = 1_000_000  # a larger jump is a renumbering, not lost messages
MAX_DETAIL = 300
MAX_VENUE_TEXT = 120  # longest close reason or venue error text quoted
LOG_EVERY = 60.0  # seconds between debug logs of misbehaving protocol code
NOT_CONNECTED_YET = "not connected yet"
# The reason a probe gives for a connection that ended (or is ending) this way; else ERROR.
_DISCONNECT_REASONS = {DisconnectReason.STALE: Reason.STALE,
                       DisconnectReason.KEEPALIVE_TIMEOUT: Reason.TIMEOUT}

Verdict = tuple[Reason, str]
Disconnect = tuple[DisconnectReason, str]


def short_text(text: str, limit: int = MAX_VENUE_TEXT) -> str:
    """One line, printable, secrets masked, at most `limit` characters."""
    line = scrub(" ".join("".join(c if c.isprintable() else " " for c in text).split()))
    return line if len(line) <= limit else line[: limit - 3] + "..."


class Backoff:
    """Exponential back-off with full jitter: the n-th delay in a row (from 0) is uniform in
    [initial, min(maximum, initial * 2**n)]."""

    def __init__(self, initial: float, maximum: float, *, rng: random.Random | None = None) -> None:
        if initial <= 0:
            raise ValueError(f"initial back-off must be positive, got {initial}")
        self.initial = initial
        self.maximum = max(maximum, initial)
        self._rng = rng or random.Random()
        self._failures = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2.0 ** min(self._failures, 60))
        self._failures += 1
        return self._rng.uniform(self.initial, ceiling)

    def reset(self) -> None:
        self._failures = 0


@dataclass
class _Dial:
    """One connect attempt, as seen from inside the library's connection object."""

    wall: Callable[[], float]
    transport_up: bool = False  # TCP (and TLS) connected: a timeout now is the upgrade's


# The library builds its connection object inside our task, so it can find its dial here.
_DIAL: ContextVar[_Dial | None] = ContextVar("outagemon_stream_dial", default=None)


def _nothing() -> None:
    pass


class _StampedConnection(ClientConnection):
    """Notes the wall time at which each complete data message comes off the socket, and
    parses what arrives at most READ_SLICE bytes per turn of the event loop.

    The reader may get to a message later (other tasks run first, earlier messages wait in
    the queue); event lag is measured from this stamp instead. Stamps and messages pair up
    in order: the library delivers every complete message exactly once, in order.

    One socket read hands over up to 256 KiB: thousands of small frames from a flooding
    server, whose parsing in one callback would hold the event loop (and so every other
    target's schedule) for tens of milliseconds. The rest of a read waits in a backlog as
    bytes, parsed one slice per turn while the library's message queue has room, and reading
    stays paused while it waits, so the backlog never holds more than one read and only a
    slice's worth of parsed messages is alive at once (a flood of long-lived objects would
    make the garbage collector's full collections frequent and slow). Messages keep the
    stamp of the read they came in.
    """

    def __init__(self, protocol: ClientProtocol, **kwargs: Any) -> None:
        super().__init__(protocol, **kwargs)
        self.dial = _DIAL.get() or _Dial(time.time)
        self.arrivals: deque[float] = deque()
        self._backlog: deque[tuple[float, bytes, int]] = deque()  # (read at, bytes, parsed)
        self._read_at: float | None = None  # of the bytes being parsed now
        self._feeding: asyncio.Handle | None = None
        self._queue_full = False
        self._hang_up: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        self.dial.transport_up = True
        # The library pauses reading while its message queue is full; so do we while a
        # backlog waits: reading resumes when neither holds it.
        self.recv_messages.pause = self._on_queue_full
        self.recv_messages.resume = self._on_queue_drained

    def data_received(self, data: bytes) -> None:
        self._backlog.append((self.dial.wall(), data, 0))
        if self._feeding is None and not self._queue_full:
            self._feed()

    def eof_received(self) -> None:
        self._parse_backlog()
        super().eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._parse_backlog()
        if self._hang_up is not None:
            self._hang_up.cancel()
        super().connection_lost(exc)
        # The queue's callbacks are our bound methods: a reference cycle that would keep
        # this connection, and its buffers, alive until a full garbage collection (minutes
        # apart in a big daemon). Without it the connection is freed when the watcher lets go.
        self.recv_messages.pause = self.recv_messages.resume = _nothing

    def process_event(self, event: Event) -> None:
        if isinstance(event, Frame) and event.fin and event.opcode in DATA_OPCODES:
            self.arrivals.append(self._read_at if self._read_at is not None
                                 else self.dial.wall())
        super().process_event(event)

    def arrival_of_next(self) -> float:
        return self.arrivals.popleft() if self.arrivals else self.dial.wall()

    def _feed(self) -> None:
        self._feeding = None
        if self._backlog and not self._queue_full:
            self._parse_slice()
        if self._backlog and not self._queue_full:
            self._feeding = asyncio.get_running_loop().call_soon(self._feed)
        self._apply_flow_control()

    def _parse_slice(self) -> None:
        read_at, data, parsed = self._backlog.popleft()
        end = parsed + READ_SLICE
        if end < len(data):
            self._backlog.appendleft((read_at, data, end))
        self._read_at = read_at
        try:
            super().data_received(data[parsed:end] if parsed or end < len(data) else data)
        finally:
            self._read_at = None
        self._limit_closing()

    def _limit_closing(self) -> None:
        # Once the closing handshake started, or the library failed the connection (a frame
        # over max_size), it waits for the server to end the TCP connection; but only a send
        # enforces close_timeout. A server that never hangs up, silent or streaming, would
        # keep a dead connection open: it gets close_timeout, then the socket is dropped.
        if self._hang_up is None and self.protocol.close_expected():
            timeout = self.close_timeout if self.close_timeout is not None else CLOSE_TIMEOUT
            self._hang_up = asyncio.get_running_loop().call_later(timeout, self.transport.abort)

    def _parse_backlog(self) -> None:
        """Everything still waiting, now: the connection is ending."""
        if self._feeding is not None:
            self._feeding.cancel()
            self._feeding = None
        while self._backlog:
            self._parse_slice()

    def _on_queue_full(self) -> None:
        self._queue_full = True
        self._apply_flow_control()

    def _on_queue_drained(self) -> None:
        self._queue_full = False
        if self._backlog and self._feeding is None:
            self._feeding = asyncio.get_running_loop().call_soon(self._feed)
        self._apply_flow_control()

    def _apply_flow_control(self) -> None:
        if self.transport.is_closing():
            return
        if self._queue_full or self._backlog:
            self.transport.pause_reading()
        else:
            self.transport.resume_reading()


@dataclass
class _Session:
    """One open connection."""

    opened_at: float  # monotonic
    subscribed_at: float
    keepalive: Keepalive | None
    last_data_at: float | None = None
    next_ping_at: float = math.inf
    pong_deadline: float | None = None
    venue_error: str = ""
    sequences: dict[str, int] = field(default_factory=dict)
    verdict: Disconnect | None = None  # set when we close the connection ourselves
    connection: ClientConnection | None = None

    @property
    def silent_since(self) -> float:
        return self.last_data_at if self.last_data_at is not None else self.subscribed_at

    def ending(self, max_message: int) -> Disconnect | None:
        """Why the connection is closing, once it is (our own verdict, else the close frames
        so far); None while it is open. A failed connection (a frame over max_message) waits
        up to CLOSE_TIMEOUT for the server to hang up: it is not healthy meanwhile."""
        if self.verdict is not None:
            return self.verdict
        protocol = self.connection.protocol if self.connection is not None else None
        if protocol is None or protocol.state is ProtocolState.OPEN:
            return None
        closed = ConnectionClosed(protocol.close_rcvd, protocol.close_sent,
                                  protocol.close_rcvd_then_sent)
        return disconnect_verdict(closed, max_message)

    def sequence_gap(self, channel: str, sequence: int) -> int:
        previous = self.sequences.get(channel)
        if previous is None and len(self.sequences) >= MAX_CHANNELS:
            return 0
        self.sequences[channel] = sequence
        if previous is None:
            return 0
        jump = sequence - previous
        return jump - 1 if 1 < jump <= MAX_SEQUENCE_JUMP else 0


@dataclass
class _LagStats:
    buckets: list[int] = field(default_factory=lambda: [0] * len(EVENT_LAG_BUCKETS))
    count: int = 0
    total: float = 0.0
    last: float | None = None
    window_count: int = 0
    window_total: float = 0.0

    def add(self, lag: float) -> None:
        if not math.isfinite(lag):
            return
        lag = max(lag, 0.0)
        index = bisect.bisect_left(EVENT_LAG_BUCKETS, lag)
        if index < len(self.buckets):
            self.buckets[index] += 1
        self.count += 1
        self.total += lag
        self.last = lag
        self.window_count += 1
        self.window_total += lag

    def recent(self) -> float | None:
        """Mean lag since the window started, else the last lag seen."""
        if self.window_count:
            return self.window_total / self.window_count
        return self.last

    def new_window(self) -> None:
        self.window_count = 0
        self.window_total = 0.0


class _SameOriginConnect(connect):
    """Follows redirects only within the same scheme, host and port: configured headers may
    carry API keys, and the library would send them on to another host."""

    def process_redirect(self, exc: Exception) -> Exception | str:
        target = super().process_redirect(exc)
        if isinstance(target, str):
            old, new = self.ws_uri, parse_uri(target)
            if (old.secure, old.host, old.port) != (new.secure, new.host, new.port):
                return SecurityError("refusing a redirect to another host")
        return target


class StreamWatcher:
    """Keeps one WebSocket stream open and remembers what it saw (see the module doc)."""

    def __init__(
        self,
        name: str,
        protocol: StreamProtocol,
        *,
        clock: Clock,
        stale_after: float,
        max_message: int,
        connect_timeout: float,
        reconnect_initial: float = 1.0,
        reconnect_max: float = 60.0,
        headers: Mapping[str, str] | None = None,
        max_event_lag: float | None = None,
        on_event: EventCallback | None = None,
    ) -> None:
        self.name = name
        self._protocol = protocol
        self._clock = clock
        self._stale_after = stale_after
        self._max_message = max_message
        self._connect_timeout = connect_timeout
        self._headers = list((headers or {}).items())
        self._max_event_lag = max_event_lag
        self._on_event = on_event
        self.backoff = Backoff(reconnect_initial, reconnect_max)
        self._task: asyncio.Task[None] | None = None
        self._attempted = asyncio.Event()
        self._session: _Session | None = None
        self._failure: Verdict = (Reason.ERROR, NOT_CONNECTED_YET)
        self._retry_after: float | None = None
        self._messages_total = 0
        self._messages_in_window = 0
        self._last_data_at: float | None = None
        self._lag = _LagStats()
        self._reconnects: Counter[str] = Counter()
        self._connect_seconds: float | None = None
        self._first_message_seconds: float | None = None
        self._sequence_gaps = 0
        self._last_complaint = -math.inf

    # -- public API ----------------------------------------------------------------------

    async def start(self) -> None:
        """Start connecting in a background task; returns at once."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"stream:{self.name}")

    async def close(self) -> None:
        """Stop reconnecting and close the socket (within about CLOSE_TIMEOUT)."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.wait([task])
        self._session = None

    async def wait_first_attempt(self, timeout: float) -> bool:
        """Wait (at most `timeout` seconds) until the first connect attempt has ended, in a
        connection or a failure. True if it has; False at once if never started."""
        if self._task is not None and not self._attempted.is_set():
            try:
                async with asyncio.timeout(timeout):
                    await self._attempted.wait()
            except TimeoutError:
                pass
        return self._attempted.is_set()

    def snapshot(self) -> StreamSnapshot:
        """Reason, detail and stats now; starts a new window of message counts and lags."""
        now = self._clock.monotonic()
        reason, detail = self._verdict(now)
        session = self._session
        if session is not None and session.venue_error:
            detail = "; ".join(filter(None, [detail, f"venue error: {session.venue_error}"]))
        stats = StreamStats(
            connected=session is not None,
            messages_total=self._messages_total,
            messages_in_window=self._messages_in_window,
            last_message_age=None if self._last_data_at is None else now - self._last_data_at,
            event_lag_last=self._lag.last,
            event_lag_buckets=tuple(self._lag.buckets),
            event_lag_count=self._lag.count,
            event_lag_sum=self._lag.total,
            reconnects=dict(self._reconnects),
            connect_seconds=self._connect_seconds,
            first_message_seconds=self._first_message_seconds,
            sequence_gaps=self._sequence_gaps,
        )
        self._messages_in_window = 0
        self._lag.new_window()
        return StreamSnapshot(reason, scrub(detail)[:MAX_DETAIL], stats)

    # -- the verdict -----------------------------------------------------------------------

    def _verdict(self, now: float) -> Verdict:
        session = self._session
        if session is None:
            return self._failure
        ending = session.ending(self._max_message)
        if ending is not None:
            why, detail = ending
            return _DISCONNECT_REASONS.get(why, Reason.ERROR), f"closing: {detail}"
        silence = now - session.silent_since
        if silence >= self._stale_after:
            if session.last_data_at is None:
                return Reason.STALE, f"no message in {silence:.1f} s since connecting"
            return Reason.STALE, f"no message for {silence:.1f} s"
        lag = self._lag.recent()
        if self._max_event_lag is not None and lag is not None and lag > self._max_event_lag:
            return Reason.DEGRADED, f"event lag {lag:.3f} s over {self._max_event_lag:g} s"
        return Reason.OK, ""

    # -- the connection loop ---------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                healthy = await self._connect_and_watch()
            except Exception as exc:  # a bug in protocol code must not end the stream
                log.warning("stream loop error", target=self.name, error=short_text(repr(exc)))
                self._failure = (Reason.ERROR, f"internal error: {short_text(repr(exc))}")
                self._reconnects[DisconnectReason.ERROR.value] += 1
                healthy = False
            finally:
                self._session = None
                self._attempted.set()
            if healthy:
                self.backoff.reset()
            delay = self.backoff.next_delay()
            if self._retry_after is not None:
                delay = max(delay, min(self._retry_after, self.backoff.maximum))
                self._retry_after = None
            await self._clock.sleep_until(self._clock.monotonic() + delay)

    async def _connect_and_watch(self) -> bool:
        """One connection from dial to disconnect; True if it was healthy."""
        ws = await self._connect()
        if ws is None:
            return False
        now = self._clock.monotonic()
        session = _Session(opened_at=now, subscribed_at=now, keepalive=self._protocol.keepalive,
                           connection=ws)
        self._session = session
        self._attempted.set()
        try:
            why, detail = await self._subscribe_and_watch(ws, session)
        finally:
            await _close_quietly(ws)
        self._session = None
        self._disconnected(why, detail)
        lived = self._clock.monotonic() - session.opened_at
        return session.last_data_at is not None and lived >= min(
            self._stale_after, HEALTHY_AFTER_CAP)

    async def _connect(self) -> _StampedConnection | None:
        dial = _Dial(self._clock.wall)
        token = _DIAL.set(dial)
        try:
            async with asyncio.timeout(self._connect_timeout):
                url = await self._protocol.endpoint()
                started = self._clock.monotonic()
                ws = await _SameOriginConnect(
                    url,
                    additional_headers=self._headers,
                    max_size=self._max_message,
                    max_queue=MAX_QUEUE,
                    # No permessage-deflate: its zlib state costs about 190 KiB per stream
                    # (a third of a 2,000-target daemon's heap), inflating costs CPU on the
                    # path whose timing we measure, and every server must serve without it.
                    compression=None,
                    ping_interval=None,
                    open_timeout=None,  # bounded above, together with endpoint()
                    close_timeout=CLOSE_TIMEOUT,
                    proxy=None,
                    create_connection=_StampedConnection,
                )
        except Exception as exc:
            self._connect_failed(exc, dial)
            return None
        finally:
            _DIAL.reset(token)
        self._connect_seconds = self._clock.monotonic() - started
        return cast(_StampedConnection, ws)

    def _connect_failed(self, exc: Exception, dial: _Dial) -> None:
        reason, detail = handshake_failure(
            exc, transport_up=dial.transport_up, timeout=self._connect_timeout)
        self._failure = (reason, f"connect failed: {detail}")
        self._reconnects[DisconnectReason.CONNECT_FAILED.value] += 1
        if isinstance(exc, InvalidStatus):
            header = exc.response.headers.get("Retry-After")
            self._retry_after = parse_retry_after(header, self._clock.wall())
        log.info("stream connect failed", target=self.name, reason=reason.value,
                 detail=scrub(detail))

    def _disconnected(self, why: DisconnectReason, detail: str) -> None:
        self._reconnects[why.value] += 1
        reason = _DISCONNECT_REASONS.get(why, Reason.ERROR)
        self._failure = (reason, f"disconnected: {detail}")
        log.info("stream disconnected", target=self.name, why=why.value, detail=scrub(detail))

    async def _subscribe_and_watch(self, ws: _StampedConnection, session: _Session) -> Disconnect:
        try:
            async with asyncio.timeout(self._connect_timeout):
                for frame in self._protocol.subscribe_frames():
                    await ws.send(frame)
        except ConnectionClosed as exc:
            return disconnect_verdict(exc, self._max_message)
        except TimeoutError:
            return DisconnectReason.ERROR, (
                f"subscribe not sent within {self._connect_timeout:g} s")
        now = self._clock.monotonic()
        session.subscribed_at = now
        if session.keepalive is not None:
            session.next_ping_at = now + session.keepalive.interval
        supervisor = asyncio.create_task(self._supervise(ws, session))
        try:
            closed = await self._receive(ws, session)
        finally:
            supervisor.cancel()
            await asyncio.wait([supervisor])
        return session.verdict or closed

    # -- receiving -------------------------------------------------------------------------

    async def _receive(self, ws: _StampedConnection, session: _Session) -> Disconnect:
        handled = 0
        while True:
            try:
                frame = await ws.recv()
            except ConnectionClosed as exc:
                return disconnect_verdict(exc, self._max_message)
            self._on_frame(frame, ws.arrival_of_next(), session)
            handled += 1
            if handled % YIELD_EVERY == 0:
                await asyncio.sleep(0)

    def _on_frame(self, frame: str | bytes, arrived: float, session: _Session) -> None:
        event = self._classify(frame)
        keepalive = session.keepalive
        if keepalive is not None and (event.kind is EventKind.PONG or keepalive.any_frame_answers):
            session.pong_deadline = None
        if event.kind is EventKind.DATA:
            self._on_data(event, arrived, session)
        elif event.kind is EventKind.ERROR:
            session.venue_error = short_text(event.detail) or "unspecified"

    def _classify(self, frame: str | bytes) -> StreamEvent:
        try:
            return self._protocol.classify(frame)
        except Exception as exc:
            self._complain("classify raised", exc)
            return _IGNORE

    def _on_data(self, event: StreamEvent, arrived: float, session: _Session) -> None:
        now = self._clock.monotonic()
        if session.last_data_at is None:
            self._first_message_seconds = now - session.subscribed_at
        session.last_data_at = self._last_data_at = now
        self._messages_total += 1
        self._messages_in_window += 1
        if event.event_time is not None:
            self._lag.add(arrived - event.event_time)
        if event.sequence is not None:
            self._sequence_gaps += session.sequence_gap(event.channel, event.sequence)
        if self._on_event is not None:
            try:
                self._on_event(event)
            except Exception as exc:
                self._complain("on_event raised", exc)

    def _complain(self, what: str, exc: Exception) -> None:
        now = self._clock.monotonic()
        if now - self._last_complaint >= LOG_EVERY:
            self._last_complaint = now
            log.debug(what, target=self.name, error=short_text(repr(exc)))

    # -- keepalive and staleness -----------------------------------------------------------

    async def _supervise(self, ws: _StampedConnection, session: _Session) -> None:
        """Sends keepalives and closes the connection when it is overdue."""
        try:
            while True:
                now = self._clock.monotonic()
                overdue = self._overdue(session, now)
                if overdue is not None:
                    session.verdict = overdue
                    await _close_quietly(ws, overdue[0].value)
                    return
                if session.keepalive is not None and now >= session.next_ping_at:
                    await self._send_keepalive(ws, session, session.keepalive, now)
                await self._clock.sleep_until(self._next_check(session))
        except ConnectionClosed:
            return

    def _overdue(self, session: _Session, now: float) -> Disconnect | None:
        if session.pong_deadline is not None and now >= session.pong_deadline:
            assert session.keepalive is not None
            return DisconnectReason.KEEPALIVE_TIMEOUT, (
                f"no pong within {session.keepalive.timeout:g} s")
        silence = now - session.silent_since
        if silence >= self._stale_after * STALE_CLOSE_FACTOR:
            return DisconnectReason.STALE, f"no message for {silence:.1f} s"
        return None

    async def _send_keepalive(self, ws: _StampedConnection, session: _Session,
                              keepalive: Keepalive, now: float) -> None:
        session.next_ping_at = now + keepalive.interval
        if session.pong_deadline is None:
            session.pong_deadline = now + keepalive.timeout
        try:
            async with self._clock.timeout_at(session.pong_deadline):
                await ws.send(keepalive.frame)
        except TimeoutError:
            pass  # a send stuck on a full buffer: the pong deadline has passed, see _overdue

    def _next_check(self, session: _Session) -> float:
        deadlines = [session.silent_since + self._stale_after * STALE_CLOSE_FACTOR,
                     session.next_ping_at]
        if session.pong_deadline is not None:
            deadlines.append(session.pong_deadline)
        return min(deadlines)


async def _close_quietly(ws: ClientConnection, reason: str = "") -> None:
    try:
        async with asyncio.timeout(CLOSE_TIMEOUT):
            await ws.close(CloseCode.NORMAL_CLOSURE, reason)
    except (TimeoutError, OSError):
        pass
    finally:
        if ws.transport is not None and not ws.transport.is_closing():
            ws.transport.abort()


def describe_close(close: Close) -> str:
    """'1008 policy violation: bad key' (reason scrubbed and shortened)."""
    if 3000 <= close.code < 4000:
        meaning = "registered"
    elif 4000 <= close.code < 5000:
        meaning = "private use"
    else:
        meaning = CLOSE_CODE_EXPLANATIONS.get(close.code, "unknown")
    reason = short_text(close.reason)
    return f"{close.code} {meaning}: {reason}" if reason else f"{close.code} {meaning}"


def disconnect_verdict(exc: ConnectionClosed, max_message: int) -> Disconnect:
    """Why the library reports the connection closed."""
    received, sent = exc.rcvd, exc.sent
    if sent is not None and sent.code == CloseCode.MESSAGE_TOO_BIG and not exc.rcvd_then_sent:
        return DisconnectReason.ERROR, f"message larger than {max_message} bytes"
    if received is not None and (sent is None or exc.rcvd_then_sent):
        if received.code in (CloseCode.GOING_AWAY, CloseCode.SERVICE_RESTART):
            return DisconnectReason.SERVER_SHUTDOWN, (
                f"server shutting down ({describe_close(received)})")
        return DisconnectReason.CLOSED_BY_SERVER, f"closed by server ({describe_close(received)})"
    if sent is not None:
        return DisconnectReason.ERROR, f"closed by us ({describe_close(sent)})"
    cause = exc.__cause__
    if cause is None or isinstance(cause, EOFError):
        return DisconnectReason.ERROR, "connection lost without a close frame"
    _, text = classify_exception(cause, connected=True)
    return DisconnectReason.ERROR, f"connection lost: {text}"


def handshake_failure(exc: BaseException, *, transport_up: bool, timeout: float) -> Verdict:
    """The Reason and detail of a failed connect (endpoint, DNS, TCP, TLS or upgrade)."""
    if isinstance(exc, InvalidStatus):
        status = exc.response.status_code
        verdict = status_verdict(status, None) if status >= 400 else None
        return verdict or (Reason.INVALID_RESPONSE, f"HTTP {status} instead of an upgrade")
    if isinstance(exc, TimeoutError):
        if transport_up:
            return Reason.TIMEOUT, f"no WebSocket upgrade within {timeout:g} s"
        return Reason.CONNECT_TIMEOUT, f"connect timed out after {timeout:g} s"
    if isinstance(exc, InvalidURI):
        return Reason.ERROR, "invalid URL"
    if isinstance(exc, SecurityError):
        return Reason.INVALID_RESPONSE, f"refused: {short_text(str(exc))}"
    if isinstance(exc, InvalidHandshake):
        cause = f" ({short_text(str(exc.__cause__))})" if exc.__cause__ is not None else ""
        text = short_text(str(exc))
        return Reason.INVALID_RESPONSE, f"invalid WebSocket handshake: {text}{cause}"
    return classify_exception(exc, connected=transport_up)
