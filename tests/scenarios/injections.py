"""Which faults a scenario injects, for the replays' own tests."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from monitor.simulate import World
from monitor.simulate.faults import Fault


def record_injections(world: World) -> list[tuple[str, str, str | None]]:
    """A list that fills with (name, fault, vantage) for each fault injected into `world`
    from now on, in order."""
    injected: list[tuple[str, str, str | None]] = []
    add_fault = world.add_fault

    def recording(venue: str, fault: str, params: Mapping[str, Any] | None = None,
                  **options: Any) -> Fault:
        injected.append((venue, fault, options.get("vantage")))
        return add_fault(venue, fault, params, **options)

    world.add_fault = recording  # type: ignore[method-assign]
    return injected
