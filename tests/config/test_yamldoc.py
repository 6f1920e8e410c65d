"""Reading the config document: strict YAML, line numbers, and secrets from the environment.

These pin the YAML 1.1 traps that PyYAML springs by default (see RELIABILITY.md, Config)
and the ``${VAR}`` / ``file:`` / ``credential:`` forms of DESIGN.md §4. Every test runs
with libyaml's parser and with PyYAML's pure-Python one, the fallback when libyaml is
missing: the two must read every document alike.
"""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from balancewatch.config import yamldoc as yamlload
from balancewatch.config.interpolate import resolve_secrets
from balancewatch.config.yamldoc import MAX_DEPTH, PARSERS, load_yaml, read_yaml
from balancewatch.model import ConfigError


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The parser every read in the test uses by default."""
    if request.param not in PARSERS:
        pytest.skip("PyYAML is built without libyaml here")
    monkeypatch.setattr(yamlload, "PARSER", request.param)
    return str(request.param)


def load(text: str) -> Any:
    data, _lines = load_yaml(textwrap.dedent(text), "config.yaml")
    return data


def yaml_problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_yaml(textwrap.dedent(text), "config.yaml")
    return caught.value.problems


# ---------------------------------------------------------------- strict YAML


def test_duplicate_key_names_the_key_its_path_and_both_lines() -> None:
    """PyYAML would keep the second silently; here it is an error pointing at both."""
    problems = yaml_problems(
        """\
        accounts:
          - name: a
            api_key: one
            api_key: two
        """
    )
    assert problems == [
        "config.yaml:4: accounts[0].api_key: duplicate key 'api_key' (first at line 3)"
    ]


def test_only_true_and_false_are_booleans() -> None:
    """The Norway problem: ``no`` is a country code, not False."""
    data = load("a: no\nb: yes\nc: on\nd: OFF\ne: true\nf: FALSE\ng: True\n")
    assert data == {"a": "no", "b": "yes", "c": "on", "d": "OFF", "e": True, "f": False, "g": True}


def test_integers_are_decimal_unless_written_0x_or_0o() -> None:
    """``010`` is ten (YAML 1.1 says eight); hex and 0o octal are explicit, so allowed."""
    data = load("a: 010\nb: 0x1F\nc: 0o17\nd: -7\ne: +3\n")
    assert data == {"a": 10, "b": 31, "c": 15, "d": -7, "e": 3}
    assert isinstance(data["a"], int)


def test_floats_become_exact_decimals() -> None:
    """A float never touches money: ``0.1`` is Decimal('0.1'), built from the text."""
    data = load("a: 0.1\nb: 1e3\nc: -2.50\nd: .5\n")
    assert data == {
        "a": Decimal("0.1"),
        "b": Decimal("1e3"),
        "c": Decimal("-2.50"),
        "d": Decimal("0.5"),
    }
    assert all(isinstance(v, Decimal) for v in data.values())
    assert str(data["c"]) == "-2.50"


@pytest.mark.parametrize("literal", [".nan", ".NaN", ".inf", "-.Inf", "+.INF"])
def test_nan_and_infinity_are_rejected_with_path_and_line(literal: str) -> None:
    """NaN compares False with everything: a low balance would never alert."""
    problems = yaml_problems(f"rules:\n  - below:\n      warning: {literal}\n")
    assert len(problems) == 1
    assert problems[0].startswith("config.yaml:3: rules[0].below.warning: ")
    assert "not a finite number" in problems[0]


def test_quoted_nan_is_just_text() -> None:
    """Only the plain scalar is a YAML float; a quoted one is text for the schema to judge."""
    assert load("a: '.nan'\n") == {"a": ".nan"}


def test_dates_and_times_stay_text() -> None:
    """No timestamp resolution: ``12:30`` is not a sexagesimal number, a date is not a date object."""
    data = load("a: 2024-01-01\nb: 2024-01-01T10:00:00Z\nc: 12:30\n")
    assert data == {"a": "2024-01-01", "b": "2024-01-01T10:00:00Z", "c": "12:30"}


def test_nulls_and_quoted_scalars_keep_their_meaning() -> None:
    """Quoting always makes text."""
    data = load("a:\nb: ~\nc: null\nd: '010'\ne: \"true\"\n")
    assert data == {"a": None, "b": None, "c": None, "d": "010", "e": "true"}


def test_lines_are_recorded_for_every_key_and_item() -> None:
    """The line of a key or list item, by its path, so each problem names the line to fix."""
    text = textwrap.dedent(
        """\
        accounts:
          - name: a
            provider: dhmad
          - name: b
            rules:
              - threshold:
                  below: {warning: 5, critical: 1}
        """
    )
    _data, lines = load_yaml(text, "config.yaml")
    assert lines[("accounts",)] == 1
    assert lines[("accounts", 0)] == 2
    assert lines[("accounts", 0, "provider")] == 3
    assert lines[("accounts", 1, "rules", 0)] == 6
    assert lines[("accounts", 1, "rules", 0, "threshold", "below")] == 7
    assert lines[("accounts", 1, "rules", 0, "threshold", "below", "critical")] == 7


def test_a_syntax_error_names_the_file_and_line() -> None:
    """A broken file is one ConfigError with the line, not a PyYAML traceback."""
    with pytest.raises(ConfigError) as caught:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "my.yaml")
    (problem,) = caught.value.problems
    assert problem.startswith("my.yaml:")
    assert "YAML syntax error" in problem


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n"])
def test_an_empty_file_is_an_error(text: str) -> None:
    """An empty file (or only comments) is a mistake, not an empty config."""
    with pytest.raises(ConfigError, match="the config is empty"):
        load_yaml(text, "config.yaml")


def test_anchors_and_aliases_work_but_merge_keys_are_refused() -> None:
    """Aliases reuse a value; ``<<`` merges are YAML 1.1 only and easy to get wrong."""
    data = load("base: &rules [1, 2]\nother: *rules\n")
    assert data == {"base": [1, 2], "other": [1, 2]}
    problems = yaml_problems("base: &b {x: 1}\nother:\n  <<: *b\n")
    assert problems == ["config.yaml:3: other.<<: YAML merge keys (<<) are not supported"]


def test_an_alias_bomb_is_refused() -> None:
    """A few lines of aliases can expand to billions of values ("billion laughs")."""
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]" for i in range(1, 7)]
    with pytest.raises(ConfigError, match="expands to more than"):
        load_yaml("\n".join(lines) + "\n", "config.yaml")


def test_absurd_nesting_is_an_error_not_a_crash() -> None:
    """PyYAML composes recursively; a RecursionError becomes a config error."""
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml("a: " + "[" * 1500 + "]" * 1500 + "\n", "config.yaml")


def test_unsupported_tags_are_problems() -> None:
    """Explicit tags other than str/int/float/bool/null have no meaning in this config."""
    problems = yaml_problems("a: !!binary aGVsbG8=\n")
    assert problems == [
        "config.yaml:1: a: the tag 'tag:yaml.org,2002:binary' is not supported here"
    ]


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\nb: [1, 2\nc: 3\n",
        "a: 1\n b: 2\n",
        "- a\nb: 1\n",
        "a: @x\n",
        "key: value\n\tother: 1\n",
        "a: 1\n---\nb: 2\n",
        "a: 'not closed\n",
        "%YAML 1.3\n---\na: 1\n",
    ],
)
def test_a_broken_file_reads_the_same_whichever_parser_reads_it(text: str) -> None:
    """libyaml words syntax errors its own way: what the operator reads must not depend on
    whether it is installed, so a file libyaml refuses is read again in pure Python."""

    def outcome(parser: str | None) -> object:
        try:
            document = read_yaml(text, "my.yaml", parser=parser)
        except ConfigError as exc:
            return exc.problems
        return document.data

    assert outcome(None) == outcome("python")


def test_a_syntax_error_is_worded_by_pyyaml() -> None:
    """The wording and the line are PyYAML's, with either parser."""
    with pytest.raises(ConfigError) as caught:
        load_yaml("a: 1\nb: [1, 2\nc: 3\n", "my.yaml")
    assert caught.value.problems == [
        "my.yaml:3: YAML syntax error: expected ',' or ']', but got ':'"
    ]


def test_both_parsers_record_the_same_lines_in_every_style() -> None:
    """Block and flow collections, multi-line and quoted scalars, comments, CRLF line ends."""
    text = (
        '# comment\r\n---\r\nnotifiers:\r\n  a: "x\r\n    y"\r\n  b: |\r\n    one\r\n    two\r\n'
        "accounts:\r\n- {name: a,\r\n   rules: [\r\n     {threshold: {below: 1}}]}\r\n"
        "-   name: b\r\n    # between\r\n    tags:\r\n    - x\r\n    -\r\n      y\r\n"
    )
    lines = read_yaml(text, "c.yaml").lines
    assert lines == read_yaml(text, "c.yaml", parser="python").lines
    assert lines[("notifiers", "b")] == 6
    assert lines[("accounts", 0, "rules", 0, "threshold", "below")] == 12
    assert lines[("accounts", 1, "tags", 1)] == 18  # where the item's value starts


def test_an_alias_is_read_as_if_written_out_where_it_stands() -> None:
    """Each alias is its own copy: its mistakes are reported under its own path too."""
    document = read_yaml("base: &b {warning: .nan}\nother: *b\n", "c.yaml")
    assert [(p.path, p.line) for p in document.problems] == [
        (("base", "warning"), 1),
        (("other", "warning"), 1),
    ]
    assert document.lines[("other",)] == 2
    assert document.lines[("other", "warning")] == 1


def test_an_alias_of_what_contains_it_is_a_problem_not_a_loop() -> None:
    """``&a [*a]`` is a value inside itself: there is no plain data for it."""
    problems = yaml_problems("a: &a [1, *a]\nb: *a\n")
    assert problems == [
        "config.yaml:1: a[1]: an alias refers to a value that contains it",
        "config.yaml:1: b[1]: an alias refers to a value that contains it",
    ]


def test_an_unknown_alias_and_a_repeated_anchor_are_problems() -> None:
    """Reported with every other mistake, each at its line."""
    problems = yaml_problems("a: &x 1\nb: *y\nc: &x 2\n")
    assert problems == [
        "config.yaml:2: b: the alias *y refers to no anchor (&y) before it",
        "config.yaml:3: c: the anchor &x is already defined at line 1",
    ]


def test_nesting_is_limited_but_not_below_what_a_config_could_use() -> None:
    """MAX_DEPTH levels read; one more is an error, not a deep recursion."""
    assert load_yaml("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "c.yaml")[0] is not None
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_yaml("[" * (MAX_DEPTH + 2) + "]" * (MAX_DEPTH + 2), "c.yaml")


# ---------------------------------------------------------------- secrets


def resolve(value: Any, environ: dict[str, str] | None = None, base_dir: Path | None = None) -> Any:
    resolved = resolve_secrets({"key": value}, environ or {}, base_dir)
    assert resolved.problems == []
    return resolved.data["key"]


def test_variables_are_replaced_from_the_given_environment() -> None:
    """The environment is a parameter, so tests never touch the real one."""
    assert resolve("Bearer ${TOKEN}", {"TOKEN": "abc123"}) == "Bearer abc123"
    assert resolve(["${A}-${B}"], {"A": "x", "B": "y"}) == ["x-y"]


def test_a_default_applies_when_the_variable_is_unset_or_empty() -> None:
    """Like the shell's ``${NAME:-default}``."""
    assert resolve("${LEVEL:-info}") == "info"
    assert resolve("${LEVEL:-info}", {"LEVEL": ""}) == "info"
    assert resolve("${LEVEL:-info}", {"LEVEL": "debug"}) == "debug"
    assert resolve("${EMPTY:-}") == ""


def test_double_dollar_brace_is_a_literal() -> None:
    """``$${`` escapes; a lone ``$`` (common in passwords) needs no escape."""
    assert resolve("pa$$word $${NOT_A_VAR} ${X}", {"X": "1"}) == "pa$$word ${NOT_A_VAR} 1"
    assert resolve("cost: $5") == "cost: $5"


def test_keys_and_non_strings_are_never_interpolated() -> None:
    """Only string values are secrets' hiding places; keys are structure."""
    resolved = resolve_secrets({"${K}": 5, "n": Decimal("1.5")}, {"K": "x"}, None)
    assert resolved.data == {"${K}": 5, "n": Decimal("1.5")}


def test_a_missing_variable_names_it_and_the_path() -> None:
    """The value stays as written, so nothing half-substituted travels on."""
    data = {"accounts": [{"api_key": "${ONECLICK_KEY}"}]}
    resolved = resolve_secrets(data, {}, None)
    (problem,) = resolved.problems
    assert problem.path == ("accounts", 0, "api_key")
    assert "ONECLICK_KEY" in problem.message
    assert resolved.data == data  # left as written, so no secret is half-substituted


def test_a_malformed_reference_is_a_problem() -> None:
    """``${`` that is not a reference is an error that tells how to escape it."""
    resolved = resolve_secrets({"a": "${not closed"}, {}, None)
    assert "write $${" in resolved.problems[0].message


def test_file_values_are_read_with_one_trailing_newline_stripped(tmp_path: Path) -> None:
    """Editors add one final newline; a secret's own content is otherwise kept."""
    (tmp_path / "key").write_text("s3cret-value\n\n")
    assert resolve(f"file:{tmp_path}/key") == "s3cret-value\n"
    assert resolve("file:key", base_dir=tmp_path) == "s3cret-value\n"


def test_credential_values_read_from_the_systemd_credentials_directory(tmp_path: Path) -> None:
    """systemd's LoadCredential= puts files in $CREDENTIALS_DIRECTORY."""
    (tmp_path / "thedex-secret").write_text("hmac-secret\n")
    environ = {"CREDENTIALS_DIRECTORY": str(tmp_path)}
    assert resolve("credential:thedex-secret", environ) == "hmac-secret"


def test_unreadable_secrets_name_the_file_or_the_variable(tmp_path: Path) -> None:
    """And a credential name cannot climb out of its directory."""
    data = {"a": f"file:{tmp_path}/missing", "b": "credential:x", "c": "credential:../etc"}
    resolved = resolve_secrets(data, {}, None)
    messages = {p.path: p.message for p in resolved.problems}
    assert f"{tmp_path}/missing" in messages[("a",)]
    assert "CREDENTIALS_DIRECTORY" in messages[("b",)]
    assert "not a credential name" in messages[("c",)]


def test_values_from_the_environment_and_files_are_remembered_as_secrets(tmp_path: Path) -> None:
    """Defaults are written in the file, so they are not secret. Short values are remembered
    too: which are long enough to hide is balancewatch.redaction's rule, applied at load."""
    (tmp_path / "key").write_text("file-secret\n")
    data = {"a": "x${TOKEN}y", "b": f"file:{tmp_path}/key", "c": "${D:-default-value}", "e": "${S}"}
    resolved = resolve_secrets(data, {"TOKEN": "env-secret", "S": "abc"}, None)
    assert resolved.secrets == {"env-secret", "file-secret", "abc"}


def test_read_yaml_collects_problems_instead_of_raising() -> None:
    """So that config validation can report YAML mistakes together with every other."""
    document = read_yaml("a: 1\na: 2\nb: .nan\n", "c.yaml")
    assert [p.message.split(" (")[0] for p in document.problems] == [
        "duplicate key 'a'",
        "'.nan' is not a finite number",
    ]


def test_a_large_config_without_aliases_loads() -> None:
    """10,000 accounts are far more than 100,000 values, and still a legitimate config."""
    accounts = "".join(
        f"  - {{name: a{i}, provider: sunor, api_key: k{i:06d}, tags: [x, y],"
        f" rules: [{{threshold: {{below: {{warning: 500, critical: 100}}}}}}]}}\n"
        for i in range(10_000)
    )
    data, _ = load_yaml("accounts:\n" + accounts, "big.yaml")
    assert len(data["accounts"]) == 10_000
