"""`exchange`: a built-in venue adapter: REST health (ping, server time, system status, rate
limits, venue errors) plus the venue's WebSocket stream of trades for one market."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckEnv, register
from checks.exchanges.base import Market, adapters
from checks.websocket import Reconnect
from monitor.redact import SecretURL
from monitor.schema import ByteSize, PositiveDuration, TargetBase


class ExchangeTarget(TargetBase):
    kind: Literal["exchange"]
    exchange: str
    market: str
    rest_url: SecretURL | None = None  # override: a proxy, a mirror or a test server
    ws_url: SecretURL | None = None
    streams: bool = True  # false: REST only
    stale_after: PositiveDuration = 60.0
    max_event_lag: PositiveDuration | None = 2.0  # slower stream: degraded
    max_latency: PositiveDuration | None = None  # slower REST: degraded
    max_clock_skew: PositiveDuration = 1.0  # larger skew: degraded
    rate_limit_warn: Annotated[float, Field(gt=0, le=1)] = 0.8  # more used: degraded
    max_body: ByteSize = 1024 * 1024
    max_message: ByteSize = 1024 * 1024
    reconnect: Reconnect = Field(default_factory=Reconnect)

    @property
    def is_stream(self) -> bool:
        return self.streams

    @property
    def canonical_market(self) -> str:
        return str(Market.parse(self.market))

    @field_validator("exchange")
    @classmethod
    def _known_exchange(cls, value: str) -> str:
        known = adapters()
        if value not in known:
            raise ValueError(f"unknown exchange {value!r} (known: {', '.join(sorted(known))})")
        return value

    @field_validator("market")
    @classmethod
    def _market(cls, value: str) -> str:
        return str(Market.parse(value))


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("exchange", ExchangeTarget, build)
