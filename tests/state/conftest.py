"""The store under test, on every backend: each test taking ``open_store`` or ``store`` runs
once on SQLite and once on a real PostgreSQL (as gatus runs one scenario list on every
store). Calling ``open_store()`` again opens the same backing data anew, which is how a
restart, or a second daemon, is simulated."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from balancewatch.state import Store
from balancewatch.state import open_store as open_any
from tests.state.builders import T0

OpenStore = Callable[[], Store]
BACKENDS = ("sqlite", "postgres")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def location(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Path | str:
    """Where the state lives: a SQLite file, or a PostgreSQL database's URL."""
    if backend == "postgres":
        return str(request.getfixturevalue("pg_url"))
    return tmp_path / "state" / "state.db"


@pytest.fixture
def open_store(location: Path | str) -> Iterator[OpenStore]:
    opened: list[Store] = []

    def open_tracked() -> Store:
        opened.append(open_any(location, now=T0))
        return opened[-1]

    yield open_tracked
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store: OpenStore) -> Store:
    return open_store()
