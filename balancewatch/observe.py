"""Logging: structlog everywhere, JSON lines off a TTY (journald), console on a TTY.

Secrets are removed by :class:`Redactor`, a structlog processor that also sits on the
standard-library handler's formatter, so the loggers of httpx, aiohttp and apprise (which
log full URLs and URL path tokens) pass through it too. Both write whole lines to the same
stream. Every configured secret is replaced by
``***`` wherever it appears: event text, values, exception text.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, TextIO

import structlog

REDACTED = "***"
_FOREIGN_LOGGERS = ("httpx", "httpcore", "aiohttp", "apprise", "apscheduler", "asyncio")


class Redactor:
    """Replace every known secret in every string of an event dict.

    Secrets are indexed by their first :data:`PREFIX` characters, so a string is scanned
    once (a dict lookup per position) however many secrets there are: with 10,000 accounts
    there are 10,000+ secrets, and testing each one against every log line cost more CPU
    than the polls themselves.
    """

    PREFIX = 4

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        by_prefix: dict[str, list[str]] = {}
        for secret in sorted({s for s in secrets if len(s) >= self.PREFIX}, key=len, reverse=True):
            by_prefix.setdefault(secret[: self.PREFIX], []).append(secret)
        self._by_prefix = by_prefix  # each list longest first: a secret containing another wins

    @property
    def active(self) -> bool:
        return bool(self._by_prefix)

    def text(self, value: str) -> str:
        index = self._by_prefix
        if not index or len(value) < self.PREFIX:
            return value
        n = self.PREFIX
        if index.keys().isdisjoint({value[i : i + n] for i in range(len(value) - n + 1)}):
            return value  # the common case, decided by one set operation
        out: list[str] = []
        start = i = 0
        last = len(value) - self.PREFIX
        while i <= last:
            found = next(
                (s for s in index.get(value[i : i + self.PREFIX], ()) if value.startswith(s, i)),
                None,
            )
            if found is None:
                i += 1
                continue
            out += [value[start:i], REDACTED]
            i = start = i + len(found)
        if not out:
            return value
        out.append(value[start:])
        return "".join(out)

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
        if not self._by_prefix:
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
