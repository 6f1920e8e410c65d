"""The configuration: load the YAML, resolve secrets, validate everything once -> frozen models.

``validate`` and the daemon (start-up and SIGHUP) both call :func:`load_config`, so what
``validate`` accepts is exactly what runs. The file's shape is DESIGN.md §4; the annotated
reference is ``config.example.yaml``. Reading the document (strict YAML, line numbers,
``${VAR}``/``file:``/``credential:``) is :mod:`balancewatch.yamlload`; this module owns the
schema, the cross-checks and the wording of every problem.

Every problem is reported at once, as one :class:`~balancewatch.model.ConfigError` whose
``problems`` are lines like
``config.yaml:14: accounts[1].rules[0].threshold.below: 'warning' must be above 'critical'``:
the path as the operator wrote it (aliases such as ``for``, never pydantic's union tags),
the line of the key (for a missing key, of its mapping), and no secret in any of it.

Decisions where DESIGN.md is silent:

- Account keys are the common ones (:data:`ACCOUNT_KEYS`) plus those of its provider's
  ``Settings`` model, validated by that model and kept as ``Account.settings``.
- Per-account values left out come from ``defaults``: :meth:`Account.effective` resolves
  them into an :class:`Effective` view (the one place that knows the fallback).
- ``jitter`` is ``'10%'`` (of the interval) or a duration; a bare number other than 0 is
  ambiguous and refused. A Decimal is the percentage, a timedelta the duration;
  :func:`jitter_spread` (and ``Effective.jitter``) give the largest delay.
- ``routes[].match``: every given condition must hold; within one (a list of severities,
  tags or accounts) any item may match. No ``match`` matches everything.
- A section written but left empty (``defaults:`` with every key commented out) means
  "all defaults"; ``http:`` left empty means the HTTP endpoint is off.
- ``state.path`` relative is relative to the working directory, like its default.
- Secrets (for log redaction) shorter than 4 characters are not collected: they would
  shred every log line and no real credential is that short.
"""

from __future__ import annotations

import os
import re
import string
from collections.abc import Mapping, Set
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    SecretStr,
    Strict,
    ValidationError,
    field_validator,
)

from balancewatch.fields import Duration, PositiveDuration
from balancewatch.model import ConfigError, Severity
from balancewatch.providers.base import (
    Provider,
    ProviderSettings,
    get_provider,
    redact,
    registry,
)
from balancewatch.rules.specs import RuleEntry, SeverityName, rule_ids
from balancewatch.units import format_duration, parse_duration, parse_percent
from balancewatch.yamlload import (
    MIN_SECRET_LENGTH,
    NAME_PATTERN,
    Document,
    Lines,
    Problem,
    YamlPath,
    did_you_mean,
    format_problem,
    line_of,
    pydantic_problems,
    read_yaml,
    resolve_secrets,
    unknown_key,
)

SYSTEM_CONFIG_PATH = Path("/etc/balancewatch/config.yaml")

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


class StateSettings(_Model):
    """Where the SQLite state lives and how long snapshots are kept."""

    path: Path | None = None
    keep: PositiveDuration = timedelta(days=90)

    @field_validator("path", mode="before")
    @classmethod
    def _not_blank(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise ValueError("give a file path, or leave 'path' out for the default")
        return value

    def db_path(self, environ: Mapping[str, str] | None = None) -> Path:
        """``path`` if set; else ``$STATE_DIRECTORY/state.db`` (systemd); else ./balancewatch.db."""
        if self.path is not None:
            return self.path
        env = os.environ if environ is None else environ
        state_dirs = env.get("STATE_DIRECTORY", "")
        if state_dirs:  # systemd lists several directories separated by ':'; ours is first
            return Path(state_dirs.split(":")[0]) / "state.db"
        return Path("balancewatch.db")


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


def _check_apprise_url(url: str) -> str:
    """Apprise must be able to use the URL; a typo found at load, not at the first alert."""
    import logging
    import threading

    import apprise

    from balancewatch.console import register_console

    register_console()  # the demo's bwconsole:// is a valid URL
    this_thread = threading.get_ident()

    def not_ours(record: logging.LogRecord) -> bool:
        return record.thread != this_thread  # Apprise logs the whole URL, secrets included

    logger = logging.getLogger("apprise")
    logger.addFilter(not_ours)
    try:
        accepted = bool(apprise.Apprise().add(url))
    finally:
        logger.removeFilter(not_ours)
    if not accepted:
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


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class RouteMatch(_Model):
    """Which alerts a route takes: all given conditions hold; any item of a list matches."""

    severity: tuple[SeverityName, ...] = ()
    tags: tuple[str, ...] = ()
    account: tuple[str, ...] = ()

    _lists = field_validator("severity", "tags", "account", mode="before")(_one_or_many)

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

    _lists = field_validator("notify", mode="before")(_one_or_many)


class HttpSettings(_Model):
    """The optional ``/metrics`` and ``/healthz`` endpoint."""

    listen: str = "127.0.0.1:9464"

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.rpartition(":")
        if not host.strip("[]") or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError("write host:port, e.g. 127.0.0.1:9464 or [::1]:9464")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


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
    logging: LoggingSettings = LoggingSettings()
    source: Path | None = None
    secrets: frozenset[str] = frozenset()
    """Every credential value, for log redaction: SecretStr fields, interpolated and file
    values, and Apprise URLs with their token-like parts."""

    def account(self, name: str) -> Account:
        """The account called ``name`` (KeyError if there is none)."""
        for account in self.accounts:
            if account.name == name:
                return account
        raise KeyError(name)


def state_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """The state database of ``config`` (see :meth:`StateSettings.db_path`)."""
    return config.state.db_path(environ)


SECTIONS: Mapping[str, type[BaseModel]] = {
    "state": StateSettings,
    "defaults": Defaults,
    "notify": NotifySettings,
    "http": HttpSettings,
    "logging": LoggingSettings,
}
TOP_KEYS = (*SECTIONS, "notifiers", "routes", "accounts")


# ---------------------------------------------------------------- validation


M = TypeVar("M", bound=BaseModel)


class _Checker:
    """Validates one document section by section, collecting every problem on the way.

    Each part is validated on its own so that one broken account does not hide the
    mistakes of the next; cross-checks then look only at what names were written.
    """

    def __init__(self, data: Any, lines: Lines) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.lines = lines
        self.problems: list[Problem] = []
        if not isinstance(data, dict):
            self.report((), f"expected a mapping of sections ({', '.join(TOP_KEYS)})")

    def report(self, path: YamlPath, message: str) -> None:
        self.problems.append(Problem(path, message))

    def model(self, cls: type[M], value: Any, path: YamlPath, data: Any = None) -> M | None:
        try:
            return cls.model_validate(value)
        except ValidationError as exc:
            where = value if data is None else data
            self.problems += pydantic_problems(exc, path, where, cls)
            return None

    def sections(self) -> dict[str, Any]:
        if self.problems:  # not even a mapping: nothing else can be judged
            return {}
        for key in self.data:
            if key not in TOP_KEYS:
                self.report((key,), unknown_key(key, TOP_KEYS))
        fields: dict[str, Any] = {}
        for key, cls in SECTIONS.items():
            if self.data.get(key) is not None:
                fields[key] = self.model(cls, self.data[key], (key,))
        fields["notifiers"] = self.notifiers(self.data.get("notifiers"))
        routes = self.items("routes", "a list of routes")
        fields["routes"] = [self.model(Route, raw, ("routes", i)) for i, raw in routes]
        accounts = self.items("accounts", "a list of accounts")
        if not accounts and not self.problems_at(("accounts",)):
            self.report(("accounts",), "give at least one account")
        fields["accounts"] = [self.account(i, raw) for i, raw in accounts]
        return fields

    def problems_at(self, path: YamlPath) -> bool:
        return any(p.path == path for p in self.problems)

    def items(self, key: str, what: str) -> list[tuple[int, Any]]:
        raw = self.data.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.report((key,), f"expected {what}")
            return []
        return list(enumerate(raw))

    def notifiers(self, raw: Any) -> dict[str, Notifier | None]:
        if raw is None:
            return {}
        if not isinstance(raw, dict):
            self.report(("notifiers",), "expected a mapping of name: Apprise URL(s)")
            return {}
        found: dict[str, Notifier | None] = {}
        for name, value in raw.items():
            found[name] = self.notifier(name, value)
        return found

    def notifier(self, name: str, value: Any) -> Notifier | None:
        path = ("notifiers", name)
        if not re.match(NAME_PATTERN, name):
            self.report(path, "notifier names use only letters, digits, '-' and '_'")
            return None
        if isinstance(value, str | list):
            spec: dict[str, Any] = {"urls": _one_or_many(value)}
        elif isinstance(value, dict):
            spec = {k: v for k, v in value.items() if k != "name"}
            if "name" in value:
                self.report((*path, "name"), "unknown key 'name' (the key above is the name)")
            if "urls" in spec:
                spec["urls"] = _one_or_many(spec["urls"])
        else:
            self.report(path, "expected an Apprise URL, a list of them, or {urls, title, body}")
            return None
        return self.model(Notifier, {**spec, "name": name}, path, data=value)

    def account(self, index: int, raw: Any) -> Account | None:
        path = ("accounts", index)
        if not isinstance(raw, dict):
            self.report(path, "expected a mapping (name: ..., provider: ..., ...)")
            return None
        settings = self.provider_settings(raw, path)
        common = {key: value for key, value in raw.items() if key in ACCOUNT_KEYS}
        return self.model(Account, {**common, "settings": settings or ProviderSettings()}, path)

    def provider_settings(self, raw: dict[str, Any], path: YamlPath) -> ProviderSettings | None:
        """The provider's own keys, validated by its ``Settings`` (unknown keys reported)."""
        name = raw.get("provider")
        if not isinstance(name, str) or name not in registry():
            return None  # Account reports it; without a provider, no key can be judged
        settings_cls = get_provider(name).Settings
        own = {f.alias or key for key, f in settings_cls.model_fields.items()}
        for key in raw:
            if key not in ACCOUNT_KEYS | own:
                self.report((*path, key), unknown_key(key, ACCOUNT_KEYS | own))
        values = {key: value for key, value in raw.items() if key in own}
        return self.model(settings_cls, values, path)


def _cross_check(checker: _Checker, fields: dict[str, Any]) -> None:
    """Names that refer to each other, and limits that span several keys."""
    account_names = _check_account_names(checker)
    notifier_names = set(checker.data.get("notifiers") or {})
    for index, route in enumerate(fields["routes"]):
        if route is not None:
            path = ("routes", index)
            _check_refs(checker, (*path, "notify"), route.notify, notifier_names, "notifier")
            _check_refs(
                checker, (*path, "match", "account"), route.match.account, account_names, "account"
            )
    defaults = fields.get("defaults", Defaults())
    if defaults is None:
        return
    _check_timeout(checker, ("defaults",), defaults.timeout, defaults.interval)
    for index, account in enumerate(fields["accounts"]):
        if account is not None:
            plan = account.effective(defaults)
            if account.timeout or account.interval:
                _check_timeout(checker, ("accounts", index), plan.timeout, plan.interval)
            _check_rule_ids(checker, index, account)


def _check_account_names(checker: _Checker) -> set[str]:
    """Names as written (valid or not), so a broken account is not also "unknown"."""
    first: dict[str, int] = {}
    raw_accounts = checker.data.get("accounts")
    for index, raw in enumerate(raw_accounts if isinstance(raw_accounts, list) else []):
        name = raw.get("name") if isinstance(raw, dict) else None
        if not isinstance(name, str):
            continue
        if name in first:
            line = checker.lines.get(("accounts", first[name], "name"), 0)
            checker.report(
                ("accounts", index, "name"),
                f"duplicate account name {name!r} (first at line {line})",
            )
        first.setdefault(name, index)
    return set(first)


def _check_refs(
    checker: _Checker, path: YamlPath, names: tuple[str, ...], known: set[str], what: str
) -> None:
    written_as_list = isinstance(_value_at(checker.data, path), list)
    for index, name in enumerate(names):
        if name not in known:
            where = (*path, index) if written_as_list else path
            listed = f"; known: {', '.join(sorted(known))}" if known else ""
            hint = did_you_mean(name, known) or listed
            checker.report(where, f"no {what} named {name[:40]!r}{hint}")


def _check_timeout(
    checker: _Checker, path: YamlPath, timeout: timedelta, interval: timedelta
) -> None:
    if timeout < interval:
        return
    raw = _value_at(checker.data, path)
    key = "timeout" if isinstance(raw, dict) and "timeout" in raw else "interval"
    checker.report(
        (*path, key),
        f"'timeout' ({format_duration(timeout)}) must be shorter than "
        f"'interval' ({format_duration(interval)})",
    )


def _check_rule_ids(checker: _Checker, index: int, account: Account) -> None:
    seen: set[str] = set()
    for position, rule_id in enumerate(account.rule_ids):
        if rule_id in seen:
            checker.report(
                ("accounts", index, "rules", position),
                f"duplicate rule id {rule_id!r}: give each rule its own 'id'",
            )
        seen.add(rule_id)


def _value_at(data: Any, path: YamlPath) -> Any:
    for step in path:
        found = isinstance(data, dict) and step in data
        if not found and not (
            isinstance(data, list) and isinstance(step, int) and step < len(data)
        ):
            return None
        data = data[step]
    return data


# ---------------------------------------------------------------- secrets


def _secret_values(value: Any) -> set[str]:
    """Every SecretStr inside models, mappings and sequences."""
    if isinstance(value, SecretStr):
        return {value.get_secret_value()}
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, Mapping):
        value = list(value.values())
    if isinstance(value, list | tuple):
        return {secret for item in value for secret in _secret_values(item)}
    return set()


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


def _collect_secrets(fields: dict[str, Any], interpolated: set[str]) -> frozenset[str]:
    secrets = set(interpolated) | _secret_values(fields)
    for notifier in fields.get("notifiers", {}).values():
        for url in notifier.urls if notifier is not None else ():
            secrets |= url_secrets(url)
    return frozenset(s for s in secrets if len(s) >= MIN_SECRET_LENGTH)


# ---------------------------------------------------------------- API


def parse_config(
    text: str,
    *,
    source: str = "config.yaml",
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
) -> Config:
    """Validate config text; every problem at once as one ConfigError.

    ``source`` names the file in messages; ``base_dir`` anchors relative ``file:`` paths
    (the working directory by default); ``environ`` defaults to ``os.environ``.
    """
    env = os.environ if environ is None else environ
    document = read_yaml(text, source)
    resolved = resolve_secrets(document.data, env, base_dir)
    checker = _Checker(resolved.data, document.lines)
    fields = checker.sections()
    if fields:
        _cross_check(checker, fields)
    early = [*document.problems, *resolved.problems]
    problems = early + [p for p in checker.problems if not _below_any(p.path, early)]
    secrets = _collect_secrets(fields, resolved.secrets)
    if problems:
        raw_urls = _strings(checker.data.get("notifiers"))
        hidden = secrets | {
            s for url in raw_urls for s in url_secrets(url) if len(s) >= MIN_SECRET_LENGTH
        }
        hidden -= {str(_value_at(resolved.data, p.path)) for p in resolved.problems}
        # (a value that could not be resolved is left as the file wrote it: no secret)
        raise ConfigError(_report(problems, source, document, hidden), source)
    return Config.model_validate({**fields, "secrets": secrets})


def _below_any(path: YamlPath, problems: list[Problem]) -> bool:
    """A value that could not be read is not complained about a second time."""
    return any(path[: len(p.path)] == p.path for p in problems)


def _report(problems: list[Problem], source: str, doc: Document, secrets: Set[str]) -> list[str]:
    located = [(p.line or line_of(p.path, doc.lines), p) for p in problems]
    located.sort(key=lambda pair: pair[0])
    lines = [redact(format_problem(p, source, doc.lines), secrets) for _line, p in located]
    return list(dict.fromkeys(lines))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def load_config(path: Path | str, *, environ: Mapping[str, str] | None = None) -> Config:
    """Read and validate the file at ``path`` (the one thing ``validate`` and ``run`` do)."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such file (give one with -c or $BALANCEWATCH_CONFIG)"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read it ({exc.strerror or exc})") from None
    config = parse_config(text, source=str(path), environ=environ, base_dir=path.parent)
    return config.model_copy(update={"source": path})


def default_config_path(
    environ: Mapping[str, str] | None = None, *, system_path: Path = SYSTEM_CONFIG_PATH
) -> Path:
    """``$BALANCEWATCH_CONFIG``, else ``/etc/balancewatch/config.yaml`` if it exists, else
    ``./config.yaml``."""
    env = os.environ if environ is None else environ
    if env.get("BALANCEWATCH_CONFIG"):
        return Path(env["BALANCEWATCH_CONFIG"])
    return system_path if system_path.exists() else Path("config.yaml")
