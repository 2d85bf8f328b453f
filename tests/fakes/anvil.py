"""anvil (Foundry's local Ethereum node) for tests: find it, start it on 127.0.0.1, steer it.

The binary comes from the npm package @foundry-rs/anvil-linux-amd64, pinned in package.json
and installed by scripts/test (`npm ci`) into node_modules/. OUTAGEMON_ANVIL overrides the
path. Tests that need anvil are skipped, with the reason, only when no binary is found.

    def test_x(anvil: AnvilNode) -> None: ...          # one node, chain id 31337
    async def test_y(start_anvil: StartAnvil) -> None:
        other = start_anvil(chain_id=8453)              # more nodes, stopped after the test

Mining control over the node's own JSON-RPC (anvil's `evm_*` / `anvil_*` methods):

    await stop_mining(node.url)        # no blocks until told
    await mine(node.url, 3)            # three blocks now (one newHeads notification each)
    await start_mining(node.url, 1)    # a block every second again
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

ENV_VAR = "OUTAGEMON_ANVIL"
REPO = Path(__file__).resolve().parents[2]
INSTALLED = REPO / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"
DEFAULT_CHAIN_ID = 31337  # anvil's own default
START_TIMEOUT = 10.0  # seconds for a node to answer eth_chainId
STOP_TIMEOUT = 5.0


def find_anvil() -> str | None:
    """The anvil binary: $OUTAGEMON_ANVIL, the npm install of scripts/test, else PATH."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        return configured if os.access(configured, os.X_OK) else None
    if os.access(INSTALLED, os.X_OK):
        return str(INSTALLED)
    return shutil.which("anvil")


def _missing_reason() -> str:
    configured = os.environ.get(ENV_VAR)
    if configured:
        return f"{ENV_VAR}={configured} is not an executable file"
    return (f"anvil not found (neither {INSTALLED.relative_to(REPO)} nor on PATH): run "
            f"scripts/test, or `npm ci` in the repository, or set {ENV_VAR}")


@dataclass(frozen=True)
class AnvilNode:
    port: int
    chain_id: int
    process: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"


StartAnvil = Callable[..., AnvilNode]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _post(url: str, payload: Any, timeout: float) -> Any:
    request = urllib.request.Request(url, data=orjson.dumps(payload),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # loopback only
        return orjson.loads(response.read())


def _launch(binary: str, chain_id: int, block_time: float | None) -> AnvilNode:
    """Start one node and wait (polling, with a deadline) until it answers eth_chainId."""
    output = b""
    for _attempt in range(3):  # the free port may be taken between probing and binding
        port = _free_port()
        command = [binary, "--host", "127.0.0.1", "--port", str(port), "--chain-id",
                   str(chain_id), "--quiet"]
        command += ["--block-time", f"{block_time:g}"] if block_time else ["--no-mining"]
        with tempfile.TemporaryFile() as log:
            process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                       stderr=subprocess.STDOUT)
            node = AnvilNode(port, chain_id, process)
            if _wait_ready(node):
                return node
            _stop(process)
            log.seek(0)
            output = log.read()[-2000:]
        if b"in use" not in output:
            break
    raise RuntimeError(f"anvil did not start: {output.decode(errors='replace')}")


def _wait_ready(node: AnvilNode) -> bool:
    deadline = time.monotonic() + START_TIMEOUT
    while node.process.poll() is None and time.monotonic() < deadline:
        try:
            answer = _post(node.url, {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                      "params": []}, timeout=1.0)
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.01)  # polling interval, bounded by the deadline above
            continue
        return bool(answer.get("result") == hex(node.chain_id))
    return False


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def start_anvil() -> Iterator[StartAnvil]:
    """Starts anvil nodes on 127.0.0.1 (`chain_id`, `block_time` seconds or None for manual
    mining); every one is stopped after the test. Skips the test if anvil is not installed."""
    binary = find_anvil()
    if binary is None:
        pytest.skip(_missing_reason())
    nodes: list[AnvilNode] = []

    def start(chain_id: int = DEFAULT_CHAIN_ID, block_time: float | None = 1.0) -> AnvilNode:
        node = _launch(binary, chain_id, block_time)
        nodes.append(node)
        return node

    yield start
    for node in nodes:
        _stop(node.process)


@pytest.fixture
def anvil(start_anvil: StartAnvil) -> AnvilNode:
    """One anvil node, chain id 31337, a block every second."""
    return start_anvil()


# -- mining control ------------------------------------------------------------------------

async def rpc(url: str, method: str, params: list[Any] | None = None) -> Any:
    """One JSON-RPC call; raises AssertionError on a JSON-RPC error."""
    payload = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}
    async with aiohttp.ClientSession() as session, session.post(
            url, json=payload, timeout=aiohttp.ClientTimeout(total=5)) as response:
        answer = await response.json(content_type=None)
    if "error" in answer:
        raise AssertionError(f"{method}: {answer['error']}")
    return answer.get("result")


async def stop_mining(url: str) -> None:
    """No more blocks until `mine` or `start_mining` (interval and automine off)."""
    await rpc(url, "evm_setIntervalMining", [0])
    await rpc(url, "evm_setAutomine", [False])


async def start_mining(url: str, interval: float) -> None:
    """A block every `interval` seconds (whole seconds: anvil's interval mining unit)."""
    if interval <= 0:
        raise ValueError("interval must be positive; use stop_mining to stop")
    await rpc(url, "evm_setIntervalMining", [max(1, round(interval))])


async def mine(url: str, blocks: int = 1) -> int:
    """Mine `blocks` blocks at once; returns the new head height."""
    await rpc(url, "anvil_mine", [blocks])
    return int(await rpc(url, "eth_blockNumber"), 16)


async def head(url: str) -> int:
    return int(await rpc(url, "eth_blockNumber"), 16)
