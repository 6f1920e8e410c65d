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

from balancewatch.config import Config, parse_config
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
