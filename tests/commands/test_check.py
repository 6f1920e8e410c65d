"""``balancewatch check`` and ``validate``, run as real processes against the simulator.

``check`` is a monitoring plugin (DESIGN.md §8): exit 0 fine, 1 warning, 2 critical,
3 unknown, first match wins in the order 3 (config error, nothing polled), 2, 3 (a failed
poll), 1, 0. ``--json`` prints amounts as decimal strings and ``null`` for kinds a
provider does not report. Neither command ever prints a credential, whatever the
provider does, at any log level.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from balancewatch.sim.server import FAULTS, SimServer
from tests.conftest import KEYS, THEDEX_SECRET, sim_accounts

RunCli = Callable[..., subprocess.CompletedProcess[str]]
WriteConfig = Callable[..., Path]


def with_rules(sim: SimServer, **rules: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The four simulated accounts, some with rules (keyed by provider name)."""
    accounts = sim_accounts(sim)
    for account in accounts:
        if account["name"] in rules:
            account["rules"] = rules[account["name"]]
    return accounts


def check_json(run_cli: RunCli, config: Path, *args: str) -> tuple[int, dict[str, Any]]:
    run = run_cli(config, "check", "--json", *args)
    assert "Traceback" not in run.stderr
    return run.returncode, json.loads(run.stdout)


def by_name(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {entry["account"]: entry for entry in report["accounts"]}


# ---------------------------------------------------------------- JSON and exit codes


def test_check_json_gives_exact_decimal_strings_and_null_for_unreported_kinds(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    config = write_config(sim_accounts(sim))

    code, report = check_json(run_cli, config)

    assert code == 0
    accounts = by_name(report)
    assert list(accounts) == ["dhmad", "oneclickdz", "thedex", "sunor"]
    assert accounts["dhmad"]["balances"] == {
        "TND": {"available": "1500.50", "pending": "200.00", "held": "500.25", "total": "2200.75"}
    }
    assert accounts["oneclickdz"]["balances"] == {
        "DZD": {"available": "1326.13", "pending": None, "held": None, "total": "1326.13"}
    }
    assert accounts["thedex"]["balances"] == {
        "BTC_BITCOIN": {
            "available": "0.00120000",
            "pending": None,
            "held": "0.00000000",
            "total": "0.00120000",
        },
        "USDT_TRON": {
            "available": "250.00000000",
            "pending": None,
            "held": "50.00000000",
            "total": "300.00000000",
        },
    }
    assert accounts["sunor"]["balances"] == {
        "CREDITS": {"available": "950", "pending": None, "held": "10", "total": "960"}
    }
    for name, entry in accounts.items():
        assert entry["provider"] == name
        assert entry["ok"] is True
        assert entry["error"] is None
        assert entry["alerts"] == []


def test_check_exits_1_when_a_warning_fires(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    """Sunor has 950 credits; a warning below 1000 fires (a bare number is a warning)."""
    config = write_config(with_rules(sim, sunor=[{"threshold": {"below": 1000}}]))

    code, report = check_json(run_cli, config)

    assert code == 1
    (alert,) = by_name(report)["sunor"]["alerts"]
    assert alert["rule"] == "threshold"
    assert alert["severity"] == "warning"
    assert "950" in alert["summary"]
    assert "1,000" in alert["summary"]


def test_check_exits_2_when_a_critical_fires(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    rules = [{"threshold": {"below": {"warning": 5000, "critical": 2000}}}]
    config = write_config(with_rules(sim, dhmad=rules, sunor=[{"threshold": {"below": 1000}}]))

    code, report = check_json(run_cli, config)

    assert code == 2
    assert [a["severity"] for a in by_name(report)["dhmad"]["alerts"]] == ["critical"]
    assert [a["severity"] for a in by_name(report)["sunor"]["alerts"]] == ["warning"]


def test_check_exits_3_when_a_poll_fails_and_shows_why_without_a_balance(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    """A rejected key is "unknown" here, not critical and never a zero balance."""
    accounts = sim_accounts(sim, {**KEYS, "sunor": "wrong-sunor-key-0123456789"})
    config = write_config(accounts)

    code, report = check_json(run_cli, config)

    assert code == 3
    sunor = by_name(report)["sunor"]
    assert sunor["ok"] is False
    assert sunor["error"] == "auth: HTTP 401 Invalid API key"
    assert sunor["balances"] == {}
    assert sunor["alerts"] == []
    assert all(entry["ok"] for name, entry in by_name(report).items() if name != "sunor")


def test_a_critical_outranks_a_failed_poll_which_outranks_a_warning(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    warning = [{"threshold": {"below": 1000}}]
    critical = [{"threshold": {"below": {"critical": 2000}}}]
    keys = {**KEYS, "oneclickdz": "wrong-ocd-key-0123456789"}

    def config(**rules: list[dict[str, Any]]) -> Path:
        accounts = sim_accounts(sim, keys)
        for account in accounts:
            account["rules"] = rules.get(account["name"], [])
        return write_config(accounts)

    assert check_json(run_cli, config(sunor=warning))[0] == 3
    assert check_json(run_cli, config(sunor=warning, dhmad=critical))[0] == 2


def test_a_config_error_exits_3_and_polls_nothing(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    accounts = sim_accounts(sim)
    accounts[3]["intervall"] = "5m"
    config = write_config(accounts)

    run = run_cli(config, "check", "--json")

    assert run.returncode == 3
    assert run.stdout == ""
    assert "accounts[3].intervall: unknown key 'intervall' (did you mean 'interval'?)" in (
        run.stderr
    )
    assert sim.total_requests == 0


def test_account_option_polls_only_that_account(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    config = write_config(with_rules(sim, dhmad=[{"threshold": {"below": {"critical": 2000}}}]))

    code, report = check_json(run_cli, config, "--account", "sunor")

    assert code == 0  # the critical account was not polled
    assert [entry["account"] for entry in report["accounts"]] == ["sunor"]
    assert sim.requests_for(KEYS["sunor"]) == 1
    assert sum(sim.requests_for(KEYS[name]) for name in ("dhmad", "oneclickdz", "thedex")) == 0


def test_unknown_account_name_exits_3_naming_the_known_ones(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    config = write_config(sim_accounts(sim))

    run = run_cli(config, "check", "--account", "sunorr")

    assert run.returncode == 3
    assert "no account named 'sunorr'" in run.stderr
    assert "dhmad, oneclickdz, thedex, sunor" in run.stderr
    assert "Traceback" not in run.stderr
    assert sim.total_requests == 0


def test_disabled_accounts_are_not_polled(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    accounts = sim_accounts(sim)
    accounts[0]["enabled"] = False

    code, report = check_json(run_cli, write_config(accounts))

    assert code == 0
    assert "dhmad" not in by_name(report)
    assert sim.requests_for(KEYS["dhmad"]) == 0


def test_text_report_shows_formatted_amounts_alerts_and_failed_polls(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    accounts = with_rules(sim, sunor=[{"threshold": {"below": 1000}}])
    accounts[0]["api_key"] = "wrong-dhmad-key-0123456789"

    run = run_cli(write_config(accounts), "check")

    assert run.returncode == 3
    lines = run.stdout.splitlines()
    assert "dhmad (dhmad): POLL FAILED - auth: HTTP 401 Invalid or expired API key" in lines
    assert "oneclickdz (oneclickdz): OK" in lines
    assert "  DZD: available 1,326.13 DZD, pending -, held -, total 1,326.13 DZD" in lines
    assert "sunor (sunor): WARNING" in lines
    assert any(line.startswith("  [WARNING] threshold: ") for line in lines)


def test_check_never_repairs_a_damaged_state_file_it_only_reads(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli, tmp_path: Path
) -> None:
    """The daemon owns the state file: a damaged one is the daemon's to move aside. `check`
    polls without history and leaves the file exactly as it found it."""
    damaged = b"SQLite format 3\x00" + bytes(range(256)) * 16
    state = tmp_path / "state.db"
    state.write_bytes(damaged)

    code, report = check_json(run_cli, write_config(sim_accounts(sim)))

    assert code == 0
    assert all(entry["ok"] for entry in report["accounts"])
    assert state.read_bytes() == damaged
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("state.db")) == [
        "state.db"
    ]


# ---------------------------------------------------------------- validate


BROKEN = """\
defaults:
  interval: 5x
notifiers:
  mail: "mailtos://user:validate-pw-0123456789@example.com"
routes:
  - notify: [mial]
accounts:
  - name: a
    provider: dhmadd
    api_key: validate-key-0123456789
  - name: b
    provider: sunor
    api_key: validate-key-9876543210
    intervall: 5m
    rules:
      - threshold: {below: {warning: 100, critical: 500}}
  - name: c
    provider: http_json
    url: ftp://example.com
    available: data..x
"""

EXPECTED_PROBLEMS = [
    ":2: defaults.interval: '5x' is not a duration",
    ":6: routes[0].notify[0]: no notifier named 'mial' (did you mean 'mail'?)",
    ":9: accounts[0].provider: unknown provider 'dhmadd' (did you mean 'dhmad'?)",
    ":14: accounts[1].intervall: unknown key 'intervall' (did you mean 'interval'?)",
    ":16: accounts[1].rules[0].threshold.below: 'warning' must be above 'critical'",
    ":19: accounts[2].url: must start with http:// or https://",
    ":20: accounts[2].available: 'data..x' is not a dotted path",
]


@pytest.mark.parametrize("debug", [False, True], ids=["plain", "debug"])
def test_validate_names_every_mistake_with_its_path_and_line(
    write_config: WriteConfig, run_cli: RunCli, debug: bool
) -> None:
    config = write_config([], text=BROKEN)

    run = run_cli(config, "validate", *(["--debug"] if debug else []))

    assert run.returncode == 2
    assert run.stdout == ""
    problems = [line for line in run.stderr.splitlines() if line.startswith("config error: ")]
    assert len(problems) == len(EXPECTED_PROBLEMS)
    for line, expected in zip(problems, EXPECTED_PROBLEMS, strict=True):
        assert line.startswith(f"config error: {config}{expected}"), line
    assert "Traceback" not in run.stderr
    for secret in ("validate-pw-0123456789", "validate-key-0123456789", "validate-key-9876543210"):
        assert secret not in run.stderr


def test_validate_accepts_a_good_config(
    sim: SimServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    config = write_config(sim_accounts(sim))

    run = run_cli(config, "validate")

    assert run.returncode == 0
    assert run.stdout.strip() == f"{config}: OK - 4 account(s), 0 notifier(s), 0 route(s)"
    assert sim.total_requests == 0


# ---------------------------------------------------------------- secrets

SCENARIOS = ("none", *FAULTS)
"""Every simulated fault, and no fault at all."""

NOTIFIER_CANARIES = {
    "smtp_password": "CANARYsmtpPassword9s0t",
    "slack_a": "CANARYslackTokenAaaa",
    "slack_b": "CANARYslackTokenBbbb",
    "slack_c": "CANARYslackTokenCccc",
}
CREDENTIAL_FIELDS = ("dhmad", "oneclickdz", "thedex", "thedex_secret", "sunor", "header", "query")


def canary(scenario: int, field: str) -> str:
    """A distinct canary per (scenario, credential field); none contains another."""
    return f"CANARY{scenario:02d}x{field}x"


def canary_setup(sim: SimServer, state: Path) -> tuple[str, dict[str, str]]:
    """A config with, for every scenario, one account per provider plus an http_json one,
    each credential a distinct canary; the simulator faults each scenario's accounts.

    Every place a credential can live is covered: provider keys (headers), the TheDex
    HMAC secret (through the environment), an http_json header and query key, an Apprise
    password and Apprise path tokens. Returns the config text and the environment.
    """
    accounts: list[str] = []
    env: dict[str, str] = {}
    for n, scenario in enumerate(SCENARIOS):
        fault = None if scenario == "none" else scenario
        secret_var = f"THEDEX_SECRET_{n:02d}"
        env[secret_var] = canary(n, "thedex_secret")
        for provider in ("dhmad", "oneclickdz", "thedex", "sunor"):
            key = canary(n, provider)
            secret = env[secret_var] if provider == "thedex" else None
            sim.add_account(provider, key, secret=secret)
            sim.set_fault(key, fault)
            extra = f"\n    secret: ${{{secret_var}}}" if provider == "thedex" else ""
            accounts.append(
                f"  - name: {provider}-{scenario}\n    provider: {provider}\n"
                f"    api_key: {key}\n    base_url: {sim.base_url(provider)}{extra}"
            )
        header = canary(n, "header")
        sim.add_account("sunor", header)  # http_json borrows Sunor's endpoint
        sim.set_fault(header, fault)
        url = f"{sim.base_url('sunor')}/api/v1/account/balance?key={canary(n, 'query')}&f=json"
        accounts.append(
            f"  - name: http_json-{scenario}\n    provider: http_json\n"
            f'    url: "{url}"\n    headers: {{x-api-key: {header}}}\n'
            "    available: data.available"
        )
    c = NOTIFIER_CANARIES
    text = (
        f"""\
state: {{path: {state}}}
defaults: {{timeout: 1s}}
notifiers:
  mail: "mailtos://alerts:{c["smtp_password"]}@example.com?to=ops@example.com"
  slack: "slack://{c["slack_a"]}/{c["slack_b"]}/{c["slack_c"]}"
accounts:
"""
        + "\n".join(accounts)
        + "\n"
    )
    return text, env


def leaked(output: str) -> list[str]:
    """Which canaries (by scenario and field) appear in ``output``."""
    found = [name for name, value in NOTIFIER_CANARIES.items() if value in output]
    for n, scenario in enumerate(SCENARIOS):
        found += [f"{scenario}:{f}" for f in CREDENTIAL_FIELDS if canary(n, f) in output]
    return found


@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["text", "json"])
def test_no_credential_appears_in_check_output_under_any_fault_at_debug_level(
    sim: SimServer, tmp_path: Path, run_cli: RunCli, mode: tuple[str, ...]
) -> None:
    """RELIABILITY.md "Secrets": a canary in every credential field, every simulated fault
    (each on its own accounts, all polled by one `check`), at `--debug`: no canary in
    stdout or stderr, no traceback. Every faulted poll fails; the unfaulted ones read."""
    text, env = canary_setup(sim, tmp_path / "state.db")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")

    run = run_cli(config, "check", *mode, "--debug", env=env)

    assert leaked(run.stdout + run.stderr) == []
    assert "Traceback" not in run.stderr
    assert '"level": "debug"' in run.stderr  # debug logging really was on
    assert run.returncode == 3
    if mode:
        outcomes = {entry["account"]: entry["ok"] for entry in json.loads(run.stdout)["accounts"]}
    else:
        heads = [line for line in run.stdout.splitlines() if not line.startswith(" ")]
        outcomes = {line.split(" ")[0]: "POLL FAILED" not in line for line in heads}
    assert len(outcomes) == 5 * len(SCENARIOS)
    for account, ok in outcomes.items():
        assert ok == account.endswith("-none"), account


def test_no_credential_appears_when_the_config_is_rejected(
    sim: SimServer, tmp_path: Path, run_cli: RunCli
) -> None:
    """A mistake beside the secrets: `validate` and `check` report it, secrets hidden."""
    text, env = canary_setup(sim, tmp_path / "state.db")
    config = tmp_path / "config.yaml"
    config.write_text(text.replace("available: data.available", "hold: x", 1), encoding="utf-8")

    for command, code in (("validate", 2), ("check", 3)):
        run = run_cli(config, command, "--debug", env=env)
        assert run.returncode == code
        assert "accounts[4].hold: unknown key 'hold'" in run.stderr
        assert leaked(run.stdout + run.stderr) == [], command
    assert sim.total_requests == 0


def test_the_thedex_secret_from_the_environment_is_what_signs(
    sim: SimServer, tmp_path: Path, run_cli: RunCli
) -> None:
    """With another secret in the environment the simulator refuses the signature (and
    the secret used is not printed either)."""
    text, env = canary_setup(sim, tmp_path / "state.db")
    config = tmp_path / "config.yaml"
    config.write_text(text, encoding="utf-8")

    run = run_cli(
        config,
        "check",
        "--json",
        "--account",
        "thedex-none",
        env={**env, "THEDEX_SECRET_00": THEDEX_SECRET},
    )

    assert run.returncode == 3
    (thedex,) = json.loads(run.stdout)["accounts"]
    assert thedex["error"] == "auth: HTTP 401 Invalid signature, api key or payload header"
    assert THEDEX_SECRET not in run.stdout + run.stderr
