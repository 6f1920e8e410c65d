"""A provider is one module plus one test file, and a third-party one is an installed package.

The module is CONTRIBUTING.md's example, read from the guide itself so that the guide cannot
rot. It is installed as a real distribution on a temporary ``sys.path``: the module plus a
dist-info holding its ``balancewatch.providers`` entry point, and no pyproject. From there,
``registry()`` finds it, ``balancewatch validate`` judges an account with the provider's
own settings model, and ``balancewatch check`` polls it against a local server. The
guide's test file passes against the module, its fuzz-test addition runs, and all three
blocks are clean under the project's ruff and mypy --strict, so a contributor can copy
them as they are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from tests.conftest import Reply, ScriptedServer

REPO = Path(__file__).resolve().parents[2]
GUIDE = REPO / "CONTRIBUTING.md"
FUZZ_MARKER = "# A new provider adds its envelope, settings and documented answer here"
TOKEN = "acme-token-0123456789"
ANSWER = b'{"ok": true, "wallet": {"currency": "EUR", "available": "12.50", "on_hold": "1.00"}}'

RunCli = Callable[..., subprocess.CompletedProcess[str]]
WriteConfig = Callable[..., Path]


def guide_block(label: str) -> str:
    """The python block that CONTRIBUTING.md marks ``<!-- example: label ... -->``."""
    found = re.findall(
        rf"^<!-- example: {re.escape(label)}[ (][^\n]*-->\n```python\n(.*?)\n```$",
        GUIDE.read_text(),
        re.MULTILINE | re.DOTALL,
    )
    assert len(found) == 1, f"CONTRIBUTING.md has {len(found)} blocks marked {label!r}"
    return found[0] + "\n"


def install_plugin(root: Path, *, broken: bool = False) -> Path:
    """A real distribution on sys.path: the guide's module plus its dist-info with the
    entry point, as ``pip install`` of a plugin package leaves them."""
    root.mkdir(exist_ok=True)
    (root / "acme.py").write_text("raise ImportError('boom')" if broken else guide_block("acme.py"))
    info = root / "acme_bw-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bw\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[balancewatch.providers]\nacme = acme:Acme\n")
    return root


def with_plugin(root: Path) -> dict[str, str]:
    """The environment of a child process that has the plugin installed."""
    return {"PYTHONPATH": os.pathsep.join([str(root), *sys.path])}


def run(
    args: list[str], env: Mapping[str, str], cwd: Path = REPO
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        check=False,
        cwd=cwd,
        env={**os.environ, **env},
        timeout=120,
    )


def registry_names(root: Path) -> subprocess.CompletedProcess[str]:
    code = "from balancewatch.providers import registry; print(sorted(registry()))"
    return run([sys.executable, "-c", code], with_plugin(root))


def test_an_entry_point_provider_is_registered_next_to_the_built_ins(tmp_path: Path) -> None:
    """A package declaring the entry point is usable as `provider: acme`."""
    result = registry_names(install_plugin(tmp_path / "site"))

    assert result.returncode == 0, result.stderr
    assert "'acme'" in result.stdout
    assert "'thedex'" in result.stdout


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A plugin that fails to import does not take the built-in providers down with it."""
    result = registry_names(install_plugin(tmp_path / "site", broken=True))

    assert result.returncode == 0, result.stderr
    assert "'acme'" not in result.stdout
    assert "'oneclickdz'" in result.stdout
    assert "could not be loaded" in result.stderr


def test_validate_judges_a_plugin_account_with_the_plugins_own_settings(
    tmp_path: Path, write_config: WriteConfig, run_cli: RunCli
) -> None:
    """The provider's `Settings` are the account's keys: a missing token, a misspelt key,
    a wallet its pattern refuses and a token with a pasted ellipsis are each one line at
    their key; a right account is OK."""
    env = with_plugin(install_plugin(tmp_path / "site"))
    good = {"name": "acme-ops", "provider": "acme", "token": TOKEN, "wallet": "ops"}
    broken = [
        {"name": "a", "provider": "acme", "tokn": TOKEN, "wallet": "../admin"},
        {"name": "b", "provider": "acme", "token": TOKEN + "\u2026"},
    ]

    ok = run_cli(write_config([good]), "validate", env=env)
    refused = run_cli(write_config(broken), "validate", env=env)

    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("OK - 1 account(s), 0 notifier(s), 0 route(s)")
    assert refused.returncode == 2
    problems = [line for line in refused.stderr.splitlines() if line.startswith("config error:")]
    wanted = [
        r"accounts\[0\]\.token: 'token' is required",
        r"accounts\[0\]\.tokn: unknown key 'tokn' \(did you mean 'token'\?\)",
        r"accounts\[0\]\.wallet: should match pattern",
        r"accounts\[1\]\.token: must be printable ASCII",
    ]
    for pattern in wanted:
        assert sum(bool(re.search(r"\.yaml:\d+: " + pattern, p)) for p in problems) == 1, pattern
    assert len(problems) == len(wanted)
    assert TOKEN not in refused.stderr
    assert "Traceback" not in refused.stderr


def test_check_polls_a_plugin_account_against_a_local_server(
    tmp_path: Path, scripted: ScriptedServer, write_config: WriteConfig, run_cli: RunCli
) -> None:
    """`balancewatch check` sends the plugin's request through the shared client and
    reports what its `parse` read, exactly."""
    env = with_plugin(install_plugin(tmp_path / "site"))
    scripted.reply = Reply(body=ANSWER)
    account = {
        "name": "acme-ops",
        "provider": "acme",
        "token": TOKEN,
        "wallet": "ops",
        "base_url": scripted.url,
    }

    result = run_cli(write_config([account]), "check", "--json", env=env)

    assert result.returncode == 0, result.stderr
    (report,) = json.loads(result.stdout)["accounts"]
    assert (report["account"], report["provider"], report["ok"]) == ("acme-ops", "acme", True)
    assert report["balances"] == {
        "EUR": {"available": "12.50", "pending": None, "held": "1.00", "total": "13.50"}
    }
    (request,) = scripted.received
    assert (request.method, request.path) == ("GET", "/v2/wallets/ops")
    assert request.headers["authorization"] == f"Bearer {TOKEN}"


def test_the_guides_test_file_and_fuzz_addition_pass_against_its_module(
    tmp_path: Path,
) -> None:
    """The guide's `test_acme.py`, and `test_parser_fuzz.py` with the guide's block put at
    the place it marks, run with pytest against the installed plugin and pass."""
    env = with_plugin(install_plugin(tmp_path / "site"))
    tests = tmp_path / "guide"
    tests.mkdir()
    (tests / "test_acme.py").write_text(guide_block("test_acme.py"))
    fuzz = (REPO / "tests/providers/test_parser_fuzz.py").read_text()
    assert fuzz.count(FUZZ_MARKER) == 1
    before, marker, after = fuzz.partition(FUZZ_MARKER)
    line_end = after.index("\n") + 1
    with_acme = before + marker + after[:line_end] + "\n" + guide_block("fuzz") + after[line_end:]
    (tests / "test_fuzz_acme.py").write_text(with_acme)

    result = run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "tests.conftest",
            "--rootdir",
            str(tests),
            str(tests / "test_acme.py"),
            f"{tests}/test_fuzz_acme.py::test_the_fuzz_strategies_reach_successful_parses",
            f"{tests}/test_fuzz_acme.py::test_parsers_turn_hostile_amounts_into_errors_or_finite_decimals[acme]",
        ],
        env,
    )

    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert re.search(r"\b10 passed\b", result.stdout), result.stdout[-500:]


def test_the_guides_code_is_clean_under_ruff_and_mypy_strict(tmp_path: Path) -> None:
    """Copied as they are, the module and its test file pass the project's own checks
    (`scripts/test`): ruff check, ruff format and, for the module, mypy --strict."""
    for label, place in [
        ("acme.py", "balancewatch/providers/acme.py"),
        ("test_acme.py", "tests/providers/test_acme.py"),
    ]:
        block = guide_block(label)
        for command in (["ruff", "check"], ["ruff", "format", "--diff"]):
            checked = subprocess.run(
                [sys.executable, "-m", *command, "--stdin-filename", place, "-"],
                input=block,
                capture_output=True,
                text=True,
                check=False,
                cwd=REPO,
            )
            assert checked.returncode == 0, (label, checked.stdout + checked.stderr)
    module = tmp_path / "acme.py"
    module.write_text(guide_block("acme.py"))

    typed = run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy"), str(module)], {}
    )

    assert typed.returncode == 0, typed.stdout


def test_a_plugin_cannot_replace_a_built_in_provider(tmp_path: Path) -> None:
    """A plugin taking a built-in's name (decorated or not) is skipped with a warning: the
    accounts configured with ``provider: dhmad`` keep polling Dhmad."""
    root = install_plugin(tmp_path / "site")
    module = (root / "acme.py").read_text()
    (root / "acme.py").write_text(re.sub(r'name = "acme"', 'name = "dhmad"', module))
    code = "from balancewatch.providers import registry; print(registry()['dhmad'].__module__)"

    done = run([sys.executable, "-c", code], with_plugin(root))

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "balancewatch.providers.dhmad"
    assert "the name 'dhmad' is taken by balancewatch.providers.dhmad.Dhmad" in done.stderr
