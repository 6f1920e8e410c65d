"""The state: what balancewatch saw and said, kept across restarts.

:class:`Store` is the interface every backend implements: :mod:`.sqlite` is the embedded
one (one file, no server), :mod:`.postgres` the shared one (several daemons, one database;
:mod:`.leases` says how they share the accounts). :func:`open_store` opens either from the
config's ``state:``. Only this package talks to a database: foreign errors become
:class:`~balancewatch.model.StateError` here.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from balancewatch.state.leases import (
    Claim,
    Cluster,
    Lease,
    LeaseLost,
    Member,
    default_lease,
)
from balancewatch.state.store import Store
from balancewatch.state.urls import is_database_url, url_secrets

__all__ = [
    "Claim",
    "Cluster",
    "Lease",
    "LeaseLost",
    "Member",
    "Store",
    "default_lease",
    "is_database_url",
    "open_store",
    "url_secrets",
]


def open_store(
    where: Path | str,
    *,
    now: datetime,
    readonly: bool = False,
    repair: bool = True,
    pool_size: int = 4,
) -> Store:
    """The store at ``where``: a ``postgresql://`` URL, else a SQLite file path.

    ``readonly`` (commands that only look): never created, migrated, repaired or written.
    ``repair=False`` (a command writing beside a running daemon): a damaged SQLite file is
    an error instead of being moved aside (``now`` names the file moved aside).
    ``pool_size``: PostgreSQL connections, as many as threads calling the store at once.
    psycopg is imported only for a URL: SQLite needs no libpq.
    """
    if is_database_url(where):
        from balancewatch.state.postgres import PostgresStore

        return PostgresStore.open(str(where), readonly=readonly, pool_size=pool_size)
    from balancewatch.state.sqlite import SqliteStore

    if readonly:
        return SqliteStore.open_readonly(where)
    return SqliteStore.open(where, now=now, repair=repair)
