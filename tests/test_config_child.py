"""A reload's config is parsed in a child process and comes back whole: the same Config, the
same errors, a bounded wait."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from monitor import config as config_module
from monitor.config import ConfigError, load_config
from monitor.config_child import load_config_apart

CONFIG = """
vantage: lab
defaults: {interval: 5s, timeout: 2s}
targets:
  - name: api
    kind: http
    url: "https://api.example.com/v1/ping?key=${CHILD_TEST_KEY}"
    labels: {tier: "1"}
  - {name: node, kind: evm_rpc, chain: ethereum, chain_id: 1, url: "http://127.0.0.1:8545"}
"""


@pytest.fixture
def config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CHILD_TEST_KEY", "CANARYCHILDKEY7")  # the child inherits it
    path = tmp_path / "outagemon.yaml"
    path.write_text(CONFIG)
    return path


def test_the_child_returns_the_config_the_daemon_would_have_read(config_file: Path) -> None:
    apart = load_config_apart(str(config_file))
    here = load_config(config_file)
    assert apart == here
    assert [t.fingerprint() for t in apart.targets] == [t.fingerprint() for t in here.targets]


def test_the_parse_happens_in_the_child_not_here(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_parsing_here(*args: object) -> None:
        raise AssertionError("the daemon's own process parsed the config")

    monkeypatch.setattr(config_module._Builder, "build_document", no_parsing_here)
    assert [t.name for t in load_config_apart(str(config_file)).targets] == ["api", "node"]


def test_an_invalid_config_gives_the_same_issues(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("targets:\n  - {name: x, kind: http, url: 'ftp://nowhere', interval: 5}\n")
    with pytest.raises(ConfigError) as here:
        load_config(path)
    with pytest.raises(ConfigError) as apart:
        load_config_apart(str(path))
    assert apart.value.issues == here.value.issues and apart.value.issues


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_apart(str(tmp_path / "nowhere.yaml"))


def test_a_config_that_never_ends_is_given_up_on(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo.yaml"
    os.mkfifo(fifo)  # opening it blocks until a writer comes: none will
    with pytest.raises(ConfigError, match="took longer than 1 s"):
        load_config_apart(str(fifo), timeout=1.0)


def test_a_child_that_dies_is_a_config_error_without_its_output(
    config_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    crashing = tmp_path / "crashing-python"
    crashing.write_text("#!/bin/sh\necho \"ValueError: bad key CANARYCHILDKEY7\" >&2\nexit 1\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(sys, "executable", str(crashing))
    with pytest.raises(ConfigError, match="exit status 1") as failed:
        load_config_apart(str(config_file))
    assert "CANARYCHILDKEY7" not in str(failed.value)


def test_without_child_processes_the_daemon_reads_it_itself(
    config_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "executable", str(config_file.parent / "no-such-python"))
    assert load_config_apart(str(config_file)) == load_config(config_file)
