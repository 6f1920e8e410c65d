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
complaint about that same path, so one mistake is one line.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from balancewatch.model import ConfigError

YamlPath = tuple[str | int, ...]
"""Where a value sits: mapping keys and list indexes from the document's root."""

Lines = Mapping[YamlPath, int]

MAX_VALUES = 100_000
"""Aliases can make a small file expand enormously ("billion laughs"); no config needs this."""

MAX_SECRET_FILE_BYTES = 1 << 20

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
"""Account, notifier and rule names: reported as such when a name does not match."""

MIN_SECRET_LENGTH = 4
"""Shorter values (``5m``, ``TND``) would redact ordinary words out of every log line."""

_TAG = "tag:yaml.org,2002:"


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake: where (YAML path, and the line when the path alone cannot say) and what."""

    path: YamlPath
    message: str
    line: int | None = None


def format_path(path: YamlPath) -> str:
    """``accounts[1].rules[0].threshold.below``: the path as the operator reads it."""
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


def line_of(path: YamlPath, lines: Lines) -> int:
    """The line of ``path``, else of its nearest ancestor (a missing key: its mapping)."""
    for end in range(len(path), -1, -1):
        if path[:end] in lines:
            return lines[path[:end]]
    return 1


def format_problem(problem: Problem, source: str, lines: Lines) -> str:
    """``config.yaml:14: accounts[1].rules[0].threshold.below: <message>``."""
    line = problem.line if problem.line is not None else line_of(problem.path, lines)
    where = format_path(problem.path)
    return (
        f"{source}:{line}: {where}: {problem.message}"
        if where
        else (f"{source}:{line}: {problem.message}")
    )


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

    def construct_document(self, node: Node) -> Any:
        """So that ``yaml.load(text, Loader=StrictLoader)`` is strict too (and raises)."""
        data = self.build(node)
        if self.problems:
            raise ConfigError([f"{format_path(p.path)}: {p.message}" for p in self.problems])
        return data

    def build(self, node: Node, path: YamlPath = (), active: frozenset[int] = frozenset()) -> Any:
        """Plain data from ``node``; ``active`` guards against an alias that contains itself."""
        self._values += 1
        if self._values > MAX_VALUES:
            raise ConfigError(f"the config expands to more than {MAX_VALUES} values (aliases?)")
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


# ---------------------------------------------------------------- pydantic errors, located


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'warning'?)`` when a choice is close, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def pydantic_problems(
    exc: ValidationError, prefix: YamlPath, data: Any, model: type[BaseModel]
) -> list[Problem]:
    """Problems at the paths the operator wrote, from pydantic's errors on ``data``.

    A ``loc`` step is kept only if it is a key or index present in ``data`` there (or the
    name of a missing key); anything else is pydantic's own (union branch tags such as
    ``function-after[_one_level(), Levels]``). When a union fails in every branch, only the
    branch that matches the shape of the input speaks: a mapping -> the model's errors,
    anything else -> the scalar's. So one mistake is one line.
    """
    located = [_locate(error, data) for error in exc.errors(include_url=False)]
    chosen = _choose_branches(located, data)
    problems: list[Problem] = []
    for error, path, branches in located:
        if all(chosen[where] == tag for where, tag in branches.items()):
            problem = Problem((*prefix, *path), _message(error, path, model))
            if problem not in problems:
                problems.append(problem)
    return problems


_Located = tuple[Mapping[str, Any], YamlPath, dict[YamlPath, str]]


def _locate(error: Mapping[str, Any], data: Any) -> _Located:
    """The user's path of an error, and the union branch it took at each dropped step."""
    node, path = data, []
    branches: dict[YamlPath, str] = {}
    loc = error["loc"]
    for position, step in enumerate(loc):
        if _has(node, step):
            node = node[step]
            path.append(step)
        elif error["type"] == "missing" and position == len(loc) - 1:
            path.append(str(step))
        else:
            branches.setdefault(tuple(path), str(step))
    return error, tuple(path), branches


def _has(node: Any, step: str | int) -> bool:
    if isinstance(node, dict):
        return isinstance(step, str) and step in node
    return isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node)


def _choose_branches(located: list[_Located], data: Any) -> dict[YamlPath, str]:
    """At each place where errors took different branches, the one to report."""
    tags: dict[YamlPath, list[str]] = {}
    for _error, _path, branches in located:
        for where, tag in branches.items():
            tags.setdefault(where, [])
            if tag not in tags[where]:
                tags[where].append(tag)
    chosen = {}
    for where, seen in tags.items():
        wants_model = isinstance(_value_at(data, where), dict)
        matching = [tag for tag in seen if _is_model_branch(tag) == wants_model]
        chosen[where] = (matching or seen)[0]
    return chosen


def _is_model_branch(tag: str) -> bool:
    """``function-after[_one_level(), Levels]`` is a model; ``...decimal]`` is a scalar."""
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tag)
    return bool(names) and names[-1][0].isupper()


def _value_at(data: Any, path: YamlPath) -> Any:
    for step in path:
        data = data[step]
    return data


_SHAPES = {
    dict: "a mapping",
    list: "a list",
    str: "text",
    bool: "a boolean",
    int: "a whole number",
    Decimal: "a decimal number",
    type(None): "empty",
}
_MESSAGES = {
    "model_type": "expected a mapping (key: value), not {shape}",
    "dict_type": "expected a mapping (key: value), not {shape}",
    "model_attributes_type": "expected a mapping (key: value), not {shape}",
    "list_type": "expected a list, not {shape}",
    "tuple_type": "expected a list, not {shape}",
    "string_type": "expected text, not {shape}",
    "int_type": "expected a whole number, not {shape}",
    "int_parsing": "expected a whole number",
    "bool_type": "expected true or false, not {shape}",
    "greater_than_equal": "must be at least {ge}",
    "greater_than": "must be more than {gt}",
    "too_short": "give at least {min_length}",
}


def _message(error: Mapping[str, Any], path: YamlPath, model: type[BaseModel]) -> str:
    """pydantic's wording made the operator's: no prefixes, no internals, no long inputs."""
    kind, value = error["type"], error.get("input")
    if kind == "missing":
        return f"{path[-1]!r} is required"
    if kind == "extra_forbidden":
        return unknown_key(str(path[-1]), allowed_keys(model, path[:-1]))
    if kind == "bool_type" and isinstance(value, str) and len(value) <= 5:
        return f"{value!r} is not a boolean here: write true or false"
    if kind == "string_pattern_mismatch" and error.get("ctx", {}).get("pattern") == NAME_PATTERN:
        return "use only letters, digits, '-' and '_'"
    if kind in _MESSAGES:
        shape = _SHAPES.get(type(value), type(value).__name__)
        return _MESSAGES[kind].format(shape=shape, **error.get("ctx", {}))
    message = str(error["msg"])
    for noise in ("Value error, ", "Assertion failed, ", "Input ", "String "):
        message = message.removeprefix(noise)
    if isinstance(value, str) and len(value) > 40:
        message = message.replace(value, f"<{len(value)} characters>")  # may be a secret
    return message


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'warnin' (did you mean 'warning'?)``, else the short list of keys."""
    allowed = sorted(allowed)
    hint = did_you_mean(key, allowed)
    if not hint and 0 < len(allowed) <= 10:
        hint = f" (expected one of: {', '.join(allowed)})"
    return f"unknown key {key[:40]!r}{hint}"


def allowed_keys(model: type[BaseModel], path: YamlPath) -> set[str]:
    """The keys of the mapping at ``path``, found by walking the model's field types."""
    types: list[Any] = [model]
    for step in path:
        types = [inner for tp in types for inner in _step(tp, step)]
    return {key for tp in types for key in _fields(tp)}


def _step(tp: Any, step: str | int) -> list[Any]:
    found = []
    for option in _options(tp):
        args = get_args(option)
        if isinstance(step, str) and isinstance(option, type) and issubclass(option, BaseModel):
            fields = option.model_fields.items()
            found += [f.annotation for name, f in fields if step in (name, f.alias)]
        elif isinstance(step, int) and get_origin(option) in (list, tuple):
            found.append(args[0])
        elif isinstance(step, str) and get_origin(option) in (dict, Mapping):
            found.append(args[1])
    return found


def _fields(tp: Any) -> list[str]:
    return [
        f.alias or name
        for option in _options(tp)
        if isinstance(option, type) and issubclass(option, BaseModel)
        for name, f in option.model_fields.items()
    ]


def _options(tp: Any) -> list[Any]:
    """The alternatives of a type: unions and Optional split, Annotated unwrapped."""
    origin = get_origin(tp)
    if origin is Annotated:
        return _options(get_args(tp)[0])
    if origin in (Union, UnionType):
        return [inner for arg in get_args(tp) for inner in _options(arg)]
    return [tp]
