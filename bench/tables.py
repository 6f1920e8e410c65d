"""Markdown helpers shared by the report's modules."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

Row = list[str]


def num(value: float | None, places: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:,.{places}f}"


def stat_ms(summary: dict[str, Any], key: str, places: int = 0) -> str:
    return num(summary.get(key), places)


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def table(head: Row, rows: Iterable[Row]) -> list[str]:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)
