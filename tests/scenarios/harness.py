"""Play a scenario against the demo: the simulated world, the real daemon process watching it
with the demo's config (faster intervals), and a local webhook receiver collecting what the
daemon notifies. Scenario tests assert the scenario's `Expected` alerts from that.
`play_vantages` does the same with a daemon per vantage point of the world."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from monitor.commands.demo import DEMO_CHAINS, DEMO_PAGES, DEMO_VENUES, demo_config_data
from monitor.simulate import World
from monitor.simulate.scenarios import AlertMatch, Expected, get_scenario
from tests.conftest import wait_for
from tests.daemon_process import DaemonProcess
from tests.notify.receiver import Receiver, free_port

# The demo probes every 5 s with 2 s timeouts; tests probe ten times as often.
INTERVAL = "500ms"
TIMEOUT = "400ms"
PAGE_INTERVAL = "500ms"
GROUP_WAIT = "200ms"


@dataclass(frozen=True)
class Seen:
    """One alert as a notification carried it."""

    status: str  # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str]


@dataclass
class ScenarioRun:
    world: World
    receiver: Receiver
    daemon: DaemonProcess
    config: dict[str, Any] = field(default_factory=dict)

    def seen(self) -> list[Seen]:
        out = []
        for request in self.receiver.received:
            payload = json.loads(request.body)
            for alert in payload.get("alerts", []):
                out.append(Seen(alert["status"], alert["labels"], alert.get("annotations", {})))
        return out

    def notified(self, match: AlertMatch, status: str | None = None) -> list[Seen]:
        return [item for item in self.seen()
                if match.matches(item.labels) and (status is None or item.status == status)]

    async def active(self) -> list[Mapping[str, str]]:
        """Labels of the daemon's active alerts (GET /api/v1/alerts), held-back ones too."""
        return [alert["labels"] for alert in await self.daemon.get_json("/api/v1/alerts")]

    async def wait_notified(self, matches: Iterable[AlertMatch], status: str = "firing",
                            timeout: float = 30.0) -> None:
        wanted = list(matches)

        def arrived() -> bool:
            return all(self.notified(match, status) for match in wanted)

        try:
            await wait_for(arrived, timeout=timeout,
                           what=f"{status}: {', '.join(map(str, wanted))}")
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nnotified so far:\n{self.describe()}") from None

    async def wait_active(self, matches: Iterable[AlertMatch], timeout: float = 30.0) -> None:
        wanted = list(matches)

        async def present() -> bool:
            active = await self.active()
            return all(any(match.matches(labels) for labels in active) for match in wanted)

        await wait_for(present, timeout=timeout,
                       what=f"active alerts: {', '.join(map(str, wanted))}")

    def describe(self) -> str:
        return "\n".join(f"  {item.status} {dict(item.labels)}" for item in self.seen()) or "  -"

    async def check(self, expected: Expected, timeout: float = 30.0) -> None:
        """Wait for every `fire` to arrive and every `held` to be active, then check no
        `held` or `never` alert was notified and no `never` one is active."""
        await self.wait_notified(expected.fire, timeout=timeout)
        await self.wait_active(expected.held, timeout=timeout)
        active = await self.active()
        for match in (*expected.held, *expected.never):
            assert not self.notified(match), (
                f"{match} must not be notified:\n{self.describe()}")
        for match in expected.never:
            assert not any(match.matches(labels) for labels in active), (
                f"{match} must not be active: {active}")
        if expected.resolve:
            await self.wait_notified(expected.resolve, status="resolved", timeout=timeout)


def scenario_config(world: World, receiver: Receiver, *, vantage: str = "demo",
                    adjust: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The demo's config for `world` (as `vantage` sees it, when the world serves that
    vantage), probing faster, notifying `receiver`."""
    data = demo_config_data(world, vantage if vantage in world.vantages else None)
    data["vantage"] = vantage
    data["defaults"] = {"interval": INTERVAL, "timeout": TIMEOUT}
    data["alerts"] = {"defaults": {"failure_threshold": 2, "success_threshold": 2},
                      "group_wait": GROUP_WAIT}
    for target in data["targets"]:
        if target["kind"] in ("statuspage", "cloud_status"):
            target["interval"] = PAGE_INTERVAL
        elif target["kind"] == "price":  # its kind's default (10 s) outranks `defaults`
            target["interval"] = INTERVAL
    data["notifiers"] = [{"name": "hook", "type": "webhook", "url": receiver.url()}]
    if adjust is not None:
        adjust(data)
    return data


@asynccontextmanager
async def play(name: str, tmp_path: Path, *, time_scale: float = 0.1,
               world: World | None = None,
               adjust: Callable[[dict[str, Any]], None] | None = None,
               ) -> AsyncIterator[ScenarioRun]:
    """Start the demo world (or `world`), the daemon on its config and a receiver; once the
    daemon is ready, play scenario `name` at `time_scale` (0.1: ten times as fast)."""
    get_scenario(name)
    world = world or World(venues=DEMO_VENUES, chains=DEMO_CHAINS, pages=DEMO_PAGES,
                           time_scale=time_scale)
    receiver = Receiver(free_port())
    async with world:
        await receiver.start()
        daemon: DaemonProcess | None = None
        try:
            data = scenario_config(world, receiver, adjust=adjust)
            path = tmp_path / "config.yaml"
            path.write_text(json.dumps(data))  # YAML is a superset of JSON
            daemon = await DaemonProcess(path, tmp_path / "state.db").start()
            await daemon.wait_ready(timeout=30)
            world.play(name)
            yield ScenarioRun(world, receiver, daemon, data)
        finally:
            if daemon is not None:
                await daemon.stop()
            await receiver.stop()


# -- one daemon per vantage point -----------------------------------------------------------


@dataclass
class VantageView(ScenarioRun):
    """One vantage of a VantagesRun: its daemon's active alerts, and only the notifications
    whose `vantage` label is its own."""

    vantage: str = ""

    def seen(self) -> list[Seen]:
        return [item for item in super().seen() if item.labels.get("vantage") == self.vantage]


@dataclass
class VantagesRun(ScenarioRun):
    """A scenario watched by one daemon per vantage point, all notifying one receiver (their
    alerts carry a `vantage` label): `seen`, `active` and `check` cover every vantage,
    `at(vantage)` is one vantage's view. `daemon` and `config` are the first vantage's."""

    daemons: dict[str, DaemonProcess] = field(default_factory=dict)
    configs: dict[str, dict[str, Any]] = field(default_factory=dict)

    async def active(self) -> list[Mapping[str, str]]:
        return [alert["labels"] for daemon in self.daemons.values()
                for alert in await daemon.get_json("/api/v1/alerts")]

    def at(self, vantage: str) -> VantageView:
        return VantageView(self.world, self.receiver, self.daemons[vantage],
                           self.configs[vantage], vantage=vantage)


@asynccontextmanager
async def play_vantages(name: str, tmp_path: Path, *, vantages: Iterable[str],
                        time_scale: float = 0.1,
                        adjust: Callable[[dict[str, Any]], None] | None = None,
                        ) -> AsyncIterator[VantagesRun]:
    """Like `play`, with the demo world serving `vantages` and a daemon watching it from each
    (each on that vantage's config); once every daemon is ready, play scenario `name`."""
    get_scenario(name)
    names = tuple(vantages)
    world = World(venues=DEMO_VENUES, chains=DEMO_CHAINS, pages=DEMO_PAGES,
                  time_scale=time_scale, vantages=names)
    receiver = Receiver(free_port())
    daemons: dict[str, DaemonProcess] = {}
    async with world:
        await receiver.start()
        try:
            configs = {vantage: scenario_config(world, receiver, vantage=vantage, adjust=adjust)
                       for vantage in names}
            for vantage, data in configs.items():
                folder = tmp_path / vantage
                folder.mkdir()
                path = folder / "config.yaml"
                path.write_text(json.dumps(data))
                daemons[vantage] = await DaemonProcess(path, folder / "state.db").start()
            await asyncio.gather(*(daemon.wait_ready(timeout=30)
                                   for daemon in daemons.values()))
            world.play(name)
            first = names[0]
            yield VantagesRun(world, receiver, daemons[first], configs[first],
                              daemons=daemons, configs=configs)
        finally:
            await asyncio.gather(*(daemon.stop() for daemon in daemons.values()))
            await receiver.stop()
