"""The commands on a PostgreSQL state: ``state: {url: ...}`` instead of a file.

A real server (tests/pgcluster.py) and the real CLI in a subprocess. The URL carries a real
password (a role that must give one), and that password must never show: not in what the
commands print, not in their errors, not when the server is down or refuses it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from balancewatch.model import Balance, Snapshot
from balancewatch.records import Delivery, Health, PollRecord
from balancewatch.state import open_store
from tests.pgcluster import PASSWORD_USER, PgCluster, free_port
from tests.state.builders import alert, notification

PASSWORD = f"pw-{PASSWORD_USER}-0000"
NOW = datetime.now(UTC).replace(microsecond=0)
CONFIG = """\
state:
  url: ${{BW_STATE_URL}}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: not-used-key-123
    base_url: http://127.0.0.1:9
"""

Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def db_url(pg_cluster: PgCluster) -> str:
    """A database of the password role's own, reached with its password."""
    name = f"cli_{free_port()}"
    with pg_cluster.admin() as admin:
        admin.execute(f"CREATE DATABASE {name} OWNER {PASSWORD_USER}")
    return f"postgresql://{PASSWORD_USER}:{PASSWORD}@127.0.0.1:{pg_cluster.port}/{name}"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format())
    return path


def _fill(url: str) -> None:
    with open_store(url, now=NOW) as store:  # type: ignore[attr-defined]
        for minutes, amount in ((20, "1500.00"), (10, "950.00")):
            at = NOW - timedelta(minutes=minutes)
            snap = Snapshot("shop", at, {"DZD": Balance(available=Decimal(amount))})
            store.commit_poll(PollRecord("shop", at, snap, Health("shop", last_ok_at=at)))
        firing = alert("shop", value=Decimal("950.00"), started_at=NOW)
        note = notification("n1", NOW, account="shop")
        store.commit_poll(
            PollRecord(
                "shop",
                NOW,
                None,
                Health("shop", last_ok_at=NOW - timedelta(minutes=10)),
                (firing,),
                (note,),
                (Delivery("n1", "slack"),),
            )
        )


def _assert_no_password(result: subprocess.CompletedProcess[str]) -> None:
    shown = result.stdout + result.stderr
    assert PASSWORD not in shown
    assert "Traceback" not in shown


def test_status_history_and_silence_work_on_postgresql(
    config: Path, db_url: str, run_cli: Run
) -> None:
    """The operator's commands read (and ``silence`` writes) the shared database."""
    _fill(db_url)
    env = {"BW_STATE_URL": db_url}

    status = run_cli(config, "status", env=env)
    history = run_cli(config, "history", "shop", "--since", "1h", "--csv", env=env)
    silence = run_cli(config, "silence", "shop", "--for", "1h", "--reason", "deploy", env=env)
    listed = run_cli(config, "silence", "--list", env=env)

    for result in (status, history, silence, listed):
        assert result.returncode == 0, result.stderr
        _assert_no_password(result)
    assert "available 950.00 DZD" in status.stdout
    assert "[WARNING] shop" in status.stdout
    assert history.stdout.count("\n") == 3, "a header and two polls"
    assert "deploy" in listed.stdout


@pytest.mark.parametrize("problem", ["wrong password", "server down", "empty database"])
def test_a_postgresql_problem_is_one_line_without_the_password(
    config: Path, db_url: str, run_cli: Run, pg_cluster: PgCluster, problem: str
) -> None:
    """Each failure is one clear line on stderr, exit code non-zero, no secret, no
    traceback; psycopg's own warnings (its pool's reconnect lines) included."""
    url = db_url
    if problem == "wrong password":
        url = db_url.replace(PASSWORD, "not-the-password-0000")
    elif problem == "server down":
        url = db_url.replace(f":{pg_cluster.port}/", f":{free_port()}/")

    result = run_cli(config, "status", env={"BW_STATE_URL": url})

    assert result.returncode != 0
    _assert_no_password(result)
    assert "not-the-password-0000" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    expected = {
        "wrong password": "password authentication failed",
        "server down": "cannot connect",
        "empty database": "no balancewatch state in database cli_",
    }[problem]
    assert expected in lines[0]


def test_validate_never_quotes_the_url(tmp_path: Path, run_cli: Run) -> None:
    """A URL that is not PostgreSQL's, or given beside a path, is refused by name only."""
    bad = tmp_path / "bad.yaml"
    both = tmp_path / "both.yaml"
    secret_url = "mysql://bw:Sup3rSecretPw@db.example/bw"
    bad.write_text(CONFIG.format().replace("${BW_STATE_URL}", secret_url))
    both.write_text(CONFIG.format().replace("  url:", f"  path: {tmp_path / 's.db'}\n  url:"))

    refused = run_cli(bad, "validate")
    twice = run_cli(both, "validate", env={"BW_STATE_URL": "postgresql://a:Sup3rSecretPw@h/d"})

    assert refused.returncode == twice.returncode == 2
    assert "state.url" in refused.stderr
    assert "postgresql://user:password@host" in refused.stderr
    assert "not both" in twice.stderr
    for result in (refused, twice):
        assert "Sup3rSecretPw" not in result.stdout + result.stderr
