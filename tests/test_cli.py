"""The command line as a user runs it: exit codes, output formats."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from monitor.config import load_config
from monitor.simulate import World

CHECK_KEYS = {"target", "kind", "provider", "state", "reason", "latency_seconds", "detail",
              "facts"}


async def outagemon(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "monitor", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


def test_the_built_in_default_config_is_valid() -> None:
    config = load_config(None, env={})
    assert len(config.targets) >= 10
    kinds = {t.kind for t in config.targets}
    assert {"dns", "tls", "tcp", "exchange", "price", "evm_rpc", "solana_rpc", "bitcoin_rpc",
            "cosmos_rpc", "statuspage", "cloud_status"} <= kinds
    names = {t.name for t in config.targets}
    for target in config.targets:  # dependencies outagemon watches itself are real targets
        assert all(d in names or not d.startswith(("aws-", "gcp", "azure"))
                   for d in target.depends_on), target.name


async def test_validate_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text("targets:\n  - {name: a, kind: tcp, address: '127.0.0.1:1'}\n")
    code, out, _ = await outagemon("validate", "-c", str(good))
    assert code == 0 and "config OK: 1 targets" in out
    bad = tmp_path / "bad.yaml"
    bad.write_text("targets:\n  - name: a\n    kind: tcp\n    adress: '127.0.0.1:1'\n")
    code, out, err = await outagemon("validate", "-c", str(bad))
    assert code == 2
    assert f"{bad}:4: targets[0](a).adress: unknown key 'adress'" in out + err


@pytest.fixture
async def world() -> World:
    async with World(venues=("binance-sim",)) as w:
        yield w  # type: ignore[misc]


async def test_check_json_and_exit_codes(world: World, tmp_path: Path) -> None:
    base = world.url("binance-sim")
    config = tmp_path / "c.yaml"
    config.write_text(f"""
defaults: {{interval: 5s, timeout: 2s}}
targets:
  - {{name: ping, kind: http, url: "{base}/api/v3/ping", provider: binance}}
  - {{name: port, kind: tcp, address: "{base.removeprefix('http://')}"}}
  - {{name: refused, kind: tcp, address: "127.0.0.1:1"}}
""")
    code, out, _ = await outagemon("check", "-c", str(config), "--json")
    assert code == 1
    rows = {row["target"]: row for row in json.loads(out)}
    assert set(rows) == {"ping", "port", "refused"}
    assert all(set(row) == CHECK_KEYS for row in rows.values())
    assert (rows["ping"]["state"], rows["ping"]["reason"]) == ("up", "ok")
    assert rows["ping"]["provider"] == "binance" and rows["port"]["provider"] == "port"
    assert rows["refused"]["state"] == "down"
    assert rows["refused"]["reason"] == "connect_refused"
    assert rows["refused"]["latency_seconds"] is None

    code, out, _ = await outagemon("check", "-c", str(config), "ping", "port")
    assert code == 0
    header, *lines = out.splitlines()
    assert header.split() == ["TARGET", "KIND", "STATE", "LATENCY", "REASON", "DETAIL"]
    assert [line.split()[:3] for line in lines] == [["ping", "http", "up"], ["port", "tcp", "up"]]

    code, _, err = await outagemon("check", "-c", str(config), "nope")
    assert code == 2 and "unknown target(s): nope" in err


async def test_simulate_list_and_unknown_scenario() -> None:
    code, out, _ = await outagemon("simulate", "--list")
    assert code == 0 and "flaky" in out and "calm" in out
    code, _, err = await outagemon("simulate", "--scenario", "no-such-thing")
    assert code == 2 and "unknown scenario" in err


async def test_usage_errors_exit_2() -> None:
    code, _, err = await outagemon("run", "--shard", "3/3")
    assert code == 2 and "--shard" in err
    code, _, _ = await outagemon("frobnicate")
    assert code == 2
