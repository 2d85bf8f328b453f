"""Config building blocks shared by the top-level config and every check kind's model."""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

from monitor.redact import SecretURL

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|s|m|h|d)")
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Label names outagemon itself puts on metrics or alerts; a static label may not shadow them.
RESERVED_LABELS = frozenset(
    {
        "target", "kind", "provider", "state", "reason", "phase", "chain", "market", "venue",
        "component", "dependency", "alertname", "severity", "vantage", "notifier", "result",
        "version", "le", "quantile", "instance", "job",
    }
)
MAX_STATIC_LABELS = 5


def parse_duration(value: Any) -> float:
    """'500ms', '15s', '5m', '4h', '1d', '1h30m' -> seconds. Bare numbers are rejected."""
    if isinstance(value, bool) or not isinstance(value, str):
        raise ValueError("a duration is a string with a unit, such as 500ms, 15s, 5m or 4h")
    text = value.strip()
    pos = 0
    total = 0.0
    for match in _DURATION_PART.finditer(text):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(text) or not text:
        raise ValueError(f"invalid duration {value!r}: use a number and a unit (ms, s, m, h, d)")
    if not math.isfinite(total):  # so many digits that they overflow a float
        raise ValueError(f"duration {value!r} is too long")
    return total


def format_duration(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"


def _positive(value: float) -> float:
    if value <= 0:
        raise ValueError("must be greater than zero")
    return value


Duration = Annotated[float, BeforeValidator(parse_duration)]
PositiveDuration = Annotated[float, BeforeValidator(parse_duration), AfterValidator(_positive)]
Name = Annotated[str, Field(pattern=NAME_PATTERN, max_length=128)]
Severity = Literal["critical", "warning", "info"]


def _check_labels(labels: dict[str, str]) -> dict[str, str]:
    if len(labels) > MAX_STATIC_LABELS:
        raise ValueError(f"at most {MAX_STATIC_LABELS} static labels are allowed")
    for key in labels:
        if not LABEL_NAME.match(key) or key.startswith("__"):
            raise ValueError(f"{key!r} is not a valid Prometheus label name")
        if key in RESERVED_LABELS:
            raise ValueError(f"label {key!r} is reserved by outagemon")
    return labels


StaticLabels = Annotated[dict[str, str], AfterValidator(_check_labels)]


def _compiles(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"regular expression does not compile: {exc}") from None
    return value


def _register_header_secrets(headers: dict[str, str]) -> dict[str, str]:
    from monitor.redact import SECRETS

    SECRETS.add(headers.values())
    return headers


def _require_scheme(*schemes: str) -> Callable[[SecretURL], SecretURL]:
    shown = " or ".join(f"{scheme}://" for scheme in schemes)

    def check(url: SecretURL) -> SecretURL:
        if url.scheme not in schemes:
            raise ValueError(f"must be {shown} (got {url.redacted})")
        return url

    return check


Regex = Annotated[str, AfterValidator(_compiles)]
# URLs may carry API keys: they print redacted (monitor.redact.SecretURL).
HttpURL = Annotated[SecretURL, AfterValidator(_require_scheme("http", "https"))]
WsURL = Annotated[SecretURL, AfterValidator(_require_scheme("ws", "wss"))]
# Header values often carry API keys or tokens: they are registered as secrets.
SecretHeaders = Annotated[dict[str, str], AfterValidator(_register_header_secrets)]


class Strict(BaseModel):
    """Base for every config model: unknown keys are errors, values are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, coerce_numbers_to_str=True)


class AlertSettings(Strict):
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    success_threshold: Annotated[int, Field(ge=1, le=1000)] | None = None
    repeat_interval: PositiveDuration | None = None
    severity: Severity | None = None


class TargetBase(Strict):
    """Keys every target has. Each kind subclasses this with `kind: Literal[...]` and its own keys.

    `interval` and `timeout` are None until the loader fills them from `defaults` (or from the
    kind's `default_interval`); after loading they are always set.
    """

    default_interval: ClassVar[float | None] = None

    name: Name
    kind: str
    provider: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    depends_on: list[Name] = Field(default_factory=list)
    labels: StaticLabels = Field(default_factory=dict)
    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    alert: AlertSettings = Field(default_factory=AlertSettings)

    @property
    def is_stream(self) -> bool:
        """Streams are watched for one interval before `check` reports them."""
        return False

    @property
    def reads_streams(self) -> bool:
        """Judges what other targets' streams saw (price): `check` runs it after them."""
        return False

    @property
    def provider_label(self) -> str:
        return self.provider or self.name

    @property
    def interval_s(self) -> float:
        assert self.interval is not None, "interval is filled in by the loader"
        return self.interval

    @property
    def timeout_s(self) -> float:
        assert self.timeout is not None, "timeout is filled in by the loader"
        return self.timeout

    def fingerprint(self) -> str:
        """Stable identity of the definition: unchanged definitions keep state over reloads.

        URLs dump as their redacted form, which carries a hash of the full URL, so a changed
        key changes the fingerprint without the key itself being hashed here.
        """
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()


_SIZE = re.compile(r"^\s*(\d+)\s*(B|KB|KiB|MB|MiB|GB|GiB)?\s*$")
_SIZE_UNITS = {None: 1, "B": 1, "KB": 1000, "KiB": 1024, "MB": 10**6, "MiB": 2**20,
               "GB": 10**9, "GiB": 2**30}


def parse_size(value: Any) -> int:
    """1048576, '512KiB', '1MiB' -> bytes."""
    if isinstance(value, bool):
        raise ValueError("a size is a number of bytes or a string such as 512KiB or 1MiB")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and (match := _SIZE.match(value)):
        return int(match.group(1)) * _SIZE_UNITS[match.group(2)]
    raise ValueError(f"invalid size {value!r}: use bytes or a unit (KiB, MiB, GiB)")


ByteSize = Annotated[int, BeforeValidator(parse_size), Field(ge=1, le=2**31)]


def parse_address(value: Any) -> str:
    """'host:port' or '[v6]:port'; returns it unchanged once checked."""
    if not isinstance(value, str):
        raise ValueError("an address is a string host:port")
    host, port = split_address(value)
    if not host:
        raise ValueError(f"address {value!r} has no host")
    if not 0 < port < 65536:
        raise ValueError(f"address {value!r} has an invalid port")
    return value


def split_address(value: str) -> tuple[str, int]:
    if value.startswith("["):
        host, sep, rest = value[1:].partition("]")
        if not sep or not rest.startswith(":"):
            raise ValueError(f"address {value!r} must look like [v6addr]:port")
        port_text = rest[1:]
    else:
        host, sep, port_text = value.rpartition(":")
        if not sep or ":" in host:
            raise ValueError(f"address {value!r} must look like host:port")
    if not port_text.isdigit():
        raise ValueError(f"address {value!r} has an invalid port")
    return host, int(port_text)


Address = Annotated[str, BeforeValidator(parse_address)]
