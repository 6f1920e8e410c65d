"""Simulated balance providers on loopback, speaking the real wire formats.

One :class:`SimServer` serves Dhmad, OneClickDz, TheDex and Sunor on a single port. Every
endpoint answers both bare (``/api/v1/balance``) and under a provider prefix
(``/dhmad/api/v1/balance``), so ``base_url("dhmad")`` stands in for the real base URL.

* A small HTTP/1.1 server on asyncio streams: one coroutine per connection, keep-alive,
  ``Content-Length`` bodies; thousands of idle connections cost a few KiB each.
* State sits behind one ``threading.Lock`` (tests mutate it from another thread); it is
  never held across an ``await``. Each answer is decided under the lock, written outside.
* Amounts are Decimals, written into JSON as their exact text by :func:`dumps`.
* Faults are data: ``_FAULTS`` maps a name to a function building a :class:`_Response`;
  connection-level faults (reset, truncate, drip, hang, gzip bomb) are an ``action`` that
  :func:`_send` performs.
* :meth:`SimServer.stop` aborts every connection (hanging and dripping ones too) and awaits
  its coroutine, so nothing is left pending.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import functools
import hashlib
import hmac
import http
import itertools
import json
import random
import signal
import socket
import struct
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from email.utils import format_datetime
from pathlib import Path
from types import TracebackType

from balancewatch.model import BALANCE_KINDS, KIND_ALIASES

PROVIDERS: tuple[str, ...] = ("dhmad", "oneclickdz", "thedex", "sunor")
ENDPOINTS: Mapping[str, tuple[str, str]] = {
    "dhmad": ("GET", "/api/v1/balance"),
    "oneclickdz": ("GET", "/v3/account/balance"),
    "thedex": ("POST", "/api/v1/balances"),
    "sunor": ("GET", "/api/v1/account/balance"),
}
THEDEX_SHAPES: tuple[str, ...] = ("list", "dict", "duplicate")
DEFAULT_BALANCES: Mapping[str, Mapping[str, Mapping[str, str]]] = {
    "dhmad": {"TND": {"available": "1500.50", "pending": "200.00", "held": "500.25"}},
    "oneclickdz": {"DZD": {"available": "1326.13"}},
    "thedex": {
        "BTC_BITCOIN": {"available": "0.00120000", "held": "0.00000000"},
        "USDT_TRON": {"available": "250.00000000", "held": "50.00000000"},
    },
    "sunor": {"CREDITS": {"available": "950", "held": "10"}},
}
OCD_MAX_ATTEMPTS = 5
OCD_BLOCK_SECONDS = 15 * 60
MAX_BODY = 1 << 20
GZIP_BOMB_MIB = 200

_KEY_HEADERS = {"oneclickdz": "x-access-token", "thedex": "x-ex-apikey", "sunor": "x-api-key"}
_REQUEST_IDS = itertools.count(1)

Balances = dict[str, dict[str, Decimal]]


class _Raw(str):
    """A JSON token written verbatim (``NaN``, ``1e400``, ``[[[...]]]``)."""

    __slots__ = ()


def _plain(amount: Decimal) -> str:
    return format(amount, "f")


def dumps(value: object) -> str:
    """Compact JSON in which Decimals keep their exact text (never a float)."""
    if isinstance(value, _Raw):
        return str(value)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)  # str, int, bool, None


def _to_decimal(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"an amount must be Decimal, int or str, not {type(value).__name__}")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def _kind(name: str) -> str:
    kind = KIND_ALIASES.get(name, name)
    if kind not in BALANCE_KINDS:
        raise ValueError(f"unknown balance kind {name!r}")
    return kind


def _normalize(balances: Mapping[str, Mapping[str, Decimal | int | str]]) -> Balances:
    out = {
        cur: {_kind(k): _to_decimal(v) for k, v in kinds.items()} for cur, kinds in balances.items()
    }
    if not out:
        raise ValueError("an account needs at least one currency")
    return out


# ---------------------------------------------------------------- responses


@dataclass(slots=True)
class _Response:
    status: int
    body: bytes = b""
    content_type: str | None = "application/json"
    headers: list[tuple[str, str]] = field(default_factory=list)
    action: str = "send"  # send | reset | truncate | drip | hang | gzip_bomb
    interval: float = 0.5


def _json_response(status: int, obj: object, headers: Sequence[tuple[str, str]] = ()) -> _Response:
    return _Response(status, dumps(obj).encode(), headers=list(headers))


_MESSAGES: Mapping[tuple[str, int], str] = {  # the rest say HTTPStatus(status).phrase
    ("dhmad", 401): "Invalid or expired API key",
    ("dhmad", 403): "Developer account must be associated with a user account to use this endpoint",
    ("dhmad", 429): "Rate limit exceeded. Please try again later.",
    ("oneclickdz", 401): "The provided access token is invalid",
    ("oneclickdz", 403): "Your IP address is not allowed to use this API key",
    ("oneclickdz", 500): "Developer was notified and will check shortly",
    ("thedex", 401): "Invalid signature, api key or payload header",
    ("sunor", 401): "Invalid API key",
    ("sunor", 429): "Rate limit exceeded. Try again in {seconds} seconds.",
}
_OCD_CODES = {401: "INVALID_ACCESS_TOKEN", 403: "IP_NOT_ALLOWED", 429: "RATE_LIMIT_EXCEEDED"}


def _error(
    provider: str,
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    details: Mapping[str, object] | None = None,
    retry_after: int = 30,
    http_status: int | None = None,
) -> _Response:
    """The provider's own error body for ``status`` (sent as ``http_status``, default the same)."""
    phrase = http.HTTPStatus(status).phrase
    text = message or _MESSAGES.get((provider, status), phrase.capitalize())
    obj: dict[str, object] = {
        "code": status,
        "message": text.replace("{seconds}", str(retry_after)),
    }
    if provider == "dhmad":
        obj = {"error": phrase, "message": text}
        if status == 429:
            obj["retryAfter"] = retry_after
    elif provider == "oneclickdz":
        error: dict[str, object] = {
            "code": code or _OCD_CODES.get(status, phrase.upper().replace(" ", "_")),
            "message": text,
        }
        if details:
            error["details"] = dict(details)
        obj = {"success": False, "error": error, "requestId": f"req_{next(_REQUEST_IDS):012x}"}
    elif provider == "thedex":
        obj = {"message": text, **(details or {})}
    return _json_response(http_status or status, obj)


def _utc_stamp() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def _thedex_entry(kinds: Mapping[str, Decimal], override: object) -> dict[str, object]:
    available = kinds.get("available", Decimal(0))
    held = kinds.get("held", Decimal(0))
    total = kinds.get("total", available + held)
    shown = override if override is not None else _plain(available)
    return {"totalBalance": _plain(total), "holdBalance": _plain(held), "availableBalance": shown}


def _thedex_obj(balances: Balances, shape: str, override: object) -> object:
    items: list[tuple[str, dict[str, object]]] = []
    for i, (currency, kinds) in enumerate(balances.items()):
        first_override = override if i == 0 else None
        if shape == "duplicate":
            half = {k: v / 2 for k, v in kinds.items()}
            rest = {k: v - half[k] for k, v in kinds.items()}
            items.append((currency, _thedex_entry(half, first_override)))
            items.append((currency, _thedex_entry(rest, None)))
        else:
            items.append((currency, _thedex_entry(kinds, first_override)))
    if shape == "dict":
        return dict(items)
    return [{currency: entry} for currency, entry in items]


def success_obj(
    provider: str, balances: Balances, shape: str = "list", override: object = None
) -> object:
    """The provider's 200 body; ``override`` replaces the main amount (faults)."""
    if provider == "thedex":
        return _thedex_obj(balances, shape, override)
    kinds = next(iter(balances.values()))
    zero = Decimal(0)
    available = override if override is not None else kinds.get("available", zero)
    held = kinds.get("held", zero)
    if provider == "dhmad":
        pending = kinds.get("pending", zero)
        return {"balance": {"available": available, "pending": pending, "escrow": held}}
    if provider == "oneclickdz":
        return {
            "success": True,
            "data": {"balance": available},
            "meta": {"timestamp": _utc_stamp()},
        }
    total = kinds.get("total", kinds.get("available", zero) + held)
    return {"code": 200, "data": {"available": available, "frozen": held, "total": total}}


# ---------------------------------------------------------------- faults


@dataclass(frozen=True, slots=True)
class _FaultCtx:
    provider: str
    balances: Balances
    shape: str
    params: Mapping[str, object]

    def success(self, override: object = None) -> bytes:
        return dumps(success_obj(self.provider, self.balances, self.shape, override)).encode()

    def number(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        return float(value) if isinstance(value, int | float | Decimal) else default


_FaultHandler = Callable[[_FaultCtx], _Response]
_PARAMS = frozenset(
    {"retry_after", "retry_after_date", "retry_after_header", "interval", "size", "depth"}
    | {"digits", "quoted"}
)


def _status_fault(status: int) -> _FaultHandler:
    return lambda ctx: _error(ctx.provider, status)


def _rate_limited(ctx: _FaultCtx) -> _Response:
    seconds = int(ctx.number("retry_after", 30))
    headers: list[tuple[str, str]] = []
    if ctx.params.get("retry_after_header", True):
        value = str(seconds)
        if ctx.params.get("retry_after_date", False):
            value = format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)
        headers.append(("Retry-After", value))
    response = _error(ctx.provider, 429, retry_after=seconds)
    response.headers = headers
    return response


def _amount_fault(token: str) -> _FaultHandler:
    def handler(ctx: _FaultCtx) -> _Response:
        quoted = ctx.provider == "thedex" and bool(ctx.params.get("quoted", False))
        return _Response(200, ctx.success(token if quoted else _Raw(token)))

    return handler


def _long_number(ctx: _FaultCtx) -> _Response:
    return _amount_fault("9" * int(ctx.number("digits", 5000)))(ctx)


def _deep(ctx: _FaultCtx) -> _Response:
    depth = int(ctx.number("depth", 100_000))
    return _Response(200, ctx.success(_Raw("[" * depth + "]" * depth)))


def _garbage(ctx: _FaultCtx) -> _Response:
    size = int(ctx.number("size", 1024))
    return _Response(200, b"\xff\x00" + random.Random(size).randbytes(size))


_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>502 Bad Gateway</h1><hr><center>cloudflare</center></body></html>"
)

_FAULTS: Mapping[str, _FaultHandler] = {
    "http500": _status_fault(500),
    "http503": _status_fault(503),
    "auth": _status_fault(401),
    "forbidden": _status_fault(403),
    "rate_limited": _rate_limited,
    "html": lambda ctx: _Response(200, _HTML_PAGE, "text/html; charset=utf-8"),
    "empty": lambda ctx: _Response(200, b""),
    "wrong_content_type": lambda ctx: _Response(200, ctx.success(), "text/plain; charset=utf-8"),
    "garbage": _garbage,
    "nan": _amount_fault("NaN"),
    "infinity": _amount_fault("Infinity"),
    "huge": _amount_fault("1e400"),
    "bool": _amount_fault("true"),
    "deep": _deep,
    "long_number": _long_number,
    "gzip_bomb": lambda ctx: _Response(
        200, headers=[("Content-Encoding", "gzip")], action="gzip_bomb"
    ),
    "reset": lambda ctx: _Response(0, action="reset"),
    "truncate": lambda ctx: _Response(200, ctx.success(), action="truncate"),
    "drip": lambda ctx: _Response(
        200, ctx.success(), action="drip", interval=ctx.number("interval", 0.5)
    ),
    "hang": lambda ctx: _Response(0, action="hang"),
    "success_false": lambda ctx: _error(ctx.provider, 500, http_status=200),
    "code_mismatch": lambda ctx: _error(ctx.provider, 500, http_status=200),
}
FAULTS: tuple[str, ...] = tuple(_FAULTS)


@functools.lru_cache(maxsize=1)
def gzip_bomb_body() -> bytes:
    """~200 KiB of gzip that inflates to 200 MiB of spaces; built once, streamed through zlib."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    chunk = b" " * (1 << 20)
    parts = [compressor.compress(chunk) for _ in range(GZIP_BOMB_MIB)]
    parts.append(compressor.flush())
    return b"".join(parts)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    peer: str
    keep_alive: bool


class _HttpError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


async def _read_request(reader: asyncio.StreamReader, peer: str) -> _Request | None:
    """One request off the stream; ``None`` on a clean end of stream."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if exc.partial.strip():
            raise _HttpError(400, "incomplete request head") from None
        return None
    except asyncio.LimitOverrunError:
        raise _HttpError(431, "request head too large") from None
    lines = head[:-4].decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        raise _HttpError(400, "malformed request line")
    headers: dict[str, str] = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise _HttpError(400, "malformed header line")
        headers[name.strip().lower()] = value.strip()
    if "transfer-encoding" in headers:
        raise _HttpError(501, "Transfer-Encoding is not supported; send Content-Length")
    length_text = headers.get("content-length", "0")
    if not length_text.isdigit():
        raise _HttpError(400, "bad Content-Length")
    if int(length_text) > MAX_BODY:
        raise _HttpError(413, "request body too large")
    body = await reader.readexactly(int(length_text))
    connection = headers.get("connection", "").lower()
    keep = connection != "close" if parts[2] == "HTTP/1.1" else connection == "keep-alive"
    return _Request(parts[0], parts[1], headers, body, peer, keep)


def _route(method: str, target: str) -> str | _Response:
    """The provider a request is for, or a 404/405 response."""
    path = target.split("?", 1)[0]
    candidates = PROVIDERS
    prefix, _, rest = path[1:].partition("/")
    if prefix in ENDPOINTS:
        candidates, path = (prefix,), "/" + rest
    for provider in candidates:
        expected_method, endpoint = ENDPOINTS[provider]
        if path == endpoint:
            if method == expected_method:
                return provider
            allow = [("Allow", expected_method)]
            return _json_response(405, {"error": "Method Not Allowed", "statusCode": 405}, allow)
    message = f"Route {method}:{target[:200]} not found"
    return _json_response(404, {"message": message, "error": "Not Found", "statusCode": 404})


def _api_key(provider: str, headers: Mapping[str, str]) -> str | None:
    if provider == "dhmad":
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
        return headers.get("x-api-key") or None
    return headers.get(_KEY_HEADERS[provider]) or None


def verify_thedex(body: bytes, headers: Mapping[str, str], secret: str) -> str | None:
    """Why a TheDex request fails verification (no secrets in the text), or ``None``."""
    payload, signature = headers.get("x-ex-payload"), headers.get("x-ex-signature")
    if not payload:
        return "missing X-EX-PAYLOAD header"
    if not signature:
        return "missing X-EX-SIGNATURE header"
    expected_payload = base64.b64encode(body)
    if not hmac.compare_digest(payload.encode("latin-1"), expected_payload):
        return "X-EX-PAYLOAD is not the base64 of the request body"
    digest = hmac.new(secret.encode("utf-8"), expected_payload, hashlib.sha512).hexdigest()
    if not hmac.compare_digest(signature.encode("latin-1"), digest.encode("ascii")):
        return "X-EX-SIGNATURE does not match the payload"
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        return "request body is not JSON"
    if not isinstance(data, dict) or data.get("request") != ENDPOINTS["thedex"][1]:
        return 'body field "request" is not "/api/v1/balances"'
    nonce = data.get("nonce")
    numeric = isinstance(nonce, int) and not isinstance(nonce, bool) and nonce >= 0
    if not numeric and not (isinstance(nonce, str) and nonce.isascii() and nonce.isdigit()):
        return 'body field "nonce" is missing or not a number of milliseconds'
    return None


# ---------------------------------------------------------------- the server


@dataclass(slots=True)
class _Account:
    provider: str
    secret: str | None
    balances: Balances
    shape: str
    fault: tuple[str, dict[str, object]] | None = None
    drain: tuple[str | None, str, Decimal] | None = None
    requests: int = 0
    last_headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Lockout:
    failures: int = 0
    blocked_until: float | None = None


class SimServer:
    """All four providers on one loopback port; see the module docstring."""

    def __init__(
        self, host: str = "127.0.0.1", port: int = 0, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.host = host
        self._port = port
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._global_fault: tuple[str, dict[str, object]] | None = None
        self._lockouts: dict[str, _Lockout] = {}
        self._server: asyncio.Server | None = None
        self._connections: dict[asyncio.Task[None], asyncio.StreamWriter] = {}
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._thread_stop: asyncio.Event | None = None
        self.total_requests = 0
        self.connections_accepted = 0
        self.loop_errors: list[str] = []

    # ------------------------------------------------------------ accounts

    def add_account(
        self,
        provider: str,
        api_key: str,
        *,
        secret: str | None = None,
        balances: Mapping[str, Mapping[str, Decimal | int | str]] | None = None,
        thedex_shape: str = "list",
    ) -> None:
        """Register (or replace) an account; TheDex secret defaults to ``secret-<key>``."""
        if provider not in ENDPOINTS:
            raise ValueError(f"unknown provider {provider!r}; expected one of {PROVIDERS}")
        if thedex_shape not in THEDEX_SHAPES:
            raise ValueError(f"thedex_shape must be one of {THEDEX_SHAPES}")
        if not api_key:
            raise ValueError("api_key must not be empty")
        if provider == "thedex" and secret is None:
            secret = f"secret-{api_key}"
        normalized = _normalize(balances if balances is not None else DEFAULT_BALANCES[provider])
        with self._lock:
            self._accounts[api_key] = _Account(provider, secret, normalized, thedex_shape)

    def _account(self, api_key: str) -> _Account:
        try:
            return self._accounts[api_key]
        except KeyError:
            raise KeyError(f"no simulated account with key {api_key[:4]}…") from None

    def set_balance(
        self, api_key: str, currency: str | None = None, **kinds: Decimal | int | str
    ) -> None:
        """Set kinds of one currency (``None`` = the first); a new currency is added."""
        values = {_kind(k): _to_decimal(v) for k, v in kinds.items()}
        with self._lock:
            balances = self._account(api_key).balances
            balances.setdefault(currency or next(iter(balances)), {}).update(values)

    def set_drain(
        self,
        api_key: str,
        per_request: Decimal,
        kind: str = "available",
        *,
        currency: str | None = None,
    ) -> None:
        """After each successful request, lower ``kind`` by ``per_request`` (not below 0)."""
        drain = (currency, _kind(kind), _to_decimal(per_request))
        with self._lock:
            self._account(api_key).drain = drain

    def set_fault(self, api_key: str | None, fault: str | None, **params: object) -> None:
        """Answer that account's requests (``None``: every request) with ``fault``.

        An account's own fault wins over the server-wide one; ``set_fault(None, None)``
        clears every fault.
        """
        if fault is not None and fault not in _FAULTS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        if set(params) - _PARAMS:
            raise ValueError(f"unknown fault parameter(s) {sorted(set(params) - _PARAMS)}")
        entry = None if fault is None else (fault, dict(params))
        with self._lock:
            if api_key is not None:
                self._account(api_key).fault = entry
                return
            self._global_fault = entry
            if fault is None:
                for account in self._accounts.values():
                    account.fault = None

    def requests_for(self, api_key: str) -> int:
        """Requests that reached this account, faulted and rejected ones included."""
        with self._lock:
            return self._account(api_key).requests

    def last_headers(self, api_key: str) -> dict[str, str]:
        """Headers (lower-case names) of the account's latest request."""
        with self._lock:
            return dict(self._account(api_key).last_headers)

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, request: _Request) -> _Response:
        with self._lock:
            self.total_requests += 1
            routed = _route(request.method, request.path)
            if isinstance(routed, _Response):
                return routed
            return self._handle(routed, request)

    def _handle(self, provider: str, request: _Request) -> _Response:
        key = _api_key(provider, request.headers)
        account = self._accounts.get(key) if key else None
        if account is not None and account.provider != provider:
            account = None
        if account is not None:
            account.requests += 1
            account.last_headers = dict(request.headers)
        fault = (account.fault if account else None) or self._global_fault
        if fault is not None:
            balances = account.balances if account else _normalize(DEFAULT_BALANCES[provider])
            ctx = _FaultCtx(provider, balances, account.shape if account else "list", fault[1])
            return _FAULTS[fault[0]](ctx)
        if provider == "oneclickdz":
            blocked = self._ocd_blocked(request.peer)
            if blocked is not None:
                return blocked
        if account is None:
            return self._unknown_key(provider, key, request.peer)
        if provider == "thedex":
            problem = verify_thedex(request.body, request.headers, account.secret or "")
            if problem is not None:
                return _error("thedex", 401, details={"reason": problem})
        response = _Response(
            200, dumps(success_obj(provider, account.balances, account.shape)).encode()
        )
        _apply_drain(account)
        return response

    def _ocd_blocked(self, peer: str) -> _Response | None:
        state = self._lockouts.get(peer)
        if state is None or state.blocked_until is None:
            return None
        if self._clock() >= state.blocked_until:
            del self._lockouts[peer]
            return None
        message = "Your IP has been temporarily blocked due to too many invalid attempts"
        return _error("oneclickdz", 403, code="IP_BLOCKED", message=message)

    def _unknown_key(self, provider: str, key: str | None, peer: str) -> _Response:
        if provider == "oneclickdz":
            state = self._lockouts.setdefault(peer, _Lockout())
            state.failures += 1
            left = max(OCD_MAX_ATTEMPTS - state.failures, 0)
            if left == 0:
                state.blocked_until = self._clock() + OCD_BLOCK_SECONDS
            return _error(provider, 401, details={"attemptsLeft": left})
        details = {"reason": "unknown or missing api key"} if provider == "thedex" else None
        return _error(provider, 401, details=details)

    # ------------------------------------------------------------ connections

    async def _serve_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        task = asyncio.current_task()
        if self._server is None or task is None:
            writer.transport.abort()
            return
        self._connections[task] = writer
        self.connections_accepted += 1
        peername = writer.get_extra_info("peername")
        peer = str(peername[0]) if isinstance(peername, tuple) else "local"
        try:
            await self._connection_loop(reader, writer, peer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
            pass  # peer went away, or stop() cancelled us: nothing left to answer
        finally:
            del self._connections[task]
            writer.close()

    async def _connection_loop(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        while True:
            try:
                request = await _read_request(reader, peer)
            except _HttpError as exc:
                body = {"error": http.HTTPStatus(exc.status).phrase, "message": str(exc)}
                await _send(reader, writer, _json_response(exc.status, body), keep_alive=False)
                return
            if request is None:
                return
            response = self._dispatch(request)
            if not await _send(reader, writer, response, keep_alive=request.keep_alive):
                return

    # ------------------------------------------------------------ lifecycle

    @property
    def port(self) -> int:
        return self._port

    def base_url(self, provider: str) -> str:
        if provider not in ENDPOINTS:
            raise ValueError(f"unknown provider {provider!r}")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self._port}/{provider}"

    async def start(self) -> None:
        """Listen on the running loop; ``port`` is known afterwards."""
        if self._server is not None:
            raise RuntimeError("SimServer is already running")
        self._server = await asyncio.start_server(
            self._serve_connection, self.host, self._port, backlog=4096, limit=64 * 1024
        )
        self._port = int(self._server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        """Stop listening and close every connection, hanging and dripping ones too."""
        server, self._server = self._server, None
        if server is None:
            return
        server.close()
        await asyncio.sleep(0)  # let just-accepted connections reach _serve_connection
        tasks = list(self._connections)
        for task, writer in list(self._connections.items()):
            writer.transport.abort()
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await server.wait_closed()

    def start_in_thread(self) -> SimServer:
        """Run the server on its own event loop in a daemon thread; returns ``self``."""
        if self._thread is not None:
            raise RuntimeError("SimServer thread already running")
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._thread_main(ready, errors)),
            name="sim-server",
            daemon=True,
        )
        self._thread.start()
        ready.wait()
        if errors:
            self._thread.join()
            self._thread = None
            raise errors[0]
        return self

    async def _thread_main(self, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(self._record_loop_error)
        self._thread_loop, self._thread_stop = loop, asyncio.Event()
        try:
            await self.start()
        except Exception as exc:
            errors.append(exc)
            return
        finally:
            ready.set()
        try:
            await self._thread_stop.wait()
        finally:
            await self.stop()

    def _record_loop_error(
        self, loop: asyncio.AbstractEventLoop, context: dict[str, object]
    ) -> None:
        self.loop_errors.append(str(context.get("message")))
        loop.default_exception_handler(context)

    def stop_thread(self) -> None:
        """Stop the server started by :meth:`start_in_thread` and join its thread."""
        thread, loop, event = self._thread, self._thread_loop, self._thread_stop
        if thread is None or loop is None or event is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(event.set)
        thread.join(timeout=10)
        self._thread = self._thread_loop = self._thread_stop = None

    def __enter__(self) -> SimServer:
        return self.start_in_thread()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()


def _apply_drain(account: _Account) -> None:
    if account.drain is None:
        return
    currency, kind, per_request = account.drain
    kinds = account.balances.get(currency or next(iter(account.balances)))
    if kinds is None:
        return
    before = kinds.get(kind, Decimal(0))
    lowered = min(per_request, max(before, Decimal(0)))
    kinds[kind] = before - lowered
    if kind != "total" and "total" in kinds:
        kinds["total"] -= lowered


def _head(response: _Response, length: int, keep_alive: bool) -> bytes:
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


async def _send(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    response: _Response,
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


# ---------------------------------------------------------------- command line


def generated_accounts(count: int) -> list[tuple[str, str, str | None, Balances]]:
    """Deterministic accounts over the providers: (provider, key, secret, balances)."""
    accounts: list[tuple[str, str, str | None, Balances]] = []
    for index in range(count):
        provider = PROVIDERS[index % len(PROVIDERS)]
        key = f"sim-{provider}-{index // len(PROVIDERS):04d}"
        balances = _normalize(DEFAULT_BALANCES[provider])
        for kinds in balances.values():  # vary the amounts, keeping each default's scale
            kinds["available"] *= Decimal(1 + (index * 7919) % 97)
        accounts.append(
            (provider, key, f"secret-{key}" if provider == "thedex" else None, balances)
        )
    return accounts


async def _serve_cli(args: argparse.Namespace) -> int:
    server = SimServer(args.host, args.port)
    listing: list[dict[str, object]] = []
    for provider, key, secret, balances in generated_accounts(args.accounts):
        server.add_account(provider, key, secret=secret, balances=balances)
        listing.append({"provider": provider, "api_key": key, "secret": secret})
    await server.start()
    for entry in listing:
        entry["base_url"] = server.base_url(str(entry["provider"]))
    announce: dict[str, object] = {"port": server.port}
    if args.accounts_file:
        text = json.dumps(listing) + "\n"
        await asyncio.to_thread(Path(args.accounts_file).write_text, text, encoding="utf-8")
        announce["accounts_file"] = str(args.accounts_file)
    else:
        announce["accounts"] = listing
    sys.stdout.write(json.dumps(announce) + "\n")
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m balancewatch.sim``: serve generated accounts until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m balancewatch.sim", description=main.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    parser.add_argument("--accounts", type=int, default=8, help="accounts to generate")
    parser.add_argument("--accounts-file", help="write the account list here instead of stdout")
    args = parser.parse_args(argv)
    if args.accounts < 0:
        parser.error("--accounts must not be negative")
    return asyncio.run(_serve_cli(args))


if __name__ == "__main__":
    raise SystemExit(main())
