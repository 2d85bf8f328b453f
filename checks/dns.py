"""`dns`: resolve a name; tell NXDOMAIN, SERVFAIL and timeouts apart; flag poisoned answers.

With `resolver` set, exactly one query goes to that server (over UDP a truncated reply is
asked again over TCP, as every resolver does) and a reply that does not parse is reported as
`invalid_response`. Without it dnspython's stub resolver asks the system's nameservers from
/etc/resolv.conf in turn until the timeout; it skips replies that do not parse, so there a
broken server shows as a timeout. `latency` (also the `dns` phase) is the query's time,
None when nothing came back.
"""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver
from pydantic import Field, field_validator

from checks.base import CheckEnv, ProbeOnly, register
from checks.errors import classify_exception
from monitor.observation import Fact, Observation, Phase, Reason
from monitor.redact import scrub
from monitor.schema import Address, Strict, TargetBase, split_address

RecordType = Literal["A", "AAAA", "CNAME", "TXT", "MX", "NS"]

MAX_ANSWERS = 20
MAX_ANSWER_CHARS = 255
MAX_DETAIL = 300
ADDRESS_TYPES = (dns.rdatatype.A, dns.rdatatype.AAAA)
TIMEOUT_DETAIL = "resolver did not answer"

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class DnsExpect(Strict):
    answers_in: list[str] | None = None  # CIDRs; an A/AAAA answer outside all of them is poisoned
    min_answers: int = Field(default=1, ge=0)

    @field_validator("answers_in")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or []:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR such as 203.0.113.0/24") from None
        return value


class DnsTarget(TargetBase):
    kind: Literal["dns"]
    query: str = Field(min_length=1, max_length=253)
    record: RecordType = "A"
    resolver: Address | None = None  # ip:port; default: the system's resolvers
    transport: Literal["udp", "tcp"] = "udp"
    expect: DnsExpect = Field(default_factory=DnsExpect)

    @field_validator("query")
    @classmethod
    def _dns_name(cls, value: str) -> str:
        try:
            dns.name.from_text(value)
        except dns.exception.DNSException as exc:
            raise ValueError(f"query {value!r} is not a valid DNS name: {exc}") from None
        return value

    @field_validator("resolver")
    @classmethod
    def _ip_literal(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                ipaddress.ip_address(split_address(value)[0])
            except ValueError:
                raise ValueError("resolver must be an IP address and port, such as 1.1.1.1:53"
                                 ) from None
        return value


@dataclass(frozen=True)
class Reply:
    response: dns.message.Message
    server: str | None


@dataclass(frozen=True)
class Verdict:
    reason: Reason
    detail: str = ""
    answered: bool = True  # the resolver sent something back


class _ReplyInError(Exception):
    """The system resolver gave up, but one server did send this (error) reply."""

    def __init__(self, reply: Reply) -> None:
        super().__init__("reply with an error rcode")
        self.reply = reply


def _server_text(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _nameserver_text(described: str, port: int) -> str:
    """dnspython describes a nameserver as 'Do53:1.2.3.4@53'; keep the address."""
    kind, colon, rest = described.partition(":")
    address, at, _ = rest.rpartition("@")
    if kind == "Do53" and colon and at:
        return _server_text(address, port)
    return described


def _networks(cidrs: list[str] | None) -> list[Network]:
    return [ipaddress.ip_network(cidr, strict=False) for cidr in cidrs or []]


class DnsCheck(ProbeOnly):
    def __init__(
        self,
        target: DnsTarget,
        env: CheckEnv,
        *,
        system_resolver: Callable[[], dns.asyncresolver.Resolver] = dns.asyncresolver.Resolver,
    ) -> None:
        self.target = target
        self._env = env
        self._qname = dns.name.from_text(target.query)
        self._rdtype = dns.rdatatype.RdataType.make(target.record)
        self._server = split_address(target.resolver) if target.resolver else None
        self._networks = _networks(target.expect.answers_in)
        self._system_resolver = system_resolver

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        start = perf_counter()
        try:
            async with asyncio.timeout(self.target.timeout_s):
                reply = await _cancellable(self._ask())
        except (TimeoutError, dns.exception.Timeout):
            return self._observation(started_at, Verdict(Reason.TIMEOUT, TIMEOUT_DETAIL, False))
        except _ReplyInError as error:
            reply = error.reply
        except Exception as exc:
            verdict = self._failure(exc)
            latency = perf_counter() - start if verdict.answered else None
            return self._observation(started_at, verdict, latency)
        latency = perf_counter() - start
        verdict, facts = self._judge(reply.response)
        if reply.server:
            facts[Fact.PEER] = reply.server
        return self._observation(started_at, verdict, latency, facts)

    async def _ask(self) -> Reply:
        if self._server is None:
            return await self._ask_system()
        host, port = self._server
        query = dns.message.make_query(self._qname, self._rdtype)
        timeout = self.target.timeout_s
        if self.target.transport == "tcp":
            response = await dns.asyncquery.tcp(query, host, timeout=timeout, port=port)
        else:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, host, timeout=timeout, port=port
            )
        return Reply(response, _server_text(host, port))

    async def _ask_system(self) -> Reply:
        resolver = self._system_resolver()
        resolver.cache = None
        resolver.lifetime = self.target.timeout_s
        resolver.timeout = min(resolver.timeout, self.target.timeout_s)
        try:
            answer = await resolver.resolve(
                self._qname, self._rdtype, tcp=self.target.transport == "tcp",
                raise_on_no_answer=False, search=False,
            )
        except dns.resolver.NoNameservers as exc:
            raise _last_error(exc) from None
        server = str(answer.nameserver)
        return Reply(answer.response, _server_text(server, answer.port) if answer.port else server)

    def _failure(self, exc: Exception) -> Verdict:
        if isinstance(exc, dns.resolver.NXDOMAIN):
            return Verdict(Reason.DNS_ERROR, "NXDOMAIN")
        if isinstance(exc, dns.resolver.YXDOMAIN):
            return Verdict(Reason.DNS_ERROR, "YXDOMAIN")
        if isinstance(exc, dns.resolver.NoResolverConfiguration):
            return Verdict(Reason.ERROR, "no system resolver configured", answered=False)
        if isinstance(exc, dns.exception.DNSException | EOFError):
            return Verdict(Reason.INVALID_RESPONSE,
                           f"malformed reply: {type(exc).__name__}: {_text(exc)}")
        reason, detail = classify_exception(exc, connected=False)
        return Verdict(reason, detail, answered=False)

    def _judge(self, response: dns.message.Message) -> tuple[Verdict, dict[str, Any]]:
        rcode = response.rcode()
        facts: dict[str, Any] = {"rcode": dns.rcode.to_text(rcode)}
        if rcode != dns.rcode.NOERROR:
            return Verdict(Reason.DNS_ERROR, dns.rcode.to_text(rcode)), facts
        if not isinstance(response, dns.message.QueryMessage):
            return Verdict(Reason.INVALID_RESPONSE, "reply is not a query response"), facts
        try:
            rrset = response.resolve_chaining().answer
        except dns.exception.DNSException as exc:
            return Verdict(Reason.INVALID_RESPONSE, f"inconsistent answer: {_text(exc)}"), facts
        rdatas = list(rrset) if rrset is not None else []
        facts[Fact.RESOLVED] = sorted(r.to_text()[:MAX_ANSWER_CHARS] for r in rdatas)[:MAX_ANSWERS]
        return self._check_answers(rdatas), facts

    def _check_answers(self, rdatas: list[Any]) -> Verdict:
        wanted = self.target.expect.min_answers
        if not rdatas and wanted >= 1:
            return Verdict(Reason.DNS_ERROR, "no answer")
        if len(rdatas) < wanted:
            return Verdict(
                Reason.ASSERTION_FAILED, f"{len(rdatas)} answers, expected at least {wanted}"
            )
        if self._networks and self._rdtype in ADDRESS_TYPES:
            for rdata in rdatas:
                address = ipaddress.ip_address(rdata.address)
                if not any(address in network for network in self._networks):
                    return Verdict(
                        Reason.ASSERTION_FAILED,
                        f"answer {address} outside expected networks (possible DNS poisoning)",
                    )
        return Verdict(Reason.OK)

    def _observation(
        self,
        started_at: float,
        verdict: Verdict,
        latency: float | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Observation:
        return Observation(
            target=self.target.name,
            started_at=started_at,
            reason=verdict.reason,
            latency=latency,
            detail=scrub(verdict.detail)[:MAX_DETAIL],
            phases={Phase.DNS: latency} if latency is not None else {},
            facts=facts or {},
        )


async def _cancellable(coroutine: Coroutine[Any, Any, Reply]) -> Reply:
    """Await `coroutine` in a task of its own, so that cancelling the probe always ends it:
    dnspython waits with asyncio.wait_for, which on Python 3.11 swallows a cancellation that
    arrives as the reply does (CPython gh-86296), and a probe that ignores its cancellation
    hangs the scheduler's stop."""
    task = asyncio.ensure_future(coroutine)
    task.add_done_callback(_retrieve)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        task.cancel()
        raise


def _retrieve(task: asyncio.Future[Reply]) -> None:
    """Collect the outcome of a query nobody awaits any more (its probe was cancelled)."""
    if not task.cancelled():
        task.exception()


def _text(exc: BaseException) -> str:
    return scrub(str(exc) or type(exc).__name__)[:MAX_DETAIL]


def _last_error(exc: dns.resolver.NoNameservers) -> Exception:
    """The most telling of the per-server errors: a reply (its rcode) over an exception."""
    errors = exc.kwargs.get("errors") or []
    for server, _tcp, port, _error, response in reversed(errors):
        if isinstance(response, dns.message.Message):
            return _ReplyInError(Reply(response, _nameserver_text(str(server), int(port))))
    for *_, error, _response in reversed(errors):
        if isinstance(error, Exception):
            return error
    return exc


def build(target: TargetBase, env: CheckEnv) -> DnsCheck:
    assert isinstance(target, DnsTarget)
    return DnsCheck(target, env)


register("dns", DnsTarget, build)
