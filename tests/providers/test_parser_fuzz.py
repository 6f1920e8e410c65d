"""Hypothesis against every parser: only ProviderError escapes, only finite Decimals come out.

RELIABILITY.md: a naive parser showed 13 distinct crash classes under fuzzing. Each
provider's ``parse(loads_strict(body))`` is fed three kinds of input: raw bytes, arbitrary
JSON text (with the tokens Python's json module accepts but money must not: ``NaN``,
``Infinity``, ``1e400``, huge integers, lone surrogate escapes), and the provider's own
envelope with hostile values where the amounts belong, so the fuzzer gets past the first
shape check. What comes out must be ``{printable currency: Balance}`` whose every kind is
``None`` or a finite ``Decimal`` (never a float, never a bool).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from balancewatch.model import Balance, ProviderError
from balancewatch.providers import Provider, registry
from balancewatch.providers._http.fetch import classify_error, parse_retry_after
from balancewatch.providers.reading import MAX_RETRY_AFTER, loads_strict
from tests.conftest import make_provider

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ---------------------------------------------------------------- JSON text with raw tokens

HOSTILE_NUMBERS = [
    "NaN",
    "-NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e-400",
    "1E+999999999",
    "0e-1000000",
    "9" * 65,
    "9" * 5000,
    "-0",
    "0.1",
    "1500.50",
    "1" + "0" * 21,
    "123456789012345678901",
    "true",
    "false",
    "null",
]

HOSTILE_STRINGS = [
    '"NaN"',
    '"Infinity"',
    '"1e400"',
    '"true"',
    '" 12.5 "',
    '""',
    '"0x10"',
    '"1_000"',
    '"\\ud800"',
    '"\\u0000"',
    '"12\\n"',
    '"' + "9" * 70 + '"',
    '"\\u0661\\u0662"',  # Arabic-Indic digits: Decimal() accepts them
    '"\u00b2"',
]

KEYS_OF_INTEREST = [
    "balance",
    "available",
    "pending",
    "escrow",
    "success",
    "data",
    "error",
    "code",
    "message",
    "retryAfter",
    "frozen",
    "total",
    "BTC_BITCOIN",
    "USDT_TRON",
    "availableBalance",
    "holdBalance",
    "totalBalance",
    "meta",
    "currency",
    "\ud800",
    "",
]


def _string(text: str) -> str:
    """A JSON string; non-ASCII escaped, so a lone surrogate arrives as ``\\ud800``."""
    return json.dumps(text)


scalars = st.one_of(
    st.sampled_from(HOSTILE_NUMBERS),
    st.sampled_from(HOSTILE_STRINGS),
    st.integers().map(str),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.text(max_size=12).map(_string),
)


def _object(pairs: list[tuple[str, str]]) -> str:
    return "{" + ",".join(f"{_string(k)}:{v}" for k, v in pairs) + "}"


json_text = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
        st.lists(
            st.tuples(st.sampled_from(KEYS_OF_INTEREST) | st.text(max_size=6), inner),
            max_size=4,
        ).map(_object),
    ),
    max_leaves=12,
)
"""JSON (and near-JSON) text built token by token, so NaN and friends can appear."""

amount_slot = st.one_of(scalars, json_text)

# ---------------------------------------------------------------- provider envelopes


def _dhmad(a: str, p: str, e: str) -> str:
    return f'{{"balance":{{"available":{a},"pending":{p},"escrow":{e}}}}}'


def _oneclickdz(a: str, ok: str, err: str) -> str:
    return f'{{"success":{ok},"data":{{"balance":{a}}},"error":{err}}}'


def _thedex(entries: list[tuple[str, str, str, str]], as_list: bool) -> str:
    maps = [
        f'{{{_string(cur)}:{{"availableBalance":{a},"holdBalance":{h},"totalBalance":{t}}}}}'
        for cur, a, h, t in entries
    ]
    if as_list:
        return "[" + ",".join(maps) + "]"
    inner = ",".join(m[1:-1] for m in maps)
    return "{" + inner + "}"


def _sunor(code: str, a: str, f: str, t: str) -> str:
    return f'{{"code":{code},"data":{{"available":{a},"frozen":{f},"total":{t}}}}}'


currency_names = st.sampled_from(["BTC_BITCOIN", "USDT_TRON", "", " ", "\ud800", "a\nb"]) | st.text(
    max_size=8
)

ENVELOPES: dict[str, st.SearchStrategy[str]] = {
    "dhmad": st.builds(_dhmad, amount_slot, amount_slot, amount_slot),
    "oneclickdz": st.builds(
        _oneclickdz, amount_slot, st.sampled_from(["true", "false", "1", "null"]), json_text
    ),
    "thedex": st.builds(
        _thedex,
        st.lists(st.tuples(currency_names, amount_slot, amount_slot, amount_slot), max_size=4),
        st.booleans(),
    ),
    "sunor": st.builds(
        _sunor,
        st.sampled_from(["200", "200.0", '"200"', "401", "429", "500", "1e400", "-1", "true"])
        | scalars,
        amount_slot,
        amount_slot,
        amount_slot,
    ),
}

HTTP_JSON_PATHS = {
    "available": "data.balance",
    "pending": "data.items.0",
    "held": "data.items.-1",
    "currency_path": "data.currency",
    "error_path": "error",
}


def _http_json_envelope(balance: str, items: list[str], currency: str, error: str) -> str:
    return (
        f'{{"data":{{"balance":{balance},"items":[{",".join(items)}],'
        f'"currency":{currency}}},"error":{error}}}'
    )


ENVELOPES["http_json"] = st.builds(
    _http_json_envelope,
    amount_slot,
    st.lists(amount_slot, max_size=3),
    st.one_of(currency_names.map(_string), scalars),
    st.sampled_from(["null", "false", "0", '""', '"quota exceeded"', "[]", "{}"]) | scalars,
)


SETTINGS: dict[str, dict[str, Any]] = {
    "dhmad": {"api_key": "k" * 16},
    "oneclickdz": {"api_key": "k" * 16},
    "thedex": {"api_key": "k" * 16, "secret": "s" * 16},
    "sunor": {"api_key": "k" * 16},
    "http_json": {"url": "https://api.example.com", **HTTP_JSON_PATHS},
}
"""The settings each fuzzed provider is built with."""

DOCUMENTED: dict[str, tuple[str, Callable[[dict[str, Balance]], Any], Any]] = {
    "dhmad": (_dhmad("1500.50", "200.00", "500.25"), lambda b: b["TND"].total, "2200.75"),
    "oneclickdz": (
        _oneclickdz("1326.13", "true", "null"),
        lambda b: b["DZD"].available,
        "1326.13",
    ),
    "thedex": (
        _thedex([("BTC_BITCOIN", '"0.0012"', '"0"', '"0.0012"')], True),
        lambda b: b["BTC_BITCOIN"].available,
        "0.0012",
    ),
    "sunor": (_sunor("200", "950", "10", "960"), lambda b: b["CREDITS"].held, "10"),
    "http_json": (
        _http_json_envelope("5", ["1", "2"], '"EUR"', "null"),
        lambda b: b["EUR"].held,
        "2",
    ),
}
"""Each provider's documented answer, written through its envelope builder: (body, the
amount to pick, its text)."""

# A new provider adds its envelope, settings and documented answer here (CONTRIBUTING.md).

PROVIDER_NAMES = sorted(ENVELOPES)


def provider(name: str) -> Provider:
    return make_provider(name, **SETTINGS[name])


# ---------------------------------------------------------------- the invariant


def check_balances(balances: Any) -> None:
    """What a parser returns: printable currency names to Balances of finite Decimals."""
    assert isinstance(balances, dict)
    for currency, balance in balances.items():
        assert isinstance(currency, str)
        assert currency
        assert currency.isprintable()
        assert isinstance(balance, Balance)
        for value in (balance.available, balance.pending, balance.held, balance.total):
            if value is not None:
                assert type(value) is Decimal, repr(value)
                assert value.is_finite()


def parse_or_refuse(name: str, body: bytes) -> None:
    """``parse(loads_strict(body))``: a typed refusal is fine; anything else fails."""
    try:
        balances = provider(name).parse(loads_strict(body))
    except ProviderError:
        return
    check_balances(balances)


# ---------------------------------------------------------------- the tests


@FUZZ
@given(body=st.binary(max_size=256))
def test_loads_strict_on_raw_bytes_raises_only_provider_errors(body: bytes) -> None:
    with contextlib.suppress(ProviderError):
        loads_strict(body)


@FUZZ
@given(text=json_text)
def test_loads_strict_numbers_are_decimals_never_floats_or_specials(text: str) -> None:
    """Every number that survives decoding is a finite Decimal; NaN/Infinity never do."""
    try:
        data = loads_strict(text.encode("utf-8", "surrogatepass"))
    except ProviderError:
        return
    stack = [data]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
        else:
            assert not isinstance(node, float)
            if isinstance(node, Decimal):
                assert node.is_finite()
            else:
                assert node is None or isinstance(node, str | bool)


@FUZZ
@given(text=json_text)
def test_parsers_refuse_arbitrary_json_with_provider_errors_only(text: str) -> None:
    """Any JSON at all, to every provider's parser."""
    for name in PROVIDER_NAMES:
        parse_or_refuse(name, text.encode("utf-8", "surrogatepass"))


@pytest.mark.parametrize("name", PROVIDER_NAMES)
@FUZZ
@given(data=st.data())
def test_parsers_turn_hostile_amounts_into_errors_or_finite_decimals(
    name: str, data: st.DataObject
) -> None:
    """The provider's own envelope, with hostile values in every amount slot."""
    text = data.draw(ENVELOPES[name])
    parse_or_refuse(name, text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(body=st.binary(max_size=128))
def test_parsers_refuse_raw_bytes_with_provider_errors_only(body: bytes) -> None:
    for name in PROVIDER_NAMES:
        parse_or_refuse(name, body)


@FUZZ
@given(
    path=st.text(alphabet="ab.-0123\u00b2\u0661 ", min_size=1, max_size=8),
    text=json_text,
)
def test_http_json_any_path_the_config_accepts_parses_safely(path: str, text: str) -> None:
    """A path either fails config validation, or parses any answer without crashing
    (`data.--1` and `data.²` once raised ValueError from int())."""
    try:
        configured = make_provider("http_json", url="https://x.example", available=path)
    except ValidationError:
        return
    with contextlib.suppress(ProviderError):
        check_balances(configured.parse(loads_strict(text.encode("utf-8", "surrogatepass"))))


ERROR_KEYS = ["message", "error", "errorMessage", "description", "retryAfter", "code"]

error_values = st.recursive(
    scalars,
    lambda inner: st.lists(st.tuples(st.sampled_from(ERROR_KEYS), inner), max_size=3).map(_object),
    max_leaves=4,
)

error_bodies = st.one_of(
    json_text,
    st.lists(st.tuples(st.sampled_from(ERROR_KEYS), error_values), max_size=4).map(_object),
)
"""Error bodies as the providers shape them (``error.code``, ``message``, ``retryAfter``),
with hostile values: control characters, surrogates, negative or huge retry hints."""


@FUZZ
@given(status=st.integers(min_value=100, max_value=599), text=error_bodies)
def test_classify_error_always_returns_a_typed_error_with_a_sane_retry(
    status: int, text: str
) -> None:
    """Any status with any error body, for every provider: a ProviderError whose
    retry_after is None or within [0, MAX_RETRY_AFTER], and whose reason is one printable
    line."""
    try:
        body = loads_strict(text.encode("utf-8", "surrogatepass"))
    except ProviderError:
        body = None
    for name in PROVIDER_NAMES:
        error = classify_error(provider(name), status, body)
        assert isinstance(error, ProviderError)
        assert error.reason.isprintable()
        assert error.retry_after is None or 0 <= error.retry_after <= MAX_RETRY_AFTER


@FUZZ
@given(value=st.text(max_size=40) | st.none(), now=st.floats(0, 4e9))
@example(value="\u00b2", now=0.0)  # '²'.isdigit() is True, and int() refuses it
@example(value="Fri, 31 Dec 9999 23:59:59 GMT", now=0.0)
def test_parse_retry_after_never_raises_and_is_never_negative(
    value: str | None, now: float
) -> None:
    seconds = parse_retry_after(value, now)
    assert seconds is None or seconds >= 0


def test_the_fuzz_strategies_reach_successful_parses() -> None:
    """A guard against a fuzzer that only ever produces refusals: the documented bodies,
    written through the same envelope builders, parse to the documented balances."""
    for name, (text, pick, expected) in DOCUMENTED.items():
        balances = provider(name).parse(loads_strict(text.encode()))
        check_balances(balances)
        assert str(pick(balances)) == expected, name


def test_every_built_in_provider_is_fuzzed() -> None:
    """A provider added to balancewatch is fuzzed too: it has an envelope, settings and a
    documented answer here (the third-party ones installed beside it are not ours)."""
    built_in = {
        name
        for name, cls in registry().items()
        if cls.__module__.startswith("balancewatch.providers.")
    }
    assert built_in <= set(ENVELOPES)
    assert set(ENVELOPES) == set(SETTINGS) == set(DOCUMENTED)
