"""The faults a simulated venue, RPC provider or chain can be told to have: their names,
parameters and bookkeeping.

A fault is active from injection until it is cleared, explicitly or when its duration ends.
Each venue, provider and chain keeps its own FaultBook; nothing here touches the network.
Which faults apply where: VENUE_KINDS, PROVIDER_KINDS, CHAIN_KINDS, PAGE_KINDS (status
pages: `incident` and `maintenance` with their own params, see SCOPED_PARAMS); what one
vantage point sees of a name: DNS_KINDS and VANTAGE_KINDS, kept in books of the world's DNS
and of each vantage (monitor/simulate/vantage.py).
"""

from __future__ import annotations

import asyncio
import ipaddress
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError, field_validator

from monitor.simulate.market import check_market

MIB = 1024 * 1024

GARBAGE_BODY = b"\x00\xffnot json<html>"


class FaultKind(StrEnum):
    LATENCY = "latency"
    HTTP_5XX = "http_5xx"
    RATE_LIMIT = "rate_limit"
    GEO_BLOCK = "geo_block"
    RESET = "reset"
    HANG = "hang"
    STALL_STREAM = "stall_stream"
    GARBAGE = "garbage"
    OVERSIZED = "oversized"
    MAINTENANCE = "maintenance"
    PRICE_OFFSET = "price_offset"
    # RPC providers (monitor/simulate/chains)
    FREEZE = "freeze"
    LAG = "lag"
    REWIND = "rewind"
    WRONG_CHAIN = "wrong_chain"
    RPC_ERROR = "rpc_error"
    SYNCING = "syncing"
    # chains
    HALT = "halt"
    # status pages (monitor/simulate/status)
    INCIDENT = "incident"
    # what one vantage point sees of a name: its DNS answers (monitor/simulate/dns.py) and
    # the network path to it (monitor/simulate/vantage.py)
    DNS_NXDOMAIN = "dns_nxdomain"
    DNS_SERVFAIL = "dns_servfail"
    DNS_TIMEOUT = "dns_timeout"
    DNS_EMPTY = "dns_empty"
    DNS_POISON = "dns_poison"
    BLACKHOLE = "blackhole"


VENUE_KINDS = frozenset({
    FaultKind.LATENCY, FaultKind.HTTP_5XX, FaultKind.RATE_LIMIT, FaultKind.GEO_BLOCK,
    FaultKind.RESET, FaultKind.HANG, FaultKind.STALL_STREAM, FaultKind.GARBAGE,
    FaultKind.OVERSIZED, FaultKind.MAINTENANCE, FaultKind.PRICE_OFFSET,
})
PROVIDER_KINDS = frozenset({
    FaultKind.LATENCY, FaultKind.HTTP_5XX, FaultKind.RATE_LIMIT, FaultKind.RESET,
    FaultKind.HANG, FaultKind.STALL_STREAM, FaultKind.GARBAGE, FaultKind.OVERSIZED,
    FaultKind.FREEZE, FaultKind.LAG, FaultKind.REWIND, FaultKind.WRONG_CHAIN,
    FaultKind.RPC_ERROR, FaultKind.SYNCING,
})
CHAIN_KINDS = frozenset({FaultKind.HALT, FaultKind.SYNCING})
PAGE_KINDS = frozenset({
    FaultKind.LATENCY, FaultKind.HTTP_5XX, FaultKind.RATE_LIMIT, FaultKind.RESET,
    FaultKind.HANG, FaultKind.GARBAGE, FaultKind.OVERSIZED, FaultKind.INCIDENT,
    FaultKind.MAINTENANCE,
})
# A name's DNS answers, from every vantage point or (with a vantage) from one.
DNS_KINDS = frozenset({
    FaultKind.DNS_NXDOMAIN, FaultKind.DNS_SERVFAIL, FaultKind.DNS_TIMEOUT,
    FaultKind.DNS_EMPTY, FaultKind.DNS_POISON,
})
# Faults scoped to one vantage point: its DNS answers, its network path (blackhole: connect
# timeouts) and a venue's geo-fence in front of it (geo_block: 451 to that vantage only).
VANTAGE_KINDS = DNS_KINDS | {FaultKind.BLACKHOLE, FaultKind.GEO_BLOCK}
# Faults on the whole venue, provider or chain: they take no `path`.
WHOLE_KINDS = frozenset({
    FaultKind.PRICE_OFFSET, FaultKind.FREEZE, FaultKind.LAG, FaultKind.REWIND,
    FaultKind.WRONG_CHAIN, FaultKind.SYNCING, FaultKind.HALT, FaultKind.INCIDENT,
    *DNS_KINDS, FaultKind.BLACKHOLE,
})


# Faults that replace the answer to a REST request (or a WebSocket handshake). The others
# modify it: latency delays it, maintenance changes the status answer (or, on a venue with no
# status endpoint, answers every request with the venue's maintenance error), stall_stream
# only silences open streams, price_offset shifts the venue's prices.
ANSWERING_KINDS = frozenset({
    FaultKind.HTTP_5XX, FaultKind.RATE_LIMIT, FaultKind.GEO_BLOCK, FaultKind.RESET,
    FaultKind.HANG, FaultKind.GARBAGE, FaultKind.OVERSIZED,
})


class FaultError(ValueError):
    """An injection that cannot be honoured: unknown venue, provider, chain, fault, parameter
    or value."""


class NoParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LatencyParams(NoParams):
    ms: float = Field(default=500.0, ge=0, le=600_000)


class Http5xxParams(NoParams):
    status: int = Field(default=503, ge=500, le=599)
    body: str | None = Field(default=None, description="sent as is; None: the venue's own "
                             "overloaded answer")
    content_type: str = "application/json"


class RateLimitParams(NoParams):
    retry_after: int = Field(default=5, ge=0, le=86_400)
    status: Literal[429, 418] = 429


class PriceOffsetParams(NoParams):
    ratio: float = Field(gt=-1, le=10, description="relative shift, -0.35: 35 % lower")
    market: str | None = Field(default=None, description="BASE-QUOTE; None: every market")

    @field_validator("market")
    @classmethod
    def _listed(cls, value: str | None) -> str | None:
        return None if value is None else check_market(value)


class OversizedParams(NoParams):
    size: int = Field(default=5 * MIB, ge=1, le=1024 * MIB, description="body size in bytes")
    declare_length: bool = Field(default=True, description="send Content-Length, else chunked")


class BlocksParams(NoParams):
    blocks: int = Field(default=10, ge=1, le=1_000_000)


class RewindParams(NoParams):
    blocks: int = Field(default=5, ge=1, le=1_000_000)


class WrongChainParams(NoParams):
    chain_id: int | str | None = Field(
        default=None, description="what the provider reports: an EVM chain id, a Solana "
        "genesis hash, a Bitcoin network, a Cosmos chain id; None: another chain's")


class RpcErrorParams(NoParams):
    code: int = Field(default=-32603, ge=-(2**31), le=2**31 - 1)
    message: str = Field(default="internal error", max_length=1000)
    data: JsonValue = None
    method: str | None = Field(default=None, description="only this method; None: all")


class SyncingParams(NoParams):
    behind: int = Field(default=100, ge=1, le=1_000_000, description="blocks behind the tip")


Impact = Literal["minor", "major", "critical"]


class IncidentParams(NoParams):
    """An incident on a status page. Injecting the name of an open incident again adds an
    update to it (the newest injection's impact and quirk win); it resolves when no fault of
    its name is left."""

    impact: Impact = "minor"
    name: str = Field(default="Elevated error rates", min_length=1, max_length=200)
    components: tuple[str, ...] | None = Field(default=None, description="affected "
                                               "components; None: the page's first one")
    update: str = Field(default="We are investigating this issue.", max_length=1000)
    indicator_lags: bool = Field(default=False, description="the page's top indicator stays "
                                 "`none` while this incident is open (a Statuspage quirk)")


class DnsPoisonParams(NoParams):
    address: str = Field(default="198.51.100.7", description="the wrong IPv4 address the "
                         "name resolves to")

    @field_validator("address")
    @classmethod
    def _ipv4(cls, value: str) -> str:
        return str(ipaddress.IPv4Address(value))


class PageMaintenanceParams(NoParams):
    """A maintenance window on a status page: in progress (`active`) or announced."""

    active: bool = True
    name: str = Field(default="Scheduled maintenance", min_length=1, max_length=200)
    components: tuple[str, ...] | None = Field(default=None, description="None: all")


PARAMS: Mapping[FaultKind, type[NoParams]] = {
    FaultKind.LATENCY: LatencyParams,
    FaultKind.HTTP_5XX: Http5xxParams,
    FaultKind.RATE_LIMIT: RateLimitParams,
    FaultKind.GEO_BLOCK: NoParams,
    FaultKind.RESET: NoParams,
    FaultKind.HANG: NoParams,
    FaultKind.STALL_STREAM: NoParams,
    FaultKind.GARBAGE: NoParams,
    FaultKind.OVERSIZED: OversizedParams,
    FaultKind.MAINTENANCE: NoParams,
    FaultKind.PRICE_OFFSET: PriceOffsetParams,
    FaultKind.FREEZE: NoParams,
    FaultKind.LAG: BlocksParams,
    FaultKind.REWIND: RewindParams,
    FaultKind.WRONG_CHAIN: WrongChainParams,
    FaultKind.RPC_ERROR: RpcErrorParams,
    FaultKind.SYNCING: SyncingParams,
    FaultKind.HALT: NoParams,
    FaultKind.INCIDENT: IncidentParams,
    FaultKind.DNS_NXDOMAIN: NoParams,
    FaultKind.DNS_SERVFAIL: NoParams,
    FaultKind.DNS_TIMEOUT: NoParams,
    FaultKind.DNS_EMPTY: NoParams,
    FaultKind.DNS_POISON: DnsPoisonParams,
    FaultKind.BLACKHOLE: NoParams,
}
# Parameters that differ by what has the fault: (scope, kind) -> model.
SCOPED_PARAMS: Mapping[tuple[str, FaultKind], type[NoParams]] = {
    ("page", FaultKind.MAINTENANCE): PageMaintenanceParams,
}


def parse_kind(name: str) -> FaultKind:
    try:
        return FaultKind(name)
    except ValueError:
        known = ", ".join(kind.value for kind in FaultKind)
        raise FaultError(f"unknown fault {name!r}; known faults: {known}") from None


def parse_params(kind: FaultKind, params: Mapping[str, Any], scope: str = "venue") -> NoParams:
    model = SCOPED_PARAMS.get((scope, kind), PARAMS[kind])
    try:
        return model.model_validate(dict(params))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or 'params'}: {error['msg']}"
            for error in exc.errors()
        )
        raise FaultError(f"invalid params for {kind.value}: {problems}") from None


def parse_path(path: str | None) -> str | None:
    if path is None or path in ("", "/"):
        return None
    if not path.startswith("/"):
        raise FaultError(f"path {path!r} must start with '/'")
    return path.rstrip("/")


def parse_duration(duration: float | None) -> float | None:
    if duration is None:
        return None
    if not duration > 0:
        raise FaultError(f"duration must be positive seconds, got {duration!r}")
    return float(duration)


@dataclass(eq=False)
class Fault:
    venue: str  # the name of what has the fault: a venue, a provider or a chain
    kind: FaultKind
    params: NoParams
    path: str | None  # None: every path; else this path and everything below it
    duration: float | None
    scope: str = "venue"  # "venue", "provider", "chain" or "page": the key of the name in to_json
    vantage: str | None = None  # seen from this vantage point only; None: from every one
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    started_at: float = field(default_factory=time.time)
    # Set when the fault ends, so that requests held by a "hang" are let go.
    ended: asyncio.Event = field(default_factory=asyncio.Event)

    def applies_to(self, path: str) -> bool:
        if self.path is None:
            return True
        return path == self.path or path.startswith(self.path + "/")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            self.scope: self.venue,
            "fault": self.kind.value,
            "params": self.params.model_dump(),
            "path": self.path,
            "duration_s": self.duration,
            "vantage": self.vantage,
            "started_at": self.started_at,
            "expires_at": None if self.duration is None else self.started_at + self.duration,
        }


class FaultBook:
    """The active faults of one venue (provider, chain), in injection order; expiring ones end
    themselves."""

    def __init__(self, venue: str, scope: str = "venue", vantage: str | None = None) -> None:
        self.venue = venue
        self.scope = scope
        self.vantage = vantage  # the book of what one vantage point sees of `venue`
        self._faults: dict[str, Fault] = {}
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._listeners: list[Callable[[], None]] = []

    def __iter__(self) -> Iterator[Fault]:
        return iter(list(self._faults.values()))

    def on_change(self, listener: Callable[[], None]) -> None:
        """Call `listener` whenever a fault starts or ends."""
        self._listeners.append(listener)

    def add(self, kind: FaultKind, params: NoParams, *, path: str | None = None,
            duration: float | None = None) -> Fault:
        fault = Fault(self.venue, kind, params, path, duration, self.scope, self.vantage)
        self._faults[fault.id] = fault
        if duration is not None:
            loop = asyncio.get_running_loop()
            self._timers[fault.id] = loop.call_later(duration, self.remove, fault.id)
        self._changed()
        return fault

    def remove(self, fault_id: str) -> bool:
        fault = self._faults.pop(fault_id, None)
        if fault is None:
            return False
        timer = self._timers.pop(fault_id, None)
        if timer is not None:
            timer.cancel()
        fault.ended.set()
        self._changed()
        return True

    def clear(self) -> int:
        ids = list(self._faults)
        for fault_id in ids:
            self.remove(fault_id)
        return len(ids)

    def matching(self, path: str) -> list[Fault]:
        return [fault for fault in self._faults.values() if fault.applies_to(path)]

    def active(self, kind: FaultKind, path: str) -> Fault | None:
        """The most recent fault of `kind` that applies to `path`."""
        found = [fault for fault in self.matching(path) if fault.kind is kind]
        return found[-1] if found else None

    def latest(self, kind: FaultKind) -> Fault | None:
        """The most recent fault of `kind`, whatever its path."""
        found = [fault for fault in self._faults.values() if fault.kind is kind]
        return found[-1] if found else None

    def answering(self, path: str) -> Fault | None:
        """The most recent fault that replaces the answer for `path`."""
        found = [fault for fault in self.matching(path) if fault.kind in ANSWERING_KINDS]
        return found[-1] if found else None

    def delay(self, path: str) -> float:
        """Seconds of injected latency for `path` (latency faults add up)."""
        return sum(
            fault.params.ms / 1000.0
            for fault in self.matching(path)
            if isinstance(fault.params, LatencyParams)
        )

    def price_offset(self, market: str) -> float:
        """The relative shift of `market`'s prices (price_offset faults multiply)."""
        factor = 1.0
        for fault in self._faults.values():
            params = fault.params
            if isinstance(params, PriceOffsetParams) and params.market in (None, market):
                factor *= 1.0 + params.ratio
        return factor - 1.0

    def _changed(self) -> None:
        for listener in self._listeners:
            listener()
