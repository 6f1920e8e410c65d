"""Telling a PostgreSQL URL from a SQLite path, and what in it must never be shown.

No database library here: the config imports this to find the secrets in ``state.url``.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

SCHEMES = ("postgresql://", "postgres://")
MIN_SECRET = 4


def is_database_url(where: Path | str) -> bool:
    """True for a PostgreSQL URL, False for a SQLite file path."""
    return isinstance(where, str) and where.startswith(SCHEMES)


def url_secrets(url: str) -> frozenset[str]:
    """The URL and its password (from the user part or a ``password=`` parameter), as
    written and percent-decoded: what must never be shown."""
    found = {url}
    try:
        parts = urlsplit(url)
        userinfo = parts.netloc.rpartition("@")[0]
        found.add(userinfo.partition(":")[2])
        found |= {value for key, value in parse_qsl(parts.query) if key == "password"}
    except ValueError:
        pass
    found |= {unquote(secret) for secret in found}
    return frozenset(secret for secret in found if len(secret) >= MIN_SECRET)


def describe(url: str) -> str:
    """The database of ``url`` as messages name it (``database bw on db:5432``): never the
    URL itself, which log redaction hides whole."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "the state database"
    host = parts.netloc.rpartition("@")[2] or "the local server"
    return f"database {unquote(parts.path.lstrip('/')) or '(default)'} on {host}"
