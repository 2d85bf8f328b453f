"""An exchange's announced maintenance against the demo: one ExchangeMaintenance, kept open
while the venue is suspended (its status endpoint failing too) and resolved once it is back;
the venue's TargetDown meanwhile active but held back, never notified; nothing else."""

from __future__ import annotations

from pathlib import Path

from monitor.simulate.incidents.exchange_maintenance import SHAPE, VENUE
from monitor.simulate.scenarios import get_scenario
from tests.conftest import wait_for
from tests.scenarios.harness import play

NAME = "exchange-maintenance"


async def test_exchange_maintenance_is_one_notice_through_the_suspension(
        tmp_path: Path) -> None:
    expected = get_scenario(NAME).expected
    assert expected is not None
    async with play(NAME, tmp_path) as run:
        venue_targets = {target["name"] for target in run.config["targets"]
                         if target.get("provider") == SHAPE}
        assert VENUE in venue_targets

        async def suspension_held_back() -> bool:
            alerts = await run.daemon.get_json("/api/v1/alerts")
            return any(alert["labels"]["alertname"] == "TargetDown"
                       and alert["labels"]["target"] == VENUE
                       and alert["annotations"].get("held_back", "").startswith(
                           "maintenance announced by ")
                       for alert in alerts)

        await wait_for(suspension_held_back, timeout=30,
                       what=f"{VENUE}'s TargetDown held back by its maintenance")
        await run.check(expected, timeout=30)
        # ExchangeMaintenance resolved only once the venue answered again.
        assert not run.world.faults(VENUE)

        notified = {(item.status, item.labels["alertname"], item.labels.get("target"))
                    for item in run.seen()}
        assert {alertname for _, alertname, _ in notified} == {"ExchangeMaintenance"}, (
            run.describe())
        assert {target for _, _, target in notified} <= venue_targets, run.describe()
