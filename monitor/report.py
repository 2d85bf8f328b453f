"""One JSON shape for a target's latest result, shared by `check --json` and the HTTP API."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from monitor.observation import Observation, State
from monitor.redact import scrub
from monitor.schema import TargetBase

MAX_FACT_ITEMS = 50


def rfc3339(timestamp: float | None) -> str | None:
    if timestamp is None:
        return None
    return datetime.fromtimestamp(timestamp, UTC).isoformat().replace("+00:00", "Z")


def json_safe(value: Any, depth: int = 0) -> Any:
    """Facts as plain JSON: strings scrubbed, non-finite floats dropped, size bounded."""
    if depth > 5:
        return None
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, bool | int) or value is None:
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        items = list(value.items())[:MAX_FACT_ITEMS]
        return {str(k): json_safe(v, depth + 1) for k, v in items}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(v, depth + 1) for v in list(value)[:MAX_FACT_ITEMS]]
    return scrub(str(value))


def state_of_single_probe(obs: Observation) -> State:
    """The state one probe alone implies (used by `check`, which has no history)."""
    from monitor.observation import Reason

    if obs.reason is Reason.OK:
        return State.UP
    if obs.reason is Reason.DEGRADED:
        return State.DEGRADED
    if obs.reason is Reason.MAINTENANCE:
        return State.MAINTENANCE
    return State.DOWN


def result_json(target: TargetBase, state: State, obs: Observation | None) -> dict[str, Any]:
    return {
        "target": target.name,
        "kind": target.kind,
        "provider": target.provider_label,
        "state": state.value,
        "reason": obs.reason.value if obs else None,
        "latency_seconds": obs.latency if obs else None,
        "detail": scrub(obs.detail) if obs else "",
        "facts": json_safe(dict(obs.facts)) if obs else {},
    }
