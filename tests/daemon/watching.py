"""Watching real daemon processes: wait for a condition, read their JSON log lines."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from pathlib import Path


def wait_until(predicate: Callable[[], bool], timeout: float = 15.0, what: str = "") -> None:
    """Poll ``predicate`` every 50 ms until it holds; fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what or predicate}")


def log_events(paths: Iterable[Path], name: str | None = None) -> list[dict[str, object]]:
    """The JSON log lines of ``paths``, in order (those of event ``name`` only if given);
    lines that are not JSON (a traceback, a CLI error) are skipped."""
    found = []
    for path in paths:
        for line in path.read_text(errors="replace").splitlines():
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                continue
            if name is None or event.get("event") == name:
                found.append(event)
    return found
