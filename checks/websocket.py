"""`websocket`: one long-lived connection; message age and rate, event lag, reconnects."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckEnv, register
from monitor.redact import SECRETS, SecretURL
from monitor.schema import ByteSize, PositiveDuration, Strict, TargetBase

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
    url: SecretURL
    headers: dict[str, str] = Field(default_factory=dict)
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

    @field_validator("url")
    @classmethod
    def _ws_scheme(cls, value: SecretURL) -> SecretURL:
        if value.scheme not in ("ws", "wss"):
            raise ValueError(f"url must be ws:// or wss:// (got {value.redacted})")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_secret(cls, value: dict[str, str]) -> dict[str, str]:
        SECRETS.add(value.values())
        return value


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("websocket", WebSocketTarget, build)
