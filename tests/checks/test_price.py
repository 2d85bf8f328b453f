"""The `price` kind reads the price board that exchange streams fill."""

from __future__ import annotations

from typing import Any

from checks.base import CheckEnv
from checks.price import PriceTarget, build
from monitor.clock import FakeClock
from monitor.observation import Fact, Reason
from monitor.prices import PriceBoard


def check_for(board: PriceBoard, clock: FakeClock, **extra: Any) -> Any:
    target = PriceTarget.model_validate({
        "name": "usde", "kind": "price", "market": "usde-usdt", "interval": "10s",
        "timeout": "1s", "venues": ["binance", "okx", "bybit", "kucoin"], **extra})
    return build(target, CheckEnv(clock=clock, prices=board))


async def test_the_usde_case_names_the_one_divergent_venue() -> None:
    clock, board = FakeClock(), PriceBoard()
    for venue, price in {"binance": 0.65, "okx": 1.0, "bybit": 0.9995, "kucoin": 1.0004}.items():
        board.publish("USDE-USDT", venue, price, clock.wall(), f"{venue}-usde")
    obs = await check_for(board, clock).probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail.startswith("binance 35.0% below the median of the others")
    assert "okx" not in obs.detail
    assert obs.facts[Fact.MARKET] == "USDE-USDT"
    assert round(obs.facts[Fact.DEVIATIONS]["binance"], 3) == -0.35


async def test_stale_feeds_are_excluded_and_too_few_fresh_is_stale() -> None:
    clock, board = FakeClock(), PriceBoard()
    board.publish("USDE-USDT", "binance", 0.65, clock.wall(), "b")  # will go stale
    await clock.advance(120)
    for venue in ("okx", "bybit", "kucoin"):
        board.publish("USDE-USDT", venue, 1.0, clock.wall(), venue)
    obs = await check_for(board, clock).probe()
    assert obs.reason is Reason.OK
    assert obs.facts["stale_venues"] == ["binance"]
    assert "binance" not in obs.facts[Fact.DEVIATIONS]

    obs = await check_for(board, clock, min_venues=4).probe()
    assert obs.reason is Reason.STALE
    assert "3 of 4 venues have a fresh price (need 4): binance stale 120s" in obs.detail


async def test_peg_mode() -> None:
    clock, board = FakeClock(), PriceBoard()
    for venue in ("binance", "okx", "bybit", "kucoin"):
        board.publish("USDE-USDT", venue, 0.95, clock.wall(), venue)
    assert (await check_for(board, clock).probe()).reason is Reason.OK
    obs = await check_for(board, clock, peg=1.0).probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert "5.0% below the peg 1" in obs.detail
