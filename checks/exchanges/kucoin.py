"""KuCoin, spot (classic API).

Documented facts relied on (kucoin.com/docs and kucoin.com/docs-new):
- Answers are {"code":"200000","data":...}; any other code is an error (the code is a string).
- Server time: GET /api/v1/timestamp, data = milliseconds.
- Service status: GET /api/v1/status, data = {"status":"open|close|cancelonly","msg":...};
  open = normal trading, close = "Stop Trading/Maintenance", cancelonly = "can only cancel the
  order but not place order".
- Errors: 429000 when a rate-limit resource pool is used up (HTTP 429); 500000 "Internal Server
  Error"; 1015 Cloudflare IP rate limit and 200002 per-endpoint rate limit (rate limit 1.0
  page); 400301 "Operation restricted due to local laws, regulations, or policies" (gateway codes,
  "Regional & KYC Limitations"); 400500 "Your located country/region is currently not supported
  for the trading of this token".
- Rate-limit headers on answers: gw-ratelimit-limit (pool quota), gw-ratelimit-remaining,
  gw-ratelimit-reset (ms countdown).
- WebSocket: POST /api/v1/bullet-public (spot REST base) returns {"code":"200000","data":{"token",
  "instanceServers":[{"endpoint","encrypt","protocol","pingInterval":18000,"pingTimeout":10000}]}}
  (milliseconds); connect to "<endpoint>?token=<token>&connectId=<client-chosen id>"; the server
  first sends {"id":<connectId>,"type":"welcome"}; the client sends {"id":..,"type":"ping"} every
  pingInterval and gets {"id":..,"type":"pong"}; subscribe {"id":..,"type":"subscribe","topic":
  "/market/match:BTC-USDT","privateChannel":false,"response":true} is acknowledged with
  {"id":..,"type":"ack"}; errors carry "type":"error" with the connectId as id.
- /market/match pushes {"type":"message","topic":"/market/match:BTC-USDT","subject":
  "trade.l3match","data":{"sequence","price","size","time" (nanoseconds, string),"tradeId",
  "side","symbol","type":"match","makerOrderId","takerOrderId"}}.
- Spot symbols are spelled BASE-QUOTE (BTC-USDT).

Choices and what could not be confirmed:
- status close and cancelonly both count as maintenance (no new orders can trade either way).
- No sequence is reported: the match "sequence" is the order book's engine sequence, which also
  advances for orders that do not trade, so gaps on this topic are not lost messages (the
  docs do not call it consecutive).
- The token is a credential: it and the tokenised URL are registered with the redactor; the token
  is percent-encoded in the query.
- The exact fields of a WebSocket error frame beyond "type":"error" and its id are not shown in
  the docs; "code" and "data" are read when present.
- The gw-ratelimit-* headers may only come with private (authenticated) calls; absent, no ratio.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import orjson

from checks.exchanges.base import (
    Market,
    RestCall,
    VenueAdapter,
    VenueStatus,
    Verdict,
    register_adapter,
    unknown_code_reason,
)
from checks.exchanges.parsing import (
    header_integer,
    integer,
    json_frame,
    millis_to_seconds,
    nanos_to_seconds,
    price,
    short,
    shown,
)
from checks.http import read_capped
from checks.stream import EventKind, Keepalive, StreamEvent
from monitor.observation import Reason
from monitor.redact import SECRETS, url_secret_fragments

OK_CODE = "200000"
BULLET_PATH = "/api/v1/bullet-public"
BULLET_TIMEOUT = 10.0  # seconds for the whole token request
BULLET_MAX_BODY = 64 * 1024  # a real answer is well under 2 KiB
PING_FRAME = '{"id":"1","type":"ping"}'

_MALFORMED = StreamEvent(EventKind.IGNORE, detail="malformed frame")

CODES: dict[str, Reason] = {
    "429000": Reason.RATE_LIMITED,  # resource pool quota used up
    "200002": Reason.RATE_LIMITED,  # per-endpoint rate limit (rate limit 1.0)
    "1015": Reason.RATE_LIMITED,  # Cloudflare IP rate limit
    "500000": Reason.HTTP_5XX,  # Internal Server Error
    "400301": Reason.GEO_BLOCKED,  # restricted due to local laws, regulations, or policies
    "400500": Reason.GEO_BLOCKED,  # located country/region not supported
}
MAINTENANCE_STATUSES = {"close": True, "cancelonly": True, "open": False}


def _ping_seconds(value: Any, name: str) -> float:
    """A positive duration in milliseconds (bullet pingInterval/pingTimeout) as seconds."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} is not a number")
    if not math.isfinite(value) or not 0 < value <= 3_600_000:
        raise ValueError(f"implausible {name} {value!r}")
    return value / 1000


@register_adapter
class KucoinAdapter(VenueAdapter):
    name = "kucoin"
    rest_url = "https://api.kucoin.com"
    ws_url = "wss://ws-api-spot.kucoin.com"  # only a fallback: endpoint() asks the bullet
    time_call = RestCall("/api/v1/timestamp")
    status_call = RestCall("/api/v1/status")
    keepalive = Keepalive(interval=18.0, frame=PING_FRAME, timeout=10.0)

    def venue_symbol(self, market: Market) -> str:
        return f"{market.base}-{market.quote}"

    @property
    def topic(self) -> str:
        return f"/market/match:{self.symbol}"

    # -- REST --------------------------------------------------------------------------

    def _data(self, body: Any) -> Any:
        if body["code"] != OK_CODE:
            raise ValueError(f"code {shown(body['code'], 20)} is not {OK_CODE}")
        return body["data"]

    def parse_time(self, body: Any) -> float:
        return millis_to_seconds(integer(self._data(body)))

    def parse_status(self, body: Any) -> VenueStatus:
        data = self._data(body)
        status = data["status"]
        if not isinstance(status, str) or status not in MAINTENANCE_STATUSES:
            raise ValueError(f"unknown service status {shown(status, 40)}")
        message = data.get("msg")
        detail = f"{status}: {message}" if isinstance(message, str) and message else status
        return VenueStatus(maintenance=MAINTENANCE_STATUSES[status], detail=detail[:200])

    def venue_error(self, http_status: int, body: Any) -> Verdict | None:
        if not isinstance(body, dict) or "code" not in body:
            return None
        code = body["code"]
        if code == OK_CODE:
            return None
        message = body.get("msg")
        detail = f"code {short(code, 20)}: {message if isinstance(message, str) else ''}"[:200]
        if isinstance(code, str):
            return CODES.get(code) or unknown_code_reason(http_status), detail
        return Reason.INVALID_RESPONSE, detail

    def rate_limit_used_ratio(self, headers: Mapping[str, str]) -> float | None:
        limit = header_integer(headers, "gw-ratelimit-limit")
        remaining = header_integer(headers, "gw-ratelimit-remaining")
        if limit is None or remaining is None or limit <= 0:
            return None
        return min(1.0, max(0.0, 1.0 - remaining / limit))

    # -- stream ------------------------------------------------------------------------

    async def endpoint(self) -> str:
        """Ask for a public token and server, and return the tokenised WebSocket URL. Also
        adopts the server's ping interval and timeout as this instance's keepalive."""
        body = await self._fetch_bullet()
        data = self._data(body)
        token = data["token"]
        if not isinstance(token, str) or not token:
            raise ValueError("bullet token missing")
        SECRETS.renew(self, [token])  # one per connection: renewed, never piled up
        servers = data["instanceServers"]
        if not isinstance(servers, list) or not servers or not isinstance(servers[0], dict):
            raise ValueError("bullet has no instance server")
        server = servers[0]
        base = server["endpoint"]
        if not isinstance(base, str) or urlsplit(base).scheme not in ("ws", "wss"):
            raise ValueError("bullet endpoint is not a ws:// or wss:// URL")
        interval = _ping_seconds(server["pingInterval"], "pingInterval")
        timeout = _ping_seconds(server["pingTimeout"], "pingTimeout")
        separator = "&" if "?" in base else "?"
        url = f"{base}{separator}token={quote(token, safe='')}&connectId={uuid.uuid4().hex}"
        SECRETS.renew(self, [token, *url_secret_fragments(url)])
        self.keepalive = Keepalive(interval=interval, frame=PING_FRAME, timeout=timeout)
        return url

    async def _fetch_bullet(self) -> Any:
        # asyncio.timeout bounds the whole request precisely (aiohttp rounds long timeouts up).
        async with (
            asyncio.timeout(BULLET_TIMEOUT),
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session,
            session.post(self.rest_base + BULLET_PATH, allow_redirects=False) as response,
        ):
            raw = await read_capped(response, BULLET_MAX_BODY)
            status = response.status
        if raw is None:
            raise ValueError(f"bullet answer larger than {BULLET_MAX_BODY} bytes")
        if status != 200:
            try:
                verdict = self.venue_error(status, orjson.loads(raw))
            except orjson.JSONDecodeError:
                verdict = None
            why = f": {verdict[1]}" if verdict is not None else ""
            raise ValueError(f"bullet request answered HTTP {status}{why}")
        return orjson.loads(raw)

    def subscribe_frames(self) -> Sequence[str]:
        frame = {
            "id": "1",
            "type": "subscribe",
            "topic": self.topic,
            "privateChannel": False,
            "response": True,
        }
        return [orjson.dumps(frame).decode()]

    def classify(self, frame: str | bytes) -> StreamEvent:
        try:
            return self._classify(json_frame(frame))
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, RecursionError):
            return _MALFORMED

    def _classify(self, message: Any) -> StreamEvent:
        if not isinstance(message, dict):
            return _MALFORMED
        kind = message.get("type")
        if kind == "message":
            return self._match(message)
        if kind == "pong":
            return StreamEvent(EventKind.PONG)
        if kind == "ack":
            return StreamEvent(EventKind.ACK, channel=self.topic)
        if kind == "welcome":
            return StreamEvent(EventKind.IGNORE, detail="welcome")
        if kind == "error":
            code, data = message.get("code"), message.get("data")
            text = data if isinstance(data, str) else ""
            return StreamEvent(EventKind.ERROR, detail=f"error {short(code, 20)}: {text}"[:200])
        return StreamEvent.ignore()

    def _match(self, message: dict[str, Any]) -> StreamEvent:
        if message["topic"] != self.topic or message.get("subject") != "trade.l3match":
            return StreamEvent.ignore()
        data = message["data"]
        if not isinstance(data, dict):
            raise TypeError("data is not an object")
        return StreamEvent(
            EventKind.DATA,
            event_time=nanos_to_seconds(integer(data["time"])),
            price=price(data["price"], max_text=None),
            channel=self.topic,
        )
