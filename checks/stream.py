"""Long-lived WebSocket streams: the shared machinery of the `websocket` and `exchange` kinds.

A StreamProtocol says how to talk to one stream (where to connect, what to subscribe, how to
keep the connection alive, what each frame means). A StreamWatcher keeps one connection open
with it: it connects, subscribes, keeps alive, reconnects with back-off, records why every
disconnect happened, and on request returns a snapshot (see `StreamSnapshot`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from monitor.observation import Reason, StreamStats


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
    `classify` tells) within `timeout` of sending, the connection is considered dead."""

    interval: float
    frame: str
    timeout: float = 10.0


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
