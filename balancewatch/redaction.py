"""Secrets out of everything balancewatch writes: one set of rules, one home.

:class:`Redactor` replaces every known secret with ``***`` wherever it appears (event text,
values, exception text); :data:`REDACTOR` is the process's own, fed by the config (every
credential the config and its providers know) and used by the log processors
(:mod:`balancewatch.daemon.logs`) and the command line's error lines.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

REDACTED = "***"


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


def url_secrets(url: str) -> set[str]:
    """An Apprise URL and the parts that carry tokens (password, path segments, query
    values, a host that is not a DNS name such as ``tgram://BOTTOKEN``), 8+ characters."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return found
    host = parts.netloc.rpartition("@")[2]
    candidates = [parts.password or "", *parts.path.split("/")]
    candidates += [value for _key, value in parse_qsl(parts.query)]
    if "." not in host:
        candidates += [host, *host.split(":")]
    for candidate in candidates:
        found |= {candidate, unquote(candidate)}
    return {secret for secret in found if len(secret) >= 8} | {url}


def redact(text: str, secrets: Iterable[str]) -> str:
    """Replace each secret in ``text`` with ``***`` (longest first, so prefixes are whole)."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text
