"""The alert engine with explicit times: no sleeping, no I/O."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from monitor.alert_engine import AlertEngine, TargetSnapshot
from monitor.alerting import AlertStatus, Notification
from monitor.alerts.routing import Batch, route, window_active
from monitor.correlate import ChainView
from monitor.daemon import TargetRun
from monitor.health import Health
from monitor.metrics import TargetMetrics
from monitor.observation import Fact, Observation, Reason, State
from monitor.settings import Config, MaintenanceWindow

T0 = 1_800_000_000.0
HOOK = {"name": "all", "type": "webhook", "url": "https://hooks.example/all"}


def http(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "kind": "http", "url": f"https://{name}.example/", **extra}


def make_config(targets: list[dict[str, Any]], **extra: Any) -> Config:
    data: dict[str, Any] = {"targets": targets, "notifiers": [HOOK],
                            "alerts": {"group_wait": "5s",
                                       "defaults": {"repeat_interval": "1h"}}}
    data.update(extra)
    return Config.model_validate(data)


def snap(config: Config, name: str, state: State, since: float | None = T0,
         reason: Reason = Reason.OK, detail: str = "",
         facts: dict[str, Any] | None = None) -> TargetSnapshot:
    obs = Observation(target=name, started_at=since or T0, reason=reason, detail=detail,
                      facts=facts or {})
    return TargetSnapshot(config.target(name), state, since, obs)


def names(notifications: list[Notification]) -> list[tuple[str, str, str]]:
    return sorted((n.status.value, a.name, a.labels.get("target") or a.labels.get("chain")
                   or a.labels.get("dependency", "")) for n in notifications for a in n.alerts)


# -- fire / resolve / repeat ----------------------------------------------------------------

def test_fire_waits_group_wait_then_repeats_then_resolves() -> None:
    config = make_config([http("a", alert={"severity": "critical"})])
    engine = AlertEngine(config, vantage="eu")
    down = [snap(config, "a", State.DOWN, reason=Reason.TIMEOUT, detail="timed out after 10s")]
    steps: list[tuple[float, list[TargetSnapshot], list[tuple[str, str, str]]]] = [
        (0, down, []),  # waiting for group_wait
        (4, down, []),
        (5, down, [("firing", "TargetDown", "a")]),
        (60, down, []),
        (3605, down, [("firing", "TargetDown", "a")]),  # repeat_interval 1h
        (3700, [snap(config, "a", State.UP)], [("resolved", "TargetDown", "a")]),
        (3800, [snap(config, "a", State.UP)], []),
    ]
    ids = []
    for offset, snaps, expected in steps:
        out = engine.evaluate(T0 + offset, snaps)
        assert names(out) == expected, offset
        ids += [n.id for n in out]
    assert len(set(ids)) == 3
    assert engine.active() == []


def test_what_a_snapshot_implies_is_derived_as_it_lands_and_reused(
        monitor_derivations: list[str]) -> None:
    config = make_config([http("a"), http("b")])
    engine = AlertEngine(config, vantage="eu")
    down = snap(config, "a", State.DOWN, reason=Reason.TIMEOUT)
    up = snap(config, "b", State.UP)
    engine.derive(down, T0)  # as the probe lands
    assert monitor_derivations == ["a"]
    engine.derive(down, T0 + 1)  # the same snapshot again: nothing to do
    assert engine.evaluate(T0 + 1, [down, up]) == []  # pending for group_wait
    assert monitor_derivations == ["a", "b"]  # the evaluation derived only the other one
    assert names(engine.evaluate(T0 + 6, [down, up])) == [("firing", "TargetDown", "a")]
    assert monitor_derivations == ["a", "b"]


@pytest.fixture
def monitor_derivations(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The targets whose alerts the engine derives, in order."""
    from monitor import alert_engine
    seen: list[str] = []
    derive = alert_engine.target_candidates

    def counting(snapshot: TargetSnapshot, **keys: Any) -> Any:
        seen.append(snapshot.target.name)
        return derive(snapshot, **keys)

    monkeypatch.setattr(alert_engine, "target_candidates", counting)
    return seen


def test_alert_shape() -> None:
    config = make_config([http("a", provider="coinbase", labels={"team": "core"})])
    engine = AlertEngine(config, vantage="eu")
    engine.evaluate(T0, [snap(config, "a", State.DOWN, reason=Reason.HTTP_5XX,
                              detail="HTTP 503")])
    (alert,) = engine.active()
    assert alert.labels == {"alertname": "TargetDown", "severity": "warning", "target": "a",
                            "provider": "coinbase", "kind": "http", "vantage": "eu",
                            "team": "core"}
    assert alert.annotations["description"] == "HTTP 503"
    assert engine.firing_counts() == {("TargetDown", "warning"): 1}


def test_alert_that_never_went_out_resolves_silently() -> None:
    config = make_config([http("a")])
    engine = AlertEngine(config, vantage="eu")
    assert engine.evaluate(T0, [snap(config, "a", State.DOWN)]) == []
    assert engine.evaluate(T0 + 2, [snap(config, "a", State.UP)]) == []
    assert engine.evaluate(T0 + 10, [snap(config, "a", State.UP)]) == []


def test_group_wait_batches_alerts_starting_close_together() -> None:
    config = make_config([http("a"), http("b"), http("c")])
    engine = AlertEngine(config, vantage="eu")
    a, b, c = (snap(config, n, State.DOWN) for n in "abc")
    assert engine.evaluate(T0, [a]) == []
    assert engine.evaluate(T0 + 3, [a, b]) == []
    out = engine.evaluate(T0 + 5, [a, b])
    assert len(out) == 1 and names(out) == [("firing", "TargetDown", "a"),
                                            ("firing", "TargetDown", "b")]
    assert engine.evaluate(T0 + 6, [a, b, c]) == []
    assert names(engine.evaluate(T0 + 11, [a, b, c])) == [("firing", "TargetDown", "c")]


# -- which alert a state implies ------------------------------------------------------------

EXCHANGE = {"name": "bn", "kind": "exchange", "exchange": "binance", "market": "BTC-USDT",
            "provider": "binance"}
RPC = {"kind": "evm_rpc", "chain": "ethereum", "chain_id": 1}


@pytest.mark.parametrize(
    ("target", "state", "reason", "detail", "facts", "expected"),
    [
        (http("a"), State.DOWN, Reason.TIMEOUT, "", {}, "TargetDown"),
        (http("a"), State.DEGRADED, Reason.DEGRADED, "slow", {}, "TargetDegraded"),
        (http("a"), State.DOWN, Reason.RATE_LIMITED, "429", {}, "RateLimited"),
        (http("a"), State.DEGRADED, Reason.GEO_BLOCKED, "451", {}, "GeoBlocked"),
        (EXCHANGE, State.MAINTENANCE, Reason.MAINTENANCE, "", {}, "ExchangeMaintenance"),
        (EXCHANGE, State.DOWN, Reason.STALE, "no data for 60s", {}, "WebSocketStale"),
        (EXCHANGE, State.DEGRADED, Reason.DEGRADED, "clock skew +2.000 s, over max 1 s",
         {Fact.CLOCK_SKEW: 2.0}, "ClockSkew"),
        (EXCHANGE, State.DEGRADED, Reason.DEGRADED, "stream: event lag 3 s over 2 s", {},
         "FeedLagHigh"),
        ({"name": "r", "url": "https://r.example", **RPC}, State.DOWN, Reason.LAGGING,
         "12 blocks behind", {}, "RpcLagging"),
        ({"name": "r", "url": "https://r.example", **RPC}, State.DOWN, Reason.WRONG_CHAIN,
         "chain id 5", {}, "WrongChain"),
        ({"name": "c", "kind": "tls", "address": "c.example:443"}, State.DEGRADED,
         Reason.DEGRADED, "certificate expires in 3 days", {}, "CertificateExpiringSoon"),
        (http("a"), State.UP, Reason.OK, "", {Fact.CERT_EXPIRY: T0 + 5 * 86400},
         "CertificateExpiringSoon"),
        (http("a"), State.UP, Reason.OK, "", {Fact.CERT_EXPIRY: T0 + 30 * 86400}, None),
        (http("a"), State.UNKNOWN, Reason.TIMEOUT, "", {}, None),
    ],
)
def test_derived_alert(target: dict[str, Any], state: State, reason: Reason, detail: str,
                       facts: dict[str, Any], expected: str | None) -> None:
    config = make_config([target])
    engine = AlertEngine(config, vantage="eu")
    engine.evaluate(T0, [snap(config, target["name"], state, reason=reason, detail=detail,
                              facts=facts)])
    assert [a.name for a in engine.active()] == ([expected] if expected else [])


def test_price_deviation_labels_market_and_lists_venues() -> None:
    exchanges = [{**EXCHANGE, "name": v, "exchange": v, "provider": v}
                 for v in ("binance", "okx", "kraken")]
    price = {"name": "btc", "kind": "price", "market": "BTC-USDT",
             "venues": ["binance", "okx", "kraken"]}
    config = make_config([*exchanges, price])
    engine = AlertEngine(config, vantage="eu")
    engine.evaluate(T0, [snap(config, "btc", State.DOWN, reason=Reason.ASSERTION_FAILED,
                              detail="okx 3.0% above the median of the others",
                              facts={Fact.MARKET: "BTC-USDT",
                                     Fact.DEVIATIONS: {"okx": 0.03, "binance": -0.001}})])
    (alert,) = engine.active()
    assert alert.name == "PriceDeviation" and alert.labels["market"] == "BTC-USDT"
    assert "okx +3.00%" in alert.annotations["description"]
    assert "binance -0.10%" in alert.annotations["description"]


# -- dependency outages and chain halts -----------------------------------------------------

@pytest.mark.parametrize(("down", "expect_dependency"), [(30, True), (10, False)])
def test_dependency_outage(down: int, expect_dependency: bool) -> None:
    targets = [http(f"t{i}", depends_on=["aws-us-east-1"]) for i in range(30)]
    config = make_config(targets)
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, f"t{i}", State.DOWN if i < down else State.UP, since=T0 + i)
             for i in range(30)]
    engine.evaluate(T0 + 30, snaps)
    out = engine.evaluate(T0 + 40, snaps)
    if not expect_dependency:
        # the members' TargetDowns wait an interval (30 s) for their dependency to be judged
        assert out == []
        out = engine.evaluate(T0 + 65, snaps)
    fired = names(out)
    if expect_dependency:
        assert fired == [("firing", "DependencyOutage", "aws-us-east-1")]
        (alert,) = out[0].alerts
        assert alert.labels["severity"] == "critical"
        assert all(f"t{i}" in alert.annotations["description"] for i in range(30))
        assert len(engine.active()) == 31  # the members still fire, held back
    else:
        assert fired == [("firing", "TargetDown", f"t{i}") for i in sorted(range(10), key=str)]


def test_dependents_going_down_one_probe_apart_page_once_as_their_dependency() -> None:
    """Members of one dependency fall over one probe interval (30 s), not all at once: the
    first ones' TargetDowns wait that long, the DependencyOutage forms meanwhile, and it is
    the only page."""
    targets = [http(f"t{i}", depends_on=["aws"]) for i in range(4)]
    config = make_config(targets)  # interval 30 s, group_wait 5 s, min 2 targets, ratio 0.5
    engine = AlertEngine(config, vantage="eu")
    sent: list[tuple[str, str, str]] = []
    states = {f"t{i}": State.UP for i in range(4)}
    for second in range(0, 40):
        if second == 0:
            states["t0"] = State.DOWN
        if second == 25:
            states["t1"] = State.DOWN
        snaps = [snap(config, name, state, since=T0 + (0 if name == "t0" else 25))
                 for name, state in states.items()]
        sent += names(engine.evaluate(T0 + second, snaps))
    assert sent == [("firing", "DependencyOutage", "aws")]


def test_a_lone_dependent_target_down_pages_after_one_interval_more() -> None:
    config = make_config([http("t0", depends_on=["aws"]), http("t1", depends_on=["aws"]),
                          http("t2", depends_on=["aws"])])
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, "t0", State.DOWN), snap(config, "t1", State.UP),
             snap(config, "t2", State.UP)]
    assert engine.evaluate(T0, snaps) == []
    assert engine.evaluate(T0 + 34, snaps) == []  # 30 s interval + 5 s group_wait
    assert names(engine.evaluate(T0 + 35, snaps)) == [("firing", "TargetDown", "t0")]
    assert engine.next_due() is not None


def test_dependency_outage_needs_members_to_fall_within_window() -> None:
    targets = [http(f"t{i}", depends_on=["cf"]) for i in range(4)]
    config = make_config(targets)  # window 120s, min 2 targets, ratio 0.5
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, "t0", State.DOWN, since=T0), snap(config, "t1", State.DOWN,
                                                             since=T0 + 500),
             snap(config, "t2", State.UP), snap(config, "t3", State.UP)]
    engine.evaluate(T0 + 500, snaps)
    assert {a.name for a in engine.active()} == {"TargetDown"}


def test_chain_halt_holds_back_provider_alerts() -> None:
    targets = [{"name": f"r{i}", "url": f"https://r{i}.example", **RPC} for i in range(3)]
    config = make_config(targets)
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, "r0", State.DOWN, reason=Reason.LAGGING),
             snap(config, "r1", State.DOWN, reason=Reason.TIMEOUT),
             snap(config, "r2", State.UP)]
    halted = [ChainView("ethereum", True, 100, 3), ChainView("base", False, 5, 2)]
    engine.evaluate(T0, snaps, halted)
    out = engine.evaluate(T0 + 5, snaps, halted)
    assert names(out) == [("firing", "ChainHalted", "ethereum")]
    chain_alert = out[0].alerts[0]
    assert set(chain_alert.labels) == {"alertname", "severity", "chain", "vantage"}
    assert {a.name for a in engine.active()} == {"ChainHalted", "RpcLagging", "TargetDown"}


# -- maintenance ----------------------------------------------------------------------------

def _ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("window", "now", "held"),
    [
        ({"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T09:00:00Z"},
         _ts("2027-01-15T08:30:00"), True),
        ({"start": "2027-01-15T08:00:00Z", "end": "2027-01-15T09:00:00Z"},
         _ts("2027-01-15T09:00:00"), False),
        ({"cron": "0 3 * * 0", "duration": "30m"}, _ts("2027-01-17T03:00:00"), True),  # Sunday
        ({"cron": "0 3 * * 0", "duration": "30m"}, _ts("2027-01-17T03:29:00"), True),
        ({"cron": "0 3 * * 0", "duration": "30m"}, _ts("2027-01-17T03:30:00"), False),
        ({"cron": "0 3 * * 0", "duration": "30m"}, _ts("2027-01-17T02:59:50"), False),
        ({"cron": "0 3 * * 0", "duration": "30m"}, _ts("2027-01-18T03:10:00"), False),
    ],
)
def test_maintenance_window_holds_back(window: dict[str, Any], now: float, held: bool) -> None:
    config = make_config([http("a"), http("b")],
                         maintenance=[{"targets": ["a*"], "reason": "upgrade", **window}])
    assert window_active(config.maintenance[0], now) is held
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, "a", State.DOWN, since=now), snap(config, "b", State.DOWN, since=now)]
    assert engine.evaluate(now, snaps) == []
    expected = [("firing", "TargetDown", "b")] if held else [
        ("firing", "TargetDown", "a"), ("firing", "TargetDown", "b")]
    assert names(engine.evaluate(now + 5, snaps)) == expected
    assert {a.labels["target"] for a in engine.active()} == {"a", "b"}


def test_alert_goes_out_when_maintenance_ends() -> None:
    start, end = "2027-01-15T08:00:00+00:00", "2027-01-15T09:00:00+00:00"
    config = make_config([http("a")], maintenance=[{"targets": ["a"], "start": start,
                                                    "end": end}])
    engine = AlertEngine(config, vantage="eu")
    now = _ts("2027-01-15T08:50:00")
    s = [snap(config, "a", State.DOWN, since=now)]
    assert engine.evaluate(now, s) == [] and engine.evaluate(now + 60, s) == []
    assert engine.evaluate(now + 600, s) == []  # window ended: group_wait starts now
    assert names(engine.evaluate(now + 605, s)) == [("firing", "TargetDown", "a")]


def test_venue_announced_maintenance_holds_back_its_provider() -> None:
    config = make_config([EXCHANGE, http("bn-rest", provider="binance"), http("other")])
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, "bn", State.MAINTENANCE, reason=Reason.MAINTENANCE,
                  detail="system upgrade"),
             snap(config, "bn-rest", State.DOWN, reason=Reason.HTTP_5XX),
             snap(config, "other", State.DOWN)]
    engine.evaluate(T0, snaps)
    out = engine.evaluate(T0 + 5, snaps)
    assert names(out) == [("firing", "ExchangeMaintenance", "bn"),
                          ("firing", "TargetDown", "other")]
    assert {a.labels["target"] for a in engine.active()} == {"bn", "bn-rest", "other"}


def _venue_snaps(config: Config, bn: State, rest: State, ping: State,
                 other: State = State.UP) -> list[TargetSnapshot]:
    return [snap(config, "bn", bn, reason={State.MAINTENANCE: Reason.MAINTENANCE,
                                           State.DOWN: Reason.HTTP_5XX}.get(bn, Reason.OK)),
            snap(config, "bn-rest", rest, reason=Reason.HTTP_5XX),
            snap(config, "bn-ping", ping, reason=Reason.HTTP_5XX),
            snap(config, "other", other, reason=Reason.HTTP_5XX)]


def _venue_config() -> Config:
    return make_config([EXCHANGE, http("bn-rest", provider="binance"),
                        http("bn-ping", provider="binance"), http("other")])


def test_suspension_right_after_announced_maintenance_stays_held() -> None:
    config = _venue_config()
    engine = AlertEngine(config, vantage="eu")
    up, down, maintenance = State.UP, State.DOWN, State.MAINTENANCE
    in_maintenance = _venue_snaps(config, maintenance, down, up)
    engine.evaluate(T0, in_maintenance)
    assert names(engine.evaluate(T0 + 5, in_maintenance)) == [
        ("firing", "ExchangeMaintenance", "bn")]
    # The venue suspends: its status endpoint fails too, so it no longer says maintenance.
    suspended = _venue_snaps(config, down, down, down, other=down)
    engine.evaluate(T0 + 10, suspended)
    assert names(engine.evaluate(T0 + 15, suspended)) == [("firing", "TargetDown", "other")]
    held = {a.labels["target"]: a.annotations.get("held_back") for a in engine.active()
            if a.name == "TargetDown"}
    assert held == {"bn": "maintenance announced by bn", "bn-rest": "maintenance announced by bn",
                    "bn-ping": "maintenance announced by bn", "other": None}
    assert "ExchangeMaintenance" in {a.name for a in engine.active()}  # still in it
    # Back: the venue first, its REST target slower; the maintenance notice ends with the
    # venue, the slow target stays held until it is up as well.
    back = _venue_snaps(config, up, down, up, other=down)
    assert names(engine.evaluate(T0 + 20, back)) == [("resolved", "ExchangeMaintenance", "bn")]
    assert engine.evaluate(T0 + 30, back) == []
    engine.evaluate(T0 + 40, _venue_snaps(config, up, up, up, other=down))
    # A later outage of the venue is its own.
    later = _venue_snaps(config, down, up, up, other=down)
    engine.evaluate(T0 + 100, later)
    assert names(engine.evaluate(T0 + 105, later)) == [("firing", "TargetDown", "bn")]


def test_announced_maintenance_covers_a_suspension_for_an_hour_at_most() -> None:
    config = _venue_config()
    first = AlertEngine(config, vantage="eu")
    first.evaluate(T0, _venue_snaps(config, State.MAINTENANCE, State.UP, State.UP))
    dark = _venue_snaps(config, State.DOWN, State.UP, State.DOWN)
    restarted = AlertEngine(config, vantage="eu")  # the cover survives a restart
    restarted.import_state(json.loads(json.dumps(first.export_state())))
    for engine in (first, restarted):
        assert names(engine.evaluate(T0 + 10, dark)) == [
            ("firing", "ExchangeMaintenance", "bn")]
        assert engine.evaluate(T0 + 3600, dark) == []
        out = engine.evaluate(T0 + 3601, dark) + engine.evaluate(T0 + 3606, dark)
        assert names(out) == [("firing", "TargetDown", "bn"), ("firing", "TargetDown", "bn-ping"),
                              ("resolved", "ExchangeMaintenance", "bn")]


# -- flapping -------------------------------------------------------------------------------

def test_flapping_target_is_reported_once() -> None:
    config = make_config([http("a")], alerts={"group_wait": "1s"})
    engine = AlertEngine(config, vantage="eu", flap_max_flips=2, flap_window=600)
    sent: list[Notification] = []
    for i in range(12):
        state = State.DOWN if i % 2 == 0 else State.UP
        s = [snap(config, "a", state, since=T0 + 10 * i)]
        sent += engine.evaluate(T0 + 10 * i, s)
        sent += engine.evaluate(T0 + 10 * i + 2, s)
    flapping = [n for n in sent if any("flapping" in a.annotations for a in n.alerts)]
    assert len(flapping) == 1 and flapping[0].status is AlertStatus.FIRING
    assert len(sent) <= 4  # before the guard: fire, resolve; then one flapping report
    assert [a.name for a in engine.active()] == ["TargetDown"]
    # quiet for a whole window: flapping ends and the alert resolves normally
    quiet = engine.evaluate(T0 + 2000, [snap(config, "a", State.UP)])
    assert names(quiet) == [("resolved", "TargetDown", "a")]


# -- routing --------------------------------------------------------------------------------

def test_route_by_severity_and_labels() -> None:
    notifiers = [
        {"name": "pager", "type": "webhook", "url": "https://p.example",
         "match": {"severity": ["critical"]}},
        {"name": "cex", "type": "webhook", "url": "https://c.example",
         "match": {"labels": {"provider": ["binance", "okx"]}}},
        {"name": "core", "type": "webhook", "url": "https://t.example",
         "match": {"labels": {"team": "core", "kind": "http"}}},
        HOOK,
    ]
    config = make_config([http("a", alert={"severity": "critical"}),
                          http("b", provider="binance", labels={"team": "core"}),
                          http("c", provider="kraken", alert={"severity": "info"})],
                         notifiers=notifiers)
    engine = AlertEngine(config, vantage="eu")
    snaps = [snap(config, n, State.DOWN) for n in "abc"]
    engine.evaluate(T0, snaps)
    out = engine.evaluate(T0 + 5, snaps)
    routed = {n.notifier: sorted(a.labels["target"] for a in n.alerts) for n in out}
    assert routed == {"pager": ["a"], "cex": ["b"], "core": ["b"], "all": ["a", "b", "c"]}
    assert len({n.id for n in out}) == 4


def test_notification_id_is_stable_for_the_same_batch() -> None:
    config = make_config([http("a")])
    engine = AlertEngine(config, vantage="eu")
    s = [snap(config, "a", State.DOWN)]
    engine.evaluate(T0, s)
    (first,) = engine.evaluate(T0 + 5, s)
    batch = Batch(AlertStatus.FIRING, first.alerts, (0,), first.group_key, T0 + 99)
    (again,) = route(batch, config.notifiers)
    assert again.id == first.id
    repeat = Batch(AlertStatus.FIRING, first.alerts, (1,), first.group_key, T0 + 99)
    assert route(repeat, config.notifiers)[0].id != first.id


# -- restart --------------------------------------------------------------------------------

def test_restart_keeps_what_was_sent_and_what_fires() -> None:
    config = make_config([http("a"), http("b"), http("c")])
    engine, twin = AlertEngine(config, vantage="eu"), AlertEngine(config, vantage="eu")
    snaps = [snap(config, n, State.DOWN) for n in "ab"]
    for e in (engine, twin):
        e.evaluate(T0, snaps)
        e.evaluate(T0 + 5, snaps)
        e.evaluate(T0 + 6, [*snaps, snap(config, "c", State.DOWN)])  # c pending at restart
    state = json.loads(json.dumps(engine.export_state()))

    restarted = AlertEngine(config, vantage="eu")
    restarted.import_state(state)
    assert {a.labels["target"] for a in restarted.active()} == {"a", "b", "c"}
    # a resolved while we were down; b still fires (not re-sent); c goes out once
    after = [snap(config, "a", State.UP), snap(config, "b", State.DOWN),
             snap(config, "c", State.DOWN)]
    out = restarted.evaluate(T0 + 100, after)
    assert names(out) == [("firing", "TargetDown", "c"), ("resolved", "TargetDown", "a")]
    assert restarted.evaluate(T0 + 200, after) == []
    # the repeat of b comes on the original schedule, with the id it would have had
    repeat = restarted.evaluate(T0 + 5 + 3600, after)
    assert names(repeat) == [("firing", "TargetDown", "b")]
    twin.evaluate(T0 + 100, after)
    assert [n.id for n in twin.evaluate(T0 + 5 + 3600, after)] == [repeat[0].id]


def test_targets_not_yet_probed_after_a_restart_keep_their_alerts() -> None:
    config = make_config([http("a")])
    engine = AlertEngine(config, vantage="eu")
    engine.evaluate(T0, [snap(config, "a", State.DOWN)])
    assert names(engine.evaluate(T0 + 5, [snap(config, "a", State.DOWN)]))
    restarted = AlertEngine(config, vantage="eu")
    restarted.import_state(json.loads(json.dumps(engine.export_state())))
    # just restarted: the target has no verdict yet, which is not a recovery
    assert restarted.evaluate(T0 + 50, [snap(config, "a", State.UNKNOWN)]) == []
    assert [a.labels["target"] for a in restarted.active()] == ["a"]
    out = restarted.evaluate(T0 + 60, [snap(config, "a", State.UP)])
    assert names(out) == [("resolved", "TargetDown", "a")]


def test_import_ignores_unknown_version() -> None:
    engine = AlertEngine(make_config([http("a")]), vantage="eu")
    engine.import_state({"version": 999, "alerts": [{"bogus": 1}]})
    assert engine.active() == []


# -- status pages ---------------------------------------------------------------------------

def _incident(update: str, updated_at: str) -> dict[str, Any]:
    return {"name": "Elevated API errors", "impact": "major", "status": "identified",
            "updated_at": updated_at, "latest_update": update,
            "url": "https://status.example/incidents/1", "components": []}


def test_status_page_incident_update_renotifies_same_alert() -> None:
    page = {"name": "cb-status", "kind": "statuspage", "url": "https://status.example",
            "provider": "coinbase"}
    config = make_config([page])
    engine = AlertEngine(config, vantage="eu")

    def page_snap(*incidents: dict[str, Any]) -> list[TargetSnapshot]:
        return [snap(config, "cb-status", State.DOWN, reason=Reason.ASSERTION_FAILED,
                     detail="major outage", facts={Fact.INCIDENTS: list(incidents)})]

    first = page_snap(_incident("We are investigating.", "2027-01-01T00:00:00Z"))
    engine.evaluate(T0, first)
    (opened,) = engine.evaluate(T0 + 5, first)
    alert = opened.alerts[0]
    assert alert.name == "StatusPageIncident"
    assert "We are investigating." in alert.annotations["description"]
    assert "https://status.example/incidents/1" in alert.annotations["description"]
    assert "Elevated API errors" not in alert.labels.values()
    assert engine.evaluate(T0 + 60, first) == []
    second = page_snap(_incident("A fix is rolling out.", "2027-01-01T00:20:00Z"))
    (updated,) = engine.evaluate(T0 + 120, second)
    assert updated.alerts[0].fingerprint == alert.fingerprint
    assert "A fix is rolling out." in updated.alerts[0].annotations["description"]
    assert updated.id != opened.id
    assert engine.evaluate(T0 + 180, second) == []
    cleared = [snap(config, "cb-status", State.UP, facts={Fact.INCIDENTS: []})]
    assert names(engine.evaluate(T0 + 300, cleared)) == [
        ("resolved", "StatusPageIncident", "cb-status")]


def test_cron_window_model_validates() -> None:
    window = MaintenanceWindow.model_validate({"targets": ["x"], "cron": "*/10 * * * *",
                                               "duration": "1m"})
    assert window_active(window, _ts("2027-01-01T00:10:30"))
    assert not window_active(window, _ts("2027-01-01T00:11:30"))


def test_a_down_target_recovering_keeps_its_alert_until_it_is_up() -> None:
    """A rate-limited target's first good answer (of the two it needs) must not turn its
    RateLimited into a TargetDown saying "ok": the alert follows the observations that
    agree with the state (Health.evidence), as the daemon's snapshots do."""
    config = make_config([http("a")])
    target = config.target("a")
    health = Health("a", failure_threshold=2, success_threshold=2, interval=10)
    run = TargetRun(target, None, health, TargetMetrics.for_target(target), "")  # type: ignore[arg-type]
    engine = AlertEngine(config)
    seen: list[tuple[str, str, str]] = []
    steps = [Reason.RATE_LIMITED, Reason.RATE_LIMITED, Reason.OK, Reason.OK]
    for step, reason in enumerate(steps):
        now = T0 + 10 * step
        health.observe(Observation("a", now, reason, detail=f"{reason.value} answer"), step)
        seen += names(engine.evaluate(now, [run.snapshot()]))
        seen += names(engine.evaluate(now + 6, [run.snapshot()]))  # past group_wait
    assert seen == [("firing", "RateLimited", "a"), ("resolved", "RateLimited", "a")]
