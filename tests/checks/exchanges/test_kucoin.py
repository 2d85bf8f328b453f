"""KuCoin adapter: recorded fixtures (documented shapes, made-up values), hostile frames, the
bullet-public token request against a local fake, and a local WebSocket venue that enforces
KuCoin's keepalive rule."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from checks.exchanges import kucoin
from checks.exchanges.base import Market, adapters
from checks.exchanges.kucoin import KucoinAdapter
from checks.stream import EventKind
from monitor.observation import Reason
from monitor.redact import scrub
from tests.checks.exchanges.harness import (
    FRAMES,
    HOSTILE_FRAMES,
    ORJSON_VALUES,
    SHAPE_ERRORS,
    Fixtures,
    LocalVenue,
    Session,
    assert_sane,
    one_field_replaced,
    serving,
    watching,
)
from tests.conftest import LocalServer, wait_for

FIXTURES = Fixtures("kucoin")
raw, doc = FIXTURES.raw, FIXTURES.doc
ServeApp = Callable[[web.Application], Awaitable[LocalServer]]


@pytest.fixture
def adapter() -> KucoinAdapter:
    return KucoinAdapter(Market.parse("BTC-USDT"))


def test_registered_under_its_name() -> None:
    assert adapters()["kucoin"] is KucoinAdapter


@pytest.mark.parametrize(
    ("market", "symbol"),
    [("BTC-USDT", "BTC-USDT"), ("eth-btc", "ETH-BTC"), ("1INCH-USDT", "1INCH-USDT")],
)
def test_venue_symbol(market: str, symbol: str) -> None:
    assert KucoinAdapter(Market.parse(market)).symbol == symbol


# -- REST ----------------------------------------------------------------------------------


def test_parse_time(adapter: KucoinAdapter) -> None:
    assert adapter.parse_time(doc("time.json")) == 1717171717.123


@pytest.mark.parametrize(
    "body",
    [
        {},
        [],
        None,
        {"code": "200000"},
        {"code": "429000", "data": 1717171717123},
        {"code": 200000, "data": 1717171717123},
        {"code": "200000", "data": "soon"},
        {"code": "200000", "data": True},
        {"code": "200000", "data": 1717171717.5},
        {"code": "200000", "data": {"time": 1}},
    ],
)
def test_parse_time_rejects_wrong_shapes(adapter: KucoinAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_time(body)


@pytest.mark.parametrize(
    ("name", "maintenance", "detail"),
    [
        ("status_normal.json", False, "open"),
        ("status_maintenance.json", True, "close: upgrade match engine"),
        ("status_cancelonly.json", True, "cancelonly: cancel only during upgrade"),
    ],
)
def test_parse_status(adapter: KucoinAdapter, name: str, maintenance: bool, detail: str) -> None:
    status = adapter.parse_status(doc(name))
    assert status.maintenance is maintenance
    assert status.detail == detail


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"code": "200000", "data": None},
        {"code": "200000", "data": {}},
        {"code": "200000", "data": {"status": "sleeping"}},
        {"code": "200000", "data": {"status": ["open"]}},
        {"code": "500000", "data": {"status": "open"}},
    ],
)
def test_parse_status_rejects_wrong_shapes(adapter: KucoinAdapter, body: Any) -> None:
    with pytest.raises(SHAPE_ERRORS):
        adapter.parse_status(body)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("error_rate_limit.json", Reason.RATE_LIMITED),
        ("error_server.json", Reason.HTTP_5XX),
        ("error_restricted.json", Reason.GEO_BLOCKED),
        ("error_region.json", Reason.GEO_BLOCKED),
        ("error_url.json", Reason.ERROR),
    ],
)
def test_venue_error_maps_codes(adapter: KucoinAdapter, name: str, reason: Reason) -> None:
    body = doc(name)
    verdict = adapter.venue_error(200, body)
    assert verdict is not None
    assert verdict[0] is reason
    assert body["code"] in verdict[1] and body["msg"] in verdict[1]


@pytest.mark.parametrize("name", ["time.json", "status_normal.json", "bullet_public.json"])
def test_venue_error_none_on_success(adapter: KucoinAdapter, name: str) -> None:
    assert adapter.venue_error(200, doc(name)) is None


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("<html>429</html>", None),
        ([1, 2], None),
        ({"data": 1}, None),
        ({"code": 429000}, Reason.INVALID_RESPONSE),
        ({"code": None}, Reason.INVALID_RESPONSE),
        ({"code": "429000", "msg": {"x": 1}}, Reason.RATE_LIMITED),
    ],
)
def test_venue_error_odd_bodies(adapter: KucoinAdapter, body: Any, expected: Reason | None) -> None:
    verdict = adapter.venue_error(429, body)
    assert (verdict[0] if verdict else None) is expected


@pytest.mark.parametrize(
    ("headers", "ratio"),
    [
        ({"gw-ratelimit-limit": "2000", "gw-ratelimit-remaining": "1500"}, 0.25),
        ({"GW-RateLimit-Limit": "500", "GW-RateLimit-Remaining": "300"}, 0.4),
        ({"gw-ratelimit-limit": "500", "gw-ratelimit-remaining": "0"}, 1.0),
        ({"gw-ratelimit-limit": "500"}, None),
        ({"gw-ratelimit-remaining": "300"}, None),
        ({"gw-ratelimit-limit": "0", "gw-ratelimit-remaining": "0"}, None),
        ({"gw-ratelimit-limit": "lots", "gw-ratelimit-remaining": "3"}, None),
        ({}, None),
    ],
)
def test_rate_limit_used_ratio(
    adapter: KucoinAdapter, headers: dict[str, str], ratio: float | None
) -> None:
    result = adapter.rate_limit_used_ratio(headers)
    assert result == (pytest.approx(ratio) if ratio is not None else None)


# -- the token request ----------------------------------------------------------------------


def bullet_app(respond: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.Application:
    app = web.Application()
    app.router.add_post("/api/v1/bullet-public", respond)
    return app


def json_reply(body: Any, status: int = 200) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def respond(request: web.Request) -> web.Response:
        return web.Response(body=orjson.dumps(body), status=status,
                            content_type="application/json")

    return respond


async def test_endpoint_returns_the_tokenised_url_and_adopts_the_ping_rule(
    serve_app: ServeApp,
) -> None:
    server = await serve_app(bullet_app(json_reply(doc("bullet_public.json"))))
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    assert adapter.keepalive is not None and adapter.keepalive.interval == 18.0  # the default

    url = await adapter.endpoint()

    token = doc("bullet_public.json")["data"]["token"]
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("wss", "ws-api-spot.kucoin.com", "/")
    query = parse_qs(parts.query)
    assert query["token"] == [token]  # percent-encoded on the way, intact once decoded
    assert len(query["connectId"][0]) >= 16
    assert adapter.keepalive is not None
    assert (adapter.keepalive.interval, adapter.keepalive.timeout) == (18.0, 10.0)
    assert orjson.loads(adapter.keepalive.frame)["type"] == "ping"
    assert token not in scrub(f"connecting to {url} with {token}")
    assert KucoinAdapter.keepalive is not None and KucoinAdapter.keepalive.interval == 18.0
    second = await adapter.endpoint()
    assert parse_qs(urlsplit(second).query)["connectId"] != query["connectId"]


async def test_endpoint_uses_post(serve_app: ServeApp) -> None:
    app = web.Application()
    app.router.add_get("/api/v1/bullet-public", json_reply(doc("bullet_public.json")))
    server = await serve_app(app)
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    with pytest.raises(ValueError, match="HTTP 405"):
        await adapter.endpoint()


def with_server(**changes: Any) -> Any:
    body = doc("bullet_public.json")
    body["data"]["instanceServers"][0].update(changes)
    return body


@pytest.mark.parametrize(
    "body",
    [
        {"code": "200000"},
        {"code": "200000", "data": {"token": "t0ken-t0ken", "instanceServers": []}},
        {"code": "200000", "data": {"token": "", "instanceServers": [{}]}},
        {"code": "200000", "data": {"instanceServers": []}},
        {"code": "400001", "msg": "Please check the URL of your request."},
        [1, 2, 3],
        with_server(endpoint="https://ws-api-spot.kucoin.com/"),
        with_server(endpoint=None),
        with_server(pingInterval="18000"),
        with_server(pingInterval=0),
        with_server(pingInterval=-5),
        with_server(pingTimeout=True),
        with_server(pingTimeout=10**12),
    ],
)
async def test_endpoint_rejects_bad_bullets(serve_app: ServeApp, body: Any) -> None:
    server = await serve_app(bullet_app(json_reply(body)))
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    with pytest.raises(SHAPE_ERRORS):
        await adapter.endpoint()
    assert adapter.keepalive is KucoinAdapter.keepalive  # unchanged


async def test_endpoint_reports_a_refused_bullet(serve_app: ServeApp) -> None:
    refusal = json_reply({"code": "429000", "msg": "Too Many Requests"}, status=429)
    server = await serve_app(bullet_app(refusal))
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    with pytest.raises(ValueError, match=r"HTTP 429.*429000"):
        await adapter.endpoint()


async def test_endpoint_rejects_non_json(serve_app: ServeApp) -> None:
    async def html(request: web.Request) -> web.Response:
        return web.Response(text="<html>hello</html>", content_type="text/html")

    server = await serve_app(bullet_app(html))
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    with pytest.raises(ValueError):
        await adapter.endpoint()


@pytest.mark.parametrize("chunked", [False, True])
async def test_endpoint_caps_a_huge_bullet(serve_app: ServeApp, chunked: bool) -> None:
    huge = b'{"code":"200000","data":{"token":"' + b"x" * (2 * kucoin.BULLET_MAX_BODY) + b'"}}'

    async def respond(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse()
        if not chunked:
            response.content_length = len(huge)
        await response.prepare(request)
        for start in range(0, len(huge), 4096):
            await response.write(huge[start:start + 4096])
        return response

    server = await serve_app(bullet_app(respond))
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    with pytest.raises(ValueError, match="larger than"):
        await adapter.endpoint()


async def test_endpoint_gives_up_on_a_hanging_venue(
    serve_app: ServeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    never = asyncio.Event()

    async def hang(request: web.Request) -> web.Response:
        await never.wait()
        return web.Response()

    server = await serve_app(bullet_app(hang))
    monkeypatch.setattr(kucoin, "BULLET_TIMEOUT", 0.3)
    adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=server.url("/"))
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await adapter.endpoint()
    assert time.monotonic() - started < 2.0


# -- stream --------------------------------------------------------------------------------


def test_subscribe_frames(adapter: KucoinAdapter) -> None:
    frames = [orjson.loads(f) for f in adapter.subscribe_frames()]
    assert len(frames) == 1
    frame = frames[0]
    assert isinstance(frame["id"], str) and frame["id"]
    assert {k: v for k, v in frame.items() if k != "id"} == {
        "type": "subscribe",
        "topic": "/market/match:BTC-USDT",
        "privateChannel": False,
        "response": True,
    }


@pytest.mark.parametrize(
    ("name", "kind", "event_time", "price"),
    [
        ("ws_welcome.json", EventKind.IGNORE, None, None),
        ("ws_ack.json", EventKind.ACK, None, None),
        ("ws_pong.json", EventKind.PONG, None, None),
        ("ws_trade.json", EventKind.DATA, 1717171717.25, 67012.5),
        ("ws_error.json", EventKind.ERROR, None, None),
        ("ws_other_topic.json", EventKind.IGNORE, None, None),
    ],
)
@pytest.mark.parametrize("as_bytes", [False, True])
def test_classify_fixture_frames(
    adapter: KucoinAdapter,
    name: str,
    kind: EventKind,
    event_time: float | None,
    price: float | None,
    as_bytes: bool,
) -> None:
    frame: str | bytes = raw(name) if as_bytes else raw(name).decode()
    event = adapter.classify(frame)
    assert event.kind is kind
    assert event.event_time == event_time
    assert event.price == price
    assert event.sequence is None  # the engine sequence also counts orders that never trade


def test_classify_nanosecond_time_exactly(adapter: KucoinAdapter) -> None:
    message = doc("ws_trade.json")
    message["data"]["time"] = "1545913818099033203"
    event = adapter.classify(orjson.dumps(message))
    assert event.event_time == 1545913818099033203 / 1_000_000_000


def test_classify_error_carries_the_venue_message(adapter: KucoinAdapter) -> None:
    event = adapter.classify(raw("ws_error.json"))
    assert "404" in event.detail and "not found" in event.detail


HOSTILE: list[str | bytes] = [
    *HOSTILE_FRAMES,
    b'{"type": "message", "topic": "/market/match:BTC-USDT", "data": {"price": "\xe2\x28\xa1"}}',
    "ping",
    '"pong"',
    '{"type": "message"}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match"}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match",'
    ' "data": []}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match",'
    ' "data": {"price": "1", "time": 1.5}}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match",'
    ' "data": {"price": "inf", "time": "1"}}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match",'
    ' "data": {"price": null, "time": "1"}}',
    '{"type": "message", "topic": "/market/match:BTC-USDT", "subject": "trade.l3match",'
    ' "data": {"price": "1", "time": "-1"}}',
    '{"type": "message", "topic": {"a": 1}, "subject": "trade.l3match", "data": {}}',
    '{"type": ["pong"]}',
    '{"type": {"kind": "ack"}}',
]


@pytest.mark.parametrize("frame", HOSTILE, ids=range(len(HOSTILE)))
def test_classify_hostile_frames_never_raise(adapter: KucoinAdapter, frame: str | bytes) -> None:
    event = adapter.classify(frame)
    assert event.kind in (EventKind.IGNORE, EventKind.ERROR)
    assert event.price is None


FUZZED = ["ws_trade.json", "ws_ack.json", "ws_pong.json", "ws_error.json", "ws_welcome.json"]


@settings(max_examples=150, deadline=None)
@given(value=ORJSON_VALUES)
def test_classify_arbitrary_json_never_raises(value: Any) -> None:
    assert_sane(KucoinAdapter(Market.parse("BTC-USDT")).classify(orjson.dumps(value)))


@settings(max_examples=100, deadline=None)
@given(frame=FRAMES)
def test_classify_arbitrary_bytes_and_text_never_raise(frame: bytes | str) -> None:
    assert_sane(KucoinAdapter(Market.parse("BTC-USDT")).classify(frame))


@settings(max_examples=200, deadline=None)
@given(data=st.data(), value=ORJSON_VALUES)
def test_classify_fixture_with_one_field_replaced_never_raises(
    data: st.DataObject, value: Any
) -> None:
    document = doc(data.draw(st.sampled_from(FUZZED)))
    frame = one_field_replaced(data, document, value)
    assert_sane(KucoinAdapter(Market.parse("BTC-USDT")).classify(frame))


# -- a local venue that enforces the keepalive rule -----------------------------------------


class LocalKucoin(LocalVenue[Session]):
    """A bullet-public endpoint (aiohttp) handing out a token, this WebSocket server's URL and
    the ping interval; the WebSocket server checks the token, sends the welcome, acks the
    subscription, pushes fixture-shaped matches stamped now, answers {"type":"ping"} with a
    pong of the same id, and drops a client silent for `drop_after` seconds."""

    token = "t0ken/with+odd=chars.Zm9v=="

    def __init__(self, drop_after: float, ping_interval_ms: int) -> None:
        super().__init__(Session, drop_after=drop_after)
        self.ping_interval_ms = ping_interval_ms
        self.bad_tokens = 0

    async def bullet(self, request: web.Request) -> web.Response:
        body = doc("bullet_public.json")
        body["data"]["token"] = self.token
        server = body["data"]["instanceServers"][0]
        server.update(endpoint=self.url("/endpoint"), pingInterval=self.ping_interval_ms,
                      pingTimeout=500)
        return web.Response(body=orjson.dumps(body), content_type="application/json")

    async def greet(self, session: Session) -> bool:
        ws = session.ws
        query = parse_qs(urlsplit(ws.request.path if ws.request else "").query)
        if query.get("token") != [self.token] or not query.get("connectId"):
            self.bad_tokens += 1
            await ws.close(4001, "token is invalid")
            return False
        await ws.send(orjson.dumps({"id": query["connectId"][0], "type": "welcome"}).decode())
        return True

    async def answer(self, session: Session, frame: str | bytes) -> None:
        message = orjson.loads(frame)
        if message.get("type") == "ping":
            self.pinged(session)
            await session.ws.send(orjson.dumps({"id": message["id"], "type": "pong"}).decode())
        elif message.get("type") == "subscribe":
            await session.ws.send(orjson.dumps({"id": message["id"], "type": "ack"}).decode())
            session.subscribed.set()

    def pushes(self) -> list[str]:
        message = doc("ws_trade.json")
        message["data"]["time"] = str(time.time_ns())
        return [orjson.dumps(message).decode()]


@contextlib.asynccontextmanager
async def local_kucoin(
    serve_app: ServeApp, drop_after: float, ping_interval_ms: int
) -> AsyncIterator[tuple[LocalKucoin, LocalServer]]:
    venue = LocalKucoin(drop_after, ping_interval_ms)
    app = web.Application()
    app.router.add_post("/api/v1/bullet-public", venue.bullet)
    rest = await serve_app(app)
    async with serving(venue):
        yield venue, rest


async def test_keepalive_from_the_bullet_keeps_the_venue_from_dropping_us(
    serve_app: ServeApp,
) -> None:
    async with local_kucoin(serve_app, drop_after=0.6, ping_interval_ms=200) as (venue, rest):
        adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=rest.url("/"))
        async with watching("kucoin-local", adapter) as watcher:
            # ~1.5 s: seven pings at 0.2 s, long past the 0.6 s the venue tolerates silence.
            await wait_for(lambda: venue.pings >= 7, timeout=5.0, what="seven pings")
            stats = watcher.snapshot().stats
    assert venue.bad_tokens == 0
    assert venue.drops == 0 and venue.connections == 1
    assert stats.connected
    assert sum(stats.reconnects.values()) == 0
    assert stats.messages_total >= 10
    assert stats.event_lag_count >= 10
    assert stats.event_lag_last is not None and -0.05 < stats.event_lag_last < 1.0


async def test_with_a_slow_ping_rule_the_venue_drops_us(serve_app: ServeApp) -> None:
    """The control: a bullet asking for pings every 60 s is too slow for this venue."""
    async with local_kucoin(serve_app, drop_after=0.3, ping_interval_ms=60_000) as (venue, rest):
        adapter = KucoinAdapter(Market.parse("BTC-USDT"), rest_url=rest.url("/"))
        async with watching("kucoin-local", adapter) as watcher:
            await wait_for(lambda: venue.drops >= 1, timeout=5.0, what="a drop")
            await wait_for(
                lambda: sum(watcher.snapshot().stats.reconnects.values()) >= 1,
                timeout=5.0,
                what="a reconnect",
            )
    assert venue.bad_tokens == 0
