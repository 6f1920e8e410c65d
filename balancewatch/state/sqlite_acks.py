"""Acknowledgements in SQLite: one row per alert, its latest acknowledged episode. A mixin
of :class:`~balancewatch.state.sqlite.SqliteStore`, twin of :mod:`.postgres_acks`.

Only the latest episode of an alert can still be firing, so acknowledging one forgets the
alert's earlier episodes in the same transaction: the table never outgrows the alerts.
"""

# SQL here is built only from this module's constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from balancewatch.model import Severity
from balancewatch.records import Acknowledgement
from balancewatch.state import sqlite_schema as schema
from balancewatch.state.columns import ACK_COLUMNS
from balancewatch.state.sqlite_open import SqliteAccess

_UPSERT = (
    f"INSERT INTO acknowledgements ({ACK_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)"
    " ON CONFLICT (account, alert_key, episode) DO UPDATE SET severity = excluded.severity,"
    " acked_at = excluded.acked_at, acked_by = excluded.acked_by"
)


class SqliteAcks(SqliteAccess):
    def acknowledge(self, ack: Acknowledgement) -> None:
        """Record ``ack``, replacing an earlier one of the same episode."""
        row = (
            *(ack.account, ack.alert_key, schema.ts(ack.episode), int(ack.severity)),
            *(schema.ts(ack.acked_at), ack.acked_by),
        )
        with self._write() as conn:
            conn.execute(
                "DELETE FROM acknowledgements WHERE account = ? AND alert_key = ? AND episode <> ?",
                row[:3],
            )
            conn.execute(_UPSERT, row)

    def acknowledgements(self, account: str | None = None) -> list[Acknowledgement]:
        """Every stored acknowledgement (of one account if named), by account and alert.
        Whether one still holds is :meth:`Acknowledgement.holds`' to say."""
        where, params = (" WHERE account = ?", (account,)) if account is not None else ("", ())
        rows = self._read(
            f"SELECT {ACK_COLUMNS} FROM acknowledgements{where} ORDER BY account, alert_key",
            params,
        )
        return [
            Acknowledgement(
                row[0], row[1], schema.dt(row[2]), Severity(row[3]), schema.dt(row[4]), row[5]
            )
            for row in rows
        ]
