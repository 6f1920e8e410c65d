"""Third-party providers register through the `balancewatch.providers` entry-point group."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PLUGIN = """
from balancewatch.model import Balance
from balancewatch.providers import Provider, Request, amount_at


class Acme(Provider):
    name = "acme"
    default_base_url = "https://acme.example"

    def build_request(self, now):
        return Request("GET", f"{self.base_url}/balance")

    def parse(self, data):
        return {"EUR": Balance(available=amount_at(data, "balance"))}
"""


def _install_plugin(root: Path, *, broken: bool = False) -> None:
    """A real distribution on sys.path: a module plus its dist-info with entry points."""
    (root / "acme_bw.py").write_text("raise ImportError('boom')" if broken else PLUGIN)
    info = root / "acme_bw-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-bw\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[balancewatch.providers]\nacme = acme_bw:Acme\n")


def _registry_names(root: Path) -> subprocess.CompletedProcess[str]:
    code = "from balancewatch.providers import registry; print(sorted(registry()))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), *sys.path])}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )


def test_an_entry_point_provider_is_registered_next_to_the_built_ins(tmp_path: Path) -> None:
    """A package declaring the entry point is usable as `provider: acme`."""
    _install_plugin(tmp_path)
    result = _registry_names(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'acme'" in result.stdout
    assert "'thedex'" in result.stdout


def test_a_broken_plugin_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A plugin that fails to import does not take the built-in providers down with it."""
    _install_plugin(tmp_path, broken=True)
    result = _registry_names(tmp_path)
    assert result.returncode == 0, result.stderr
    assert "'acme'" not in result.stdout
    assert "'oneclickdz'" in result.stdout
    assert "could not be loaded" in result.stderr
