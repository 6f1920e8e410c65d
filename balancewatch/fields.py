"""Pydantic field types shared by the config models: durations, amounts, percentages, kinds."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BeforeValidator

from balancewatch.model import KIND_ALIASES
from balancewatch.units import parse_duration, parse_percent, to_amount


def _duration(value: object) -> timedelta:
    if isinstance(value, timedelta):
        return value
    if isinstance(value, str | int):
        return parse_duration(value)
    raise ValueError("a duration such as 30s, 5m, 1h or 1h30m is required")


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than zero")
    return value


def _amount(value: object) -> Decimal:
    return to_amount(value)


def _percent(value: object) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, str | int | Decimal):
        raise ValueError("a percentage such as 20 or '20%' is required")
    return parse_percent(value)


def _kind(value: str) -> str:
    return KIND_ALIASES.get(value, value)


Duration = Annotated[timedelta, BeforeValidator(_duration)]
PositiveDuration = Annotated[timedelta, BeforeValidator(_duration), AfterValidator(_positive)]
Amount = Annotated[Decimal, BeforeValidator(_amount)]
Percent = Annotated[Decimal, BeforeValidator(_percent)]
KindName = Literal["available", "pending", "held", "total", "escrow", "frozen", "hold"]
Kind = Annotated[KindName, AfterValidator(_kind)]
