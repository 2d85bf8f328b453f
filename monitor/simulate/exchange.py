"""A simulated exchange in one venue's shape (monitor/simulate/venues), and its faults.

The shape says which REST paths exist and what they answer (server time, system status, a
ticker, KuCoin's WebSocket token), which rate-limit headers every answer carries, and how the
WebSocket streams talk (see stream.py). Faults apply to every request whose path they cover,
WebSocket handshakes included, and answer in the venue's shape: http_5xx with its overloaded
error, rate_limit with its rate-limit error, geo_block with its restricted-location answer,
maintenance with its status endpoint (or, where it has none, its maintenance error on every
request), price_offset on its prices.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Callable, Coroutine
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from monitor.simulate import respond
from monitor.simulate.faults import VENUE_KINDS, FaultBook, FaultKind, NoParams
from monitor.simulate.market import MARKETS, PriceWalk, Tape
from monitor.simulate.stream import TradeStreams
from monitor.simulate.venues import make_shape
from monitor.simulate.venues.base import Answer

MAX_REQUEST_BODY = 64 * 1024
MAX_TOKENS = 1000  # KuCoin tokens remembered per venue


class UsedWeight:
    """Request weight used in the current wall-clock window, as venues count it."""

    def __init__(self, window: float = 60.0) -> None:
        self.window = window
        self._index = -1
        self.used = 0

    def add(self, weight: int) -> int:
        index = int(time.time() // self.window)
        if index != self._index:
            self._index, self.used = index, 0
        self.used += weight
        return self.used

    @property
    def reset_ms(self) -> int:
        """Milliseconds until the window starts over."""
        return max(int(((self._index + 1) * self.window - time.time()) * 1000), 0)


class ExchangeVenue:
    kind = "exchange"
    fault_kinds = VENUE_KINDS

    def __init__(self, name: str, shape: str = "binance", *, walk: PriceWalk | None = None,
                 trade_rate: float = 10.0, seed: int | None = None,
                 keepalive_scale: float = 1.0) -> None:
        if keepalive_scale <= 0:
            raise ValueError("keepalive_scale must be positive")
        self.name = name
        self.shape = make_shape(shape)
        self.faults = FaultBook(name)
        self.tape = Tape(walk or PriceWalk(seed), random.Random(seed), self.faults.price_offset)
        self.weight = UsedWeight(self.shape.rate_window)
        self.keepalive_scale = keepalive_scale
        self.keepalive = self.shape.keepalive.scaled(keepalive_scale)
        self.tokens: set[str] = set()
        self.streams = TradeStreams(self.shape, self.tape, self.faults, rate=trade_rate,
                                    keepalive=self.keepalive, tokens=self.tokens)
        self._stopping = False
        self.app = self._build_app()

    @property
    def ws_path(self) -> str:
        """The path of the venue's advertised WebSocket URL."""
        return self.shape.ws_paths[0]

    def check_fault(self, kind: FaultKind, params: NoParams) -> None:
        """Venue faults need no check beyond their params."""

    async def close(self) -> None:
        """Let go of every held request and close every stream, before the server stops."""
        self._stopping = True
        self.faults.clear()
        await self.streams.close()

    def _build_app(self) -> web.Application:
        shape = self.shape
        app = web.Application(middlewares=[self._misbehave], client_max_size=MAX_REQUEST_BODY)
        app.on_response_prepare.append(self._add_rate_headers)
        for path, body in shape.static.items():
            app.router.add_get(path, self._fixed(body))
        app.router.add_get(shape.time_path, self._time)
        if shape.status_path is not None:
            app.router.add_get(shape.status_path, self._status)
        if shape.ticker_path is not None:
            app.router.add_get(shape.ticker_path, self._ticker)
        if shape.bullet_path is not None:
            app.router.add_post(shape.bullet_path, self._bullet)
        for path in shape.ws_paths:
            app.router.add_get(path, self.streams.handle)
        return app

    # -- faults ----------------------------------------------------------------------------

    @web.middleware
    async def _misbehave(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if not self._stopping:
            self.weight.add(self.shape.weight(path, request.query))
        instead = await respond.misbehave(
            request, self.faults, lambda: self._stopping,
            lambda fault: respond.answer(request, fault, self.shape))
        if instead is not None:
            return instead
        if (self.shape.status_path is None
                and self.faults.active(FaultKind.MAINTENANCE, path) is not None):
            return respond.venue_answer(request, self.shape.maintenance(), refused_status=503)
        return await handler(request)

    async def _add_rate_headers(self, _: web.Request, response: web.StreamResponse) -> None:
        if not self.shape.rate_limit:
            return
        for key, value in self.shape.rate_headers(self.weight.used,
                                                  self.weight.reset_ms).items():
            response.headers.setdefault(key, value)

    # -- REST ------------------------------------------------------------------------------

    @staticmethod
    def _fixed(body: Any) -> Callable[[web.Request], Coroutine[Any, Any, web.Response]]:
        async def answer(request: web.Request) -> web.Response:
            return respond.venue_answer(request, Answer(body), refused_status=400)

        return answer

    async def _time(self, request: web.Request) -> web.Response:
        return respond.venue_answer(request, Answer(self.shape.time_body(time.time_ns())),
                                    refused_status=400)

    async def _status(self, request: web.Request) -> web.Response:
        maintenance = self.faults.active(FaultKind.MAINTENANCE, request.path) is not None
        body = self.shape.status_body(maintenance, time.time_ns() // 1_000_000)
        return respond.venue_answer(request, Answer(body), refused_status=400)

    async def _ticker(self, request: web.Request) -> web.Response:
        shape = self.shape
        if "symbol" in request.match_info:
            symbol: str | None = request.match_info["symbol"]
        else:
            symbol = request.query.get(shape.ticker_param)
        now_ms = time.time_ns() // 1_000_000
        if symbol is None and shape.ticker_lists_all:
            return respond.venue_answer(request, Answer([
                shape.ticker_body(shape.symbol(market), self.tape.quote(market), now_ms)
                for market in MARKETS]), refused_status=400)
        market = shape.market_of(symbol) if symbol is not None else None
        if symbol is None or market is None:
            return respond.venue_answer(request, shape.unknown_symbol(symbol),
                                        refused_status=400)
        body = shape.ticker_body(symbol, self.tape.quote(market), now_ms)
        return respond.venue_answer(request, Answer(body), refused_status=400)

    async def _bullet(self, request: web.Request) -> web.Response:
        token = secrets.token_urlsafe(24)
        if len(self.tokens) >= MAX_TOKENS:
            self.tokens.clear()
        self.tokens.add(token)
        endpoint = f"{'wss' if request.secure else 'ws'}://{request.host}{self.ws_path}"
        body = self.shape.bullet_body(endpoint, token, self.keepalive_scale)
        return respond.venue_answer(request, Answer(body), refused_status=400)
