"""What the simulated providers know and how they answer, without any socket.

:class:`SimAccounts` holds the accounts (balances, an optional drain per request), the
faults set on one account or on all, and OneClickDz's lockout of a peer after too many
bad keys, and decides the answer to each parsed request (``_dispatch``). All of it
sits behind one ``threading.Lock`` (tests mutate it from another thread) that is never
held across an ``await``: each answer is decided under the lock and written outside it.

:class:`~balancewatch.sim.server.SimServer` is this plus the HTTP server on loopback.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from balancewatch.sim.faults import FAULT_HANDLERS, FAULT_PARAMS, FAULTS, FaultContext
from balancewatch.sim.http import Request, Response
from balancewatch.sim.wire import (
    DEFAULT_BALANCES,
    ENDPOINTS,
    PROVIDERS,
    THEDEX_SHAPES,
    Balances,
    balance_kind,
    dumps,
    error_response,
    normalize_balances,
    request_api_key,
    route,
    success_obj,
    to_decimal,
    verify_thedex,
)

OCD_MAX_ATTEMPTS = 5
OCD_BLOCK_SECONDS = 15 * 60


@dataclass(slots=True)
class _Account:
    provider: str
    secret: str | None
    balances: Balances
    shape: str
    fault: tuple[str, dict[str, object]] | None = None
    drain: tuple[str | None, str, Decimal] | None = None
    requests: int = 0
    request_times: list[float] = field(default_factory=list)
    last_headers: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class _Lockout:
    failures: int = 0
    blocked_until: float | None = None


class SimAccounts:
    """The accounts, faults and lockouts of all four providers; see the module docstring."""

    def __init__(self, *, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._accounts: dict[str, _Account] = {}
        self._global_fault: tuple[str, dict[str, object]] | None = None
        self._lockouts: dict[str, _Lockout] = {}
        self.total_requests = 0

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
        normalized = normalize_balances(
            balances if balances is not None else DEFAULT_BALANCES[provider]
        )
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
        values = {balance_kind(k): to_decimal(v) for k, v in kinds.items()}
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
        drain = (currency, balance_kind(kind), to_decimal(per_request))
        with self._lock:
            self._account(api_key).drain = drain

    def set_fault(self, api_key: str | None, fault: str | None, **params: object) -> None:
        """Answer that account's requests (``None``: every request) with ``fault``.

        An account's own fault wins over the server-wide one; ``set_fault(None, None)``
        clears every fault.
        """
        if fault is not None and fault not in FAULT_HANDLERS:
            raise ValueError(f"unknown fault {fault!r}; expected one of {FAULTS}")
        if set(params) - FAULT_PARAMS:
            raise ValueError(f"unknown fault parameter(s) {sorted(set(params) - FAULT_PARAMS)}")
        entry = None if fault is None else (fault, dict(params))
        with self._lock:
            if api_key is not None:
                self._account(api_key).fault = entry
                return
            self._global_fault = entry
            if fault is None:
                for account in self._accounts.values():
                    account.fault = None

    def resolve(self, name: str) -> str:
        """The API key ``name`` means: itself, or a provider's name for its first account."""
        with self._lock:
            if name in self._accounts:
                return name
            for api_key, account in self._accounts.items():
                if account.provider == name:
                    return api_key
        raise KeyError(f"no simulated account {name!r}: give an API key or a provider's name")

    def describe(self, api_key: str | None = None) -> list[dict[str, object]]:
        """Each account (or just ``api_key``'s): provider, key, secret, balances, fault.

        Amounts are their exact text (``"950.00"``), for JSON readers that would make a
        float of a number.
        """
        with self._lock:
            keys = list(self._accounts) if api_key is None else [api_key]
            return [_describe(key, self._account(key)) for key in keys]

    def requests_for(self, api_key: str) -> int:
        """Requests that reached this account, faulted and rejected ones included."""
        with self._lock:
            return self._account(api_key).requests

    def request_times(self, api_key: str) -> list[float]:
        """When each request reached this account (the server's clock, seconds), in order:
        the tests of several daemons find an account polled twice in one slot by them."""
        with self._lock:
            return list(self._account(api_key).request_times)

    def last_headers(self, api_key: str) -> dict[str, str]:
        """Headers (lower-case names) of the account's latest request."""
        with self._lock:
            return dict(self._account(api_key).last_headers)

    # ------------------------------------------------------------ dispatch

    def _dispatch(self, request: Request) -> Response:
        """The answer to one request, decided under the lock (the caller writes it)."""
        with self._lock:
            self.total_requests += 1
            routed = route(request.method, request.path)
            if isinstance(routed, Response):
                return routed
            return self._handle(routed, request)

    def _handle(self, provider: str, request: Request) -> Response:
        key = request_api_key(provider, request.headers)
        account = self._accounts.get(key) if key else None
        if account is not None and account.provider != provider:
            account = None
        if account is not None:
            account.requests += 1
            account.request_times.append(self._clock())
            account.last_headers = dict(request.headers)
        fault = (account.fault if account else None) or self._global_fault
        if fault is not None:
            balances = (
                account.balances if account else normalize_balances(DEFAULT_BALANCES[provider])
            )
            ctx = FaultContext(provider, balances, account.shape if account else "list", fault[1])
            return FAULT_HANDLERS[fault[0]](ctx)
        if provider == "oneclickdz":
            blocked = self._ocd_blocked(request.peer)
            if blocked is not None:
                return blocked
        if account is None:
            return self._unknown_key(provider, key, request.peer)
        if provider == "thedex":
            problem = verify_thedex(request.body, request.headers, account.secret or "")
            if problem is not None:
                return error_response("thedex", 401, details={"reason": problem})
        response = Response(
            200, dumps(success_obj(provider, account.balances, account.shape)).encode()
        )
        _apply_drain(account)
        return response

    def _ocd_blocked(self, peer: str) -> Response | None:
        state = self._lockouts.get(peer)
        if state is None or state.blocked_until is None:
            return None
        if self._clock() >= state.blocked_until:
            del self._lockouts[peer]
            return None
        message = "Your IP has been temporarily blocked due to too many invalid attempts"
        return error_response("oneclickdz", 403, code="IP_BLOCKED", message=message)

    def _unknown_key(self, provider: str, key: str | None, peer: str) -> Response:
        if provider == "oneclickdz":
            state = self._lockouts.setdefault(peer, _Lockout())
            state.failures += 1
            left = max(OCD_MAX_ATTEMPTS - state.failures, 0)
            if left == 0:
                state.blocked_until = self._clock() + OCD_BLOCK_SECONDS
            return error_response(provider, 401, details={"attemptsLeft": left})
        details = {"reason": "unknown or missing api key"} if provider == "thedex" else None
        return error_response(provider, 401, details=details)


def _describe(api_key: str, account: _Account) -> dict[str, object]:
    return {
        "provider": account.provider,
        "api_key": api_key,
        "secret": account.secret,
        "balances": {
            currency: {kind: format(amount, "f") for kind, amount in kinds.items()}
            for currency, kinds in account.balances.items()
        },
        "fault": account.fault[0] if account.fault else None,
        "requests": account.requests,
    }


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
