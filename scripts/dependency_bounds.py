#!/usr/bin/env python3
"""The ends of the dependency ranges in pyproject.toml, for CI to install and test.

    python scripts/dependency_bounds.py lowest test    # pip constraints: every lower bound
    python scripts/dependency_bounds.py check          # every range has both ends, or exits 1

``lowest`` prints one ``name==version`` line per dependency of the project and of the given
extras: its lower bound (``>=X``), or its pin (``==X``). CI installs the project with these
as constraints in a fresh venv and runs the tests, so the lower ends of the ranges are
tested as well as the newest releases a plain ``pip install`` picks.

Standard library only (tomllib), so it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

_REQUIREMENT = re.compile(r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<specs>[^;]*?)\s*$")
_SELF = re.compile(r"^\s*(?P<name>[A-Za-z0-9._-]+)\[(?P<extras>[^\]]+)\]\s*$")
_SPEC = re.compile(r"(?P<op>==|>=|<=|<|>|~=|!=)\s*(?P<version>[^,\s]+)")


def requirements(extras: list[str]) -> list[str]:
    """The project's requirement strings, then those of ``extras``; an extra that names the
    project's own extras (``balancewatch[postgres]``) brings theirs in, once."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    found = list(project["dependencies"])
    optional = project.get("optional-dependencies", {})
    pending, seen = list(extras), set()
    while pending:
        extra = pending.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        if extra not in optional:
            raise SystemExit(f"no extra {extra!r} in {PYPROJECT} (known: {', '.join(optional)})")
        for requirement in optional[extra]:
            own = _SELF.match(requirement)
            if own and own.group("name") == project["name"]:
                pending += [e.strip() for e in own.group("extras").split(",")]
            else:
                found.append(requirement)
    return found


def bounds(requirement: str) -> tuple[str, dict[str, str]]:
    """``("pydantic", {">=": "2.6", "<": "2.15"})``."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise SystemExit(f"cannot read the requirement {requirement!r}")
    specs = {m.group("op"): m.group("version") for m in _SPEC.finditer(match.group("specs"))}
    return match.group("name"), specs


def lowest(extras: list[str]) -> list[str]:
    lines = []
    for requirement in requirements(extras):
        name, specs = bounds(requirement)
        version = specs.get("==") or specs.get(">=")
        if version is None:
            raise SystemExit(f"{requirement!r} has no lower bound")
        lines.append(f"{name}=={version}")
    return lines


def unbounded(extras: list[str]) -> list[str]:
    """Requirements missing a lower or an upper end."""
    missing = []
    for requirement in requirements(extras):
        _name, specs = bounds(requirement)
        if "==" in specs:
            continue
        if ">=" not in specs or not ({"<", "<="} & specs.keys()):
            missing.append(requirement)
    return missing


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("lowest", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    if argv[0] == "lowest":
        print("\n".join(lowest(argv[1:])))
        return 0
    missing = unbounded(list(project.get("optional-dependencies", {})))
    for requirement in missing:
        print(f"{requirement}: give it a lower and an upper bound", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
