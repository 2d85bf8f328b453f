"""`price`: cross-venue price divergence from the prices exchange streams already receive."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from checks.base import CheckEnv, ProbeOnly, register
from checks.exchanges.base import Market
from monitor.correlate import PriceJudgement, judge_prices
from monitor.observation import Fact, Observation, Reason
from monitor.schema import PositiveDuration, TargetBase


class PriceTarget(TargetBase):
    default_interval = 10.0

    kind: Literal["price"]
    market: str
    venues: list[str] = Field(min_length=2)  # exchange names with an exchange target on market
    max_deviation: Annotated[float, Field(gt=0, lt=1)] = 0.02
    peg: Annotated[float, Field(gt=0)] | None = None  # stablecoins: compare with the peg too
    min_venues: Annotated[int, Field(ge=2)] | None = None  # default: 3, or all if fewer
    stale_after: PositiveDuration = 60.0  # older prices are left out, not called divergent

    @field_validator("market")
    @classmethod
    def _market(cls, value: str) -> str:
        return str(Market.parse(value))

    @model_validator(mode="after")
    def _enough_venues(self) -> PriceTarget:
        if len(set(self.venues)) != len(self.venues):
            raise ValueError("venues lists an exchange twice")
        if self.min_venues is not None and self.min_venues > len(self.venues):
            raise ValueError(
                f"min_venues ({self.min_venues}) is more than the venues listed "
                f"({len(self.venues)})"
            )
        return self

    @property
    def reads_streams(self) -> bool:
        return True

    @property
    def required_venues(self) -> int:
        return self.min_venues or min(3, len(self.venues))


class PriceCheck(ProbeOnly):
    def __init__(self, target: PriceTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env

    async def probe(self) -> Observation:
        target = self.target
        now = self._env.clock.wall()
        judged = judge_prices(target.market, self._env.prices.quotes(target.market),
                              target.venues, now=now, stale_after=target.stale_after,
                              peg=target.peg)
        reason, detail = self._verdict(judged)
        return Observation(
            target=target.name,
            started_at=now,
            reason=reason,
            detail=detail,
            facts={
                Fact.MARKET: target.market,
                Fact.PRICES: judged.prices,
                Fact.DEVIATIONS: judged.deviations,
                "reference": judged.reference,
                "stale_venues": sorted(judged.stale),
                "missing_venues": judged.missing,
            },
        )

    def _verdict(self, judged: PriceJudgement) -> tuple[Reason, str]:
        target = self.target
        if len(judged.prices) < target.required_venues:
            absent = [f"{v} stale {age:.0f}s" for v, age in sorted(judged.stale.items())]
            absent += [f"{v} no price yet" for v in judged.missing]
            return Reason.STALE, (
                f"{len(judged.prices)} of {len(target.venues)} venues have a fresh price "
                f"(need {target.required_venues}): {', '.join(absent)}"
            )
        divergent = judged.divergent(target.max_deviation)
        if divergent:
            parts = [
                f"{venue} {abs(ratio):.1%} {'below' if ratio < 0 else 'above'} the "
                f"{judged.reference} ({judged.prices[venue]:.6g})"
                for venue, ratio in sorted(divergent.items(), key=lambda item: -abs(item[1]))
            ]
            return Reason.ASSERTION_FAILED, "; ".join(parts)
        return Reason.OK, ""


def build(target: TargetBase, env: CheckEnv) -> PriceCheck:
    assert isinstance(target, PriceTarget)
    return PriceCheck(target, env)


register("price", PriceTarget, build)
