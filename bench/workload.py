"""What is polled, how, and when: shared by the daemon's config and every reference client.

- Accounts come from the simulator's own ``generated_accounts(N)`` (round-robin over the four
  providers); account ``i`` is named ``acct-<provider>-<i:05d>`` everywhere.
- The daemon's config: 1-minute interval (``--interval``), ``jitter: 10%``, a threshold rule
  on every account, a ``change`` rule on every 3rd, a ``held_increase`` on every 5th, one
  ``json://`` notifier to the bench's receiver.
- Crossings: a few accounts have their balance dropped below the critical level during the
  measured window, and put back later (so both a firing and a resolved notification).
- The requests the references make are built here exactly as the providers build them
  (same URL, method, headers; TheDex signed with ``balancewatch.providers.thedex.sign``).
- :class:`Schedule` is the daemon's: a first run spread over ``min(interval, 5 ms x N)``,
  then one run per interval in each account's own slot, with ``balancewatch.daemon.schedule``'s
  ``SlotTrigger`` itself.
"""

from __future__ import annotations

import functools
import heapq
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

from balancewatch.daemon.schedule import SlotTrigger, first_run_spread, phase
from balancewatch.providers.thedex import sign
from balancewatch.sim.server import generated_accounts

WARNING_BELOW = Decimal(100)
CRITICAL_BELOW = Decimal(50)
CROSSED_TO = Decimal(10)
"""The balance a crossing sets: below the critical level of every account."""


@dataclass(frozen=True)
class Account:
    index: int
    name: str
    provider: str
    api_key: str
    secret: str | None
    base_url: str

    @property
    def watched_currency(self) -> str | None:
        """The currency the threshold rule watches (None: the account's only one)."""
        return "USDT_TRON" if self.provider == "thedex" else None


def load_accounts(path: Path) -> list[Account]:
    """The accounts the simulator wrote to ``--accounts-file``, named."""
    listing = json.loads(path.read_text(encoding="utf-8"))
    return [
        Account(
            index,
            f"acct-{entry['provider']}-{index:05d}",
            entry["provider"],
            entry["api_key"],
            entry["secret"],
            entry["base_url"],
        )
        for index, entry in enumerate(listing)
    ]


@functools.lru_cache(maxsize=2)
def _generated(count: int) -> list[tuple[str, str, str | None, dict[str, dict[str, Decimal]]]]:
    return generated_accounts(count)


def original_available(count: int, index: int, currency: str | None) -> Decimal:
    """The generated balance of account ``index`` (to restore it after a crossing)."""
    _provider, _key, _secret, balances = _generated(count)[index]
    kinds = balances[currency] if currency else next(iter(balances.values()))
    return kinds["available"]


# ---------------------------------------------------------------- the daemon's config


def _rules(account: Account) -> list[str]:
    currency = f"currency: {account.watched_currency}, " if account.watched_currency else ""
    rules = [
        f"- threshold: {{{currency}below: {{warning: {WARNING_BELOW}, "
        f"critical: {CRITICAL_BELOW}}}, clear_margin: 10}}"
    ]
    if account.index % 3 == 0:
        rules.append(f"- change: {{{currency}drop: {{percent: 50}}, within: 1h}}")
    if account.index % 5 == 0:
        rules.append("- held_increase: {by: {amount: 1000000}}")
    return rules


def daemon_config(
    accounts: list[Account], *, db: Path, receiver_url: str, interval: float, timeout: float
) -> str:
    lines = [
        "state:",
        f"  path: {db}",
        "defaults:",
        f"  interval: {int(interval * 1000)}ms",
        f"  timeout: {int(timeout * 1000)}ms",
        "  jitter: 10%",
        "notifiers:",
        f'  bench: "{receiver_url}"',
        "logging:",
        "  level: info",
        "accounts:",
    ]
    for account in accounts:
        lines += [
            f"  - name: {account.name}",
            f"    provider: {account.provider}",
            f"    api_key: {account.api_key}",
        ]
        if account.secret:
            lines.append(f"    secret: {account.secret}")
        lines.append(f"    base_url: {account.base_url}")
        lines.append("    rules:")
        lines += [f"      {rule}" for rule in _rules(account)]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------- crossings


@dataclass(frozen=True)
class Crossing:
    at: float
    """Seconds after the start of the measured window."""
    account: Account
    available: Decimal


def crossings(accounts: list[Account], window: float, interval: float) -> list[Crossing]:
    """Drops below the critical level, spread over the window, each put back 1.15 intervals
    later; the last restore still leaves an interval (plus jitter) for a poll to see it."""
    count = min(20, max(8, len(accounts) // 50), len(accounts))
    last_drop = max(0.02 * window, window - 2.3 * interval)
    planned: list[Crossing] = []
    for k in range(count):
        account = accounts[k * len(accounts) // count]
        at = 0.02 * window + (last_drop - 0.02 * window) * (k + 0.5) / count
        back = original_available(len(accounts), account.index, account.watched_currency)
        planned.append(Crossing(at, account, CROSSED_TO))
        planned.append(Crossing(at + 1.15 * interval, account, back))
    return sorted(planned, key=lambda c: c.at)


# ---------------------------------------------------------------- requests


@dataclass(frozen=True)
class RequestSpec:
    """One account's balance request, as the provider module builds it."""

    method: str
    url: str
    path: str
    host: str
    headers: dict[str, str]
    thedex_secret: str | None = None

    def body_and_headers(self) -> tuple[bytes | None, dict[str, str]]:
        """The body and headers of one request (TheDex: a fresh nonce, signed)."""
        if self.thedex_secret is None:
            return None, self.headers
        nonce = _next_nonce()
        body = b'{"request":"/api/v1/balances","nonce":"%d"}' % nonce
        payload, signature = sign(body, self.thedex_secret)
        return body, {**self.headers, "X-EX-PAYLOAD": payload, "X-EX-SIGNATURE": signature}


_last_nonce = 0


def _next_nonce() -> int:
    global _last_nonce
    _last_nonce = max(_last_nonce + 1, int(time.time() * 1000))
    return _last_nonce


_ENDPOINT = {
    "dhmad": ("GET", "/api/v1/balance"),
    "oneclickdz": ("GET", "/v3/account/balance"),
    "thedex": ("POST", "/api/v1/balances"),
    "sunor": ("GET", "/api/v1/account/balance"),
}


def request_spec(account: Account) -> RequestSpec:
    method, endpoint = _ENDPOINT[account.provider]
    url = account.base_url.rstrip("/") + endpoint
    parts = urlsplit(url)
    key = account.api_key
    headers = {
        "dhmad": {"Authorization": f"Bearer {key}", "Accept": "application/json"},
        "oneclickdz": {"X-Access-Token": key, "Accept": "application/json"},
        "thedex": {"X-EX-APIKEY": key, "Content-Type": "application/json", "Accept": "*/*"},
        "sunor": {"x-api-key": key, "Accept": "application/json"},
    }[account.provider]
    headers = {**headers, "Accept-Encoding": "identity"}
    secret = account.secret if account.provider == "thedex" else None
    return RequestSpec(method, url, parts.path, parts.netloc, headers, secret)


def thedex_static_body(spec: RequestSpec) -> tuple[bytes, dict[str, str]]:
    """A signed body fixed once (blackbox_exporter cannot sign per probe; the simulator
    does not check that nonces grow, so the same signed body keeps verifying)."""
    body, headers = spec.body_and_headers()
    assert body is not None
    return body, headers


# ---------------------------------------------------------------- schedule


def first_offset(name: str, count: int, interval: float) -> float:
    """Seconds after start of an account's first poll, as ``Daemon._apply_plans`` spreads them."""
    return phase(name) * first_run_spread(count, timedelta(seconds=interval)).total_seconds()


class Schedule:
    """Due times of every account, by the daemon's own trigger; iterate to get ``(due, index)``."""

    def __init__(self, names: list[str], interval: float, jitter: float, start: float) -> None:
        self._triggers = [
            SlotTrigger(
                interval=interval,
                jitter=jitter,
                offset=phase(name),
                first=datetime.fromtimestamp(
                    start + first_offset(name, len(names), interval), tz=UTC
                ),
            )
            for name in names
        ]
        self._heap = [(t.first.timestamp(), i, t.first) for i, t in enumerate(self._triggers)]
        heapq.heapify(self._heap)

    def peek(self) -> float:
        return self._heap[0][0] if self._heap else float("inf")

    def pop(self) -> tuple[float, int]:
        due, index, when = heapq.heappop(self._heap)
        following = self._triggers[index].get_next_fire_time(when, when)
        assert following is not None
        heapq.heappush(self._heap, (following.timestamp(), index, following))
        return due, index
