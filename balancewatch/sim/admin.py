"""The simulator's control channel: ``/_sim/`` on its own loopback port, JSON in and out.

- ``GET /_sim/accounts``: ``{"accounts": [...]}``, each account's ``provider``,
  ``api_key``, ``secret``, ``balances`` (currency -> kind -> amount) and ``fault``.
- ``GET /_sim/accounts/<account>``: one account. ``<account>`` is an API key, or a
  provider's name for that provider's first account (``/_sim/accounts/oneclickdz``).
- ``POST /_sim/accounts/<account>`` with a JSON object of what to change, e.g.
  ``{"available": "950.00"}``, ``{"held": "2000", "currency": "TND"}``,
  ``{"fault": "http500"}``, ``{"fault": null}``. Fields: the balance kinds ``available``,
  ``pending``, ``held`` (or ``escrow``, ``frozen``, ``hold``) and ``total``; ``currency``
  (default: the account's first); ``fault``: a name of :data:`~balancewatch.sim.server.FAULTS`,
  a shorthand of :data:`FAULT_ALIASES` (``500``, ``401``, ``429``, ``timeout``, ...), or
  ``null``/``"none"`` to clear it. The answer is the account as changed.

Amounts are written as strings (or JSON numbers, read as Decimals: never a float) and
answered as strings. Mistakes are answered ``{"error": "..."}`` with 400, 404 or 405,
and change nothing. There is no authentication: this is a simulator on loopback.
``python -m balancewatch.sim set|fault|show`` (:mod:`balancewatch.sim.cli`) are its client.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import unquote

from balancewatch.sim.accounts import SimAccounts
from balancewatch.sim.faults import FAULT_HANDLERS, FAULTS
from balancewatch.sim.http import Request, Response
from balancewatch.sim.wire import balance_kind, json_response, to_decimal

ADMIN_PREFIX = "/_sim/"
FAULT_ALIASES: Mapping[str, str] = {
    "500": "http500",
    "503": "http503",
    "401": "auth",
    "403": "forbidden",
    "429": "rate_limited",
    "timeout": "hang",
}
"""Shorthands a user would type for the common faults."""
CLEAR_FAULT = ("none", "clear", "off")
_KIND_FIELDS = ("available", "pending", "held", "total", "escrow", "frozen", "hold")


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def is_admin(path: str) -> bool:
    return path.startswith(ADMIN_PREFIX)


def admin_response(accounts: SimAccounts, request: Request) -> Response:
    """The answer to one ``/_sim/`` request (the caller holds no lock)."""
    try:
        return _answer(accounts, request)
    except _Refused as exc:
        return json_response(exc.status, {"error": str(exc)})


def _answer(accounts: SimAccounts, request: Request) -> Response:
    path = request.path.split("?", 1)[0]
    parts = [unquote(part) for part in path[len(ADMIN_PREFIX) :].split("/")]
    if parts == ["accounts"]:
        _allow(request, "GET")
        return json_response(200, {"accounts": accounts.describe()})
    if len(parts) != 2 or parts[0] != "accounts" or not parts[1]:
        raise _Refused(404, f"no such path {path[:200]!r}: try GET /_sim/accounts")
    _allow(request, "GET", "POST")
    try:
        api_key = accounts.resolve(parts[1])
    except KeyError as exc:
        raise _Refused(404, str(exc.args[0])) from None
    if request.method == "POST":
        _change(accounts, api_key, request.body)
    return json_response(200, accounts.describe(api_key)[0])


def _allow(request: Request, *methods: str) -> None:
    if request.method not in methods:
        raise _Refused(405, f"{request.method} is not allowed here; use {' or '.join(methods)}")


def _change(accounts: SimAccounts, api_key: str, body: bytes) -> None:
    """Check every field first, then apply them: a refused change changes nothing."""
    try:
        fields = json.loads(body or b"null", parse_float=Decimal, parse_constant=_no_constant)
    except ValueError as exc:
        raise _Refused(400, f"the body is not JSON: {exc}") from None
    if not isinstance(fields, dict) or not fields:
        raise _Refused(400, 'send a JSON object of what to change, e.g. {"available": "950"}')
    unknown = sorted(set(fields) - {*_KIND_FIELDS, "currency", "fault"})
    if unknown:
        expected = ", ".join((*_KIND_FIELDS[:4], "currency", "fault"))
        raise _Refused(400, f"unknown field(s) {', '.join(unknown)}; expected {expected}")
    amounts = {balance_kind(k): _amount(k, v) for k, v in fields.items() if k in _KIND_FIELDS}
    currency = fields.get("currency")
    if currency is not None and (not isinstance(currency, str) or not currency):
        raise _Refused(400, "'currency' must be a currency's name, e.g. \"DZD\"")
    fault = _fault(fields["fault"]) if "fault" in fields else None
    if amounts:
        accounts.set_balance(api_key, currency, **amounts)
    if "fault" in fields:
        accounts.set_fault(api_key, fault)


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not an amount")


def _amount(field: str, value: object) -> Decimal:
    try:
        amount = to_decimal(value)
    except (TypeError, ValueError):
        amount = None
    if amount is None or not amount.is_finite():
        raise _Refused(400, f'{field!r} must be a finite amount such as "950.00", not {value!r}')
    return amount


def _fault(value: object) -> str | None:
    if value is None or (isinstance(value, str) and value.lower() in CLEAR_FAULT):
        return None
    name = FAULT_ALIASES.get(str(value), str(value))
    if not isinstance(value, str | int) or name not in FAULT_HANDLERS:
        aliases = ", ".join(FAULT_ALIASES)
        raise _Refused(
            400,
            f"unknown fault {value!r}; expected none, one of {aliases} or {', '.join(FAULTS)}",
        )
    return name
