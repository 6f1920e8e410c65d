"""Logging: JSON lines off a TTY, and secrets redacted from every logger, ours or not."""

from __future__ import annotations

import io
import json
import logging

from balancewatch.daemon.logs import get_logger, setup_logging
from balancewatch.redaction import REDACTED, REDACTOR

CANARY = "canary-SECRET-4f1d"


def _lines(stream: io.StringIO) -> list[str]:
    return [line for line in stream.getvalue().splitlines() if line.strip()]


def test_logs_are_json_lines_off_a_tty() -> None:
    """journald gets one JSON object per event, with snake_case keys and data values."""
    stream = io.StringIO()
    setup_logging("info", stream=stream)
    get_logger().info("poll", account="shop", ok=True, ms=12.5)
    event = json.loads(_lines(stream)[-1])
    assert event["event"] == "poll"
    assert event["account"] == "shop"
    assert event["ok"] is True
    assert event["level"] == "info"


def test_secrets_are_redacted_from_our_events_and_foreign_loggers() -> None:
    """A configured secret never reaches the log: not in values, not in httpx's or apprise's lines."""
    stream = io.StringIO()
    setup_logging("debug", stream=stream)
    REDACTOR.update([CANARY])
    try:
        get_logger().warning("poll", error=f"HTTP 401 for key {CANARY}", nested={"k": [CANARY]})
        logging.getLogger("httpx").info("HTTP Request: GET https://x/?key=%s", CANARY)
        logging.getLogger("apprise").debug("Slack token %s", CANARY)
        try:
            raise RuntimeError(f"boom {CANARY}")
        except RuntimeError:
            get_logger().exception("failed")
    finally:
        REDACTOR.update([])
    text = stream.getvalue()
    assert CANARY not in text
    assert text.count(REDACTED) >= 4
