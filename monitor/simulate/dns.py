"""DNS on loopback: a small UDP + TCP server core, and the simulated world's authoritative
server that resolves the names of its venues, providers and status pages.

`DnsServer` listens on one port number for both transports and hands every query's wire bytes
to `respond`; tests/fakes/dns_server.py builds its scriptable fake on it. `WorldDns` answers
`<name>.test.` (`.test` is reserved for testing, RFC 6761) with A 127.0.0.1 for every name the
world serves, NXDOMAIN for other names in the zone, REFUSED outside it; its faults change the
answer for one name:

    dns_nxdomain   NXDOMAIN
    dns_servfail   SERVFAIL
    dns_timeout    no answer at all
    dns_empty      NOERROR with no address (the DynamoDB endpoint on 20 Oct 2025)
    dns_poison     A `address` instead of the real one (a censor's forged answer)

The newest active fault of the name wins.
"""

from __future__ import annotations

import asyncio
import errno
import socket
from collections.abc import Callable, Collection, Coroutine, Iterable
from types import TracebackType
from typing import Any, Literal, Self, cast

import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset

from monitor.simulate.faults import DNS_KINDS, DnsPoisonParams, Fault, FaultKind

Transport = Literal["udp", "tcp"]

ZONE = "test"
ADDRESS = "127.0.0.1"  # every name of the world lives on loopback
TTL = 5
MAX_TCP_MESSAGE = 65535
PORT_ATTEMPTS = 20  # a free UDP port may be taken for TCP: try another one


class DnsServer:
    """UDP and TCP on one port of `host`; subclasses answer in `respond`."""

    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = 0
        self._udp: asyncio.DatagramTransport | None = None
        self._tcp: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        """host:port, as a `dns` target's `resolver` takes it."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    async def respond(self, wire: bytes, transport: Transport) -> bytes | None:
        """The reply to the query `wire`, or None to stay silent."""
        raise NotImplementedError

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Self:
        """Listen on `port` (0: a free one, the same number for UDP and TCP)."""
        self.host = host
        for _ in range(1 if port else PORT_ATTEMPTS):
            if await self._listen(host, port):
                return self
        raise OSError(errno.EADDRINUSE, "no port free for both UDP and TCP")

    async def _listen(self, host: str, port: int) -> bool:
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._udp, _ = await loop.create_datagram_endpoint(
            lambda: _UdpProtocol(self), local_addr=(host, port), family=family)
        self.port = self._udp.get_extra_info("sockname")[1]
        try:
            self._tcp = await asyncio.start_server(self._serve_tcp, host, self.port)
        except OSError as exc:
            self._udp.close()
            if exc.errno != errno.EADDRINUSE or port:
                raise
            return False
        return True

    async def close(self) -> None:
        if self._udp is not None:
            self._udp.close()
        if self._tcp is not None:
            self._tcp.close()
            await self._tcp.wait_closed()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

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
    def __init__(self, server: DnsServer) -> None:
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


class WorldDns(DnsServer):
    """The authoritative server of one vantage point of a world: `names` under `zone`, each
    changed by the DNS faults `faults(name)` gives (the world's and this vantage's)."""

    def __init__(self, names: Collection[str], faults: Callable[[str], Iterable[Fault]], *,
                 zone: str = ZONE) -> None:
        super().__init__()
        self.zone = dns.name.from_text(zone)
        self._names = {dns.name.from_text(name, origin=self.zone): name for name in names}
        self._faults = faults

    def name_of(self, served: str) -> str:
        """The DNS name of a venue, provider or page: "okx-sim" -> "okx-sim.test"."""
        return dns.name.from_text(served, origin=self.zone).to_text(omit_final_dot=True)

    async def respond(self, wire: bytes, transport: Transport) -> bytes | None:
        try:
            query = dns.message.from_wire(wire)
        except dns.exception.DNSException:
            return None
        reply = self.answer(query)
        return None if reply is None else reply.to_wire()

    def answer(self, query: dns.message.Message) -> dns.message.Message | None:
        """The reply to `query`, or None for no reply (`dns_timeout`)."""
        response = dns.message.make_response(query)
        if not query.question:
            response.set_rcode(dns.rcode.FORMERR)
            return response
        question = query.question[0]
        if not question.name.is_subdomain(self.zone):
            response.set_rcode(dns.rcode.REFUSED)
            return response
        response.flags |= dns.flags.AA
        served = self._names.get(question.name)
        if served is None:
            response.set_rcode(dns.rcode.NXDOMAIN)
            return response
        fault = self.fault(served)
        kind = fault.kind if fault is not None else None
        if kind is FaultKind.DNS_TIMEOUT:
            return None
        if kind is FaultKind.DNS_NXDOMAIN:
            response.set_rcode(dns.rcode.NXDOMAIN)
        elif kind is FaultKind.DNS_SERVFAIL:
            response.flags &= ~dns.flags.AA
            response.set_rcode(dns.rcode.SERVFAIL)
        elif kind is not FaultKind.DNS_EMPTY and question.rdtype == dns.rdatatype.A:
            address = ADDRESS
            if fault is not None and isinstance(fault.params, DnsPoisonParams):
                address = fault.params.address
            response.answer.append(dns.rrset.from_text(
                question.name, TTL, dns.rdataclass.IN, dns.rdatatype.A, address))
        return response

    def fault(self, served: str) -> Fault | None:
        """The newest active DNS fault of `served`."""
        found = [fault for fault in self._faults(served) if fault.kind in DNS_KINDS]
        newest = max(enumerate(found), key=lambda item: (item[1].started_at, item[0]),
                     default=None)
        return None if newest is None else newest[1]
