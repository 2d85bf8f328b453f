"""The simulated world's DNS servers (monitor/simulate/dns.py): one per vantage point, names of
venues, providers and pages under .test, and the DNS faults as the `dns` check reads them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.rcode
import pytest

from checks.base import CheckEnv
from checks.dns import DnsCheck, DnsTarget
from monitor.observation import Fact, Reason
from monitor.schema import split_address
from monitor.simulate import ChainSpec, FaultError, World
from tests.conftest import wait_for

VENUE = "binance-sim"
PROVIDER = "ethereum-sim-a"
PAGE = "aws-sim"
FIRST, OTHER = "demo", "restricted"


@pytest.fixture
async def world() -> AsyncIterator[World]:
    async with World(venues=(VENUE, "okx-sim"),
                     chains={"ethereum-sim": ChainSpec("evm", (PROVIDER, "ethereum-sim-b"))},
                     pages={PAGE: "aws"}, vantages=(FIRST, OTHER)) as w:
        yield w


async def ask(world: World, name: str, rdtype: str = "A", *, vantage: str | None = None,
              tcp: bool = False) -> dns.message.Message:
    host, port = split_address(world.dns_address(vantage))
    query = dns.message.make_query(name, rdtype)
    if tcp:
        return await dns.asyncquery.tcp(query, host, port=port, timeout=2)
    return await dns.asyncquery.udp(query, host, port=port, timeout=2)


def addresses(reply: dns.message.Message) -> list[str]:
    return [rdata.to_text() for rrset in reply.answer for rdata in rrset]


async def probe(world: World, name: str = VENUE, vantage: str | None = None,
                **fields: Any) -> tuple[Reason, str]:
    target = DnsTarget.model_validate({
        "name": "t", "kind": "dns", "query": world.dns_name(name), "timeout": "500ms",
        "resolver": world.dns_address(vantage), "expect": {"answers_in": ["127.0.0.0/8"]},
        **fields})
    observation = await DnsCheck(target, CheckEnv()).probe()
    return observation.reason, observation.detail


async def test_every_served_name_resolves_to_loopback(world: World) -> None:
    assert world.dns_name(VENUE) == "binance-sim.test"
    for name in (VENUE, PROVIDER, PAGE):
        for tcp in (False, True):
            reply = await ask(world, world.dns_name(name), tcp=tcp)
            assert reply.rcode() == dns.rcode.NOERROR
            assert reply.flags & dns.flags.AA
            assert addresses(reply) == ["127.0.0.1"]
    empty = await ask(world, world.dns_name(VENUE), "AAAA")
    assert (empty.rcode(), addresses(empty)) == (dns.rcode.NOERROR, [])
    assert (await probe(world)) == (Reason.OK, "")


async def test_other_names_are_nxdomain_in_the_zone_and_refused_outside(world: World) -> None:
    assert (await ask(world, "nowhere.test")).rcode() == dns.rcode.NXDOMAIN
    assert (await ask(world, "ethereum-sim.test")).rcode() == dns.rcode.NXDOMAIN  # a chain
    assert (await ask(world, "api.binance.com")).rcode() == dns.rcode.REFUSED
    with pytest.raises(FaultError, match="no DNS name"):
        world.dns_name("ethereum-sim")


@pytest.mark.parametrize(("fault", "params", "reason", "detail"), [
    ("dns_nxdomain", {}, Reason.DNS_ERROR, "NXDOMAIN"),
    ("dns_servfail", {}, Reason.DNS_ERROR, "SERVFAIL"),
    ("dns_empty", {}, Reason.DNS_ERROR, "no answer"),
    ("dns_timeout", {}, Reason.TIMEOUT, "resolver did not answer"),
    ("dns_poison", {}, Reason.ASSERTION_FAILED,
     "answer 198.51.100.7 outside expected networks (possible DNS poisoning)"),
    ("dns_poison", {"address": "203.0.113.9"}, Reason.ASSERTION_FAILED,
     "answer 203.0.113.9 outside expected networks (possible DNS poisoning)"),
])
async def test_each_fault_is_what_the_dns_check_reports(
        world: World, fault: str, params: dict[str, Any], reason: Reason, detail: str) -> None:
    fault_id = world.inject(VENUE, fault, **params)
    for vantage in (FIRST, OTHER):  # without a vantage: seen from every one
        assert (await probe(world, vantage=vantage)) == (reason, detail)
    assert (await probe(world, "okx-sim")) == (Reason.OK, "")  # only that name
    assert world.clear(fault_id)
    assert (await probe(world)) == (Reason.OK, "")


async def test_a_vantage_fault_is_seen_from_that_vantage_only(world: World) -> None:
    world.inject(VENUE, "dns_poison", vantage=OTHER)
    reply = await ask(world, world.dns_name(VENUE), vantage=OTHER)
    assert addresses(reply) == ["198.51.100.7"]
    assert addresses(await ask(world, world.dns_name(VENUE), vantage=FIRST)) == ["127.0.0.1"]
    world.inject(PAGE, "dns_servfail", vantage=FIRST)  # the first vantage takes DNS faults
    assert (await probe(world, PAGE, FIRST))[1] == "SERVFAIL"
    assert (await probe(world, PAGE, OTHER)) == (Reason.OK, "")
    [scoped] = world.state()["vantages"][OTHER]["faults"]
    assert (scoped["venue"], scoped["fault"], scoped["vantage"]) == (VENUE, "dns_poison", OTHER)
    assert [fault.kind.value for fault in world.faults(VENUE)] == ["dns_poison"]


async def test_the_newest_fault_wins_and_a_duration_ends_it(world: World) -> None:
    world.inject(VENUE, "dns_servfail")
    poison = world.inject(VENUE, "dns_poison", vantage=OTHER)
    assert (await probe(world, vantage=OTHER))[0] is Reason.ASSERTION_FAILED
    world.clear(poison)
    assert (await probe(world, vantage=OTHER))[1] == "SERVFAIL"
    world.clear_all()
    world.inject(PROVIDER, "dns_nxdomain", duration=0.2)
    assert (await probe(world, PROVIDER))[1] == "NXDOMAIN"

    async def answered() -> bool:
        return (await probe(world, PROVIDER))[0] is Reason.OK

    await wait_for(answered, timeout=3, what="the fault to end itself")


async def test_a_dns_timeout_sends_nothing_back(world: World) -> None:
    world.inject(VENUE, "dns_timeout", vantage=OTHER)
    host, port = split_address(world.dns_address(OTHER))
    query = dns.message.make_query(world.dns_name(VENUE), "A")
    with pytest.raises(dns.exception.Timeout):
        await dns.asyncquery.udp(query, host, port=port, timeout=0.3)
    reply = await ask(world, world.dns_name(VENUE), vantage=FIRST)
    assert addresses(reply) == ["127.0.0.1"]


@pytest.mark.parametrize(("name", "fault", "extra", "message"), [
    (VENUE, "blackhole", {}, "give a vantage other than the first"),
    (VENUE, "blackhole", {"vantage": FIRST}, "first vantage, which reaches the servers"),
    (VENUE, "geo_block", {"vantage": FIRST}, "first vantage"),
    (PROVIDER, "geo_block", {"vantage": OTHER}, "geo_block applies to venues"),
    (VENUE, "latency", {"vantage": OTHER}, "cannot be seen from the vantage"),
    ("ethereum-sim", "dns_servfail", {}, "not the chain"),
    (VENUE, "dns_servfail", {"path": "/api"}, "not a path"),
    (VENUE, "dns_servfail", {"vantage": "mars"}, "unknown vantage 'mars'"),
    (VENUE, "dns_poison", {"address": "not-an-ip"}, "invalid params for dns_poison"),
    (VENUE, "dns_poison", {"address": "2001:db8::1"}, "invalid params for dns_poison"),
])
def test_impossible_faults_are_refused(name: str, fault: str, extra: dict[str, Any],
                                       message: str) -> None:
    world = World(venues=(VENUE,), chains={"ethereum-sim": ("evm", [PROVIDER])},
                  vantages=(FIRST, OTHER))
    with pytest.raises(FaultError, match=message):
        world.inject(name, fault, **extra)


def test_vantage_names_are_checked() -> None:
    with pytest.raises(ValueError, match="non-empty"):
        World(vantages=())
    with pytest.raises(ValueError, match="duplicate"):
        World(vantages=("a", "a"))
    with pytest.raises(ValueError, match="invalid vantage name"):
        World(vantages=("Not Valid",))


async def test_the_control_api_scopes_a_fault_to_a_vantage(world: World) -> None:
    async with aiohttp.ClientSession() as session:
        order = {"venue": VENUE, "fault": "dns_poison", "vantage": OTHER,
                 "params": {"address": "203.0.113.1"}}
        async with session.post(world.control_url + "/-/sim/faults", json=order) as response:
            assert response.status == 201
            assert (await response.json())["vantage"] == OTHER
        bad = {"venue": VENUE, "fault": "blackhole"}
        async with session.post(world.control_url + "/-/sim/faults", json=bad) as response:
            assert response.status == 400
        async with session.get(world.control_url + "/-/sim/state") as response:
            state = await response.json()
    assert state["dns"] == {"zone": "test", "faults": []}
    assert state["vantages"][OTHER]["dns"] == world.dns_address(OTHER)
    assert state["vantages"][OTHER]["faults"][0]["params"] == {"address": "203.0.113.1"}
    assert state["vantages"][FIRST]["urls"][VENUE] == world.url(VENUE)
    assert addresses(await ask(world, world.dns_name(VENUE), vantage=OTHER)) == ["203.0.113.1"]


async def test_dns_facts_name_the_forged_answer(world: World) -> None:
    world.inject(VENUE, "dns_poison", vantage=OTHER)
    target = DnsTarget.model_validate({"name": "t", "kind": "dns", "timeout": "1s",
                                       "query": world.dns_name(VENUE),
                                       "resolver": world.dns_address(OTHER)})
    observation = await DnsCheck(target, CheckEnv()).probe()
    assert observation.facts[Fact.RESOLVED] == ["198.51.100.7"]
    assert observation.facts[Fact.PEER] == world.dns_address(OTHER)


async def test_a_cancelled_probe_ends_even_as_its_reply_arrives(world: World) -> None:
    """The daemon stops its scheduler by cancelling probes; on loopback the reply often
    arrives in the same loop turn as the cancellation (which dnspython's wait_for then
    swallowed on Python 3.11, and the daemon never stopped)."""
    target = DnsTarget.model_validate({"name": "t", "kind": "dns", "timeout": "2s",
                                       "query": world.dns_name(VENUE),
                                       "resolver": world.dns_address()})
    check = DnsCheck(target, CheckEnv())
    still_running = 0
    for turns in range(300):
        task = asyncio.create_task(check.probe())
        for _ in range(turns % 9):  # cancel at every point of the query's short life
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait([task], timeout=0.5)
        still_running += not (done and task.cancelled())
    assert still_running == 0
