"""`tcp`: connect (optionally with TLS), optionally send a line and expect a regex."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import field_validator

from checks.base import CheckEnv, register
from monitor.schema import Address, ByteSize, TargetBase


class TcpTarget(TargetBase):
    kind: Literal["tcp"]
    address: Address
    tls: bool = False
    server_name: str | None = None
    tls_verify: bool = True
    send: str | None = None
    expect: str | None = None  # regex matched against what the server sends
    max_read: ByteSize = 64 * 1024

    @field_validator("expect")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"expect does not compile: {exc}") from None
        return value


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("tcp", TcpTarget, build)
