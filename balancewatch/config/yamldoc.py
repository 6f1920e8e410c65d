"""Reading the config document: strict YAML, line numbers, and secrets resolved.

This is the first half of loading a config (``config.py`` validates what comes out). It
knows nothing of the schema; it turns text into plain data that can be trusted to mean
what the operator wrote, and remembers where each part was written:

- **Strict YAML.** PyYAML follows YAML 1.1, which quietly keeps the last of two duplicate
  keys, reads ``no``/``on`` as booleans, ``010`` as 8 and ``2024-01-01`` as a date. Here
  scalars resolve like YAML 1.2's core schema instead: booleans only from
  ``true``/``false`` (any case), integers decimal (``010`` is 10), ``0x1F`` or ``0o17``,
  floats as :class:`~decimal.Decimal` built from the text (a float never touches money),
  no dates, no merge keys; duplicate keys, ``.nan`` and ``.inf`` are problems, and so are
  an alias with no anchor before it and an anchor defined twice.
- **Fast and small.** The plain data is built straight from the parser's events, never
  through PyYAML's node tree (at 10,000 accounts ~100 MB at once, and a peak of memory stays
  as the daemon's RSS). The parser is libyaml's when PyYAML has it (:data:`PARSERS`), about
  20 times faster than the pure-Python one that stands in for it; both read alike, and a
  syntax error is worded by PyYAML's either way.
- **Lines.** Every mapping key and sequence item is recorded by its path, e.g.
  ``("accounts", 1, "rules", 0)`` -> 12, so that each problem names the line to fix.
- **Secrets** are resolved afterwards, in the plain data: :mod:`balancewatch.config.interpolate`.

Problems are collected, not raised one by one: the operator sees every mistake at once.
A value that could not be read is left as written, and ``config.py`` drops any further
complaint about that same path, so one mistake is one line. What a problem is, how it is
located and worded (pydantic's errors included) is :mod:`balancewatch.config.problems`; its
names are re-exported here for the modules that import them from this one.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import yaml
from yaml.events import (
    AliasEvent,
    CollectionEndEvent,
    CollectionStartEvent,
    Event,
    MappingEndEvent,
    MappingStartEvent,
    NodeEvent,
    ScalarEvent,
    SequenceEndEvent,
    StreamEndEvent,
)
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.scanner import Scanner

from balancewatch.config.problems import (
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
from balancewatch.config.yamlscalars import SCALARS, implicit_kind
from balancewatch.model import ConfigError

__all__ = [
    "MAX_DEPTH",
    "MAX_VALUES",
    "NAME_PATTERN",
    "PARSER",
    "PARSERS",
    "Document",
    "Lines",
    "Problem",
    "YamlPath",
    "allowed_keys",
    "did_you_mean",
    "format_path",
    "format_problem",
    "line_of",
    "load_yaml",
    "pydantic_problems",
    "read_yaml",
    "unknown_key",
]

MAX_VALUES = 100_000
"""Aliases can make a small file expand enormously ("billion laughs"). Without aliases a
document holds fewer values than characters, so the limit is this or the text's length,
whichever is larger: a 10,000-account config loads, a small file cannot explode."""

MAX_DEPTH = 200
"""A config nests about eight levels; hundreds are a mistake (or an attempt on the stack)."""

_TAG = "tag:yaml.org,2002:"


# ---------------------------------------------------------------- strict YAML


class _Events(Protocol):
    """What the builder needs of a parser: PyYAML's and libyaml's both have it."""

    def check_event(self, *choices: type[Event]) -> bool: ...
    def get_event(self) -> Any: ...
    def dispose(self) -> None: ...


class _PythonParser(Reader, Scanner, Parser):
    """PyYAML's pure-Python parser alone: the events, without the composer's node tree."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)


PARSERS: dict[str, Callable[[str], _Events]] = {"python": _PythonParser}
"""The parsers :func:`read_yaml` can use; libyaml's (about 20 times faster) when present."""
if yaml.__with_libyaml__:  # PyYAML built with libyaml (its wheels are)
    PARSERS["libyaml"] = yaml.CBaseLoader  # of which only the parser's events are used

PARSER = "libyaml" if "libyaml" in PARSERS else "python"
"""The parser :func:`read_yaml` uses unless told otherwise."""


class _TooDeep(Exception):
    """Nesting deeper than :data:`MAX_DEPTH`."""


class _Builder:
    """Plain data from a parser's events, the line of every key and item, and the problems.

    The data is built straight from the events, without PyYAML's node tree in between: at
    10,000 accounts that tree alone is ~100 MB, and a peak of memory stays as the daemon's
    RSS. An anchored value's events are kept, and each alias replays them: the alias gets
    its own copy, with lines and problems under its own path, as if written out there.
    """

    def __init__(self, parser: _Events, limit: int, *, lines: bool) -> None:
        self.lines: dict[YamlPath, int] | None = {} if lines else None
        self.problems: list[Problem] = []
        self._parser = parser
        self._limit = limit
        self._values = 0
        self._anchors: dict[str, tuple[int, list[Event]]] = {}
        self._recording: list[list[Event]] = []  # the events of each anchored value still open
        self._replaying: list[Iterator[Event]] = []
        self._open: set[str] = set()  # anchors being recorded or replayed: an alias loops

    def next_event(self) -> Event:
        if self._replaying:
            return next(self._replaying[-1])
        event: Event = self._parser.get_event()
        for events in self._recording:
            events.append(event)
        return event

    def build(self, event: Event, path: YamlPath) -> Any:
        """The value that starts with ``event``, found at ``path``."""
        self._values += 1
        if self._values > self._limit:
            raise ConfigError(f"the config expands to more than {self._limit} values (aliases?)")
        if len(path) > MAX_DEPTH:
            raise _TooDeep
        if isinstance(event, AliasEvent):
            return self._alias(event, path)
        if isinstance(event, ScalarEvent):
            self._anchor(event, path)
            return self._scalar(event, path)
        assert isinstance(event, CollectionStartEvent), event
        anchor = self._anchor(event, path)
        is_mapping = isinstance(event, MappingStartEvent)
        value = self._mapping(path) if is_mapping else self._sequence(path)
        if anchor is not None:
            self._recording.pop()
            self._open.discard(anchor)
        return value

    def _mapping(self, path: YamlPath) -> dict[str, Any]:
        result: dict[str, Any] = {}
        first_line: dict[str, int] = {}
        while not isinstance(key_event := self.next_event(), MappingEndEvent):
            line = _line(key_event)
            if not isinstance(key_event, ScalarEvent):
                self._skip(key_event)
                self._skip(self.next_event())
                self.problems.append(Problem(path, "a key must be plain text", line))
                continue
            self._anchor(key_event, path)
            key = sys.intern(key_event.value)  # 10,000 accounts share one "api_key"
            if key == "<<" and not key_event.style:
                merge = Problem((*path, key), "YAML merge keys (<<) are not supported", line)
                self.problems.append(merge)
                self._skip(self.next_event())
                continue
            if key in first_line:
                message = f"duplicate key {key!r} (first at line {first_line[key]})"
                self.problems.append(Problem((*path, key), message, line))
                self._skip(self.next_event())
                continue
            first_line[key] = line
            if self.lines is not None:
                self.lines[(*path, key)] = line
            result[key] = self.build(self.next_event(), (*path, key))
        return result

    def _sequence(self, path: YamlPath) -> list[Any]:
        items: list[Any] = []
        while not isinstance(event := self.next_event(), SequenceEndEvent):
            if self.lines is not None:
                self.lines[(*path, len(items))] = _line(event)
            items.append(self.build(event, (*path, len(items))))
        return items

    def _scalar(self, event: ScalarEvent, path: YamlPath) -> Any:
        text, tag = event.value, event.tag
        if tag is None or tag == "!":  # as PyYAML's composer resolves
            kind = implicit_kind(text) if event.implicit[0] else "str"
        else:
            kind = tag.removeprefix(_TAG)
        try:
            return SCALARS[kind](text)
        except KeyError:
            message = f"the tag {tag!r} is not supported here"
        except ValueError as exc:
            message = str(exc)
        self.problems.append(Problem(path, message, _line(event)))
        return text

    def _anchor(self, event: NodeEvent, path: YamlPath) -> str | None:
        """Remember an anchored value's events; the anchor if its recording must be closed."""
        name = event.anchor
        if name is None or self._replaying:
            return None
        if name in self._anchors:
            message = f"the anchor &{name} is already defined at line {self._anchors[name][0]}"
            self.problems.append(Problem(path, message, _line(event)))
            return None
        events: list[Event] = [event]
        self._anchors[name] = (_line(event), events)
        if isinstance(event, ScalarEvent):
            return None
        self._recording.append(events)
        self._open.add(name)
        return name

    def _alias(self, event: AliasEvent, path: YamlPath) -> Any:
        name = event.anchor or ""
        if name in self._open:
            self.problems.append(Problem(path, "an alias refers to a value that contains it"))
            return None
        if name not in self._anchors:
            message = f"the alias *{name} refers to no anchor (&{name}) before it"
            self.problems.append(Problem(path, message, _line(event)))
            return None
        replay = iter(self._anchors[name][1])
        self._replaying.append(replay)
        self._open.add(name)
        try:
            return self.build(next(replay), path)
        finally:
            self._open.discard(name)
            self._replaying.pop()

    def _skip(self, event: Event) -> None:
        """Consume the rest of the value that ``event`` starts, without building it."""
        depth = int(isinstance(event, CollectionStartEvent))
        while depth:
            event = self.next_event()
            depth += isinstance(event, CollectionStartEvent) - isinstance(event, CollectionEndEvent)


def _line(event: Event) -> int:
    return event.start_mark.line + 1 if event.start_mark is not None else 1


@dataclass(frozen=True, slots=True)
class Document:
    """What the YAML said, where it said it, and what was wrong with it."""

    data: Any
    lines: Lines
    problems: tuple[Problem, ...] = ()


def read_yaml(text: str, source: str, *, parser: str | None = None) -> Document:
    """Parse ``text``, collecting problems; raises ConfigError only when nothing is usable.

    ``parser`` names one of :data:`PARSERS` (:data:`PARSER` by default).
    """
    try:
        document = _read_worded_by_pyyaml(text, source, parser or PARSER)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark is not None else ""
        raise ConfigError(f"{source}{line}: YAML syntax error: {exc.problem}", source) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: YAML error: {exc}", source) from None
    except (_TooDeep, RecursionError):
        raise ConfigError(f"{source}: the config is nested too deeply", source) from None
    if document is None:
        raise ConfigError(f"{source}: the config is empty", source)
    return document


def _read_worded_by_pyyaml(text: str, source: str, parser: str) -> Document | None:
    """libyaml words its syntax errors its own way (and refuses a few documents PyYAML
    reads, such as ``%YAML 1.3``): such a text is read again by PyYAML's parser, so that
    what the operator sees never depends on whether libyaml is installed. Only a broken
    file pays for that second reading."""
    try:
        return _read(text, source, PARSERS[parser])
    except (yaml.YAMLError, ValueError):  # ValueError: text libyaml cannot encode
        if parser == "python":
            raise
        return _read(text, source, PARSERS["python"])


def _read(
    text: str, source: str, parser_type: Callable[[str], _Events], *, lines: bool = False
) -> Document | None:
    """The single document of ``text`` (``None`` if there is none); ``lines`` found now or,
    by default, read again when first asked for."""
    parser = parser_type(text)
    try:
        parser.get_event()  # the stream's start
        if parser.check_event(StreamEndEvent):
            return None
        parser.get_event()  # the document's start
        builder = _Builder(parser, max(MAX_VALUES, len(text)), lines=lines)
        root = builder.next_event()
        data = builder.build(root, ())
        parser.get_event()  # the document's end
        if not parser.check_event(StreamEndEvent):
            line = _line(parser.get_event())
            message = "YAML syntax error: but found another document"
            raise ConfigError(f"{source}:{line}: {message}", source)
    finally:
        parser.dispose()
    if builder.lines is None:
        return Document(data, _LinesOf(text, source, parser_type), tuple(builder.problems))
    builder.lines[()] = _line(root)
    return Document(data, builder.lines, tuple(builder.problems))


class _LinesOf(Mapping[YamlPath, int]):
    """The line of every key and item, found by reading the text again when first used.

    Only a config with a problem needs them. At 10,000 accounts they are ~200,000 paths,
    22 MB that a valid config would otherwise hold through its validation, at the peak.
    """

    def __init__(self, text: str, source: str, parser_type: Callable[[str], _Events]) -> None:
        self._text, self._source, self._parser_type = text, source, parser_type
        self._lines: Lines | None = None

    def _found(self) -> Lines:
        if self._lines is None:
            document = _read(self._text, self._source, self._parser_type, lines=True)
            self._lines = document.lines if document is not None else {}
            self._text = ""
        return self._lines

    def __getitem__(self, path: YamlPath) -> int:
        return self._found()[path]

    def __iter__(self) -> Iterator[YamlPath]:
        return iter(self._found())

    def __len__(self) -> int:
        return len(self._found())


def load_yaml(text: str, source: str, *, parser: str | None = None) -> tuple[Any, Lines]:
    """``(data, lines)`` of a strict YAML document; any problem raises one ConfigError."""
    document = read_yaml(text, source, parser=parser)
    if document.problems:
        lines = document.lines
        raise ConfigError([format_problem(p, source, lines) for p in document.problems], source)
    return document.data, document.lines
