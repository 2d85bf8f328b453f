"""HTTP API on the metrics port: /metrics, /livez, /readyz, /api/v1/*, the status page, reload."""

from __future__ import annotations

import asyncio
import hmac
import ipaddress
from typing import Any

import orjson
import structlog
from aiohttp import web

from monitor.daemon import Daemon, TargetRun
from monitor.exposition import CONTENT_TYPE
from monitor.notify.webhook import alert_payload
from monitor.report import result_json, rfc3339
from monitor.status_html import render_status_page

log = structlog.get_logger("outagemon.server")

DAEMON_KEY: web.AppKey[Daemon] = web.AppKey("daemon", Daemon)


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json")


async def metrics(request: web.Request) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE})
    await response.prepare(request)
    await request.app[DAEMON_KEY].exposition.write(response.write)
    await response.write_eof()
    return response


async def livez(request: web.Request) -> web.Response:
    return web.Response(text="ok\n")


async def readyz(request: web.Request) -> web.Response:
    daemon = request.app[DAEMON_KEY]
    if daemon.ready():
        return web.Response(text="ready\n")
    waiting = sum(1 for run in daemon.runs.values() if not run.probes)
    return web.Response(text=f"not ready: {waiting} targets not probed yet\n", status=503)


API_SLICE = 500  # targets serialised between two yields to the event loop


def target_json(run: TargetRun) -> dict[str, Any]:
    item = result_json(run.target, run.health.state, run.health.last)
    item["last_success"] = rfc3339(run.health.last_success)
    item["since"] = rfc3339(run.health.since)
    item["labels"] = dict(run.target.labels)
    return item


def targets_json(daemon: Daemon) -> list[dict[str, Any]]:
    return [target_json(run) for run in daemon.targets()]


def _target_bytes(run: TargetRun) -> bytes:
    """The target's JSON, serialised again only when its health changed."""
    health = run.health
    key = (health.last, health.state, health.since, health.last_success)
    cached = run.api_cache
    if cached is None or cached[0] != key:
        cached = run.api_cache = (key, orjson.dumps(target_json(run)))
    return cached[1]


async def targets_body(daemon: Daemon) -> bytes:
    """GET /api/v1/targets, in slices so thousands of targets never stall the probes."""
    runs = list(daemon.targets())
    parts: list[bytes] = []
    for start in range(0, len(runs), API_SLICE):
        if start:
            await asyncio.sleep(0)
        parts.extend(_target_bytes(run) for run in runs[start:start + API_SLICE])
    return b"[" + b",".join(parts) + b"]"


async def api_targets(request: web.Request) -> web.Response:
    body = await targets_body(request.app[DAEMON_KEY])
    return web.Response(body=body, content_type="application/json")


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
