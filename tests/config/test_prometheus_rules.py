"""The shipped Prometheus rules, Prometheus and Alertmanager configs pass their own tools,
the promtool unit tests of config/prometheus/tests pass, and the Grafana provisioning is sane."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

CONFIG = Path(__file__).resolve().parents[2] / "config"
PROMETHEUS = CONFIG / "prometheus"
GRAFANA = CONFIG / "grafana" / "provisioning"

needs_promtool = pytest.mark.skipif(shutil.which("promtool") is None,
                                    reason="promtool not installed")
needs_amtool = pytest.mark.skipif(shutil.which("amtool") is None, reason="amtool not installed")


def run(*args: str | Path) -> str:
    done = subprocess.run([str(arg) for arg in args], capture_output=True, text=True,
                          timeout=60, check=False)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


@needs_promtool
@pytest.mark.parametrize("name", ["rules.yml", "recording.yml"])
def test_promtool_checks_the_rule_files(name: str) -> None:
    assert "SUCCESS" in run("promtool", "check", "rules", PROMETHEUS / name)


@needs_promtool
def test_promtool_unit_tests_pass() -> None:
    tests = sorted((PROMETHEUS / "tests").glob("*.yml"))
    assert len(tests) >= 4
    output = run("promtool", "test", "rules", *tests)
    assert "FAILED" not in output


@needs_promtool
def test_promtool_checks_the_prometheus_config() -> None:
    output = run("promtool", "check", "config", PROMETHEUS / "prometheus.yml")
    assert "2 rule files found" in output


@needs_amtool
def test_amtool_checks_the_alertmanager_config() -> None:
    output = run("amtool", "check-config", CONFIG / "alertmanager" / "alertmanager.yml")
    assert "SUCCESS" in output


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for group in load(PROMETHEUS / "rules.yml")["groups"]
            for rule in group["rules"] if "alert" in rule]


OUTAGEMON_ALERTS = {
    "TargetDown", "TargetDegraded", "RateLimited", "GeoBlocked", "ExchangeMaintenance",
    "ClockSkew", "WebSocketStale", "FeedLagHigh", "RpcLagging", "ChainHalted", "WrongChain",
    "StatusPageIncident", "CloudIncident", "PriceDeviation", "DependencyOutage",
    "CertificateExpiringSoon",
}


def test_every_outagemon_alert_has_a_rule_and_a_unit_test() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    assert names >= OUTAGEMON_ALERTS
    assert {"TargetDownEverywhere", "RegionalBlocking"} <= names
    tested = "\n".join(path.read_text() for path in (PROMETHEUS / "tests").glob("*.yml"))
    for name in names:
        assert f"alertname: {name}\n" in tested, f"{name} has no promtool test"
    for rule in alert_rules():
        assert rule["labels"]["severity"] in {"critical", "warning", "info"}
        assert {"summary", "description"} <= set(rule["annotations"])


def test_grafana_datasource_provisioning() -> None:
    config = load(GRAFANA / "datasources" / "prometheus.yml")
    assert config["apiVersion"] == 1
    [source] = config["datasources"]
    assert source["uid"] == "outagemon-prometheus"
    assert source["type"] == "prometheus"
    assert source["url"].startswith("http")


def test_grafana_dashboard_provisioning() -> None:
    config = load(GRAFANA / "dashboards" / "outagemon.yml")
    assert config["apiVersion"] == 1
    [provider] = config["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards/outagemon"
