"""The answers a faulty venue gives instead of the real one (the "answering" faults), in the
venue's own shape where the venue has one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import orjson
from aiohttp import web

from monitor.simulate.faults import (
    GARBAGE_BODY,
    Fault,
    FaultBook,
    FaultKind,
    Http5xxParams,
    OversizedParams,
    RateLimitParams,
)
from monitor.simulate.venues.base import Answer, Shape

CHUNK_SIZE = 64 * 1024
_FILLER = (b'{"symbol":"BTCUSDT","price":"0.00000000"},' * (CHUNK_SIZE // 40 + 1))[:CHUNK_SIZE]


async def misbehave(
    request: web.Request, faults: FaultBook, stopping: Callable[[], bool],
    answer: Callable[[Fault], Awaitable[web.StreamResponse]],
) -> web.StreamResponse | None:
    """What the active faults do to one request: delay it, answer it instead (`answer`), or
    hold it until the hang ends; None lets it through to the real handler."""
    if stopping():  # also a client's retry of a request we just aborted
        return abort(request)
    path = request.path
    delay = faults.delay(path)
    if delay > 0:
        await asyncio.sleep(delay)
    while (fault := faults.answering(path)) is not None:
        if fault.kind is not FaultKind.HANG:
            return await answer(fault)
        await fault.ended.wait()
        if stopping():
            return abort(request)
    return None


def abort(request: web.BaseRequest) -> web.StreamResponse:
    """Drop the connection without a word (RST). The returned response is never sent."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=499)


def is_upgrade(request: web.BaseRequest) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def venue_answer(request: web.BaseRequest, answer: Answer, *,
                 refused_status: int) -> web.Response:
    """`answer` as a response. A WebSocket handshake is refused with `refused_status` where
    the venue would answer a REST call with an error inside a 200."""
    status = answer.status
    if status < 400 and is_upgrade(request):
        status = refused_status
    body = answer.body
    if isinstance(body, str):
        body = body.encode()
    elif not isinstance(body, bytes):
        body = orjson.dumps(body)
    return web.Response(status=status, body=body, content_type=answer.content_type,
                        headers=dict(answer.headers))


def http_5xx(params: Http5xxParams) -> web.Response:
    assert params.body is not None
    return web.Response(status=params.status, body=params.body.encode(),
                        content_type=params.content_type)


def garbage() -> web.Response:
    # Claims JSON on purpose: a client must not trust the content type.
    return web.Response(status=200, body=GARBAGE_BODY, content_type="application/json")


async def oversized(request: web.BaseRequest, params: OversizedParams) -> web.StreamResponse:
    """A 200 whose body is `params.size` bytes, written chunk by chunk, never held whole."""
    response = web.StreamResponse(status=200, headers={"Content-Type": "application/json"})
    if params.declare_length:
        response.content_length = params.size
    else:
        response.enable_chunked_encoding()
    try:
        await response.prepare(request)
        remaining = params.size
        first = True
        while remaining > 0:
            chunk = (b"[" + _FILLER[1:]) if first else _FILLER
            first = False
            await response.write(chunk[:remaining])
            remaining -= min(remaining, len(chunk))
    except ConnectionError:
        pass  # the client gave up reading, as a careful client should
    return response


async def answer(request: web.BaseRequest, fault: Fault, shape: Shape) -> web.StreamResponse:
    """The response for every answering fault except `hang`, which the venue handles."""
    params = fault.params
    match fault.kind:
        case FaultKind.RESET:
            return abort(request)
        case FaultKind.HTTP_5XX:
            assert isinstance(params, Http5xxParams)
            if params.body is not None:
                return http_5xx(params)
            return venue_answer(request, shape.overloaded(params.status),
                                refused_status=params.status)
        case FaultKind.RATE_LIMIT:
            assert isinstance(params, RateLimitParams)
            return venue_answer(request, shape.rate_limited(params.status, params.retry_after),
                                refused_status=params.status)
        case FaultKind.GEO_BLOCK:
            return venue_answer(request, shape.geo_blocked(), refused_status=451)
        case FaultKind.GARBAGE:
            return garbage()
        case FaultKind.OVERSIZED:
            assert isinstance(params, OversizedParams)
            return await oversized(request, params)
    raise ValueError(f"{fault.kind.value} does not answer requests")
