"""Imports go one way, low to high (DESIGN.md §10): a lower layer never imports a higher one.

Read from the source with ``ast`` (imports inside functions count too), so a lazy import
cannot sneak a dependency past the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "balancewatch"

# Lower number = lower layer. A module may import modules of its own layer or below.
LAYERS: dict[str, int] = {
    "balancewatch": 0,
    "balancewatch.model": 0,
    "balancewatch.units": 1,
    "balancewatch.records": 1,
    "balancewatch.console": 1,
    "balancewatch.apprise_schemes": 1,
    "balancewatch.schedule": 1,
    "balancewatch.appriseurl": 2,
    "balancewatch.fields": 2,
    "balancewatch.observe": 2,
    "balancewatch.sdnotify": 2,
    "balancewatch.sim_http": 2,
    "balancewatch.sim_wire": 2,
    "balancewatch.sim_faults": 2,
    "balancewatch.sim_accounts": 2,
    "balancewatch.sim_admin": 2,
    "balancewatch.sim": 2,
    "balancewatch.sim_guide": 2,
    "balancewatch.sim_cli": 2,
    "balancewatch.providers": 3,
    "balancewatch.rules.specs": 3,
    "balancewatch.config_errors": 3,
    "balancewatch.yamlload": 3,
    "balancewatch.yamlsecrets": 3,
    "balancewatch.state": 3,
    "balancewatch.state_schema": 3,
    "balancewatch.rules": 4,
    "balancewatch.config_models": 4,
    "balancewatch.config_check": 4,
    "balancewatch.config": 4,
    "balancewatch.alerts": 5,
    "balancewatch.messages": 6,
    "balancewatch.metrics": 6,
    "balancewatch.channels": 7,
    "balancewatch.notify": 7,
    "balancewatch.poller": 7,
    "balancewatch.check": 8,
    "balancewatch.replay": 8,
    "balancewatch.reports": 8,
    "balancewatch.daemon_cache": 8,
    "balancewatch.daemon": 9,
    "balancewatch.demo": 10,
    "balancewatch.cli_args": 11,
    "balancewatch.cli": 11,
    "balancewatch.__main__": 12,
}

PURE = ("balancewatch.rules", "balancewatch.alerts", "balancewatch.messages")
"""Rules, lifecycle and wording do no I/O: no network, database, Apprise or clock modules."""
IMPURE = ("httpx", "sqlite3", "apprise", "balancewatch.state", "balancewatch.providers", "time")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer(name: str) -> int:
    """The layer of a module: its own entry, else its package's (longest prefix)."""
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    """Each module imports only its own layer or lower ones."""
    name = module_name(path)
    own = layer(name)
    higher = [
        imp
        for imp in imports(path)
        if imp.startswith("balancewatch")
        and imp != name
        and layer(imp) > own
        and not imp.startswith(name + ".")  # a package's __init__ re-exporting its modules
    ]
    assert higher == [], f"{name} (layer {own}) imports higher layers: {higher}"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p).startswith(PURE)], ids=module_name
)
def test_rules_lifecycle_and_messages_do_no_io(path: Path) -> None:
    """The pure core imports nothing that talks to the network, a database or a clock."""
    found = {imp for imp in imports(path) if imp.split(".")[0] in IMPURE or imp.startswith(IMPURE)}
    assert found == set(), f"{module_name(path)} imports {found}"


def test_every_module_has_a_layer() -> None:
    """A new module must be placed in a layer (this test fails until it is)."""
    names = {module_name(p) for p in MODULES}
    unplaced = {n for n in names if n not in LAYERS and n.rpartition(".")[0] not in LAYERS}
    assert unplaced == set()
