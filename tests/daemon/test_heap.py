"""The daemon's long-lived objects leave the cyclic collector's way, and nothing leaks."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from balancewatch.daemon import heap


class Node:
    me: Node | None = None


@pytest.fixture(autouse=True)
def thawed() -> Iterator[None]:
    yield
    gc.unfreeze()


def test_what_exists_when_the_daemon_settles_is_no_longer_walked_by_collections() -> None:
    """After settling, the objects alive then are in the permanent generation: a full
    collection does not look at them, and they stay alive."""
    kept = [Node() for _ in range(100)]
    heap.settle()
    assert gc.get_freeze_count() >= len(kept)
    assert all(gc.is_tracked(node) for node in kept)


def test_a_cycle_dropped_after_settling_is_collected_at_the_next_settle() -> None:
    """A frozen cycle that becomes garbage is not leaked: the next settle (after a reload,
    at each housekeeping pass) thaws and collects it."""
    node = Node()
    node.me = node
    alive = weakref.ref(node)
    heap.settle()
    del node
    gc.collect()
    assert alive() is not None  # frozen: collections leave it alone
    heap.settle()
    assert alive() is None
