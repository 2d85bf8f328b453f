"""`price`: cross-venue price divergence from the prices exchange streams already receive."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckEnv, register
from checks.exchanges.base import Market
from monitor.schema import PositiveDuration, TargetBase


class PriceTarget(TargetBase):
    default_interval = 10.0

    kind: Literal["price"]
    market: str
    venues: list[str] = Field(min_length=2)  # exchange names with an exchange target on market
    max_deviation: Annotated[float, Field(gt=0, lt=1)] = 0.02
    peg: Annotated[float, Field(gt=0)] | None = None  # stablecoins: compare with the peg too
    min_venues: Annotated[int, Field(ge=2)] = 3
    stale_after: PositiveDuration = 60.0  # older prices are left out, not called divergent

    @field_validator("market")
    @classmethod
    def _market(cls, value: str) -> str:
        return str(Market.parse(value))


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("price", PriceTarget, build)
