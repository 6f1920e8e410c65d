"""Plain YAML scalars read as YAML 1.2's core schema reads them, not as PyYAML's 1.1.

Booleans only from ``true``/``false`` (any case), integers decimal (``010`` is ten), ``0x1F``
or ``0o17``, floats as :class:`~decimal.Decimal` built from the text (``0.1`` stays exactly
one tenth), null from ``~``/``null``/nothing; ``.nan`` and ``.inf`` are refused. Used by
:mod:`balancewatch.config.yamldoc`, which builds the document.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any


def implicit_kind(text: str) -> str:
    """The kind of a plain scalar, by the patterns of YAML 1.2's core schema below."""
    for kind, pattern in _IMPLICIT.get(text[:1], ()):
        if pattern.match(text):
            return kind
    return "str"


def _null(text: str) -> None:
    if text not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(f"{text[:40]!r} is not null")


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{text[:40]!r} is not a boolean: write true or false")
    return text.lower() == "true"


def _int(text: str) -> int:
    """Decimal (``010`` is ten, not eight), ``0x1F`` or ``0o17``."""
    try:
        if text.startswith(("0x", "0o")):
            return int(text[2:], 16 if text[1] == "x" else 8)
        return int(text, 10)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an integer (or has too many digits)") from None


def _float(text: str) -> Decimal:
    """A Decimal built from the text itself: ``0.1`` stays exactly one tenth."""
    if text.lstrip("+-").lower() in (".nan", ".inf"):
        raise ValueError(f"{text!r} is not a finite number (NaN and infinity are never amounts)")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text[:40]!r} is not a number") from None


SCALARS: dict[str, Any] = {
    "str": str,
    "null": _null,
    "bool": _bool,
    "int": _int,
    "float": _float,
}

_IMPLICIT: dict[str, list[tuple[str, re.Pattern[str]]]] = {}
for _kind, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
):
    for _char in _first:
        _IMPLICIT.setdefault(_char, []).append((_kind, re.compile(_pattern)))
