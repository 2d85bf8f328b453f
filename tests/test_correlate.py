"""Cross-venue price judgement."""

from __future__ import annotations

import pytest

from monitor.correlate import judge_prices
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
