"""The providers' wire formats, as the simulator speaks them.

Which endpoint each provider serves (:data:`ENDPOINTS`) and how a request names its
account (API key headers; TheDex's signed payload, :func:`verify_thedex`); the bodies of a
success (:func:`success_obj`) and of each provider's own errors
(:func:`error_response`); and :func:`dumps`, which writes Decimals into JSON as their exact
text (never a float). Balances given as text or numbers are checked and made Decimals by
:func:`normalize_balances`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http
import itertools
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation

from balancewatch.model import BALANCE_KINDS, KIND_ALIASES
from balancewatch.sim.http import Response

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

_KEY_HEADERS = {"oneclickdz": "x-access-token", "thedex": "x-ex-apikey", "sunor": "x-api-key"}
_REQUEST_IDS = itertools.count(1)

Balances = dict[str, dict[str, Decimal]]
"""Currency -> balance kind (``available``, ``held``, ...) -> amount."""


class RawJson(str):
    """A JSON token written verbatim (``NaN``, ``1e400``, ``[[[...]]]``)."""

    __slots__ = ()


def _plain(amount: Decimal) -> str:
    return format(amount, "f")


def dumps(value: object) -> str:
    """Compact JSON in which Decimals keep their exact text (never a float)."""
    if isinstance(value, RawJson):
        return str(value)
    if isinstance(value, Decimal):
        return _plain(value)
    if isinstance(value, Mapping):
        return "{" + ",".join(f"{json.dumps(str(k))}:{dumps(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(dumps(item) for item in value) + "]"
    return json.dumps(value)  # str, int, bool, None


def to_decimal(value: object) -> Decimal:
    """An amount given as Decimal, int or text, as a Decimal (TypeError, ValueError)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"an amount must be Decimal, int or str, not {type(value).__name__}")
    try:
        return value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None


def balance_kind(name: str) -> str:
    """The canonical balance kind for ``name`` or one of its aliases."""
    kind = KIND_ALIASES.get(name, name)
    if kind not in BALANCE_KINDS:
        raise ValueError(f"unknown balance kind {name!r}")
    return kind


def normalize_balances(balances: Mapping[str, Mapping[str, Decimal | int | str]]) -> Balances:
    """A fresh :data:`Balances` with canonical kinds and Decimal amounts; never empty."""
    out = {
        cur: {balance_kind(k): to_decimal(v) for k, v in kinds.items()}
        for cur, kinds in balances.items()
    }
    if not out:
        raise ValueError("an account needs at least one currency")
    return out


# ---------------------------------------------------------------- responses


def json_response(status: int, obj: object, headers: Sequence[tuple[str, str]] = ()) -> Response:
    """``obj`` as the JSON body (by :func:`dumps`) of a ``status`` response."""
    return Response(status, dumps(obj).encode(), headers=list(headers))


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


def error_response(
    provider: str,
    status: int,
    *,
    code: str | None = None,
    message: str | None = None,
    details: Mapping[str, object] | None = None,
    retry_after: int = 30,
    http_status: int | None = None,
) -> Response:
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
    return json_response(http_status or status, obj)


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


# ---------------------------------------------------------------- requests


def route(method: str, target: str) -> str | Response:
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
            return json_response(405, {"error": "Method Not Allowed", "statusCode": 405}, allow)
    message = f"Route {method}:{target[:200]} not found"
    return json_response(404, {"message": message, "error": "Not Found", "statusCode": 404})


def request_api_key(provider: str, headers: Mapping[str, str]) -> str | None:
    """The API key a request to ``provider`` carries, in that provider's header."""
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
