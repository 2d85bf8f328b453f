"""Parse the instructions of the repository's Dockerfile (enough for the tests here)."""

from __future__ import annotations

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def instructions(path: Path = DOCKERFILE) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    result: list[tuple[str, str]] = []
    pending = ""
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, rest = full.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def last(keyword: str) -> str:
    found = [rest for kw, rest in instructions() if kw == keyword]
    assert found, f"no {keyword} in the Dockerfile"
    return found[-1]


def exec_form(text: str) -> list[str]:
    value = json.loads(text)
    assert isinstance(value, list) and all(isinstance(v, str) for v in value), text
    return value


def entrypoint() -> list[str]:
    return exec_form(last("ENTRYPOINT"))


def cmd() -> list[str]:
    return exec_form(last("CMD"))


def healthcheck() -> list[str]:
    """The HEALTHCHECK's command (exec form), options dropped."""
    match = re.fullmatch(r"(?:--\S+\s+)*CMD\s+(\[.*\])", last("HEALTHCHECK"))
    assert match, "HEALTHCHECK must use the exec form: HEALTHCHECK [options] CMD [...]"
    return exec_form(match.group(1))
