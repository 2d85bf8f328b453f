"""Load the YAML config into `Config`, reporting every problem with file, line and field path.

Steps: read (at most MAX_CONFIG_BYTES, strict UTF-8) -> compose the YAML node tree
(SafeLoader rules; libyaml when available) -> build Python data from the nodes -> validate
with the pydantic models.

While building:
- `${VAR}` and `${VAR:-default}` in scalar *values* are replaced from the environment
  (`:-` also applies when VAR is set but empty); `$${` is a literal `${`. Substituting in
  nodes rather than in the raw text means a value containing YAML syntax (`#`, `: `, quotes)
  stays one string. A plain (unquoted) scalar has its type re-resolved afterwards, exactly as
  if the substituted text had been written there: `${N:-3}` is the int 3. Quote it to keep
  a string. A variable that is not set and has no default is an error. Inside a flow
  collection (`{...}`, `[...]`) YAML itself needs the reference quoted: `{n: "${N}"}`.
- Mapping keys are always strings (no YAML 1.1 surprises such as `on:` becoming True) and a
  key given twice in one mapping is an error.
- Anchors, aliases and merge keys (`<<: *base`) are allowed, but the nodes reached again
  through aliases may not exceed MAX_ALIAS_EXPANSION in total: an alias bomb ("billion
  laughs") is refused instead of being expanded. Recursive aliases are refused too.
- The line of every node is kept by path, so validation errors point at the right line: an
  unknown key at its own line, a missing key at the mapping that lacks it.

Messages never echo values of secret-bearing keys or values that came from the environment.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib.resources import files
from typing import IO, Any, TextIO

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from checks.registry import kinds
from monitor.redact import MASK, scrub
from monitor.schema import NAME_PATTERN
from monitor.settings import Config

MAX_CONFIG_BYTES = 4 * 1024 * 1024
MAX_ALIAS_EXPANSION = 10_000
MAX_DEPTH = 64
MAX_MESSAGE = 400  # characters of one issue's message; the middle of a longer one is cut
CONFIG_ENV_VAR = "OUTAGEMON_CONFIG"
EXIT_INVALID = 2

# Values under these keys may be credentials: errors about them never show the value.
SENSITIVE_KEYS = frozenset({"url", "ws_url", "rest_url", "headers", "secret", "token",
                            "routing_key", "admin_token", "send"})

Path = tuple[str | int, ...]

# libyaml composes about six times faster; both give the same nodes, marks and errors.
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_MERGE_TAG = "tag:yaml.org,2002:merge"
_REFERENCE = re.compile(r"\$\$\{|\$\{([^}]*)\}|\$\{")
_VARIABLE = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)(?::-(.*))?", re.DOTALL)
_NAME = re.compile(NAME_PATTERN)


@dataclass(frozen=True)
class ConfigIssue:
    file: str
    line: int | None
    path: str
    message: str

    def __post_init__(self) -> None:
        # A message may quote the value it is about, and a value may be megabytes long.
        if len(self.message) > MAX_MESSAGE:
            head, tail = self.message[: MAX_MESSAGE * 2 // 3], self.message[-MAX_MESSAGE // 4 :]
            object.__setattr__(self, "message", f"{head} … {tail}")

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        return f"{where}: {self.path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, issues: list[ConfigIssue]) -> None:
        super().__init__(issues)
        self.issues = issues

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


def load_config(
    path: str | os.PathLike[str] | None = None, *, env: Mapping[str, str] | None = None
) -> Config:
    """Load `path`, else $OUTAGEMON_CONFIG, else the built-in default config."""
    env = os.environ if env is None else env
    path = path or env.get(CONFIG_ENV_VAR) or None
    if path is None:
        resource = files("monitor") / "default.yaml"
        with resource.open("rb") as stream:
            return _load_bytes(_read_capped(stream, str(resource)), str(resource), env)
    file = os.fspath(path)
    try:
        with open(file, "rb") as stream:
            data = _read_capped(stream, file)
    except OSError as exc:
        raise ConfigError([ConfigIssue(file, None, "", f"cannot read: {exc.strerror}")]) from None
    return _load_bytes(data, file, env)


def load_config_text(
    text: str, *, file: str = "<string>", env: Mapping[str, str] | None = None
) -> Config:
    return _load_text(text, file, os.environ if env is None else env)


def validate_command(
    path: str | os.PathLike[str] | None = None, out: TextIO | None = None
) -> int:
    """`outagemon validate`: print every issue and return 2, or a summary and 0.

    Both go to `out` when given; otherwise issues go to stderr (as `run` prints them) and
    the summary to stdout."""
    try:
        config = load_config(path)
    except ConfigError as exc:
        for issue in exc.issues:
            print(issue, file=out or sys.stderr)
        return EXIT_INVALID
    print(f"config OK: {len(config.targets)} targets", file=out or sys.stdout)
    return 0


def _read_capped(stream: IO[bytes], file: str) -> bytes:
    data = stream.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        message = f"the file is larger than {MAX_CONFIG_BYTES // (1024 * 1024)} MiB"
        raise ConfigError([ConfigIssue(file, None, "", message)])
    return data


def _load_bytes(data: bytes, file: str, env: Mapping[str, str]) -> Config:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        message = f"not valid UTF-8 (byte 0x{data[exc.start]:02x}); save the file as UTF-8"
        raise ConfigError([ConfigIssue(file, line, "", message)]) from None
    return _load_text(text, file, env)


def _load_text(text: str, file: str, env: Mapping[str, str]) -> Config:
    builder = _Builder(file, env)
    data = builder.build_document(text)
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        issues = [*builder.issues(data), *builder.translate(exc, data)]
        raise ConfigError(_ordered(issues)) from None
    if builder.problems:
        raise ConfigError(_ordered(builder.issues(data)))
    return config


def _ordered(issues: list[ConfigIssue]) -> list[ConfigIssue]:
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda issue: issue.line or 0)


class _Abort(Exception):
    """The document cannot be built at all."""

    def __init__(self, issue: ConfigIssue) -> None:
        super().__init__(issue)
        self.issue = issue


@dataclass
class _Builder:
    """Builds Python data from the YAML node tree and turns errors into ConfigIssues."""

    file: str
    env: Mapping[str, str]
    # (line, path, message) found while building; formatted once the data is known
    problems: list[tuple[int | None, Path, str]] = field(default_factory=list)
    lines: dict[Path, int] = field(default_factory=dict)
    from_env: set[Path] = field(default_factory=set)  # paths whose value has a ${VAR}
    # what came from the environment, and the values it became part of: never shown, whatever
    # message (a union's unknown tag, a constructor's complaint) happens to quote it
    env_texts: set[str] = field(default_factory=set)
    # values that could not be read: validation errors about them would only be noise
    placeholders: set[Path] = field(default_factory=set)
    seen_nodes: set[int] = field(default_factory=set)
    open_nodes: set[int] = field(default_factory=set)
    alias_expansion: int = 0
    loader: yaml.SafeLoader | yaml.CSafeLoader = field(init=False)

    def build_document(self, text: str) -> dict[str, Any]:
        """The document as data; raises ConfigError unless it could be built (even with issues)."""
        self.loader = _Loader(text)
        try:
            return self._document()
        except yaml.YAMLError as exc:
            fatal = _yaml_issue(self.file, text, exc)
        except RecursionError:
            fatal = ConfigIssue(self.file, None, "", "the YAML is nested too deeply")
        except _Abort as exc:
            fatal = exc.issue
        finally:
            self.loader.dispose()
        raise ConfigError(_ordered([*self.issues(None), fatal]))

    def issues(self, data: Any) -> list[ConfigIssue]:
        return [
            ConfigIssue(self.file, line, _format_path(path, data), self._without_env(message))
            for line, path, message in self.problems
        ]

    def _document(self) -> dict[str, Any]:
        root = self.loader.get_single_node()
        if root is None:
            raise self._abort(None, "the config file is empty")
        if not isinstance(root, yaml.MappingNode):
            message = "the top level must be a mapping (vantage, defaults, targets, …)"
            raise self._abort(_line(root), message)
        self.lines[()] = _line(root)
        return self._mapping(root, ())

    def _abort(self, line: int | None, message: str, path: Path = ()) -> _Abort:
        return _Abort(ConfigIssue(self.file, line, _format_path(path, None), message))

    def _report(self, node: yaml.Node, path: Path, message: str) -> None:
        self.problems.append((_line(node), path, message))

    def _node(self, node: yaml.Node, path: Path) -> Any:
        if id(node) in self.open_nodes:
            raise self._abort(_line(node), "an alias refers to a node that contains it", path)
        if len(path) > MAX_DEPTH:
            raise self._abort(_line(node), f"nested deeper than {MAX_DEPTH} levels", path)
        self._count_alias_expansion(node)
        self.open_nodes.add(id(node))
        try:
            if isinstance(node, yaml.MappingNode):
                return self._mapping(node, path)
            if isinstance(node, yaml.SequenceNode):
                return self._sequence(node, path)
            assert isinstance(node, yaml.ScalarNode)
            return self._scalar(node, path)
        finally:
            self.open_nodes.discard(id(node))

    def _count_alias_expansion(self, node: yaml.Node) -> None:
        if id(node) not in self.seen_nodes:
            self.seen_nodes.add(id(node))
            return
        self.alias_expansion += 1
        if self.alias_expansion > MAX_ALIAS_EXPANSION:
            raise self._abort(
                _line(node),
                f"aliases expand to more than {MAX_ALIAS_EXPANSION} nodes (an alias bomb?)",
            )

    def _mapping(self, node: yaml.MappingNode, path: Path) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                for source in self._merge_sources(value_node, path):
                    merged = {**source, **merged}  # earlier sources win
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _MERGE_TAG:
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self._report(key_node, path, "a mapping key must be a plain string")
                continue
            key = key_node.value
            if key in first_line:
                message = f"duplicate key {key!r} (first given at line {first_line[key]})"
                self._report(key_node, (*path, key), message)
                self.placeholders.add((*path, key))
                continue
            first_line[key] = _line(key_node)
            self.lines[(*path, key)] = _line(key_node)
            result[key] = self._node(value_node, (*path, key))
        return {**merged, **result}

    def _merge_sources(self, node: yaml.Node, path: Path) -> Iterator[dict[str, Any]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                message = "a merge key (<<) takes a mapping or a list of mappings"
                self._report(source, (*path, "<<"), message)
                continue
            yield self._node(source, path)

    def _sequence(self, node: yaml.SequenceNode, path: Path) -> list[Any]:
        items = []
        for index, item in enumerate(node.value):
            self.lines[(*path, index)] = _line(item)
            items.append(self._node(item, (*path, index)))
        return items

    def _scalar(self, node: yaml.ScalarNode, path: Path) -> Any:
        if "${" in node.value:
            node = self._substituted(node, path)
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.constructor.ConstructorError as exc:
            self._report(node, path, exc.problem or "cannot read this value")
        except ValueError as exc:  # e.g. a timestamp with month 13
            self._report(node, path, f"invalid {_tag_name(node.tag)}: {exc}")
        self.placeholders.add(path)
        return node.value

    def _substituted(self, node: yaml.ScalarNode, path: Path) -> yaml.ScalarNode:
        problems: list[str] = []
        text = _REFERENCE.sub(lambda match: self._reference(match, problems), node.value)
        if problems:
            for problem in problems:
                self._report(node, path, problem)
            self.placeholders.add(path)
            return node
        if text == node.value:
            return node
        self.from_env.add(path)
        self.env_texts.add(text)
        tag = node.tag
        # Re-resolve only a plain scalar (style None, or "" from libyaml) whose tag was
        # resolved implicitly rather than given (!!str).
        if not node.style and tag == self._implicit_tag(node.value):
            tag = self._implicit_tag(text)
        return yaml.ScalarNode(tag, text, node.start_mark, node.end_mark, style=node.style)

    def _implicit_tag(self, text: str) -> str:
        tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))  # type: ignore[no-untyped-call]
        return str(tag)

    def _reference(self, match: re.Match[str], problems: list[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        body = match.group(1)
        variable = _VARIABLE.fullmatch(body) if body is not None else None
        if variable is None:
            problems.append(
                "malformed variable reference: use ${NAME} or ${NAME:-default}"
                " (and $${ for a literal ${)"
            )
            return ""
        name, default = variable.groups()
        value = self.env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            problems.append(
                f"environment variable {name} is not set (use ${{{name}:-default}} for a default)"
            )
            return ""
        self.env_texts.add(value)
        return value

    def translate(self, exc: ValidationError, data: dict[str, Any]) -> list[ConfigIssue]:
        issues = []
        for error in exc.errors(include_url=False):
            path = _data_path(error["loc"], data)
            if any(path[:end] in self.placeholders for end in range(len(path) + 1)):
                continue
            message = scrub(self._without_env(self._masked(_message(error), error, path)))
            issues.append(
                ConfigIssue(self.file, self._line_of(path), _format_path(path, data), message)
            )
        return issues

    def _masked(self, message: str, error: ErrorDetails, path: Path) -> str:
        value = error.get("input")
        sensitive = path in self.from_env or any(key in SENSITIVE_KEYS for key in path)
        if not (sensitive and isinstance(value, str) and value):
            return message
        return _mask(message, value)

    def _without_env(self, message: str) -> str:
        for text in sorted(self.env_texts, key=len, reverse=True):  # a whole before its parts
            if text:
                message = _mask(message, text)
        return message

    def _line_of(self, path: Path) -> int | None:
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return None


def _mask(message: str, value: str) -> str:
    message = message.replace(repr(value), MASK)
    # A very short value would also match inside ordinary words of the message.
    return message.replace(value, MASK) if len(value) >= 4 else message


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _tag_name(tag: str) -> str:
    return tag.rsplit(":", 1)[-1]


def _yaml_issue(file: str, text: str, exc: yaml.YAMLError) -> ConfigIssue:
    # str(exc) would quote the offending source line, which may hold a secret.
    if isinstance(exc, yaml.MarkedYAMLError):
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc.context}"
        if exc.context and exc.problem and exc.context_mark is not None:
            message += f" ({exc.context} at line {exc.context_mark.line + 1})"
        return ConfigIssue(file, mark.line + 1 if mark else None, "", message)
    if isinstance(exc, yaml.reader.ReaderError):
        # The reader stops at the first such character; its position is counted in
        # characters by PyYAML but in bytes by libyaml.
        char = chr(exc.character) if isinstance(exc.character, int) else str(exc.character)
        line = text.count("\n", 0, max(text.find(char), 0)) + 1
        message = f"invalid YAML: character #x{ord(char):04x} is not allowed"
        return ConfigIssue(file, line, "", message)
    return ConfigIssue(file, None, "", f"invalid YAML: {type(exc).__name__}")


def _data_path(loc: tuple[str | int, ...], data: Any) -> Path:
    """pydantic's loc without the tags it inserts for union members, following the data."""
    path: list[str | int] = []
    node = data
    tagged = None  # the mapping whose union tag was skipped
    for element in loc:
        if isinstance(node, dict):
            # The tag first: the exchange kind also has a key named `exchange`.
            if node is not tagged and element == node.get("kind"):
                tagged = node
                continue  # discriminated union: ('targets', 1, 'http', 'url')
            node = node.get(element)  # None: a missing key
            path.append(element)
        elif isinstance(node, list) and isinstance(element, int) and element < len(node):
            node = node[element]
            path.append(element)
        else:
            break  # below a scalar: only union member tags such as 'str' or '[key]'
    return tuple(path)


def _format_path(path: Path, data: Any) -> str:
    """('targets', 2, 'interval') -> 'targets[2](binance-spot).interval'."""
    text = ""
    node = data
    for element in path:
        if isinstance(element, int):
            node = node[element] if isinstance(node, list) and element < len(node) else None
            name = node.get("name") if isinstance(node, dict) else None
            text += f"[{element}]"
            if isinstance(name, str) and _NAME.match(name):
                text += f"({name})"
        else:
            node = node.get(element) if isinstance(node, dict) else None
            text += f".{element}" if text else element
    return text


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    ctx = error.get("ctx", {})
    key = error["loc"][-1] if error["loc"] else ""
    if kind == "extra_forbidden":
        return f"unknown key {key!r}"
    if kind == "missing":
        return f"missing required key {key!r}"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        return _tag_message(ctx)
    if kind == "value_error":
        return str(ctx["error"])
    if kind == "string_pattern_mismatch" and ctx.get("pattern") == NAME_PATTERN:
        return (
            f"invalid name {error['input']!r}: use lowercase letters, digits, '.', '_' and '-',"
            " starting with a letter or digit"
        )
    return error["msg"]


def _tag_message(ctx: dict[str, Any]) -> str:
    discriminator = str(ctx["discriminator"]).strip("'")
    if "tag" in ctx:
        tags = sorted(tag.strip("'") for tag in str(ctx["expected_tags"]).split(", "))
        return f"unknown {discriminator} {ctx['tag']!r} (expected one of: {', '.join(tags)})"
    # pydantic names no tags when the key is absent; `kind` is the only discriminator so far.
    return f"missing required key {discriminator!r} (expected one of: {', '.join(sorted(kinds()))})"
