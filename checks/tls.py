"""`tls`: handshake and certificate: expiry, chain validity, hostname match."""

from __future__ import annotations

from typing import Any, Literal

from checks.base import CheckEnv, register
from monitor.schema import Address, PositiveDuration, TargetBase


class TlsTarget(TargetBase):
    kind: Literal["tls"]
    address: Address
    server_name: str | None = None  # default: the host of `address`
    warn_before: PositiveDuration = 21 * 86400.0
    ca_file: str | None = None  # extra trust anchors (PEM), e.g. a private CA


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("tls", TlsTarget, build)
