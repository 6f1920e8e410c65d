"""The simulator's faults: each a name and a function building the :class:`Response` to send.

:data:`FAULT_HANDLERS` maps a fault's name (:data:`FAULTS`) to a handler that is given the
account's provider, balances and the fault's parameters (:class:`FaultContext`). Some
answer with a status or a bad body (``http500``, ``rate_limited``, ``html``, ``nan``,
``deep``, ...); the connection-level ones (``reset``, ``truncate``, ``drip``, ``hang``,
``gzip_bomb``) set the response's ``action``, which :mod:`balancewatch.sim.http` performs.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import format_datetime

from balancewatch.sim.http import Response
from balancewatch.sim.wire import Balances, RawJson, dumps, error_response, success_obj


@dataclass(frozen=True, slots=True)
class FaultContext:
    """What a fault handler is given: the provider, the account's balances and the params."""

    provider: str
    balances: Balances
    shape: str
    params: Mapping[str, object]

    def success(self, override: object = None) -> bytes:
        return dumps(success_obj(self.provider, self.balances, self.shape, override)).encode()

    def number(self, name: str, default: float) -> float:
        value = self.params.get(name, default)
        return float(value) if isinstance(value, int | float | Decimal) else default


_FaultHandler = Callable[[FaultContext], Response]
FAULT_PARAMS = frozenset(
    {"retry_after", "retry_after_date", "retry_after_header", "interval", "size", "depth"}
    | {"digits", "quoted"}
)
"""The keyword parameters a fault may be given, e.g. ``set_fault(key, "drip", interval=1)``."""


def _status_fault(status: int) -> _FaultHandler:
    return lambda ctx: error_response(ctx.provider, status)


def _rate_limited(ctx: FaultContext) -> Response:
    seconds = int(ctx.number("retry_after", 30))
    headers: list[tuple[str, str]] = []
    if ctx.params.get("retry_after_header", True):
        value = str(seconds)
        if ctx.params.get("retry_after_date", False):
            value = format_datetime(datetime.now(UTC) + timedelta(seconds=seconds), usegmt=True)
        headers.append(("Retry-After", value))
    response = error_response(ctx.provider, 429, retry_after=seconds)
    response.headers = headers
    return response


def _amount_fault(token: str) -> _FaultHandler:
    def handler(ctx: FaultContext) -> Response:
        quoted = ctx.provider == "thedex" and bool(ctx.params.get("quoted", False))
        return Response(200, ctx.success(token if quoted else RawJson(token)))

    return handler


def _long_number(ctx: FaultContext) -> Response:
    return _amount_fault("9" * int(ctx.number("digits", 5000)))(ctx)


def _deep(ctx: FaultContext) -> Response:
    depth = int(ctx.number("depth", 100_000))
    return Response(200, ctx.success(RawJson("[" * depth + "]" * depth)))


def _garbage(ctx: FaultContext) -> Response:
    size = int(ctx.number("size", 1024))
    return Response(200, b"\xff\x00" + random.Random(size).randbytes(size))


_HTML_PAGE = (
    b"<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body>"
    b"<h1>502 Bad Gateway</h1><hr><center>cloudflare</center></body></html>"
)

FAULT_HANDLERS: Mapping[str, _FaultHandler] = {
    "http500": _status_fault(500),
    "http503": _status_fault(503),
    "auth": _status_fault(401),
    "forbidden": _status_fault(403),
    "rate_limited": _rate_limited,
    "html": lambda ctx: Response(200, _HTML_PAGE, "text/html; charset=utf-8"),
    "empty": lambda ctx: Response(200, b""),
    "wrong_content_type": lambda ctx: Response(200, ctx.success(), "text/plain; charset=utf-8"),
    "garbage": _garbage,
    "nan": _amount_fault("NaN"),
    "infinity": _amount_fault("Infinity"),
    "huge": _amount_fault("1e400"),
    "bool": _amount_fault("true"),
    "deep": _deep,
    "long_number": _long_number,
    "gzip_bomb": lambda ctx: Response(
        200, headers=[("Content-Encoding", "gzip")], action="gzip_bomb"
    ),
    "reset": lambda ctx: Response(0, action="reset"),
    "truncate": lambda ctx: Response(200, ctx.success(), action="truncate"),
    "drip": lambda ctx: Response(
        200, ctx.success(), action="drip", interval=ctx.number("interval", 0.5)
    ),
    "hang": lambda ctx: Response(0, action="hang"),
    "success_false": lambda ctx: error_response(ctx.provider, 500, http_status=200),
    "code_mismatch": lambda ctx: error_response(ctx.provider, 500, http_status=200),
}
FAULTS: tuple[str, ...] = tuple(FAULT_HANDLERS)
