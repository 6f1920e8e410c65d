"""Every command writes an amount in one form: positional, every digit, no exponent.

A provider that answers ``"0E-8"`` or ``"1E+3"`` (valid JSON numbers, and what Python's
``str(Decimal)`` writes) must come out of ``check --json``, ``status --json``,
``history --json`` and ``history --csv`` as the same plain text. The snapshot is a real
poll of the simulator, recorded through the daemon's own pipeline.
"""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from balancewatch.config.load import load_config
from balancewatch.model import Snapshot
from balancewatch.poll.decide import decide
from balancewatch.poll.plan import make_plan
from balancewatch.sim.server import SimServer
from balancewatch.state.sqlite import SqliteStore
from tests.conftest import KEYS, sim_accounts

RunCli = Callable[..., subprocess.CompletedProcess[str]]
WriteConfig = Callable[..., Path]

WIRE = {
    "BTC_BITCOIN": {"available": "0E-8", "held": "1E+3"},
    "USDT_TRON": {"available": "-0.5", "held": "-0E-2"},
}
"""What the simulated TheDex account reports (it has no ``pending``)."""

PLAIN = {
    "BTC_BITCOIN": {"available": "0.00000000", "held": "1000", "total": "1000.00000000"},
    "USDT_TRON": {"available": "-0.5", "held": "0.00", "total": "-0.50"},
}
"""What every command must write for them: a negative zero is a zero."""


def _record(config_path: Path, snap: Snapshot) -> None:
    """Store one poll exactly as the daemon does (decide, then one commit)."""
    config = load_config(config_path)
    plan = make_plan(config.accounts[0], config.defaults)
    now = snap.taken_at
    record, _ = decide(
        plan, snap, previous_health=None, history=[], states={}, now=now, poll_id="p1"
    )
    assert config.state.path is not None
    store = SqliteStore.open(config.state.path, now=now)
    try:
        store.commit_poll(record)
    finally:
        store.close()


def _ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def test_every_command_writes_amounts_in_the_same_plain_form(
    sim: SimServer,
    write_config: WriteConfig,
    run_cli: RunCli,
    poll: Callable[..., Snapshot],
    provider_for: Callable[..., object],
) -> None:
    """``0E-8`` -> ``0.00000000``, ``1E+3`` -> ``1000``, ``-0.5`` stays, ``-0E-2`` is
    ``0.00``: the same text in check, status and history, JSON and CSV alike."""
    for currency, kinds in WIRE.items():
        sim.set_balance(KEYS["thedex"], currency, **{k: Decimal(v) for k, v in kinds.items()})
    config = write_config([a for a in sim_accounts(sim) if a["name"] == "thedex"])

    checked = json.loads(_ok(run_cli(config, "check", "--json")))
    snap = poll(provider_for("thedex"), now=datetime.now(UTC))
    _record(config, Snapshot("thedex", snap.taken_at, snap.balances))
    status = json.loads(_ok(run_cli(config, "status", "--json")))
    history = json.loads(_ok(run_cli(config, "history", "thedex", "--json")))
    rows = list(csv.DictReader(io.StringIO(_ok(run_cli(config, "history", "thedex", "--csv")))))

    reports = {
        "check --json": checked["accounts"][0]["balances"],
        "status --json": status["accounts"][0]["balances"],
        "history --json": {r["currency"]: r for r in history},
        "history --csv": {r["currency"]: r for r in rows},
    }
    for command, balances in reports.items():
        for currency, kinds in PLAIN.items():
            shown = {kind: balances[currency][kind] for kind in kinds}
            assert shown == kinds, f"{command} {currency}"
