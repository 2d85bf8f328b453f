"""`dns`: resolve a name; tell NXDOMAIN, SERVFAIL and timeouts apart; flag poisoned answers."""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, field_validator

from checks.base import CheckEnv, register
from monitor.schema import Address, Strict, TargetBase

RecordType = Literal["A", "AAAA", "CNAME", "TXT", "MX", "NS"]


class DnsExpect(Strict):
    answers_in: list[str] | None = None  # CIDRs; an A/AAAA answer outside all of them is poisoned
    min_answers: int = Field(default=1, ge=0)

    @field_validator("answers_in")
    @classmethod
    def _cidrs(cls, value: list[str] | None) -> list[str] | None:
        for cidr in value or []:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"{cidr!r} is not a CIDR such as 203.0.113.0/24") from None
        return value


class DnsTarget(TargetBase):
    kind: Literal["dns"]
    query: str = Field(min_length=1, max_length=253)
    record: RecordType = "A"
    resolver: Address | None = None  # ip:port; default: the system's resolvers
    transport: Literal["udp", "tcp"] = "udp"
    expect: DnsExpect = Field(default_factory=DnsExpect)


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("dns", DnsTarget, build)
