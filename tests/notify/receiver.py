"""A scriptable Alertmanager-style webhook receiver on 127.0.0.1, and alert builders."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from aiohttp import web

from monitor.alerting import Alert, AlertStatus, Notification
from monitor.settings import Notifier as NotifierConfig


@dataclass
class Reply:
    status: int = 200
    body: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    hold: asyncio.Event | None = None  # answer only once this is set


@dataclass
class Received:
    path_qs: str
    headers: dict[str, str]
    body: bytes


class Receiver:
    """Answers from a script of replies (then 200); records every request."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.script: list[Reply | Callable[[Received], Reply]] = []
        self.received: list[Received] = []
        self.arrived = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._held: list[asyncio.Event] = []

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def ids(self) -> list[str]:
        return [r.headers.get("webhook-id", "") for r in self.received]

    async def _handle(self, request: web.Request) -> web.Response:
        got = Received(request.path_qs, dict(request.headers), await request.read())
        self.received.append(got)
        self.arrived.set()
        step = self.script.pop(0) if self.script else Reply()
        reply = step(got) if callable(step) else step
        if reply.hold is not None:
            self._held.append(reply.hold)
            await reply.hold.wait()
        return web.Response(status=reply.status, text=reply.body, headers=reply.headers)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("POST", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", self.port).start()
        self._runner = runner

    async def stop(self) -> None:
        for event in self._held:
            event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def make_alert(name: str = "TargetDown", target: str = "binance", *,
               ends_at: float | None = None, starts_at: float = 1_700_000_000.0) -> Alert:
    return Alert(
        labels={"alertname": name, "target": target, "severity": "critical"},
        annotations={"summary": f"{target} is down", "description": "connect refused"},
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url="http://outagemon.local/targets/" + target,
    )


def make_notification(nid: str, *alerts: Alert, notifier: str = "hook",
                      created_at: float = 1_700_001_000.0) -> Notification:
    alerts = alerts or (make_alert(),)
    firing = any(a.status is AlertStatus.FIRING for a in alerts)
    return Notification(
        id=nid,
        notifier=notifier,
        status=AlertStatus.FIRING if firing else AlertStatus.RESOLVED,
        alerts=alerts,
        group_key='{}:{alertname="TargetDown"}',
        created_at=created_at,
        external_url="http://outagemon.local",
        group_labels={"alertname": alerts[0].name},
    )


def webhook_config(url: str, secret: str | None = None, name: str = "hook") -> NotifierConfig:
    return NotifierConfig.model_validate(
        {"name": name, "type": "webhook", "url": url, "secret": secret}
    )
