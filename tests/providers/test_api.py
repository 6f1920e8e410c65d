"""The plugin API: ``balancewatch.providers`` exports exactly what it documents, and no more.

As httpx's ``tests/test_exported_members.py``: ``__all__`` is the package's public names,
sorted. Each name is described in the package docstring (where the decisions on the surface
are written), the built-in providers import nothing else, and importing the API loads no
HTTP library and no provider: a config loads without httpx, and a plugin pays for none of
the built-ins. The wheel ships ``py.typed``, so a plugin's mypy reads these types.
"""

from __future__ import annotations

import ast
import json
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from types import ModuleType

import balancewatch.providers as api
from balancewatch.providers.base import BUILT_IN
from tests.test_layering import LAYERS, unit

PACKAGE = Path(api.__file__).parent

WITHOUT_DOCSTRING: set[str] = set()
"""Names allowed no docstring of their own (none: every exported name explains itself)."""

HTTP_LIBRARIES = ("httpx", "httpcore", "aiohttp", "yarl", "anyio", "h11")


def public_names(module: ModuleType) -> list[str]:
    """What ``from module import *`` would take without ``__all__``, submodules left out
    (importing ``balancewatch.providers.dhmad`` sets ``dhmad`` on the package)."""
    return [
        name
        for name, value in vars(module).items()
        if not name.startswith("_") and not isinstance(value, ModuleType)
    ]


def described_names() -> set[str]:
    """The names the package docstring describes: list items ``- ``name``: text``."""
    return set(re.findall(r"^- ``(\w+)``: \S", api.__doc__ or "", re.MULTILINE))


def literal_block(text: str) -> str:
    """The first indented block after a ``::`` line (reStructuredText), dedented."""
    after = text.split("::\n", 1)[1].splitlines()
    block: list[str] = []
    for line in after:
        if line.strip() and not line.startswith("    "):
            break
        block.append(line)
    return textwrap.dedent("\n".join(block)).strip() + "\n"


def run_python(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_all_is_exactly_the_public_names_of_the_package_sorted() -> None:
    """Nothing is exported by accident, nothing exported is missing from ``__all__``."""
    assert api.__all__ == sorted(public_names(api))


def test_every_exported_name_is_described_in_the_package_docstring() -> None:
    """The docstring's lists are the reference: one described line per name, no stale one."""
    assert described_names() == set(api.__all__)


def test_every_exported_class_and_function_has_a_docstring_of_its_own() -> None:
    """``help()`` on any name says what it is (a class's own ``__doc__``: pydantic models
    and exceptions would otherwise show nothing or their base's)."""
    missing = set()
    for name in api.__all__:
        value = getattr(api, name)
        doc = value.__dict__.get("__doc__") if isinstance(value, type) else value.__doc__
        if not (doc or "").strip():
            missing.add(name)
    assert missing == WITHOUT_DOCSTRING


def test_the_built_in_providers_import_only_the_public_api() -> None:
    """Built-ins are plugins like any other: of balancewatch, they import only names of
    ``__all__``, from ``balancewatch.providers`` itself."""
    for module in BUILT_IN:
        tree = ast.parse((PACKAGE / f"{module}.py").read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("balancewatch") for a in node.names), module
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
                "balancewatch"
            ):
                assert node.module == "balancewatch.providers", (module, node.module)
                assert {a.name for a in node.names} <= set(api.__all__), module


def test_importing_the_api_loads_no_http_library_and_no_provider() -> None:
    """In a fresh interpreter: ``import balancewatch.providers`` loads the foundation and
    the package's own modules only; the built-ins come with the first ``registry()``
    call, and still no HTTP library (that waits for the first poll)."""
    run = run_python(
        """
        import json, sys
        import balancewatch.providers
        before = sorted(sys.modules)
        names = sorted(balancewatch.providers.registry())
        print(json.dumps([before, sorted(sys.modules), names]))
        """
    )
    assert run.returncode == 0, run.stderr
    before, after, names = json.loads(run.stdout)
    built_in = {f"balancewatch.providers.{m}" for m in BUILT_IN}

    ours = [m for m in before if m.split(".")[0] == "balancewatch"]
    assert "balancewatch.providers" in ours
    assert [
        m for m in ours if not (LAYERS[unit(m)] == 0 or unit(m) == "balancewatch.providers")
    ] == []
    assert built_in.isdisjoint(before)
    assert built_in <= set(after)
    assert names == sorted(BUILT_IN)
    for loaded in (before, after):
        assert [m for m in loaded if m.split(".")[0] in HTTP_LIBRARIES] == []


def test_the_package_docstring_example_is_a_working_provider() -> None:
    """The sketch at the top of the package docstring registers, builds its request and
    parses an answer (run in a child process: it registers ``acme``)."""
    code = literal_block(api.__doc__ or "")
    assert "class Acme(Provider)" in code
    run = run_python(
        code
        + textwrap.dedent(
            """
            from datetime import UTC, datetime
            from decimal import Decimal
            from balancewatch.providers import get_provider

            cls = get_provider("acme")
            provider = cls(cls.Settings.model_validate({"api_key": "k-123"}))
            request = provider.build_request(datetime.now(UTC))
            print(request.method, request.url, dict(request.headers))
            print(provider.parse({"balance": Decimal("12.50")}))
            """
        )
    )
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [
        "GET https://api.acme.example/v1/balance {'X-Api-Key': 'k-123'}",
        "{'EUR': Balance(available=Decimal('12.50'), pending=None, held=None, total=None)}",
    ]


def test_the_wheel_ships_every_module_and_py_typed(tmp_path: Path) -> None:
    """``pip wheel`` of the project (a copy: the build writes beside the sources) holds
    ``balancewatch/py.typed``, so a plugin type-checks against the API (PEP 561), and every
    module of the package, private ``_http/`` included."""
    repo = PACKAGE.parents[1]
    source = tmp_path / "source"
    shutil.copytree(
        repo,
        source,
        ignore=shutil.ignore_patterns(
            ".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench"
        ),
    )

    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), "."],
        cwd=source,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )

    assert build.returncode == 0, build.stderr
    (wheel,) = tmp_path.glob("balancewatch-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "balancewatch/py.typed" in names
    modules = {p.relative_to(repo).as_posix() for p in (repo / "balancewatch").rglob("*.py")}
    assert modules <= names
