"""The shared vocabulary: failure reasons, target states and the Observation a check returns.

Every other part of outagemon imports from here; nothing else is shared sideways.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Reason(StrEnum):
    """Why a probe ended the way it did. A closed set: it is a metric label."""

    OK = "ok"
    DNS_ERROR = "dns_error"
    CONNECT_REFUSED = "connect_refused"
    CONNECT_TIMEOUT = "connect_timeout"
    TLS_ERROR = "tls_error"
    TIMEOUT = "timeout"
    HTTP_4XX = "http_4xx"
    HTTP_5XX = "http_5xx"
    RATE_LIMITED = "rate_limited"
    GEO_BLOCKED = "geo_blocked"
    MAINTENANCE = "maintenance"
    INVALID_RESPONSE = "invalid_response"
    ASSERTION_FAILED = "assertion_failed"
    RPC_ERROR = "rpc_error"
    STALE = "stale"
    LAGGING = "lagging"
    WRONG_CHAIN = "wrong_chain"
    SYNCING = "syncing"
    DEGRADED = "degraded"
    ERROR = "error"

    @property
    def is_success(self) -> bool:
        """The target answered correctly (possibly slowly)."""
        return self in (Reason.OK, Reason.DEGRADED)


class State(StrEnum):
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    MAINTENANCE = "maintenance"
    UNKNOWN = "unknown"


class Phase(StrEnum):
    """Parts of a request whose duration is measured separately."""

    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TTFB = "ttfb"
    TRANSFER = "transfer"


class Fact:
    """Well-known keys of Observation.facts that other parts (metrics, API) understand."""

    HTTP_STATUS = "http_status"  # int: last HTTP status code
    CERT_EXPIRY = "cert_expiry"  # float: certificate notAfter, unix seconds
    CERT_DAYS_LEFT = "cert_days_left"  # float
    CLOCK_SKEW = "clock_skew"  # float seconds: remote clock minus local clock
    RATE_LIMIT_USED_RATIO = "rate_limit_used_ratio"  # float 0..1
    RETRY_AFTER = "retry_after"  # float seconds the target asked us to wait
    RESOLVED = "resolved"  # list[str]: DNS answers
    PEER = "peer"  # str: address actually connected to
    PRICE = "price"  # float: last traded (or ticker) price seen on an exchange stream
    MAINTENANCE = "maintenance"  # bool: the venue says it is in maintenance
    MARKET = "market"  # str: canonical market (BTC-USDT) of a price check
    PRICES = "prices"  # dict venue -> price: the fresh prices a price check compared
    DEVIATIONS = "deviations"  # dict venue -> signed ratio from its reference
    CHAIN = "chain"  # str: the chain an RPC provider serves (config `chain`)
    HEAD = "head"  # int: head block height (slot on Solana)
    HEAD_TIME = "head_time"  # float: unix seconds the head block was produced
    CHAIN_ID = "chain_id"  # str|int: what the provider says its chain is
    SYNCING = "syncing"  # bool: the node says it is still syncing
    PEERS = "peers"  # int: connected peers, where the chain exposes it
    HEAD_AGE = "head_age"  # float seconds: now minus the head block's time
    LAG_BLOCKS = "lag_blocks"  # int: behind the best provider of the chain
    LAG_SECONDS = "lag_seconds"  # float: head time behind the best provider's head time
    CHAIN_HALTED = "chain_halted"  # bool: every provider of the chain stopped advancing
    HEAD_REWIND = "head_rewind"  # int: blocks the head moved backwards (reorg or rollback)
    INDICATOR = "indicator"  # str: a status page's worst state (none/minor/major/critical/...)
    COMPONENTS = "components"  # dict name -> normalised component status
    INCIDENTS = "incidents"  # list of open incidents (name, impact, status, latest update, url)
    MAINTENANCES = "maintenances"  # list of active and upcoming maintenance windows


# Buckets of outagemon_ws_event_lag_seconds: how far behind the venue's own event time the
# messages arrive. A stream keeps these counts itself; snapshots carry them.
EVENT_LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class DisconnectReason(StrEnum):
    """Why a stream's connection ended (the `reason` label of outagemon_ws_reconnects_total)."""

    CLOSED_BY_SERVER = "closed_by_server"  # a close frame from the server (code in the detail)
    SERVER_SHUTDOWN = "server_shutdown"  # close code 1001 going away / 1012 service restart
    STALE = "stale"  # we closed it: no data for stale_after
    KEEPALIVE_TIMEOUT = "keepalive_timeout"  # no pong to our keepalive in time
    ERROR = "error"  # reset, protocol error, message too big, ...
    CONNECT_FAILED = "connect_failed"  # the (re)connect itself failed


@dataclass(frozen=True, slots=True)
class StreamStats:
    """A snapshot of one long-lived stream, taken when the scheduler asks for an observation.

    Counters are cumulative since the check started (they reset when the target is
    redefined, as Prometheus counters may).
    """

    connected: bool
    messages_total: int  # data messages received
    messages_in_window: int  # data messages since the previous snapshot
    last_message_age: float | None  # seconds since the last data message; None: none yet
    event_lag_last: float | None  # seconds, of the last message carrying an event time
    event_lag_buckets: tuple[int, ...]  # non-cumulative counts per EVENT_LAG_BUCKETS bound
    event_lag_count: int
    event_lag_sum: float
    reconnects: Mapping[str, int]  # DisconnectReason value -> count
    connect_seconds: float | None  # duration of the last successful connect (incl. TLS)
    first_message_seconds: float | None  # subscribe sent -> first data message, last connect
    sequence_gaps: int = 0  # messages the venue numbered that never arrived


@dataclass(frozen=True, slots=True)
class Observation:
    """The immutable result of one probe (or one snapshot of a stream).

    `latency` is None when the target gave no answer at all. `detail` is human text that
    has already been passed through the redactor; it never goes into a metric label.
    """

    target: str
    started_at: float  # wall clock, unix seconds
    reason: Reason
    latency: float | None = None
    detail: str = ""
    phases: Mapping[str, float] = field(default_factory=dict)
    facts: Mapping[str, Any] = field(default_factory=dict)
    stream: StreamStats | None = None
    # Set by the correlate step when the failure is explained by something bigger than this
    # target (its chain halted): health does not count it against the target.
    excused_by: str = ""

    @property
    def success(self) -> bool:
        return self.reason.is_success

    @property
    def retry_after(self) -> float | None:
        value = self.facts.get(Fact.RETRY_AFTER)
        return float(value) if value is not None else None
