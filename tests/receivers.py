"""Real local receivers for notification tests: an HTTP JSON endpoint and an SMTP server.

:class:`JsonReceiver` answers Apprise's ``json://`` posts on loopback and can be switched,
while running, between ``up`` (200, the message is recorded), ``error`` (HTTP 500) and
``hang`` (reads the request, never answers until released or stopped); :meth:`refuse`
closes the listening socket (connection refused) and :meth:`restore` listens again on the
same port. :class:`SmtpReceiver` is aiosmtpd on a free loopback port picked first
(aiosmtpd cannot bind port 0).
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Literal, Self

from aiosmtpd.controller import Controller

Mode = Literal["up", "error", "hang"]


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Received:
    path: str
    payload: dict[str, Any]
    at: float
    """``time.monotonic()`` when the request was read."""

    @property
    def text(self) -> str:
        return f"{self.payload.get('title', '')}\n{self.payload.get('message', '')}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    receiver: JsonReceiver


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length)
        receiver = self.server.receiver
        mode = receiver.mode
        if mode == "hang":
            receiver.hung += 1
            receiver.release.wait(receiver.hang_for)
            self.close_connection = True
            return  # no answer at all
        if mode == "error":
            receiver.errors += 1
            self._answer(500, b'{"error": "boom"}')
            return
        receiver.record(Received(self.path, json.loads(body), time.monotonic()))
        self._answer(200, b"{}")

    def _answer(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the tests assert on what was received, not on access logs."""


@dataclass
class JsonReceiver:
    """A JSON webhook on 127.0.0.1 for ``json://`` URLs; thread-safe records."""

    mode: Mode = "up"
    hang_for: float = 10.0
    """Longest a hanging request is held (stopping the receiver releases it sooner)."""
    port: int = field(default_factory=free_port)
    received: list[Received] = field(default_factory=list)
    hung: int = 0
    errors: int = 0
    release: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: _Server | None = None
    _thread: threading.Thread | None = None

    def url(self, path: str = "/hook") -> str:
        return f"json://127.0.0.1:{self.port}{path}"

    def start(self) -> Self:
        self.release.clear()
        server = _Server(("127.0.0.1", self.port), _Handler)
        server.receiver = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def refuse(self) -> None:
        """Stop listening: connections to the port are refused until :meth:`restore`."""
        self.release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def restore(self, mode: Mode = "up") -> None:
        self.mode = mode
        self.start()

    stop = refuse

    def record(self, item: Received) -> None:
        with self._lock:
            self.received.append(item)

    def messages(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self.received if path is None or r.path == path]

    def id_counts(self, ids: Iterable[str], path: str | None = None) -> Counter[str]:
        """How many received messages name each id."""
        texts = [r.text for r in self.messages(path)]
        return Counter({nid: sum(nid in text for text in texts) for nid in ids})

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


# ---------------------------------------------------------------- SMTP


@dataclass(frozen=True)
class Mail:
    sender: str
    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def text(self) -> str:
        part = self.message.get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""


class _MailHandler:
    def __init__(self) -> None:
        self.mails: list[Mail] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mails.append(Mail(envelope.mail_from, tuple(envelope.rcpt_tos), message))
        return "250 OK"


class SmtpReceiver:
    """aiosmtpd on 127.0.0.1 (plain SMTP, no TLS, no auth), on a free port picked first."""

    def __init__(self) -> None:
        self.port = free_port()
        self._handler = _MailHandler()
        self._controller = Controller(self._handler, hostname="127.0.0.1", port=self.port)

    @property
    def mails(self) -> list[Mail]:
        return list(self._handler.mails)

    def url(self, sender: str = "alerts@example.com", to: str = "ops@example.com") -> str:
        """A ``mailto://`` URL for this server: Apprise's syntax, no TLS (``mailto``)."""
        user, domain = sender.split("@")
        return f"mailto://{user}@{domain}?smtp=127.0.0.1&port={self.port}&to={to}"

    def __enter__(self) -> Self:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


ID_PATTERN = re.compile(r"\b[0-9a-f]{10}\b")
"""What a notification id looks like (messages.notification_id)."""
