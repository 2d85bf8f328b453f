"""`websocket`: one long-lived connection; message age and rate, event lag, reconnects.

Frames are read as JSON when they parse (else as text). A frame that matches `ping.expect`
is the keepalive's pong; every other frame is a data message, with the event time found at
`event_time.path` when it is there and readable. A timestamp that does not parse, or is not a
plausible unix time (see PLAUSIBLE_EVENT_TIME; usually a wrong `unit`), leaves the message
without event time rather than inventing a lag.

The check connects with the target's `timeout` as connect timeout (DEFAULT_CONNECT_TIMEOUT
before the loader fills it in). A probe waits for the first connect attempt to end (at most
that timeout), then reports the stream's snapshot; `latency` is the duration of the current
connection's connect, None while disconnected.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import Field

from checks import jsonpath
from checks.base import CheckEnv, register
from checks.stream import EventKind, Keepalive, StreamEvent, StreamWatcher
from monitor.observation import Observation
from monitor.schema import ByteSize, PositiveDuration, SecretHeaders, Strict, TargetBase, WsURL

TimeUnit = Literal["s", "ms", "us", "ns", "rfc3339"]
Frame = str | dict[str, Any] | list[Any]  # dicts and lists are sent as JSON


class EventTime(Strict):
    path: str = Field(min_length=1)  # dotted JSON path to the venue's event timestamp
    unit: TimeUnit = "ms"


class WsPing(Strict):
    interval: PositiveDuration = 20.0
    message: Frame = "ping"
    # The answer that counts as a pong: equal text, or a JSON object containing these keys
    # and values. None: any message within `timeout` will do.
    expect: Frame | None = "pong"
    timeout: PositiveDuration = 10.0


class Reconnect(Strict):
    initial: PositiveDuration = 1.0
    max: PositiveDuration = 60.0


class WebSocketTarget(TargetBase):
    kind: Literal["websocket"]
    url: WsURL
    headers: SecretHeaders = Field(default_factory=dict)
    subscribe: list[Frame] = Field(default_factory=list)
    ping: WsPing | None = None
    event_time: EventTime | None = None
    stale_after: PositiveDuration = 60.0
    max_event_lag: PositiveDuration | None = None  # slower: degraded
    max_message: ByteSize = 1024 * 1024
    reconnect: Reconnect = Field(default_factory=Reconnect)

    @property
    def is_stream(self) -> bool:
        return True




DEFAULT_CONNECT_TIMEOUT = 10.0
PLAUSIBLE_EVENT_TIME = (1.0, 1e11)  # unix seconds, exclusive: 1970 to the year 5138
MAX_TIMESTAMP_TEXT = 64
_DIVISORS: Mapping[str, float] = {"s": 1.0, "ms": 1e3, "us": 1e6, "ns": 1e9}
_PONG = StreamEvent(EventKind.PONG)
_NOT_JSON = object()


def frame_text(frame: Frame) -> str:
    """A configured frame as sent: text as is, dicts and lists as compact JSON."""
    return frame if isinstance(frame, str) else orjson.dumps(frame).decode()


def parse_event_time(value: Any, unit: TimeUnit) -> float | None:
    """`value` as unix seconds, or None when it is not a plausible timestamp in `unit`."""
    if unit == "rfc3339":
        seconds = _rfc3339_seconds(value)
    else:
        number = jsonpath.to_number(value)
        try:
            seconds = None if number is None else number / _DIVISORS[unit]
        except OverflowError:  # an integer too large for a float
            return None
    if seconds is None or not math.isfinite(seconds):
        return None
    low, high = PLAUSIBLE_EVENT_TIME
    return seconds if low < seconds < high else None


def _rfc3339_seconds(value: Any) -> float | None:
    if not isinstance(value, str) or len(value) > MAX_TIMESTAMP_TEXT:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().upper())
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _same(expected: Any, actual: Any) -> bool:
    """JSON equality: booleans are not numbers."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return type(expected) is type(actual) and expected == actual
    return bool(expected == actual)


def _parse(frame: str | bytes) -> Any:
    try:
        return orjson.loads(frame)
    except orjson.JSONDecodeError:  # also invalid UTF-8 and nesting beyond orjson's limit
        return _NOT_JSON


def _text(frame: str | bytes) -> str | None:
    if isinstance(frame, str):
        return frame
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return None


class WebSocketProtocol:
    """The StreamProtocol of a `websocket` target."""

    def __init__(self, target: WebSocketTarget) -> None:
        self._url = target.url
        self._subscribe = [frame_text(frame) for frame in target.subscribe]
        self._ping = target.ping
        self._event_time = target.event_time
        self._keepalive = None if target.ping is None else Keepalive(
            interval=target.ping.interval,
            frame=frame_text(target.ping.message),
            timeout=target.ping.timeout,
            any_frame_answers=target.ping.expect is None,
        )

    async def endpoint(self) -> str:
        return self._url.reveal()

    def subscribe_frames(self) -> Sequence[str]:
        return self._subscribe

    @property
    def keepalive(self) -> Keepalive | None:
        return self._keepalive

    def classify(self, frame: str | bytes) -> StreamEvent:
        document = _parse(frame) if self._needs_json else _NOT_JSON
        if self._is_pong(frame, document):
            return _PONG
        return StreamEvent(EventKind.DATA, event_time=self._event_time_of(document))

    @property
    def _needs_json(self) -> bool:
        expect = None if self._ping is None else self._ping.expect
        return self._event_time is not None or isinstance(expect, dict | list)

    def _is_pong(self, frame: str | bytes, document: Any) -> bool:
        expect = None if self._ping is None else self._ping.expect
        if expect is None:  # no pong rule, or any frame answers (see Keepalive)
            return False
        if isinstance(expect, str):
            return _text(frame) == expect
        if isinstance(expect, dict):
            return isinstance(document, dict) and all(
                key in document and _same(value, document[key]) for key, value in expect.items()
            )
        return document is not _NOT_JSON and _same(expect, document)

    def _event_time_of(self, document: Any) -> float | None:
        if self._event_time is None or document is _NOT_JSON:
            return None
        value = jsonpath.resolve(document, self._event_time.path)
        if value is jsonpath.MISSING:
            return None
        return parse_event_time(value, self._event_time.unit)


def request_headers(user_agent: str, configured: Mapping[str, str]) -> dict[str, str]:
    """The configured headers, plus our User-Agent unless they set one."""
    if any(name.lower() == "user-agent" for name in configured):
        return dict(configured)
    return {"User-Agent": user_agent, **configured}


class WebSocketCheck:
    def __init__(self, target: WebSocketTarget, env: CheckEnv) -> None:
        self._target = target
        self._clock = env.clock
        self._connect_timeout = target.timeout or DEFAULT_CONNECT_TIMEOUT
        self._watcher = StreamWatcher(
            target.name,
            WebSocketProtocol(target),
            clock=env.clock,
            stale_after=target.stale_after,
            max_message=target.max_message,
            connect_timeout=self._connect_timeout,
            reconnect_initial=target.reconnect.initial,
            reconnect_max=target.reconnect.max,
            headers=request_headers(env.user_agent, target.headers),
            max_event_lag=target.max_event_lag,
        )

    @property
    def target(self) -> WebSocketTarget:
        return self._target

    async def start(self) -> None:
        await self._watcher.start()

    async def probe(self) -> Observation:
        started_at = self._clock.wall()
        await self._watcher.wait_first_attempt(self._connect_timeout)
        snapshot = self._watcher.snapshot()
        stats = snapshot.stats
        return Observation(
            target=self._target.name,
            started_at=started_at,
            reason=snapshot.reason,
            latency=stats.connect_seconds if stats.connected else None,
            detail=snapshot.detail,
            stream=stats,
            facts={},
        )

    async def close(self) -> None:
        await self._watcher.close()


def build(target: TargetBase, env: CheckEnv) -> WebSocketCheck:
    if not isinstance(target, WebSocketTarget):
        raise TypeError(f"websocket check built for a {type(target).__name__}")
    return WebSocketCheck(target, env)


register("websocket", WebSocketTarget, build)
