"""The top-level configuration model (SPEC section 3). Loading and error reporting: config.py."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from croniter import CroniterBadDateError, CroniterError, croniter
from pydantic import AwareDatetime, BeforeValidator, Field, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError, ValidationError

from checks.registry import kinds
from monitor.redact import SECRETS, SecretURL
from monitor.schema import (
    AlertSettings,
    Name,
    PositiveDuration,
    Severity,
    StaticLabels,
    Strict,
    TargetBase,
    format_duration,
)

DEFAULT_INTERVAL = 30.0
DEFAULT_TIMEOUT = 10.0


class Defaults(Strict):
    interval: PositiveDuration = DEFAULT_INTERVAL
    timeout: PositiveDuration = DEFAULT_TIMEOUT
    max_concurrency: Annotated[int, Field(ge=1, le=100_000)] = 256


class AlertDefaults(Strict):
    failure_threshold: Annotated[int, Field(ge=1, le=1000)] = 3
    success_threshold: Annotated[int, Field(ge=1, le=1000)] = 2
    repeat_interval: PositiveDuration = 4 * 3600.0
    severity: Severity = "warning"


class DependencyOutageRule(Strict):
    min_targets: Annotated[int, Field(ge=1)] = 2
    min_ratio: Annotated[float, Field(gt=0, le=1)] = 0.5
    window: PositiveDuration = 120.0


class AlertsSection(Strict):
    defaults: AlertDefaults = Field(default_factory=AlertDefaults)
    group_wait: PositiveDuration = 5.0
    dependency_outage: DependencyOutageRule = Field(default_factory=DependencyOutageRule)


class NotifierMatch(Strict):
    severity: list[Severity] | None = None
    labels: dict[str, str | list[str]] | None = None


class Notifier(Strict):
    name: Name
    type: Literal["webhook", "slack", "discord", "telegram", "pagerduty", "alertmanager"]
    url: SecretURL | None = None
    secret: str | None = None
    token: str | None = None
    chat_id: str | None = None
    routing_key: str | None = None
    match: NotifierMatch = Field(default_factory=NotifierMatch)

    @field_validator("secret", "token", "routing_key")
    @classmethod
    def _register_secret(cls, value: str | None) -> str | None:
        if value:
            SECRETS.add([value])
        return value

    @model_validator(mode="after")
    def _needs_destination(self) -> Notifier:
        if self.type == "telegram":
            if not (self.token and self.chat_id):
                raise ValueError("a telegram notifier needs token and chat_id")
        elif self.type == "pagerduty":
            if not self.routing_key:
                raise ValueError("a pagerduty notifier needs routing_key")
        elif self.url is None:
            raise ValueError(f"a {self.type} notifier needs url")
        return self


def _timestamp_input(value: Any) -> Any:
    # pydantic would also take unix numbers; a window is written as RFC 3339 text
    # (YAML may already have turned an unquoted one into a datetime).
    if not isinstance(value, str | datetime):
        raise ValueError("a time is an RFC 3339 string such as 2026-12-01T02:00:00Z")
    return value


Timestamp = Annotated[AwareDatetime, BeforeValidator(_timestamp_input)]
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*/,?-]+$")
_CRON_CHECKED_FROM = 1_767_225_600.0  # 2026-01-01: a window must have started before some date


def _check_cron(value: Any) -> str | None:
    # A BeforeValidator sees the raw YAML value: anything but a ValueError from here would
    # escape pydantic and crash the loader.
    if value is not None and not isinstance(value, str):
        raise ValueError("a cron expression is a string such as \"0 2 * * SUN\"")
    if value is not None:
        fields = value.split()
        if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
            raise ValueError(
                f"invalid cron {value!r}: use 5 fields (minute hour day month weekday)"
            )
        # croniter is what reads it at run time: what it refuses (a minute of 61, a step of
        # 0) or never matches (February 30th) must not get past loading.
        try:
            croniter(value, _CRON_CHECKED_FROM).get_prev(float)
        except CroniterBadDateError:
            raise ValueError(f"invalid cron {value!r}: it matches no date") from None
        except (CroniterError, ValueError) as exc:
            raise ValueError(f"invalid cron {value!r}: {_first_line(exc)}") from None
    return value


def _first_line(exc: Exception) -> str:
    lines = str(exc).splitlines()
    text = lines[0] if lines else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."


class MaintenanceWindow(Strict):
    targets: list[str] = Field(min_length=1)  # names or globs
    start: Timestamp | None = None
    end: Timestamp | None = None
    cron: Annotated[str | None, BeforeValidator(_check_cron)] = None
    duration: PositiveDuration | None = None
    reason: str | None = None

    @model_validator(mode="after")
    def _one_form(self) -> MaintenanceWindow:
        fixed = self.start is not None or self.end is not None
        recurring = self.cron is not None or self.duration is not None
        if fixed == recurring:
            raise ValueError("give either start and end, or cron and duration")
        if fixed and not (self.start and self.end):
            raise ValueError("a fixed window needs both start and end")
        if recurring and not (self.cron and self.duration):
            raise ValueError("a recurring window needs both cron and duration")
        if self.start and self.end and self.end <= self.start:
            raise ValueError("end must be after start")
        return self


class ServerSettings(Strict):
    admin_token: str | None = None
    history_per_target: Annotated[int, Field(ge=1, le=100_000)] = 200

    @field_validator("admin_token")
    @classmethod
    def _register_secret(cls, value: str | None) -> str | None:
        if value:
            SECRETS.add([value])
        return value


def target_union() -> Any:
    """The discriminated union of every registered kind's model."""
    models = tuple(spec.model for spec in kinds().values())
    return Annotated[
        Annotated[models[0], None] if len(models) == 1 else _union(models),
        Field(discriminator="kind"),
    ]


def _union(models: tuple[type[TargetBase], ...]) -> Any:
    from typing import Union

    return Union[models]  # noqa: UP007  (built at run time from the registry)


class Config(Strict):
    vantage: Name = "default"
    defaults: Defaults = Field(default_factory=Defaults)
    targets: list[target_union()] = Field(default_factory=list)  # type: ignore[valid-type]
    alerts: AlertsSection = Field(default_factory=AlertsSection)
    notifiers: list[Notifier] = Field(default_factory=list)
    maintenance: list[MaintenanceWindow] = Field(default_factory=list)
    server: ServerSettings = Field(default_factory=ServerSettings)
    labels: StaticLabels = Field(default_factory=dict)  # added to every target

    @model_validator(mode="after")
    def _fill_and_check(self) -> Config:
        filled = [self._with_defaults(target) for target in self.targets]
        errors = [
            *_duplicate_names("targets", [t.name for t in filled]),
            *_duplicate_names("notifiers", [n.name for n in self.notifiers]),
            *_timeouts_within_interval(filled),
            *_price_venues_are_streamed(filled),
        ]
        if errors:
            # Raised as a ValidationError so that every problem keeps its own location.
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        object.__setattr__(self, "targets", filled)
        return self

    def _with_defaults(self, target: TargetBase) -> TargetBase:
        interval = target.interval or type(target).default_interval or self.defaults.interval
        timeout = target.timeout or min(self.defaults.timeout, interval)
        alert = AlertSettings.model_construct(
            failure_threshold=target.alert.failure_threshold
            or self.alerts.defaults.failure_threshold,
            success_threshold=target.alert.success_threshold
            or self.alerts.defaults.success_threshold,
            repeat_interval=target.alert.repeat_interval or self.alerts.defaults.repeat_interval,
            severity=target.alert.severity or self.alerts.defaults.severity,
        )
        labels = {**self.labels, **target.labels}
        return target.model_copy(
            update={"interval": interval, "timeout": timeout, "alert": alert, "labels": labels}
        )

    def target(self, name: str) -> TargetBase:
        targets: list[TargetBase] = self.targets
        for target in targets:
            if target.name == name:
                return target
        raise KeyError(name)


def _duplicate_names(section: str, names: list[str]) -> list[InitErrorDetails]:
    first_index: dict[str, int] = {}
    errors: list[InitErrorDetails] = []
    for index, name in enumerate(names):
        if name in first_index:
            error = PydanticCustomError(
                "duplicate_name",
                "name '{name}' is already used by {section}[{first}]",
                {"name": name, "section": section, "first": first_index[name]},
            )
            errors.append({"type": error, "loc": (section, index, "name"), "input": name})
        first_index.setdefault(name, index)
    return errors


def _timeouts_within_interval(targets: list[TargetBase]) -> list[InitErrorDetails]:
    errors: list[InitErrorDetails] = []
    for index, target in enumerate(targets):
        if target.timeout_s > target.interval_s:
            error = PydanticCustomError(
                "timeout_too_long",
                "timeout ({timeout}) is longer than the interval ({interval})",
                {"timeout": format_duration(target.timeout_s),
                 "interval": format_duration(target.interval_s)},
            )
            errors.append(
                {"type": error, "loc": ("targets", index, "timeout"), "input": target.timeout_s}
            )
    return errors


def _price_venues_are_streamed(targets: list[TargetBase]) -> list[InitErrorDetails]:
    """A price check reads what exchange streams receive: every venue it lists needs an
    exchange target on the same market with streams on."""
    from checks.exchange import ExchangeTarget
    from checks.price import PriceTarget

    streamed = {
        (t.exchange, t.market) for t in targets if isinstance(t, ExchangeTarget) and t.streams
    }
    errors: list[InitErrorDetails] = []
    for index, target in enumerate(targets):
        if not isinstance(target, PriceTarget):
            continue
        for position, venue in enumerate(target.venues):
            if (venue, target.market) not in streamed:
                error = PydanticCustomError(
                    "venue_not_streamed",
                    "no exchange target streams {market} on {venue}: add one "
                    "(kind: exchange, exchange: {venue}, market: {market})",
                    {"venue": venue, "market": target.market},
                )
                errors.append({"type": error, "loc": ("targets", index, "venues", position),
                               "input": venue})
    return errors
