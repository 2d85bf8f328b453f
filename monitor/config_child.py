"""Reading a config in a child process: what a reload does.

Parsing builds a YAML node tree, plain data and the validated models: for 2,000 targets about
23 MiB at the peak, for a result of 7 MiB. In a daemon that has run for a while, those
short-lived objects land between long-lived ones, and the heap keeps its high-water mark for
good: the soak's first reload raised the RSS by 23 MiB, which no later reload gave back
(docs/performance.md). So a reload parses in a short-lived interpreter of its own
(`python -m monitor.config_child [PATH]`), which writes the validated Config, or the
ConfigError, to its stdout as one pickle; the daemon only unpickles the result. The parse
also holds no lock of the daemon's (the GIL) any more.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys

import structlog

from monitor.config import CONFIG_ENV_VAR, EXIT_INVALID, ConfigError, ConfigIssue, load_config
from monitor.settings import Config

log = structlog.get_logger("outagemon.config")

LOAD_TIMEOUT = 120.0  # seconds; a sane config of 10,000 targets takes about 2


def load_config_apart(path: str | None, timeout: float = LOAD_TIMEOUT) -> Config:
    """`load_config(path)`, parsed in a child process."""
    command = [sys.executable, "-m", __name__, *([path] if path else [])]
    source = path or os.environ.get(CONFIG_ENV_VAR) or "the built-in config"
    try:
        done = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise _failed(source, f"reading it took longer than {timeout:g} s") from None
    except OSError as exc:  # no child processes here: read it in this one
        log.warning("cannot start a process to read the config; reading it in the daemon",
                    error=exc.strerror)
        return load_config(path)
    if done.returncode in (0, EXIT_INVALID) and done.stdout:
        result = pickle.loads(done.stdout)
        if isinstance(result, ConfigError):
            raise result
        if isinstance(result, Config):
            return result
    # Its stderr is not passed on: a traceback may quote a value of the config (a secret).
    raise _failed(source, f"the process that reads it failed (exit status {done.returncode})")


def _failed(source: str, message: str) -> ConfigError:
    return ConfigError([ConfigIssue(source, None, "", message)])


def main(argv: list[str]) -> int:
    result: Config | ConfigError
    try:
        result = load_config(argv[0] if argv else None)
    except ConfigError as exc:
        result = exc
    sys.stdout.buffer.write(pickle.dumps(result, protocol=pickle.HIGHEST_PROTOCOL))
    return EXIT_INVALID if isinstance(result, ConfigError) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
