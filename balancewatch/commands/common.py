"""What several commands share: loading the config, opening the state, choosing accounts."""

from __future__ import annotations

import argparse
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from balancewatch.model import BalancewatchError, ConfigError

if TYPE_CHECKING:
    from balancewatch.config.load import Config
    from balancewatch.state import Store


def utcnow() -> datetime:
    return datetime.now(UTC)


def load(args: argparse.Namespace, *, redact: bool = True, secrets: bool = True) -> Config:
    """The config; with ``redact``, its credentials are kept out of what is printed next.

    ``validate`` prints only a count after a successful load, so it skips the redaction
    set (which costs the poller's imports). Commands that neither poll nor send pass
    ``secrets=False``: an operator runs them without the service's credentials (see
    :func:`balancewatch.config.load.parse_config`).
    """
    from balancewatch.config.load import default_config_path, load_config

    path = Path(args.config) if args.config else default_config_path(os.environ)
    config = load_config(path, secrets=secrets)
    if redact:
        from balancewatch.poll.plan import redactable_secrets
        from balancewatch.redaction import REDACTOR

        REDACTOR.update(redactable_secrets(config))
    return config


def open_store(config: Config, *, write: bool = False, path: Path | None = None) -> Store:
    """The state (a SQLite file or a PostgreSQL database), read only (``write=False``: it
    must exist, and is never created, migrated or repaired) or to add to it beside a
    running daemon (``silence``). ``path`` (``--state``) names a SQLite file instead."""
    from balancewatch.config.load import state_location
    from balancewatch.state import open_store as open_location

    where = path or state_location(config, os.environ)
    if isinstance(where, Path):
        if not write and not where.exists():
            raise BalancewatchError(f"no state file at {where}: has the daemon run yet?")
        check_owner(where, write=write)
    return open_location(where, now=utcnow(), readonly=not write, repair=False, pool_size=1)


def state_exists(config: Config) -> bool:
    """Whether there is state to read: a SQLite file that exists, or a PostgreSQL URL
    (whether its database has any is for opening it to say)."""
    from balancewatch.config.load import state_location

    where = state_location(config, os.environ)
    return not isinstance(where, Path) or where.is_file()


def check_owner(path: Path, *, write: bool) -> None:
    """Refuse to open another user's state file as root, or one this user cannot use.

    SQLite creates its ``-wal`` and ``-shm`` files as whoever opens the database, even to
    read: root running ``balancewatch status`` on the service's file would leave files the
    daemon (user ``balancewatch``) can no longer write, and the next poll would fail.
    """
    import pwd

    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return
    mode = os.R_OK | os.W_OK if write else os.R_OK
    if owner == os.geteuid() or (os.geteuid() != 0 and os.access(path, mode)):
        return
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    if os.geteuid() == 0:
        raise BalancewatchError(
            f"the state file {path} belongs to user {name}: run this command as that user "
            f"(sudo -u {name} balancewatch ...), so the daemon can still write it"
        )
    raise BalancewatchError(
        f"cannot {'write' if write else 'read'} the state file {path} (owner {name}): run "
        f"this command as that user (sudo -u {name} balancewatch ...)"
    )


def plans(config: Config, only: str | None = None) -> list[Any]:
    """The plans of the enabled accounts, or of the one called ``only`` (enabled or not)."""
    from balancewatch.poll.plan import Planner

    accounts = [a for a in config.accounts if a.enabled]
    if only is not None:
        accounts = [a for a in config.accounts if a.name == only]
        if not accounts:
            known = ", ".join(a.name for a in config.accounts)
            raise ConfigError(f"no account named {only!r} in the config (known: {known})")
    return Planner(config.defaults).plans(accounts)


def account_names(config: Config, name: str) -> None:
    if name not in {a.name for a in config.accounts}:
        known = ", ".join(a.name for a in config.accounts)
        raise ConfigError(f"no account named {name!r} in the config (known: {known})")
