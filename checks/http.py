"""`http`: one request per interval on a fresh connection, with phase timings and assertions."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from checks.base import DEFAULT_MAX_BODY, CheckEnv, register
from monitor.redact import SECRETS, SecretURL
from monitor.schema import ByteSize, PositiveDuration, Strict, TargetBase

HttpMethod = Literal["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class HttpExpect(Strict):
    status: list[Annotated[int, Field(ge=100, le=599)]] | None = None  # None: any 2xx
    body_regex: str | None = None
    # dotted path -> expected value, or a comparison string like ">= 100"
    json_paths: dict[str, Any] | None = Field(default=None, alias="json")
    max_latency: PositiveDuration | None = None

    @field_validator("body_regex")
    @classmethod
    def _compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"body_regex does not compile: {exc}") from None
        return value


class HttpTarget(TargetBase):
    kind: Literal["http"]
    url: SecretURL
    method: HttpMethod = "GET"
    headers: dict[str, str] = Field(default_factory=dict)
    body: str | None = None
    json_body: Any = None
    max_body: ByteSize = DEFAULT_MAX_BODY
    max_redirects: Annotated[int, Field(ge=0, le=30)] = 5
    tls_verify: bool = True
    expect: HttpExpect = Field(default_factory=HttpExpect)

    @field_validator("url")
    @classmethod
    def _http_scheme(cls, value: SecretURL) -> SecretURL:
        if value.scheme not in ("http", "https"):
            raise ValueError(f"url must be http:// or https:// (got {value.redacted})")
        return value

    @field_validator("headers")
    @classmethod
    def _headers_are_secret(cls, value: dict[str, str]) -> dict[str, str]:
        SECRETS.add(value.values())
        return value

    @model_validator(mode="after")
    def _one_body(self) -> HttpTarget:
        if self.body is not None and self.json_body is not None:
            raise ValueError("set either body or json_body, not both")
        return self


def build(target: TargetBase, env: CheckEnv) -> Any:
    raise NotImplementedError


register("http", HttpTarget, build)
