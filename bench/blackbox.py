"""Prometheus blackbox_exporter with an http_2xx module."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.proc import free_port, stop, wait_http

INSTALL = "apt-get install -y prometheus-blackbox-exporter"

CONF = """\
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
"""


@dataclass
class Blackbox:
    proc: subprocess.Popen[bytes]
    port: int

    def probe_url(self, target: str) -> str:
        return f"http://127.0.0.1:{self.port}/probe?module=http_2xx&target={target}"


def binary() -> str | None:
    return shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")


@contextmanager
def running(workdir: Path) -> Iterator[Blackbox]:
    exe = binary()
    if exe is None:
        raise SystemExit(f"blackbox_exporter not found: {INSTALL}")
    conf = workdir / "blackbox.yml"
    conf.write_text(CONF)
    port = free_port()
    proc = subprocess.Popen(
        [exe, f"--config.file={conf}", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"])
    try:
        wait_http(f"http://127.0.0.1:{port}/metrics", proc)
        yield Blackbox(proc, port)
    finally:
        stop(proc)
