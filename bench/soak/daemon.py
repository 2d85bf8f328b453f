"""The daemon under soak: the real `outagemon run` as a subprocess on 127.0.0.1, its config
file rewritten and reloaded with SIGHUP."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.outagemon import binary
from bench.proc import free_port, wait_http

START_TIMEOUT = 180.0  # 2,000 targets on a busy 2-CPU machine
STOP_TIMEOUT = 10.0  # the daemon promises to exit within 5 s of SIGTERM


@dataclass
class SoakDaemon:
    workdir: Path
    proc: subprocess.Popen[bytes] | None = None
    port: int = 0

    @property
    def config_path(self) -> Path:
        return self.workdir / "outagemon.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "outagemon.log"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def write_config(self, config: dict[str, Any]) -> None:
        """Replace the config file at once (JSON is YAML), so a reload never reads half."""
        tmp = self.config_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(config, indent=1))
        os.replace(tmp, self.config_path)

    def start(self) -> None:
        """Start it and wait until /livez answers (blocking)."""
        self.port = free_port()
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [*binary(), "run", "-c", str(self.config_path),
                 "--listen", f"127.0.0.1:{self.port}", "--state",
                 str(self.workdir / "state.db"), "--log-level", "info"],
                stdout=log, stderr=log)
        wait_http(f"{self.base_url}/livez", self.proc, timeout=START_TIMEOUT)

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def wait(self) -> None:
        """Block until the process exits."""
        assert self.proc is not None
        self.proc.wait()

    def reload(self, config: dict[str, Any]) -> None:
        self.write_config(config)
        assert self.proc is not None
        self.proc.send_signal(signal.SIGHUP)

    def stop(self) -> int | None:
        """SIGTERM and wait; the exit code, or None when it had to be killed."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None:
            return self.proc.returncode
        self.proc.terminate()
        try:
            return self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            return None

    def log_events(self) -> tuple[Counter[str], Counter[str]]:
        """(every event by name, the error-level ones by name) of the daemon's JSON log; a
        line that is not JSON (a traceback printed by Python itself) counts as an error."""
        events: Counter[str] = Counter()
        errors: Counter[str] = Counter()
        with self.log_path.open(encoding="utf-8", errors="replace") as log:
            for line in log:
                try:
                    entry = json.loads(line)
                except ValueError:
                    errors["(not JSON)"] += 1
                    continue
                name = str(entry.get("event"))
                events[name] += 1
                if entry.get("level") in ("error", "critical"):
                    errors[name] += 1
        return events, errors

    def log_tail(self, lines: int = 20) -> str:
        text = self.log_path.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])
