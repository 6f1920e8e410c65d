"""PostgreSQL's own behaviour: restarts, a server that is down, a connection killed in the
middle of a commit, daemons migrating together, versions, read-only commands, types, and
the password kept out of every message. Real server (tests/pgcluster.py), no mocks.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import TypeVar

import psycopg
import pytest

from balancewatch.model import StateError, StateLocked
from balancewatch.records import Delivery
from balancewatch.state import open_store, postgres, postgres_cluster, postgres_outbox
from balancewatch.state import postgres_schema as schema
from balancewatch.state.postgres import PostgresStore
from tests.pgcluster import PASSWORD_USER, PgCluster, free_port
from tests.state.builders import T0, alert, notification, poll

HOUR = 3600.0
T = TypeVar("T")


@pytest.fixture
def pg(pg_url: str) -> Iterator[PostgresStore]:
    store = PostgresStore.open(pg_url, timeout=2)
    yield store
    store.close()


def _everything(nid: str = "n1") -> object:
    return poll(
        alerts=(alert(value=Decimal("950.10")),),
        notifications=(notification(nid),),
        deliveries=(Delivery(nid, "slack"),),
    )


def _assert_nothing_of_acme(store: PostgresStore) -> None:
    assert store.last_snapshot("acme") is None
    assert store.health("acme") is None
    assert store.alert_states("acme") == {}
    assert store.recent_notifications() == []
    assert store.outbox_depth() == 0


# ---------------------------------------------------------------- restarts and outages


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_a_claim_after_the_database_restarted_just_works(
    pg: PostgresStore, pg_cluster: PgCluster, mode: str
) -> None:
    """Every pooled connection died with the server (a clean restart, or a crash): the
    next call notices without a round trip, takes a new connection and succeeds."""
    assert pg.claim_accounts("d1", [("acme", HOUR)])["acme"].token == 1

    pg_cluster.restart(mode)

    assert pg.claim_accounts("d1", [("acme", HOUR)])["acme"].token == 2
    pg.commit_poll(poll(fence=2))
    assert pg.last_snapshot("acme") is not None


def test_calls_fail_cleanly_while_the_server_is_down_and_work_once_it_is_back(
    pg: PostgresStore, pg_cluster: PgCluster
) -> None:
    """No server: StateLocked (retry later, nothing written) within the store's timeout,
    not a hang or a traceback. Back up: the same store reconnects by itself (its pool
    backs off between attempts, so it may take one or two more calls) and has lost
    nothing committed before the crash."""
    pg.commit_poll(poll())
    pg_cluster.stop("immediate")
    try:
        with pytest.raises(StateLocked, match="cannot connect"):
            pg.claim_accounts("d1", [("acme", HOUR)])
        with pytest.raises(StateLocked):
            pg.commit_poll(poll("beta"))
    finally:
        pg_cluster.start()

    claims = _retry_while_locked(lambda: pg.claim_accounts("d1", [("acme", HOUR)]), calls=10)
    assert claims["acme"].token == 1
    assert pg.accounts() == ["acme"]


def _retry_while_locked(call: Callable[[], T], calls: int) -> T:
    """What the daemon does: try again at its next tick (each try waits up to the store's
    timeout for a connection)."""
    for _ in range(calls - 1):
        try:
            return call()
        except StateLocked:
            continue
    return call()


def test_opening_an_unreachable_server_is_a_clear_one_line_error() -> None:
    """Nothing listens on the port: StateLocked naming the server, at once."""
    url = f"postgresql://bw:canary-secret-0001@127.0.0.1:{free_port()}/bw"

    with pytest.raises(StateLocked, match=r"cannot connect.*127\.0\.0\.1") as error:
        PostgresStore.open(url)

    assert "\n" not in str(error.value)
    assert "canary-secret-0001" not in str(error.value)


def test_a_connection_killed_mid_transaction_leaves_nothing_half_written(
    pg: PostgresStore, pg_cluster: PgCluster, pg_url: str
) -> None:
    """The commit has written the snapshot, health, alert and notification rows and waits
    to write its delivery when its connection is killed: none of it is there after, and
    the store's next commit works on a new connection."""
    failures: list[BaseException] = []
    with psycopg.connect(pg_url) as blocker:
        blocker.execute("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE")
        committer = threading.Thread(
            target=lambda: _capture(failures, lambda: pg.commit_poll(_everything()))
        )
        committer.start()
        pid = _wait_for_lock_wait(pg_cluster, pg_url, "INSERT INTO deliveries")
        with pg_cluster.admin() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        committer.join(timeout=30)
        blocker.rollback()

    assert len(failures) == 1
    assert isinstance(failures[0], StateError)
    _assert_nothing_of_acme(pg)
    pg.commit_poll(_everything())
    assert pg.outbox_depth() == 1


def _capture(failures: list[BaseException], call: object) -> None:
    try:
        call()  # type: ignore[operator]
    except BaseException as error:
        failures.append(error)


def _wait_for_lock_wait(cluster: PgCluster, url: str, query: str) -> int:
    """The pid of the backend blocked on a lock while running ``query`` (polled until it
    shows, 10 s at most: the blocked statement gives up after its 5 s lock timeout)."""
    database = url.rsplit("/", 1)[1]
    with cluster.admin() as admin:
        for _ in range(1000):
            row = admin.execute(
                "SELECT pid, query FROM pg_stat_activity WHERE datname = %s"
                " AND wait_event_type = 'Lock' AND application_name = 'balancewatch'",
                (database,),
            ).fetchone()
            if row is not None:
                assert query in row[1]
                return int(row[0])
            admin.execute("SELECT pg_sleep(0.01)")
    raise AssertionError("the commit never waited for the lock")


# ---------------------------------------------------------------- migrations


def test_daemons_starting_together_migrate_once(pg_url: str) -> None:
    """Four stores opened at the same instant on an empty database: the advisory
    transaction lock makes one migrate and the others find the schema done."""
    barrier = threading.Barrier(4)
    opened: list[PostgresStore] = []
    failures: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        _capture(failures, lambda: opened.append(PostgresStore.open(pg_url, pool_size=1)))

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert failures == []
    assert len(opened) == 4
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchall() == [
            (schema.LATEST_VERSION,)
        ]
    for store in opened:
        store.close()


def test_a_failing_migration_leaves_the_previous_version_intact(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each migration is one transaction with its version bump: all of it, or none."""
    PostgresStore.open(pg_url).close()
    broken = schema.Migration(
        schema.LATEST_VERSION + 1,
        "half-done",
        ("CREATE TABLE extra (x int)", "CREATE INDEX oops ON missing (x)"),
    )
    monkeypatch.setattr(schema, "MIGRATIONS", (*schema.MIGRATIONS, broken))
    monkeypatch.setattr(schema, "LATEST_VERSION", broken.version)

    with pytest.raises(StateError, match="missing"):
        PostgresStore.open(pg_url)

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (
            broken.version - 1,
        )
        assert conn.execute("SELECT to_regclass('extra')").fetchone() == (None,)


def test_a_database_from_a_newer_version_is_refused_untouched(pg_url: str) -> None:
    """A schema this code does not know is an error naming both versions, and is left as
    it is, by the daemon and by read-only commands."""
    PostgresStore.open(pg_url).close()
    with psycopg.connect(pg_url) as conn:
        conn.execute("UPDATE schema_version SET version = 99")

    for readonly in (False, True):
        with pytest.raises(
            StateError, match=rf"schema version 99.*up to {schema.LATEST_VERSION}\b"
        ):
            PostgresStore.open(pg_url, readonly=readonly)

    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT version FROM schema_version").fetchone() == (99,)


def test_read_only_commands_never_create_migrate_or_write(pg_url: str) -> None:
    """status on an empty database says so and creates nothing; on a real one it reads,
    and refuses any write."""
    with pytest.raises(StateError, match=r"no balancewatch state.*has the daemon run yet"):
        open_store(pg_url, now=T0, readonly=True)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT to_regclass('schema_version')").fetchone() == (None,)

    with open_store(pg_url, now=T0) as daemon:  # type: ignore[attr-defined]
        daemon.commit_poll(poll())
    reader = open_store(pg_url, now=T0, readonly=True)
    try:
        assert reader.accounts() == ["acme"]
        with pytest.raises(StateError, match="read-only"):
            reader.add_silence("acme", None, T0, T0, "no")
        with pytest.raises(StateError, match="read-only"):
            reader.commit_poll(poll("beta"))
    finally:
        reader.close()


# ---------------------------------------------------------------- types


def test_amounts_are_numeric_instants_timestamptz_and_json_jsonb(
    pg: PostgresStore, pg_url: str
) -> None:
    """Exact decimals as numeric, read back as the same Decimals (never float)."""
    tiny = Decimal("0.000000012345678901234567890")
    pg.commit_poll(poll(alerts=(alert(value=tiny, threshold=Decimal("-1E+3")),)))

    state = pg.alert_states("acme")["low:DZD"]

    assert (type(state.value), state.value, state.threshold) == (Decimal, tiny, Decimal(-1000))
    with psycopg.connect(pg_url) as conn:
        types = dict(
            conn.execute(
                "SELECT table_name || '.' || column_name, data_type FROM"
                " information_schema.columns WHERE table_schema = 'public'"
            ).fetchall()
        )
        assert conn.execute("SELECT value FROM alerts").fetchone() == (tiny,)
    assert types["alerts.value"] == types["alerts.threshold"] == "numeric"
    assert types["snapshots.taken_at"] == "timestamp with time zone"
    assert types["snapshots.balances"] == types["notifications.fields"] == "jsonb"


# ---------------------------------------------------------------- the password


CANARY = "Canary%2FPw-7f3a"
"""A password as written in a URL (percent-encoded): neither form may ever be shown."""
SHOWN = ("Canary%2FPw-7f3a", "Canary/Pw-7f3a")


def _bad_urls(cluster: PgCluster) -> dict[str, str]:
    port, closed = cluster.port, free_port()
    return {
        "nothing listens": f"postgresql://bw:{CANARY}@127.0.0.1:{closed}/bw",
        "wrong password": f"postgresql://{PASSWORD_USER}:{CANARY}@127.0.0.1:{port}/postgres",
        "no such database": f"postgresql://postgres:{CANARY}@127.0.0.1:{port}/nowhere",
        "bad escape": f"postgresql://bw:{CANARY}%zz@127.0.0.1:{port}/bw",
        "bad option": f"postgresql://bw:{CANARY}@127.0.0.1:{port}/bw?sslmode=sometimes",
        "password option": f"postgresql://bw@127.0.0.1:{closed}/bw?password={CANARY}",
    }


BAD_URLS = (
    *("nothing listens", "wrong password", "no such database"),
    *("bad escape", "bad option", "password option"),
)


@pytest.mark.parametrize("case", BAD_URLS)
def test_the_password_never_appears_in_an_error_or_a_log_line(
    pg_cluster: PgCluster, case: str, caplog: pytest.LogCaptureFixture
) -> None:
    """libpq and psycopg quote what they could not use (a malformed URL whole): the store
    gives libpq the URL without its password, and cleans every message it lets out."""
    url = _bad_urls(pg_cluster)[case]
    caplog.set_level(logging.DEBUG)

    with pytest.raises(StateError) as error:
        PostgresStore.open(url, timeout=1)

    text = f"{error.value}\n{error.value!r}\n{caplog.text}"
    assert not any(secret in text for secret in SHOWN), text
    assert "\n" not in str(error.value)
    assert error.value.__cause__ is None, "psycopg's own exception is not chained"


def test_the_right_password_is_used_though_never_shown(pg_cluster: PgCluster) -> None:
    """The password travels to the server on its own, and works (scram)."""
    url = (
        f"postgresql://{PASSWORD_USER}:pw-{PASSWORD_USER}-0000@127.0.0.1:{pg_cluster.port}/postgres"
    )
    with pg_cluster.admin() as admin:
        admin.execute(f"CREATE DATABASE pwdb_{pg_cluster.port} OWNER {PASSWORD_USER}")
    url = url.replace("/postgres", f"/pwdb_{pg_cluster.port}")

    with PostgresStore.open(url) as store:
        store.commit_poll(poll())
        assert store.accounts() == ["acme"]


# ---------------------------------------------------------------- plans


HOT = {
    "claim": (postgres_cluster.CLAIM, {"owner": "d", "accounts": ["a"], "seconds": [1.0]}),
    "fence tokens": (postgres.TOKENS, (["a"],)),
    "due deliveries": (postgres_outbox.DUE, {"now": T0, "limit": 10}),
    "claim deliveries": (
        postgres_outbox.CLAIM,
        {"owner": "d", "now": T0, "lease": 1.0, "limit": 10},
    ),
    "last snapshot": (
        f"SELECT {postgres.SNAPSHOT_COLUMNS} FROM snapshots WHERE account = %s"
        " ORDER BY taken_at DESC LIMIT 1",
        ("a",),
    ),
    "accounts": (postgres.SNAPSHOT_ACCOUNTS, ()),
}


@pytest.mark.parametrize("name", sorted(HOT))
def test_hot_queries_can_use_their_indexes(pg: PostgresStore, pg_url: str, name: str) -> None:
    """The statements that run per tick or per delivery never need a whole-table scan
    (checked with sequential scans priced out: small test tables would pick them)."""
    sql, params = HOT[name]
    with psycopg.connect(pg_url) as conn:
        conn.execute("SET enable_seqscan = off")
        plan = "\n".join(row[0] for row in conn.execute(f"EXPLAIN {sql}".encode(), params))
        conn.rollback()

    scanned = [line for line in plan.splitlines() if "Seq Scan" in line]
    assert scanned == [], plan
