"""Config loading: env substitution, line numbers, readable errors, and no leaked secrets."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from monitor import config as config_module
from monitor.config import (
    ConfigError,
    ConfigIssue,
    load_config,
    load_config_text,
    validate_command,
)
from monitor.settings import Config

CONFIGS = Path(__file__).parent / "configs"
INVALID = sorted((CONFIGS / "invalid").glob("*.yaml"))
VALID = sorted((CONFIGS / "valid").glob("*.yaml"))
SPEC_ENV = {
    "OPS_WEBHOOK_URL": "https://hooks.example.com/services/T0001/B0001/abcdefghijkl",
    "OPS_WEBHOOK_SECRET": "s3cret#with: 'yaml' \"syntax\"",
}


def header(path: Path) -> tuple[str, int | None]:
    """The `# expect:` substring and optional `# line:` of an invalid config."""
    lines = path.read_text(encoding="utf-8").splitlines()
    expect = lines[0].removeprefix("# expect: ")
    assert expect != lines[0], f"{path.name} must start with '# expect: '"
    line = None
    if len(lines) > 1 and lines[1].startswith("# line: "):
        line = int(lines[1].removeprefix("# line: "))
    return expect, line


def load_error(text: str, env: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, file="test.yaml", env=env or {})
    return caught.value


def http_target(extra: str = "", url: str = "https://example.com/") -> str:
    return f"targets:\n  - name: a\n    kind: http\n    url: {url}\n{extra}"


# --- the folder of invalid configs ---------------------------------------------------------


def test_the_invalid_folder_covers_enough_cases() -> None:
    assert len(INVALID) >= 25


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_invalid_config_is_refused_with_the_expected_issue(path: Path) -> None:
    expect, line = header(path)
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    error = caught.value
    assert expect in str(error)
    assert all(issue.file == str(path) for issue in error.issues)
    if line is not None:
        assert error.issues[0].line == line, str(error)


def test_validate_command_prints_issues_and_returns_2() -> None:
    out = io.StringIO()
    assert validate_command(CONFIGS / "invalid" / "unknown_kind.yaml", out=out) == 2
    printed = out.getvalue().splitlines()
    assert len(printed) == 1
    assert printed[0].startswith(
        f"{CONFIGS / 'invalid' / 'unknown_kind.yaml'}:4: targets[0](a): "
        "unknown kind 'htp' (expected one of: "
    )


def test_validate_command_reports_a_valid_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OUTAGEMON_VANTAGE", raising=False)
    out = io.StringIO()
    assert validate_command(CONFIGS / "valid" / "all_kinds.yaml", out=out) == 0
    assert out.getvalue() == "config OK: 4 targets\n"


# --- valid configs ------------------------------------------------------------------------


@pytest.mark.parametrize("path", VALID, ids=lambda p: p.stem)
def test_valid_config_loads(path: Path) -> None:
    config = load_config(path, env=SPEC_ENV)
    assert config.targets
    assert all(t.interval is not None and t.timeout is not None for t in config.targets)


def test_spec_example_loads_with_its_notifier_settings_from_env() -> None:
    config = load_config(CONFIGS / "valid" / "spec_example.yaml", env=SPEC_ENV)
    target = config.target("binance-spot")
    assert (target.interval, target.timeout) == (15.0, 5.0)
    assert target.depends_on == ["aws-ap-northeast-1", "cloudflare"]
    assert target.labels == {"tier": "1"}
    assert target.alert.severity == "critical"
    assert config.alerts.defaults.repeat_interval == 4 * 3600
    assert config.alerts.dependency_outage.window == 120
    notifier = config.notifiers[0]
    assert notifier.url is not None
    assert notifier.url.reveal() == SPEC_ENV["OPS_WEBHOOK_URL"]
    assert notifier.secret == SPEC_ENV["OPS_WEBHOOK_SECRET"]
    assert config.maintenance[0].start == datetime(2026, 12, 1, 2, tzinfo=UTC)


def test_spec_example_needs_its_env_vars() -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(CONFIGS / "valid" / "spec_example.yaml", env={})
    messages = [issue.message for issue in caught.value.issues]
    assert len(messages) == 2
    assert "environment variable OPS_WEBHOOK_URL is not set" in messages[0]
    assert "environment variable OPS_WEBHOOK_SECRET is not set" in messages[1]


def test_merge_keys_share_a_definition() -> None:
    config = load_config(CONFIGS / "valid" / "anchors.yaml", env={})
    spot, futures = config.targets
    assert futures.name == "binance-futures"
    assert (futures.provider, futures.interval, futures.depends_on) == (
        spot.provider,
        spot.interval,
        spot.depends_on,
    )
    assert futures.url.reveal() == "https://fapi.binance.com/fapi/v1/ping"


# --- environment substitution --------------------------------------------------------------


def test_env_default_is_used_when_the_variable_is_unset_or_empty() -> None:
    text = "vantage: ${VANTAGE:-eu-west-1}\n"
    assert load_config_text(text, env={}).vantage == "eu-west-1"
    assert load_config_text(text, env={"VANTAGE": ""}).vantage == "eu-west-1"
    assert load_config_text(text, env={"VANTAGE": "us-east-1"}).vantage == "us-east-1"


def test_env_value_replaces_part_of_a_value() -> None:
    text = http_target(url="https://api.example.com/${API_PATH}/ping")
    config = load_config_text(text, env={"API_PATH": "v3"})
    assert config.targets[0].url.reveal() == "https://api.example.com/v3/ping"


def test_double_dollar_is_a_literal_reference() -> None:
    config = load_config_text(http_target("    body: $${TOKEN} and ${X:-x}\n"), env={"TOKEN": "t"})
    assert config.targets[0].body == "${TOKEN} and x"


def test_secret_with_yaml_syntax_stays_one_string() -> None:
    secret = "abc#def: 'ghi' \"jkl\" {x: [1]}"
    text = http_target("    headers:\n      Authorization: ${AUTH}\n")
    config = load_config_text(text, env={"AUTH": secret})
    assert config.targets[0].headers == {"Authorization": secret}


def test_substituted_value_is_not_scanned_again() -> None:
    text = http_target("    headers: {X: '${A}'}\n")
    config = load_config_text(text, env={"A": "${B}", "B": "b"})
    assert config.targets[0].headers == {"X": "${B}"}


def test_plain_scalar_is_retyped_after_substitution() -> None:
    text = http_target("    alert:\n      failure_threshold: ${N:-3}\n    json_body: ${BODY}\n")
    target = load_config_text(text, env={"BODY": "false"}).targets[0]
    assert target.alert.failure_threshold == 3
    assert target.json_body is False
    target = load_config_text(text, env={"N": "7", "BODY": "12"}).targets[0]
    assert target.alert.failure_threshold == 7
    assert target.json_body == 12
    assert load_config_text(text, env={"BODY": "'12'"}).targets[0].json_body == "'12'"


def test_quoted_scalar_stays_a_string_after_substitution() -> None:
    config = load_config_text(http_target('    provider: "${P}"\n'), env={"P": "123"})
    assert config.targets[0].provider == "123"
    # unquoted, it is re-typed as a number, which a string field accepts as its text
    config = load_config_text(http_target("    provider: ${P}\n"), env={"P": "123"})
    assert config.targets[0].provider == "123"


def test_a_missing_variable_is_reported_once_not_again_by_validation() -> None:
    error = load_error(http_target(url="${URL}"))
    assert len(error.issues) == 1
    assert error.issues[0] == ConfigIssue(
        "test.yaml",
        4,
        "targets[0](a).url",
        "environment variable URL is not set (use ${URL:-default} for a default)",
    )


# --- structure, defaults, locations --------------------------------------------------------


def test_defaults_fill_interval_timeout_alerts_and_labels() -> None:
    text = """
defaults: {interval: 5s, timeout: 10s}
labels: {team: infra}
alerts:
  defaults: {failure_threshold: 4, severity: info}
targets:
  - name: a
    kind: http
    url: https://example.com/
    labels: {tier: "1"}
  - name: b
    kind: tcp
    address: example.com:443
    interval: 1m
"""
    a, b = load_config_text(text, env={}).targets
    assert (a.interval, a.timeout) == (5.0, 5.0)  # the timeout never exceeds the interval
    assert (b.interval, b.timeout) == (60.0, 10.0)
    assert a.labels == {"team": "infra", "tier": "1"}
    alert = a.alert
    assert (alert.failure_threshold, alert.success_threshold, alert.severity) == (4, 2, "info")


def test_mapping_keys_are_always_strings() -> None:
    text = http_target("    headers:\n      On: 'yes'\n      Off: 'no'\n")
    assert load_config_text(text, env={}).targets[0].headers == {"On": "yes", "Off": "no"}


def test_every_problem_is_reported_in_file_order() -> None:
    text = """targets:
  - name: a
    kind: http
    url: https://example.com/
    interval: 5 minutes
  - name: b
    kind: http
    url: https://example.com/
    urll: https://example.com/
vantage: Bad Vantage
server: {history_per_target: 0}
"""
    error = load_error(text)
    assert [(issue.line, issue.path) for issue in error.issues] == [
        (5, "targets[0](a).interval"),
        (9, "targets[1](b).urll"),
        (10, "vantage"),
        (11, "server.history_per_target"),
    ]


def test_missing_key_points_at_the_mapping_that_lacks_it() -> None:
    error = load_error("vantage: a\nnotifiers:\n  - type: slack\n    url: https://x.example/\n")
    assert error.issues == [
        ConfigIssue("test.yaml", 3, "notifiers[0].name", "missing required key 'name'")
    ]


def test_issue_and_error_formatting() -> None:
    with_line = ConfigIssue("c.yaml", 3, "targets[0](a).url", "missing required key 'url'")
    whole_file = ConfigIssue("c.yaml", None, "", "the config file is empty")
    assert str(with_line) == "c.yaml:3: targets[0](a).url: missing required key 'url'"
    assert str(whole_file) == "c.yaml: the config file is empty"
    assert str(ConfigError([with_line, whole_file])) == f"{with_line}\n{whole_file}"


def test_config_model_locates_duplicate_names_itself() -> None:
    from pydantic import ValidationError

    target = {"name": "a", "kind": "tcp", "address": "example.com:443"}
    with pytest.raises(ValidationError) as caught:
        Config.model_validate({"targets": [target, target]})
    assert caught.value.errors()[0]["loc"] == ("targets", 1, "name")


# --- files ---------------------------------------------------------------------------------


def test_non_utf8_bytes_are_refused_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"vantage: eu\nlabels:\n  city: M\xfcnchen\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path, env={})
    (issue,) = caught.value.issues
    assert issue.line == 3
    assert "not valid UTF-8 (byte 0xfc)" in issue.message


def test_oversized_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "MAX_CONFIG_BYTES", 64)
    path = tmp_path / "big.yaml"
    path.write_text("vantage: a\n" * 10)
    with pytest.raises(ConfigError, match="larger than"):
        load_config(path, env={})


def test_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read: No such file"):
        load_config(tmp_path / "absent.yaml", env={})


def test_path_comes_from_outagemon_config_when_not_given(tmp_path: Path) -> None:
    path = tmp_path / "from-env.yaml"
    path.write_text("vantage: from-env\n")
    assert load_config(env={"OUTAGEMON_CONFIG": str(path)}).vantage == "from-env"


# --- secrets -------------------------------------------------------------------------------


def test_env_value_is_not_echoed_in_errors() -> None:
    secret = "hunter2-very-secret-value"
    error = load_error(http_target("    interval: ${SECRET}\n"), env={"SECRET": secret})
    assert "invalid duration" in str(error)
    assert secret not in str(error)


def test_url_secrets_are_not_echoed_in_errors() -> None:
    url = "ftp://user:p4ssw0rd-p4ssw0rd@files.example.com/apikey-0123456789/feed"
    error = load_error(http_target(url=url))
    assert "must be http:// or https://" in str(error)
    for fragment in ("p4ssw0rd", "apikey-0123456789", url):
        assert fragment not in str(error)


def test_yaml_syntax_errors_do_not_quote_the_source_line() -> None:
    error = load_error("targets:\n  - url: https://x.example/?key=SECRETKEY123 : [\n")
    assert "invalid YAML" in str(error)
    assert "SECRETKEY123" not in str(error)


def test_a_name_from_the_environment_is_masked() -> None:
    text = http_target().replace("name: a", "name: ${NAME}")
    error = load_error(text, env={"NAME": "Sekr1t Name"})
    assert "invalid name ***" in str(error)
    assert "Sekr1t" not in str(error)
