"""The webhook the daemon notifies through Apprise's ``json://``: a thread of the orchestrator.

Each POST is answered 200 and recorded with its arrival time (``time.time()``, the same
clock as the daemon's log timestamps, on the same machine). Its CPU is the orchestrator's,
never the daemon's. The same idea as ``tests/receivers.py``, cut to what the bench needs.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Arrival:
    at: float
    title: str
    message: str


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    arrivals: list[Arrival]
    lock: threading.Lock


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        at = time.time()
        try:
            payload = json.loads(body)
        except ValueError:
            payload = {}
        with self.server.lock:
            self.server.arrivals.append(
                Arrival(at, str(payload.get("title", "")), str(payload.get("message", "")))
            )
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


@dataclass
class Receiver:
    _server: _Server | None = None
    _thread: threading.Thread | None = None
    _arrivals: list[Arrival] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> Receiver:
        server = _Server(("127.0.0.1", 0), _Handler)
        server.arrivals, server.lock = self._arrivals, self._lock
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.1,), daemon=True)
        self._thread.start()
        return self

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"json://127.0.0.1:{self._server.server_address[1]}/hook"

    def arrivals(self) -> list[Arrival]:
        """Every message so far (also after :meth:`stop`)."""
        with self._lock:
            return list(self._arrivals)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
