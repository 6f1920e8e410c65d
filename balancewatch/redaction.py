"""Secrets out of everything balancewatch writes: one set of rules, one home.

**What is a secret.** Two kinds of value, told apart by how sure we are:

- *declared*: every ``SecretStr`` of the config's models (:func:`secret_values`), every
  value read from the environment, a file or a systemd credential, and the password of any
  URL. Someone said these are credentials;
- *guessed*, the parts of a URL that may carry a token (:func:`url_secrets`): its query
  values; and for a URL that is a credential as a whole (an Apprise URL,
  ``path_tokens=True``), the URL itself, each path segment and a host that is neither a DNS
  name, an IP address nor ``localhost`` (``tgram://BOTTOKEN/...``). An API URL's path is
  words (``/api/v1/balance``) and is left alone (``path_tokens=False``).

**How long.** One floor for everything hidden, :data:`MIN_SECRET_LENGTH` (4): shorter values
(``5m``, ``TND``, ``401``) would be cut out of every line, and no credential is that short.
Guessed parts must also be :data:`MIN_URL_TOKEN` (8) long, because most URL parts are
ordinary words (``json``, ``v1``, ``hooks``, ``notify``, ``format=json``): at 4, every log
line that says "json" would lose it, and a reader could no longer tell what happened. A
token is longer than a word; a declared secret is hidden at any length from the floor up.

**Spellings.** A URL part is hidden as written, decoded (``%xx``; ``+`` as a space in a
query) and re-encoded the way an HTTP library prints it, since logs show any of these.

**How it is hidden.** :func:`hide` (and :meth:`Redactor.hide`, the same algorithm with a
kept index) replaces every occurrence with :data:`REDACTED`, scanning left to right and
taking at each position the longest secret that starts there, so a secret that contains
another is hidden whole; secrets that overlap are hidden as one. Text with no secret in it
comes back unchanged (the same object). A secret that contains ``***`` itself could be
spelled again by the masks around it; no credential looks like that, and it is not guarded
against.

**Where.** :data:`REDACTOR` is the process's own, fed with every credential the config and
its providers know, and sits in the log processors (:mod:`balancewatch.daemon.logs`) and
the command line's error lines. The fetch path hides the account's secrets in provider
errors, the channels hide a notifier URL's parts in failure reasons, and config problems
are reported without the secrets the file refers to.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any
from urllib.parse import quote, unquote, unquote_plus, urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "***"

MIN_SECRET_LENGTH = 4
"""Nothing shorter is hidden: see the module's docstring."""

MIN_URL_TOKEN = 8
"""A part of a URL shorter than this is a word, not a token: see the module's docstring."""

_PRINTED_AS_IS = "!$&'()*+,;=:@/?"
"""Characters URL libraries leave unescaped when they print a URL (RFC 3986 sub-delims)."""


def hideable(*groups: Iterable[str]) -> frozenset[str]:
    """The values of ``groups`` long enough to be hidden (:data:`MIN_SECRET_LENGTH`)."""
    return frozenset(s for group in groups for s in group if len(s) >= MIN_SECRET_LENGTH)


_Index = tuple[dict[str, tuple[int, ...]], frozenset[str]]
"""The lengths of the secrets by their first characters (longest first), and the secrets."""


class Redactor:
    """Replace every known secret in a text, or in every string of an event dict.

    The lengths of the secrets are indexed by their first :data:`MIN_SECRET_LENGTH`
    characters, so a string is scanned once (a dict lookup per position, a set lookup per
    length of the secrets starting there) however many secrets there are: with 10,000
    accounts there are 10,000+ secrets, and testing each one against every log line cost
    more CPU than the polls themselves. Keys of one provider share a prefix (``sk_live_``)
    and a length: one lookup for all of them.
    """

    PREFIX = MIN_SECRET_LENGTH

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self.update(secrets)

    def update(self, secrets: Iterable[str]) -> None:
        known = hideable(secrets)
        lengths: dict[str, set[int]] = {}
        for secret in known:
            lengths.setdefault(secret[: self.PREFIX], set()).add(len(secret))
        # Longest first: a secret that contains another wins.
        by_prefix = {prefix: tuple(sorted(n, reverse=True)) for prefix, n in lengths.items()}
        self._index: _Index = (by_prefix, known)  # one attribute: swapped whole

    def hide(self, value: str) -> str:
        """``value`` with every secret replaced by :data:`REDACTED`."""
        index = self._index  # read once: update() may swap it from another thread
        n = self.PREFIX
        if not index[1] or len(value) < n:
            return value
        if index[0].keys().isdisjoint({value[i : i + n] for i in range(len(value) - n + 1)}):
            return value  # the common case, decided by one set operation
        out: list[str] = []
        start = i = 0
        while i <= len(value) - n:
            end = _end_of_secret_at(index, value, i)
            if end == i:
                i += 1
                continue
            j = i + 1
            while j < end:  # a secret overlapping this one's end is hidden with it
                end = max(end, _end_of_secret_at(index, value, j))
                j += 1
            out += [value[start:i], REDACTED]
            i = start = end
        if not out:
            return value
        out.append(value[start:])
        return "".join(out)

    def _clean(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.hide(value)
        if isinstance(value, dict):
            return {k: self._clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self._clean(v) for v in value)
        if isinstance(value, BaseException):
            return self.hide(f"{type(value).__name__}: {value}")
        return value

    def __call__(
        self, logger: Any, method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        """A structlog processor: every string of the event, nested ones and exceptions too."""
        if not self._index[1]:
            return event
        return {k: self._clean(v) for k, v in event.items()}


REDACTOR = Redactor()


def _end_of_secret_at(index: _Index, value: str, i: int) -> int:
    """Where the longest secret starting at ``i`` ends, or ``i`` when none starts there."""
    by_prefix, secrets = index
    for length in by_prefix.get(value[i : i + MIN_SECRET_LENGTH], ()):  # longest first
        if value[i : i + length] in secrets:
            return i + length
    return i


def hide(text: str, secrets: Iterable[str]) -> str:
    """``text`` with each of ``secrets`` (from :data:`MIN_SECRET_LENGTH` up) replaced by
    :data:`REDACTED`; for a one-off text, where no :class:`Redactor` is kept."""
    return Redactor(secrets).hide(text)


def url_secrets(url: str, *, path_tokens: bool) -> set[str]:
    """The parts of ``url`` that carry credentials, in every spelling (see the module).

    ``path_tokens=True`` is for a URL that is a credential itself (Apprise): the whole URL,
    each path segment and a host that is not a DNS name are secrets too. ``False`` is for an
    API URL, whose path is words and which may be shown once its secrets are hidden.
    """
    try:
        parts = urlsplit(url)
    except ValueError:  # an invalid IPv6 host: nothing can be told apart
        return {url} if path_tokens else set()
    declared = _spellings(parts.password or "")
    items = (item.partition("=") for item in parts.query.split("&"))
    guessed = [value if eq else key for key, eq, value in items]  # ?TOKEN alone is a value
    if path_tokens:
        guessed += parts.path.split("/")
        host = parts.netloc.rpartition("@")[2]
        if not _names_a_machine(host):
            guessed += [host, *host.split(":")]
    tokens = {s for part in guessed for s in _spellings(part) if len(s) >= MIN_URL_TOKEN}
    return set(hideable(declared, tokens, [url] if path_tokens else []))


def _names_a_machine(host: str) -> bool:
    """A DNS name, an IP address or ``localhost``: where to send, not a token (a bot token
    takes the host's place in ``tgram://TOKEN/``)."""
    name = host.rpartition(":")[0] if host.count(":") == 1 else host
    return "." in host or host.startswith("[") or name.lower() == "localhost"


def _spellings(part: str) -> set[str]:
    """``part`` as written, decoded, and printed again by a URL library."""
    decoded = {unquote(part), unquote_plus(part)}
    return {part, *decoded, *(quote(d, safe=_PRINTED_AS_IS) for d in decoded)}


def secret_values(value: Any) -> set[str]:
    """Every ``SecretStr`` inside models, mappings and sequences.

    A loop, not a set per level: 10,000 accounts hold ~400,000 values.
    """
    found: set[str] = set()
    pending = [value]
    while pending:
        item = pending.pop()
        if item is None:  # the commonest value, cheapest to pass over
            continue
        if isinstance(item, BaseModel):
            pending += item.__dict__.values()
        elif isinstance(item, list | tuple):
            pending += item
        elif isinstance(item, SecretStr):
            found.add(item.get_secret_value())
        elif isinstance(item, Mapping):
            pending += item.values()
    return found
