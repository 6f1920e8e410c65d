"""Bad input on the command line gets a clear answer, never a traceback.

Every case runs the real CLI (``python -m balancewatch``) and expects argparse's answer:
the usage, then exactly one ``error:`` line naming the option and what is wrong, and the
usage-error exit code: 2, or 3 (UNKNOWN) for ``check``, which is a monitoring plugin.
A config file that cannot be read is a config error: one line naming the file, exit 2.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from balancewatch.commands.cli import build_parser
from tests.conftest import cli_env

RunCli = Callable[..., subprocess.CompletedProcess[str]]

CONFIG = """\
state:
  path: {db}
accounts:
  - name: shop
    provider: oneclickdz
    api_key: not-used-key-123
    base_url: http://127.0.0.1:9
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG.format(db=tmp_path / "state.db"))
    return path


def assert_usage_error(
    result: subprocess.CompletedProcess[str], code: int, option: str, says: str
) -> None:
    """Exit ``code``; stderr is the usage and one error line naming ``option``; no traceback."""
    assert "Traceback" not in result.stderr
    assert result.returncode == code, result.stderr
    assert result.stdout == ""
    assert result.stderr.startswith("usage: balancewatch")
    lines = result.stderr.rstrip("\n").splitlines()
    errors = [line for line in lines if "error:" in line]
    assert errors == [lines[-1]], result.stderr
    assert option in errors[0]
    assert says in errors[0]
    assert all(line.startswith(("usage:", " ")) for line in lines[:-1])


BAD_INPUT = [
    # (command line after -c CONFIG, exit code, option named, what the line says)
    (["--log-level", "loud", "validate"], 2, "--log-level", "'loud' is not a log level"),
    (["validate", "--log-level", "loud"], 2, "--log-level", "choose from debug, info"),
    (["run", "--log-level", "loud"], 2, "--log-level", "not a log level"),
    (["--log-level", "loud", "check"], 3, "--log-level", "not a log level"),
    (["check", "--log-level", "loud"], 3, "--log-level", "not a log level"),
    (["check", "--jsn"], 3, "--jsn", "unrecognized arguments"),
    (["check", "--account"], 3, "--account", "expected one argument"),
    (["history", "shop", "--since", "5x"], 2, "--since", "'5x' is not a duration"),
    (["history", "shop", "--since", "5 minutes"], 2, "--since", "is not a duration"),
    (["history", "shop", "--since=-5m"], 2, "--since", "cannot be negative"),
    (["history", "shop", "--since", "0m"], 2, "--since", "is zero"),
    (["history", "shop", "--since", "0"], 2, "--since", "is zero"),
    (["history", "shop", "--since", "5"], 2, "--since", "has no unit: write e.g. 5m"),
    (["history", "shop", "--since", "99999999w"], 2, "--since", "too long"),
    (["history", "shop", "--json", "--csv"], 2, "--csv", "not allowed with argument --json"),
    (["replay", "shop", "--since", "5x"], 2, "--since", "is not a duration"),
    (["replay", "shop", "--since", "99999999w"], 2, "--since", "too long"),
    (["silence", "shop", "--for", "5x"], 2, "--for", "is not a duration"),
    (["silence", "shop", "--for", "0s"], 2, "--for", "is zero"),
    (["silence", "shop", "--for", "99999999w"], 2, "--for", "too long"),
    (["silence", "shop"], 2, "--for", "say how long"),
    (["silence", "--for", "1h"], 2, "--for", "name an ACCOUNT"),
    (["silence", "--reason", "x"], 2, "--reason", "name an ACCOUNT"),
    (["silence", "shop", "--list"], 2, "--list", "takes no ACCOUNT"),
    (["silence", "--lift", "1", "--for", "1h"], 2, "--lift", "takes no account"),
    (["silence", "--lift", "abc"], 2, "--lift", "'abc' is not a silence number"),
    (["silence", "--lift", "0"], 2, "--lift", "is not a silence number"),
    (["silence", "--lift=-1"], 2, "--lift", "is not a silence number"),
    (["silence", "--lift", "9" * 30], 2, "--lift", "is not a silence number"),
    (["demo", "--duration", "abc"], 2, "--duration", "'abc' is not a number"),
    (["demo", "--duration=-1"], 2, "--duration", "must be above 0"),
    (["demo", "--duration", "0"], 2, "--duration", "must be above 0"),
    (["demo", "--duration", "nan"], 2, "--duration", "must be above 0"),
    (["demo", "--duration", "inf"], 2, "--duration", "at most 86400"),
    (["demo", "--speed", "0"], 2, "--speed", "must be above 0"),
    (["demo", "--speed", "nan"], 2, "--speed", "must be above 0"),
    (["demo", "--speed", "fast"], 2, "--speed", "is not a number"),
]


@pytest.mark.parametrize(
    ("args", "code", "option", "says"),
    BAD_INPUT,
    ids=[" ".join(case[0]) for case in BAD_INPUT],
)
def test_a_bad_option_value_is_one_line_naming_the_option(
    config: Path, run_cli: RunCli, args: list[str], code: int, option: str, says: str
) -> None:
    """Each bad value is refused while parsing: no traceback, no "ValueError:", exit 2/3."""
    assert_usage_error(run_cli(config, *args), code, option, says)


def test_an_empty_config_path_is_refused_not_replaced_by_the_default(run_cli: RunCli) -> None:
    """``-c ""`` (an unset shell variable) is a mistake; it must not read ./config.yaml."""
    result = run_cli(None, "-c", "", "validate")
    assert_usage_error(result, 2, "-c/--config", "give the config file's path")


@pytest.mark.parametrize("where", ["state_is_config", "state_is_directory", "state_is_missing"])
def test_replay_state_must_be_a_state_file_and_is_never_moved_aside(
    config: Path, tmp_path: Path, run_cli: RunCli, where: str
) -> None:
    """``--state`` pointing at the config (or a directory, or nothing) is a usage error, and
    the file it names is left exactly as it was (the store would rename a non-database)."""
    target = {
        "state_is_config": config,
        "state_is_directory": tmp_path,
        "state_is_missing": tmp_path / "missing.db",
    }[where]
    before = config.read_bytes()
    result = run_cli(config, "replay", "shop", "--state", str(target))
    says = {
        "state_is_config": "not a balancewatch state file",
        "state_is_directory": "Is a directory",
        "state_is_missing": "no such file",
    }[where]
    assert_usage_error(result, 2, "--state", says)
    assert config.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.yaml"]


# ---------------------------------------------------------------- unreadable config files


def assert_config_error(result: subprocess.CompletedProcess[str], path: Path, says: str) -> None:
    assert "Traceback" not in result.stderr
    assert result.returncode == 2, result.stderr
    assert result.stderr.splitlines() == [f"config error: {path}: cannot read it ({says})"]


def test_a_directory_given_as_config_is_one_config_error(tmp_path: Path, run_cli: RunCli) -> None:
    """``-c /etc/balancewatch`` (the directory, not the file) names the path, exit 2."""
    assert_config_error(run_cli(tmp_path, "validate"), tmp_path, "Is a directory")


def test_a_symlink_loop_given_as_config_is_one_config_error(
    tmp_path: Path, run_cli: RunCli
) -> None:
    """A config path the system cannot resolve is a config error, not an OSError traceback."""
    (tmp_path / "a.yaml").symlink_to(tmp_path / "b.yaml")
    (tmp_path / "b.yaml").symlink_to(tmp_path / "a.yaml")
    path = tmp_path / "a.yaml"
    assert_config_error(run_cli(path, "validate"), path, "Too many levels of symbolic links")


@pytest.fixture
def unreadable_config() -> Iterator[tuple[Path, list[str]]]:
    """A config file mode 000 in a world-readable directory, and the command prefix that
    runs as someone who cannot read it: as root (who reads everything), uid/gid 65534."""
    directory = Path(tempfile.mkdtemp(prefix="bw-unreadable-"))
    try:
        directory.chmod(0o755)
        path = directory / "config.yaml"
        path.write_text(CONFIG.format(db=directory / "state.db"))
        path.chmod(0)
        as_nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"]
        yield path, as_nobody if os.geteuid() == 0 else []
    finally:
        shutil.rmtree(directory)


def test_an_unreadable_config_is_one_config_error(
    unreadable_config: tuple[Path, list[str]],
) -> None:
    """A config the user may not read: "cannot read it (Permission denied)", exit 2."""
    path, prefix = unreadable_config
    result = subprocess.run(
        [*prefix, sys.executable, "-m", "balancewatch", "-c", str(path), "validate"],
        capture_output=True,
        text=True,
        check=False,
        cwd=path.parent,
        env=cli_env(),
        timeout=60,
    )
    assert_config_error(result, path, "Permission denied")


# ---------------------------------------------------------------- help


HIDDEN = {("demo", "--speed")}
"""Options left out of ``--help`` on purpose (a test knob)."""


def test_every_option_and_argument_has_help_text() -> None:
    """``--help`` explains every option of every command (none prints bare)."""
    parser = build_parser()
    (commands,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    missing = []
    for name, command in [("", parser), *commands.choices.items()]:
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue  # the list of commands: each has its own help line
            label = action.option_strings[-1] if action.option_strings else action.dest
            if action.help is None or (action.help == argparse.SUPPRESS) != (
                (name, label) in HIDDEN
            ):
                missing.append(f"{name} {label}".strip())
    assert missing == []


def test_help_shows_the_log_levels_and_the_duration_forms(run_cli: RunCli) -> None:
    """The help of ``history`` says which durations and log levels it takes."""
    result = run_cli(None, "history", "--help")
    assert result.returncode == 0
    assert "debug, info, warning, error" in result.stdout
    assert "7d" in result.stdout
