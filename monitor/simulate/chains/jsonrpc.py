"""JSON-RPC over HTTP as nodes answer it: single requests, batches, notifications, errors.

`style` "2.0" answers every request in JSON-RPC 2.0 (geth, agave, CometBFT). "bitcoin" answers
as Bitcoin Core 28+ does: a request that says "jsonrpc": "2.0" gets a 2.0 reply (an error in
an HTTP 200); any other (1.0 or no version) gets a legacy reply, `{"result", "error", "id"}`,
and when it is a single request that failed, HTTP 500 (404 for an unknown method, 400 for an
invalid request) with the error in the body, as every Bitcoin Core before 28.0 answers.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import orjson

from monitor.simulate.chains.base import METHOD_NOT_FOUND, JsonRpcError

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
_LEGACY_STATUS = {INVALID_REQUEST: 400, METHOD_NOT_FOUND: 404}

Call = Callable[[str, list[Any]], Any]  # the result, or raises JsonRpcError
Style = Literal["2.0", "bitcoin"]


def _reply(request_id: Any, legacy: bool, result: Any = None,
           error: JsonRpcError | None = None) -> dict[str, Any]:
    if legacy:
        return {"result": result, "error": None if error is None else error.encode(),
                "id": request_id}
    if error is not None:
        return {"jsonrpc": "2.0", "id": request_id, "error": error.encode()}
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _one(item: Any, call: Call, style: Style) -> tuple[dict[str, Any] | None, bool]:
    """(the reply to one request or None for a notification, whether it failed)."""
    if not isinstance(item, dict):
        return _reply(None, style == "bitcoin",
                      error=JsonRpcError(INVALID_REQUEST, "Invalid Request object")), True
    legacy = style == "bitcoin" and item.get("jsonrpc") != "2.0"
    request_id = item.get("id")
    notification = not legacy and "id" not in item
    method = item.get("method")
    params = item.get("params", [])
    try:
        if not isinstance(method, str):
            raise JsonRpcError(INVALID_REQUEST, "Method must be a string")
        if params is None:
            params = []
        if not isinstance(params, list):
            raise JsonRpcError(-32602, "only positional parameters are supported")
        result = call(method, params)
    except JsonRpcError as error:
        return (None if notification else _reply(request_id, legacy, error=error)), True
    return (None if notification else _reply(request_id, legacy, result)), False


def answer(raw: bytes, call: Call, style: Style) -> tuple[int, Any]:
    """(HTTP status, JSON document or None for no body) for the request body `raw`."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError:
        error = JsonRpcError(PARSE_ERROR, "Parse error")
        if style == "bitcoin":
            return 500, _reply(None, True, error=error)
        return 200, _reply(None, False, error=error)
    if isinstance(document, list):
        if not document:
            return 200, _reply(None, False,
                               error=JsonRpcError(INVALID_REQUEST, "empty batch"))
        replies = [reply for reply, _ in (_one(item, call, style) for item in document)
                   if reply is not None]
        return (200, replies) if replies else (204, None)
    reply, failed = _one(document, call, style)
    if reply is None:
        return 204, None
    if failed and "jsonrpc" not in reply:  # a legacy single request that failed
        return _LEGACY_STATUS.get(reply["error"]["code"], 500), reply
    return 200, reply
