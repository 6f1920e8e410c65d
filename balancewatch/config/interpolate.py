"""Secrets in the config's plain data: ``${NAME}``, ``file:``, ``credential:``.

Applied to string values after parsing (:mod:`balancewatch.config.yamldoc`), so that YAML quoting
is never broken by what a variable contains: ``${NAME}``, ``${NAME:-default}`` (default
when unset or empty), ``$${`` for a literal ``${``; a whole value ``file:/path`` (one
trailing newline stripped; relative to the config's directory) or ``credential:NAME``
(``$CREDENTIALS_DIRECTORY/NAME``, systemd's ``LoadCredential=``). Keys are never
interpolated. Every value that came from the environment or a file is remembered as a
secret (defaults are written in the file, so they are not); which of them are long enough
to hide is :mod:`balancewatch.redaction`'s rule. Problems are collected, one
per value, with the value's path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from balancewatch.config.problems import Problem, YamlPath

MAX_SECRET_FILE_BYTES = 1 << 20

_REFERENCE = re.compile(
    r"\$\$\{|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?::-(?P<default>[^}]*))?\}|\$\{"
)
_CREDENTIAL_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]*$")


@dataclass
class Resolved:
    """The data with every reference replaced, the problems, and the values to keep secret."""

    data: Any
    problems: list[Problem] = field(default_factory=list)
    secrets: set[str] = field(default_factory=set)


class _Unresolvable(Exception):
    """A reference that cannot be resolved; the message names the variable or file."""


def resolve_secrets(data: Any, environ: Mapping[str, str], base_dir: Path | None) -> Resolved:
    """Replace references in every string value (keys untouched, ``data`` changed in place),
    collecting problems."""
    resolved = Resolved(None)
    resolver = _Resolver(environ, base_dir or Path(), resolved.secrets)
    resolved.data = _walk(data, (), resolver, resolved.problems)
    return resolved


def _walk(value: Any, path: YamlPath, resolver: _Resolver, problems: list[Problem]) -> Any:
    """``value`` with its strings resolved. Mappings and lists are changed in place: a copy
    of a 10,000-account document would be ~11 MB more at the peak of the load (the YAML
    reader gives an alias its own copy, so nothing is shared)."""
    if isinstance(value, dict):
        for k, v in value.items():
            value[k] = _walk(v, (*path, k), resolver, problems)
        return value
    if isinstance(value, list):
        for i, v in enumerate(value):
            value[i] = _walk(v, (*path, i), resolver, problems)
        return value
    if not isinstance(value, str):
        return value
    try:
        return resolver.resolve(value)
    except _Unresolvable as exc:
        problems.append(Problem(path, str(exc)))
        return value


@dataclass
class _Resolver:
    environ: Mapping[str, str]
    base_dir: Path
    secrets: set[str]

    def resolve(self, text: str) -> str:
        if text.startswith("file:"):
            target = Path(self.interpolate(text.removeprefix("file:"), remember=False))
            return self._read(self.base_dir / target, f"the secret file {str(target)!r}")
        if text.startswith("credential:"):
            return self._credential(text.removeprefix("credential:"))
        return self.interpolate(text)

    def interpolate(self, text: str, *, remember: bool = True) -> str:
        """Replace ``${...}``; ``remember`` is off for file paths, which are not secret.

        Every missing variable of the value is named at once (``"${HOST}:${PORT}"`` with
        both unset names both), so fixing one does not reveal the next.
        """
        if "${" not in text:
            return text
        missing: list[str] = []
        result = _REFERENCE.sub(lambda match: self._substitute(match, remember, missing), text)
        if missing:
            raise _Unresolvable(_not_set(missing))
        return result

    def _substitute(self, match: re.Match[str], remember: bool, missing: list[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name = match.group("name")
        if name is None:
            raise _Unresolvable("'${' must start ${NAME} or ${NAME:-default} (write $${ for '${')")
        value = self.environ.get(name)
        default = match.group("default")
        if default is not None and not value:
            return default
        if value is None:
            if name not in missing:
                missing.append(name)
            return match.group(0)
        if remember:
            self.secrets.add(value)
        return value

    def _credential(self, name: str) -> str:
        if not _CREDENTIAL_NAME.match(name):
            raise _Unresolvable(f"{name[:40]!r} is not a credential name (no '/', no leading '.')")
        directory = self.environ.get("CREDENTIALS_DIRECTORY")
        if not directory:
            raise _Unresolvable(
                f"credential:{name} needs $CREDENTIALS_DIRECTORY, which is not set "
                "(set LoadCredential= in the systemd unit)"
            )
        return self._read(Path(directory) / name, f"the credential {name!r}")

    def _read(self, path: Path, what: str) -> str:
        try:
            with path.open("rb") as handle:
                raw = handle.read(MAX_SECRET_FILE_BYTES + 1)
            text = raw.decode("utf-8")
        except OSError as exc:
            raise _Unresolvable(f"cannot read {what} ({path}): {exc.strerror or exc}") from None
        except UnicodeDecodeError:
            raise _Unresolvable(f"{what} ({path}) is not UTF-8 text") from None
        if len(raw) > MAX_SECRET_FILE_BYTES:
            raise _Unresolvable(f"{what} ({path}) is larger than {MAX_SECRET_FILE_BYTES} bytes")
        text = text.removesuffix("\n").removesuffix("\r")
        self.secrets.add(text)
        return text


def _not_set(names: list[str]) -> str:
    if len(names) == 1:
        return f"the environment variable {names[0]} is not set"
    listed = f"{', '.join(names[:-1])} and {names[-1]}"
    return f"the environment variables {listed} are not set"
