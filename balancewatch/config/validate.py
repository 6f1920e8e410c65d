"""Checking a config document: every section validated on its own, then the cross-checks.

:class:`Checker` validates the plain data that :mod:`balancewatch.config.yamldoc` read, section
by section and account by account, collecting every problem instead of stopping at the
first, so one broken account does not hide the mistakes of the next. An account's keys
are split between the common ones (:data:`~balancewatch.config.models.ACCOUNT_KEYS`) and
its provider's ``Settings``. :func:`cross_check` then looks at what spans several keys:
duplicate account names and rule ids, routes naming notifiers or accounts that do not
exist, a ``timeout`` not shorter than its ``interval``, a rule's look-back window shorter
than the poll interval. The limits are read from every value that parsed, so they are
reported in the same run as a broken key beside them.

The models themselves are :mod:`balancewatch.config.models`; putting it all together
into a :class:`~balancewatch.config.models.Config` is :mod:`balancewatch.config.load`.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Hashable, Set
from datetime import timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from balancewatch.config.models import (
    ACCOUNT_KEYS,
    CHECK_URLS,
    SECTIONS,
    TOP_KEYS,
    Account,
    Defaults,
    Notifier,
    Route,
    one_or_many,
)
from balancewatch.config.problems import (
    NAME_PATTERN,
    Lines,
    Problem,
    YamlPath,
    did_you_mean,
    pydantic_problems,
    unknown_key,
    value_at,
)
from balancewatch.fields import PositiveDuration
from balancewatch.providers import ProviderSettings, get_provider, registry
from balancewatch.rules.specs import RuleEntry, RunwayRule
from balancewatch.units import duration_text, parse_duration

M = TypeVar("M", bound=BaseModel)


class Checker:
    """Validates one document section by section, collecting every problem on the way.

    Each part is validated on its own so that one broken account does not hide the
    mistakes of the next; cross-checks then look only at what names were written.
    """

    def __init__(
        self, data: Any, lines: Lines, *, check_urls: bool = True, keep: Set[Any] = frozenset()
    ) -> None:
        self.data = data if isinstance(data, dict) else {}
        self.keep = keep
        """Accounts whose written data must stay after they are validated (a value that
        could not be resolved is looked up again when the problems are reported)."""
        self.lines = lines
        self.problems: list[Problem] = []
        self.context = {CHECK_URLS: check_urls}
        self._rules: dict[Hashable, tuple[RuleEntry, ...]] = {}
        self._fields_sets: dict[frozenset[str], set[str]] = {}
        """Rule lists validated so far, by what was written: the accounts that wrote the
        same rules share one tuple of (frozen) models, validated once."""
        if not isinstance(data, dict):
            self.report((), f"expected a mapping of sections ({', '.join(TOP_KEYS)})")

    def report(self, path: YamlPath, message: str) -> None:
        self.problems.append(Problem(path, message))

    def model(self, cls: type[M], value: Any, path: YamlPath, data: Any = None) -> M | None:
        try:
            return cls.model_validate(value, context=self.context)
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
        fields["routes"] = [self.model(Route, raw, ("routes", i)) for i, raw in enumerate(routes)]
        accounts = self.items("accounts", "a list of accounts")
        if not accounts and not self.problems_at(("accounts",)):
            self.report(("accounts",), "give at least one account")
        self.account_names = _check_account_names(self)
        self.timing = _check_defaults_timing(self)
        fields["accounts"] = [self.account(i, raw) for i, raw in enumerate(accounts)]
        return fields

    def problems_at(self, path: YamlPath) -> bool:
        return any(p.path == path for p in self.problems)

    def items(self, key: str, what: str) -> list[Any]:
        """The list written under ``key`` (itself: accounts are dropped from it once checked)."""
        raw = self.data.get(key)
        if raw is None:
            return []
        if not isinstance(raw, list):
            self.report((key,), f"expected {what}")
            return []
        return raw

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
            spec: dict[str, Any] = {"urls": one_or_many(value)}
        elif isinstance(value, dict):
            spec = {k: v for k, v in value.items() if k != "name"}
            if "name" in value:
                self.report((*path, "name"), "unknown key 'name' (the key above is the name)")
            if "urls" in spec:
                spec["urls"] = one_or_many(spec["urls"])
        else:
            self.report(path, "expected an Apprise URL, a list of them, or {urls, title, body}")
            return None
        return self.model(Notifier, {**spec, "name": name}, path, data=value)

    def account(self, index: int, raw: Any) -> Account | None:
        """One account validated, its limits checked, and what was written for it dropped
        when it was all right: the models and the plain data of 10,000 accounts at once
        would be the peak of the load."""
        path = ("accounts", index)
        if not isinstance(raw, dict):
            self.report(path, "expected a mapping (name: ..., provider: ..., ...)")
            return None
        found = len(self.problems)
        account = self._account(path, raw)
        _check_account_timing(self, index, raw, self.timing)
        if account is not None and len(self.problems) == found and index not in self.keep:
            self.data["accounts"][index] = None
        return account

    def _account(self, path: YamlPath, raw: dict[str, Any]) -> Account | None:
        settings = self.provider_settings(raw, path)
        common = {key: value for key, value in raw.items() if key in ACCOUNT_KEYS}
        common["settings"] = settings or ProviderSettings()
        written = _frozen(raw.get("rules"))
        shared = self._rules.get(written)
        if shared is not None:
            common["rules"] = shared
        account = self.model(Account, common, path)
        if account is not None and shared is None:
            self._rules[written] = account.rules
        return account

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
        if isinstance(values.get("base_url"), str):  # one string for the accounts of a host
            values["base_url"] = sys.intern(values["base_url"])
        return self._lean(self.model(settings_cls, values, path))

    def _lean(self, model: M | None) -> M | None:
        """``model`` holding the set of field names given that an earlier model with the same
        names holds: each validated model has one (~220 B), the provider keeps its settings
        for the daemon's life, and the models are frozen (the set is never changed)."""
        if model is not None:
            given = model.__pydantic_fields_set__
            shared = self._fields_sets.setdefault(frozenset(given), given)
            object.__setattr__(model, "__pydantic_fields_set__", shared)
        return model


def _frozen(value: Any) -> Hashable:
    """Plain data as a key that tells apart what validates differently: ``1``, ``true`` and
    ``1.0`` are equal in Python, but not as a rule's value (nor ``1.0`` and ``1.00``, which
    messages quote as written)."""
    if isinstance(value, dict):
        return tuple((key, _frozen(item)) for key, item in value.items())
    if isinstance(value, list):
        return (list, *(_frozen(item) for item in value))
    return type(value), str(value)


def cross_check(checker: Checker, fields: dict[str, Any]) -> None:
    """Names that refer to each other, and limits that span several keys.

    The limits are judged on every value that parsed, read from the document itself: a
    ``timeout`` not shorter than its ``interval`` is reported in the same run as an
    unknown key beside it or a broken rule of the same account, not after those are fixed.
    """
    account_names = checker.account_names
    notifier_names = set(checker.data.get("notifiers") or {})
    for index, route in enumerate(fields["routes"]):
        if route is not None:
            path = ("routes", index)
            _check_refs(checker, (*path, "notify"), route.notify, notifier_names, "notifier")
            _check_refs(
                checker, (*path, "match", "account"), route.match.account, account_names, "account"
            )
    for index, account in enumerate(fields["accounts"]):
        if account is not None:
            _check_rule_ids(checker, index, account)


Timing = dict[str, timedelta | None]
"""``interval``, ``timeout`` and a fixed ``jitter`` as far as they are known (None: missing,
broken, or for the jitter a percentage, which cannot exceed the interval)."""

_POSITIVE_DURATION: TypeAdapter[timedelta] = TypeAdapter(PositiveDuration)

WINDOWS = {"change": "within", "held_increase": "within", "runway": "window"}
"""The rules that look back over a window, and the key that sets it."""


def _duration(value: Any) -> timedelta | None:
    """A positive duration, or None if it does not parse (reported where it is checked)."""
    try:
        return _POSITIVE_DURATION.validate_python(value)
    except ValidationError:
        return None


def _fixed_jitter(value: Any) -> timedelta | None:
    """A jitter written as a duration; None for a percentage or what does not parse."""
    if not isinstance(value, str) or value.strip().endswith("%"):
        return None
    try:
        return parse_duration(value)
    except ValueError:
        return None


def _timing(raw: Any, inherited: Timing) -> Timing:
    """``inherited``, overridden by what ``raw`` sets; unknown if ``raw`` is no mapping."""
    if not isinstance(raw, dict):
        return dict.fromkeys(inherited)
    read = {"interval": _duration, "timeout": _duration, "jitter": _fixed_jitter}
    return {key: read[key](raw[key]) if key in raw else inherited[key] for key in inherited}


def _check_defaults_timing(checker: Checker) -> Timing:
    """The timing every account inherits, its limits checked where ``defaults`` sets it."""
    built_in = Defaults()
    defaults = checker.data.get("defaults")
    base: Timing = {"interval": built_in.interval, "timeout": built_in.timeout, "jitter": None}
    if defaults is not None:
        base = _timing(defaults, base)
        _check_timeout(checker, ("defaults",), base)
        _check_jitter(checker, ("defaults",), base)
    return base


def _check_account_timing(checker: Checker, index: int, raw: dict[str, Any], base: Timing) -> None:
    timing = _timing(raw, base)
    if "timeout" in raw or "interval" in raw:
        _check_timeout(checker, ("accounts", index), timing)
    if "jitter" in raw or "interval" in raw:
        _check_jitter(checker, ("accounts", index), timing)
    if timing["interval"] is not None:
        _check_windows(checker, ("accounts", index), raw.get("rules"), timing["interval"])


def _check_windows(checker: Checker, path: YamlPath, rules: Any, interval: timedelta) -> None:
    """A look-back window shorter than the poll interval holds no earlier poll: never fires."""
    for position, entry in enumerate(rules if isinstance(rules, list) else []):
        if not isinstance(entry, dict) or len(entry) != 1:
            continue
        ((rule_type, spec),) = entry.items()
        key = WINDOWS.get(rule_type)
        if key is None or not isinstance(spec, dict):
            continue
        rule_path = (*path, "rules", position, rule_type)
        if key in spec:
            window = _duration(spec[key])
        else:
            window = RunwayRule.model_fields[key].default if rule_type == "runway" else None
        if window is not None and window < interval:
            where = (*rule_path, key) if key in spec else rule_path
            default = "" if key in spec else ", the default"
            checker.report(
                where,
                f"'{key}' ({duration_text(window)}{default}) must be at least the poll "
                f"'interval' ({duration_text(interval)}): no earlier poll falls inside it, "
                "so the rule cannot fire",
            )


def _check_account_names(checker: Checker) -> set[str]:
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
    checker: Checker, path: YamlPath, names: tuple[str, ...], known: set[str], what: str
) -> None:
    written_as_list = isinstance(value_at(checker.data, path), list)
    for index, name in enumerate(names):
        if name not in known:
            where = (*path, index) if written_as_list else path
            listed = f"; known: {', '.join(sorted(known))}" if known else ""
            hint = did_you_mean(name, known) or listed
            checker.report(where, f"no {what} named {name[:40]!r}{hint}")


def _check_timeout(checker: Checker, path: YamlPath, timing: Timing) -> None:
    timeout, interval = timing["timeout"], timing["interval"]
    if timeout is None or interval is None or timeout < interval:
        return
    raw = value_at(checker.data, path)
    key = "timeout" if isinstance(raw, dict) and "timeout" in raw else "interval"
    checker.report(
        (*path, key),
        f"'timeout' ({duration_text(timeout)}) must be shorter than "
        f"'interval' ({duration_text(interval)})",
    )


def _check_jitter(checker: Checker, path: YamlPath, timing: Timing) -> None:
    """A fixed jitter longer than the interval would move a poll into the next one's slot
    (the schedule caps it at one interval; a percentage is capped at 100% when read)."""
    jitter, interval = timing["jitter"], timing["interval"]
    if jitter is None or interval is None or jitter <= interval:
        return
    raw = value_at(checker.data, path)
    key = "jitter" if isinstance(raw, dict) and "jitter" in raw else "interval"
    checker.report(
        (*path, key),
        f"'jitter' ({duration_text(jitter)}) must be at most "
        f"'interval' ({duration_text(interval)})",
    )


def _check_rule_ids(checker: Checker, index: int, account: Account) -> None:
    seen: set[str] = set()
    for position, rule_id in enumerate(account.rule_ids):
        if rule_id in seen:
            checker.report(
                ("accounts", index, "rules", position),
                f"duplicate rule id {rule_id!r}: give each rule its own 'id'",
            )
        seen.add(rule_id)
