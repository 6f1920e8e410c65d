"""`status`, `history`, `silence` and `replay` read the state file as an operator wants.

The state file is filled by the real pipeline (poller.decide + SqliteStore.commit_poll) over
scripted snapshots, then the CLI runs as a real process.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from balancewatch.config.load import parse_config
from balancewatch.model import Balance, Snapshot
from balancewatch.poll.decide import decide
from balancewatch.poll.plan import make_plan
from balancewatch.records import Acknowledgement
from balancewatch.state.sqlite import SqliteStore

T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)

CONFIG = """\
state:
  path: {db}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: not-used-key-123
    base_url: http://127.0.0.1:9
    rules:
      - threshold: {{below: {{warning: 5000, critical: 1000}}, clear_margin: 250}}
      - change: {{drop: {{percent: 20}}}}
"""


def _run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "balancewatch", "-c", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "BALANCEWATCH_CONFIG": ""},
    )


@pytest.fixture
def filled(tmp_path: Path) -> Path:
    """A state file with 12 polls of `shop` draining from 6,000 to 900 DZD, 10 minutes apart."""
    db = tmp_path / "state.db"
    path = tmp_path / "config.yaml"
    text = CONFIG.format(db=db)
    path.write_text(text)
    config = parse_config(text, source=str(path))
    plan = make_plan(config.accounts[0], config.defaults)
    store = SqliteStore.open(db, now=T0)
    history: list[Snapshot] = []
    health = None
    states: dict = {}
    values = [6000, 5800, 5500, 5200, 4900, 4600, 4200, 3500, 2500, 1800, 1200, 900]
    for i, value in enumerate(values):
        now = T0 + timedelta(minutes=10 * i)
        snap = Snapshot("shop", now, {"DZD": Balance(available=Decimal(f"{value}.00"))})
        record, _ = decide(
            plan,
            snap,
            previous_health=health,
            history=history,
            states=states,
            now=now,
            poll_id=f"p{i}",
        )
        store.commit_poll(record)
        health = record.health
        states.update({s.key: s for s in record.alerts})
        history.append(snap)
    store.close()
    return path


def test_status_shows_balances_firing_alerts_and_outbox(filled: Path) -> None:
    """The last balance with its age, the firing critical alert, and the waiting deliveries."""
    result = _run(filled, "status")
    assert result.returncode == 0, result.stderr
    assert "shop: last read" in result.stdout
    assert "available 900.00 DZD" in result.stdout
    assert "[CRITICAL] shop threshold: available 900.00 DZD is below 1,000.00 DZD" in result.stdout
    assert "OUTBOX" in result.stdout


def test_status_json_has_exact_amounts(filled: Path) -> None:
    """Amounts in `status --json` are decimal strings."""
    data = json.loads(_run(filled, "status", "--json").stdout)
    shop = data["accounts"][0]
    assert shop["balances"]["DZD"]["available"] == "900.00"
    assert [a["severity"] for a in data["firing"]] == ["critical"]


def test_status_says_who_acknowledged_a_firing_alert_and_when(filled: Path) -> None:
    """Text and JSON alike (both from web/data.status_data); before, JSON says null."""
    before = json.loads(_run(filled, "status", "--json").stdout)
    assert before["firing"][0]["acknowledged"] is None
    store = SqliteStore.open(filled.parent / "state.db", now=T0)
    (firing,) = store.firing_alerts()
    assert firing.started_at is not None
    at = T0 + timedelta(hours=3)
    store.acknowledge(
        Acknowledgement("shop", firing.key, firing.started_at, firing.severity, at, "ana")
    )
    store.close()
    text = _run(filled, "status").stdout
    assert f"    acknowledged by ana at {at.isoformat()}" in text
    after = json.loads(_run(filled, "status", "--json").stdout)
    assert after["firing"][0]["acknowledged"] == {"by": "ana", "at": at.isoformat()}


def test_history_csv_lists_every_poll_in_order(filled: Path) -> None:
    """One CSV row per poll and currency, oldest first, exact decimals, empty for unknown kinds."""
    result = _run(filled, "history", "shop", "--since", "1d", "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["available"] for r in rows][:3] == ["6000.00", "5800.00", "5500.00"]
    assert len(rows) == 12
    assert rows[0]["pending"] == ""
    assert rows == sorted(rows, key=lambda r: r["taken_at"])


def test_history_of_an_unknown_account_is_a_config_error(filled: Path) -> None:
    """A typo in the account name says which accounts exist, exit 2."""
    result = _run(filled, "history", "shpo")
    assert result.returncode == 2
    assert "shop" in result.stderr
    assert "Traceback" not in result.stderr


def test_silence_is_listed_and_lifted(filled: Path) -> None:
    """A silence shows in `silence --list` and `status`, and `--lift` ends it."""
    added = _run(
        filled,
        "silence",
        "shop",
        "--rule",
        "threshold",
        "--for",
        "2h",
        "--reason",
        "bank migration",
    )
    assert added.returncode == 0, added.stderr
    assert "silence #1: shop rule threshold until" in added.stdout
    assert "bank migration" in _run(filled, "silence", "--list").stdout
    assert "#1 shop rule threshold" in _run(filled, "status").stdout
    assert _run(filled, "silence", "--lift", "1").returncode == 0
    assert "no active silences" in _run(filled, "silence", "--list").stdout


def test_replay_shows_what_an_edited_config_would_have_sent(filled: Path, tmp_path: Path) -> None:
    """Replaying with a raised warning level shows the warning firing earlier, with times."""
    base = _run(filled, "replay", "shop", "--since", "1d")
    assert base.returncode == 0, base.stderr
    assert "[WARNING] shop: available 4,900.00 DZD is below 5,000.00 DZD" in base.stdout
    assert "[CRITICAL] shop: available 900.00 DZD is below 1,000.00 DZD" in base.stdout
    assert "change" not in base.stdout or "dropped by" in base.stdout
    edited = tmp_path / "edited.yaml"
    edited.write_text(filled.read_text().replace("warning: 5000", "warning: 5900"))
    result = _run(edited, "replay", "shop", "--since", "1d", "--state", str(tmp_path / "state.db"))
    assert result.returncode == 0, result.stderr
    assert "[WARNING] shop: available 5,800.00 DZD is below 5,900.00 DZD" in result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith((T0 + timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M"))


def test_replay_and_status_need_a_state_file(tmp_path: Path) -> None:
    """Without a state file, status says where it looked, exit 1, one line."""
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "none.db"))
    result = _run(path, "status")
    assert result.returncode == 1
    assert "no state file" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


# ---------------------------------------------------------------- without the service's secrets

SECRET_CONFIG = """\
state:
  path: {db}
notifiers:
  ops: "slack://${{SLACK_TOKEN}}/#payments"
  pager: "tgram://${{TG_BOT}}:${{TG_TOKEN}}/12345"
accounts:
  - name: shop
    provider: oneclickdz
    api_key: ${{ONECLICKDZ_API_KEY}}
    base_url: http://127.0.0.1:9
    rules:
      - threshold: {{below: {{warning: 5000, critical: 1000}}, clear_margin: 250}}
      - change: {{drop: {{percent: 20}}}}
  - name: wallet
    provider: thedex
    api_key: credential:thedex_key
    secret: file:/nonexistent/thedex-secret
"""


@pytest.fixture
def secret_config(filled: Path, tmp_path: Path) -> Path:
    """The filled state, with a config whose every credential is unavailable here."""
    path = tmp_path / "secret.yaml"
    path.write_text(SECRET_CONFIG.format(db=tmp_path / "state.db"))
    return path


def _without_secrets(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "CREDENTIALS_DIRECTORY"}
    env["BALANCEWATCH_CONFIG"] = ""
    return subprocess.run(
        [sys.executable, "-m", "balancewatch", "-c", str(config), *args],
        capture_output=True,
        text=True,
        check=False,
        env=env,
    )


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (("status",), "available 900.00 DZD"),
        (("status", "--json"), '"available": "900.00"'),
        (("history", "shop", "--since", "1d"), "available 6,000.00 DZD"),
        (("silence", "--list"), "no active silences"),
        (("silence", "shop", "--for", "1h", "--reason", "maintenance"), "silence #1: shop"),
        (("replay", "shop", "--since", "1d"), "[CRITICAL] shop: available 900.00 DZD"),
    ],
    ids=["status", "status-json", "history", "silence-list", "silence", "replay"],
)
def test_read_only_commands_need_none_of_the_service_secrets(
    secret_config: Path, args: tuple[str, ...], shown: str
) -> None:
    """An operator without the service's environment or credentials can look and mute:
    unset variables, an unreadable secret file and a missing credential are not errors for
    commands that neither poll nor send."""
    result = _without_secrets(secret_config, *args)

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert shown in result.stdout


def test_commands_that_poll_or_send_still_refuse_missing_secrets(secret_config: Path) -> None:
    """`validate` (what the unit runs before start and reload) and `check` name every value
    they cannot resolve."""
    validate = _without_secrets(secret_config, "validate")
    check = _without_secrets(secret_config, "check")

    assert validate.returncode == 2
    assert check.returncode == 3
    for result in (validate, check):
        for missing in ("SLACK_TOKEN", "ONECLICKDZ_API_KEY", "thedex_key", "thedex-secret"):
            assert missing in result.stderr, (missing, result.stderr)


def test_a_value_the_read_only_commands_need_is_still_required(
    filled: Path, tmp_path: Path
) -> None:
    """The state path, and a setting the schema cannot take as written, must resolve: the
    error names the variable, not the placeholder."""
    text = SECRET_CONFIG.format(db="${STATE_DB}").replace("rules:", "interval: ${POLL}\n    rules:")
    path = tmp_path / "needs.yaml"
    path.write_text(text)

    result = _without_secrets(path, "status")

    assert result.returncode == 2
    assert "state.path: the environment variable STATE_DB is not set" in result.stderr
    assert "accounts[0].interval: the environment variable POLL is not set" in result.stderr
    assert "SLACK_TOKEN" not in result.stderr
    assert "Traceback" not in result.stderr


def test_a_config_without_its_secrets_never_polls() -> None:
    """The daemon refuses a config loaded for read-only use (placeholders are no keys)."""
    from balancewatch.daemon.service import Daemon

    config = parse_config(SECRET_CONFIG.format(db="memory.db"), environ={}, secrets=False)
    assert config.unresolved == (
        "notifiers.ops",
        "notifiers.pager",
        "accounts[0].api_key",
        "accounts[1].api_key",
        "accounts[1].secret",
    )
    with pytest.raises(ValueError, match="without its secrets"):
        Daemon(config, SqliteStore.open(":memory:", now=T0), config_path=Path("x.yaml"))


def test_root_is_told_to_use_the_service_user(filled: Path, tmp_path: Path) -> None:
    """Root opening the service's state would leave -wal/-shm files the daemon cannot write:
    it is refused with the command to use instead, and the file is left untouched."""
    if os.geteuid() != 0:
        pytest.fail("this test needs root (CI runs as root): it hands the file to another uid")
    db = tmp_path / "state.db"
    os.chown(db, 4242, 4242)
    before = sorted(p.name for p in tmp_path.iterdir())

    result = _run(filled, "status")

    assert result.returncode == 1
    assert "belongs to user 4242" in result.stderr
    assert "sudo -u 4242 balancewatch" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == before


@pytest.mark.parametrize(
    "args",
    [("status",), ("history", "shop"), ("silence", "shop", "--for", "1h"), ("replay", "shop")],
    ids=["status", "history", "silence", "replay"],
)
def test_commands_never_move_a_damaged_state_file_under_the_daemon(
    filled: Path, tmp_path: Path, args: tuple[str, ...]
) -> None:
    """Only the daemon moves a damaged file aside (it holds it open): a command says so, one
    line, exit 1, and leaves every file where it was."""
    db = tmp_path / "state.db"
    db.write_bytes(b"this is not a database" * 100)
    before = sorted(p.name for p in tmp_path.iterdir())

    result = _run(filled, *args)

    assert result.returncode == 1
    assert "is damaged" in result.stderr
    assert "the daemon moves it aside" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert db.read_bytes().startswith(b"this is not a database")


def test_silence_refuses_a_rule_that_would_mute_nothing(filled: Path, tmp_path: Path) -> None:
    """`--rule` names a rule id, a rule type or a health alert of the account: a typo is a
    clear error (exit 2, the known names listed) and writes no silence."""
    typo = _run(filled, "silence", "shop", "--rule", "treshold", "--for", "1h")
    by_type = _run(filled, "silence", "shop", "--rule", "threshold", "--for", "1h")
    health = _run(filled, "silence", "*", "--rule", "unreachable", "--for", "1h")

    assert typo.returncode == 2
    assert "no rule 'treshold' on account 'shop'" in typo.stderr
    assert "known: auth, change, threshold, unreachable" in typo.stderr
    assert by_type.returncode == 0, by_type.stderr
    assert health.returncode == 0, health.stderr
    listed = _run(filled, "silence", "--list").stdout
    assert "treshold" not in listed
    assert len(listed.strip().splitlines()) == 2
