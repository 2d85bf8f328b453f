"""The `http` check against real servers on 127.0.0.1 that each test starts itself.

`serve_app` (aiohttp apps) and the secret-registry reset come from tests/conftest.py;
`raw_server` below starts plain asyncio socket servers for misbehaving peers.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import os
import socket
import ssl
import threading
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, Protocol

import pytest
import trustme
from aiohttp import web
from cryptography import x509

from checks import http as http_check
from checks.base import CheckEnv
from checks.http import MAX_RETRY_AFTER, HttpTarget, build, parse_retry_after, status_verdict
from checks.tcp import TcpTarget
from monitor.clock import FakeClock
from monitor.observation import Fact, Observation, Phase, Reason
from tests.conftest import wait_for

MiB = 1024 * 1024
USER_AGENT = "outagemon-test/1"


class Served(Protocol):
    port: int

    def url(self, path: str = "/") -> str: ...


ServeApp = Callable[[web.Application], Awaitable[Served]]
RawHandler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]
StartRaw = Callable[[RawHandler], Awaitable[int]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def make_target(url: str, **keys: Any) -> HttpTarget:
    document = {"name": "t", "kind": "http", "url": url, "interval": "5s", "timeout": "2s"}
    return HttpTarget.model_validate({**document, **keys})


async def probe(url: str, env: CheckEnv | None = None, **keys: Any) -> Observation:
    check = build(make_target(url, **keys), env or CheckEnv(user_agent=USER_AGENT))
    return await check.probe()


def app_with(handler: Handler, path: str = "/") -> web.Application:
    app = web.Application()
    app.router.add_route("*", path, handler)
    return app


def respond(status: int = 200, **kwargs: Any) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        return web.Response(status=status, **kwargs)

    return handler


def unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.fixture
async def raw_server() -> AsyncIterator[StartRaw]:
    """Plain asyncio servers on 127.0.0.1; handlers still running are cancelled at the end."""
    servers: list[asyncio.Server] = []
    handlers: set[asyncio.Task[Any]] = set()

    async def start(handler: RawHandler) -> int:
        async def tracked(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            handlers.add(task)
            try:
                await handler(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass  # the client hung up, as probes do on timeout
            finally:
                writer.close()

        server = await asyncio.start_server(tracked, "127.0.0.1", 0)
        servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    yield start
    for task in handlers:
        task.cancel()
    await asyncio.gather(*handlers, return_exceptions=True)
    for server in servers:
        server.close()
        await server.wait_closed()


# --- success, request shape, phases ---------------------------------------------------------


async def test_ok_records_status_phases_and_latency(serve_app: ServeApp) -> None:
    user_agents: list[list[str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        user_agents.append(request.headers.getall("User-Agent"))
        return web.Response(text="hello")

    server = await serve_app(app_with(handler))
    clock = FakeClock()
    obs = await probe(server.url("/"), CheckEnv(clock=clock, user_agent=USER_AGENT))

    assert obs.reason is Reason.OK and obs.success
    assert obs.target == "t"
    assert obs.started_at == clock.wall()
    assert obs.facts[Fact.HTTP_STATUS] == 200
    assert {Phase.CONNECT, Phase.TTFB, Phase.TRANSFER} <= obs.phases.keys()
    assert Phase.DNS not in obs.phases  # an IP literal is not resolved
    assert Phase.TLS not in obs.phases
    assert obs.latency is not None and 0 < obs.latency < 1
    assert sum(obs.phases.values()) <= obs.latency
    assert user_agents == [[USER_AGENT]]


async def test_latency_ends_when_the_answer_arrived_not_when_a_busy_loop_got_to_it(
        raw_server: StartRaw, monkeypatch: pytest.MonkeyPatch) -> None:
    """Under load the probe's task resumes well after its answer came off the socket; that
    wait is the daemon's, not the server's. Here the loop is kept busy for 300 ms right
    after the answer arrived (inside the probe's own task, so deterministically)."""
    original = http_check.read_capped

    async def read_then_busy(*args: Any) -> Any:
        body = await original(*args)
        time.sleep(0.3)  # noqa: ASYNC251 - on purpose: the event loop is busy, nothing runs
        return body

    monkeypatch.setattr(http_check, "read_capped", read_then_busy)

    async def answer_in_one_write(reader: asyncio.StreamReader,
                                  writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
        await writer.drain()

    port = await raw_server(answer_in_one_write)
    obs = await probe(f"http://127.0.0.1:{port}/")
    assert obs.reason is Reason.OK
    assert obs.latency is not None and obs.latency < 0.2, obs


@pytest.mark.parametrize("tls", [False, True], ids=["http", "https"])
async def test_latency_leaves_out_a_busy_loop_as_the_answer_arrives(tls: bool) -> None:
    """The answer arrives while the event loop is busy, so its read callback runs 300 ms
    late: the kernel's receive time (checks/wire.py) keeps that out of the latency. The
    server runs in a thread so it answers while the loop cannot."""
    loop = asyncio.get_running_loop()
    answered = threading.Event()
    delay = 0.1

    def busy_until_answered() -> None:
        answered.wait(5)
        time.sleep(0.3)  # on purpose: the event loop is busy, nothing runs

    def serve(listener: socket.socket, context: ssl.SSLContext | None) -> None:
        conn, _ = listener.accept()
        with conn if context is None else context.wrap_socket(conn, server_side=True) as tls:
            request = b""
            while b"\r\n\r\n" not in request:
                request += tls.recv(4096)
            loop.call_soon_threadsafe(busy_until_answered)
            time.sleep(delay)  # the server's own delay
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello")
            answered.set()

    context = None
    if tls:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        trustme.CA().issue_cert("127.0.0.1").configure_cert(context)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server = asyncio.create_task(asyncio.to_thread(serve, listener, context))
        scheme = "https" if tls else "http"
        obs = await probe(f"{scheme}://127.0.0.1:{listener.getsockname()[1]}/", tls_verify=False)
        await server
    assert obs.reason is Reason.OK, obs
    assert obs.latency is not None and delay <= obs.latency < delay + 0.1, obs
    assert delay <= obs.phases[Phase.TTFB] < delay + 0.1
    assert (Phase.TLS in obs.phases) is tls


async def test_no_probe_outcome_leaves_a_socket_open(
        raw_server: StartRaw, https_url: tuple[str, float]) -> None:
    """Every way a probe can end closes its connection (the transport is ours:
    checks/wire.py): answered, refused, reset, cut short, timed out, TLS refused."""
    def replying(answer: bytes) -> RawHandler:
        async def reply(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.readuntil(b"\r\n\r\n")
            writer.write(answer)
            await writer.drain()

        return reply

    async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        writer.transport.abort()

    async def hang(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        await reader.read()  # no answer; until the probe gives up and hangs up

    urls = [f"http://127.0.0.1:{await raw_server(handler)}/"
            for handler in (
                replying(b"HTTP/1.1 503 Busy\r\nContent-Length: 4\r\n\r\nbusy"), reset,
                replying(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort"), hang)]
    urls += [f"http://127.0.0.1:{unused_port()}/", https_url[0]]

    def open_fds() -> int:
        return len(os.listdir("/proc/self/fd"))

    await asyncio.gather(*(probe(url, timeout="300ms") for url in urls))  # warm up
    before = open_fds()
    for _ in range(10):
        results = await asyncio.gather(*(probe(url, timeout="300ms") for url in urls))
    assert [obs.reason for obs in results] == [
        Reason.HTTP_5XX, Reason.ERROR, Reason.INVALID_RESPONSE, Reason.TIMEOUT,
        Reason.CONNECT_REFUSED, Reason.TLS_ERROR], results
    # the servers (in this process too) close their side once they see the probes hang up
    await wait_for(lambda: open_fds() <= before, what=f"fds back to {before}")


def test_ttfb_runs_from_when_the_request_reached_the_kernel() -> None:
    """aiohttp may hand a request's bytes to the socket a loop turn after its "sent" hook
    (a body is written by a task of its own): the transport's own stamp is the start."""
    timeline = http_check._Timeline()
    timeline.request_sent()
    hook = time.perf_counter()
    timeline.bytes_arrived(hook + 0.5, written=hook + 0.4)
    timeline.headers_received()
    assert timeline.phases[Phase.TTFB] == pytest.approx(0.1)


async def test_dns_phase_is_measured_for_a_host_name(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(text="ok")))
    obs = await probe(f"http://localhost:{server.port}/")
    assert obs.reason is Reason.OK
    assert obs.phases[Phase.DNS] > 0


async def test_configured_headers_override_the_user_agent(serve_app: ServeApp) -> None:
    seen: list[tuple[list[str], str | None]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        seen.append((request.headers.getall("User-Agent"), request.headers.get("X-Token")))
        return web.Response()

    server = await serve_app(app_with(handler))
    obs = await probe(server.url(), headers={"user-agent": "custom/2", "X-Token": "t0k"})
    assert obs.reason is Reason.OK
    assert seen == [(["custom/2"], "t0k")]


async def test_method_and_bodies_are_sent(serve_app: ServeApp) -> None:
    received: list[tuple[str, str, str]] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        received.append((request.method, request.content_type, await request.text()))
        return web.json_response({"ok": True})

    server = await serve_app(app_with(handler))
    rpc = {"jsonrpc": "2.0", "method": "eth_blockNumber", "id": 1}
    assert (await probe(server.url(), method="POST", json_body=rpc)).reason is Reason.OK
    assert (await probe(server.url(), method="PUT", body="ping")).reason is Reason.OK
    assert received[0][:2] == ("POST", "application/json")
    assert received[0][2].replace(" ", "") == '{"jsonrpc":"2.0","method":"eth_blockNumber","id":1}'
    assert received[1] == ("PUT", "text/plain", "ping")


async def test_head_reads_no_body(serve_app: ServeApp) -> None:
    methods: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        methods.append(request.method)
        return web.Response(text="x" * 5000)

    server = await serve_app(app_with(handler))
    obs = await probe(server.url(), method="HEAD", max_body="1KiB")
    assert obs.reason is Reason.OK  # the 5000-byte Content-Length is not read, so not too big
    assert methods == ["HEAD"]


async def test_a_fresh_connection_for_every_probe(raw_server: StartRaw) -> None:
    counts = {"connections": 0, "requests": 0}

    async def keep_alive(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        counts["connections"] += 1
        while True:  # would happily serve every probe on one connection
            await reader.readuntil(b"\r\n\r\n")
            counts["requests"] += 1
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")  # keep-alive
            await writer.drain()

    port = await raw_server(keep_alive)
    check = build(make_target(f"http://127.0.0.1:{port}/"), CheckEnv())
    for _ in range(3):
        assert (await check.probe()).reason is Reason.OK
    assert counts == {"connections": 3, "requests": 3}


# --- statuses ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"),
    [
        (200, Reason.OK),
        (203, Reason.OK),
        (500, Reason.HTTP_5XX),
        (503, Reason.HTTP_5XX),
        (404, Reason.HTTP_4XX),
        (401, Reason.HTTP_4XX),
        (418, Reason.RATE_LIMITED),
        (429, Reason.RATE_LIMITED),
        (451, Reason.GEO_BLOCKED),
        (300, Reason.ASSERTION_FAILED),  # not a redirect aiohttp follows, and not 2xx
    ],
)
async def test_status_maps_to_reason(serve_app: ServeApp, status: int, reason: Reason) -> None:
    server = await serve_app(app_with(respond(status, text="body")))
    # A body assertion that would fail shows it only runs for acceptable statuses.
    obs = await probe(server.url(), expect={"body_regex": "^body$"})
    assert obs.reason is reason
    assert obs.facts[Fact.HTTP_STATUS] == status
    if reason is not Reason.OK:
        assert f"HTTP {status}" in obs.detail
        assert obs.latency is not None  # a response came, so it was timed


async def test_expected_status_list_replaces_any_2xx(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(404)))
    assert (await probe(server.url(), expect={"status": [404]})).reason is Reason.OK
    server = await serve_app(app_with(respond(200)))
    obs = await probe(server.url(), expect={"status": [201, 202]})
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == "HTTP 200, expected 201, 202"


@pytest.mark.parametrize(
    ("status", "retry_after", "reason", "seconds"),
    [
        (429, "7", Reason.RATE_LIMITED, 7.0),
        (418, "0", Reason.RATE_LIMITED, 0.0),
        (503, "120", Reason.HTTP_5XX, 120.0),
        (429, "99999999", Reason.RATE_LIMITED, MAX_RETRY_AFTER),
        (429, "soon", Reason.RATE_LIMITED, None),
        (500, "30", Reason.HTTP_5XX, None),  # only 418, 429 and 503 ask us to back off
    ],
)
async def test_retry_after_seconds(
    serve_app: ServeApp, status: int, retry_after: str, reason: Reason, seconds: float | None
) -> None:
    server = await serve_app(app_with(respond(status, headers={"Retry-After": retry_after})))
    obs = await probe(server.url())
    assert obs.reason is reason
    assert obs.retry_after == seconds
    if seconds is not None:
        assert obs.detail.endswith(f"retry after {seconds:g}s")
    else:
        assert Fact.RETRY_AFTER not in obs.facts


async def test_retry_after_http_date_is_relative_to_the_clock(serve_app: ServeApp) -> None:
    clock = FakeClock()
    when = email.utils.formatdate(clock.wall() + 90, usegmt=True)
    server = await serve_app(app_with(respond(429, headers={"Retry-After": when})))
    obs = await probe(server.url(), CheckEnv(clock=clock))
    assert obs.reason is Reason.RATE_LIMITED
    assert obs.facts[Fact.RETRY_AFTER] == 90.0


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("7", 7.0),
        (" 7 ", 7.0),
        ("1.5", 1.5),
        ("0", 0.0),
        ("4000", MAX_RETRY_AFTER),
        ("-5", None),
        ("7s", None),
        ("", None),
        ("٣", None),  # a non-ASCII digit
        ("9" * 400, None),
        (None, None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),
        ("Thu, 01 Jan 1970 00:01:40 -0000", 60.0),  # naive: taken as UTC
        ("Thu, 01 Jan 1970 00:00:00 GMT", 0.0),  # in the past
        ("Thu, 01 Jan 2970 00:00:00 GMT", MAX_RETRY_AFTER),
        ("Thu, 99 Foo 1970 00:00:00 GMT", None),
    ],
)
def test_parse_retry_after(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=40.0) == seconds


@pytest.mark.parametrize(
    ("status", "expected", "reason"),
    [
        (200, None, None),
        (299, None, None),
        (302, [302], None),
        (302, None, Reason.INVALID_RESPONSE),  # only reaches us when max_redirects is 0
        (600, None, Reason.INVALID_RESPONSE),
        (101, None, Reason.ASSERTION_FAILED),
        (429, [200], Reason.RATE_LIMITED),
        (429, [429], None),
    ],
)
def test_status_verdict(status: int, expected: list[int] | None, reason: Reason | None) -> None:
    verdict = status_verdict(status, expected, redirects_followed=False)
    assert (verdict[0] if verdict else None) is reason


# --- bodies: size caps, compression, assertions ---------------------------------------------


async def test_body_over_max_body_is_invalid(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(body=b"x" * (2 * MiB))))
    obs = await probe(server.url(), max_body="1MiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == f"body larger than {MiB} bytes"


async def test_body_of_exactly_max_body_is_fine(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(body=b"x" * MiB)))
    assert (await probe(server.url(), max_body="1MiB")).reason is Reason.OK


async def test_endless_chunked_body_is_cut_off(serve_app: ServeApp) -> None:
    sent = 0
    client_left = asyncio.Event()

    async def endless(request: web.Request) -> web.StreamResponse:
        nonlocal sent
        response = web.StreamResponse()
        await response.prepare(request)
        chunk = b"y" * 65536
        try:
            for _ in range(100_000):  # ~6 GiB: far beyond any cap, ends when the client leaves
                await response.write(chunk)
                sent += len(chunk)
        finally:
            client_left.set()
        return response

    server = await serve_app(app_with(endless))
    obs = await probe(server.url(), max_body="256KiB")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == "body larger than 262144 bytes"
    await asyncio.wait_for(client_left.wait(), 5)
    assert sent < 16 * MiB  # the cap plus socket buffers: reading stopped at the cap


def gzip_bomb(inflated_size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = bytes(MiB)
    parts = [compressor.compress(block) for _ in range(inflated_size // MiB)]
    parts.append(compressor.flush())
    return b"".join(parts)


async def test_gzip_bomb_is_cut_off_after_decompression(serve_app: ServeApp) -> None:
    bomb = gzip_bomb(128 * MiB)
    assert len(bomb) < 512 * 1024
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    server = await serve_app(app_with(respond(body=bomb, headers=headers)))

    tracemalloc.start()
    try:
        started = time.monotonic()
        obs = await probe(server.url(), max_body="1MiB", expect={"json": {"ok": True}})
        elapsed = time.monotonic() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == f"body larger than {MiB} bytes"
    assert peak < 32 * MiB, f"peak {peak / MiB:.1f} MiB"
    assert elapsed < 2.0


async def test_malformed_json_is_invalid_response(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(body=b'{"status": "ok",')))
    obs = await probe(server.url(), expect={"json": {"status": "ok"}})
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail.startswith("response is not valid JSON: ")


async def test_deeply_nested_json_is_invalid_response(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(body=b"[" * 200_000 + b"]" * 200_000)))
    obs = await probe(server.url(), expect={"json": {"0": 1}})
    assert obs.reason is Reason.INVALID_RESPONSE
    assert "not valid JSON" in obs.detail


async def test_failed_json_assertion_names_path_expected_and_actual(serve_app: ServeApp) -> None:
    document = {"status": "ok", "data": [{"price": "41.5"}]}
    server = await serve_app(app_with(respond(text=json.dumps(document))))
    obs = await probe(server.url(), expect={"json": {"status": "ok", "data.0.price": ">= 42"}})
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == 'JSON data.0.price: expected >= 42, got "41.5"'


async def test_missing_json_path_fails(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(text=json.dumps({"result": None}))))
    obs = await probe(server.url(), expect={"json": {"result.number": "> 0"}})
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == "JSON result.number: missing (expected > 0)"


async def test_passing_assertions_are_ok(serve_app: ServeApp) -> None:
    document = {"status": "ok", "height": "0x10", "data": [{"price": 42}]}
    server = await serve_app(app_with(respond(text=json.dumps(document))))
    expect = {"body_regex": r'"status":\s*"ok"', "json": {"status": "ok", "data.0.price": "> 1"}}
    assert (await probe(server.url(), expect=expect)).reason is Reason.OK


async def test_body_regex_mismatch_fails(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(text="all systems degraded")))
    obs = await probe(server.url(), expect={"body_regex": "operational"})
    assert obs.reason is Reason.ASSERTION_FAILED
    assert obs.detail == "body does not match operational"


async def test_body_regex_tolerates_invalid_utf8(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(body=b"\xff\xfe status: ok \xc3")))
    assert (await probe(server.url(), expect={"body_regex": "status: ok"})).reason is Reason.OK


# --- hostile and broken peers -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "detail_start"),
    [
        (b"garbage\r\n\r\n", "malformed response: "),
        (b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 20_000 + b"\r\n\r\n", "malformed response: "),
        (
            b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: v\r\n" % i for i in range(500)) + b"\r\n",
            "malformed response: ",
        ),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nshort", "broken response body: "),
        (
            b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 7\r\n\r\nnotgzip",
            "broken response body: ",
        ),
    ],
    ids=["garbage", "huge-header", "too-many-headers", "truncated-body", "bad-gzip"],
)
async def test_malformed_responses_are_invalid(
    raw_server: StartRaw, response: bytes, detail_start: str
) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(response)
        await writer.drain()

    port = await raw_server(answer)
    obs = await probe(f"http://127.0.0.1:{port}/")
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail.startswith(detail_start)
    assert "\n" not in obs.detail


async def test_refused_port_is_connect_refused() -> None:
    obs = await probe(f"http://127.0.0.1:{unused_port()}/")
    assert obs.reason is Reason.CONNECT_REFUSED
    assert obs.detail == "connection refused"
    assert obs.latency is None


async def test_server_that_never_answers_times_out(raw_server: StartRaw) -> None:
    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()  # until the client gives up

    port = await raw_server(silent)
    started = time.monotonic()
    obs = await probe(f"http://127.0.0.1:{port}/", timeout="500ms")
    elapsed = time.monotonic() - started
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == "timed out after 0.5s waiting for the response"
    assert obs.latency is None
    assert 0.5 <= elapsed < 1.0
    assert Phase.CONNECT in obs.phases and Phase.TTFB not in obs.phases


async def test_stalled_tls_handshake_is_a_connect_timeout(raw_server: StartRaw) -> None:
    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()  # takes the ClientHello, never answers

    port = await raw_server(silent)
    obs = await probe(f"https://127.0.0.1:{port}/", timeout="300ms")
    assert obs.reason is Reason.CONNECT_TIMEOUT
    assert obs.detail == "TLS handshake timed out after 0.3s"


async def _trickle_headers(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"z" * 100:
        writer.write(bytes([byte]))
        await writer.drain()
        await asyncio.sleep(0.2)


async def _trickle_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
    for _ in range(1000):
        writer.write(b"x")
        await writer.drain()
        await asyncio.sleep(0.2)


@pytest.mark.parametrize(
    ("trickle", "waiting_for"),
    [(_trickle_headers, "the response"), (_trickle_body, "the body")],
    ids=["headers", "body"],
)
async def test_slowloris_server_times_out(
    raw_server: StartRaw, trickle: RawHandler, waiting_for: str
) -> None:
    port = await raw_server(trickle)
    started = time.monotonic()
    obs = await probe(f"http://127.0.0.1:{port}/", timeout="1s")
    elapsed = time.monotonic() - started
    assert obs.reason is Reason.TIMEOUT
    assert obs.detail == f"timed out after 1s waiting for {waiting_for}"
    assert 1.0 <= elapsed < 1.5


async def test_cancelling_a_probe_propagates(raw_server: StartRaw) -> None:
    accepted = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        accepted.set()
        await reader.read()

    port = await raw_server(silent)
    task = asyncio.create_task(probe(f"http://127.0.0.1:{port}/"))
    await asyncio.wait_for(accepted.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


# --- redirects --------------------------------------------------------------------------------


async def test_redirect_loop_ends_as_invalid_response(serve_app: ServeApp) -> None:
    hits = 0

    async def loop(_request: web.Request) -> web.StreamResponse:
        nonlocal hits
        hits += 1
        raise web.HTTPFound("/loop")

    server = await serve_app(app_with(loop, "/loop"))
    obs = await probe(server.url("/loop"), max_redirects=3)
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.detail == "too many redirects (more than 3)"
    assert hits == 4  # the first request and three followed redirects


def redirect_chain() -> web.Application:
    async def hop(request: web.Request) -> web.StreamResponse:
        left = int(request.match_info["left"])
        if left == 0:
            return web.Response(text="arrived")
        raise web.HTTPTemporaryRedirect(f"/hop/{left - 1}")

    return app_with(hop, "/hop/{left}")


async def test_redirects_up_to_max_redirects_are_followed(serve_app: ServeApp) -> None:
    server = await serve_app(redirect_chain())
    obs = await probe(server.url("/hop/3"), max_redirects=3, expect={"body_regex": "arrived"})
    assert obs.reason is Reason.OK
    assert obs.phases[Phase.CONNECT] > 0
    obs = await probe(server.url("/hop/4"), max_redirects=3)
    assert obs.reason is Reason.INVALID_RESPONSE


async def test_max_redirects_zero_does_not_follow(serve_app: ServeApp) -> None:
    server = await serve_app(redirect_chain())
    obs = await probe(server.url("/hop/1"), max_redirects=0)
    assert obs.reason is Reason.INVALID_RESPONSE
    assert obs.facts[Fact.HTTP_STATUS] == 307
    assert (await probe(server.url("/hop/1"), max_redirects=0, expect={"status": [307]})).success


async def test_redirect_to_a_non_http_url_is_invalid(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(respond(302, headers={"Location": "ftp://127.0.0.1/x"})))
    obs = await probe(server.url())
    assert obs.reason is Reason.INVALID_RESPONSE


# --- latency ----------------------------------------------------------------------------------


def delayed(seconds: float) -> Handler:
    async def handler(_request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)  # injected server delay
        return web.Response(text="late")

    return handler


async def test_latency_over_max_latency_is_degraded(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(delayed(0.2)))
    obs = await probe(server.url(), expect={"max_latency": "50ms"})
    assert obs.reason is Reason.DEGRADED and obs.success
    assert obs.detail.startswith("slow: 2")
    assert obs.detail.endswith("ms, over max_latency 50 ms")


async def test_latency_tracks_an_injected_server_delay(serve_app: ServeApp) -> None:
    server = await serve_app(app_with(delayed(0.2)))
    obs = await probe(server.url())
    assert obs.reason is Reason.OK
    assert obs.latency is not None
    assert 0.200 <= obs.latency <= 0.215
    assert 0.200 <= obs.phases[Phase.TTFB] <= obs.latency


# --- TLS --------------------------------------------------------------------------------------


@pytest.fixture
async def https_url() -> AsyncIterator[tuple[str, float]]:
    """An HTTPS server on 127.0.0.1 whose certificate comes from an untrusted CA."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    runner = web.AppRunner(app_with(respond(text="secure")), access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    pem = certificate.cert_chain_pems[0].bytes()
    expiry = x509.load_pem_x509_certificate(pem).not_valid_after_utc.timestamp()
    yield f"https://127.0.0.1:{runner.addresses[0][1]}/", expiry
    await runner.cleanup()


async def test_untrusted_certificate_is_tls_error(https_url: tuple[str, float]) -> None:
    url, _ = https_url
    obs = await probe(url)
    assert obs.reason is Reason.TLS_ERROR
    assert obs.detail.startswith("certificate verification failed")


async def test_tls_verify_false_accepts_it_and_times_tls(https_url: tuple[str, float]) -> None:
    url, expiry = https_url
    obs = await probe(url, tls_verify=False, expect={"body_regex": "secure"})
    assert obs.reason is Reason.OK
    assert obs.phases[Phase.TLS] > 0 and obs.phases[Phase.CONNECT] > 0
    assert obs.facts[Fact.CERT_EXPIRY] == expiry


# --- secrets ----------------------------------------------------------------------------------

CANARY_PATH = "CANARYPATHSECRET0001"
CANARY_QUERY = "CANARYQUERYSECRET0002"
CANARY_HEADER = "CANARYHEADERSECRET0003"
CANARIES = (CANARY_PATH, CANARY_QUERY, CANARY_HEADER)


async def _probe_with_canaries(port: int) -> Observation:
    url = f"http://127.0.0.1:{port}/v1/{CANARY_PATH}/ticker?apikey={CANARY_QUERY}"
    return await probe(url, headers={"X-Api-Key": CANARY_HEADER}, timeout="500ms")


def assert_no_canary(obs: Observation) -> None:
    text = repr(obs)
    for canary in CANARIES:
        assert canary not in text


async def test_secrets_stay_out_of_refused_observations() -> None:
    obs = await _probe_with_canaries(unused_port())
    assert obs.reason is Reason.CONNECT_REFUSED
    assert_no_canary(obs)


async def test_secrets_stay_out_of_a_500_that_echoes_them(serve_app: ServeApp) -> None:
    async def echo(request: web.Request) -> web.StreamResponse:
        key = request.headers["X-Api-Key"]
        echoed = f"{request.path_qs} {key}"
        return web.Response(status=500, reason=f"bad {echoed}", text=echoed)

    server = await serve_app(app_with(echo, "/v1/{tail:.*}"))
    obs = await _probe_with_canaries(server.port)
    assert obs.reason is Reason.HTTP_5XX
    assert_no_canary(obs)


async def test_secrets_are_scrubbed_from_parser_errors(raw_server: StartRaw) -> None:
    async def echo_as_status(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 2x0 " + head.strip().replace(b"\r\n", b" ") + b"\r\n\r\n")
        await writer.drain()

    port = await raw_server(echo_as_status)
    obs = await _probe_with_canaries(port)
    assert obs.reason is Reason.INVALID_RESPONSE
    assert "***" in obs.detail  # the echo reached the detail, masked
    assert_no_canary(obs)


async def test_secrets_stay_out_of_timeouts(raw_server: StartRaw) -> None:
    async def silent(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
        await reader.read()

    obs = await _probe_with_canaries(await raw_server(silent))
    assert obs.reason is Reason.TIMEOUT
    assert_no_canary(obs)


# --- building -----------------------------------------------------------------------------------


def test_build_rejects_another_kind() -> None:
    tcp = TcpTarget.model_validate({"name": "t", "kind": "tcp", "address": "127.0.0.1:1"})
    with pytest.raises(TypeError):
        build(tcp, CheckEnv())
