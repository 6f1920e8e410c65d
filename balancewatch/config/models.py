"""The configuration's schema: one frozen pydantic model per section, as validated data.

:class:`Config` is the whole file; its sections are :class:`StateSettings`,
:class:`Defaults`, :class:`NotifySettings`, :class:`Notifier`, :class:`Route` (with its
:class:`RouteMatch`), :class:`Account`, :class:`HttpSettings`,
:class:`HeartbeatSettings` and :class:`LoggingSettings`. Every model is ``frozen`` and
forbids unknown keys; each field checks its own value (durations, the jitter, Apprise
URLs, message templates), and :meth:`Account.effective` is the one place that knows how an
account falls back on ``defaults``.

The models judge one value at a time. Checking a whole document section by section,
and the checks across sections (names that refer to each other), is
:mod:`balancewatch.config.validate`; loading a file into a :class:`Config` is
:mod:`balancewatch.config.load`, which re-exports every name here.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    Strict,
    ValidationInfo,
    field_validator,
)

from balancewatch.config.http import HttpSettings
from balancewatch.config.problems import NAME_PATTERN, did_you_mean
from balancewatch.config.state import StateSettings
from balancewatch.fields import Duration, PositiveDuration
from balancewatch.model import Severity
from balancewatch.providers import Provider, ProviderSettings, get_provider, registry
from balancewatch.rules.specs import RuleEntry, SeverityName, rule_ids
from balancewatch.units import parse_duration, parse_percent

TEMPLATE_FIELDS = frozenset(
    {
        *("account", "provider", "severity", "rule", "currency", "kind", "amount"),
        *("threshold", "previous", "runway", "duration", "summary", "status", "id"),
        *("count", "tags"),
    }
)
"""The named fields a notifier's ``title``/``body`` may use (``str.format`` syntax)."""

StrictBool = Annotated[bool, Strict()]
Count = Annotated[int, Strict(), Field(ge=1)]
Name = Annotated[str, Field(pattern=NAME_PATTERN)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# ---------------------------------------------------------------- sections


def _jitter(value: Any) -> timedelta | Decimal:
    """``'10%'`` -> Decimal percent of the interval; ``30s`` -> timedelta; ``0`` -> none."""
    if value == 0 and not isinstance(value, bool):
        return timedelta(0)
    if not isinstance(value, str):
        raise ValueError("write a percentage of the interval ('10%') or a duration (30s)")
    if not value.strip().endswith("%"):
        return parse_duration(value)
    percent = parse_percent(value)
    if percent > 100:
        raise ValueError("a jitter above 100% of the interval is not useful")
    return percent


Jitter = Annotated[timedelta | Decimal, PlainValidator(_jitter)]
"""A random delay before each poll, so accounts sharing an interval do not poll together:
a Decimal is a percentage of the interval, a timedelta a fixed spread."""


def jitter_spread(jitter: timedelta | Decimal, interval: timedelta) -> timedelta:
    """The largest delay before a poll every ``interval``."""
    if isinstance(jitter, timedelta):
        return jitter
    return interval * float(jitter / 100)


class Defaults(_Model):
    """Per-account settings used when an account does not give its own."""

    interval: PositiveDuration = timedelta(minutes=5)
    timeout: PositiveDuration = timedelta(seconds=10)
    jitter: Jitter = Decimal(10)
    failures_before_alert: Count = 3
    repeat: PositiveDuration = timedelta(hours=6)
    send_resolved: StrictBool = True


class NotifySettings(_Model):
    give_up_after: PositiveDuration = timedelta(hours=24)
    """A notification still undelivered after this long is dropped (and logged)."""
    timeout: PositiveDuration = timedelta(seconds=20)
    """How long one send may take. Daemons sharing a database claim a delivery for twice
    this plus ten seconds: a daemon that dies mid-send leaves it to another after that."""


CHECK_URLS = "check_urls"
"""Validation context key: False skips asking Apprise about notifier URLs (commands that
send nothing load the config without them, and without Apprise)."""


def _check_apprise_url(url: str, info: ValidationInfo) -> str:
    """Apprise must be able to use the URL; a typo found at load, not at the first alert."""
    if info.context is not None and not info.context.get(CHECK_URLS, True):
        return url
    from balancewatch.channels import apprise_url as appriseurl
    from balancewatch.channels.console import register_console

    found = len(appriseurl.split(url))
    if found > 1:  # Apprise.add() would take them all; the sender instantiates one URL
        raise ValueError(f"this entry holds {found} URLs; give each its own item under urls:")
    if appriseurl.needs_every_plugin(url):
        register_console()  # the demo's bwconsole:// is valid (and loads every plugin)
    if not appriseurl.accepts(url):
        scheme = url.split("://", 1)[0] if "://" in url else ""
        what = f"this {scheme[:20]}:// URL" if scheme else "this value (no scheme://)"
        raise ValueError(f"Apprise cannot use {what}; check it against the Apprise wiki")
    return url


def _check_template(text: str) -> str:
    """Named ``str.format`` fields from :data:`TEMPLATE_FIELDS` only, checked at load."""
    try:
        parsed = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise ValueError(f"not a valid template: {exc}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        base = re.split(r"[.\[]", name, maxsplit=1)[0]
        if not base or base.isdigit():
            raise ValueError("use named fields such as {account}, not {} or {0}")
        if base not in TEMPLATE_FIELDS:
            raise ValueError(f"unknown field {{{base}}}{did_you_mean(base, TEMPLATE_FIELDS)}")
        if conversion not in (None, "r", "s", "a"):
            raise ValueError(f"unknown conversion !{conversion} in {{{name}}}")
        if spec and "{" in spec:
            _check_template(spec)
    return text


def _not_empty(what: str) -> AfterValidator:
    """An after-check, so an empty list is reported but a list of bad items is not twice."""

    def check(items: tuple[str, ...]) -> tuple[str, ...]:
        if not items:
            raise ValueError(f"give at least one {what}")
        return items

    return AfterValidator(check)


AppriseUrl = Annotated[str, AfterValidator(_check_apprise_url)]
Template = Annotated[str, AfterValidator(_check_template)]


class Notifier(_Model):
    """A named destination: one or more Apprise URLs, optionally with its own wording."""

    name: str
    urls: Annotated[tuple[AppriseUrl, ...], _not_empty("Apprise URL")]
    title: Template | None = None
    body: Template | None = None


def one_or_many(value: Any) -> Any:
    """A single string is a list of one: ``notify: ops`` means ``notify: [ops]``."""
    return [value] if isinstance(value, str) else value


class RouteMatch(_Model):
    """Which alerts a route takes: all given conditions hold; any item of a list matches."""

    severity: tuple[SeverityName, ...] = ()
    tags: tuple[str, ...] = ()
    account: tuple[str, ...] = ()

    _lists = field_validator("severity", "tags", "account", mode="before")(one_or_many)

    def matches(self, account: str, tags: tuple[str, ...], severity: Severity) -> bool:
        return (
            (not self.severity or severity.label in self.severity)
            and (not self.tags or bool(set(self.tags) & set(tags)))
            and (not self.account or account in self.account)
        )


def _never_is_zero(value: Any) -> Any:
    return 0 if isinstance(value, str) and value.strip().lower() == "never" else value


RouteRepeat = Annotated[Duration, BeforeValidator(_never_is_zero)]


class Route(_Model):
    """Every matching route adds its notifiers; ``send_resolved``/``repeat`` override."""

    match: RouteMatch = RouteMatch()
    notify: Annotated[tuple[str, ...], _not_empty("notifier name")]
    send_resolved: StrictBool | None = None
    repeat: RouteRepeat | None = None
    """``0`` or ``never``: no reminders through this route; otherwise the account's pace."""

    _lists = field_validator("notify", mode="before")(one_or_many)


class HeartbeatSettings(_Model):
    """An optional dead man's switch: ``url`` fetched (GET) every ``every`` while the daemon
    is healthy; the service behind it (healthchecks.io, an Uptime Kuma push monitor, a
    Gatus external endpoint) tells someone when the pings stop. The URL usually holds a
    token, so it is a secret as a whole."""

    url: SecretStr
    every: PositiveDuration = timedelta(minutes=1)

    @field_validator("url", mode="before")
    @classmethod
    def _http_url(cls, value: Any) -> Any:
        text = value.get_secret_value() if isinstance(value, SecretStr) else value
        if not isinstance(text, str) or not re.match(r"https?://[^/\s]+", text.strip()):
            raise ValueError("give the http:// or https:// URL to ping")  # never quoted: a secret
        return text.strip()


class LoggingSettings(_Model):
    level: Literal["debug", "info", "warning", "error"] = "info"


# ---------------------------------------------------------------- accounts


@dataclass(frozen=True, slots=True)
class Effective:
    """An account's effective polling and alerting settings: its own, else ``defaults``."""

    interval: timedelta
    timeout: timedelta
    jitter: timedelta
    """The largest random delay before a poll (the spread of ``jitter``)."""
    failures_before_alert: int
    repeat: timedelta
    send_resolved: bool


class Account(_Model):
    """One watched account. ``settings`` holds its provider's own validated keys."""

    name: Name
    provider: str
    settings: ProviderSettings = ProviderSettings()
    tags: tuple[str, ...] = ()
    currency: str | None = Field(default=None, min_length=1)
    interval: PositiveDuration | None = None
    timeout: PositiveDuration | None = None
    jitter: Jitter | None = None
    failures_before_alert: Count | None = None
    repeat: PositiveDuration | None = None
    send_resolved: StrictBool | None = None
    enabled: StrictBool = True
    rules: tuple[RuleEntry, ...] = ()

    @field_validator("provider")
    @classmethod
    def _registered(cls, value: str) -> str:
        known = sorted(registry())
        if value not in known:
            hint = did_you_mean(value, known)
            raise ValueError(f"unknown provider {value[:40]!r}{hint}; known: {', '.join(known)}")
        return value

    @property
    def rule_ids(self) -> tuple[str, ...]:
        """Stable ids keying alert state: explicit ``id``, else the type, numbered."""
        return tuple(rule_ids(list(self.rules)))

    def effective(self, defaults: Defaults) -> Effective:
        """The effective settings: each one the account's own if given, else the default."""

        def pick(name: str) -> Any:
            own = getattr(self, name)
            return getattr(defaults, name) if own is None else own  # 0 and false count

        interval: timedelta = pick("interval")
        return Effective(
            interval=interval,
            timeout=pick("timeout"),
            jitter=jitter_spread(pick("jitter"), interval),
            failures_before_alert=pick("failures_before_alert"),
            repeat=pick("repeat"),
            send_resolved=pick("send_resolved"),
        )

    def build_provider(self) -> Provider:
        """The provider object that polls this account."""
        return get_provider(self.provider)(self.settings, currency=self.currency)


ACCOUNT_KEYS = frozenset(Account.model_fields) - {"settings"}
"""Keys every account accepts; the others belong to its provider's ``Settings``."""


class Config(_Model):
    """The whole validated configuration. ``source`` and ``secrets`` are not from the YAML."""

    state: StateSettings = StateSettings()
    defaults: Defaults = Defaults()
    notify: NotifySettings = NotifySettings()
    notifiers: Mapping[str, Notifier] = Field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    accounts: tuple[Account, ...] = ()
    http: HttpSettings | None = None
    heartbeat: HeartbeatSettings | None = None
    logging: LoggingSettings = LoggingSettings()
    source: Path | None = None
    secrets: frozenset[str] = frozenset()
    """Every credential value, for log redaction: SecretStr fields, interpolated and file
    values, and Apprise URLs with their token-like parts."""
    unresolved: tuple[str, ...] = ()
    """Paths of values whose ``${VAR}``/``file:``/``credential:`` could not be resolved, kept
    as written: only a config loaded with ``secrets=False`` (for commands that poll and send
    nothing) has any, and such a config must never poll or notify."""

    def account(self, name: str) -> Account:
        """The account called ``name`` (KeyError if there is none)."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


SECTIONS: Mapping[str, type[BaseModel]] = {
    "state": StateSettings,
    "defaults": Defaults,
    "notify": NotifySettings,
    "http": HttpSettings,
    "heartbeat": HeartbeatSettings,
    "logging": LoggingSettings,
}
TOP_KEYS = (*SECTIONS, "notifiers", "routes", "accounts")
