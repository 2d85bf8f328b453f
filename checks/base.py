"""The check protocol and the registry of kinds.

A check is built once per target definition and asked for an Observation every interval.
A *probe* does its work inside `probe()`; a *stream* keeps a connection open from `start()`
on and `probe()` returns a snapshot of what it saw. Checks know nothing of metrics, alerts
or storage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from monitor.clock import Clock, RealClock
from monitor.observation import Observation
from monitor.prices import PriceBoard
from monitor.schema import TargetBase

DEFAULT_MAX_BODY = 1024 * 1024


@dataclass(frozen=True)
class CheckEnv:
    """What the daemon lends to every check."""

    clock: Clock = field(default_factory=RealClock)
    user_agent: str = "outagemon"
    vantage: str = "default"
    prices: PriceBoard = field(default_factory=PriceBoard)


class Check(Protocol):
    @property
    def target(self) -> TargetBase:
        """The definition this check was built from."""

    async def start(self) -> None:
        """Open long-lived resources (streams). A no-op for probes."""

    async def probe(self) -> Observation:
        """One observation. Must not raise: every failure is a Reason."""

    async def close(self) -> None:
        """Release everything `start()` or `probe()` opened."""


CheckFactory = Callable[[TargetBase, CheckEnv], Check]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    model: type[TargetBase]
    build: CheckFactory


KINDS: dict[str, KindSpec] = {}


def register(kind: str, model: type[TargetBase], build: CheckFactory) -> None:
    if kind in KINDS:
        raise RuntimeError(f"kind {kind!r} registered twice")
    KINDS[kind] = KindSpec(kind, model, build)


class ProbeOnly:
    """Mixin for checks that keep nothing open between probes."""

    async def start(self) -> None:
        return None

    async def close(self) -> None:
        return None
