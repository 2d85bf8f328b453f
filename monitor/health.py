"""Per-target state machine: thresholds, degraded, maintenance, and rate-limit back-off."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.observation import Observation, Reason, State

# Never wait longer than this for a target that asked us to back off.
MAX_BACKOFF = 3600.0


@dataclass(frozen=True, slots=True)
class StateChange:
    target: str
    old: State
    new: State
    at: float  # wall clock
    reason: Reason
    detail: str


class Health:
    """Turns a stream of Observations into a target State.

    - a success makes a target up (or degraded) at once, except a target that is down, which
      needs `success_threshold` consecutive successes to come back;
    - a target goes down after `failure_threshold` consecutive failures; before that it keeps
      its state (a target never probed stays unknown); a geo-blocked target (HTTP 451 or the
      venue's restricted-location answer) is degraded instead: the venue is up, this vantage
      point is refused;
    - a venue that says it is in maintenance is in maintenance at once;
    - a failure the correlate step excused (the target's chain halted) is not counted against
      the target; it still answered, so it counts towards a down target's recovery;
    - rate limiting backs off: `Retry-After` when given, otherwise exponentially from the
      interval; other answers carrying Retry-After (503) are honoured as well.
    """

    def __init__(self, name: str, *, failure_threshold: int, success_threshold: int,
                 interval: float) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.success_threshold = success_threshold
        self.interval = interval
        self.state = State.UNKNOWN
        self.since: float | None = None  # wall clock of the last state change
        self.last: Observation | None = None
        # The latest observation that agrees with the state: what the state's alerts tell.
        # A down target's first good answer (it needs success_threshold of them) or an up
        # target's single failure leave it as it was.
        self.evidence: Observation | None = None
        self.last_success: float | None = None  # wall clock
        self.consecutive_failures = 0
        self.consecutive_successes = 0
        self.backoff_until: float | None = None  # monotonic
        self._rate_limit_strikes = 0

    def observe(self, obs: Observation, now: float) -> StateChange | None:
        """Record one observation; `now` is the monotonic time. Returns the change, if any."""
        self.last = obs
        change = self._judge(obs, now)
        if change is not None or self._agrees(obs):
            self.evidence = obs
        return change

    def _agrees(self, obs: Observation) -> bool:
        state = self.state
        if state is State.DOWN:
            return not obs.success
        if state is State.UP:
            return obs.success and obs.reason is not Reason.DEGRADED
        if state is State.DEGRADED:
            return obs.reason in (Reason.DEGRADED, Reason.GEO_BLOCKED)
        if state is State.MAINTENANCE:
            return obs.reason is Reason.MAINTENANCE
        return True

    def _judge(self, obs: Observation, now: float) -> StateChange | None:
        self._update_backoff(obs, now)
        if obs.excused_by and not obs.success:
            return self._excused(obs)
        if obs.reason is Reason.MAINTENANCE:
            self.consecutive_failures = self.consecutive_successes = 0
            return self._move(State.MAINTENANCE, obs)
        if obs.success:
            self.last_success = obs.started_at
            self.consecutive_failures = 0
            self.consecutive_successes += 1
            target_state = State.DEGRADED if obs.reason is Reason.DEGRADED else State.UP
            if self.state is State.DOWN and self.consecutive_successes < self.success_threshold:
                return None
            return self._move(target_state, obs)
        self.consecutive_successes = 0
        self.consecutive_failures += 1
        if self.consecutive_failures >= self.failure_threshold:
            # A venue that answers "restricted location" is up; this vantage point is not
            # let in. That is not the venue being down.
            failed = State.DEGRADED if obs.reason is Reason.GEO_BLOCKED else State.DOWN
            return self._move(failed, obs)
        return None

    def _excused(self, obs: Observation) -> StateChange | None:
        """Something bigger failed (its chain halted) but the target answered: that is not
        held against it, and a down target answering again comes back as it would with good
        answers. Otherwise its held-back TargetDown would only clear after the halt, and be
        notified in between."""
        self.consecutive_failures = 0
        self.consecutive_successes += 1
        if self.state is State.DOWN and self.consecutive_successes >= self.success_threshold:
            return self._move(State.UP, obs)
        return None

    def not_before(self) -> float | None:
        return self.backoff_until

    def _move(self, new: State, obs: Observation) -> StateChange | None:
        if new is self.state:
            return None
        change = StateChange(self.name, self.state, new, obs.started_at, obs.reason, obs.detail)
        self.state = new
        self.since = obs.started_at
        return change

    def _update_backoff(self, obs: Observation, now: float) -> None:
        retry_after = obs.retry_after
        if obs.reason is Reason.RATE_LIMITED:
            self._rate_limit_strikes += 1
            if retry_after is None:
                retry_after = self.interval * 2 ** (self._rate_limit_strikes - 1)
        else:
            self._rate_limit_strikes = 0
        if retry_after is not None and retry_after > 0:
            self.backoff_until = now + min(retry_after, MAX_BACKOFF)
        else:
            self.backoff_until = None
