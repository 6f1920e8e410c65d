"""Reading provider answers: strict JSON, amounts, currencies and error bodies.

Every number becomes a ``Decimal``; NaN, Infinity, absurd nesting or number lengths are a
:class:`~balancewatch.model.MalformedResponse`, never a balance. Pure functions: the
providers' ``parse`` methods are built from these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from balancewatch.model import MalformedResponse
from balancewatch.units import to_amount

MAX_RETRY_AFTER = 3600.0
"""A Retry-After beyond an hour is capped: we would rather ask again than go blind."""

MAX_JSON_DEPTH = 64


@dataclass(frozen=True, slots=True)
class ErrorDetails:
    """What a provider's error body says, read defensively."""

    code: str | None = None
    message: str | None = None
    retry_after: float | None = None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def _parse_int(text: str) -> Decimal:
    if len(text) > 64:
        raise ValueError("number too long")
    return Decimal(text)


def _parse_float(text: str) -> Decimal:
    if len(text) > 64:
        raise ValueError("number too long")
    return Decimal(text)


def loads_strict(body: bytes) -> Any:
    """Decode JSON with every number as Decimal; NaN/Infinity, deep or huge input rejected."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedResponse("the body is not UTF-8 text") from None
    if not text.strip():
        raise MalformedResponse("the body is empty")
    if _nesting_exceeds(text, MAX_JSON_DEPTH):
        raise MalformedResponse(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    try:
        return _DECODER.decode(text)
    except (ValueError, RecursionError) as exc:
        snippet = text[:60].replace("\n", " ")
        raise MalformedResponse(
            f"the body is not valid JSON ({_short(exc)}): {snippet!r}"
        ) from None


def _nesting_exceeds(text: str, limit: int) -> bool:
    """A cheap upper bound on nesting (brackets inside strings count too, erring strict)."""
    if text.count("[") + text.count("{") <= limit:
        return False
    depth = 0
    for char in text:
        if char in "[{":
            depth += 1
            if depth > limit:
                return True
        elif char in "]}":
            depth -= 1
    return False


def _short(exc: BaseException) -> str:
    return str(exc).split(":")[0][:80]


def amount_at(data: Any, *path: str | int) -> Decimal | None:
    """The amount at ``path`` in decoded JSON: ``None`` if absent, MalformedResponse if bad."""
    node = value_at(data, path)
    if node is None:
        return None
    where = ".".join(str(p) for p in path)
    try:
        return to_amount(node)
    except ValueError as exc:
        raise MalformedResponse(f"{where}: {printable(str(exc))}") from None
    except ArithmeticError:  # decimal.Overflow from abs() of 1E+999999999, whatever to_amount does
        raise MalformedResponse(f"{where}: amount out of range") from None


def value_at(data: Any, path: Iterable[str | int]) -> Any:
    """The value at ``path`` (dict keys, list indexes), or ``None`` when any step is missing."""
    node = data
    for step in path:
        if isinstance(node, list) and isinstance(step, int) and -len(node) <= step < len(node):
            node = node[step]
        elif isinstance(node, dict) and str(step) in node:
            node = node[str(step)]
        else:
            return None
    return node


def require_amount(data: Any, *path: str | int) -> Decimal:
    """Like :func:`amount_at`, but a missing amount is a MalformedResponse too."""
    amount = amount_at(data, *path)
    if amount is None:
        raise MalformedResponse(f"{'.'.join(str(p) for p in path)} is missing")
    return amount


MAX_CURRENCY_CHARS = 64


def currency_key(value: Any, where: str) -> str:
    """A currency name from an answer: printable text, at most 64 characters, stripped.

    Anything else (a number, a control character, a lone surrogate from a ``\\ud800``
    escape, a kilobyte of text) would break the output, the logs or the state database.
    """
    text = value.strip() if isinstance(value, str) else ""
    if not text or len(text) > MAX_CURRENCY_CHARS or not text.isprintable():
        raise MalformedResponse(f"{where}: not a currency name")
    return text


def require_object(data: Any, key: str) -> dict[str, Any]:
    """``data[key]``, which must be a JSON object, else :class:`MalformedResponse`."""
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, dict):
        raise MalformedResponse(f"expected an object at {key!r}")
    return value


def generic_error_details(data: Any) -> ErrorDetails:
    """``error.code``/``error.message``, else ``message``, ``error``, ``errorMessage``, ..."""
    if not isinstance(data, dict):
        return ErrorDetails()
    code = message = None
    error = data.get("error")
    if isinstance(error, dict):
        code = _text(error.get("code"))
        message = _text(error.get("message"))
    for key in ("message", "error", "errorMessage", "description"):
        if message is None:
            message = _text(data.get(key))
    retry = data.get("retryAfter")
    retry_after = None
    if isinstance(retry, Decimal) and retry.is_finite() and retry > 0:
        retry_after = min(float(retry), MAX_RETRY_AFTER)
    return ErrorDetails(code=code, message=message, retry_after=retry_after)


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    return printable(value[:200]) or None


def printable(text: str) -> str:
    """Foreign text made safe for one line of output: controls, line breaks and lone
    surrogates become spaces or ``?`` (a surrogate cannot even be printed or stored)."""
    cleaned = "".join(c if c.isprintable() else (" " if c.isspace() else "?") for c in text)
    return " ".join(cleaned.split())


_DECODER = json.JSONDecoder(
    parse_float=_parse_float, parse_int=_parse_int, parse_constant=_reject_constant
)
"""Made once: ``json.loads`` with hooks builds a new decoder on every call."""
