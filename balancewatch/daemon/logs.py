"""Logging: structlog everywhere, JSON lines off a TTY (journald), console on a TTY.

Secrets are removed by :data:`~balancewatch.redaction.REDACTOR`, a structlog processor that
also sits on the standard-library handler's formatter, so the loggers of httpx, aiohttp and
apprise (which log full URLs and URL path tokens) pass through it too. Both write whole
lines to the same stream. Every configured secret is replaced by ``***`` wherever it
appears: event text, values, exception text (the rules: :mod:`balancewatch.redaction`).
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from balancewatch.redaction import REDACTOR

_FOREIGN_LOGGERS = ("httpx", "httpcore", "aiohttp", "apprise", "apscheduler", "asyncio")


def setup_logging(
    level: str = "info", *, stream: TextIO | None = None, json: bool | None = None
) -> None:
    """Configure structlog and route the standard library's loggers through the same chain."""
    stream = stream or sys.stderr
    as_json = not stream.isatty() if json is None else json
    numeric = logging.getLevelName(level.upper())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        REDACTOR,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        # Our own events are rendered and written directly (one write per line, under
        # structlog's lock): through the standard library's records, handler and formatter
        # a line cost twice as much, and the daemon logs every poll.
        processors=[*shared, renderer],
        logger_factory=structlog.WriteLoggerFactory(file=stream),
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric)
    for name in _FOREIGN_LOGGERS:
        # Their INFO lines carry URLs; keep them at WARNING unless we are debugging.
        logging.getLogger(name).setLevel(numeric if numeric <= logging.DEBUG else logging.WARNING)


def get_logger(name: str = "balancewatch") -> Any:
    return structlog.get_logger(name)
