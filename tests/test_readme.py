"""The README tells a new user the truth about what they copy from it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from balancewatch.config.load import load_config
from balancewatch.model import ConfigError

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()
EXAMPLE = REPO / "config.example.yaml"


def readme_variables() -> dict[str, str]:
    """The Quick start's table: variable -> what uses it."""
    start = README.index("<!-- the list below is checked against config.example.yaml")
    table = README[start:].split("\n\n", 1)[0]
    found = {}
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0].startswith("`"):
            for name in re.findall(r"`([A-Z0-9_]+)`", cells[0]):
                found[name] = cells[1]
    return found


def example_variables() -> set[str]:
    """Every ${NAME} the example config's values use (comments left out)."""
    values = [line.split("#", 1)[0] for line in EXAMPLE.read_text().splitlines()]
    return set(re.findall(r"\$\{([A-Z0-9_]+)", "\n".join(values)))


def test_quick_start_lists_every_variable_the_example_needs() -> None:
    """The table names exactly the variables the example config reads, no more."""
    assert set(readme_variables()) == example_variables()


def test_the_listed_variables_are_enough_and_each_is_needed() -> None:
    """With the listed variables set the example validates; without any one of them it
    does not, and the error names it."""
    shapes = {  # what Apprise accepts in these places
        "SLACK_TOKEN": "T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC",
        "TELEGRAM_BOT_TOKEN": "123456789:AAH-telegram-bot-token",
        "TELEGRAM_CHAT_ID": "-1001234567",
    }
    environ = {name: shapes.get(name, f"{name.lower()}-value-1") for name in readme_variables()}
    load_config(EXAMPLE, environ=environ)
    for name in environ:
        with pytest.raises(ConfigError) as error:
            load_config(EXAMPLE, environ={k: v for k, v in environ.items() if k != name})
        assert any(name in line for line in error.value.problems)


def test_the_readme_states_the_ranges_pyproject_sets() -> None:
    """Every runtime dependency's tested range in the README is the one pip is given (the
    ``postgres`` extra's too)."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    written = {}
    for requirement in [*project["dependencies"], *project["optional-dependencies"]["postgres"]]:
        name = re.split(r"[<>=!~ ]", requirement, maxsplit=1)[0]
        written[name] = ", ".join(s.strip() for s in requirement[len(name) :].split(","))
    start = README.index("<!-- checked against pyproject.toml by tests/test_readme.py -->")
    table = README[start:].split("\n\n", 1)[0]
    stated = {}
    for line in table.splitlines()[3:]:
        package, tested, _note = (cell.strip() for cell in line.strip("|").split("|"))
        if "," not in package:
            stated[package] = tested

    assert stated == written
