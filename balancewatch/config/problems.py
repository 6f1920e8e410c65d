"""Config problems: where each one is (YAML path, line) and how it is worded.

A :class:`Problem` is a path from the document's root and a message; it is formatted as
``config.yaml:14: accounts[1].rules[0].threshold.below: <message>``, the path as the
operator wrote it and the line of its key (for a missing key, of its mapping).

Most problems start as pydantic's errors; :func:`pydantic_problems` maps them onto the
paths the operator wrote: pydantic's union branch tags dropped, one branch speaking for a
union that failed in all of them, and the wording made the operator's (no prefixes, no
internals, no long inputs that might be secrets). :func:`unknown_key` and
:func:`did_you_mean` suggest the key or name that was probably meant.

Reading the document is :mod:`balancewatch.config.yamldoc`; validating it is
:mod:`balancewatch.config.validate`. Both report through this module.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import UnionType
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError

YamlPath = tuple[str | int, ...]
"""Where a value sits: mapping keys and list indexes from the document's root."""

Lines = Mapping[YamlPath, int]

NAME_PATTERN = r"^[A-Za-z0-9_-]+$"
"""Account, notifier and rule names: reported as such when a name does not match."""


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


def value_at(data: Any, path: YamlPath) -> Any:
    """The value at ``path`` in plain data, or ``None`` when any step is missing."""
    for step in path:
        found = isinstance(data, dict) and step in data
        if not found and not (
            isinstance(data, list) and isinstance(step, int) and step < len(data)
        ):
            return None
        data = data[step]
    return data


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'warning'?)`` when a choice is close, else an empty string."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def unknown_key(key: str, allowed: Iterable[str]) -> str:
    """``unknown key 'warnin' (did you mean 'warning'?)``, else the short list of keys."""
    allowed = sorted(allowed)
    hint = did_you_mean(key, allowed)
    if not hint and 0 < len(allowed) <= 10:
        hint = f" (expected one of: {', '.join(allowed)})"
    return f"unknown key {key[:40]!r}{hint}"


# ---------------------------------------------------------------- pydantic errors, located


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
        wants_model = isinstance(value_at(data, where), dict)
        matching = [tag for tag in seen if _is_model_branch(tag) == wants_model]
        chosen[where] = (matching or seen)[0]
    return chosen


def _is_model_branch(tag: str) -> bool:
    """``function-after[_one_level(), Levels]`` is a model; ``...decimal]`` is a scalar."""
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", tag)
    return bool(names) and names[-1][0].isupper()


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
