"""Cross-venue price judgement."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from monitor.correlate import ChainCorrelator, judge_prices
from monitor.health import Health
from monitor.observation import Fact, Observation, Reason, State
from monitor.prices import PriceBoard, Quote

NOW = 1_000.0


def quotes(**prices: float) -> dict[str, Quote]:
    return {venue: Quote(price, NOW - 1, venue) for venue, price in prices.items()}


def test_one_venue_far_below_the_others_is_the_only_divergent_one() -> None:
    # USDe on 2025-10-10: 0.65 on one venue, about 1.00 elsewhere.
    judged = judge_prices("USDE-USDT", quotes(binance=0.65, okx=1.0, bybit=0.999, kucoin=1.001),
                          ["binance", "okx", "bybit", "kucoin"], now=NOW, stale_after=60)
    divergent = judged.divergent(0.02)
    assert list(divergent) == ["binance"]
    assert divergent["binance"] == pytest.approx(-0.35, abs=1e-3)
    assert all(abs(judged.deviations[v]) < 0.01 for v in ("okx", "bybit", "kucoin"))


def test_a_stale_venue_is_left_out_not_called_divergent() -> None:
    board = quotes(okx=100.0, bybit=100.1, kucoin=99.9)
    board["binance"] = Quote(50.0, NOW - 120, "binance-spot")  # frozen feed, old price
    judged = judge_prices("BTC-USDT", board, ["binance", "okx", "bybit", "kucoin", "kraken"],
                          now=NOW, stale_after=60)
    assert "binance" not in judged.deviations
    assert judged.stale == {"binance": 120.0}
    assert judged.missing == ["kraken"]
    assert judged.divergent(0.02) == {}


def test_peg_mode_compares_with_the_peg() -> None:
    judged = judge_prices("USDC-USDT", quotes(binance=0.97, okx=0.969, bybit=0.971),
                          ["binance", "okx", "bybit"], now=NOW, stale_after=60, peg=1.0)
    assert set(judged.divergent(0.02)) == {"binance", "okx", "bybit"}  # a real depeg
    assert judged.reference == "peg 1"


def test_board_forgets_a_removed_source() -> None:
    board = PriceBoard()
    board.publish("BTC-USDT", "binance", 100.0, NOW, "binance-spot")
    board.publish("BTC-USDT", "okx", 101.0, NOW, "okx-spot")
    board.forget("binance-spot")
    assert set(board.quotes("BTC-USDT")) == {"okx"}


# -- RPC providers of one chain ---------------------------------------------------------------

def provider(name: str, **overrides: Any) -> Any:
    keys: dict[str, Any] = {"max_lag_blocks": None, "max_head_age": None, **overrides}
    return SimpleNamespace(name=name, interval_s=10.0, **keys)


def head(name: str, height: int, head_time: float, chain: str = "ethereum") -> Observation:
    return Observation(name, head_time, Reason.OK, 0.05,
                       facts={Fact.CHAIN: chain, Fact.HEAD: height, Fact.HEAD_TIME: head_time})


def test_a_provider_behind_its_peers_is_lagging_the_others_are_not() -> None:
    chains = ChainCorrelator()
    now = 10_000.0
    assert chains.observe(provider("infura"), head("infura", 100, now - 1), now).reason \
        is Reason.OK
    slow = chains.observe(provider("public"), head("public", 95, now - 60), now + 1)
    assert slow.reason is Reason.LAGGING
    assert slow.facts[Fact.LAG_BLOCKS] == 5
    assert "5 blocks (59s) behind the best provider of ethereum (max 3)" in slow.detail
    again = chains.observe(provider("infura"), head("infura", 101, now + 1), now + 2)
    assert again.reason is Reason.OK and again.facts[Fact.LAG_BLOCKS] == 0


def test_per_target_override_of_max_lag() -> None:
    chains = ChainCorrelator()
    chains.observe(provider("a"), head("a", 100, 999.0), 1000.0)
    judged = chains.observe(provider("b", max_lag_blocks=10), head("b", 95, 990.0), 1000.0)
    assert judged.reason is Reason.OK


def test_every_provider_frozen_is_a_halt_and_nobody_is_blamed() -> None:
    chains = ChainCorrelator()
    frozen_at = 5_000.0
    now = frozen_at + 120  # ethereum: max_head_age 60 s
    health = Health("a", failure_threshold=1, success_threshold=1, interval=10)
    health.observe(head("a", 100, frozen_at), now=0)
    chains.observe(provider("b"), head("b", 100, frozen_at), now - 5)
    judged = chains.observe(provider("a"), head("a", 100, frozen_at), now)
    assert judged.reason is Reason.STALE
    assert judged.excused_by == "ethereum halted"
    assert judged.facts[Fact.CHAIN_HALTED] is True
    health.observe(judged, now=1)
    assert health.state is State.UP  # affected by the halt, not failed
    assert [(v.chain, v.halted) for v in chains.views(now)] == [("ethereum", True)]


def test_one_frozen_provider_alone_is_stale_not_a_halt() -> None:
    chains = ChainCorrelator()
    judged = chains.observe(provider("only"), head("only", 7, 1_000.0), 2_000.0)
    assert judged.reason is Reason.STALE and not judged.excused_by
    assert chains.views(2_000.0)[0].halted is False


def test_a_head_moving_backwards_is_recorded() -> None:
    chains = ChainCorrelator()
    chains.observe(provider("a"), head("a", 100, 999.0), 1000.0)
    judged = chains.observe(provider("a"), head("a", 98, 1009.0), 1010.0)
    assert judged.facts[Fact.HEAD_REWIND] == 2


def test_old_entries_of_silent_providers_do_not_count() -> None:
    chains = ChainCorrelator()
    chains.observe(provider("gone"), head("gone", 500, 999.0), 1000.0)
    later = 1000.0 + 31  # more than 3 intervals of 10 s
    judged = chains.observe(provider("a"), head("a", 100, later - 1), later)
    assert judged.reason is Reason.OK and judged.facts[Fact.LAG_BLOCKS] == 0


def test_failed_probes_and_other_facts_pass_through() -> None:
    chains = ChainCorrelator()
    failed = Observation("a", 1.0, Reason.TIMEOUT, facts={Fact.CHAIN: "ethereum"})
    assert chains.observe(provider("a"), failed, 2.0) is failed
    plain = Observation("h", 1.0, Reason.OK)
    assert chains.observe(provider("h"), plain, 2.0) is plain
