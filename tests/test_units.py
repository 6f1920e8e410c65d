"""Units: durations, amounts and percentages as the config and the messages spell them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from balancewatch.units import (
    duration_text,
    format_amount,
    format_duration,
    parse_duration,
    parse_percent,
    plain_decimal,
    to_amount,
)

# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("30s", timedelta(seconds=30), id="seconds"),
        pytest.param("5m", timedelta(minutes=5), id="minutes"),
        pytest.param("1h", timedelta(hours=1), id="hours"),
        pytest.param("1h30m", timedelta(hours=1, minutes=30), id="hours-and-minutes"),
        pytest.param("1d", timedelta(days=1), id="day"),
        pytest.param("2w", timedelta(weeks=2), id="weeks"),
        pytest.param("250ms", timedelta(milliseconds=250), id="milliseconds"),
        pytest.param("1.5h", timedelta(minutes=90), id="fractional"),
        pytest.param(" 1h 30m ", timedelta(minutes=90), id="spaces-ignored"),
        pytest.param("1H", timedelta(hours=1), id="upper-case"),
        pytest.param(90, timedelta(seconds=90), id="bare-int-is-seconds"),
        pytest.param(0, timedelta(0), id="zero-int"),
    ],
)
def test_parse_duration_accepts_the_config_forms(text: str | int, expected: timedelta) -> None:
    """``30s``, ``5m``, ``1h``, ``1d``, ``1h30m`` (and a YAML int of seconds) are durations."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="blank"),
        pytest.param("5", id="string-without-unit"),
        pytest.param("5x", id="unknown-unit"),
        pytest.param("m5", id="unit-first"),
        pytest.param("-5m", id="negative"),
        pytest.param("5m!", id="trailing-garbage"),
        pytest.param("five minutes", id="words"),
        pytest.param("1e3s", id="exponent"),
        pytest.param(-1, id="negative-int"),
        pytest.param(True, id="bool"),
        pytest.param("9999999999999d", id="past-timedelta-range"),
        pytest.param(10**20, id="int-past-timedelta-range"),
    ],
)
def test_parse_duration_rejects_anything_else_with_value_error(text: str | int) -> None:
    """Every bad duration is a ValueError (which the config reports), never another error."""
    with pytest.raises(ValueError):
        parse_duration(text)


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        pytest.param(45, "45s", id="seconds"),
        pytest.param(120, "2 min", id="minutes"),
        pytest.param(3600, "1 h", id="hour"),
        pytest.param(3 * 3600 + 5 * 60, "3 h 5 min", id="hours-minutes"),
        pytest.param(2 * 86400 + 4 * 3600, "2 d 4 h", id="days-hours"),
        pytest.param(86400, "1 d", id="day"),
        pytest.param(-5, "0s", id="negative-is-zero"),
        pytest.param(1.9, "2s", id="float-seconds-round"),
        pytest.param(59.4, "59s", id="float-seconds-round-down"),
    ],
)
def test_format_duration_is_short_and_human(seconds: float, expected: str) -> None:
    """Durations in messages read like ``12 min`` or ``3 h 5 min``."""
    assert format_duration(seconds) == expected
    assert format_duration(timedelta(seconds=seconds)) == expected


# ---------------------------------------------------------------- amounts


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(5, Decimal(5), id="int"),
        pytest.param(-5, Decimal(-5), id="negative-int"),
        pytest.param(Decimal("0.1"), Decimal("0.1"), id="decimal"),
        pytest.param("1420.00", Decimal("1420.00"), id="numeric-string"),
        pytest.param(" 12.5 ", Decimal("12.5"), id="string-with-spaces"),
        pytest.param("-3", Decimal(-3), id="negative-string"),
        pytest.param("1e3", Decimal(1000), id="exponent-string"),
        pytest.param("0.000000000000000000000000000001", Decimal("1e-30"), id="tiny"),
    ],
)
def test_to_amount_accepts_ints_decimals_and_numeric_strings(
    value: object, expected: Decimal
) -> None:
    """Ints, Decimals and numeric strings are amounts, exactly (no float on the way)."""
    amount = to_amount(value)
    assert isinstance(amount, Decimal)
    assert amount == expected


def test_to_amount_keeps_the_exact_digits() -> None:
    """``0.1`` from a string is exactly one tenth, so 0.1 + 0.2 == 0.3 holds."""
    assert to_amount("0.1") + to_amount("0.2") == to_amount("0.3")


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(True, id="true"),
        pytest.param(False, id="false"),
        pytest.param(None, id="none"),
        pytest.param(0.1, id="float"),
        pytest.param(1.0, id="integral-float"),
        pytest.param(float("nan"), id="float-nan"),
        pytest.param("NaN", id="nan-string"),
        pytest.param("sNaN", id="signalling-nan-string"),
        pytest.param(Decimal("NaN"), id="nan-decimal"),
        pytest.param("Infinity", id="infinity-string"),
        pytest.param("-inf", id="minus-infinity-string"),
        pytest.param(Decimal("Infinity"), id="infinity-decimal"),
        pytest.param("1e400", id="huge-exponent"),
        pytest.param(10**21, id="too-large-int"),
        pytest.param("1" * 5000, id="5000-digits"),
        pytest.param("1e-31", id="too-many-places"),
        pytest.param("", id="empty"),
        pytest.param("12 DZD", id="with-unit"),
        pytest.param("0x10", id="hex"),
        pytest.param([1], id="list"),
        pytest.param({"amount": 1}, id="dict"),
    ],
)
def test_to_amount_rejects_what_is_not_a_sane_amount(value: object) -> None:
    """Booleans, floats, NaN, Infinity and absurd sizes are ValueError, never a balance."""
    with pytest.raises(ValueError):
        to_amount(value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("20%", Decimal(20), id="with-sign"),
        pytest.param("12.5%", Decimal("12.5"), id="fraction"),
        pytest.param(" 20 % ", Decimal(20), id="spaces"),
        pytest.param("20", Decimal(20), id="string-without-sign"),
        pytest.param(20, Decimal(20), id="int"),
        pytest.param(Decimal("7.5"), Decimal("7.5"), id="decimal"),
        pytest.param("0%", Decimal(0), id="zero"),
    ],
)
def test_parse_percent_reads_twenty_as_twenty_per_cent(
    text: str | int | Decimal, expected: Decimal
) -> None:
    """``20%``, ``20`` and ``'12.5%'`` are percentages: 20 means twenty per cent."""
    assert parse_percent(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("-5%", id="negative"),
        pytest.param("%", id="sign-only"),
        pytest.param("abc%", id="words"),
        pytest.param("NaN%", id="nan"),
        pytest.param(True, id="bool"),
    ],
)
def test_parse_percent_rejects_negative_and_non_numbers(text: object) -> None:
    with pytest.raises(ValueError):
        parse_percent(text)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        pytest.param("1420", "DZD", "1,420.00 DZD", id="dzd-two-places"),
        pytest.param("950", "DZD", "950.00 DZD", id="dzd-below-thousand"),
        pytest.param("1234567.5", "TND", "1,234,567.500 TND", id="tnd-three-places"),
        pytest.param("950.005", "TND", "950.005 TND", id="tnd-millimes"),
        pytest.param("1500", "CREDITS", "1,500 CREDITS", id="credits-no-places"),
        pytest.param("1500.5", "CREDITS", "1,500.5 CREDITS", id="credits-keep-a-fraction"),
        pytest.param("0.00012", "BTC_BITCOIN", "0.00012 BTC_BITCOIN", id="btc-significant"),
        pytest.param("0.12345678", "BTC_BITCOIN", "0.12345678 BTC_BITCOIN", id="btc-satoshis"),
        pytest.param("1.5", "BTC_BITCOIN", "1.50 BTC_BITCOIN", id="btc-at-least-two"),
        pytest.param("100", "USDT_TRON", "100.00 USDT_TRON", id="usdt-on-network"),
        pytest.param("-1234.5", "DZD", "-1,234.50 DZD", id="negative"),
        pytest.param("-0", "DZD", "0.00 DZD", id="negative-zero-is-zero"),
        pytest.param("1E+3", "DZD", "1,000.00 DZD", id="exponent-form"),
        pytest.param("1234.5", None, "1,234.50", id="no-currency"),
        pytest.param("0.30", "dzd", "0.30 dzd", id="lower-case-code"),
        pytest.param(
            "99999999999999999999.000000000000000001",
            "DZD",
            "99,999,999,999,999,999,999.000000000000000001 DZD",
            id="long-amount-not-rounded",
        ),
    ],
)
def test_format_amount_uses_separators_and_the_currency_places(
    amount: str, currency: str | None, expected: str
) -> None:
    """Thousands separators, the currency's usual places, and no significant digit hidden."""
    assert format_amount(Decimal(amount), currency) == expected


def test_format_amount_never_goes_through_float() -> None:
    """0.1 + 0.2 is printed as 0.30, not 0.30000000000000004."""
    assert format_amount(Decimal("0.1") + Decimal("0.2"), "USD") == "0.30 USD"


# ---------------------------------------------------------------- plain decimal text


@pytest.mark.parametrize(
    ("amount", "expected"),
    [
        pytest.param("0E-8", "0.00000000", id="zero-keeps-the-provider-scale"),
        pytest.param("1E+3", "1000", id="positive-exponent"),
        pytest.param("-0.5", "-0.5", id="negative"),
        pytest.param("-0", "0", id="negative-zero"),
        pytest.param("-0E-8", "0.00000000", id="negative-zero-with-scale"),
        pytest.param("1.23E-12", "0.00000000000123", id="tiny"),
        pytest.param("1326.13", "1326.13", id="ordinary"),
        pytest.param(
            "99999999999999999999.000000000000000001",
            "99999999999999999999.000000000000000001",
            id="long-amount-not-rounded",
        ),
    ],
)
def test_plain_decimal_is_positional_with_every_digit(amount: str, expected: str) -> None:
    """The JSON/CSV form: no exponent, no rounding, no separators, no sign on a zero."""
    assert plain_decimal(Decimal(amount)) == expected


@given(st.decimals(allow_nan=False, allow_infinity=False))
@example(Decimal("-0E+5"))
@example(Decimal("1E+20"))
def test_plain_decimal_parses_back_to_the_same_amount_and_has_no_exponent(
    amount: Decimal,
) -> None:
    """Any finite Decimal round-trips exactly, written without 'E', never as '-0'."""
    text = plain_decimal(amount)
    assert "E" not in text.upper()
    assert Decimal(text) == amount
    assert not (amount.is_zero() and text.startswith("-"))


@pytest.mark.parametrize("amount", ["NaN", "Infinity", "-Infinity"])
def test_plain_decimal_refuses_what_is_not_an_amount(amount: str) -> None:
    """NaN and infinities have no positional form: a ValueError, never 'NaN' in a report."""
    with pytest.raises(ValueError, match="not a finite amount"):
        plain_decimal(Decimal(amount))


@given(st.integers(min_value=0, max_value=10**12))
def test_duration_text_is_exact_and_reads_back(millis: int) -> None:
    """Config messages quote durations exactly, in a form the config itself accepts."""
    delta = timedelta(milliseconds=millis)
    text = duration_text(delta)

    assert parse_duration(text) == delta
    assert " " not in text


def test_duration_text_examples() -> None:
    assert [duration_text(timedelta(seconds=s)) for s in (0, 10, 60, 90, 3600, 90061)] == [
        "0s",
        "10s",
        "1m",
        "1m30s",
        "1h",
        "1d1h1m1s",
    ]
    assert duration_text(timedelta(milliseconds=1500)) == "1s500ms"
