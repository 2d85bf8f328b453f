"""The alert engine: target states in, notifications out. Pure logic, no I/O; time is passed in
(wall seconds).

Each `evaluate` derives the alerts the targets' states imply (monitor.alerts.rules), holds
back those another alert explains (DependencyOutage, ChainHalted) or that a maintenance window
covers, and decides what to send: an alert's first firing after group_wait (alerts that start
within group_wait of each other go together), a repeat every repeat_interval, an update when
its content changes (a new status page update), and its resolution. Held back alerts still
fire: `active()` and `firing_counts()` report them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from monitor.alerting import Alert, AlertStatus, Notification, fingerprint
from monitor.alerts.routing import Batch, in_maintenance, route
from monitor.alerts.rules import (
    Candidate,
    DependencyRule,
    TargetSnapshot,
    chain_candidates,
    dependency_candidate,
    dependency_outages,
    target_candidates,
)
from monitor.correlate import ChainView
from monitor.observation import State
from monitor.settings import Config

__all__ = ["AlertEngine", "Batch", "TargetSnapshot", "route"]

FLAP_MAX_FLIPS = 4  # more state changes than this within FLAP_WINDOW: flapping
FLAP_WINDOW = 600.0
STATE_VERSION = 1
_CHAIN_HELD = frozenset({"RpcLagging", "TargetDown"})
# A venue's announced maintenance covers what follows it (a suspension, a slow restart) for
# at most this long after the venue last said it was in maintenance.
MAINTENANCE_AFTERMATH = 3600.0
_HEALTHY = frozenset({State.UP, State.DEGRADED})


def _maintenance_group(snap: TargetSnapshot) -> str:
    """What a target's announced maintenance covers: its provider's targets, or itself."""
    provider = snap.target.provider
    return f"provider:{provider}" if provider else f"target:{snap.target.name}"


@dataclass(slots=True)
class _Tracked:
    """One firing alert and its notification history."""

    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    target: str | None
    repeat_interval: float
    seq: int = 0  # notifications sent for it so far minus one (-1: none yet)
    sent: bool = False  # its firing went out
    last_sent: float | None = None
    pending_since: float | None = None  # eligible to go out since (not held back)
    update_key: str = ""
    sent_update_key: str = ""
    flapping: bool = False
    sent_flapping: bool = False
    held: str = ""  # why it is held back ('' if it is not)
    settle: float = 0.0  # extra wait before its first notification (rules.dependency_settle)

    def alert(self, ends_at: float | None = None) -> Alert:
        return Alert(labels=dict(self.labels), annotations=dict(self.annotations),
                     starts_at=self.starts_at, ends_at=ends_at)


@dataclass(slots=True)
class _Scan:
    candidates: list[Candidate] = field(default_factory=list)  # implied by the targets
    undecided: set[str] = field(default_factory=set)  # targets not probed yet
    dependents: list[TargetSnapshot] = field(default_factory=list)  # those with depends_on
    maintenance: bool = False  # some target is in maintenance


@dataclass(slots=True)
class _Outgoing:
    firing: list[tuple[Alert, int]] = field(default_factory=list)
    resolved: list[tuple[Alert, int]] = field(default_factory=list)


class AlertEngine:
    def __init__(self, config: Config, *, vantage: str | None = None,
                 flap_max_flips: int = FLAP_MAX_FLIPS, flap_window: float = FLAP_WINDOW) -> None:
        self.config = config
        self.vantage = vantage or config.vantage
        self.flap_max_flips = flap_max_flips
        self.flap_window = flap_window
        self._tracked: dict[str, _Tracked] = {}
        self._last_state: dict[str, str] = {}
        self._flips: dict[str, list[float]] = {}
        # target -> (the target whose announced maintenance covers it, when that one last
        # said so), for every covered target not healthy again yet
        self._maintenance: dict[str, tuple[str, float]] = {}
        self._outage_members: dict[str, set[str]] = {}  # of this evaluation
        # target -> (its snapshot, the alerts it implies) as of the last evaluation
        self._implied: dict[str, tuple[TargetSnapshot, list[Candidate]]] = {}
        self._implied_severity = config.alerts.defaults.severity

    # -- reading ---------------------------------------------------------------------------

    def active(self) -> list[Alert]:
        """Every firing alert, held back or not (for /api/v1/alerts)."""
        tracked = sorted(self._tracked.values(), key=lambda t: (t.starts_at, t.labels["alertname"]))
        return [t.alert() for t in tracked]

    def firing_counts(self) -> dict[tuple[str, str], int]:
        counts = Counter((t.labels["alertname"], t.labels["severity"])
                         for t in self._tracked.values())
        return dict(counts)

    def next_due(self) -> float | None:
        """When an evaluation would next send something without any state change."""
        times = []
        for t in self._tracked.values():
            if t.held:
                continue
            if not t.sent and t.pending_since is not None:
                times.append(t.pending_since + t.settle + self.config.alerts.group_wait)
            elif t.sent and t.last_sent is not None:
                times.append(t.last_sent + t.repeat_interval)
        return min(times, default=None)

    # -- evaluation ------------------------------------------------------------------------

    def evaluate(self, now: float, targets: Iterable[TargetSnapshot],
                 chains: Iterable[ChainView] = ()) -> list[Notification]:
        snaps = list(targets)
        scan = self._scan(snaps, now)
        candidates, held = self._candidates(snaps, scan, list(chains), now)
        out = _Outgoing()
        self._resolve_gone(candidates, now, out, scan.undecided)
        for fp, candidate in candidates.items():
            self._upsert(fp, candidate, held.get(fp, ""), now)
        self._due(now, out)
        return self._notifications(now, out)

    def _scan(self, snaps: Sequence[TargetSnapshot], now: float) -> _Scan:
        """One pass over every target: the alerts each implies, state flips, and who matters
        to the cross-target rules. Thousands of targets are evaluated every second, so what
        a target implies is remembered while its snapshot stays the same object (the daemon
        reuses unchanged ones); a certificate's expiry is then judged against the time of
        the target's last probe."""
        severity = self.config.alerts.defaults.severity
        if severity != self._implied_severity:
            self._implied.clear()
            self._implied_severity = severity
        implied = self._implied
        scan = _Scan()
        for snap in snaps:
            target = snap.target
            name = target.name
            cached = implied.get(name)
            found = (cached[1] if cached is not None and cached[0] is snap
                     else self._derive(snap, now))
            if found:
                scan.candidates.extend(found)
            if snap.state is State.UNKNOWN:
                scan.undecided.add(name)
            elif snap.state is State.MAINTENANCE:
                scan.maintenance = True
            if target.depends_on:
                scan.dependents.append(snap)
        if len(implied) > len(snaps):  # targets were removed by a reload: forget them
            names = {snap.target.name for snap in snaps}
            for gone in [name for name in implied if name not in names]:
                del implied[gone]
                self._last_state.pop(gone, None)
        self._forget_old_flips(now)
        return scan

    def derive(self, snap: TargetSnapshot, now: float) -> None:
        """Work out what a target's new snapshot implies as soon as it exists (the daemon
        calls this as each probe lands), so the next evaluation finds it done rather than
        deriving every target probed since the last one in a single turn of the event loop.
        The severity check stays with the evaluation."""
        cached = self._implied.get(snap.target.name)
        if cached is None or cached[0] is not snap:
            self._derive(snap, now)

    def _derive(self, snap: TargetSnapshot, now: float) -> list[Candidate]:
        name = snap.target.name
        self._note_state(name, snap.state, now)
        found = target_candidates(snap, now=now, vantage=self.vantage,
                                  default_severity=self._implied_severity)
        self._implied[name] = (snap, found)
        return found

    def _candidates(self, snaps: Sequence[TargetSnapshot], scan: _Scan,
                    chains: Sequence[ChainView], now: float
                    ) -> tuple[dict[str, Candidate], dict[str, str]]:
        found = [*scan.candidates, *chain_candidates(chains, self.vantage),
                 *self._dependency_candidates(scan.dependents, now)]
        candidates = {fingerprint(c.labels): c for c in found}
        announced = (self._announced_maintenance(snaps, now)
                     if scan.maintenance or self._maintenance else {})
        return candidates, self._holds(candidates, chains, announced, now)

    def _dependency_candidates(self, snaps: Sequence[TargetSnapshot],
                               now: float) -> list[Candidate]:
        rule = self.config.alerts.dependency_outage
        firing = {t.labels["dependency"] for t in self._tracked.values()
                  if t.labels["alertname"] == "DependencyOutage"}
        outages = dependency_outages(
            snaps, DependencyRule(rule.min_targets, rule.min_ratio, rule.window), now=now,
            firing=firing)
        self._outage_members = {dep: set(down) for dep, down in outages.items()}
        totals = Counter(dep for s in snaps for dep in s.target.depends_on)
        return [dependency_candidate(dep, down, totals[dep], self.vantage)
                for dep, down in outages.items()]

    def _holds(self, candidates: dict[str, Candidate], chains: Sequence[ChainView],
               announced: dict[str, str], now: float) -> dict[str, str]:
        """Fingerprint -> why its notifications are held back."""
        halted = {v.chain for v in chains if v.halted}
        held: dict[str, str] = {}
        for fp, c in candidates.items():
            reason = self._hold_reason(c, halted, announced, now)
            if reason:
                held[fp] = reason
        return held

    def _announced_maintenance(self, snaps: Sequence[TargetSnapshot],
                               now: float) -> dict[str, str]:
        """Target name -> the target whose venue announced maintenance covering it: the
        announcing target itself and every target of the same (explicit) provider. The
        cover outlives the announcement for every target not healthy again yet, so that a
        suspension right after it (the status endpoint failing too) or a slow restart is
        still the maintenance's: an announcing target keeps covering its provider's targets,
        any other target itself, at most MAINTENANCE_AFTERMATH after the last announcement."""
        marks = self._maintenance
        for s in snaps:
            name = s.target.name
            if s.state is State.MAINTENANCE:
                marks[name] = (name, now)
            elif name in marks and (s.state in _HEALTHY
                                    or now - marks[name][1] > MAINTENANCE_AFTERMATH):
                del marks[name]
        if not marks:
            return {}
        by_name = {s.target.name: s for s in snaps}
        for name in [name for name in marks if name not in by_name]:
            del marks[name]  # removed by a reload
        groups: dict[str, list[TargetSnapshot]] = {}
        for s in snaps:
            groups.setdefault(_maintenance_group(s), []).append(s)
        out = {name: name for name, (announcer, _) in marks.items() if announcer == name}
        for announcer in list(out):
            since = marks[announcer][1]
            for member in groups[_maintenance_group(by_name[announcer])]:
                name = member.target.name
                out.setdefault(name, announcer)
                if member.state not in _HEALTHY and out[name] != name:
                    marks[name] = (announcer, since)
        for name, (announcer, _) in marks.items():
            out.setdefault(name, announcer)
        return out

    def _hold_reason(self, c: Candidate, halted: set[str], announced: dict[str, str],
                     now: float) -> str:
        name = c.labels["alertname"]
        if c.target is None:
            return ""
        window = in_maintenance(self.config.maintenance, c.target, now)
        if window:
            return f"maintenance: {window}"
        if c.target in announced and name != "ExchangeMaintenance":
            return f"maintenance announced by {announced[c.target]}"
        if name in _CHAIN_HELD and c.labels.get("chain") in halted:
            return f"chain {c.labels['chain']} halted"
        if name == "TargetDown":
            for dep, members in sorted(self._outage_members.items()):
                if c.target in members:
                    return f"dependency {dep} outage"
        return ""

    # -- lifecycle -------------------------------------------------------------------------

    def _upsert(self, fp: str, c: Candidate, held: str, now: float) -> None:
        tracked = self._tracked.get(fp)
        if tracked is None:
            starts_at = c.since if c.since is not None and c.since <= now else now
            tracked = _Tracked(labels=dict(c.labels), annotations={}, starts_at=starts_at,
                               target=c.target, seq=-1,
                               repeat_interval=c.repeat_interval
                               or self.config.alerts.defaults.repeat_interval)
            self._tracked[fp] = tracked
        tracked.annotations = {"summary": c.summary, "description": c.description}
        tracked.update_key = c.update_key
        tracked.settle = c.settle
        tracked.flapping = c.target is not None and self._is_flapping(c.target, now)
        self._annotate(tracked, held)
        tracked.held = held
        if held:
            tracked.pending_since = None
        elif not tracked.sent and tracked.pending_since is None:
            tracked.pending_since = now

    def _annotate(self, tracked: _Tracked, held: str) -> None:
        if tracked.flapping:
            tracked.annotations["flapping"] = (
                f"{tracked.target} changed state more than {self.flap_max_flips} times in "
                f"{self.flap_window:g}s")
        if held:
            tracked.annotations["held_back"] = held

    def _resolve_gone(self, candidates: dict[str, Candidate], now: float,
                      out: _Outgoing, undecided: set[str]) -> None:
        for fp in [fp for fp in self._tracked if fp not in candidates]:
            tracked = self._tracked[fp]
            # A target not probed to a verdict yet (just after a restart or a reload) has
            # not recovered: its alert stays until the target says otherwise.
            if tracked.target in undecided:
                continue
            # A flapping target's alert stays open across its flips: reported once.
            if tracked.target is not None and self._is_flapping(tracked.target, now):
                continue
            # A venue that went dark right after announcing maintenance is still in it.
            if (tracked.labels["alertname"] == "ExchangeMaintenance"
                    and tracked.target in self._maintenance):
                continue
            del self._tracked[fp]
            if tracked.sent:
                # Resolutions go out even in maintenance: a receiver must not keep an
                # incident open that we opened.
                out.resolved.append((tracked.alert(ends_at=now), tracked.seq + 1))

    def _due(self, now: float, out: _Outgoing) -> None:
        eligible = [t for t in self._tracked.values() if not t.held]
        new = [t for t in eligible if not t.sent and t.pending_since is not None
               and now >= t.pending_since + t.settle]
        group_start = min((t.pending_since + t.settle for t in new
                           if t.pending_since is not None), default=None)
        if group_start is not None and now >= group_start + self.config.alerts.group_wait:
            for t in new:
                self._send(t, now, out)
        for t in eligible:
            if t.sent and self._needs_resend(t, now):
                self._send(t, now, out)

    def _needs_resend(self, t: _Tracked, now: float) -> bool:
        if t.update_key != t.sent_update_key:
            return True
        if t.flapping and not t.sent_flapping:
            return True
        return t.last_sent is not None and now - t.last_sent >= t.repeat_interval

    def _send(self, t: _Tracked, now: float, out: _Outgoing) -> None:
        t.seq += 1
        t.sent = True
        t.last_sent = now
        t.sent_update_key = t.update_key
        t.sent_flapping = t.sent_flapping or t.flapping
        out.firing.append((t.alert(), t.seq))

    def _notifications(self, now: float, out: _Outgoing) -> list[Notification]:
        notifications = []
        for status, items in ((AlertStatus.FIRING, out.firing),
                              (AlertStatus.RESOLVED, out.resolved)):
            if not items:
                continue
            items.sort(key=lambda item: item[0].fingerprint)
            batch = Batch(status=status, alerts=tuple(a for a, _ in items),
                          seqs=tuple(s for _, s in items), group_key=self._group_key(),
                          created_at=now, group_labels={"vantage": self.vantage})
            notifications += route(batch, self.config.notifiers)
        return notifications

    def _group_key(self) -> str:
        return f'{{}}:{{vantage="{self.vantage}"}}'

    # -- flapping --------------------------------------------------------------------------

    def _note_state(self, name: str, current: State, now: float) -> None:
        state = str(current)
        previous = self._last_state.get(name)
        self._last_state[name] = state
        if previous is not None and previous != state and State.UNKNOWN not in (
                previous, state):
            self._flips.setdefault(name, []).append(now)

    def _forget_old_flips(self, now: float) -> None:
        for name in list(self._flips):
            recent = [t for t in self._flips[name] if now - t <= self.flap_window]
            if recent:
                self._flips[name] = recent
            else:
                del self._flips[name]

    def _is_flapping(self, target: str, now: float) -> bool:
        flips = self._flips.get(target, [])
        return sum(1 for t in flips if now - t <= self.flap_window) > self.flap_max_flips

    # -- persistence -----------------------------------------------------------------------

    def export_state(self) -> dict[str, Any]:
        """Plain JSON-able data: what fires and what was sent for it."""
        return {
            "version": STATE_VERSION,
            "vantage": self.vantage,
            "alerts": [asdict(t) for t in self._tracked.values()],
            "last_state": dict(self._last_state),
            "flips": {name: list(times) for name, times in self._flips.items()},
            "maintenance": {name: list(mark) for name, mark in self._maintenance.items()},
        }

    def import_state(self, data: dict[str, Any]) -> None:
        """Restore `export_state` output. Unknown versions are ignored (a fresh start)."""
        if data.get("version") != STATE_VERSION:
            return
        tracked = [_Tracked(**item) for item in data.get("alerts", [])]
        self._tracked = {fingerprint(t.labels): t for t in tracked}
        self._last_state = {str(k): str(v) for k, v in data.get("last_state", {}).items()}
        self._flips = {str(k): [float(t) for t in v] for k, v in data.get("flips", {}).items()}
        self._maintenance = {str(k): (str(v[0]), float(v[1]))
                             for k, v in data.get("maintenance", {}).items()}

