"""A tiny DNS server on 127.0.0.1 (UDP and TCP on one port) for tests, on the simulator's
server core (monitor/simulate/dns.py).

It answers from a table of records: a name it does not know is NXDOMAIN, a known name
without the asked type is an empty NOERROR answer. It can also be told to answer every
query with one rcode, to drop queries, to send garbage, to truncate UDP replies (so that a
client retries over TCP), to wait before answering, or to let a custom handler answer.

    async with FakeDnsServer() as server:
        server.add("api.example.com", "A", "192.0.2.1")
        ... resolver = server.address ...
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from monitor.simulate.dns import MAX_TCP_MESSAGE, DnsServer, Transport

__all__ = ["MAX_TCP_MESSAGE", "FakeDnsServer", "ReceivedQuery", "Transport"]

Behaviour = Literal["answer", "drop", "garbage", "truncate"]
# What a custom handler returns: a message, raw bytes, or None to stay silent.
Reply = dns.message.Message | bytes | None
Handler = Callable[[dns.message.Message, Transport], Reply]

GARBAGE = b"\xde\xad\xbe\xef this is not a DNS message"


@dataclass(frozen=True)
class ReceivedQuery:
    transport: Transport
    message: dns.message.Message

    @property
    def name(self) -> str:
        return self.message.question[0].name.to_text()


class FakeDnsServer(DnsServer):
    def __init__(self, *, ttl: int = 60) -> None:
        super().__init__()
        self.ttl = ttl
        self.records: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], list[str]] = {}
        self.rcode: dns.rcode.Rcode | None = None  # answer every query with this rcode
        self.behaviour: Behaviour = "answer"
        self.garbage = GARBAGE
        self.delay = 0.0  # seconds to wait before answering
        self.handler: Handler | None = None  # overrides everything above when set
        self.queries: list[ReceivedQuery] = []

    def add(self, name: str, rdtype: str, *values: str) -> None:
        key = (dns.name.from_text(name), dns.rdatatype.RdataType.make(rdtype))
        self.records.setdefault(key, []).extend(values)

    def reply_to(self, wire: bytes, transport: Transport) -> bytes | None:
        """The bytes to send back for the query `wire`, or None to stay silent."""
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        self.queries.append(ReceivedQuery(transport, query))
        reply = self._reply(query, transport)
        return reply.to_wire() if isinstance(reply, dns.message.Message) else reply

    def _reply(self, query: dns.message.Message, transport: Transport) -> Reply:
        if self.handler is not None:
            return self.handler(query, transport)
        if self.behaviour == "drop" or not query.question:
            return None
        if self.behaviour == "garbage":
            return self.garbage
        response = dns.message.make_response(query)
        if self.rcode is not None:
            response.set_rcode(self.rcode)
        elif self.behaviour == "truncate" and transport == "udp":
            response.flags |= dns.flags.TC
        else:
            self._answer(query.question[0], response)
        return response

    def _answer(self, question: dns.rrset.RRset, response: dns.message.Message) -> None:
        if not any(name == question.name for name, _ in self.records):
            response.set_rcode(dns.rcode.NXDOMAIN)
            return
        values = self.records.get((question.name, question.rdtype))
        if values:
            response.answer.append(dns.rrset.from_text_list(
                question.name, self.ttl, dns.rdataclass.IN, question.rdtype, values
            ))

    async def respond(self, wire: bytes, transport: Transport) -> bytes | None:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self.reply_to(wire, transport)
