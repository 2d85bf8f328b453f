"""A simulated exchange with Binance-like REST endpoints and trade stream, and its faults.

REST: GET /api/v3/ping, /api/v3/time, /api/v3/ticker/price?symbol=BTCUSDT and
/sapi/v1/system/status; every response carries X-MBX-USED-WEIGHT-1M. WebSocket: /ws (and
/ws/<symbol>@trade), see stream.py. Faults apply to every request whose path they cover,
WebSocket handshakes included.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson
from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.simulate import respond
from monitor.simulate.faults import FaultBook, FaultKind
from monitor.simulate.market import Market, now_ms
from monitor.simulate.stream import TradeStreams

WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
STATUS_PATH = "/sapi/v1/system/status"
MAX_REQUEST_BODY = 64 * 1024
# Binance's request weights; anything else costs 1.
WEIGHTS = {"/api/v3/ticker/price": 2}
ALL_PRICES_WEIGHT = 4


def json_response(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


class UsedWeight:
    """Request weight used in the current wall-clock minute, as Binance counts it."""

    def __init__(self) -> None:
        self._minute = -1
        self.used = 0

    def add(self, weight: int) -> int:
        minute = int(time.time() // 60)
        if minute != self._minute:
            self._minute, self.used = minute, 0
        self.used += weight
        return self.used


class ExchangeVenue:
    kind = "exchange"

    def __init__(self, name: str, *, trade_rate: float = 10.0, seed: int | None = None) -> None:
        self.name = name
        self.faults = FaultBook(name)
        self.market = Market(seed)
        self.weight = UsedWeight()
        self.streams = TradeStreams(self.market, self.faults, rate=trade_rate)
        self._stopping = False
        self.app = self._build_app()

    async def close(self) -> None:
        """Let go of every held request and close every stream, before the server stops."""
        self._stopping = True
        self.faults.clear()
        await self.streams.close()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._misbehave], client_max_size=MAX_REQUEST_BODY)
        app.on_response_prepare.append(self._add_weight_header)
        app.router.add_get("/api/v3/ping", self._ping)
        app.router.add_get("/api/v3/time", self._time)
        app.router.add_get("/api/v3/ticker/price", self._ticker_price)
        app.router.add_get(STATUS_PATH, self._system_status)
        app.router.add_get("/ws", self.streams.handle)
        app.router.add_get("/ws/{stream}", self.streams.handle)
        return app

    @web.middleware
    async def _misbehave(self, request: web.Request,
                         handler: Handler) -> web.StreamResponse:
        path = request.path
        weight = WEIGHTS.get(path, 1)
        if path == "/api/v3/ticker/price" and "symbol" not in request.query:
            weight = ALL_PRICES_WEIGHT
        self.weight.add(weight)
        delay = self.faults.delay(path)
        if delay > 0:
            await asyncio.sleep(delay)
        while (fault := self.faults.answering(path)) is not None:
            if fault.kind is not FaultKind.HANG:
                return await respond.answer(request, fault)
            await fault.ended.wait()
            if self._stopping:
                return respond.abort(request)
        return await handler(request)

    async def _add_weight_header(self, _: web.Request, response: web.StreamResponse) -> None:
        response.headers[WEIGHT_HEADER] = str(self.weight.used)

    async def _ping(self, _: web.Request) -> web.Response:
        return json_response({})

    async def _time(self, _: web.Request) -> web.Response:
        return json_response({"serverTime": now_ms()})

    async def _system_status(self, request: web.Request) -> web.Response:
        if self.faults.active(FaultKind.MAINTENANCE, request.path) is not None:
            return json_response({"status": 1, "msg": "system maintenance"})
        return json_response({"status": 0, "msg": "normal"})

    async def _ticker_price(self, request: web.Request) -> web.Response:
        symbol = request.query.get("symbol")
        if symbol is None:
            return json_response([
                {"symbol": listed, "price": self.market.price(listed)}
                for listed in self.market.symbols
            ])
        if not self.market.lists(symbol):
            return json_response({"code": -1121, "msg": "Invalid symbol."}, status=400)
        return json_response({"symbol": symbol, "price": self.market.price(symbol)})
