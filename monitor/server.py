"""HTTP API on the metrics port: /metrics, /livez, /readyz, /api/v1/*, the status page, reload."""

from __future__ import annotations

import hmac
import ipaddress
from typing import Any

import orjson
import structlog
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST

from monitor.daemon import Daemon
from monitor.metrics import render
from monitor.notify.webhook import alert_payload
from monitor.report import result_json, rfc3339
from monitor.status_html import render_status_page

log = structlog.get_logger("outagemon.server")

DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon", Daemon)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def metrics(request: web.Request) -> web.Response:
    body = render(request.app[DAEMON_KEY].registry)
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


async def livez(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    if daemon.ready():
        return web.Response(text="ready\n")
    waiting = sum(1 for run in daemon.runs.values() if not run.probes)
    return web.Response(text=f"not ready: {waiting} targets not probed yet\n", status=503)


def targets_json(daemon: Daemon) -> list[dict[str, Any]]:
    out = []
    for run in daemon.targets():
        item = result_json(run.target, run.health.state, run.health.last)
        item["last_success"] = rfc3339(run.health.last_success)
        item["since"] = rfc3339(run.health.since)
        item["labels"] = dict(run.target.labels)
        out.append(item)
    return out


async def api_targets(request: web.Request) -> web.Response:
    return _json(targets_json(request.app[DAEMON_KEY]))


def alerts_json(daemon: Daemon) -> list[dict[str, Any]]:
    """Active alerts in Alertmanager's shape (held-back ones too: a receiver may not have
    heard of them, but they are true)."""
    return [alert_payload(alert) for alert in daemon.alerts.active()]


async def api_alerts(request: web.Request) -> web.Response:
    return _json(alerts_json(request.app[DAEMON_KEY]))


async def index(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    recent = await daemon.store.recent(limit=30)
    html = render_status_page(daemon, targets_json(daemon), recent, alerts_json(daemon))
    return web.Response(text=html, content_type="text/html", charset="utf-8")


def _reload_allowed(request: web.Request, admin_token: str | None) -> bool:
    if admin_token:
        header = request.headers.get("Authorization", "")
        return hmac.compare_digest(header.encode(), f"Bearer {admin_token}".encode())
    peer = request.remote or ""
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False


async def reload(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    if not _reload_allowed(request, daemon.config.server.admin_token):
        return _json({"error": "reload is allowed from loopback, or with the admin token"}, 403)
    from monitor.config import ConfigError

    try:
        result = await daemon.reload()
    except ConfigError as exc:
        return _json({"error": "invalid config", "issues": [str(i) for i in exc.issues]}, 400)
    return _json({"added": result.added, "removed": result.removed, "changed": result.changed,
                  "unchanged": len(result.unchanged)})


def make_app(daemon: Daemon) -> web.Application:
    app = web.Application(client_max_size=64 * 1024)
    app[DAEMON_KEY] = daemon
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/livez", livez)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/api/v1/targets", api_targets)
    app.router.add_get("/api/v1/alerts", api_alerts)
    app.router.add_get("/", index)
    app.router.add_post("/-/reload", reload)
    return app


async def start_server(daemon: Daemon, host: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(make_app(daemon), access_log=None, handle_signals=False,
                           shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("server is not listening")
