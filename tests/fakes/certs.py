"""Certificates for TLS tests: a trustme CA issuing leaf certificates with chosen names and
validity, and the server-side ssl contexts that present them."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import trustme


def in_days(days: float) -> datetime:
    """Now plus `days` (negative: in the past), to the second, in UTC."""
    return (datetime.now(UTC) + timedelta(days=days)).replace(microsecond=0)


@dataclass(frozen=True)
class ServerCert:
    context: ssl.SSLContext  # for asyncio.start_server(..., ssl=context)
    not_after: datetime


class TestCA:
    """A private CA; clients trust it only when told to (ca_file, or SSL_CERT_FILE)."""

    __test__ = False  # not a pytest test class

    def __init__(self) -> None:
        self.ca = trustme.CA()

    def write_pem(self, directory: Path) -> str:
        path = directory / "test-ca.pem"
        self.ca.cert_pem.write_to_path(str(path))
        return str(path)

    def server_cert(self, *names: str, days_left: float = 90.0,
                    valid_for: float = 365.0) -> ServerCert:
        """A leaf for `names` (host names or IP addresses) expiring in `days_left` days;
        its validity started `valid_for - days_left` days ago."""
        not_after = in_days(days_left)
        leaf = self.ca.issue_cert(
            *names,
            common_name=names[0],
            not_before=not_after - timedelta(days=valid_for),
            not_after=not_after,
        )
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        leaf.configure_cert(context)
        return ServerCert(context, not_after)
