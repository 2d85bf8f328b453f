"""Vantage points of the simulated world (monitor/simulate/vantage.py): a further vantage
reaches every server through its own relay, and its blackhole and geo-block faults are seen
from it alone."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from checks.base import CheckEnv
from checks.exchange import ExchangeTarget
from checks.exchange import build as build_exchange
from checks.registry import kinds
from monitor.commands.demo import demo_config_data
from monitor.observation import Observation, Reason
from monitor.schema import split_address
from monitor.settings import Config
from monitor.simulate import ChainSpec, World
from monitor.simulate.vantage import http_response
from monitor.simulate.venues.base import Answer
from tests.conftest import wait_for

VENUE = "binance-sim"
PROVIDER = "ethereum-sim-a"
PAGE = "exchange-status-sim"
FIRST, OTHER = "demo", "restricted"
TRADE_STREAM = "/btcusdt@trade"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(VENUE, "okx-sim"),
                     chains={"ethereum-sim": ChainSpec("evm", (PROVIDER,), block_time=0.2)},
                     pages={PAGE: "statuspage"}, vantages=(FIRST, OTHER)) as w:
        yield w


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=2)) as s:
        yield s


async def status_of(session: aiohttp.ClientSession, url: str) -> int:
    async with session.get(url) as response:
        await response.read()
        return response.status


async def probe(kind: str, **fields: Any) -> Observation:
    """One probe of a check of `kind` on a target with `fields`."""
    spec = kinds()[kind]
    target = spec.model.model_validate({"name": "t", "kind": kind, "timeout": "400ms",
                                        **fields})
    check = spec.build(target, CheckEnv())
    return await check.probe()


def tcp_address(world: World, vantage: str | None) -> str:
    return world.url(VENUE, vantage).removeprefix("http://")


async def test_a_further_vantage_reaches_every_server_through_its_own_port(
        world: World, session: aiohttp.ClientSession) -> None:
    for name, path in ((VENUE, "/api/v3/time"), (PAGE, "/api/v2/summary.json")):
        direct, relayed = world.url(name), world.url(name, OTHER)
        assert direct != relayed and world.url(name, FIRST) == direct
        assert await status_of(session, relayed + path) == 200
    assert world.feed_url(PAGE, OTHER).startswith(world.url(PAGE, OTHER))
    assert world.ws_url(PROVIDER, OTHER).startswith("ws://")
    async with session.post(world.url(PROVIDER, OTHER), json={
            "jsonrpc": "2.0", "id": 1, "method": "eth_chainId"}) as response:
        assert (await response.json())["result"] == hex(world.chain("ethereum-sim").chain_id)
    async with session.ws_connect(world.ws_url(VENUE, OTHER) + TRADE_STREAM) as ws:
        assert (await ws.receive_json(timeout=2))["s"] == "BTCUSDT"
    assert world.dns_address(FIRST) != world.dns_address(OTHER)


async def test_blackhole_times_connects_out_from_that_vantage_only(
        world: World, session: aiohttp.ClientSession) -> None:
    async with session.ws_connect(world.ws_url(VENUE, OTHER) + TRADE_STREAM) as ws:
        await ws.receive_json(timeout=2)
        fault = world.inject(VENUE, "blackhole", vantage=OTHER)
        cut = await ws.receive(timeout=2)  # an open stream is cut
        assert cut.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    blocked = await probe("tcp", address=tcp_address(world, OTHER))
    assert (blocked.reason, blocked.detail) == (Reason.CONNECT_TIMEOUT,
                                               "connect timed out after 0.4s")
    assert (await probe("tcp", address=tcp_address(world, FIRST))).reason is Reason.OK
    other = world.url("okx-sim", OTHER) + "/api/v5/public/time"
    assert await status_of(session, other) == 200  # that venue only
    world.clear(fault)
    assert (await probe("tcp", address=tcp_address(world, OTHER))).reason is Reason.OK
    assert await status_of(session, world.url(VENUE, OTHER) + "/api/v3/time") == 200


async def test_geo_block_refuses_new_requests_from_that_vantage_in_the_venues_words(
        world: World, session: aiohttp.ClientSession) -> None:
    config = Config.model_validate(demo_config_data(world, OTHER))
    [target] = [t for t in config.targets if t.name == VENUE]
    assert isinstance(target, ExchangeTarget)
    check = build_exchange(target, CheckEnv())
    await check.start()
    try:
        await wait_for(lambda: check.probe(), timeout=5)  # the stream is up
        async with session.ws_connect(world.ws_url(VENUE, OTHER) + TRADE_STREAM) as ws:
            await ws.receive_json(timeout=2)
            world.inject(VENUE, "geo_block", vantage=OTHER)
            observation = await check.probe()
            assert observation.reason is Reason.GEO_BLOCKED
            assert "restricted location" in observation.detail
            assert (await ws.receive_json(timeout=2))["s"] == "BTCUSDT"  # an open stream goes on
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(world.ws_url(VENUE, OTHER) + TRADE_STREAM)
        assert refused.value.status == 451
    finally:
        await check.close()
    direct = await status_of(session, world.url(VENUE) + "/api/v3/time")
    assert direct == 200  # the first vantage sees the venue up
    assert world.state()["vantages"][OTHER]["faults"][0]["fault"] == "geo_block"


async def test_a_keep_alive_connection_is_cut_when_the_geo_block_starts(world: World) -> None:
    async with aiohttp.ClientSession() as pooled:  # keeps its connection open
        url = world.url(VENUE, OTHER) + "/api/v3/time"
        assert await status_of(pooled, url) == 200
        world.inject(VENUE, "geo_block", vantage=OTHER)
        assert await status_of(pooled, url) == 451


def test_an_answer_becomes_a_response_that_closes_the_connection() -> None:
    answer = Answer({"retCode": 10024}, 200, {"X-Venue": "bybit"})
    head, body = http_response(answer).split(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"Connection: close" in head and b"X-Venue: bybit" in head
    assert body == b'{"retCode":10024}'
    assert http_response(answer, upgrade=True).startswith(b"HTTP/1.1 451 Unavailable")


async def test_each_vantage_has_its_own_demo_config(world: World) -> None:
    first, other = demo_config_data(world), demo_config_data(world, OTHER)
    assert (first["vantage"], other["vantage"]) == (FIRST, OTHER)
    by_name = {t["name"]: t for t in other["targets"]}
    assert by_name[VENUE]["rest_url"] == world.url(VENUE, OTHER)
    assert by_name[VENUE]["ws_url"] == world.ws_url(VENUE, OTHER)
    assert by_name[f"{VENUE}-dns"]["resolver"] == world.dns_address(OTHER)
    assert by_name[PROVIDER]["url"] == world.url(PROVIDER, OTHER)
    assert by_name[PAGE]["url"] == world.url(PAGE, OTHER)
    assert {t["name"]: t for t in first["targets"]}[VENUE]["rest_url"] == world.url(VENUE)
    Config.model_validate(other)


async def test_a_fixed_port_lays_out_dns_servers_and_relays_after_the_servers() -> None:
    for base in range(20_000, 32_000, 997):  # a free block below the ephemeral ports
        world = World(port=base, venues=(VENUE,), pages={PAGE: "statuspage"},
                      vantages=(FIRST, OTHER))
        try:
            await world.start()
        except OSError:
            continue
        try:
            ports = [split_address(world.url(name, vantage).removeprefix("http://"))[1]
                     for name, vantage in ((VENUE, None), (PAGE, None), (VENUE, OTHER),
                                           (PAGE, OTHER))]
            assert ports == [base + 1, base + 2, base + 4, base + 5]
            assert world.dns_address(FIRST) == f"127.0.0.1:{base + 3}"
            assert world.dns_address(OTHER) == f"127.0.0.1:{base + 6}"
        finally:
            await world.stop()
        return
    pytest.fail("no free block of ports")


async def test_stopping_lets_relayed_streams_go(world: World,
                                                session: aiohttp.ClientSession) -> None:
    ws = await session.ws_connect(world.ws_url(VENUE, OTHER) + TRADE_STREAM)
    await ws.receive_json(timeout=2)
    await asyncio.wait_for(world.stop(), 2)
    closing = await ws.receive(timeout=2)
    assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED,
                            aiohttp.WSMsgType.ERROR)
    await ws.close()
