"""Map network exceptions to a Reason and a short, redacted detail text."""

from __future__ import annotations

import asyncio
import errno
import socket
import ssl

import aiohttp
from aiohttp.http_exceptions import HttpProcessingError

from monitor.observation import Reason
from monitor.redact import scrub

_MAX_DETAIL = 300


def _clean(text: str) -> str:
    """One line, secrets masked, bounded: aiohttp's messages span lines and may quote URLs."""
    return scrub(" ".join(text.split()))[:_MAX_DETAIL]


def _text(exc: BaseException) -> str:
    return _clean(str(exc)) or type(exc).__name__


def classify_exception(exc: BaseException, *, connected: bool) -> tuple[Reason, str]:
    """`connected` tells whether the connection (TCP and TLS) was up when `exc` happened."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return Reason.DNS_ERROR, f"name resolution failed: {_text(exc)}"
    if isinstance(exc, aiohttp.ClientConnectorCertificateError | ssl.SSLCertVerificationError):
        return Reason.TLS_ERROR, f"certificate verification failed: {_text(exc)}"
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):
        return Reason.TLS_ERROR, f"TLS error: {_text(exc)}"
    if isinstance(exc, aiohttp.TooManyRedirects):
        return Reason.INVALID_RESPONSE, "too many redirects"
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return Reason.CONNECT_TIMEOUT, "connect timed out"
    if isinstance(exc, TimeoutError | asyncio.TimeoutError):
        if connected:
            return Reason.TIMEOUT, "timed out waiting for the response"
        return Reason.CONNECT_TIMEOUT, "connect timed out"
    os_error = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(os_error, ConnectionRefusedError):
        return Reason.CONNECT_REFUSED, "connection refused"
    if isinstance(os_error, OSError) and os_error.errno in (errno.ETIMEDOUT,):
        return Reason.CONNECT_TIMEOUT, "connect timed out"
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return Reason.ERROR, "server closed the connection without a response"
    if isinstance(os_error, ConnectionResetError) or (isinstance(exc, aiohttp.ClientOSError) and (
        exc.errno == errno.ECONNRESET
    )):
        return Reason.ERROR, "connection reset by peer"
    if isinstance(exc, aiohttp.ClientResponseError) and isinstance(
        exc.__cause__, HttpProcessingError
    ):
        # aiohttp's parser rejected the status line or headers (garbage, oversized, ...).
        return Reason.INVALID_RESPONSE, f"malformed response: {_clean(exc.__cause__.message)}"
    if isinstance(exc, aiohttp.RedirectClientError):
        return Reason.INVALID_RESPONSE, "redirect to an invalid or non-HTTP URL"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return Reason.INVALID_RESPONSE, f"broken response body: {_text(exc)}"
    if isinstance(exc, aiohttp.InvalidURL):
        return Reason.ERROR, "invalid URL"
    if isinstance(os_error, OSError) and os_error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH):
        return Reason.ERROR, "network unreachable"
    return Reason.ERROR, f"{type(exc).__name__}: {_text(exc)}"
