"""``validate`` reports every mistake in one run, including values that cannot mean anything.

Limits that span several keys (a ``timeout`` not shorter than its ``interval``, a
look-back window shorter than the poll interval) are judged on every value that parsed,
in the same run as the structural mistakes around them. Rule values that could never
fire, or never clear, are refused at the key where they are written (the decisions are
in the docstring of :mod:`balancewatch.rules.specs`).
"""

from __future__ import annotations

import textwrap

import pytest

from balancewatch.config.load import Config, parse_config
from balancewatch.model import ConfigError

ACCOUNT = """\
accounts:
  - name: main
    provider: dhmad
    api_key: key-123456
"""


def parse(text: str) -> Config:
    return parse_config(textwrap.dedent(text), environ={})


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text)
    return caught.value.problems


def rule(spec: str) -> str:
    return ACCOUNT + f"    rules:\n      - {spec}\n"


# ---------------------------------------------------------------- timeout and interval


def test_a_timeout_too_long_is_reported_beside_an_unknown_key_in_defaults() -> None:
    """A typo in ``defaults`` does not hide that its timeout is not shorter than its interval."""
    found = problems("defaults: {interval: 1m, timeout: 1m, retries: 3}\n" + ACCOUNT)
    assert found == [
        "config.yaml:1: defaults.retries: unknown key 'retries' (expected one of: "
        "failures_before_alert, interval, jitter, repeat, send_resolved, timeout)",
        "config.yaml:1: defaults.timeout: 'timeout' (1m) must be shorter than 'interval' (1m)",
    ]


def test_a_timeout_too_long_is_reported_beside_a_broken_rule_of_the_same_account() -> None:
    """An account that fails for another reason still has its timing judged."""
    text = ACCOUNT + "    timeout: 10m\n    rules:\n      - threshold: {belw: 5}\n"
    found = problems(text)
    assert found == [
        "config.yaml:5: accounts[0].timeout: 'timeout' (10m) must be shorter than 'interval' (5m)",
        "config.yaml:7: accounts[0].rules[0].threshold.belw: unknown key 'belw' "
        "(did you mean 'below'?)",
    ]


def test_an_account_is_judged_against_the_interval_of_a_broken_defaults_section() -> None:
    """The defaults' interval parsed, so the account's timeout is compared with it."""
    text = "defaults: {interval: 1m, jitter: lots}\n" + ACCOUNT + "    timeout: 2m\n"
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith("config.yaml:1: defaults.jitter: ")
    assert found[1] == (
        "config.yaml:6: accounts[0].timeout: 'timeout' (2m) must be shorter than 'interval' (1m)"
    )


def test_a_broken_duration_is_reported_once_and_compared_with_nothing() -> None:
    """``interval: 5x`` is its own mistake; no comparison is made with a value that is not."""
    found = problems(ACCOUNT + "    interval: 5x\n    timeout: 1h\n")
    assert found == [
        "config.yaml:5: accounts[0].interval: '5x' is not a duration "
        "(use e.g. 30s, 5m, 1h, 1d, 1h30m)"
    ]


# ---------------------------------------------------------------- look-back windows


@pytest.mark.parametrize(
    ("spec", "where", "says"),
    [
        pytest.param(
            "change: {drop: {percent: 20}, within: 1m}",
            "change.within",
            "'within' (1m) must be at least the poll 'interval' (5m)",
            id="change-within",
        ),
        pytest.param(
            "held_increase: {by: {percent: 20}, within: 2m}",
            "held_increase.within",
            "'within' (2m) must be at least the poll 'interval' (5m)",
            id="held-increase-within",
        ),
        pytest.param(
            "runway: {under: 1d, window: 4m}",
            "runway.window",
            "'window' (4m) must be at least the poll 'interval' (5m)",
            id="runway-window",
        ),
    ],
)
def test_a_look_back_window_shorter_than_the_interval_is_refused(
    spec: str, where: str, says: str
) -> None:
    """No earlier poll falls inside such a window, so the rule could never fire."""
    (found,) = problems(rule(spec))
    assert found == (
        f"config.yaml:6: accounts[0].rules[0].{where}: {says}: no earlier poll falls inside "
        "it, so the rule cannot fire"
    )


def test_the_default_runway_window_is_judged_against_a_long_interval() -> None:
    """A runway on an account polled twice a day cannot use the default 6 h window."""
    text = ACCOUNT + "    interval: 12h\n    rules:\n      - runway: {under: 3d}\n"
    (found,) = problems(text)
    assert found == (
        "config.yaml:7: accounts[0].rules[0].runway: 'window' (6h, the default) must be at "
        "least the poll 'interval' (12h): no earlier poll falls inside it, so the rule cannot fire"
    )


def test_a_window_equal_to_the_interval_is_accepted() -> None:
    """The previous poll is exactly one interval back: inside the window."""
    config = parse(rule("change: {drop: {percent: 20}, within: 5m}"))
    assert config.accounts[0].rules[0].change is not None


# ---------------------------------------------------------------- rule values


@pytest.mark.parametrize(
    ("spec", "where", "says"),
    [
        pytest.param(
            "threshold: {below: -5}",
            "threshold.below",
            "a level cannot be negative: it is an amount of money, zero or more",
            id="negative-below",
        ),
        pytest.param(
            "threshold: {below: {warning: 100, critical: -5}}",
            "threshold.below.critical",
            "a level cannot be negative: it is an amount of money, zero or more",
            id="negative-critical",
        ),
        pytest.param(
            "threshold: {above: -1}",
            "threshold.above",
            "a level cannot be negative: it is an amount of money, zero or more",
            id="negative-above",
        ),
        pytest.param(
            "threshold: {above: {warning: 100, critical: 500}, clear_margin: 100}",
            "threshold.clear_margin",
            "with 'above', must be smaller than the lowest level (100): the alert would clear "
            "only below 0, on a debt",
            id="above-margin-as-large-as-the-level",
        ),
        pytest.param(
            "change: {drop: {percent: 150}}",
            "change.drop.percent",
            "a drop cannot be more than 100% (all of the balance); 150% would be a fall into debt",
            id="drop-over-100-percent",
        ),
        pytest.param(
            "threshold: {below: 5, currency: ''}",
            "threshold.currency",
            "should have at least 1 character",
            id="empty-currency",
        ),
    ],
)
def test_a_rule_value_that_cannot_mean_anything_is_refused_where_written(
    spec: str, where: str, says: str
) -> None:
    """One line at the key written, with what is wrong and why."""
    (found,) = problems(rule(spec))
    assert found == f"config.yaml:6: accounts[0].rules[0].{where}: {says}"


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param("threshold: {below: 0}", id="below-zero-catches-a-debt"),
        pytest.param("threshold: {above: 0}", id="above-zero-any-amount"),
        pytest.param("threshold: {above: 100, clear_margin: 99}", id="above-margin-below-level"),
        pytest.param("threshold: {below: 100, clear_margin: 1000}", id="below-margin-any-size"),
        pytest.param("change: {drop: {percent: 100}}", id="drop-of-everything"),
        pytest.param("change: {rise: {percent: 500}}", id="rise-of-any-size"),
        pytest.param("held_increase: {by: {percent: 300}}", id="held-increase-of-any-size"),
    ],
)
def test_the_limits_of_what_means_something_are_accepted(spec: str) -> None:
    """The edges stay valid: zero levels, a drop of all of it, rises of any size."""
    assert len(parse(rule(spec)).accounts[0].rules) == 1


def test_every_kind_of_mistake_is_reported_in_one_run() -> None:
    """Structure, values and cross-key limits together: fixing one reveals nothing new."""
    text = """\
        defaults: {interval: 1m, timeout: 2m, nonsense: 1}
        accounts:
          - name: a
            provider: dhmad
            api_key: key-123456
            rules:
              - threshold: {below: -5}
              - change: {drop: {percent: 150}, within: 10s}
        """
    found = problems(text)
    assert [line.split(": ", 2)[1] for line in found] == [
        "defaults.nonsense",
        "defaults.timeout",
        "accounts[0].rules[0].threshold.below",
        "accounts[0].rules[1].change.drop.percent",
        "accounts[0].rules[1].change.within",
    ]
