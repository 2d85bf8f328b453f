"""What every notifier implements, and what a delivery attempt reports."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import aiohttp

from monitor.alerting import Notification
from monitor.settings import Config
from monitor.settings import Notifier as NotifierConfig


@dataclass(frozen=True, slots=True)
class Delivery:
    """The outcome of one attempt. `permanent` failures are not retried (a 4xx other than 408
    and 429); others are, after `retry_after` when the receiver said so."""

    ok: bool
    detail: str = ""
    status: int | None = None
    retry_after: float | None = None
    permanent: bool = False


class NotifierProtocol(Protocol):
    name: str

    async def send(self, session: aiohttp.ClientSession, notification: Notification,
                   timeout: float) -> Delivery:
        """One attempt. Never raises for delivery problems: they are a Delivery."""


NotifierFactory = Callable[[NotifierConfig], NotifierProtocol]
NOTIFIER_TYPES: dict[str, NotifierFactory] = {}


def register_notifier(kind: str, factory: NotifierFactory) -> None:
    if kind in NOTIFIER_TYPES:
        raise RuntimeError(f"notifier type {kind!r} registered twice")
    NOTIFIER_TYPES[kind] = factory


def notifier_types() -> dict[str, NotifierFactory]:
    """Every notifier type: each vendor module registers its own on import."""
    from monitor.notify import alertmanager, discord, pagerduty, slack, telegram, webhook  # noqa: F401

    return NOTIFIER_TYPES


def build_notifiers(config: Config) -> dict[str, NotifierProtocol]:
    """One notifier per configured entry, by name."""
    types = notifier_types()
    return {entry.name: types[entry.type](entry) for entry in config.notifiers}
