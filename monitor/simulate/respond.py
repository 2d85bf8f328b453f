"""The answers a faulty venue gives instead of the real one (the "answering" faults)."""

from __future__ import annotations

import time

from aiohttp import web

from monitor.simulate.faults import (
    GARBAGE_BODY,
    IP_BANNED_BODY,
    RESTRICTED_LOCATION_BODY,
    TOO_MUCH_WEIGHT_BODY,
    Fault,
    FaultKind,
    Http5xxParams,
    OversizedParams,
    RateLimitParams,
)

CHUNK_SIZE = 64 * 1024
_FILLER = (b'{"symbol":"BTCUSDT","price":"0.00000000"},' * (CHUNK_SIZE // 40 + 1))[:CHUNK_SIZE]


def abort(request: web.BaseRequest) -> web.StreamResponse:
    """Drop the connection without a word (RST). The returned response is never sent."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=499)


def json_error(status: int, body: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=body, content_type="application/json",
                        headers=headers)


def http_5xx(params: Http5xxParams) -> web.Response:
    return web.Response(status=params.status, body=params.body.encode(),
                        content_type=params.content_type)


def rate_limited(params: RateLimitParams) -> web.Response:
    headers = {"Retry-After": str(params.retry_after)}
    if params.status == 418:
        until = int((time.time() + params.retry_after) * 1000)
        return json_error(418, IP_BANNED_BODY.replace("{until}", str(until)), headers)
    return json_error(429, TOO_MUCH_WEIGHT_BODY, headers)


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


async def answer(request: web.BaseRequest, fault: Fault) -> web.StreamResponse:
    """The response for every answering fault except `hang`, which the venue handles."""
    params = fault.params
    match fault.kind:
        case FaultKind.RESET:
            return abort(request)
        case FaultKind.HTTP_5XX:
            assert isinstance(params, Http5xxParams)
            return http_5xx(params)
        case FaultKind.RATE_LIMIT:
            assert isinstance(params, RateLimitParams)
            return rate_limited(params)
        case FaultKind.GEO_BLOCK:
            return json_error(451, RESTRICTED_LOCATION_BODY)
        case FaultKind.GARBAGE:
            return garbage()
        case FaultKind.OVERSIZED:
            assert isinstance(params, OversizedParams)
            return await oversized(request, params)
    raise ValueError(f"{fault.kind.value} does not answer requests")
