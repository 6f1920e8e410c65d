"""HTTP/1.1 for the simulator, on asyncio streams: read a request, write (or mis-write) a response.

Only what the providers' clients need: keep-alive, ``Content-Length`` bodies (no chunked
requests), one request at a time per connection. A :class:`Response` says what to send;
its ``action`` says how: ``send`` writes it whole, while ``reset`` (a TCP RST), ``truncate``
(half the body, then close), ``drip`` (a byte every ``interval`` seconds), ``hang`` (never
answer) and ``gzip_bomb`` (:func:`gzip_bomb_body`) are the connection-level faults that
:func:`send_response` performs.

What goes in the bodies is :mod:`balancewatch.sim.wire`; the server is
:mod:`balancewatch.sim.server`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import http
import socket
import struct
import zlib
from dataclasses import dataclass, field

MAX_BODY = 1 << 20
GZIP_BOMB_MIB = 200


@dataclass(slots=True)
class Response:
    """What to answer, and (``action``) how to deliver it; see the module docstring."""

    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str = "send"  # send | reset | truncate | drip | hang | gzip_bomb
    interval: float = 0.5


@dataclass(frozen=True, slots=True)
class Request:
    """One request as read off the stream; header names are lower-case."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: str
    keep_alive: bool


class HttpError(Exception):
    """A request that cannot be served: answered with ``status``, then the connection closes."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def read_request(reader: asyncio.StreamReader, peer: str) -> Request | None:
    """One request off the stream; ``None`` on a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise HttpError(431, "request head too large") from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise HttpError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise HttpError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise HttpError(501, "Transfer-Encoding is not supported; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise HttpError(400, "bad Content-Length")
    if int(length_text) > MAX_BODY:
        raise HttpError(413, "request body too large")
    body = await reader.readexactly(int(length_text))
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    return Request(parts[0], parts[1], headers, body, peer, keep)


@functools.lru_cache(maxsize=1)
def gzip_bomb_body() -> bytes:
    """~200 KiB of gzip that inflates to 200 MiB of spaces; built once, streamed through zlib."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(GZIP_BOMB_MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


def _head(response: Response, length: int, keep_alive: bool) -> bytes:
    lines = [f"HTTP/1.1 {response.status} {http.HTTPStatus(response.status).phrase}"]
    lines.append("Server: balancewatch-sim")
    if response.content_type:
        lines.append(f"Content-Type: {response.content_type}")
    lines.append(f"Content-Length: {length}")
    lines.extend(f"{name}: {value}" for name, value in response.headers)
    lines.append("Connection: keep-alive" if keep_alive else "Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP RST (SO_LINGER 0) instead of a polite FIN."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


async def send_response(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    response: Response,
    *,
    keep_alive: bool,
) -> bool:
    """Write (or deliberately mis-write) one response; True if the connection stays open."""
    if response.action == "reset":
        _abort(writer)
        return False
    if response.action == "hang":
        while await reader.read(65536):  # hold the connection until the peer or stop() ends it
            pass
        return False
    body = (
        await asyncio.to_thread(gzip_bomb_body) if response.action == "gzip_bomb" else response.body
    )
    if response.action == "truncate":
        writer.write(_head(response, len(body), False) + body[: len(body) // 2])
        await writer.drain()
        return False
    data = _head(response, len(body), keep_alive) + body
    if response.action == "drip":
        for index in range(len(data)):
            writer.write(data[index : index + 1])
            await writer.drain()
            await asyncio.sleep(response.interval)
    else:
        writer.write(data)
        await writer.drain()
    return keep_alive
