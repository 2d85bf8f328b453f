"""The committed dashboards: generated, current, modern panel types, fixed unique uids, and a
PromQL query behind every panel."""

from __future__ import annotations

import json
from typing import Any

from dashboards.generate import JSON_DIR, rendered

LEGACY_TYPES = {"graph", "singlestat", "table-old", "grafana-piechart-panel"}
EXPECTED_UIDS = {"outagemon-overview", "outagemon-exchanges", "outagemon-rpc",
                 "outagemon-status-pages", "outagemon-self"}


def committed() -> dict[str, dict[str, Any]]:
    return {path.name: json.loads(path.read_text()) for path in sorted(JSON_DIR.glob("*.json"))}


def panels(board: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for panel in board.get("panels", []):
        out.append(panel)
        out.extend(panel.get("panels", []))  # panels of collapsed rows
    return [panel for panel in out if panel.get("type") != "row"]


def test_committed_json_is_the_generator_output() -> None:
    generated = rendered()
    files = {path.name: path.read_text() for path in JSON_DIR.glob("*.json")}
    assert sorted(files) == sorted(generated), "run python -m dashboards.generate"
    for name, text in generated.items():
        assert files[name] == text, f"{name} differs from the generator: run " \
                                    "python -m dashboards.generate"


def test_uids_are_fixed_and_unique() -> None:
    uids = [board["uid"] for board in committed().values()]
    assert len(uids) == len(set(uids))
    assert set(uids) == EXPECTED_UIDS
    # fixed: generating again gives the same uids
    assert sorted(json.loads(text)["uid"] for text in rendered().values()) == sorted(uids)


def test_no_legacy_panel_types() -> None:
    for name, board in committed().items():
        for panel in panels(board):
            assert panel["type"] not in LEGACY_TYPES, f"{name}: {panel['title']}"


def test_every_panel_has_a_query() -> None:
    for name, board in committed().items():
        assert panels(board), name
        for panel in panels(board):
            exprs = [target.get("expr") for target in panel.get("targets", [])]
            assert any(exprs), f"{name}: {panel['title']} has no query"


def test_template_variables() -> None:
    for name, board in committed().items():
        names = {var["name"] for var in board["templating"]["list"]}
        assert {"datasource", "provider", "kind", "vantage"} <= names, name
    assert "chain" in {var["name"] for var in committed()["rpc.json"]["templating"]["list"]}


def test_schema_is_grafana_11() -> None:
    for board in committed().values():
        assert board["schemaVersion"] >= 39
