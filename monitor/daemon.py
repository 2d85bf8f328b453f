"""The running daemon: targets, their checks and health, the scheduler, reloads."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import structlog

from checks.base import Check, CheckEnv
from checks.registry import kinds
from monitor import __version__
from monitor.alert_engine import AlertEngine
from monitor.alerting import AlertStatus, Notification
from monitor.alerts.routing import Batch, route
from monitor.alerts.rules import TargetSnapshot
from monitor.clock import Clock, RealClock
from monitor.correlate import ChainCorrelator
from monitor.exposition import Exposition, render_ahead
from monitor.health import Health, StateChange
from monitor.metrics import AlertingNumbers, DaemonMetrics, TargetMetrics
from monitor.notify.alertmanager import RESEND_INTERVAL
from monitor.notify.base import build_notifiers
from monitor.notify.outbox import Dispatcher, Outbox
from monitor.observation import Observation, State
from monitor.prices import PriceBoard
from monitor.scheduler import Scheduler
from monitor.schema import TargetBase
from monitor.settings import Config
from monitor.shard import Shard
from monitor.store import Store

log = structlog.get_logger("outagemon")

ALERT_STATE_KEY = "alert_engine"
ALERT_TICK = 1.0  # seconds between alert evaluations (group_wait and repeats need no more)
# A state change is evaluated at once rather than at the next tick, but evaluations (a walk
# over every target) stay at least this far apart when thousands of targets change at once.
ALERT_MIN_GAP = 0.1

ConfigLoader = Callable[[], Config]


@dataclass
class TargetRun:
    """One target as it runs: its definition, check, health and accumulated metrics."""

    target: TargetBase
    check: Check
    health: Health
    metrics: TargetMetrics
    fingerprint: str
    probes: int = 0
    _snapshot: TargetSnapshot | None = field(default=None, repr=False)
    # GET /api/v1/targets' item of this target and what it was made from (monitor/server.py)
    api_cache: tuple[tuple[object, ...], bytes] | None = field(default=None, repr=False)

    @property
    def name(self) -> str:
        return self.target.name

    def snapshot(self) -> TargetSnapshot:
        """The target's health for the alert engine: the same object while nothing changed,
        so the engine can reuse what it derived from it."""
        health, snap = self.health, self._snapshot
        if (snap is None or snap.last is not health.evidence or snap.state is not health.state
                or snap.since != health.since):
            snap = self._snapshot = TargetSnapshot(self.target, health.state, health.since,
                                                   health.evidence)
        return snap


@dataclass(frozen=True)
class ReloadResult:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)


class Daemon:
    def __init__(
        self,
        config: Config,
        *,
        loader: ConfigLoader | None = None,
        clock: Clock | None = None,
        state_path: str = "outagemon.db",
        shard: Shard | None = None,
    ) -> None:
        self.config = config
        self._loader = loader
        self.clock = clock or RealClock()
        self.shard = shard
        self.runs: dict[str, TargetRun] = {}
        self.prices = PriceBoard()  # shared: exchange streams publish, price checks read
        self.chains = ChainCorrelator()
        self.daemon_metrics = DaemonMetrics()
        self.store = Store(state_path, history_per_target=config.server.history_per_target)
        self.scheduler = Scheduler(
            self.clock,
            max_concurrency=config.defaults.max_concurrency,
            on_result=self._on_result,
            on_lag=self.daemon_metrics.scheduler_lag.observe,
        )
        self.exposition = Exposition(
            self.targets, self.daemon_metrics, version=__version__, vantage=config.vantage,
            chains=lambda: self.chains.views(self.clock.wall()),
            alerting=self._alerting_numbers,
        )
        self._reload_lock = asyncio.Lock()
        self.started_at: float | None = None
        self.alerts = AlertEngine(config)
        self.outbox = Outbox(state_path)
        self.dispatcher = Dispatcher(self.outbox, build_notifiers(config), clock=self.clock)
        self._alert_task: asyncio.Task[None] | None = None
        self._state_changed = asyncio.Event()
        self._refreshed_at: float | None = None

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        await self.store.open()
        await self.outbox.open()
        saved = await self.store.load(ALERT_STATE_KEY)
        if isinstance(saved, dict):
            self.alerts.import_state(saved)
        self.dispatcher.start()
        self.started_at = self.clock.wall()
        for target in self._my_targets(self.config):
            await self._add(target)
        self._alert_task = asyncio.create_task(self._alert_loop(), name="alerts")
        log.info("daemon started", targets=len(self.runs), vantage=self.config.vantage,
                 shard=str(self.shard) if self.shard else None)

    async def stop(self) -> None:
        if self._alert_task is not None:
            self._alert_task.cancel()
            await asyncio.gather(self._alert_task, return_exceptions=True)
        await self.scheduler.stop()
        await asyncio.gather(*(run.check.close() for run in self.runs.values()),
                             return_exceptions=True)
        await self.dispatcher.stop()  # pending notifications stay in the outbox
        await self.store.save(ALERT_STATE_KEY, self.alerts.export_state())
        await self.outbox.close()
        await self.store.close()
        log.info("daemon stopped")

    async def reload(self) -> ReloadResult:
        """Load the config again; targets whose definition did not change keep their state."""
        if self._loader is None:
            raise RuntimeError("this daemon has no config source to reload from")
        async with self._reload_lock:
            # Reading, validating and fingerprinting 10,000 targets takes about 1.5 s: off the
            # event loop, so the probes keep their schedule meanwhile.
            new_config, fingerprints = await asyncio.to_thread(self._read_config)
            result = await self._apply(new_config, fingerprints)
        log.info("config reloaded", added=len(result.added), removed=len(result.removed),
                 changed=len(result.changed), unchanged=len(result.unchanged))
        return result

    # -- views -------------------------------------------------------------------------

    def targets(self) -> Iterator[TargetRun]:
        return iter(list(self.runs.values()))

    def ready(self) -> bool:
        """Config loaded and every target probed at least once."""
        return self.started_at is not None and all(run.probes for run in self.runs.values())

    # -- alerts --------------------------------------------------------------------------

    async def evaluate_alerts(self) -> int:
        """Derive alerts from every target's state now; queue what has to go out."""
        now = self.clock.wall()
        snapshots = [run.snapshot() for run in self.runs.values()]
        notifications = self.alerts.evaluate(now, snapshots, self.chains.views(now))
        notifications += self._alertmanager_refresh(now)
        for notification in notifications:
            await self.dispatcher.enqueue(notification)
        if notifications:
            await self.store.save(ALERT_STATE_KEY, self.alerts.export_state())
        return len(notifications)

    def _alertmanager_refresh(self, now: float) -> list[Notification]:
        """Alertmanager resolves an alert nobody re-posts: push the firing ones again every
        RESEND_INTERVAL to the `alertmanager` notifiers."""
        if self._refreshed_at is not None and now - self._refreshed_at < RESEND_INTERVAL:
            return []
        self._refreshed_at = now
        receivers = [n for n in self.config.notifiers if n.type == "alertmanager"]
        alerts = tuple(a for a in self.alerts.active() if "held_back" not in a.annotations)
        if not receivers or not alerts:
            return []
        epoch = int(now // RESEND_INTERVAL)  # a new notification id per refresh
        batch = Batch(AlertStatus.FIRING, alerts, tuple(epoch for _ in alerts),
                      group_key="alertmanager-refresh", created_at=now)
        return route(batch, receivers)

    def _alerting_numbers(self) -> AlertingNumbers:
        depth = {name: 0 for name in self.dispatcher.notifiers}
        depth.update(self.dispatcher.queue_depth)
        failing: dict[str, int] = {}
        for run in self.runs.values():
            for dependency in run.target.depends_on:
                failing[dependency] = failing.get(dependency, 0) + (
                    1 if run.health.state is State.DOWN else 0)
        return AlertingNumbers(self.alerts.firing_counts(), dict(self.dispatcher.results),
                               depth, failing)

    async def _alert_loop(self) -> None:
        while True:
            started = self.clock.monotonic()
            self._state_changed.clear()
            try:
                await self.evaluate_alerts()
            except Exception:  # one bad evaluation must not end alerting for good
                log.exception("alert evaluation failed")
            await self.clock.sleep_until(started + ALERT_MIN_GAP)
            await self._until_tick_or_change(started + ALERT_TICK)

    async def _until_tick_or_change(self, deadline: float) -> None:
        if self._state_changed.is_set():
            return
        tick = asyncio.ensure_future(self.clock.sleep_until(deadline))
        change = asyncio.ensure_future(self._state_changed.wait())
        try:
            await asyncio.wait((tick, change), return_when=asyncio.FIRST_COMPLETED)
        finally:
            tick.cancel()
            change.cancel()

    # -- internals ---------------------------------------------------------------------

    def _my_targets(self, config: Config) -> list[TargetBase]:
        if self.shard is None:
            return list(config.targets)
        return [t for t in config.targets if self.shard.owns(t.name)]

    def _read_config(self) -> tuple[Config, dict[str, str]]:
        """The config from its source and the fingerprint of each of this shard's targets."""
        assert self._loader is not None
        config = self._loader()
        return config, {t.name: t.fingerprint() for t in self._my_targets(config)}

    async def _apply(self, new_config: Config,
                     fingerprints: dict[str, str] | None = None) -> ReloadResult:
        wanted = {t.name: t for t in self._my_targets(new_config)}
        fingerprints = fingerprints or {}
        result = ReloadResult()
        for name in list(self.runs):
            if name not in wanted:
                await self._remove(name)
                result.removed.append(name)
        for name, target in wanted.items():
            current = self.runs.get(name)
            if current is None:
                await self._add(target)
                result.added.append(name)
            elif current.fingerprint != (fingerprints.get(name) or target.fingerprint()):
                await self._remove(name)
                await self._add(target)
                result.changed.append(name)
            else:
                result.unchanged.append(name)
        _share_unchanged(new_config, {name: self.runs[name].target for name in result.unchanged})
        self.config = new_config
        self.alerts.config = new_config
        self.dispatcher.notifiers = dict(build_notifiers(new_config))
        return result

    async def _add(self, target: TargetBase) -> None:
        env = CheckEnv(clock=self.clock, user_agent=f"outagemon/{__version__}",
                       vantage=self.config.vantage, prices=self.prices)
        check = kinds()[target.kind].build(target, env)
        assert target.alert.failure_threshold and target.alert.success_threshold
        health = Health(target.name, failure_threshold=target.alert.failure_threshold,
                        success_threshold=target.alert.success_threshold,
                        interval=target.interval_s)
        run = TargetRun(target, check, health, TargetMetrics.for_target(target),
                        target.fingerprint())
        self.runs[target.name] = run
        await check.start()
        self.scheduler.add(target.name, interval=target.interval_s, timeout=target.timeout_s,
                           probe=check.probe, not_before=health.not_before)

    async def _remove(self, name: str) -> None:
        run = self.runs.pop(name)
        await self.scheduler.remove(name)
        await run.check.close()
        self.prices.forget(name)
        self.chains.forget(name)

    def _on_result(self, name: str, obs: Observation) -> None:
        run = self.runs.get(name)
        if run is None:
            return
        run.probes += 1
        now = self.clock.wall()
        obs = self.chains.observe(run.target, obs, now)
        run.metrics.record(obs)
        change = run.health.observe(obs, self.clock.monotonic())
        render_ahead(run)  # now, a little per probe, rather than all in the next scrape
        self.alerts.derive(run.snapshot(), now)  # likewise for the alert loop
        log.debug("probe", target=name, reason=obs.reason.value, latency=obs.latency,
                  detail=obs.detail)
        if change is not None:
            if change.old is not State.UNKNOWN or change.new is not State.UP:
                self._state_changed.set()  # a first probe that finds it up alerts nobody
            self._log_change(change)
            self.store.record(change)

    @staticmethod
    def _log_change(change: StateChange) -> None:
        emit = log.warning if change.new is State.DOWN else log.info
        emit("target state changed", target=change.target, old=change.old.value,
             new=change.new.value, reason=change.reason.value, detail=change.detail)


def _share_unchanged(config: Config, running: dict[str, TargetBase]) -> None:
    """Point the new config at the running targets' definitions where they did not change.

    A reload parses every target anew; without this the definitions of unchanged targets
    stay in memory twice (the runs' and the new config's) until the next reload, and each
    reload leaves a daemon-sized hole behind in the heap."""
    if running:
        shared = [running.get(target.name, target) for target in config.targets]
        object.__setattr__(config, "targets", shared)
