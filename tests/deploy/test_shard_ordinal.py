"""`outagemon run --shard-from-ordinal N`: the shard index from a StatefulSet pod's name."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from monitor.cli import build_parser, shard_from_ordinal
from monitor.shard import Shard
from tests.deploy.dockerfile import ROOT


@pytest.mark.parametrize(("hostname", "count", "expected"), [
    ("outagemon-0", 3, Shard(0, 3)),
    ("outagemon-2", 3, Shard(2, 3)),
    ("my-outagemon-eu-11", 12, Shard(11, 12)),
    ("outagemon-0", 1, Shard(0, 1)),
])
def test_ordinal_from_hostname(hostname: str, count: int, expected: Shard) -> None:
    assert Shard.from_ordinal(hostname, count) == expected
    assert shard_from_ordinal(count, hostname) == expected


@pytest.mark.parametrize(("hostname", "count"), [
    ("outagemon", 3), ("outagemon-", 3), ("outagemon-x", 3), ("outagemon-3", 3),
    ("outagemon-0", 0), ("7", 3), ("outagemon-٣", 5),
])
def test_bad_hostnames_or_counts_are_rejected(hostname: str, count: int) -> None:
    with pytest.raises(ValueError):
        Shard.from_ordinal(hostname, count)


def test_reads_hostname_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOSTNAME", "outagemon-1")
    assert shard_from_ordinal(2) == Shard(1, 2)


def test_cli_option(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    args = build_parser().parse_args(["run", "--shard-from-ordinal", "4"])
    assert args.shard_from_ordinal == 4 and args.shard is None
    for bad in (["--shard-from-ordinal", "0"], ["--shard-from-ordinal", "x"],
                ["--shard", "0/2", "--shard-from-ordinal", "2"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(["run", *bad])
        assert exc.value.code == 2
    capsys.readouterr()


def test_run_exits_2_when_the_hostname_has_no_ordinal(tmp_path: Path) -> None:
    # a subprocess: main() configures logging for the whole process
    proc = subprocess.run(
        [sys.executable, "-m", "monitor", "run", "--shard-from-ordinal", "3",
         "--listen", "127.0.0.1:0", "--state", str(tmp_path / "s.db")],
        env={**os.environ, "HOSTNAME": "laptop", "PYTHONPATH": str(ROOT)},
        capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "--shard-from-ordinal" in proc.stderr and "laptop" in proc.stderr
