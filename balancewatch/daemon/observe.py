"""What the daemon says about each poll: one ``poll`` log line, a warning when it failed."""

from __future__ import annotations

from balancewatch.daemon.logs import get_logger
from balancewatch.model import ProviderError, Snapshot

log = get_logger("balancewatch.daemon")


def log_poll(
    account: str,
    outcome: Snapshot | ProviderError,
    ms: float,
    late_ms: float | None,
    notes: int,
) -> None:
    """The ``poll`` event: at INFO when it read the balances, at WARNING with the reason
    when it failed."""
    if isinstance(outcome, Snapshot):
        log.info("poll", account=account, ok=True, ms=ms, late_ms=late_ms, notifications=notes)
    else:
        log.warning(
            "poll",
            account=account,
            ok=False,
            ms=ms,
            error_kind=outcome.kind,
            error=outcome.reason,
            notifications=notes,
        )
