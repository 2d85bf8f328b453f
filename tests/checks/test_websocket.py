"""The `websocket` kind, built from config, against WebSocket servers on 127.0.0.1."""

from __future__ import annotations

import socket
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection

from checks.base import CheckEnv
from checks.stream import EventKind, Keepalive
from checks.websocket import (
    WebSocketCheck,
    WebSocketProtocol,
    WebSocketTarget,
    build,
    frame_text,
    parse_event_time,
)
from monitor.observation import Observation, Reason
from tests.conftest import wait_for
from tests.fakes.ws_server import FakeWsVenue

USER_AGENT = "outagemon-test/1"
CANARY = "CANARY-5ecret-7f3a9c"


def make_target(url: str, **keys: Any) -> WebSocketTarget:
    document = {"name": "ws", "kind": "websocket", "url": url, "interval": "1s",
                "timeout": "2s", "reconnect": {"initial": "50ms", "max": "200ms"}}
    return WebSocketTarget.model_validate({**document, **keys})


CheckFactory = Callable[..., WebSocketCheck]


@pytest.fixture
async def make_check() -> AsyncIterator[CheckFactory]:
    """Build and start checks; all are closed after the test."""
    checks: list[WebSocketCheck] = []

    def make(url: str, **keys: Any) -> WebSocketCheck:
        check = build(make_target(url, **keys), CheckEnv(user_agent=USER_AGENT))
        checks.append(check)
        return check

    yield make
    for check in checks:
        await check.close()


async def observe_until(check: WebSocketCheck, predicate: Callable[[Observation], bool],
                        *, timeout: float = 5.0) -> Observation:
    seen: list[Observation] = []

    async def met() -> bool:
        seen.append(await check.probe())
        return predicate(seen[-1])

    try:
        await wait_for(met, timeout=timeout, what="observation")
    except AssertionError as exc:
        raise AssertionError(f"{exc}; last: {seen[-1] if seen else None}") from None
    return seen[-1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- the whole check ----------------------------------------------------------------------------

async def test_probe_reports_the_stream(make_check: CheckFactory) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(
            venue.url_for("/ws"),
            subscribe=["hello", {"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 1}],
            event_time={"path": "data.E", "unit": "ms"},
        )
        assert check.target.name == "ws"
        await check.start()
        await wait_for(lambda: len(venue.received) == 2, what="both subscribe frames")
        assert venue.received == [
            "hello", '{"method":"SUBSCRIBE","params":["btcusdt@trade"],"id":1}']
        for _ in range(3):
            await venue.send(orjson.dumps({"data": {"E": int(time.time() * 1000) - 200}}))
        observation = await observe_until(
            check, lambda o: o.stream is not None and o.stream.messages_total == 3)
    assert observation.reason is Reason.OK and observation.detail == ""
    assert observation.target == "ws" and observation.facts == {}
    assert abs(observation.started_at - time.time()) < 5
    stats = observation.stream
    assert stats is not None and stats.connected
    assert observation.latency == stats.connect_seconds and stats.connect_seconds is not None
    assert stats.event_lag_count == 3
    assert stats.event_lag_last is not None and 0.19 <= stats.event_lag_last < 0.3
    request = venue.requests[0]
    assert request.path == "/ws" and request.headers["User-Agent"] == USER_AGENT


async def test_configured_user_agent_wins(make_check: CheckFactory) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(venue.url, headers={"user-agent": "mine/2", "X-Extra": "1"})
        await check.start()
        await venue.wait_connections(1)
    headers = venue.requests[0].headers
    assert headers.get_all("User-Agent") == ["mine/2"] and headers["X-Extra"] == "1"


async def test_streams_do_not_offer_compression(make_check: CheckFactory) -> None:
    async with FakeWsVenue() as venue:  # a server that would accept permessage-deflate
        await make_check(venue.url).start()
        await venue.wait_connections(1)
    assert "Sec-WebSocket-Extensions" not in venue.requests[0].headers


async def test_probe_before_start_says_not_connected(make_check: CheckFactory) -> None:
    check = make_check(f"ws://127.0.0.1:{free_port()}/")
    observation = await check.probe()
    assert (observation.reason, observation.detail) == (Reason.ERROR, "not connected yet")
    assert observation.latency is None and observation.stream is not None


async def test_silent_stream_is_stale(make_check: CheckFactory) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(venue.url, stale_after="500ms")
        await check.start()
        observation = await observe_until(check, lambda o: o.reason is Reason.STALE,
                                          timeout=1.5)
    assert observation.detail.startswith("no message in ")


async def test_keepalive_keeps_the_connection_and_its_absence_loses_it(
    make_check: CheckFactory,
) -> None:
    async with FakeWsVenue(require_ping_within=0.5) as venue:
        pinging = make_check(venue.url, ping={"interval": "200ms", "message": "ping",
                                              "expect": "pong", "timeout": "1s"})
        silent = make_check(venue.url, reconnect={"initial": "1s", "max": "1s"})
        await pinging.start()
        await venue.wait_connections(1)
        await silent.start()
        dropped = await observe_until(
            silent, lambda o: o.stream is not None and bool(o.stream.reconnects))
        await wait_for(lambda: venue.received.count("ping") >= 7, timeout=3,
                       what="7 pings (about 1.5 s)")
        kept = await pinging.probe()
    assert dropped.stream is not None and dropped.stream.reconnects == {"closed_by_server": 1}
    assert dropped.detail == "disconnected: closed by server (1008 policy violation: no ping)"
    assert kept.stream is not None and kept.stream.connected and kept.stream.reconnects == {}
    # The pongs are keepalive answers, not data.
    assert kept.stream.messages_total == 0


async def test_keepalive_without_pong_reconnects(make_check: CheckFactory) -> None:
    async with FakeWsVenue(answer_pings=False) as venue:
        check = make_check(venue.url, ping={"interval": "200ms", "message": {"op": "ping"},
                                            "expect": {"op": "pong"}, "timeout": "300ms"})
        await check.start()
        observation = await observe_until(
            check, lambda o: o.stream is not None and bool(o.stream.reconnects))
    assert '{"op":"ping"}' in venue.received
    assert observation.stream is not None
    assert observation.stream.reconnects == {"keepalive_timeout": 1}


@pytest.mark.parametrize(("status", "reason"), [
    (451, Reason.GEO_BLOCKED), (429, Reason.RATE_LIMITED), (403, Reason.HTTP_4XX),
])
async def test_rejected_upgrade(make_check: CheckFactory, status: int, reason: Reason) -> None:
    async with FakeWsVenue(reject_status=status) as venue:
        check = make_check(venue.url)
        await check.start()
        observation = await check.probe()  # waits for the first attempt
    assert observation.reason is reason
    assert observation.detail.startswith(f"connect failed: HTTP {status}")
    assert observation.latency is None


async def test_refused_port(make_check: CheckFactory) -> None:
    check = make_check(f"ws://127.0.0.1:{free_port()}/")
    await check.start()
    observation = await check.probe()
    assert observation.reason is Reason.CONNECT_REFUSED


async def test_malformed_frames_are_data_without_event_time(make_check: CheckFactory) -> None:
    async with FakeWsVenue() as venue:
        check = make_check(venue.url, event_time={"path": "E", "unit": "ms"})
        await check.start()
        await venue.wait_connections(1)
        frames: list[str | bytes] = [
            '{"E": 17', b"\xff\xfe binary", "[" * 5000 + "]" * 5000,
            '{"E": 1' + "0" * 400 + "}", '{"E": "soon"}', '{"E": true}', "",
        ]
        for frame in frames:
            await venue.send(frame)
        observation = await observe_until(
            check, lambda o: o.stream is not None and o.stream.messages_total == len(frames))
    assert observation.stream is not None
    assert observation.stream.event_lag_count == 0 and observation.stream.reconnects == {}
    assert observation.reason is Reason.OK


async def test_canary_secret_never_reaches_the_detail(make_check: CheckFactory) -> None:
    async def echo_key_in_close(ws: ServerConnection) -> None:
        await ws.close(1008, f"invalid key {CANARY}")

    details: list[str] = []
    async with FakeWsVenue(echo_key_in_close) as closing, \
            FakeWsVenue(reject_status=401) as rejecting:
        urls = [closing.url_for(f"/ws?key={CANARY}"), rejecting.url_for(f"/ws?key={CANARY}"),
                f"ws://127.0.0.1:{free_port()}/ws?key={CANARY}",
                f"ws://127.0.0.1:99999/ws?key={CANARY}"]
        for url in urls:
            check = make_check(url, headers={"X-Api-Key": CANARY},
                               reconnect={"initial": "1s", "max": "1s"})
            await check.start()
            observation = await observe_until(
                check, lambda o: o.stream is not None and bool(o.stream.reconnects))
            details.append(observation.detail)
        assert closing.requests[0].headers["X-Api-Key"] == CANARY  # it was sent
    print("\ndetails:", details)
    assert all(details) and not any(CANARY in detail for detail in details)
    assert details[0] == "disconnected: closed by server (1008 policy violation: invalid key ***)"


async def test_headers_are_not_sent_to_another_host_on_redirect(
    make_check: CheckFactory,
) -> None:
    async with FakeWsVenue() as elsewhere:
        redirect = {"Location": elsewhere.url_for("/ws")}
        async with FakeWsVenue(reject_status=302, reject_headers=redirect) as moved:
            check = make_check(moved.url_for("/ws"), headers={"X-Api-Key": CANARY},
                               reconnect={"initial": "1s", "max": "1s"})
            await check.start()
            observation = await observe_until(
                check, lambda o: o.stream is not None and bool(o.stream.reconnects))
            assert moved.requests  # the first host was asked
    assert elsewhere.requests == []  # the redirect to another port was refused
    assert observation.reason is Reason.INVALID_RESPONSE
    assert "redirect to another host" in observation.detail


# -- the protocol, without a network ----------------------------------------------------------

def protocol(**keys: Any) -> WebSocketProtocol:
    return WebSocketProtocol(make_target("ws://127.0.0.1:1/", **keys))


async def test_protocol_endpoint_frames_and_keepalive() -> None:
    proto = protocol(subscribe=["a", {"x": [1, 2]}, [1, "b"]],
                     ping={"interval": "5s", "message": {"op": "ping"}, "timeout": "2s"})
    assert await proto.endpoint() == "ws://127.0.0.1:1/"
    assert proto.subscribe_frames() == ["a", '{"x":[1,2]}', '[1,"b"]']
    assert proto.keepalive == Keepalive(interval=5.0, frame='{"op":"ping"}', timeout=2.0)
    assert protocol().keepalive is None
    assert frame_text("plain") == "plain"


@pytest.mark.parametrize(("expect", "frame", "is_pong"), [
    ("pong", "pong", True),
    ("pong", b"pong", True),
    ("pong", "PONG", False),
    ("pong", '{"pong": 1}', False),
    ({"op": "pong"}, '{"op": "pong", "ts": 5}', True),
    ({"op": "pong"}, '{"op": "ping"}', False),
    ({"op": "pong", "ok": True}, '{"op": "pong", "ok": 1}', False),
    ({"op": "pong"}, '["op", "pong"]', False),
    ({"op": "pong"}, "not json", False),
    (["pong"], '["pong"]', True),
])
def test_pong_rules(expect: Any, frame: str | bytes, is_pong: bool) -> None:
    proto = protocol(ping={"interval": "5s", "message": "ping", "expect": expect})
    kind = proto.classify(frame).kind
    assert kind is (EventKind.PONG if is_pong else EventKind.DATA)


def test_expect_none_makes_every_frame_an_answer_and_still_data() -> None:
    proto = protocol(ping={"interval": "5s", "message": "ping", "expect": None})
    assert proto.keepalive is not None and proto.keepalive.any_frame_answers
    assert proto.classify("anything").kind is EventKind.DATA


@pytest.mark.parametrize(("value", "unit", "seconds"), [
    (1_700_000_000, "s", 1_700_000_000.0),
    (1_700_000_000.25, "s", 1_700_000_000.25),
    (1_700_000_000_123, "ms", 1_700_000_000.123),
    ("1700000000123", "ms", 1_700_000_000.123),
    (1_700_000_000_123_456, "us", 1_700_000_000.123456),
    (1_700_000_000_123_456_789, "ns", 1_700_000_000.123456789),
    ("2023-11-14T22:13:20.5Z", "rfc3339", 1_700_000_000.5),
    ("2023-11-14t22:13:20+00:00", "rfc3339", 1_700_000_000.0),
    ("2023-11-15T00:13:20+02:00", "rfc3339", 1_700_000_000.0),
    ("2023-11-14T22:13:20", "rfc3339", 1_700_000_000.0),  # no zone: UTC
])
def test_event_time_units(value: Any, unit: Any, seconds: float) -> None:
    parsed = parse_event_time(value, unit)
    assert parsed is not None and abs(parsed - seconds) < 1e-6


@pytest.mark.parametrize(("value", "unit"), [
    (None, "ms"), (True, "ms"), ("soon", "ms"), ([1], "ms"), ({"a": 1}, "s"),
    (10**400, "ms"), (float("nan"), "s"), (-5, "s"), (0, "ms"),
    (1_700_000_000_123, "s"),  # milliseconds read as seconds: far in the future
    ("yesterday", "rfc3339"), (1_700_000_000, "rfc3339"), ("2023-11-14T22:13:20Z" * 10, "rfc3339"),
])
def test_unreadable_event_time_is_none(value: Any, unit: Any) -> None:
    assert parse_event_time(value, unit) is None


def test_classify_reads_nested_event_time() -> None:
    proto = protocol(event_time={"path": "data.0.T", "unit": "ms"})
    event = proto.classify(b'{"data": [{"T": 1700000000500}]}')
    assert event.kind is EventKind.DATA and event.event_time == 1_700_000_000.5
    assert proto.classify('{"data": []}').event_time is None
    assert protocol().classify('{"T": 1}').event_time is None  # no event_time configured


async def test_flood_through_the_kind_counts_everything(make_check: CheckFactory) -> None:
    total = 5000

    async def burst(ws: ServerConnection) -> None:
        frame = orjson.dumps({"E": int(time.time() * 1000)})
        for _ in range(total):
            await ws.send(frame)

    async with FakeWsVenue(burst) as venue:
        check = make_check(venue.url, event_time={"path": "E"})
        await check.start()
        started = time.monotonic()
        observation = await observe_until(
            check, lambda o: o.stream is not None and o.stream.messages_total == total)
        took = time.monotonic() - started
    assert observation.stream is not None and observation.stream.event_lag_count == total
    assert took < 3
