"""Binance's overload of 10 Oct 2025 against the demo: the venue's lagging stream, its 503s
(its own -1008 SERVER_BUSY and the CDN's page) and 429s, and USDe at 0.65 on it alone, each
notified as what it is; the other venues and BTC prices stay quiet; everything resolves."""

from __future__ import annotations

from pathlib import Path

from monitor.simulate.incidents.binance_2025_10_10 import SHAPE, STABLE_MARKET, VENUE
from monitor.simulate.scenarios import AlertMatch, get_scenario
from tests.scenarios.harness import ScenarioRun, play

NAME = "binance-2025-10-10"
STABLE_PRICE_TARGET = "usde-usdt-price"  # the demo's USDE-USDT price target


def descriptions(run: ScenarioRun, match: AlertMatch) -> list[str]:
    return [item.annotations.get("description", "")
            for item in run.notified(match, "firing")]


async def test_binance_overload_and_usde_depeg(tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path) as run:
        await run.check(expected, timeout=45)

        # Each failure is told apart in what was notified.
        lag = descriptions(run, AlertMatch("FeedLagHigh", {"target": VENUE}))
        assert any("event lag" in text for text in lag), lag
        # A TargetDown already firing is not sent again when its cause changes (timeouts,
        # -1008, the CDN's 503 come in turn), so which cause a notification names depends on
        # timing; each is one of the replay's.
        down = descriptions(run, AlertMatch("TargetDown", {"target": VENUE}))
        assert down and all("HTTP 503" in text or "timed out" in text for text in down), down
        limited = descriptions(run, AlertMatch("RateLimited", {"target": VENUE}))
        assert any("429" in text and "-1003" in text for text in limited), limited
        depeg = descriptions(run, AlertMatch("PriceDeviation", {"market": STABLE_MARKET}))
        assert any(f"{SHAPE} 35.0% below the peg" in text for text in depeg), depeg

        # Nothing about the other venues: every notification is about a target watching the
        # Binance venue, or the USDe price board that names it.
        binance_targets = {target["name"] for target in run.config["targets"]
                           if target.get("provider") == SHAPE}
        assert VENUE in binance_targets
        notified = {item.labels.get("target") for item in run.seen()}
        assert notified <= binance_targets | {STABLE_PRICE_TARGET}, run.describe()
