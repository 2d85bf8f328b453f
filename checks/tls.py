"""`tls`: handshake and certificate: expiry, chain validity, hostname match.

The first handshake verifies the chain (system trust store plus `ca_file`) and the host
name, as any client would. When verification fails a second handshake, verifying nothing,
fetches the leaf certificate so that its expiry is still reported. Both share the probe's
timeout. OpenSSL checks the host name only after it found a trusted chain, so when the chain
is not trusted `hostname_match` comes from the certificate's subjectAltName instead.
`latency` is the time until the verifying handshake ended (resolution and connect included).
"""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from dataclasses import dataclass
from time import perf_counter
from typing import Any, Literal

from cryptography import x509
from cryptography.x509.oid import NameOID

from checks.base import CheckEnv, ProbeOnly, register
from checks.tcp import (
    MAX_DETAIL,
    Outcome,
    Session,
    client_tls_context,
    error_text,
    is_ip_literal,
)
from monitor.observation import Fact, Observation, Reason
from monitor.redact import scrub
from monitor.schema import Address, PositiveDuration, TargetBase, split_address

DAY = 86400.0
MAX_NAME = 255
# X509_V_ERR_HOSTNAME_MISMATCH, X509_V_ERR_IP_ADDRESS_MISMATCH: OpenSSL reports these only
# after the chain was built up to a trusted root.
NAME_MISMATCH_CODES = frozenset({62, 64})


class TlsTarget(TargetBase):
    kind: Literal["tls"]
    address: Address
    server_name: str | None = None  # default: the host of `address`
    warn_before: PositiveDuration = 21 * 86400.0
    ca_file: str | None = None  # extra trust anchors (PEM), e.g. a private CA


@dataclass(frozen=True)
class Verdict:
    """What the verifying handshake said."""

    chain_valid: bool
    hostname_match: bool | None  # None: OpenSSL stopped before checking the name
    message: str = ""


TRUSTED = Verdict(chain_valid=True, hostname_match=True)


def verdict_of(exc: ssl.SSLCertVerificationError) -> Verdict:
    message = scrub(exc.verify_message or str(exc))[:MAX_DETAIL]
    if exc.verify_code in NAME_MISMATCH_CODES:
        return Verdict(chain_valid=True, hostname_match=False, message=message)
    return Verdict(chain_valid=False, hostname_match=None, message=message)


@dataclass(frozen=True)
class Certificate:
    """What is reported of the leaf certificate."""

    not_before: float  # unix seconds
    not_after: float
    subject: str
    issuer: str
    hostname_match: bool

    def facts(self, now: float) -> dict[str, Any]:
        return {
            Fact.CERT_EXPIRY: self.not_after,
            Fact.CERT_DAYS_LEFT: (self.not_after - now) / DAY,
            "cert_subject": self.subject,
            "cert_issuer": self.issuer,
            "hostname_match": self.hostname_match,
        }


def describe(der: bytes, verdict: Verdict, host: str) -> Certificate:
    """Parse the leaf (DER); raises ValueError when it is malformed."""
    cert = x509.load_der_x509_certificate(der)
    hostname_match = verdict.hostname_match
    if hostname_match is None:
        hostname_match = matches_host(cert, host)
    return Certificate(
        not_before=cert.not_valid_before_utc.timestamp(),
        not_after=cert.not_valid_after_utc.timestamp(),
        subject=common_name(cert.subject),
        issuer=common_name(cert.issuer),
        hostname_match=hostname_match,
    )


def common_name(name: x509.Name) -> str:
    attributes = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if not attributes:
        return name.rfc4514_string()[:MAX_NAME]
    value = attributes[0].value
    text = value if isinstance(value, str) else value.decode("utf-8", "replace")
    return text[:MAX_NAME]


def matches_host(cert: x509.Certificate, host: str) -> bool:
    """subjectAltName matching as OpenSSL does it for Python's ssl module: no CN fallback, a
    wildcard only as the whole left-most label, an IP literal only against IP entries."""
    try:
        names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    if is_ip_literal(host):
        return ipaddress.ip_address(host) in names.get_values_for_type(x509.IPAddress)
    try:
        wanted = host.encode("idna").decode("ascii").rstrip(".").lower()
    except UnicodeError:
        return False
    return any(
        _dns_name_matches(pattern.rstrip(".").lower(), wanted)
        for pattern in names.get_values_for_type(x509.DNSName)
    )


def _dns_name_matches(pattern: str, host: str) -> bool:
    if pattern.startswith("*."):
        label, dot, rest = host.partition(".")
        return bool(label and dot) and rest == pattern[2:]
    return pattern == host


def _span(days: float) -> str:
    if days < 1:
        return "less than a day"
    whole = round(days)
    return "1 day" if whole == 1 else f"{whole} days"


class TlsCheck(ProbeOnly):
    def __init__(self, target: TlsTarget, env: CheckEnv) -> None:
        self.target = target
        self._env = env
        self._host, self._port = split_address(target.address)
        self._server_name = target.server_name or self._host
        self._verifying: ssl.SSLContext | None = None
        self._unverified = client_tls_context(verify=False)

    async def probe(self) -> Observation:
        started_at = self._env.clock.wall()
        try:
            context = self._verifying_context()
        except (OSError, ssl.SSLError) as exc:
            outcome = Outcome(Reason.ERROR, f"cannot load ca_file: {error_text(exc)}")
            return self._observation(started_at, outcome)
        deadline = asyncio.get_running_loop().time() + self.target.timeout_s
        start = perf_counter()
        session = Session(self._host, self._port, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                verdict, leaf = await self._verified_handshake(session, context)
        except TimeoutError:
            outcome = session.timed_out(self.target.timeout_s)
            return self._observation(started_at, outcome, session=session)
        except Exception as exc:
            outcome = session.failure(exc)
            latency = perf_counter() - start if outcome.reason is Reason.TLS_ERROR else None
            return self._observation(started_at, outcome, session=session, latency=latency)
        finally:
            await session.aclose()
        latency = perf_counter() - start
        fetch_error = ""
        if leaf is None:
            leaf, fetch_error = await self._fetch_leaf(deadline)
        outcome, facts = self._judge(verdict, leaf, fetch_error)
        return self._observation(started_at, outcome, session=session, latency=latency,
                                 facts=facts)

    def _verifying_context(self) -> ssl.SSLContext:
        if self._verifying is None:
            self._verifying = client_tls_context(ca_file=self.target.ca_file)
        return self._verifying

    async def _verified_handshake(
        self, session: Session, context: ssl.SSLContext
    ) -> tuple[Verdict, bytes | None]:
        await session.connect()
        try:
            return TRUSTED, await session.start_tls(context, self._server_name)
        except ssl.SSLCertVerificationError as exc:
            return verdict_of(exc), None

    async def _fetch_leaf(self, deadline: float) -> tuple[bytes | None, str]:
        """The leaf certificate from a handshake that verifies nothing, or why there is none."""
        session = Session(self._host, self._port, deadline)
        try:
            async with asyncio.timeout_at(deadline):
                await session.connect()
                return await session.start_tls(self._unverified, self._server_name), ""
        except TimeoutError:
            return None, "timed out"
        except Exception as exc:
            return None, session.failure(exc).detail
        finally:
            await session.aclose()

    def _judge(
        self, verdict: Verdict, leaf: bytes | None, fetch_error: str
    ) -> tuple[Outcome, dict[str, Any]]:
        facts: dict[str, Any] = {"chain_valid": verdict.chain_valid}
        if verdict.hostname_match is not None:
            facts["hostname_match"] = verdict.hostname_match
        if leaf is None:
            failed = self._verdict_outcome(verdict, verdict.hostname_match)
            missing = fetch_error or "the server sent none"
            detail = f"{failed.detail} (certificate not read: {missing})"
            return Outcome(failed.reason, detail), facts
        try:
            cert = describe(leaf, verdict, self._server_name)
        except ValueError as exc:
            return Outcome(Reason.TLS_ERROR, f"certificate not parseable: {error_text(exc)}"), facts
        now = self._env.clock.wall()
        facts.update(cert.facts(now))
        return self._grade(verdict, cert, now), facts

    def _grade(self, verdict: Verdict, cert: Certificate, now: float) -> Outcome:
        days_left = (cert.not_after - now) / DAY
        if days_left < 0:
            return Outcome(Reason.TLS_ERROR, f"certificate expired {_span(-days_left)} ago")
        if now < cert.not_before:
            wait = _span((cert.not_before - now) / DAY)
            return Outcome(Reason.TLS_ERROR, f"certificate not valid for another {wait}")
        outcome = self._verdict_outcome(verdict, cert.hostname_match)
        if outcome.reason is not Reason.OK:
            return outcome
        if days_left * DAY < self.target.warn_before:
            return Outcome(Reason.DEGRADED, f"certificate expires in {_span(days_left)}")
        return Outcome(Reason.OK, f"certificate valid for {_span(days_left)}")

    def _verdict_outcome(self, verdict: Verdict, hostname_match: bool | None) -> Outcome:
        if not verdict.chain_valid:
            return Outcome(Reason.TLS_ERROR, f"certificate chain not trusted: {verdict.message}")
        if hostname_match is False:
            return Outcome(
                Reason.TLS_ERROR, f"certificate does not match host {self._server_name}"
            )
        return Outcome(Reason.OK)

    def _observation(
        self,
        started_at: float,
        outcome: Outcome,
        *,
        session: Session | None = None,
        latency: float | None = None,
        facts: dict[str, Any] | None = None,
    ) -> Observation:
        all_facts = dict(facts or {})
        if session is not None and session.peer:
            all_facts[Fact.PEER] = session.peer
        return Observation(
            target=self.target.name,
            started_at=started_at,
            reason=outcome.reason,
            latency=latency,
            detail=scrub(outcome.detail)[:MAX_DETAIL],
            phases=dict(session.phases) if session is not None else {},
            facts=all_facts,
        )


def build(target: TargetBase, env: CheckEnv) -> TlsCheck:
    assert isinstance(target, TlsTarget)
    return TlsCheck(target, env)


register("tls", TlsTarget, build)
