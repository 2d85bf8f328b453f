"""A local nginx serving one small static file on 127.0.0.1."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.proc import free_port, stop, wait_http

INSTALL = "apt-get install -y nginx-light"

CONF = """\
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    keepalive_timeout 0;
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        root {dir}/www;
    }}
}}
"""


@dataclass
class Nginx:
    proc: subprocess.Popen[bytes]
    port: int

    def url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.port}/probe.html?t={i}"


def binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


@contextmanager
def running(workdir: Path) -> Iterator[Nginx]:
    exe = binary()
    if exe is None:
        raise SystemExit(f"nginx not found: {INSTALL}")
    root = workdir / "nginx"
    (root / "www").mkdir(parents=True)
    for directory in (workdir, root, root / "www"):
        directory.chmod(0o755)  # workers run as nobody when nginx is started by root
    (root / "www" / "probe.html").write_text("<html><body>ok</body></html>\n")
    port = free_port()
    (root / "nginx.conf").write_text(CONF.format(dir=root, port=port))
    proc = subprocess.Popen(
        [exe, "-p", str(root), "-e", str(root / "error.log"), "-c", str(root / "nginx.conf"),
         "-g", "daemon off;"])
    try:
        wait_http(f"http://127.0.0.1:{port}/probe.html", proc)
        yield Nginx(proc, port)
    finally:
        stop(proc)
