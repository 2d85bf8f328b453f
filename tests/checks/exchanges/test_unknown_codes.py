"""An error code an adapter does not know still reads by its HTTP status."""

from __future__ import annotations

from typing import Any

import pytest

from checks.exchanges.base import Market, adapters
from monitor.observation import Reason

UNKNOWN = {
    "bybit": {"retCode": 987654, "retMsg": "something new"},
    "kucoin": {"code": "987654", "msg": "something new"},
    "bitget": {"code": "987654", "msg": "something new"},
    "okx": {"code": "987654", "msg": "something new", "data": []},
}


@pytest.mark.parametrize("venue", sorted(UNKNOWN))
@pytest.mark.parametrize(
    ("status", "reason"),
    [(200, Reason.ERROR), (451, Reason.GEO_BLOCKED), (503, Reason.HTTP_5XX),
     (403, Reason.HTTP_4XX)],
)
def test_unknown_code_falls_back_to_the_http_status(venue: str, status: int,
                                                     reason: Reason) -> None:
    adapter: Any = adapters()[venue](Market.parse("BTC-USDT"))
    verdict = adapter.venue_error(status, UNKNOWN[venue])
    assert verdict is not None and verdict[0] is reason
