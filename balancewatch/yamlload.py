"""Reading the config document: strict YAML, line numbers, and secrets resolved.

This is the first half of loading a config (``config.py`` validates what comes out). It
knows nothing of the schema; it turns text into plain data that can be trusted to mean
what the operator wrote, and remembers where each part was written:

- **Strict YAML.** PyYAML follows YAML 1.1, which quietly keeps the last of two duplicate
  keys, reads ``no``/``on`` as booleans, ``010`` as 8 and ``2024-01-01`` as a date. The
  :class:`StrictLoader` resolves like YAML 1.2's core schema instead: booleans only from
  ``true``/``false`` (any case), integers decimal (``010`` is 10), ``0x1F`` or ``0o17``,
  floats as :class:`~decimal.Decimal` built from the text (a float never touches money),
  no dates, no merge keys; duplicate keys, ``.nan`` and ``.inf`` are problems.
- **Lines.** Every mapping key and sequence item is recorded by its path, e.g.
  ``("accounts", 1, "rules", 0)`` -> 12, so that each problem names the line to fix.
- **Secrets** (:func:`resolve_secrets`), applied to string values after parsing so that
  YAML quoting is never broken by what a variable contains: ``${NAME}``,
  ``${NAME:-default}`` (default when unset or empty), ``$${`` for a literal ``${``; a whole
  value ``file:/path`` (one trailing newline stripped; relative to the config's directory)
  or ``credential:NAME`` (``$CREDENTIALS_DIRECTORY/NAME``, systemd's ``LoadCredential=``).
  Keys are never interpolated. Every value that came from the environment or a file is
  remembered as a secret (defaults are written in the file, so they are not).

Problems are collected, not raised one by one: the operator sees every mistake at once.
A value that could not be read is left as written, and ``config.py`` drops any further
complaint about that same path, so one mistake is one line. What a problem is, how it is
located and worded (pydantic's errors included) is :mod:`balancewatch.config_errors`; its
names are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from balancewatch.config_errors import (
    NAME_PATTERN,
    Lines,
    Problem,
    YamlPath,
    allowed_keys,
    did_you_mean,
    format_path,
    format_problem,
    line_of,
    pydantic_problems,
    unknown_key,
)
from balancewatch.model import ConfigError

__all__ = [
    "MAX_SECRET_FILE_BYTES",
    "MAX_VALUES",
    "MIN_SECRET_LENGTH",
    "NAME_PATTERN",
    "Document",
    "Lines",
    "Problem",
    "Resolved",
    "StrictLoader",
    "YamlPath",
    "allowed_keys",
    "did_you_mean",
    "format_path",
    "format_problem",
    "line_of",
    "load_yaml",
    "pydantic_problems",
    "read_yaml",
    "resolve_secrets",
    "unknown_key",
]

MAX_VALUES = 100_000
"""Aliases can make a small file expand enormously ("billion laughs"). Without aliases a
document holds fewer values than characters, so the limit is this or the text's length,
whichever is larger: a 10,000-account config loads, a small file cannot explode."""

MAX_SECRET_FILE_BYTES = 1 << 20

MIN_SECRET_LENGTH = 4
"""Shorter values (``5m``, ``TND``) would redact ordinary words out of every log line."""

_TAG = "tag:yaml.org,2002:"


# ---------------------------------------------------------------- strict YAML


class StrictLoader(yaml.SafeLoader):
    """A SafeLoader that resolves scalars like YAML 1.2's core schema and keeps positions.

    Use :meth:`build` on the composed root node: it constructs plain dicts, lists and
    scalars, recording the line of every key and item in :attr:`lines` and every mistake in
    :attr:`problems` (it raises only when the document is unusable as a whole).
    """

    yaml_implicit_resolvers = {}  # noqa: RUF012  (a clean slate: only the resolvers below)

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.lines: dict[YamlPath, int] = {}
        self.problems: list[Problem] = []
        self._values = 0
        self._limit = max(MAX_VALUES, len(stream))

    def construct_document(self, node: Node) -> Any:
        """So that ``yaml.load(text, Loader=StrictLoader)`` is strict too (and raises)."""
        data = self.build(node)
        if self.problems:
            raise ConfigError([f"{format_path(p.path)}: {p.message}" for p in self.problems])
        return data

    def build(self, node: Node, path: YamlPath = (), active: frozenset[int] = frozenset()) -> Any:
        """Plain data from ``node``; ``active`` guards against an alias that contains itself."""
        self._values += 1
        if self._values > self._limit:
            raise ConfigError(f"the config expands to more than {self._limit} values (aliases?)")
        if id(node) in active:
            self.problems.append(Problem(path, "an alias refers to a value that contains it"))
            return None
        if isinstance(node, MappingNode):
            return self._mapping(node, path, active | {id(node)})
        if isinstance(node, SequenceNode):
            items = []
            for index, item in enumerate(node.value):
                self.lines[(*path, index)] = item.start_mark.line + 1
                items.append(self.build(item, (*path, index), active | {id(node)}))
            return items
        assert isinstance(node, ScalarNode)
        return self._scalar(node, path)

    def _mapping(self, node: MappingNode, path: YamlPath, active: frozenset[int]) -> Any:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            if not isinstance(key_node, ScalarNode):
                self.problems.append(Problem(path, "a key must be plain text", line))
                continue
            key = str(key_node.value)
            if key == "<<" and key_node.style is None:
                merge = Problem((*path, key), "YAML merge keys (<<) are not supported", line)
                self.problems.append(merge)
                continue
            if key in first_line:
                message = f"duplicate key {key!r} (first at line {first_line[key]})"
                self.problems.append(Problem((*path, key), message, line))
                continue
            first_line[key] = line
            self.lines[(*path, key)] = line
            result[key] = self.build(value_node, (*path, key), active)
        return result

    def _scalar(self, node: ScalarNode, path: YamlPath) -> Any:
        text, tag = str(node.value), node.tag.removeprefix(_TAG)
        try:
            return _SCALARS[tag](text)
        except KeyError:
            message = f"the tag {node.tag!r} is not supported here"
        except ValueError as exc:
            message = str(exc)
        line = node.start_mark.line + 1
        self.problems.append(Problem(path, message, line))
        return text


def _null(text: str) -> None:
    if text not in ("", "~", "null", "Null", "NULL"):
        raise ValueError(f"{text[:40]!r} is not null")


def _bool(text: str) -> bool:
    if text.lower() not in ("true", "false"):
        raise ValueError(f"{text[:40]!r} is not a boolean: write true or false")
    return text.lower() == "true"


def _int(text: str) -> int:
    """Decimal (``010`` is ten, not eight), ``0x1F`` or ``0o17``."""
    try:
        if text.startswith(("0x", "0o")):
            return int(text[2:], 16 if text[1] == "x" else 8)
        return int(text, 10)
    except ValueError:
        raise ValueError(f"{text[:40]!r} is not an integer (or has too many digits)") from None


def _float(text: str) -> Decimal:
    """A Decimal built from the text itself: ``0.1`` stays exactly one tenth."""
    if text.lstrip("+-").lower() in (".nan", ".inf"):
        raise ValueError(f"{text!r} is not a finite number (NaN and infinity are never amounts)")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise ValueError(f"{text[:40]!r} is not a number") from None


_SCALARS: dict[str, Any] = {
    "str": str,
    "null": _null,
    "bool": _bool,
    "int": _int,
    "float": _float,
}

for _tag, _pattern, _first in (
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("bool", r"^(?:[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee])$", list("tTfF")),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", list("-+0123456789")),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        list("-+.0123456789"),
    ),
):
    StrictLoader.add_implicit_resolver(_TAG + _tag, re.compile(_pattern), _first)


@dataclass(frozen=True, slots=True)
class Document:
    """What the YAML said, where it said it, and what was wrong with it."""

    data: Any
    lines: Lines
    problems: tuple[Problem, ...] = ()


def read_yaml(text: str, source: str) -> Document:
    """Parse ``text``, collecting problems; raises ConfigError only when nothing is usable."""
    loader = StrictLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            raise ConfigError(f"{source}: the config is empty", source)
        data = loader.build(node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: YAML syntax error: {exc.problem}", source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}", source) from None
    except RecursionError:
        raise ConfigError(f"{source}: the config is nested too deeply", source) from None
    finally:
        loader.dispose()
    loader.lines[()] = node.start_mark.line + 1
    return Document(data, dict(loader.lines), tuple(loader.problems))


def load_yaml(text: str, source: str) -> tuple[Any, Lines]:
    """``(data, lines)`` of a strict YAML document; any problem raises one ConfigError."""
    document = read_yaml(text, source)
    if document.problems:
        lines = document.lines
        raise ConfigError([format_problem(p, source, lines) for p in document.problems], source)
    return document.data, document.lines


# ---------------------------------------------------------------- secrets

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
    """Replace references in every string value (keys untouched), collecting problems."""
    resolved = Resolved(None)
    resolver = _Resolver(environ, base_dir or Path(), resolved.secrets)
    resolved.data = _walk(data, (), resolver, resolved.problems)
    return resolved


def _walk(value: Any, path: YamlPath, resolver: _Resolver, problems: list[Problem]) -> Any:
    if isinstance(value, dict):
        return {k: _walk(v, (*path, k), resolver, problems) for k, v in value.items()}
    if isinstance(value, list):
        return [_walk(v, (*path, i), resolver, problems) for i, v in enumerate(value)]
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
        """Replace ``${...}``; ``remember`` is off for file paths, which are not secret."""
        if "${" not in text:
            return text
        return _REFERENCE.sub(lambda match: self._substitute(match, remember), text)

    def _substitute(self, match: re.Match[str], remember: bool) -> str:
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
            raise _Unresolvable(f"the environment variable {name} is not set")
        if remember:
            self._remember(value)
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
        self._remember(text)
        return text

    def _remember(self, value: str) -> None:
        if len(value) >= MIN_SECRET_LENGTH:
            self.secrets.add(value)
