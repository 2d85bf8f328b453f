"""The HTTP API of a daemon running in-process against local servers."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from monitor.daemon import Daemon
from monitor.server import bound_port, start_server
from monitor.settings import Config
from tests.conftest import LocalServer, wait_for


async def venue_app() -> web.Application:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=500, text="boom")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_get("/broken", broken)
    return app


def config_for(server: LocalServer, broken: str = "/broken", **server_settings: Any) -> Config:
    return Config.model_validate({
        "vantage": "test-vantage",
        "defaults": {"interval": "1s", "timeout": "1s"},
        "alerts": {"defaults": {"failure_threshold": 1, "success_threshold": 1}},
        "server": server_settings,
        "targets": [
            {"name": "good", "kind": "http", "url": server.url("/ok"), "provider": "acme",
             "labels": {"tier": "1"}},
            {"name": "bad", "kind": "http", "url": server.url(broken)},
        ],
    })


Started = tuple[Daemon, str]


@pytest.fixture
async def running(
    serve_app: Callable[[web.Application], Awaitable[LocalServer]], tmp_path: Path
) -> AsyncIterator[Callable[..., Awaitable[Started]]]:
    stack: list[tuple[Daemon, web.AppRunner]] = []

    async def start(**server_settings: Any) -> Started:
        venue = await serve_app(await venue_app())
        config = config_for(venue, **server_settings)
        daemon = Daemon(config, loader=lambda: config, state_path=str(tmp_path / "state.db"))
        await daemon.start()
        runner = await start_server(daemon, "127.0.0.1", 0)
        stack.append((daemon, runner))
        return daemon, f"http://127.0.0.1:{bound_port(runner)}"

    yield start
    for daemon, runner in stack:
        await daemon.stop()
        await runner.cleanup()


async def get(url: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as resp:
        return resp.status, await resp.text()


async def test_readyz_turns_ready_after_every_target_was_probed(running: Any) -> None:
    daemon, base = await running()
    assert (await get(base + "/livez"))[0] == 200

    async def ready() -> bool:
        return (await get(base + "/readyz"))[0] == 200

    await wait_for(ready, what="readyz")
    assert all(run.probes >= 1 for run in daemon.runs.values())


async def test_targets_api_has_the_contract_keys(running: Any) -> None:
    daemon, base = await running()
    await wait_for(daemon.ready, what="first probes")
    async with aiohttp.ClientSession() as session, session.get(base + "/api/v1/targets") as r:
        items = {item["target"]: item for item in await r.json()}
    good, bad = items["good"], items["bad"]
    expected = {"target", "kind", "provider", "state", "reason", "latency_seconds", "detail",
                "facts", "last_success", "since", "labels"}
    assert set(good) == expected
    assert (good["state"], good["reason"], good["provider"]) == ("up", "ok", "acme")
    assert good["labels"] == {"tier": "1"}
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$", good["last_success"])
    assert (bad["state"], bad["reason"]) == ("down", "http_5xx")
    assert bad["last_success"] is None
    assert bad["facts"]["http_status"] == 500


async def test_metrics_have_spec_names_and_labels(running: Any) -> None:
    daemon, base = await running()
    await wait_for(daemon.ready, what="first probes")
    status, text = await get(base + "/metrics")
    assert status == 200
    for name in ("outagemon_up", "outagemon_target_state", "outagemon_probes_total",
                 "outagemon_probe_duration_seconds_bucket", "outagemon_probe_phase_seconds",
                 "outagemon_last_success_timestamp_seconds", "outagemon_http_status_code",
                 "outagemon_maintenance", "outagemon_scheduler_lag_seconds_bucket",
                 "outagemon_build_info"):
        assert re.search(rf"^{name}[{{ ]", text, re.M), name
    assert 'outagemon_up{kind="http",provider="acme",target="good",tier="1"} 1.0' in text
    assert re.search(r'outagemon_probes_total\{[^}]*reason="http_5xx"[^}]*target="bad"', text)
    assert 'outagemon_target_state{kind="http",provider="bad",state="down",target="bad"} 1.0' \
        in text
    assert 'vantage="test-vantage"' in text


async def test_lines_are_rendered_as_probes_land_not_in_the_scrape(running: Any) -> None:
    daemon, _ = await running()
    await wait_for(daemon.ready, what="first probes")
    daemon.exposition.render_now()
    scraped = {name: run.metrics.version for name, run in daemon.runs.items()}

    def probed_again() -> bool:
        return all(run.metrics.version > scraped[name] for name, run in daemon.runs.items())

    await wait_for(probed_again, what="a probe of every target after the scrape")
    for name, run in daemon.runs.items():  # rendered when that probe landed
        assert run.metrics.rendered is not None
        assert run.metrics.rendered.key[0] > scraped[name], name


async def test_status_page_is_self_contained_html(running: Any) -> None:
    daemon, base = await running()
    await wait_for(daemon.ready, what="first probes")
    await daemon.store.flush()
    status, html = await get(base + "/")
    assert status == 200
    assert "<table" in html and "good" in html and "bad" in html
    assert not re.search(r"""<(script|link|img)[^>]+(src|href)=["']?https?:""", html)
    assert "Recent state changes" in html and "down" in html


async def test_reload_from_loopback_and_with_admin_token(running: Any) -> None:
    _, base = await running()
    async with aiohttp.ClientSession() as session, session.post(base + "/-/reload") as resp:
        assert resp.status == 200
        assert (await resp.json())["unchanged"] == 2
    _, guarded = await running(admin_token="s3cret-admin-token")
    async with aiohttp.ClientSession() as session:
        async with session.post(guarded + "/-/reload") as resp:
            assert resp.status == 403
        headers = {"Authorization": "Bearer s3cret-admin-token"}
        async with session.post(guarded + "/-/reload", headers=headers) as resp:
            assert resp.status == 200


async def test_a_reload_reads_the_config_off_the_event_loop(
    serve_app: Callable[[web.Application], Awaitable[LocalServer]], tmp_path: Path
) -> None:
    config = config_for(await serve_app(await venue_app()))
    reading, release = threading.Event(), threading.Event()

    def slow_loader() -> Config:  # a big config being parsed
        reading.set()
        assert release.wait(timeout=10), "the event loop stood still while the config was read"
        return config

    daemon = Daemon(config, loader=slow_loader, state_path=str(tmp_path / "state.db"))
    await daemon.start()
    try:
        reload = asyncio.create_task(daemon.reload())
        await wait_for(reading.is_set, what="the loader to start")  # the loop still turns
        release.set()
        result = await reload
    finally:
        await daemon.stop()
    assert sorted(result.unchanged) == ["bad", "good"]


async def test_a_reload_keeps_one_copy_of_each_unchanged_definition(
    serve_app: Callable[[web.Application], Awaitable[LocalServer]], tmp_path: Path
) -> None:
    server = await serve_app(await venue_app())
    first = config_for(server)
    changed = config_for(server, broken="/broken?v=2")  # parsed anew, as a reload does
    daemon = Daemon(first, loader=lambda: changed, state_path=str(tmp_path / "state.db"))
    await daemon.start()
    try:
        result = await daemon.reload()
        targets = {t.name: t for t in daemon.config.targets}
        running = {name: run.target for name, run in daemon.runs.items()}
    finally:
        await daemon.stop()
    assert result.unchanged == ["good"] and result.changed == ["bad"]
    assert targets["good"] is running["good"] is first.targets[0]
    assert targets["bad"] is running["bad"] is changed.targets[1]


async def test_alerts_api_lists_the_down_target(running: Any) -> None:
    _, base = await running()

    async def alerts() -> list[Any]:
        async with aiohttp.ClientSession() as session, \
                session.get(base + "/api/v1/alerts") as resp:
            assert resp.status == 200
            return list(await resp.json())

    async def down_alert() -> bool:
        return any(a["labels"]["alertname"] == "TargetDown" for a in await alerts())

    await wait_for(down_alert, what="TargetDown in /api/v1/alerts")
    (alert,) = await alerts()
    assert alert["labels"]["target"] == "bad"
    assert alert["status"] == "firing" and alert["startsAt"].endswith("Z")
    assert set(alert) >= {"labels", "annotations", "startsAt", "endsAt", "fingerprint"}
    _, html = await get(base + "/")
    assert "Active alerts (1)" in html and "TargetDown" in html
