"""The ``state:`` section: where the state lives and how long history is kept.

A SQLite file (``path``, the default) or a PostgreSQL database shared by several daemons
(``url``, a secret as a whole since it holds the database's password). Part of the
schema in :mod:`balancewatch.config.models`, which re-exports it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, SecretStr, field_validator, model_validator

from balancewatch.fields import PositiveDuration
from balancewatch.state import default_lease, is_database_url

LEASE_FLOOR_SLACK = timedelta(seconds=10)


class StateSettings(BaseModel):
    """Where the state lives (a SQLite file, or a PostgreSQL database shared by several
    daemons) and how long snapshots are kept."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: Path | None = None
    url: SecretStr | None = None
    """``postgresql://user:password@host:5432/db``: a secret as a whole (it holds one)."""
    keep: PositiveDuration = timedelta(days=90)
    lease: PositiveDuration | None = None
    """How long a daemon's claim on an account lasts without renewal, so how soon another
    daemon takes over a dead one's accounts: by default two intervals and ten seconds (per
    account). Never less than one interval plus the timeout plus ten seconds (see
    :func:`account_lease`): a lease that ran out between two polls of a live daemon would
    hand its accounts around for nothing."""

    @field_validator("path", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("give a file path, or leave 'path' out for the default")
        return value

    @field_validator("url", mode="before")
    @classmethod
    def _postgres_url(cls, value: Any) -> Any:
        # The value is never quoted back: it holds the database's password.
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str) or not is_database_url(text.strip()):
            raise ValueError(
                "give a PostgreSQL URL, postgresql://user:password@host:5432/database"
                " (for a SQLite file, use 'path')"
            )
        return text.strip()

    @model_validator(mode="after")
    def _one_backend(self) -> StateSettings:
        if self.path is not None and self.url is not None:
            raise ValueError(
                "give either 'path' (a SQLite file) or 'url' (a PostgreSQL database), not both"
            )
        return self

    def account_lease(self, interval: timedelta, timeout: timedelta) -> timedelta:
        """The lease of an account polled every ``interval`` (``timeout`` per poll)."""
        floor = interval + timeout + LEASE_FLOOR_SLACK
        return max(default_lease(interval) if self.lease is None else self.lease, floor)

    def location(self, environ: Mapping[str, str] | None = None) -> Path | str:
        """What :func:`balancewatch.state.open_store` opens: the URL, else the file."""
        if self.url is not None:
            return self.url.get_secret_value()
        return self.db_path(environ)

    def db_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """The SQLite file: ``path`` if set; else ``$STATE_DIRECTORY/state.db`` (systemd);
        else ./balancewatch.db."""
        if self.path is not None:
            return self.path
        env = os.environ if environ is None else environ
        state_dirs = env.get("STATE_DIRECTORY", "")
        if state_dirs:  # systemd lists several directories separated by ':'; ours is first
            return Path(state_dirs.split(":")[0]) / "state.db"
        return Path("balancewatch.db")
