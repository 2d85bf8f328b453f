from pathlib import Path

from monitor.simulate.scenarios import AlertMatch, Expected
from tests.scenarios.harness import play


async def test_depeg_fires_price_deviation(tmp_path: Path) -> None:
    async with play("depeg", tmp_path) as run:
        await run.check(Expected(
            fire=(AlertMatch("PriceDeviation", {"market": "USDE-USDT"}),),
            never=(AlertMatch("ChainHalted"),)))
