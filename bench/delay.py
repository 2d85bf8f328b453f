"""The bench's own upstream: `python -m bench.delay PORT [SECONDS]`.

GET /slow/... answers after a fixed delay (100 ms): the accuracy targets. GET /switch/N
answers 200, or 503 while switch N's fault is on: the detection targets. POST /fault/N/on and
/fault/N/off turn it on and off.

A thread per connection that sleeps for the delay and writes the answer at once, so the
delay the accuracy figure is judged against is the delay the server really keeps (an event
loop's timer would add its own lateness on a busy machine).
"""

from __future__ import annotations

import re
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_SWITCH = re.compile(r"/switch/(\d+)$")
_FAULT = re.compile(r"/fault/(\d+)/(on|off)$")


class DelayServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024

    def __init__(self, port: int, delay: float) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.delay = delay
        self.faulty: set[str] = set()
        self.lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    server: DelayServer
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        switch = _SWITCH.match(path)
        if switch:
            with self.server.lock:
                down = switch.group(1) in self.server.faulty
            self._answer(503 if down else 200, b"switch\n")
            return
        time.sleep(self.server.delay)
        self._answer(200, b"ok\n")

    def do_POST(self) -> None:
        fault = _FAULT.match(self.path)
        if not fault:
            self._answer(404, b"not found\n")
            return
        with self.server.lock:
            if fault.group(2) == "on":
                self.server.faulty.add(fault.group(1))
            else:
                self.server.faulty.discard(fault.group(1))
        self._answer(200, b"ok\n")

    def _answer(self, status: int, body: bytes) -> None:
        head = (f"HTTP/1.1 {status} {self.responses[status][0]}\r\n"
                f"Content-Type: text/plain\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n").encode()
        self.wfile.write(head + body)  # one write: the answer leaves in one segment
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.1
    DelayServer(port, delay).serve_forever()
