"""Charts as SVG text, drawn in Python: no chart library in the browser, no JavaScript.

Amounts stay Decimal up to the pixel: a y coordinate is ``(amount - low) / (high - low)``
times the plot's height, computed in Decimal and written with one decimal place. Times
become x coordinates as fractions of the chart's span (time, not money). Every piece of
text is escaped here, so the output can be placed in a page as it is.

A series is drawn from :class:`~balancewatch.records.Bucket` extremes: each span's lowest
and highest amount at the instants they were read, in time order, so a dip or a spike
shorter than a span still shows, as it would on the full series.
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_EVEN, Decimal

from balancewatch.records import Bucket
from balancewatch.units import format_amount

Point = tuple[datetime, Decimal]
PIXEL = Decimal("0.1")
ZERO = Decimal(0)
TICKS = 4
"""About this many value lines on a chart."""
TONES = {"ok": "#2f6fba", "warning": "#c77700", "critical": "#d62d20", "silence": "#7a7a7a"}
"""Colours readable on a light and a dark page alike (the stylesheet may refine them; the
attributes keep a chart legible without it, as an image)."""


@dataclass(frozen=True, slots=True)
class Level:
    """A horizontal line: a threshold level (``tone``: warning, critical)."""

    value: Decimal
    label: str
    tone: str


@dataclass(frozen=True, slots=True)
class Band:
    """A span of time marked on a chart: an alert episode (``tone``: warning, critical) or a
    silence (``silence``). ``end`` None: still going."""

    start: datetime
    end: datetime | None
    label: str
    tone: str


def points(buckets: Iterable[Bucket]) -> list[Point]:
    """The extremes of each span, in the order they were read."""
    found: list[Point] = []
    for b in buckets:
        pair = sorted({(b.low_at, b.low), (b.high_at, b.high)}, key=lambda p: p[0])
        found.extend(pair)
    return found


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _px(value: Decimal) -> str:
    """A coordinate as short text: one decimal place, no exponent, no ``-0``."""
    text = format(value.quantize(PIXEL, ROUND_HALF_EVEN), "f")
    text = text.removesuffix(".0")
    return "0" if text == "-0" else text


class _Frame:
    """Where a time and an amount land on a plot of ``width`` × ``height`` at (left, top)."""

    def __init__(
        self,
        since: datetime,
        until: datetime,
        low: Decimal,
        high: Decimal,
        box: tuple[int, int, int, int],
    ) -> None:
        self.since, self.span = since, max(until - since, timedelta(seconds=1))
        self.low, self.high = low, high
        self.left, self.top, self.width, self.height = (Decimal(n) for n in box)

    def x(self, at: datetime) -> Decimal:
        share = min(max((at - self.since) / self.span, 0.0), 1.0)
        return self.left + self.width * Decimal(repr(share))

    def y(self, value: Decimal) -> Decimal:
        if self.high == self.low:
            return self.top + self.height / 2
        share = (value - self.low) / (self.high - self.low)
        return self.top + self.height * (1 - share)


def _path(frame: _Frame, series: Sequence[Point]) -> str:
    return " ".join(
        f"{'M' if i == 0 else 'L'}{_px(frame.x(at))},{_px(frame.y(value))}"
        for i, (at, value) in enumerate(series)
    )


def sparkline(
    series: Sequence[Point],
    since: datetime,
    until: datetime,
    *,
    tone: str = "ok",
    label: str = "",
    width: int = 120,
    height: int = 32,
) -> str:
    """A small standalone chart of one amount: its line and its latest point, no axes."""
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" class="spark {_esc(tone)}">'
        f"<title>{_esc(label)}</title>"
    )
    if not series:
        return head + "</svg>"
    values = [value for _, value in series]
    frame = _Frame(since, until, min(values), max(values), (2, 3, width - 6, height - 6))
    at, value = series[-1]
    color = TONES.get(tone, TONES["ok"])
    return (
        head + f'<path d="{_path(frame, series)}" fill="none" stroke="{color}" stroke-width="1.5" '
        'stroke-linejoin="round" stroke-linecap="round"/>'
        + f'<circle cx="{_px(frame.x(at))}" cy="{_px(frame.y(value))}" r="2.5" fill="{color}"/>'
        + "</svg>"
    )


def nice_step(span: Decimal, ticks: int = TICKS) -> Decimal:
    """A round step (1, 2 or 5 times a power of ten) giving about ``ticks`` lines."""
    if span <= 0:
        return Decimal(1)
    raw = span / ticks
    base = Decimal(1).scaleb(raw.adjusted())
    for factor in (1, 2, 5, 10):
        if base * factor >= raw:
            return base * factor
    return base * 10  # pragma: no cover - factor 10 always suffices


def value_ticks(low: Decimal, high: Decimal) -> tuple[Decimal, Decimal, list[Decimal]]:
    """The axis bounds (rounded out to the step) and the values to draw lines at."""
    if low == high:
        pad = abs(low) / 10 if low else Decimal(1)
        low, high = low - pad, high + pad
    step = nice_step(high - low)
    first = (low / step).to_integral_value(ROUND_FLOOR) * step
    last = (high / step).to_integral_value(ROUND_CEILING) * step
    count = int((last - first) / step)
    return first, last, [first + step * i for i in range(count + 1)]


def time_ticks(since: datetime, until: datetime) -> list[tuple[datetime, str]]:
    """About six instants on round hours or days, each with its label (UTC)."""
    span = until - since
    for step in (timedelta(hours=h) for h in (1, 2, 3, 4, 6, 12, 24, 48, 96, 168)):
        if span / step <= 7:
            break
    daily = step >= timedelta(days=1)
    start = since.replace(minute=0, second=0, microsecond=0)
    if daily:
        start = start.replace(hour=0)
    found = []
    at = start
    while at <= until:
        if at >= since:
            found.append((at, at.strftime("%b %d") if daily else at.strftime("%H:%M")))
        at += step
    return found


def chart(
    series: Sequence[Point],
    since: datetime,
    until: datetime,
    *,
    currency: str,
    title: str,
    levels: Sequence[Level] = (),
    bands: Sequence[Band] = (),
    width: int = 800,
    height: int = 260,
) -> str:
    """One amount over ``[since, until]``: value grid, threshold lines, episode and
    silence bands, the series and its latest value."""
    left, right, top, bottom = 84, 12, 12, 26
    values = [v for _, v in series] + [level.value for level in levels]
    low, high, ticks = value_ticks(min(values, default=ZERO), max(values, default=ZERO))
    box = (left, top, width - left - right, height - top - bottom)
    frame = _Frame(since, until, low, high, box)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'class="chart" role="img" preserveAspectRatio="xMidYMid meet">'
        f"<title>{_esc(title)}</title>",
        f'<rect class="plot" x="{left}" y="{top}" width="{_px(frame.width)}" '
        f'height="{_px(frame.height)}" fill="none"/>',
    ]
    out += _bands(frame, bands)
    out += _grid(frame, ticks, currency, since, until)
    for level in levels:
        y = _px(frame.y(level.value))
        out.append(
            f'<line class="level {_esc(level.tone)}" x1="{left}" x2="{_px(left + frame.width)}" '
            f'y1="{y}" y2="{y}" stroke="{TONES.get(level.tone, TONES["warning"])}" '
            f'stroke-dasharray="6 4"><title>{_esc(level.label)}</title></line>'
        )
    if series:
        out.append(
            f'<path class="series" d="{_path(frame, series)}" fill="none" '
            f'stroke="{TONES["ok"]}" stroke-width="2" stroke-linejoin="round"/>'
        )
        at, value = series[-1]
        out.append(
            f'<circle class="latest" cx="{_px(frame.x(at))}" cy="{_px(frame.y(value))}" r="3.5" '
            f'fill="{TONES["ok"]}">'
            f"<title>{_esc(format_amount(value, currency))} at {at:%Y-%m-%d %H:%M} UTC</title>"
            "</circle>"
        )
    else:
        out.append(
            f'<text class="empty" x="{_px(left + frame.width / 2)}" '
            f'y="{_px(top + frame.height / 2)}" text-anchor="middle">no polls in this period</text>'
        )
    out.append("</svg>")
    return "".join(out)


def _grid(
    frame: _Frame, ticks: list[Decimal], currency: str, since: datetime, until: datetime
) -> list[str]:
    out = []
    right = _px(frame.left + frame.width)
    for value in ticks:
        y = _px(frame.y(value))
        out.append(
            f'<line class="grid" x1="{_px(frame.left)}" x2="{right}" y1="{y}" y2="{y}" '
            'stroke="#8888" stroke-width="0.5"/>'
        )
        out.append(
            f'<text class="axis y" x="{_px(frame.left - 6)}" y="{y}" text-anchor="end" '
            'dominant-baseline="middle" font-size="11">'
            f"{_esc(format_amount(value, currency).removesuffix(' ' + currency))}</text>"
        )
    base = _px(frame.top + frame.height + 16)
    end = frame.left + frame.width
    for at, label in time_ticks(since, until):
        x = frame.x(at)
        # A label at either edge is aligned inward, so it is not cut off.
        anchor = "start" if x - frame.left < 20 else "end" if end - x < 20 else "middle"
        out.append(
            f'<text class="axis x" x="{_px(x)}" y="{base}" text-anchor="{anchor}" '
            f'font-size="11">{_esc(label)}</text>'
        )
    return out


def _bands(frame: _Frame, bands: Sequence[Band]) -> list[str]:
    out = []
    end_of_plot = frame.since + frame.span
    for band in bands:
        x1 = frame.x(band.start)
        x2 = frame.x(band.end or end_of_plot)
        if (band.end is not None and band.end < frame.since) or band.start > end_of_plot:
            continue
        # A silence is a strip along the top, so an episode under it still shows.
        strip = band.tone == "silence"
        h = Decimal(6) if strip else frame.height
        color = TONES.get(band.tone, "#888888")
        out.append(
            f'<rect class="band {_esc(band.tone)}" x="{_px(x1)}" y="{_px(frame.top)}" '
            f'width="{_px(max(x2 - x1, Decimal(2)))}" height="{_px(h)}" fill="{color}" '
            f'fill-opacity="{"0.6" if strip else "0.14"}"><title>{_esc(band.label)}</title></rect>'
        )
    return out
