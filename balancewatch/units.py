"""Durations, amounts and their text forms: the small parsers every layer shares.

Everything here is pure. Amounts never pass through float.
"""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal, InvalidOperation, localcontext

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d|w)")
_UNIT_SECONDS = {
    "ms": Decimal("0.001"),
    "s": Decimal(1),
    "m": Decimal(60),
    "h": Decimal(3600),
    "d": Decimal(86400),
    "w": Decimal(604800),
}

MAX_AMOUNT = Decimal(10) ** 21
"""Larger magnitudes are not balances but garbage (or an attack on the parser)."""

MAX_AMOUNT_CHARS = 64


def parse_duration(text: str | int) -> timedelta:
    """``30s``, ``5m``, ``1h30m``, ``1d``, ``2w`` (or a bare number of seconds) -> timedelta."""
    if isinstance(text, bool):
        raise ValueError("a duration such as 30s, 5m, 1h or 1h30m is required")
    if isinstance(text, int):
        if text < 0:
            raise ValueError("a duration cannot be negative")
        return _seconds(Decimal(text))
    compact = text.strip().replace(" ", "").lower()
    if not compact:
        raise ValueError("a duration such as 30s, 5m, 1h or 1h30m is required")
    pos, total = 0, Decimal(0)
    for match in _DURATION_PART.finditer(compact):
        if match.start() != pos:
            break
        total += Decimal(match.group(1)) * _UNIT_SECONDS[match.group(2)]
        pos = match.end()
    if pos != len(compact):
        raise ValueError(f"{text!r} is not a duration (use e.g. 30s, 5m, 1h, 1d, 1h30m)")
    return _seconds(total)


def _seconds(total: Decimal) -> timedelta:
    """A timedelta, or ``ValueError`` (not ``OverflowError``) past timedelta's range."""
    try:
        return timedelta(seconds=int(total), microseconds=int((total % 1) * 1_000_000))
    except OverflowError:
        raise ValueError("that duration is too long") from None


def duration_text(delta: timedelta) -> str:
    """A duration as the config writes it, exactly: ``90s`` -> ``1m30s``, ``1d2h``, ``500ms``.

    For messages about config values, where :func:`format_duration`'s rounding could say
    "1 min must be at most 1 min" of a 90-second jitter.
    """
    micros = delta // timedelta(microseconds=1)
    if micros == 0:
        return "0s"
    parts = []
    for unit, size in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000)):
        count, micros = divmod(micros, size)
        if count:
            parts.append(f"{count}{unit}")
    seconds, micros = divmod(micros, 1_000_000)
    if seconds:
        parts.append(f"{seconds}s")
    if micros:
        parts.append(f"{micros / 1000:g}ms")
    return "".join(parts)


def format_duration(delta: timedelta | float) -> str:
    """A short human form: ``45s``, ``12 min``, ``3 h 5 min``, ``2 d 4 h``."""
    seconds = round(delta.total_seconds() if isinstance(delta, timedelta) else delta)
    seconds = max(seconds, 0)
    if seconds < 60:
        return f"{seconds}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if seconds < 3600:
        return f"{minutes} min"
    if seconds < 86400:
        rest = minutes - hours * 60
        return f"{hours} h" + (f" {rest} min" if rest else "")
    rest_h = hours - days * 24
    return f"{days} d" + (f" {rest_h} h" if rest_h else "")


def to_amount(value: object) -> Decimal:
    """A finite, sane Decimal from a JSON/YAML/provider value, or ``ValueError``.

    Accepts Decimal, int and numeric strings. Rejects booleans (``True`` is an int in
    Python), floats (money must not have been through one), NaN, Infinity, and absurdly
    long or large numbers.
    """
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{value!r} is not an amount")
    if isinstance(value, Decimal):
        amount = value
    elif isinstance(value, int):
        amount = Decimal(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text or len(text) > MAX_AMOUNT_CHARS:
            raise ValueError("not an amount (empty or too long)")
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValueError(f"{value[:40]!r} is not a number") from None
    else:
        raise ValueError(f"a {type(value).__name__} is not an amount")
    if not amount.is_finite():
        raise ValueError(f"{amount} is not a finite amount")
    if amount.copy_abs() >= MAX_AMOUNT or amount.as_tuple().exponent < -30:  # type: ignore[operator]
        raise ValueError("amount out of range")
    return amount


def parse_percent(text: str | int | Decimal) -> Decimal:
    """``20%``, ``20`` or ``'12.5%'`` -> Decimal percent (20 means twenty per cent)."""
    raw = text.strip().removesuffix("%").strip() if isinstance(text, str) else text
    value = to_amount(raw)
    if value < 0:
        raise ValueError("a percentage cannot be negative")
    return value


def plain_decimal(amount: Decimal) -> str:
    """An amount as machine-readable text: every digit, positional, never an exponent.

    The one form of an amount in JSON and CSV, so every command writes the same thing:
    ``Decimal('0E-8')`` -> ``0.00000000`` (the provider's scale kept), ``Decimal('1E+3')``
    -> ``1000``, ``Decimal('-0.5')`` -> ``-0.5``. Nothing is rounded: the text parses back
    to an equal Decimal. A negative zero loses its sign (``-0.00`` would read like a
    debt, and it equals zero anyway).
    """
    if not amount.is_finite():
        raise ValueError(f"{amount} is not a finite amount")
    if amount.is_zero():
        amount = amount.copy_abs()
    return format(amount, "f")


CURRENCY_PLACES: dict[str, int] = {
    "TND": 3,
    "DZD": 2,
    "USD": 2,
    "EUR": 2,
    "GBP": 2,
    "USDT": 2,
    "CREDITS": 0,
    "JPY": 0,
}


def currency_places(currency: str | None) -> int:
    """The usual number of decimal places for a currency (TheDex keys as TICKER_NETWORK)."""
    if not currency:
        return 2
    code = currency.upper()
    if code in CURRENCY_PLACES:
        return CURRENCY_PLACES[code]
    ticker = code.split("_", 1)[0]
    if ticker in ("USDT", "USDC", "DAI", "BUSD", "TUSD"):
        return 2
    if "_" in code:  # a crypto asset on a network: show what the provider gave
        return 2
    return 2


def format_amount(amount: Decimal, currency: str | None = None) -> str:
    """``1,420.00 DZD``: thousands separators, the currency's usual places, never float.

    A value with more significant places than usual keeps them, so nothing is hidden
    (``0.00012 BTC_BITCOIN``, ``950.005 TND``).
    """
    places = currency_places(currency)
    with localcontext() as context:
        # Enough precision for every digit of the amount: the default 28 would round
        # (and so hide) the tail of a long amount, or fail to quantize it at all.
        context.prec = max(28, len(amount.as_tuple().digits) + 20)
        exponent = amount.normalize().as_tuple().exponent
        actual = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        places = max(places, min(actual, 18))
        quantized = amount.quantize(Decimal(1).scaleb(-places))
        if quantized.is_zero():
            quantized = abs(quantized)  # "-0.00" reads like a debt
        text = f"{quantized:,.{places}f}"
    return f"{text} {currency}" if currency else text
