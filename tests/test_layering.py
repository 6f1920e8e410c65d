"""The shape of the code: stages as packages, imports one way, one owner per concern.

This table is the one drawn in docs/architecture.md. Imports are read from the source with
``ast`` (imports inside functions and under ``TYPE_CHECKING`` count too), so a lazy import
cannot sneak a dependency past the check.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "balancewatch"

LAYERS: dict[str, int] = {
    # the foundation: the domain and the small vocabularies everything shares
    "balancewatch": 0,
    "balancewatch.model": 0,
    "balancewatch.units": 0,
    "balancewatch.records": 0,
    "balancewatch.redaction": 0,
    "balancewatch.fields": 0,
    "balancewatch.passwords": 0,
    "balancewatch.acklinks": 0,
    # leaves: each talks to one outside world, or to none
    "balancewatch.providers": 1,  # balance APIs (httpx, aiohttp)
    "balancewatch.channels": 1,  # Apprise
    "balancewatch.state": 1,  # the database
    "balancewatch.rules": 1,  # pure
    "balancewatch.sim": 1,  # the simulated providers (demo, tests)
    # the stages, in the order a poll flows through them
    "balancewatch.config": 2,
    "balancewatch.alerts": 2,
    "balancewatch.notify": 3,
    "balancewatch.poll": 4,
    "balancewatch.web": 5,  # the status page and API: handed what it reads by the daemon
    "balancewatch.daemon": 6,
    "balancewatch.commands": 7,
    "balancewatch.__main__": 8,
}
"""A module may import its own package, and packages of a lower layer."""

SIBLINGS: set[tuple[str, str]] = {
    ("balancewatch.acklinks", "balancewatch.passwords"),
    ("balancewatch.fields", "balancewatch.model"),
    ("balancewatch.fields", "balancewatch.units"),
    ("balancewatch.records", "balancewatch.model"),
}
"""The imports allowed between different packages of one layer; every other is refused."""

OWNERS: dict[str, str] = {
    "sqlite3": "balancewatch.state",
    "psycopg": "balancewatch.state",
    "psycopg_pool": "balancewatch.state",
    "apprise": "balancewatch.channels",
    "httpx": "balancewatch.providers._http",
    "aiohttp": "balancewatch.providers._http",
    "aiohttp.web": "balancewatch.web",  # the server side: the status page
    "jinja2": "balancewatch.web",
    "yarl": "balancewatch.providers._http",
    "yaml": "balancewatch.config.yamldoc",
    "prometheus_client": "balancewatch.daemon.metrics",
    "apscheduler": "balancewatch.daemon.schedule",
}
"""Each outside library that does I/O or shapes a concern has one home (foreign errors are
translated there, once)."""

PURE = ("balancewatch.rules", "balancewatch.alerts", "balancewatch.notify.wording")
"""Rules, lifecycle and wording do no I/O: no network, database, Apprise or clock modules."""
IMPURE = ("httpx", "sqlite3", "apprise", "balancewatch.state", "balancewatch.providers", "time")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def unit(name: str) -> str:
    """The entry of :data:`LAYERS` a module belongs to (the longest prefix)."""
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return name


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def own_imports(path: Path) -> set[str]:
    """Imports of other balancewatch packages (a package's own modules left out)."""
    own = unit(module_name(path))
    return {
        imp
        for imp in imports(path)
        if imp.startswith("balancewatch")
        and unit(imp) != own
        and not (own == "balancewatch" and imp == "balancewatch")
    }


MODULES = sorted(PACKAGE.rglob("*.py"))


def used_names(path: Path) -> set[str]:
    """What a module takes from outside, most specific first: ``from aiohttp import web``
    is ``aiohttp.web`` (not ``aiohttp`` too), ``import httpx`` is ``httpx``."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found


def owner_of(imported: str) -> str | None:
    """The entry of :data:`OWNERS` an import falls under: the longest that matches
    (``aiohttp.web`` is web/'s, the rest of ``aiohttp`` the providers')."""
    found = [lib for lib in OWNERS if imported == lib or imported.startswith(lib + ".")]
    return max(found, key=len, default=None)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_module_imports_a_higher_layer_or_a_sibling(path: Path) -> None:
    """Imports go down the table; across one layer only where the design allows it."""
    own = unit(module_name(path))
    wrong = sorted(
        imp
        for imp in own_imports(path)
        if unit(imp) != "balancewatch"  # the package itself: __version__
        and (
            LAYERS[unit(imp)] > LAYERS[own]
            or (LAYERS[unit(imp)] == LAYERS[own] and (own, unit(imp)) not in SIBLINGS)
        )
    )
    assert wrong == [], f"{module_name(path)} ({own}, layer {LAYERS[own]}) imports {wrong}"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_no_package_reaches_into_another_packages_private_modules(path: Path) -> None:
    """``balancewatch.providers._http`` and the like are their package's own business."""
    own = unit(module_name(path))
    private = sorted(
        imp
        for imp in own_imports(path)
        if any(part.startswith("_") and not part.endswith("__") for part in imp.split("."))
        and not imp.startswith(own + ".")
    )
    assert private == [], f"{module_name(path)} imports {private}"


@pytest.mark.parametrize("library", sorted(OWNERS))
def test_each_outside_library_is_imported_by_its_owner_only(library: str) -> None:
    """sqlite3 only in state/, Apprise only in channels/, httpx and aiohttp's client only in
    the providers' HTTP infrastructure, aiohttp's server only in web/, ..."""
    owner = OWNERS[library]
    users = sorted(
        module_name(path)
        for path in MODULES
        if any(owner_of(imp) == library for imp in used_names(path))
        and not (module_name(path) == owner or module_name(path).startswith(owner + "."))
    )
    assert users == [], f"{library} belongs to {owner}, yet {users} import it"


@pytest.mark.parametrize(
    "path", [p for p in MODULES if module_name(p).startswith(PURE)], ids=module_name
)
def test_rules_lifecycle_and_wording_do_no_io(path: Path) -> None:
    """The pure core imports nothing that talks to the network, a database or a clock."""
    found = {imp for imp in imports(path) if imp.split(".")[0] in IMPURE or imp.startswith(IMPURE)}
    assert found == set(), f"{module_name(path)} imports {found}"


def test_every_module_belongs_to_a_layer() -> None:
    """A new package must be placed in the table (this test fails until it is)."""
    unplaced = set()
    for path in MODULES:
        name = module_name(path)
        while name and name not in LAYERS:
            name = name.rpartition(".")[0]
        if not name:
            unplaced.add(module_name(path))
    assert unplaced == set()


def test_the_layers_test_is_not_vacuous() -> None:
    """Every package of the table exists, and the pipeline really goes through them."""
    names = {module_name(p) for p in MODULES}
    for package in LAYERS:
        assert any(n == package or n.startswith(package + ".") for n in names), package
    daemon = {
        unit(imp)
        for p in MODULES
        if unit(module_name(p)) == "balancewatch.daemon"
        for imp in own_imports(p)
    }
    assert {"balancewatch.poll", "balancewatch.notify", "balancewatch.state"} <= daemon


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_modules_stay_under_400_lines(path: Path) -> None:
    """STYLE.md: a module past 400 lines is two ideas (generated tables excepted)."""
    if path.parent.name == "schemes":
        return
    lines = len(path.read_text().splitlines())
    assert lines < 400, f"{module_name(path)} has {lines} lines"


def test_the_architecture_page_draws_this_table() -> None:
    """docs/architecture.md's layer table is this test's, row for row."""
    page = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    start = page.index("<!-- the table below is compared with tests/test_layering.py -->")
    rows = [line for line in page[start:].split("\n\n", 1)[0].splitlines() if line.startswith("|")]
    drawn = {}
    for row in rows[2:]:
        layer, package, _what = (cell.strip() for cell in row.strip("|").split("|"))
        drawn[package.strip("`")] = int(layer)

    assert drawn == LAYERS
