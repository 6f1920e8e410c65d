"""What ``python -m balancewatch.sim`` tells a person: its accounts, a config, what to type.

:func:`guide` is the text printed at start; :func:`config_snippet` a config watching the
first account of each provider, with a threshold a little under its balance's order of
magnitude (a round line the examples cross); :func:`account_line` one account as
``set``, ``fault`` and ``show`` print it. Accounts are as
:meth:`~balancewatch.sim.accounts.SimAccounts.describe` gives them (amounts as text).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from balancewatch.sim.wire import PROVIDERS

Account = Mapping[str, Any]
STEER = "python -m balancewatch.sim"


def account_line(account: Account) -> str:
    """``oneclickdz  sim-oneclickdz-0000  DZD available 950.00`` (and its fault, secret)."""
    parts = [f"{account['provider']:<10}  {account['api_key']:<20}"]
    currencies = account.get("balances", {})
    parts.append(
        "; ".join(
            f"{currency} " + ", ".join(f"{kind} {amount}" for kind, amount in kinds.items())
            for currency, kinds in currencies.items()
        )
    )
    if account.get("secret"):
        parts.append(f"(secret {account['secret']})")
    if account.get("fault"):
        parts.append(f"[fault: {account['fault']}]")
    return "  ".join(parts)


def first_of_each(accounts: Sequence[Account]) -> list[Account]:
    """The first account of each provider, in :data:`PROVIDERS` order."""
    firsts: dict[str, Account] = {}
    for account in accounts:
        firsts.setdefault(str(account["provider"]), account)
    return [firsts[p] for p in PROVIDERS if p in firsts]


def line_under(amount: Decimal) -> Decimal:
    """The power of ten at or below ``amount`` (1326.13 -> 1000): a round alert line."""
    if amount <= 0:
        return Decimal(1)
    return Decimal(1).scaleb(amount.adjusted())


def _watched(account: Account) -> tuple[str, Decimal, Decimal]:
    """(currency, available, threshold) the snippet watches for ``account``."""
    currency, kinds = next(iter(account["balances"].items()))
    available = Decimal(kinds.get("available", "0"))
    return str(currency), available, line_under(available)


def _plain(amount: Decimal) -> str:
    return format(amount.normalize(), "f")


def config_snippet(base_urls: Mapping[str, str], accounts: Sequence[Account]) -> str:
    """A config for ``balancewatch -c sim.yaml run`` watching one account of each provider."""
    lines = [
        "state: {path: sim-state.db}",
        "defaults: {interval: 5s, timeout: 3s, jitter: 0s, failures_before_alert: 2, repeat: 1h}",
        "notifiers:",
        '  console: "bwconsole://"       # alerts print in the terminal of `balancewatch run`',
        "accounts:",
    ]
    for account in first_of_each(accounts):
        provider = str(account["provider"])
        currency, _, line = _watched(account)
        lines += [
            f"  - name: sim-{provider}",
            f"    provider: {provider}",
            f"    api_key: {account['api_key']}",
        ]
        if account.get("secret"):
            lines.append(f"    secret: {account['secret']}")
        scope = f"currency: {currency}, " if len(account["balances"]) > 1 else ""
        lines += [
            f"    base_url: {base_urls[provider]}",
            "    rules:",
            f"      - threshold: {{{scope}below: {{warning: {_plain(line)}}}}}",
        ]
        if provider == "dhmad":
            lines.append("      - held_increase: {by: {amount: 100}}")
    return "\n".join(lines) + "\n"


def examples(accounts: Sequence[Account], address: str) -> list[tuple[str, str]]:
    """(command, what it shows) pairs that steer these accounts across the snippet's lines."""
    firsts = {str(a["provider"]): a for a in first_of_each(accounts)}
    found: list[tuple[str, str]] = []
    if "oneclickdz" in firsts:
        _, available, line = _watched(firsts["oneclickdz"])
        low = _plain(line * Decimal("0.95"))
        found += [
            (f"set oneclickdz available {low}", f"under {_plain(line)}: a warning fires"),
            (f"set oneclickdz available {available}", "back up: it resolves"),
        ]
    if "dhmad" in firsts:
        found.append(("set dhmad held 2000", "funds held (escrow): a held_increase event"))
    if "sunor" in firsts:
        found += [
            ("fault sunor 500", "two failed polls: an 'unreachable' alert"),
            ("fault sunor none", "polls succeed again: it resolves"),
        ]
    found.append(("show", "every account, its balances and fault"))
    return [(f"{STEER} {command}{address}", why) for command, why in found]


def guide(
    base_urls: Mapping[str, str], accounts: Sequence[Account], address: str, *, listed: bool
) -> str:
    """The start-up text: where, which accounts, a config, and the commands that steer it."""
    first_url = next(iter(base_urls.values()))
    root = first_url.rsplit("/", 1)[0]
    out = [
        f"balancewatch simulator on {root}: {len(accounts)} accounts. Ctrl-C stops it.",
        "",
        "base_url of each provider:",
        *(f"  {provider:<10}  {url}" for provider, url in base_urls.items()),
    ]
    if listed:
        out += ["", "accounts (provider, api_key, balances):"]
        out += [f"  {account_line(a)}" for a in accounts]
    if accounts:
        out += [
            "",
            "A config watching one account of each provider: save it as sim.yaml (or run",
            f"`{STEER} config{address} > sim.yaml`), then `balancewatch -c sim.yaml run`",
            "in another terminal.",
            "",
            config_snippet(base_urls, accounts).rstrip("\n"),
        ]
        out += ["", "Steer it while both run (the daemon prints each alert):", ""]
        pairs = examples(accounts, address)
        width = max(len(command) for command, _ in pairs)
        out += [f"  {command:<{width}}  # {why}" for command, why in pairs]
    out += ["", f"More: {STEER} --help", ""]
    return "\n".join(out) + "\n"
