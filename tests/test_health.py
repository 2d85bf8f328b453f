"""Health state machine: thresholds, degraded, maintenance, back-off."""

from __future__ import annotations

import pytest

from monitor.health import MAX_BACKOFF, Health
from monitor.observation import Fact, Observation, Reason, State


def obs(reason: Reason, at: float = 0.0, **facts: float) -> Observation:
    return Observation(target="t", started_at=at, reason=reason, latency=0.1, facts=facts)


def health(fail: int = 3, succeed: int = 2) -> Health:
    return Health("t", failure_threshold=fail, success_threshold=succeed, interval=10.0)


def feed(h: Health, *reasons: Reason) -> list[State]:
    states = []
    for i, reason in enumerate(reasons):
        h.observe(obs(reason, at=float(i)), now=float(i))
        states.append(h.state)
    return states


OK, FAIL, SLOW, GEO = Reason.OK, Reason.HTTP_5XX, Reason.DEGRADED, Reason.GEO_BLOCKED
UP, DOWN, DEG, UNK = State.UP, State.DOWN, State.DEGRADED, State.UNKNOWN


@pytest.mark.parametrize(
    ("reasons", "expected"),
    [
        ((OK,), [UP]),
        ((FAIL, FAIL, FAIL), [UNK, UNK, DOWN]),
        ((OK, FAIL, FAIL, FAIL), [UP, UP, UP, DOWN]),
        ((OK, FAIL, FAIL, OK, FAIL, FAIL), [UP, UP, UP, UP, UP, UP]),
        ((FAIL, FAIL, FAIL, OK, OK), [UNK, UNK, DOWN, DOWN, UP]),
        ((FAIL, FAIL, FAIL, OK, FAIL, OK, OK), [UNK, UNK, DOWN, DOWN, DOWN, DOWN, UP]),
        ((OK, SLOW, OK), [UP, DEG, UP]),
        ((FAIL, FAIL, FAIL, SLOW, SLOW), [UNK, UNK, DOWN, DOWN, DEG]),
        ((OK, Reason.MAINTENANCE, OK), [UP, State.MAINTENANCE, UP]),
        # 451: the venue is up, this vantage point is blocked; never "down"
        ((OK, GEO, GEO, GEO), [UP, UP, UP, DEG]),
        ((GEO, GEO, GEO, OK), [UNK, UNK, DEG, UP]),
        ((FAIL, FAIL, GEO), [UNK, UNK, DEG]),
    ],
)
def test_transitions(reasons: tuple[Reason, ...], expected: list[State]) -> None:
    assert feed(health(), *reasons) == expected


def test_state_change_reports_old_new_and_since() -> None:
    h = health(fail=1)
    assert h.observe(obs(OK, at=5.0), now=5.0) is not None
    change = h.observe(obs(FAIL, at=7.0), now=7.0)
    assert change is not None
    assert (change.old, change.new, change.reason) == (UP, DOWN, FAIL)
    assert h.since == 7.0
    assert h.last_success == 5.0
    assert h.observe(obs(FAIL, at=8.0), now=8.0) is None  # no change, no event


def test_retry_after_is_honoured() -> None:
    h = health()
    h.observe(obs(Reason.RATE_LIMITED, **{Fact.RETRY_AFTER: 42.0}), now=100.0)
    assert h.not_before() == 142.0
    h.observe(obs(OK), now=150.0)
    assert h.not_before() is None


def test_rate_limit_without_retry_after_backs_off_exponentially() -> None:
    h = health()
    waits = []
    for _ in range(4):
        h.observe(obs(Reason.RATE_LIMITED), now=0.0)
        waits.append(h.not_before())
    assert waits == [10.0, 20.0, 40.0, 80.0]
    for _ in range(20):
        h.observe(obs(Reason.RATE_LIMITED), now=0.0)
    assert h.not_before() == MAX_BACKOFF


def test_503_with_retry_after_also_backs_off() -> None:
    h = health()
    h.observe(obs(Reason.HTTP_5XX, **{Fact.RETRY_AFTER: 5.0}), now=1.0)
    assert h.not_before() == 6.0


def excused(at: float) -> Observation:
    """A provider's answer the correlate step judged stale and excused: its chain halted."""
    return Observation(target="t", started_at=at, reason=Reason.STALE, latency=0.1,
                       excused_by="solana halted")


def test_an_excused_answer_keeps_an_up_target_up() -> None:
    h = health(fail=2)
    h.observe(obs(OK, at=0.0), now=0.0)
    for at in (1.0, 2.0, 3.0):
        assert h.observe(excused(at), now=at) is None
    assert h.state is UP


def test_a_down_target_answering_during_a_halt_comes_back() -> None:
    # A provider down (restarting) while its chain is halted, answering again before the
    # halt ends: up again after success_threshold answers, not only once blocks flow.
    h = health(fail=2, succeed=2)
    feed(h, OK, FAIL, FAIL)
    assert h.state is DOWN
    assert h.observe(excused(3.0), now=3.0) is None
    assert h.state is DOWN
    change = h.observe(excused(4.0), now=4.0)
    assert change is not None and (change.old, change.new) == (DOWN, UP)
    assert h.last_success == 0.0  # a stale head is no success


def test_an_excused_answer_breaks_a_failure_streak() -> None:
    h = health(fail=2)
    h.observe(obs(OK, at=0.0), now=0.0)
    h.observe(obs(FAIL, at=1.0), now=1.0)
    h.observe(excused(2.0), now=2.0)
    h.observe(obs(FAIL, at=3.0), now=3.0)
    assert h.state is UP


def test_evidence_is_the_latest_observation_that_agrees_with_the_state() -> None:
    h = health()
    limited = [obs(Reason.RATE_LIMITED, at=float(i)) for i in range(3)]
    for i, o in enumerate(limited):
        h.observe(o, now=float(i))
    assert h.state is DOWN and h.evidence is limited[-1]
    first_good = obs(OK, at=3.0)
    h.observe(first_good, now=3.0)  # one of the two good answers a down target needs
    assert h.state is DOWN and h.last is first_good and h.evidence is limited[-1]
    second_good = obs(OK, at=4.0)
    h.observe(second_good, now=4.0)
    assert h.state is UP and h.evidence is second_good
    blip = obs(FAIL, at=5.0)
    h.observe(blip, now=5.0)  # one failure of the three that make it down
    assert h.state is UP and h.last is blip and h.evidence is second_good
