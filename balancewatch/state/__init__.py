"""The state: what balancewatch saw and said, kept across restarts.

:class:`Store` is the interface every backend implements; :mod:`.sqlite` is the embedded
one (one file, no server). Only this package talks to a database: foreign errors become
:class:`~balancewatch.model.StateError` here.
"""

from balancewatch.state.store import Store

__all__ = ["Store"]
