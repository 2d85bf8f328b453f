"""Config fuzzing: whatever a config file holds, loading it gives a Config or a ConfigError.

(a) Arbitrary text and bytes (invalid UTF-8 included), random YAML documents (nested mappings
    and lists of random scalars, real config keys, anchors, aliases and merge keys) and valid
    configs with random edits never crash the loader.
(b) A valid config with hostile values in one to three known fields (every field of every
    model, found from the models themselves: durations, sizes, URLs, addresses, regexes,
    enums, numbers out of range, wrong types, huge strings, `${VAR}` forms) loads or fails
    with issues that carry a line and a field path, and never echo a secret.
(c) A few generated failing configs through the real CLI (`validate` and `run`): exit 2,
    one clean issue per line on stderr, no traceback.

Any other exception is a loader bug. Runs are deterministic (derandomize, no example
database) and bounded (FUZZ_EXAMPLES per test; a deadline far above a normal load, so only a
blow-up such as an alias bomb getting through trips it).
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from checks.registry import kinds
from monitor.config import SENSITIVE_KEYS, ConfigError, load_config, load_config_text
from monitor.redact import SECRETS
from monitor.settings import Config, MaintenanceWindow, Notifier

ROOT = Path(__file__).resolve().parents[2]
VALID_CONFIGS = sorted((ROOT / "tests" / "configs" / "valid").glob("*.yaml"))
# OUTAGEMON_FUZZ_EXAMPLES=5000 searches longer, with fresh randomness on every run.
FUZZ_EXAMPLES = int(os.environ.get("OUTAGEMON_FUZZ_EXAMPLES", "200"))
CLI_EXAMPLES = 3
SECRET = "Zq7secretK3y"  # long enough to be registered and scrubbed (MIN_SECRET_LENGTH)

FUZZ = settings(
    max_examples=FUZZ_EXAMPLES, derandomize="OUTAGEMON_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    deadline=timedelta(seconds=5),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                           HealthCheck.filter_too_much],
)

# -- the base config: one of every kind, valid, with every optional section ------------------

BASE: dict[str, Any] = {
    "vantage": "fuzz",
    "defaults": {"interval": "30s", "timeout": "5s", "max_concurrency": 64},
    "labels": {"team": "infra"},
    "targets": [
        {"name": "web", "kind": "http", "url": "https://example.com/health",
         "headers": {"X-Key": "k"}, "max_body": "1MiB", "max_redirects": 3,
         "expect": {"status": [200], "body_regex": "ok", "json": {"a": "> 0"},
                    "max_latency": "2s"},
         "alert": {"failure_threshold": 2, "severity": "critical"}},
        {"name": "port", "kind": "tcp", "address": "example.com:443", "tls": True,
         "send": "hi", "expect": "pong", "max_read": "64KiB"},
        {"name": "resolver", "kind": "dns", "query": "example.com", "record": "A",
         "resolver": "1.1.1.1:53", "expect": {"answers_in": ["203.0.113.0/24"]}},
        {"name": "cert", "kind": "tls", "address": "example.com:443", "warn_before": "21d"},
        {"name": "feed", "kind": "websocket", "url": "wss://example.com/ws",
         "subscribe": [{"op": "sub"}, "text"],
         "ping": {"interval": "20s", "message": "ping", "expect": "pong", "timeout": "10s"},
         "event_time": {"path": "E", "unit": "ms"}, "stale_after": "60s",
         "max_message": "1MiB", "reconnect": {"initial": "1s", "max": "60s"}},
        {"name": "binance-btc", "kind": "exchange", "exchange": "binance", "market": "BTC-USDT"},
        {"name": "okx-btc", "kind": "exchange", "exchange": "okx", "market": "BTC-USDT"},
        {"name": "btc-prices", "kind": "price", "market": "BTC-USDT",
         "venues": ["binance", "okx"], "max_deviation": 0.01},
        {"name": "eth", "kind": "evm_rpc", "chain": "ethereum", "chain_id": 1,
         "url": "https://rpc.example.com/v3/key"},
        {"name": "sol", "kind": "solana_rpc", "chain": "solana", "url": "https://sol.example.com"},
        {"name": "btc", "kind": "bitcoin_rpc", "chain": "bitcoin", "network": "main",
         "url": "https://user:pass@btc.example.com"},
        {"name": "atom", "kind": "cosmos_rpc", "chain": "cosmoshub", "network": "cosmoshub-4",
         "url": "https://cosmos.example.com"},
        {"name": "vendor", "kind": "statuspage", "url": "https://status.example.com",
         "components": ["API*"]},
        {"name": "aws-us-east-1", "kind": "cloud_status", "cloud": "aws",
         "regions": ["us-east-1"]},
    ],
    "alerts": {"defaults": {"failure_threshold": 3, "repeat_interval": "4h"},
               "group_wait": "5s",
               "dependency_outage": {"min_targets": 2, "min_ratio": 0.5, "window": "2m"}},
    "notifiers": [
        {"name": "ops", "type": "webhook", "url": "https://hooks.example.com/x",
         "secret": "whsec_c2VjcmV0", "match": {"severity": ["critical"]}},
        {"name": "chat", "type": "telegram", "token": "123:abc", "chat_id": "42"},
    ],
    "maintenance": [
        {"targets": ["okx-*"], "start": "2026-12-01T02:00:00Z", "end": "2026-12-01T04:00:00Z"},
        {"targets": ["cert"], "cron": "0 3 * * 0", "duration": "30m", "reason": "weekly"},
    ],
    "server": {"admin_token": "t0ken-for-reload", "history_per_target": 500},
}

Path_ = tuple[str | int, ...]


def _models_in(annotation: Any) -> Iterator[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        yield annotation
    for argument in typing.get_args(annotation):
        yield from _models_in(argument)


def _field_paths(model: type[BaseModel], prefix: Path_) -> Iterator[Path_]:
    """Every field of `model` (by its YAML name), and the fields of the models it nests."""
    for name, info in model.model_fields.items():
        path = (*prefix, info.alias or name)
        yield path
        origin = typing.get_origin(info.annotation)
        if origin in (list, dict):  # a list of models is fuzzed as a whole
            continue
        for nested in _models_in(info.annotation):
            yield from _field_paths(nested, path)


def _known_fields() -> list[Path_]:
    paths = [path for path in _field_paths(Config, ()) if path[0] not in
             ("targets", "notifiers", "maintenance")]
    models = {kind: spec.model for kind, spec in kinds().items()}
    for index, target in enumerate(BASE["targets"]):
        paths += _field_paths(models[target["kind"]], ("targets", index))
    for index in range(len(BASE["notifiers"])):
        paths += _field_paths(Notifier, ("notifiers", index))
    for index in range(len(BASE["maintenance"])):
        paths += _field_paths(MaintenanceWindow, ("maintenance", index))
    return sorted(set(paths), key=str)


KNOWN_FIELDS = _known_fields()
KEYS = sorted({str(path[-1]) for path in KNOWN_FIELDS} | {"<<"})

# -- values ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """Text written into the YAML as is (an unquoted `${VAR}` is re-typed after substitution)."""

    text: str


DURATIONS = st.from_regex(r"\A-?\d{1,25}(\.\d{1,3})?(us|ms|s|m|h|d){1,2}\Z") | st.sampled_from(
    ["30s", "1h30m", "0s", "0ms", " 5s ", "5 s", "1e3s", "inf", "nan", "-1s", "9" * 400 + "s",
     "1.5.5s", "s", "", "PT5S", "5m5", "١٢s"])
SIZES = st.integers(-(2**40), 2**40) | st.sampled_from(
    ["1MiB", "0", "1 KiB", "99999999999999999999GiB", "1.5MiB", "1TiB", "-1", "KiB", "٣MiB"])
URLS = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https", "ws", "wss", "ftp", "", "HTTP", "javascript"]),
    st.sampled_from(["example.com", "", "[::1]", "[::1", "127.0.0.1", "ex ample.com",
                     "user:" + SECRET + "@example.com", "a" * 300, "例え.jp"]),
    st.sampled_from(["", ":0", ":65536", ":99999", ":-1", ":abc", ":443", ":٤٤٣"]),
    st.sampled_from(["", "/", "/v3/" + SECRET, "/?key=" + SECRET, "/#frag", "/%zz", "/\x00"]),
)
ADDRESSES = st.builds(lambda host, port: f"{host}:{port}",
                      st.sampled_from(["example.com", "", "[::1]", "::1", "1.1.1.1", "h h"]),
                      st.sampled_from(["53", "0", "65536", "-1", "x", "", "²", "99999999999"]))
REGEXES = st.text(max_size=30) | st.sampled_from(
    ["(", "[a-", "(?P<x>", "a{99999999999}", "(a+)+$", "\\", "(?<=a+)b", "*"])
WORDS = st.sampled_from(
    ["GET", "get", "A", "MX", "udp", "tcp", "ms", "rfc3339", "critical", "info", "statuspage",
     "auto", "aws", "gcp", "binance", "binance-futures", "BTC-USDT", "btc-usdt", "BTC", "main",
     "webhook", "slack", "http", "exchange", "ethereum", "1", "true", "null", "~"]) | st.text(
    max_size=12)
NUMBERS = (st.integers() | st.floats() | st.integers(min_value=-(2**70), max_value=2**70)
           | st.sampled_from([0, -1, 1, 2**31, 2**63, 0.5, 1e308])
           | st.just(Raw("1" + "0" * 5000)))  # an int past int()'s 4300 digits
WRONG_TYPES = (st.none() | st.booleans() | st.dates() | st.datetimes()
               | st.lists(st.integers() | st.text(max_size=5), max_size=3)
               | st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5),
                                 max_size=3))
HUGE_STRINGS = st.sampled_from([1_000, 100_000]).map(lambda n: "x" * n)
ENV_NAMES = ["VAR", "NUM", "EMPTY", "lower"]
ENV_REFS = st.sampled_from(
    ["${VAR}", "${VAR:-}", "${VAR:-30s}", "${UNSET}", "${UNSET:-5}", "$${VAR}", "${", "${}",
     "${1X}", "${VAR:-${NUM}}", "${VAR:?x}", "a${VAR}b", "${VAR}${NUM}", "${lower}",
     "${EMPTY:-1m}", "$$${VAR}", "${VAR:-a: b}"])
RAW_ENV_REFS = st.sampled_from(
    ["${VAR}", "${NUM:-3}", "${NUM}", "${UNSET:-true}", "${EMPTY:-1s}", "$${VAR}", "${lower}",
     "${UNSET}"]).map(Raw)
ENV_VALUES = st.text(max_size=20) | st.sampled_from(
    ["30s", "5", "true", "null", "{a: 1}", "- x", "", "[1, 2]", "'q", "\n", "1e400",
     "https://example.com/" + SECRET, SECRET, "9" * 5000])
ENVS = st.dictionaries(st.sampled_from(ENV_NAMES), ENV_VALUES, max_size=4)
VALUES = st.one_of(DURATIONS, SIZES, URLS, ADDRESSES, REGEXES, WORDS, NUMBERS, WRONG_TYPES,
                   HUGE_STRINGS, ENV_REFS, RAW_ENV_REFS)

# -- building documents ------------------------------------------------------------------------


def with_value(document: dict[str, Any], path: Path_, value: Any) -> dict[str, Any]:
    """`document` with `value` at `path`; missing mappings on the way are created."""
    node: Any = document
    for key in path[:-1]:
        child = node.get(key) if isinstance(node, dict) else node[key]
        if not isinstance(child, dict | list):
            child = {}
            node[key] = child
        node = child
    node[path[-1]] = value
    return document


class _Dumper(yaml.SafeDumper):
    """Writes Raw values as they are, unquoted."""


_Dumper.add_representer(Raw, lambda dumper, raw: dumper.represent_scalar(
    "tag:yaml.org,2002:str", raw.text, style=""))


def dump(document: Any, flow: bool | None = False) -> str:
    return yaml.dump(document, Dumper=_Dumper, default_flow_style=flow, sort_keys=False,
                     allow_unicode=True, width=100)


def load(text: str, env: dict[str, str] | None = None) -> Config | ConfigError:
    """The loader's answer; any other exception propagates and fails the test."""
    SECRETS.clear()  # each example starts as a fresh process would
    try:
        return load_config_text(text, file="fuzz.yaml", env=env or {})
    except ConfigError as error:
        return error


def assert_well_formed(error: ConfigError, text: str) -> None:
    lines = text.count("\n") + 1
    assert error.issues
    for issue in error.issues:
        assert issue.line is not None and 1 <= issue.line <= lines, issue
        assert issue.path, issue
        assert "\n" not in str(issue), issue


@pytest.fixture(scope="module")
def fuzz_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder for the whole module: examples overwrite their file in it."""
    return tmp_path_factory.mktemp("fuzz")


def test_the_base_config_loads_and_every_kind_is_in_it() -> None:
    assert isinstance(load(dump(BASE)), Config)
    assert {target["kind"] for target in BASE["targets"]} == set(kinds())
    assert ("targets", 0, "expect", "max_latency") in KNOWN_FIELDS


# -- (a) anything at all -----------------------------------------------------------------------

SCALARS = (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
           | st.sampled_from(["30s", "1MiB", "http", "${VAR}", "example.com:53", "<<", "~"]))
KEYS_OR_TEXT = st.sampled_from(KEYS) | st.text(max_size=8)
SHARED = st.shared(st.dictionaries(KEYS_OR_TEXT, SCALARS, max_size=3), key="anchor")
DOCUMENTS = st.recursive(
    SCALARS | SHARED,
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(KEYS_OR_TEXT, children, max_size=5),
    max_leaves=30,
)


@FUZZ
@given(text=st.text(max_size=300))
def test_any_text_loads_or_is_a_config_error(text: str) -> None:
    load(text)


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=200).map(str.encode).map(
    lambda b: b + b"\xff\xfe\xc3" if b else b"\x80"))
def test_any_bytes_load_or_are_a_config_error(data: bytes, fuzz_dir: Path) -> None:
    path = fuzz_dir / "bytes.yaml"
    path.write_bytes(data)
    SECRETS.clear()
    try:
        load_config(path, env={})
    except ConfigError as error:
        assert all(issue.file == str(path) for issue in error.issues)


@FUZZ
@given(document=st.dictionaries(st.sampled_from(["vantage", "defaults", "targets", "alerts",
                                                  "notifiers", "maintenance", "server",
                                                  "labels"]) | KEYS_OR_TEXT,
                                DOCUMENTS, max_size=6) | DOCUMENTS,
       flow=st.sampled_from([False, True, None]), merge=st.booleans())
def test_random_yaml_documents_load_or_are_a_config_error(
    document: Any, flow: bool | None, merge: bool
) -> None:
    text = dump(document, flow)  # objects that occur twice become anchors and aliases
    if merge:  # the dumper quotes a '<<' key; unquoted, it is a merge key
        text = text.replace("'<<':", "<<:")
    load(text, {"VAR": "1"})


@st.composite
def edited(draw: st.DrawFn) -> str:
    """A valid config's text with a few random edits: cuts, insertions, duplicated lines,
    shifted indentation."""
    text = draw(st.sampled_from([dump(BASE), dump(BASE, None)]
                                + [path.read_text() for path in VALID_CONFIGS]))
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        edit = draw(st.sampled_from(["cut", "insert", "duplicate", "indent", "dedent"]))
        if edit == "cut":
            text = text[:at] + text[at + draw(st.integers(1, 40)):]
        elif edit == "insert":
            piece = draw(st.text(max_size=10) | st.sampled_from(
                [": ", "- ", "&a ", "*a", "<<: *a\n", "{", "]", "\t", "!!binary ", "? ", "|\n",
                 "${", "'", '"', "#", "\n  - ", "%YAML 1.1\n"]))
            text = text[:at] + piece + text[at:]
        else:
            start = text.rfind("\n", 0, at) + 1
            end = text.find("\n", at)
            end = len(text) if end < 0 else end + 1
            line = text[start:end]
            replacement = {"duplicate": line + line, "indent": "  " + line,
                           "dedent": line[2:] if line.startswith("  ") else line}[edit]
            text = text[:start] + replacement + text[end:]
    return text


@FUZZ
@given(text=edited())
def test_edited_valid_configs_load_or_are_a_config_error(text: str) -> None:
    load(text, {"OPS_WEBHOOK_URL": "https://hooks.example.com/x", "OPS_WEBHOOK_SECRET": "s"})


# -- (b) hostile values in known fields --------------------------------------------------------

MUTATIONS = st.lists(st.tuples(st.sampled_from(KNOWN_FIELDS), VALUES), min_size=1, max_size=3)


def mutated(mutations: list[tuple[Path_, Any]]) -> dict[str, Any]:
    """A copy of BASE with each (path, value) set."""
    document = copy.deepcopy(BASE)
    for path, value in mutations:
        with_value(document, path, value)
    return document


@FUZZ
@given(mutations=MUTATIONS, env=ENVS)
def test_hostile_field_values_give_located_issues(
    mutations: list[tuple[Path_, Any]], env: dict[str, str]
) -> None:
    text = dump(mutated(mutations))
    outcome = load(text, env)
    if isinstance(outcome, ConfigError):
        assert_well_formed(outcome, text)


SENSITIVE_FIELDS = [path for path in KNOWN_FIELDS if path[-1] in SENSITIVE_KEYS]
SECRET_VALUES = st.sampled_from(
    [SECRET, f"ftp://example.com/{SECRET}", f"https://x/{SECRET}", f"http://[::1/{SECRET}",
     f"https://example.com:99999/{SECRET}", f"wss://example.com/?key={SECRET}",
     f"not a url {SECRET}", {"X-Key": SECRET}, {"X-Key": [SECRET]}, [SECRET], f"{SECRET}\n"])


@FUZZ
@given(path=st.sampled_from(SENSITIVE_FIELDS), value=SECRET_VALUES, through_env=st.booleans(),
       other=st.lists(st.tuples(st.sampled_from(KNOWN_FIELDS), VALUES.filter(
           lambda value: SECRET not in str(value))), max_size=2))
def test_issues_never_echo_a_secret(path: Path_, value: Any, through_env: bool,
                                    other: list[tuple[Path_, Any]]) -> None:
    document = mutated(other)
    env = {}
    if through_env and isinstance(value, str):
        env["VAR"] = value
        value = "${VAR}"
    with_value(document, path, value)
    outcome = load(dump(document), env)
    if isinstance(outcome, ConfigError):
        assert SECRET not in str(outcome)


@FUZZ
@given(field=st.sampled_from(KNOWN_FIELDS), value=st.text(min_size=1, max_size=30))
def test_a_value_from_the_environment_is_never_echoed(field: Path_, value: str) -> None:
    secret = f"{SECRET}{value}"
    outcome = load(dump(with_value(copy.deepcopy(BASE), field, Raw("${VAR}"))), {"VAR": secret})
    if isinstance(outcome, ConfigError):
        assert SECRET not in str(outcome)


# -- (c) the real command line -----------------------------------------------------------------

FAILING = st.one_of(MUTATIONS.map(mutated).map(dump), edited(), DOCUMENTS.map(dump))

@dataclass(frozen=True)
class Result:
    returncode: int
    stdout: str
    stderr: str


# The commands' whole environment: a config is judged failing against exactly this one.
CLI_ENV = {key: os.environ[key] for key in ("PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV")
           if key in os.environ}


def cli(*commands: list[str]) -> list[Result]:
    """Run `python -m monitor <command>` for each command, all at once."""
    running = [subprocess.Popen([sys.executable, "-m", "monitor", *command], cwd=ROOT,
                                env=CLI_ENV,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for command in commands]
    results = []
    try:
        for process in running:
            stdout, stderr = process.communicate(timeout=60)
            results.append(Result(process.returncode, stdout, stderr))
        return results
    finally:
        for process in running:
            process.kill()
            process.wait()


def assert_clean_refusal(result: Result, file: Path) -> None:
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert lines, "no issue printed"
    assert all(line.startswith(f"{file}:") for line in lines), result.stderr[-2000:]


@settings(FUZZ, max_examples=CLI_EXAMPLES, deadline=None)
@given(text=FAILING)
def test_failing_configs_exit_2_with_clean_issues_from_validate_and_run(
    text: str, fuzz_dir: Path
) -> None:
    assume(isinstance(load(text, CLI_ENV), ConfigError))
    file = fuzz_dir / "cli.yaml"
    file.write_text(text)
    file.with_suffix(".db").unlink(missing_ok=True)
    validate, run = cli(["validate", "-c", str(file)],
                        ["run", "-c", str(file), "--listen", "127.0.0.1:0",
                         "--state", str(file.with_suffix(".db"))])
    assert_clean_refusal(validate, file)
    assert validate.stdout == ""
    assert_clean_refusal(run, file)
    assert run.stderr == validate.stderr  # the same issues, and nothing started
    assert not file.with_suffix(".db").exists()


def test_unreadable_files_exit_2_from_the_cli(tmp_path: Path) -> None:
    files = []
    for name, content in [("bytes", b"\xff\xfe not utf-8"), ("yaml", b"targets: ["),
                          ("empty", b"")]:
        files.append(tmp_path / f"{name}.yaml")
        files[-1].write_bytes(content)
    for file, result in zip(files, cli(*[["validate", "-c", str(f)] for f in files]),
                            strict=True):
        assert_clean_refusal(result, file)
