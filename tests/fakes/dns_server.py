"""A tiny DNS server on 127.0.0.1 (UDP and TCP on one port) for tests and the simulator.

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
import errno
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Literal, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

Behaviour = Literal["answer", "drop", "garbage", "truncate"]
Transport = Literal["udp", "tcp"]
# What a custom handler returns: a message, raw bytes, or None to stay silent.
Reply = dns.message.Message | bytes | None
Handler = Callable[[dns.message.Message, Transport], Reply]

GARBAGE = b"\xde\xad\xbe\xef this is not a DNS message"
MAX_TCP_MESSAGE = 65535


@dataclass(frozen=True)
class ReceivedQuery:
    transport: Transport
    message: dns.message.Message

    @property
    def name(self) -> str:
        return self.message.question[0].name.to_text()


class FakeDnsServer:
    def __init__(self, *, ttl: int = 60) -> None:
        self.ttl = ttl
        self.records: dict[tuple[dns.name.Name, dns.rdatatype.RdataType], list[str]] = {}
        self.rcode: dns.rcode.Rcode | None = None  # answer every query with this rcode
        self.behaviour: Behaviour = "answer"
        self.garbage = GARBAGE
        self.delay = 0.0  # seconds to wait before answering
        self.handler: Handler | None = None  # overrides everything above when set
        self.queries: list[ReceivedQuery] = []
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add(self, name: str, rdtype: str, *values: str) -> None:
        key = (dns.name.from_text(name), dns.rdatatype.RdataType.make(rdtype))
        self.records.setdefault(key, []).extend(values)

    async def start(self) -> FakeDnsServer:
        loop = asyncio.get_running_loop()
        for _ in range(20):  # the UDP port may be taken for TCP: try another one
            self._udp, _ = await loop.create_datagram_endpoint(
                lambda: _UdpProtocol(self), local_addr=("127.0.0.1", 0)
            )
            self.port = self._udp.get_extra_info("sockname")[1]
            try:
                self._tcp = await asyncio.start_server(self._serve_tcp, "127.0.0.1", self.port)
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                self._udp.close()
                continue
            return self
        raise RuntimeError("no port free for both UDP and TCP")

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> FakeDnsServer:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()

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

    def spawn(self, coroutine: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve_tcp(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                size = int.from_bytes(await reader.readexactly(2), "big")
                reply = await self.respond(await reader.readexactly(size), "tcp")
                if reply is not None:
                    writer.write(len(reply[:MAX_TCP_MESSAGE]).to_bytes(2, "big"))
                    writer.write(reply[:MAX_TCP_MESSAGE])
                    await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


class _UdpProtocol(asyncio.DatagramProtocol):
    def __init__(self, server: FakeDnsServer) -> None:
        self.server = server
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        self.server.spawn(self._answer(data, addr))

    async def _answer(self, data: bytes, addr: tuple[str | int, ...]) -> None:
        reply = await self.server.respond(data, "udp")
        if reply is not None and self.transport is not None and not self.transport.is_closing():
            self.transport.sendto(reply, addr)
