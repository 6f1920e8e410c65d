"""SQLite's own behaviour: opening, migrating, corruption, locking, file details.

The contract every backend honours is test_store.py; these are what only a file has.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from balancewatch.model import Balance, StateError, StateLocked
from balancewatch.records import Delivery
from balancewatch.state import sqlite as state
from balancewatch.state import sqlite_migrations as state_migrations
from balancewatch.state import sqlite_schema as state_schema
from balancewatch.state.sqlite import SqliteStore
from tests.state.builders import MIN, T0, alert, notification, poll, snapshot

LATEST = state_migrations.LATEST_VERSION

# ---------------------------------------------------------------- SQLite: opening


def test_open_creates_the_directory_and_a_durable_wal_database(tmp_path: Path) -> None:
    """A new file is created at the latest schema version, WAL, synchronous=FULL, FKs on."""
    path = tmp_path / "var" / "lib" / "balancewatch" / "state.db"

    with SqliteStore.open(path, now=T0) as store:
        assert store.reset_reason is None
        conn = store._conn
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        assert conn.execute("PRAGMA synchronous").fetchone() == (2,)
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        assert conn.execute("PRAGMA user_version").fetchone() == (state_migrations.LATEST_VERSION,)
    assert path.is_file()


def test_an_empty_file_is_migrated_to_the_latest_schema(tmp_path: Path) -> None:
    """A zero-byte file is a valid, empty database: migrated, not treated as corrupt."""
    path = tmp_path / "state.db"
    path.touch()

    with SqliteStore.open(path, now=T0) as store:
        assert store.reset_reason is None
        store.commit_poll(poll())
        assert store.accounts() == ["acme"]
        assert store._conn.execute("PRAGMA user_version").fetchone() == (LATEST,)


def test_in_memory_store_works_for_tests() -> None:
    """ ":memory:" gives a private, fully migrated store."""
    with SqliteStore.open(":memory:", now=T0) as store:
        store.commit_poll(poll())
        assert store.last_snapshot("acme") is not None


def test_a_v1_database_migrates_to_the_latest_keeping_its_data(tmp_path: Path) -> None:
    """A file written by the first release gains every later table and index, data intact.

    The rows are written as v1 wrote them (literal SQL), which also pins the on-disk format.
    """
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    state_migrations.apply_migration(conn, state_migrations.MIGRATIONS[0])
    conn.execute("COMMIT")
    conn.executescript(
        """
        INSERT INTO snapshots (account, taken_at, balances) VALUES ('acme',
            '2024-05-01T12:00:00.000000Z', '{"BTC_BITCOIN":{"available":"0.00012345"}}');
        INSERT INTO alerts (account, key, rule, rule_type, currency, kind, status, severity,
            summary, value) VALUES ('acme', 'low:DZD', 'low', 'threshold', 'DZD', 'state',
            'firing', 1, 'available 950 DZD is below 1000 DZD', '950.00');
        INSERT INTO silences (account, rule, starts_at, ends_at, reason) VALUES ('acme', NULL,
            '2024-05-01T12:00:00.000000Z', '2024-05-01T13:00:00.000000Z', 'deploy');
        """
    )
    conn.close()

    with SqliteStore.open(path, now=T0) as store:
        assert store._conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
        assert store.last_snapshot("acme") == snapshot(
            "acme", T0, BTC_BITCOIN=Balance(available=Decimal("0.00012345"))
        )
        assert store.alert_states("acme") == {"low:DZD": alert(value=Decimal("950.00"))}
        assert [s.reason for s in store.silences(T0)] == ["deploy"]
        store.set_meta("migrated", "yes")
        assert store.get_meta("migrated") == "yes"
        indexes = {row[1] for row in store._conn.execute("PRAGMA index_list(snapshots)")}
        assert "snapshots_account_time" in indexes


def test_a_v2_outbox_gains_unclaimed_deliveries_and_leases(tmp_path: Path) -> None:
    """Version 3 adds the claims: a v2 file's pending delivery stays due and claimable, its
    accounts have no lease yet, and the first claim gets token 1."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    for migration in state_migrations.MIGRATIONS[:2]:
        state_migrations.apply_migration(conn, migration)
    conn.execute("COMMIT")
    conn.executescript(
        """
        INSERT INTO notifications (id, account, alert_key, kind, severity, title, body,
            created_at, poll_id) VALUES ('n1', 'acme', 'low:DZD', 'firing', 1, 't', 'b',
            '2024-05-01T12:00:00.000000Z', 'p1');
        INSERT INTO deliveries (notification_id, channel) VALUES ('n1', 'slack');
        """
    )
    conn.close()

    with SqliteStore.open(path, now=T0) as store:
        assert [d.notification.id for d in store.due_deliveries(T0)] == ["n1"]
        (due,) = store.claim_deliveries("d1", T0, lease_seconds=60)
        assert (due.notification.id, due.delivery.channel, due.claim) == ("n1", "slack", 1)
        assert store.claim_accounts("d1", [("acme", 60)])["acme"].token == 1


def test_a_failing_migration_leaves_the_previous_version_intact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each migration is one transaction with its version bump: all of it, or none."""
    path = tmp_path / "state.db"
    SqliteStore.open(path, now=T0).close()
    broken = state_migrations.Migration(
        LATEST + 1, "half-done", ("CREATE TABLE extra (x)", "CREATE INDEX oops ON missing (x)")
    )
    monkeypatch.setattr(state_migrations, "MIGRATIONS", (*state_migrations.MIGRATIONS, broken))
    monkeypatch.setattr(state_migrations, "LATEST_VERSION", LATEST + 1)

    with pytest.raises(StateError, match="missing"):
        SqliteStore.open(path, now=T0)

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone() == (LATEST,)
    tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
    conn.close()
    assert "extra" not in tables


def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path: Path) -> None:
    """Schema versions this code does not know are an error naming both versions."""
    path = tmp_path / "state.db"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute("PRAGMA user_version = 99")
    conn.commit()
    conn.close()
    before = path.read_bytes()

    with pytest.raises(StateError, match=rf"schema version 99.*versions up to {LATEST}\b"):
        SqliteStore.open(path, now=T0)

    assert path.read_bytes() == before
    assert list(tmp_path.iterdir()) == [path]


# ---------------------------------------------------------------- SQLite: corruption


def _assert_reset(store: SqliteStore, path: Path, moved_name: str) -> None:
    assert store.reset_reason is not None
    assert "corrupt" in store.reset_reason
    assert "repeat notification is possible" in store.reset_reason
    assert moved_name in store.reset_reason
    assert "\n" not in store.reset_reason
    assert (path.parent / moved_name).is_file()
    assert store.accounts() == []
    store.commit_poll(poll())
    assert store.accounts() == ["acme"]


def test_a_garbage_file_is_moved_aside_and_the_store_starts_empty(tmp_path: Path) -> None:
    """ "file is not a database": the file and its -wal/-shm are kept aside, never raised."""
    path = tmp_path / "state.db"
    garbage = b"this is not sqlite " * 500
    path.write_bytes(garbage)
    Path(f"{path}-wal").write_bytes(b"junk wal")
    Path(f"{path}-shm").write_bytes(b"junk shm")

    with SqliteStore.open(path, now=T0 + timedelta(seconds=7)) as store:
        _assert_reset(store, path, "state.db.corrupt-20240501T120007Z")

    assert (tmp_path / "state.db.corrupt-20240501T120007Z").read_bytes() == garbage
    assert (tmp_path / "state.db.corrupt-20240501T120007Z-wal").read_bytes() == b"junk wal"
    assert (tmp_path / "state.db.corrupt-20240501T120007Z-shm").is_file()


def test_a_truncated_database_is_moved_aside(tmp_path: Path) -> None:
    """A real database cut short fails quick_check and is replaced by an empty one."""
    path = tmp_path / "state.db"
    with SqliteStore.open(path, now=T0) as store:
        for i in range(200):
            store.commit_poll(poll(f"acct-{i:03}", notifications=(notification(f"n{i}"),)))
    with path.open("r+b") as handle:
        handle.truncate(path.stat().st_size // 2)

    with SqliteStore.open(path, now=T0) as store:
        _assert_reset(store, path, "state.db.corrupt-20240501T120000Z")


def test_a_second_reset_in_the_same_second_keeps_both_files(tmp_path: Path) -> None:
    """Moving aside never overwrites an earlier corrupt copy."""
    path = tmp_path / "state.db"
    for _ in range(2):
        path.write_bytes(b"garbage" * 1000)
        SqliteStore.open(path, now=T0).close()

    assert sorted(p.name for p in tmp_path.glob("state.db.corrupt-*")) == [
        "state.db.corrupt-20240501T120000Z",
        "state.db.corrupt-20240501T120000Z-2",
    ]


# ---------------------------------------------------------------- SQLite: locking


def test_a_locked_database_fails_the_write_cleanly_and_it_can_be_retried(
    tmp_path: Path,
) -> None:
    """Past the busy timeout a write raises StateLocked, leaves nothing, and succeeds later.

    Reads keep working meanwhile: WAL lets them see the last committed state.
    """
    path = tmp_path / "state.db"
    store = SqliteStore.open(path, now=T0, busy_timeout=0.05)
    store.commit_poll(poll(at=T0))
    other = sqlite3.connect(path, isolation_level=None, timeout=0)
    other.execute("BEGIN EXCLUSIVE")
    other.execute("INSERT INTO meta (key, value) VALUES ('holder', 'other process')")
    record = poll(at=T0 + MIN, notifications=(notification("n1"),))

    try:
        with pytest.raises(StateLocked, match="locked"):
            store.commit_poll(record)
        assert store.last_snapshot("acme") == snapshot("acme", T0)
        assert store.outbox_depth() == 0
        assert store.get_meta("holder") is None
    finally:
        other.execute("COMMIT")
        other.close()

    store.commit_poll(record)
    assert [s.taken_at for s in store.history("acme", T0)] == [T0, T0 + MIN]
    assert store.get_meta("holder") == "other process"
    store.close()


def test_two_processes_share_one_file(tmp_path: Path) -> None:
    """``balancewatch status`` opens the daemon's file while it runs: each sees the other."""
    path = tmp_path / "state.db"
    with SqliteStore.open(path, now=T0) as daemon, SqliteStore.open(path, now=T0) as cli:
        daemon.commit_poll(poll(notifications=(notification("n1"),)))
        silence = cli.add_silence("acme", None, T0, T0 + MIN, "from the CLI")

        assert cli.last_snapshot("acme") == snapshot("acme", T0)
        assert cli.recent_notifications() == [notification("n1")]
        assert daemon.silences(T0) == [silence]


def test_locked_error_is_a_retryable_state_error() -> None:
    """Callers that handle StateError handle StateLocked too."""
    assert issubclass(StateLocked, StateError)
    assert not StateLocked.permanent


# ---------------------------------------------------------------- SQLite: details


def test_mark_delivered_keeps_the_first_delivery_time(tmp_path: Path) -> None:
    """A repeated mark never moves delivered_at: the first success is the record."""
    with SqliteStore.open(tmp_path / "state.db", now=T0) as store:
        store.enqueue([notification("n1")], [Delivery("n1", "slack")])
        store.mark_delivered("n1", "slack", T0)
        store.mark_delivered("n1", "slack", T0 + MIN)

        row = store._conn.execute("SELECT delivered_at FROM deliveries").fetchone()
        assert row == ("2024-05-01T12:00:00.000000Z",)


def test_prune_works_in_batches_of_accounts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Batching the prune changes nothing in what it deletes."""
    monkeypatch.setattr(state, "_PRUNE_BATCH", 2)
    with SqliteStore.open(tmp_path / "state.db", now=T0) as store:
        for account in ("a", "b", "c", "d", "e"):
            store.commit_poll(poll(account, T0))
            store.commit_poll(poll(account, T0 + MIN))

        assert store.prune(T0 + 2 * MIN) == 5
        assert all(len(store.history(a, T0)) == 1 for a in store.accounts())


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (state_schema.DUE, "deliveries_pending"),
        (state_schema.SNAPSHOT_ACCOUNTS, "snapshots_account_time"),
        (state_schema.PRUNE_SNAPSHOTS, "snapshots_account_time"),
        (state_schema.PRUNE_NOTIFICATIONS, "notifications_created"),
        (
            "SELECT * FROM snapshots WHERE account = ? ORDER BY taken_at DESC LIMIT 1",
            "snapshots_account_time",
        ),
    ],
)
def test_hot_queries_use_their_indexes(tmp_path: Path, sql: str, index: str) -> None:
    """The queries that run per poll or per delivery never scan a whole table."""
    with SqliteStore.open(tmp_path / "state.db", now=T0) as store:
        params = (None,) * sql.count("?")
        rows = store._conn.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    plan = [str(row[3]) for row in rows]
    full_scans = [step for step in plan if step.startswith("SCAN") and "USING" not in step]
    assert any(index in step for step in plan)
    assert set(full_scans) <= {"SCAN seen"}, "only the skip-scan's own CTE is scanned"


def test_a_read_only_store_shows_the_cluster(tmp_path: Path) -> None:
    """status opens the file read-only and still reads daemons and leases."""
    path = tmp_path / "state.db"
    with SqliteStore.open(path, now=T0) as daemon:
        daemon.heartbeat("d1", host="alpha", pid=1, config_hash="c")
        daemon.claim_accounts("d1", [("acme", 3600)])

    with SqliteStore.open_readonly(path) as status:
        view = status.cluster()

    assert view.held_by("d1") == ["acme"]
    assert [m.host for m in view.members] == ["alpha"]
