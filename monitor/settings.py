"""The top-level configuration model (SPEC section 3). Loading and error reporting: config.py."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

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


class MaintenanceWindow(Strict):
    targets: list[str] = Field(min_length=1)  # names or globs
    start: str | None = None  # RFC 3339
    end: str | None = None
    cron: str | None = None
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
        seen: set[str] = set()
        filled: list[TargetBase] = []
        for target in self.targets:
            if target.name in seen:
                raise ValueError(f"target name {target.name!r} is used twice")
            seen.add(target.name)
            filled.append(self._with_defaults(target))
        object.__setattr__(self, "targets", filled)
        names = [n.name for n in self.notifiers]
        if len(names) != len(set(names)):
            raise ValueError("notifier names must be unique")
        return self

    def _with_defaults(self, target: TargetBase) -> TargetBase:
        interval = target.interval or type(target).default_interval or self.defaults.interval
        timeout = target.timeout or min(self.defaults.timeout, interval)
        if timeout > interval:
            raise ValueError(
                f"target {target.name!r}: timeout ({timeout:g}s) is longer than its interval "
                f"({interval:g}s)"
            )
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
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)
