"""The configuration: load the YAML, resolve secrets, validate everything once -> frozen models.

``validate`` and the daemon (start-up and SIGHUP) both call :func:`load_config`, so what
``validate`` accepts is exactly what runs. The file's shape is DESIGN.md §4; the annotated
reference is ``config.example.yaml``. Reading the document (strict YAML, line numbers,
``${VAR}``/``file:``/``credential:``) is :mod:`balancewatch.config.yamldoc`. This module is the
public face and the pipeline: text -> document -> secrets resolved -> checked -> :class:`Config`,
and which values must never reach a log. The parts, each re-exported here:

- :mod:`balancewatch.config.models`: the schema, one frozen model per section;
- :mod:`balancewatch.config.validate`: section-by-section validation and the cross-checks;
- :mod:`balancewatch.config.problems`: where each problem is and how it is worded.

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
- Which values are secrets, how long they must be and how they are hidden is
  :mod:`balancewatch.redaction`'s; this module only knows where they are in a config.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Any

from balancewatch.config.http import HttpSettings
from balancewatch.config.interpolate import resolve_secrets
from balancewatch.config.models import (
    ACCOUNT_KEYS,
    SECTIONS,
    TEMPLATE_FIELDS,
    TOP_KEYS,
    Account,
    AppriseUrl,
    Config,
    Count,
    Defaults,
    Effective,
    HeartbeatSettings,
    Jitter,
    LoggingSettings,
    Name,
    Notifier,
    NotifySettings,
    Route,
    RouteMatch,
    RouteRepeat,
    StrictBool,
    Template,
    jitter_spread,
)
from balancewatch.config.problems import (
    Lines,
    Problem,
    YamlPath,
    format_path,
    format_problem,
    line_of,
    value_at,
)
from balancewatch.config.state import StateSettings
from balancewatch.config.validate import Checker, M, cross_check
from balancewatch.config.yamldoc import read_yaml
from balancewatch.model import ConfigError
from balancewatch.redaction import Redactor, hideable, secret_values, url_secrets
from balancewatch.state import url_secrets as state_url_secrets

__all__ = [
    "ACCOUNT_KEYS",
    "SECTIONS",
    "SYSTEM_CONFIG_PATH",
    "TEMPLATE_FIELDS",
    "TOP_KEYS",
    "Account",
    "AppriseUrl",
    "Config",
    "Count",
    "Defaults",
    "Effective",
    "HeartbeatSettings",
    "HttpSettings",
    "Jitter",
    "LoggingSettings",
    "M",
    "Name",
    "Notifier",
    "NotifySettings",
    "Route",
    "RouteMatch",
    "RouteRepeat",
    "StateSettings",
    "StrictBool",
    "Template",
    "default_config_path",
    "jitter_spread",
    "load_config",
    "parse_config",
    "state_location",
    "state_path",
]

SYSTEM_CONFIG_PATH = Path("/etc/balancewatch/config.yaml")


def state_path(config: Config, environ: Mapping[str, str] | None = None) -> Path:
    """The SQLite file of ``config`` (see :meth:`StateSettings.db_path`)."""
    return config.state.db_path(environ)


def state_location(config: Config, environ: Mapping[str, str] | None = None) -> Path | str:
    """The state of ``config``: its PostgreSQL URL, else its SQLite file
    (:func:`balancewatch.state.open_store` opens either)."""
    return config.state.location(environ)


# ---------------------------------------------------------------- secrets


def _collect_secrets(fields: dict[str, Any], interpolated: set[str]) -> frozenset[str]:
    """What the loaded config must keep out of logs (the rules: :mod:`balancewatch.redaction`)."""
    urls = [
        url
        for notifier in fields.get("notifiers", {}).values()
        for url in (notifier.urls if notifier is not None else ())
    ]
    state = fields.get("state")
    database: frozenset[str] | set[str] = set()
    if isinstance(state, StateSettings) and state.url is not None:
        database = state_url_secrets(state.url.get_secret_value())  # its password alone too
    beat = fields.get("heartbeat")
    if isinstance(beat, HeartbeatSettings):  # a ping URL's path is usually its token
        urls.append(beat.url.get_secret_value())
    return hideable(interpolated, secret_values(fields), _apprise_secrets(urls), database)


def _apprise_secrets(urls: list[str]) -> set[str]:
    return {s for url in urls for s in url_secrets(url, path_tokens=True)}


# ---------------------------------------------------------------- API


def parse_config(
    text: str,
    *,
    source: str = "config.yaml",
    environ: Mapping[str, str] | None = None,
    base_dir: Path | None = None,
    secrets: bool = True,
) -> Config:
    """Validate config text; every problem at once as one ConfigError.

    ``source`` names the file in messages; ``base_dir`` anchors relative ``file:`` paths
    (the working directory by default); ``environ`` defaults to ``os.environ``.

    ``secrets=False`` is for the commands that neither poll nor send (``status``,
    ``history``, ``silence``, ``replay``), run by an operator who does not have the
    service's credentials: a ``${VAR}``, ``file:`` or ``credential:`` that cannot be resolved
    is kept as written and listed in :attr:`Config.unresolved` instead of being an error,
    unless the config cannot do without it (``state:`` names the database those commands
    read; a value the schema refuses as written, such as an ``interval`` or a ``base_url``,
    is still reported as the missing variable). Notifier URLs are not shown to Apprise.
    """
    env = os.environ if environ is None else environ
    document = read_yaml(text, source)
    resolved = resolve_secrets(document.data, env, base_dir)
    deferred = [] if secrets else [p for p in resolved.problems if p.path[:1] != ("state",)]
    lines = document.lines
    early = [*document.problems, *(p for p in resolved.problems if p not in deferred)]
    del document  # resolved.data is document.data, resolved in place
    unresolved_accounts = {
        p.path[1] for p in resolved.problems if p.path[:1] == ("accounts",) and len(p.path) > 1
    }
    checker = Checker(resolved.data, lines, check_urls=secrets, keep=unresolved_accounts)
    fields = checker.sections()
    if fields:
        cross_check(checker, fields)
    later = [p for p in checker.problems if not _below_any(p.path, early)]
    needed = [d for d in deferred if any(_below_any(p.path, [d]) for p in later)]
    problems = early + needed + [p for p in later if not _below_any(p.path, deferred)]
    secrets_found = _collect_secrets(fields, resolved.secrets)
    if problems:
        hidden = secrets_found | _apprise_secrets(_strings(checker.data.get("notifiers")))
        hidden -= {str(value_at(resolved.data, p.path)) for p in resolved.problems}
        # (a value that could not be resolved is left as the file wrote it: no secret)
        raise ConfigError(_report(problems, source, lines, hidden), source)
    unresolved = tuple(format_path(p.path) for p in deferred)
    return Config.model_validate({**fields, "secrets": secrets_found, "unresolved": unresolved})


def _below_any(path: YamlPath, problems: list[Problem]) -> bool:
    """A value that could not be read is not complained about a second time."""
    return any(path[: len(p.path)] == p.path for p in problems)


def _report(problems: list[Problem], source: str, lines: Lines, secrets: Set[str]) -> list[str]:
    located = [(p.line or line_of(p.path, lines), p) for p in problems]
    located.sort(key=lambda pair: pair[0])
    hidden = Redactor(secrets)
    report = [hidden.hide(format_problem(p, source, lines)) for _line, p in located]
    return list(dict.fromkeys(report))


def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, list):
        return [s for item in value for s in _strings(item)]
    return [value] if isinstance(value, str) else []


def load_config(
    path: Path | str, *, environ: Mapping[str, str] | None = None, secrets: bool = True
) -> Config:
    """Read and validate the file at ``path`` (the one thing ``validate`` and ``run`` do);
    ``secrets=False``: see :func:`parse_config`."""
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
    config = parse_config(
        text, source=str(path), environ=environ, base_dir=path.parent, secrets=secrets
    )
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
