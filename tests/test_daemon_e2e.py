"""The real `outagemon run` process: promtool on its exposition, signals, reload, secrets."""

from __future__ import annotations

import asyncio
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.conftest import LocalServer, wait_for
from tests.daemon_process import DaemonProcess
from tests.fakes.certs import TestCA
from tests.fakes.dns_server import FakeDnsServer

Spawn = Callable[[str], Awaitable[DaemonProcess]]


@pytest.fixture
async def spawn(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[DaemonProcess]]]:
    started: list[DaemonProcess] = []

    async def start(config: str, log_level: str = "info") -> DaemonProcess:
        path = tmp_path / "config.yaml"
        path.write_text(config)
        proc = DaemonProcess(path, tmp_path / "state.db")
        started.append(proc)
        return await proc.start(log_level)

    yield start
    for proc in started:
        await proc.stop()


async def venue(serve_app: Callable[[web.Application], Awaitable[LocalServer]]) -> LocalServer:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "price": "101.5"})

    async def broken(request: web.Request) -> web.Response:
        return web.Response(status=503, text=f"failed {request.path_qs}")

    app = web.Application()
    app.router.add_get("/ok", ok)
    app.router.add_route("*", "/{tail:.*}", broken)
    return await serve_app(app)


def base_config(targets: str, interval: str = "1s") -> str:
    return f"""
vantage: e2e
defaults: {{interval: {interval}, timeout: 1s}}
alerts: {{defaults: {{failure_threshold: 1, success_threshold: 1}}}}
targets:
{targets}
"""


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool not installed")
async def test_promtool_accepts_the_exposition(
    spawn: Any, serve_app: Any, tmp_path: Path
) -> None:
    server = await venue(serve_app)
    ca = TestCA()
    cert = ca.server_cert("127.0.0.1", days_left=10)  # inside warn_before (21d): degraded

    async def tls_handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.close()

    tls_server = await asyncio.start_server(tls_handler, "127.0.0.1", 0, ssl=cert.context)
    tls_port = tls_server.sockets[0].getsockname()[1]
    async with FakeDnsServer() as dns_server:
        dns_server.add("api.venue.test", "A", "203.0.113.7")
        config = base_config(f"""
  - {{name: up-one, kind: http, url: "{server.url('/ok')}", labels: {{tier: "1"}},
      expect: {{json: {{price: ">= 100"}}}}}}
  - {{name: down-one, kind: http, url: "{server.url('/nope')}", provider: acme,
      depends_on: [cloudflare]}}
  - {{name: tcp-one, kind: tcp, address: "127.0.0.1:{server.port}"}}
  - {{name: dns-one, kind: dns, query: api.venue.test, resolver: "{dns_server.address}",
      expect: {{answers_in: [203.0.113.0/24]}}}}
  - {{name: tls-one, kind: tls, address: "127.0.0.1:{tls_port}",
      ca_file: "{ca.write_pem(tmp_path)}"}}
""")
        config += "notifiers:\n  - {name: ops, type: webhook, url: 'http://127.0.0.1:9/hook'}\n"
        daemon = await spawn(config)
        await daemon.wait_ready()
        status, text = await daemon.get("/metrics")
        targets = {t["target"]: t for t in await daemon.get_json("/api/v1/targets")}
    tls_server.close()
    assert status == 200
    assert {t: targets[t]["reason"] for t in targets} == {
        "up-one": "ok", "down-one": "http_5xx", "tcp-one": "ok", "dns-one": "ok",
        "tls-one": "degraded"}
    assert "outagemon_cert_expiry_timestamp_seconds{" in text
    assert 'outagemon_dependency_failing_targets{dependency="cloudflare"}' in text
    assert 'outagemon_notification_queue_depth{notifier="ops"}' in text
    check = await asyncio.create_subprocess_exec(
        "promtool", "check", "metrics", stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await check.communicate(text.encode())
    assert check.returncode == 0, out.decode()
    assert out.decode().strip() == "", out.decode()


async def test_sigterm_with_probes_in_flight_exits_within_5s(spawn: Any) -> None:
    accepted = asyncio.Event()

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()  # hold the connection open until the client goes away
        writer.close()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        targets = "".join(
            f'  - {{name: hangs-{i}, kind: http, url: "http://127.0.0.1:{port}/{i}"}}\n'
            for i in range(4))
        daemon = await spawn(f"defaults: {{interval: 4s, timeout: 3500ms}}\ntargets:\n{targets}")
        await asyncio.wait_for(accepted.wait(), 15)
        started = time.monotonic()
        daemon.send(signal.SIGTERM)
        code = await daemon.wait(timeout=6)
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert code == 0
    assert elapsed < 5.0, f"took {elapsed:.2f}s"


async def test_sighup_keeps_state_of_unchanged_targets(
    spawn: Any, serve_app: Any, tmp_path: Path
) -> None:
    server = await venue(serve_app)
    keep = f'  - {{name: keep, kind: http, url: "{server.url("/ok")}"}}\n'
    change = f'  - {{name: change, kind: http, url: "{server.url("/ok")}"}}\n'
    daemon = await spawn(base_config(keep + change))
    await daemon.wait_ready()

    async def targets() -> dict[str, Any]:
        return {t["target"]: t for t in await daemon.get_json("/api/v1/targets")}

    before = await targets()
    assert before["keep"]["state"] == "up"
    changed = f'  - {{name: change, kind: http, url: "{server.url("/ok?v=2")}"}}\n'
    added = f'  - {{name: added, kind: http, url: "{server.url("/ok")}"}}\n'
    (tmp_path / "config.yaml").write_text(base_config(keep + changed + added))
    daemon.send(signal.SIGHUP)

    async def reloaded() -> bool:
        return "added" in await targets()

    await wait_for(reloaded, what="the reload")
    after = await targets()
    assert after["keep"]["since"] == before["keep"]["since"]
    assert after["keep"]["state"] == "up"
    reload_events = [e for e in daemon.events if e.get("event") == "config reloaded"]
    assert reload_events and reload_events[-1]["changed"] == 1
    assert reload_events[-1]["added"] == 1 and reload_events[-1]["unchanged"] == 1


async def test_canary_secrets_never_leave_the_process(
    spawn: Any, serve_app: Any, tmp_path: Path
) -> None:
    server = await venue(serve_app)
    path_key, query_key, header_key = "CANARYPATHKEY01", "CANARYQUERYKEY02", "CANARYHEADER03"
    config = base_config(f"""
  - name: leaky-500
    kind: http
    url: "{server.url(f'/v3/{path_key}?apikey={query_key}')}"
    headers: {{X-Api-Key: {header_key}}}
  - name: leaky-refused
    kind: http
    url: "http://127.0.0.1:1/v3/{path_key}?apikey={query_key}"
    headers: {{Authorization: "Bearer {header_key}"}}
  - name: leaky-rpc
    kind: evm_rpc
    chain: ethereum
    chain_id: 1
    url: "http://127.0.0.1:1/v3/{path_key}?apikey={query_key}"
    headers: {{X-Api-Key: {header_key}}}
  - name: leaky-solana
    kind: solana_rpc
    chain: solana
    url: "{server.url(f'/v3/{path_key}?apikey={query_key}')}"
""")
    daemon = await spawn(config, log_level="debug")
    await daemon.wait_ready()
    outputs = [
        (await daemon.get("/metrics"))[1],
        (await daemon.get("/api/v1/targets"))[1],
        (await daemon.get("/"))[1],
    ]
    daemon.send(signal.SIGTERM)
    await daemon.wait(timeout=6)
    outputs.append("\n".join(daemon.lines))
    config_path = tmp_path / "config.yaml"
    for args in (["--json"], []):
        check = await asyncio.create_subprocess_exec(
            *daemon.args[:3], "check", "-c", str(config_path), *args,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await check.communicate()
        assert check.returncode == 1
        outputs.extend([out.decode(), err.decode()])
    assert any("http_5xx" in text for text in outputs)
    assert any("connect_refused" in text for text in outputs)
    for text in outputs:
        for canary in (path_key, query_key, header_key):
            assert canary not in text


async def test_run_with_an_invalid_config_exits_2_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("targets:\n  - {name: x, kind: http, urll: 'http://127.0.0.1:1/'}\n")
    proc = DaemonProcess(path, tmp_path / "state.db")
    proc.proc = await asyncio.create_subprocess_exec(
        *proc.args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    _, err = await proc.proc.communicate()
    assert proc.proc.returncode == 2
    assert "urll" in err.decode() and "listening" not in err.decode()
    assert not (tmp_path / "state.db").exists()
