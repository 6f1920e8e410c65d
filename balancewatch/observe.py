"""Logging: structlog everywhere, JSON lines off a TTY (journald), console on a TTY.

Secrets are removed by :class:`Redactor`, a structlog processor that also sits on the
standard-library handler, so the loggers of httpx, httpcore and apprise (which log full
URLs and URL path tokens) pass through it too. Every configured secret is replaced by
``***`` wherever it appears: event text, values, exception text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"
_FOREIGN_LOGGERS = ("httpx", "httpcore", "apprise", "apscheduler", "asyncio")


class Redactor:
    """Replace every known secret in every string of an event dict."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret that contains another is replaced whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def text(self, value: str) -> str:
        for secret in self._secrets:
            if secret in value:
                value = value.replace(secret, REDACTED)
        return value

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, BaseException):
            return self.text(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        if not self._secrets:
            return event
        return {k: self._clean(v) for k, v in event.items()}


REDACTOR = Redactor()


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
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
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
