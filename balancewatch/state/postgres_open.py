"""Connecting to PostgreSQL: the URL with its password kept apart, the pool, and psycopg's
exceptions translated into balancewatch's own, in this one place.

**The password never reaches a message.** It is taken out of the URL before libpq sees the
URL (libpq quotes a malformed URL whole in its errors) and passed on its own; every text
that leaves this package (an error, a line of psycopg's own logging) has the URL and the
password replaced by ``***`` as well, in case a server or a future libpq echoes one.

**Errors** (:func:`translated`): a server that cannot be reached, or that stops answering
before a call starts, is :class:`~balancewatch.model.StateLocked` (nothing was written,
retry later), as are lock timeouts, deadlocks and serialisation failures, which roll the
transaction back. A connection lost in the middle of a call is a
:class:`~balancewatch.model.StateError`: a transaction is all or nothing, but which one is
known only by reading again. Anything else (a constraint refused a row, a bad URL) is a
:class:`~balancewatch.model.StateError`.

**Stale connections**: when the server restarts, every pooled connection dies with it.
Before a pooled connection is handed out, :func:`_still_open` checks without a round trip
(a zero-timeout ``select`` on its socket) that the server has not closed it or sent an
unrequested message (a shutdown notice) while it sat idle; a dead one is replaced. So the
first call after a restart gets a new connection instead of an error.
"""

from __future__ import annotations

import logging
import select
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import errors
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.pq import TransactionStatus
from psycopg_pool import ConnectionPool

from balancewatch.model import StateError, StateLocked

CONNECT_TIMEOUT = 10
"""Seconds to connect, and to wait for a free pooled connection, before StateLocked."""
RECONNECT_TIMEOUT = 30.0
_RETRYABLE = (
    errors.LockNotAvailable,
    errors.DeadlockDetected,
    errors.SerializationFailure,
    errors.QueryCanceled,
)
_SECRETS: set[str] = set()
"""Every open store's URL and password: psycopg's own log lines are cleaned of them."""


def hide(text: str, secrets: frozenset[str] | set[str]) -> str:
    for secret in sorted(secrets, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def one_line(exc: BaseException, secrets: frozenset[str]) -> str:
    return hide(" ".join(str(exc).split()), secrets | _SECRETS) or type(exc).__name__


@contextmanager
def translated(secrets: frozenset[str], *, started: bool = True) -> Iterator[None]:
    """psycopg's exceptions as balancewatch's own, with no secret in the message.

    ``started=False``: the call had not reached the server yet (connecting, waiting for a
    pooled connection), so a connection failure is surely "nothing was written".
    """
    try:
        yield
    except psycopg.Error as exc:
        raise state_error(exc, secrets, started=started) from None


def state_error(exc: psycopg.Error, secrets: frozenset[str], *, started: bool) -> StateError:
    text = one_line(exc, secrets)
    if isinstance(exc, _RETRYABLE):
        return StateLocked(f"state database is busy: {text}; nothing was written")
    if isinstance(exc, psycopg.OperationalError):
        if not started:
            return StateLocked(f"cannot connect to the state database: {text}; nothing was written")
        return StateError(
            f"state database connection lost during a call: {text}; "
            "a write is committed whole or not at all"
        )
    return StateError(f"state database error: {text}")


def connection_settings(url: str, secrets: frozenset[str]) -> tuple[str, dict[str, Any]]:
    """(conninfo without the password, keyword arguments with it) for ``url``."""
    with translated(secrets, started=False):
        params = conninfo_to_dict(url)
    password = params.pop("password", None)
    params.setdefault("connect_timeout", str(CONNECT_TIMEOUT))
    params.setdefault("application_name", "balancewatch")
    # Without server-side prepared statements PgBouncer's transaction mode works too.
    kwargs: dict[str, Any] = {"autocommit": True, "prepare_threshold": None}
    if password is not None:
        kwargs["password"] = password
    with translated(secrets, started=False):
        return make_conninfo("", **params), kwargs


def connect(url: str, secrets: frozenset[str]) -> psycopg.Connection[Any]:
    """One connection (migrations, a read-only command): errors say what is wrong."""
    conninfo, kwargs = connection_settings(url, secrets)
    with translated(secrets, started=False):
        return psycopg.connect(conninfo, **kwargs)


def make_pool(
    url: str, secrets: frozenset[str], size: int, timeout: float = CONNECT_TIMEOUT
) -> ConnectionPool:
    """A pool of up to ``size`` autocommit connections, opened (one connection at least);
    a call waits ``timeout`` seconds at most for a connection."""
    conninfo, kwargs = connection_settings(url, secrets)
    _watch_logs(secrets)
    pool: ConnectionPool = ConnectionPool(
        conninfo,
        kwargs=kwargs,
        min_size=1,
        max_size=max(1, size),
        open=False,
        check=_still_open,
        name="balancewatch-state",
        timeout=timeout,
        # The pool reconnects in the background, backing off up to this long between
        # attempts: a server back after a long outage is found again within seconds.
        reconnect_timeout=RECONNECT_TIMEOUT,
    )
    with translated(secrets, started=False):
        pool.open(wait=True, timeout=max(timeout, CONNECT_TIMEOUT))
    return pool


def _still_open(conn: psycopg.Connection[Any]) -> None:
    """Refuse a pooled connection the server closed (or spoke on) while it was idle."""
    if conn.closed or conn.broken:
        raise psycopg.OperationalError("connection closed")
    readable, _, _ = select.select([conn.pgconn.socket], [], [], 0)
    if readable:
        conn.close()  # closed, the pool drops it (and opens another) instead of retrying it
        raise psycopg.OperationalError("the server closed the idle connection")


class _HideSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if _SECRETS:
            record.msg = hide(record.getMessage(), _SECRETS)
            record.args = None
        return True


_FILTER = _HideSecrets()


def _watch_logs(secrets: frozenset[str]) -> None:
    _SECRETS.update(secrets)
    for name in ("psycopg", "psycopg.pool"):
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


class PgAccess:
    """What the parts of :class:`~balancewatch.state.postgres.PostgresStore` share: pooled
    autocommit connections, reads and single statements (one round trip each), and write
    transactions sent as one pipeline."""

    _pool: ConnectionPool
    _secrets: frozenset[str]
    _readonly: bool

    @contextmanager
    def _conn(self) -> Iterator[psycopg.Connection[Any]]:
        with translated(self._secrets, started=False):
            conn = self._pool.getconn()
        try:
            with translated(self._secrets):
                yield conn
        finally:
            self._pool.putconn(conn)

    def _read(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        with self._conn() as conn:
            return conn.execute(sql.encode(), params).fetchall()

    def _run(self, sql: str, params: Sequence[Any] | Mapping[str, Any] = ()) -> list[Any]:
        """One writing statement, its own transaction; its rows if it returns any."""
        self._writable()
        with self._conn() as conn:
            cursor = conn.execute(sql.encode(), params)
            return cursor.fetchall() if cursor.description else [cursor.rowcount]

    @contextmanager
    def _write(self) -> Iterator[psycopg.Connection[Any]]:
        """One transaction, queued as a pipeline: sent when the body first reads a result,
        then with its COMMIT. BEGIN and COMMIT are written out rather than left to
        ``conn.transaction()``, which would wait for the BEGIN: one round trip less."""
        self._writable()
        with self._conn() as conn:
            try:
                with conn.pipeline():
                    conn.execute(b"BEGIN")
                    conn.execute(b"SET LOCAL lock_timeout = '5s'")
                    yield conn
                    conn.execute(b"COMMIT")
            except BaseException:
                _roll_back(conn)
                raise

    def _writable(self) -> None:
        if self._readonly:
            raise StateError("the state database was opened read-only by this command")


def _roll_back(conn: psycopg.Connection[Any]) -> None:
    """End a failed transaction so the connection goes back to the pool clean (a broken
    one is dropped by the pool anyway)."""
    if not conn.closed and conn.info.transaction_status != TransactionStatus.IDLE:
        with suppress(psycopg.Error):
            conn.execute(b"ROLLBACK")
