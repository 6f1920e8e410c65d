"""Opening a SQLite state file: translated errors, the health check, moving a damaged file
aside (the daemon only), and read-only connections for commands that only look.

sqlite3's exceptions become balancewatch's own here, in one place (:func:`translated`): a
busy or locked database is :class:`~balancewatch.model.StateLocked` (retry later), anything
else :class:`~balancewatch.model.StateError`.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from balancewatch.model import StateError, StateLocked
from balancewatch.state import sqlite_migrations as migrations

_SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_CORRUPT, _SQLITE_NOTADB = 5, 6, 11, 26


def error_code(exc: sqlite3.Error) -> int:
    code: int = getattr(exc, "sqlite_errorcode", 0)
    return code & 0xFF  # the primary code; extended codes add flags in higher bits


def state_error(exc: sqlite3.Error) -> StateError:
    if error_code(exc) in (_SQLITE_BUSY, _SQLITE_LOCKED):
        return StateLocked(f"state database is locked: {exc}; nothing was written")
    return StateError(f"state database error: {exc}")


@contextmanager
def translated() -> Iterator[None]:
    """Turn sqlite3's exceptions into balancewatch's own, in this one place."""
    try:
        yield
    except sqlite3.Error as exc:
        raise state_error(exc) from exc


def connect(target: str, busy_timeout: float, *, uri: bool = False) -> sqlite3.Connection:
    with translated():
        return sqlite3.connect(
            target, timeout=busy_timeout, isolation_level=None, check_same_thread=False, uri=uri
        )


def find_damage(conn: sqlite3.Connection) -> str | None:
    """What is wrong with the file, or None if it passes ``PRAGMA quick_check``."""
    try:
        rows = conn.execute("PRAGMA quick_check").fetchall()
    except sqlite3.DatabaseError as exc:
        if error_code(exc) in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return str(exc)
        raise state_error(exc) from exc
    return None if rows == [("ok",)] else f"quick_check: {rows[0][0]}"


def open_checked(
    target: str, busy_timeout: float, now: datetime, *, repair: bool = True
) -> tuple[sqlite3.Connection, str | None]:
    """Connect; if the file is damaged, move it aside and connect to a new one.

    Returns the connection and, after a reset, the one-line reason. Without ``repair`` a
    damaged file is an error and is left where it is (only the daemon repairs it).
    """
    conn = connect(target, busy_timeout)
    try:
        damage = find_damage(conn)
    except BaseException:
        conn.close()
        raise
    if damage is None:
        return conn, None
    if not repair:
        conn.close()
        raise StateError(
            f"state file {target} is damaged ({damage}); the daemon moves it aside and "
            "starts a new one when it next starts"
        )
    # Renamed while still open: closing first would let SQLite delete the -wal we keep.
    # Closing after the rename touches only the moved files, through their open handles.
    try:
        moved = move_aside(Path(target), now)
    finally:
        with suppress(sqlite3.Error):
            conn.close()
    conn = connect(target, busy_timeout)
    if (again := find_damage(conn)) is not None:
        conn.close()
        raise StateError(f"state file {target} is unusable even after a reset: {again}")
    reason = (
        f"state file was corrupt ({damage}); moved to {moved}; "
        "started empty, a repeat notification is possible"
    )
    return conn, reason


def move_aside(path: Path, now: datetime) -> Path:
    """Rename a corrupt database (and its -wal/-shm) out of the way; return the new name."""
    stamp = now.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = path.with_name(f"{path.name}.corrupt-{stamp}")
    serial = 1
    while dest.exists():
        serial += 1
        dest = path.with_name(f"{path.name}.corrupt-{stamp}-{serial}")
    try:
        os.replace(path, dest)
        for suffix in ("-wal", "-shm"):
            side = Path(f"{path}{suffix}")
            if side.exists():
                os.replace(side, Path(f"{dest}{suffix}"))
    except OSError as exc:
        raise StateError(f"state file {path} is corrupt and cannot be moved aside: {exc}") from exc
    return dest


def open_readonly(path: Path | str, busy_timeout: float) -> sqlite3.Connection:
    """A read-only connection to an existing, undamaged database of the current schema."""
    resolved = Path(path).resolve()
    if not resolved.is_file():
        raise StateError(f"no state file at {path}")
    conn = connect(f"file:{quote(str(resolved))}?mode=ro", busy_timeout, uri=True)
    try:
        if (damage := find_damage(conn)) is not None:
            raise StateError(
                f"state file {path} is damaged ({damage}); the daemon moves it aside "
                "and starts a new one when it next starts"
            )
        with translated():
            found = migrations.user_version(conn)
        if found != migrations.LATEST_VERSION:
            newer = "a newer" if found > migrations.LATEST_VERSION else "an older"
            raise StateError(
                f"state file {path} has schema version {found}, from {newer} balancewatch "
                f"(this one reads version {migrations.LATEST_VERSION}); the daemon of this "
                "version migrates an older file when it starts"
            )
    except BaseException:
        conn.close()
        raise
    return conn


class SqliteAccess:
    """What the parts of :class:`~balancewatch.state.sqlite.SqliteStore` share: a write
    transaction and a read, both under the store's lock with errors translated."""

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        raise NotImplementedError

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        raise NotImplementedError
