"""The page's templates and static files are package data: a wheel carries them."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "balancewatch" / "web"


def test_every_template_and_static_file_is_declared_package_data() -> None:
    """pyproject's package-data globs match every file under templates/ and static/ (a
    file they missed would be absent from the wheel and the page would fail installed)."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    globs = data["tool"]["setuptools"]["package-data"]["balancewatch.web"]
    files = [
        p.relative_to(WEB).as_posix()
        for folder in ("templates", "static")
        for p in (WEB / folder).iterdir()
        if p.is_file()
    ]
    assert len(files) >= 7
    missed = [f for f in files if not any(fnmatch.fnmatch(f, g) for g in globs)]
    assert missed == []


def test_the_cli_does_not_load_the_web_server_or_templates() -> None:
    """`status` reads web/data.py; aiohttp's server and Jinja2 stay out of the command line."""
    import subprocess
    import sys

    code = (
        "import sys, balancewatch.commands.cli, balancewatch.web.data, balancewatch.config.load;"
        "print(sorted(m for m in sys.modules if m.startswith(('jinja2', 'aiohttp.web'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
