"""`dns` check against a real DNS server on 127.0.0.1 (tests/fakes/dns_server.py)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import dns.asyncresolver
import dns.message
import dns.nameserver
import dns.rcode
import pytest
from pydantic import ValidationError

from checks.base import CheckEnv
from checks.dns import DnsCheck, DnsTarget
from monitor.observation import Fact, Phase, Reason
from tests.fakes.dns_server import FakeDnsServer

NAME = "api.example.com"


@pytest.fixture
async def server() -> AsyncIterator[FakeDnsServer]:
    async with FakeDnsServer() as fake:
        fake.add(NAME, "A", "203.0.113.7", "203.0.113.5")
        fake.add(NAME, "AAAA", "2001:db8::7")
        fake.add(NAME, "TXT", '"v=spf1 -all"')
        yield fake


def target(**fields: Any) -> DnsTarget:
    config = {"name": "t", "kind": "dns", "query": NAME, "timeout": "2s"}
    return DnsTarget.model_validate({**config, **fields})


def dns_check(server: FakeDnsServer, **fields: Any) -> DnsCheck:
    return DnsCheck(target(resolver=server.address, **fields), CheckEnv())


async def test_a_answer_is_ok(server: FakeDnsServer) -> None:
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.RESOLVED] == ["203.0.113.5", "203.0.113.7"]
    assert obs.facts[Fact.PEER] == server.address
    assert obs.latency is not None
    assert obs.phases[Phase.DNS] == obs.latency
    assert [(q.transport, q.name) for q in server.queries] == [("udp", f"{NAME}.")]


async def test_aaaa_answer(server: FakeDnsServer) -> None:
    obs = await dns_check(server, record="AAAA").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.RESOLVED] == ["2001:db8::7"]


async def test_txt_answer(server: FakeDnsServer) -> None:
    obs = await dns_check(server, record="TXT").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.RESOLVED] == ['"v=spf1 -all"']


async def test_tcp_transport(server: FakeDnsServer) -> None:
    obs = await dns_check(server, transport="tcp").probe()
    assert obs.reason is Reason.OK, obs.detail
    assert [q.transport for q in server.queries] == ["tcp"]


async def test_truncated_udp_reply_is_asked_again_over_tcp(server: FakeDnsServer) -> None:
    server.behaviour = "truncate"
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.OK, obs.detail
    assert [q.transport for q in server.queries] == ["udp", "tcp"]


async def test_nxdomain(server: FakeDnsServer) -> None:
    obs = await dns_check(server, query="missing.example.com").probe()
    assert obs.reason is Reason.DNS_ERROR
    assert obs.detail == "NXDOMAIN"
    assert obs.latency is not None  # the resolver did answer


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED])
async def test_error_rcodes_are_named(server: FakeDnsServer, rcode: dns.rcode.Rcode) -> None:
    server.rcode = rcode
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.DNS_ERROR
    assert obs.detail == dns.rcode.to_text(rcode)


async def test_no_reply_is_timeout_after_one_query(server: FakeDnsServer) -> None:
    server.behaviour = "drop"
    began = time.monotonic()
    obs = await dns_check(server, timeout="500ms").probe()
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "resolver did not answer"
    assert obs.latency is None
    assert len(server.queries) == 1
    assert time.monotonic() - began < 1.5


async def test_no_reply_over_tcp_is_timeout(server: FakeDnsServer) -> None:
    server.behaviour = "drop"
    obs = await dns_check(server, transport="tcp", timeout="500ms").probe()
    assert obs.reason is Reason.TIMEOUT


async def test_garbage_reply_is_invalid_response(server: FakeDnsServer) -> None:
    server.behaviour = "garbage"
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.INVALID_RESPONSE, obs.detail
    assert obs.detail.startswith("malformed reply")


async def test_garbage_with_the_right_id_is_invalid_response(server: FakeDnsServer) -> None:
    # Passes the ID check, then claims 65535 questions it does not contain.
    server.handler = lambda query, _: query.id.to_bytes(2, "big") + b"\x81\x80" + b"\xff" * 8
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.INVALID_RESPONSE, obs.detail


async def test_garbage_over_tcp_is_invalid_response(server: FakeDnsServer) -> None:
    server.behaviour = "garbage"
    obs = await dns_check(server, transport="tcp").probe()
    assert obs.reason is Reason.INVALID_RESPONSE, obs.detail


async def test_reply_to_another_question_is_invalid_response(server: FakeDnsServer) -> None:
    def other_question(query: dns.message.Message, _: str) -> dns.message.Message:
        response = dns.message.make_response(dns.message.make_query("evil.example.", "A"))
        response.id = query.id
        return response

    server.handler = other_question
    obs = await dns_check(server).probe()
    assert obs.reason is Reason.INVALID_RESPONSE, obs.detail


async def test_answer_outside_expected_networks_is_poisoning(server: FakeDnsServer) -> None:
    server.add("poisoned.example.com", "A", "10.66.66.66")
    check = dns_check(server, query="poisoned.example.com",
                      expect={"answers_in": ["203.0.113.0/24"]})
    obs = await check.probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == "answer 10.66.66.66 outside expected networks (possible DNS poisoning)"
    assert obs.facts[Fact.RESOLVED] == ["10.66.66.66"]


async def test_answers_inside_expected_networks_are_ok(server: FakeDnsServer) -> None:
    check = dns_check(server, expect={"answers_in": ["198.51.100.0/24", "203.0.113.0/24"]})
    obs = await check.probe()
    assert obs.reason is Reason.OK, obs.detail


async def test_empty_answer_is_no_answer(server: FakeDnsServer) -> None:
    obs = await dns_check(server, record="MX").probe()
    assert obs.reason is Reason.DNS_ERROR
    assert obs.detail == "no answer"


async def test_empty_answer_is_ok_when_none_are_required(server: FakeDnsServer) -> None:
    obs = await dns_check(server, record="MX", expect={"min_answers": 0}).probe()
    assert obs.reason is Reason.OK
    assert obs.facts[Fact.RESOLVED] == []


async def test_too_few_answers(server: FakeDnsServer) -> None:
    obs = await dns_check(server, expect={"min_answers": 3}).probe()
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == "2 answers, expected at least 3"


async def test_resolved_list_is_capped(server: FakeDnsServer) -> None:
    server.add("many.example.com", "A", *(f"203.0.113.{i}" for i in range(1, 41)))
    server.add("many.example.com", "TXT", '"' + "x" * 250 + '" "' + "y" * 250 + '"')
    obs = await dns_check(server, query="many.example.com").probe()
    assert obs.reason is Reason.OK
    assert len(obs.facts[Fact.RESOLVED]) == 20
    obs = await dns_check(server, query="many.example.com", record="TXT").probe()
    assert [len(text) for text in obs.facts[Fact.RESOLVED]] == [255]


def system_resolver_at(server: FakeDnsServer) -> dns.asyncresolver.Resolver:
    resolver = dns.asyncresolver.Resolver(configure=False)
    resolver.nameservers = [dns.nameserver.Do53Nameserver("127.0.0.1", server.port)]
    return resolver


def system_check(server: FakeDnsServer, **fields: Any) -> DnsCheck:
    """The no-`resolver` path, its nameserver list pointed at the fake server."""
    return DnsCheck(target(**fields), CheckEnv(),
                    system_resolver=lambda: system_resolver_at(server))


async def test_system_resolver_ok(server: FakeDnsServer) -> None:
    obs = await system_check(server).probe()
    assert obs.reason is Reason.OK, obs.detail
    assert obs.facts[Fact.RESOLVED] == ["203.0.113.5", "203.0.113.7"]
    assert obs.facts[Fact.PEER] == server.address


async def test_system_resolver_nxdomain(server: FakeDnsServer) -> None:
    obs = await system_check(server, query="missing.example.com").probe()
    assert (obs.reason, obs.detail) == (Reason.DNS_ERROR, "NXDOMAIN")


async def test_system_resolver_servfail(server: FakeDnsServer) -> None:
    server.rcode = dns.rcode.SERVFAIL
    obs = await system_check(server).probe()
    assert (obs.reason, obs.detail) == (Reason.DNS_ERROR, "SERVFAIL")
    assert obs.facts[Fact.PEER] == server.address


async def test_system_resolver_timeout(server: FakeDnsServer) -> None:
    server.behaviour = "drop"
    obs = await system_check(server, timeout="500ms").probe()
    assert (obs.reason, obs.detail) == (Reason.TIMEOUT, "resolver did not answer")


async def test_system_resolver_empty_answer(server: FakeDnsServer) -> None:
    obs = await system_check(server, record="MX").probe()
    assert (obs.reason, obs.detail) == (Reason.DNS_ERROR, "no answer")


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resolver": "dns.google:53"}, "resolver must be an IP address"),
        ({"query": "a" * 64 + ".example.com"}, "not a valid DNS name"),
        ({"query": "a..example.com"}, "not a valid DNS name"),
        ({"expect": {"answers_in": ["not-a-cidr"]}}, "is not a CIDR"),
    ],
)
def test_config_is_checked(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        target(**fields)
