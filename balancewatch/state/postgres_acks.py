"""Acknowledgements in PostgreSQL: one row per alert, its latest acknowledged episode. A
mixin of :class:`~balancewatch.state.postgres.PostgresStore`, twin of :mod:`.sqlite_acks`.
"""

# SQL here is built only from this module's constants; every value is a bound parameter.
# ruff: noqa: S608

from __future__ import annotations

from balancewatch.model import Severity
from balancewatch.records import Acknowledgement
from balancewatch.state import postgres_schema as schema
from balancewatch.state.columns import ACK_COLUMNS
from balancewatch.state.postgres_open import PgAccess

_DELETE_OLDER = (
    "DELETE FROM acknowledgements WHERE account = %s AND alert_key = %s AND episode <> %s"
)
_UPSERT = (
    f"INSERT INTO acknowledgements ({ACK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)"
    " ON CONFLICT (account, alert_key, episode) DO UPDATE SET severity = excluded.severity,"
    " acked_at = excluded.acked_at, acked_by = excluded.acked_by"
)


class PgAcks(PgAccess):
    def acknowledge(self, ack: Acknowledgement) -> None:
        """Record ``ack``, replacing an earlier one of the same episode; earlier episodes of
        the alert are forgotten in the same transaction."""
        row = (
            *(ack.account, ack.alert_key, schema.aware(ack.episode), int(ack.severity)),
            *(schema.aware(ack.acked_at), ack.acked_by),
        )
        with self._write() as conn:
            conn.execute(_DELETE_OLDER.encode(), row[:3])
            conn.execute(_UPSERT.encode(), row)

    def acknowledgements(self, account: str | None = None) -> list[Acknowledgement]:
        """As :meth:`SqliteAcks.acknowledgements`."""
        where, params = (" WHERE account = %s", (account,)) if account is not None else ("", ())
        rows = self._read(
            f"SELECT {ACK_COLUMNS} FROM acknowledgements{where} ORDER BY account, alert_key",
            params,
        )
        return [
            Acknowledgement(
                row[0], row[1], schema.utc(row[2]), Severity(row[3]), schema.utc(row[4]), row[5]
            )
            for row in rows
        ]
