"""docker-compose.yml and the kustomize base parse and carry what they need (no docker or
kubectl here: structural checks on the YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.dockerfile import ROOT

KUBE = ROOT / "deploy" / "kubernetes"


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_compose_services_and_healthchecks() -> None:
    compose = load(ROOT / "docker-compose.yml")
    services = compose["services"]
    assert set(services) >= {"outagemon", "prometheus", "alertmanager", "grafana"}
    for name in ("outagemon", "prometheus", "alertmanager", "grafana"):
        test = services[name]["healthcheck"]["test"]
        assert isinstance(test, list) and test[0] in ("CMD", "CMD-SHELL"), name
        assert "image" in services[name] or "build" in services[name], name

    def mounts(service: str) -> dict[str, str]:
        result = {}
        for volume in services[service]["volumes"]:
            source, target = volume.split(":")[:2]
            result[source] = target
        return result

    assert mounts("outagemon")["./config/default.yaml"] == "/etc/outagemon/config.yaml"
    assert (ROOT / "config" / "default.yaml").is_file()
    prometheus = mounts("prometheus")
    for name in ("prometheus.yml", "rules.yml", "recording.yml"):
        assert prometheus[f"./config/prometheus/{name}"] == f"/etc/prometheus/{name}"
    assert mounts("alertmanager")["./config/alertmanager/alertmanager.yml"] == \
        "/etc/alertmanager/alertmanager.yml"
    grafana = mounts("grafana")
    assert grafana["./config/grafana/provisioning"] == "/etc/grafana/provisioning"
    dashboards = grafana["./dashboards/json"]
    provider = load(ROOT / "config/grafana/provisioning/dashboards/outagemon.yml")
    assert dashboards in [p["options"]["path"] for p in provider["providers"]]
    assert services["outagemon"]["build"] == "."


def kube_docs() -> dict[str, list[dict[str, Any]]]:
    docs = {}
    for path in sorted(KUBE.glob("*.yaml")):
        if path.name in ("kustomization.yaml", "config.yaml"):
            continue
        docs[path.name] = [d for d in yaml.safe_load_all(path.read_text()) if d is not None]
    return docs


def by_kind() -> dict[str, dict[str, Any]]:
    result = {}
    for docs in kube_docs().values():
        for doc in docs:
            assert doc["kind"] not in result, f"two {doc['kind']} objects"
            result[doc["kind"]] = doc
    return result


def test_every_manifest_has_the_required_fields() -> None:
    docs = kube_docs()
    assert docs
    for name, items in docs.items():
        assert items, f"{name} is empty"
        for doc in items:
            assert isinstance(doc.get("apiVersion"), str) and doc["apiVersion"], name
            assert isinstance(doc.get("kind"), str) and doc["kind"], name
            assert doc["metadata"]["name"], name
    kinds = by_kind()
    assert set(kinds) == {"StatefulSet", "Service", "ServiceMonitor", "PrometheusRule",
                          "ConfigMap"}
    assert kinds["PrometheusRule"]["spec"]["groups"]
    for group in kinds["PrometheusRule"]["spec"]["groups"]:
        assert group["name"] and group["rules"]
        for rule in group["rules"]:
            assert rule["expr"] and ("alert" in rule or "record" in rule)
    assert kinds["ConfigMap"]["metadata"]["labels"]["grafana_dashboard"] == "1"


def test_kustomization_lists_existing_files() -> None:
    kustomization = load(KUBE / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == sorted(kube_docs())
    for generator in kustomization["configMapGenerator"]:
        for file in generator["files"]:
            assert (KUBE / file.split("=")[-1]).is_file()
    # the config ConfigMap is a valid outagemon config
    from monitor.config import load_config

    assert load_config(KUBE / "config.yaml", env={}).targets


def test_statefulset_shards_by_ordinal_and_wires_up() -> None:
    kinds = by_kind()
    sts = kinds["StatefulSet"]
    spec = sts["spec"]
    pod = spec["template"]["spec"]
    labels = spec["template"]["metadata"]["labels"]
    assert spec["selector"]["matchLabels"].items() <= labels.items()
    assert spec["serviceName"] == kinds["Service"]["metadata"]["name"]
    (container,) = pod["containers"]
    args = container["args"]
    count = int(args[args.index("--shard-from-ordinal") + 1])
    assert count == spec["replicas"], "--shard-from-ordinal N must equal replicas"
    from monitor.cli import build_parser

    parsed = build_parser().parse_args(["run", *args])
    assert parsed.shard_from_ordinal == count
    assert parsed.listen == ("0.0.0.0", 9717)
    assert parsed.state.startswith("/var/lib/outagemon/")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": 9717}
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert pod["securityContext"]["runAsNonRoot"] is True
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts["state"] == "/var/lib/outagemon"
    assert mounts["config"] == "/etc/outagemon"
    assert [t["metadata"]["name"] for t in spec["volumeClaimTemplates"]] == ["state"]
    config = next(v for v in pod["volumes"] if v["name"] == "config")
    generated = [g["name"] for g in load(KUBE / "kustomization.yaml")["configMapGenerator"]]
    assert config["configMap"]["name"] in generated

    service = kinds["Service"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert service["spec"]["ports"][0]["targetPort"] == "http"
    monitor = kinds["ServiceMonitor"]
    assert monitor["spec"]["selector"]["matchLabels"].items() <= \
        service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"][0]["port"] == service["spec"]["ports"][0]["name"]


def test_generated_files_are_up_to_date(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("generate", KUBE / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if module.main(["--check"]) != 0:
        pytest.fail("deploy/kubernetes is stale: run python deploy/kubernetes/generate.py")
