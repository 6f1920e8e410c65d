"""The SVG charts, read back with xml.etree: what is drawn where, from exact Decimals."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from balancewatch.records import Bucket
from balancewatch.web import svg

NS = {"s": "http://www.w3.org/2000/svg"}
T0 = datetime(2024, 5, 1, tzinfo=UTC)
HOUR = timedelta(hours=1)


def parse(text: str) -> ET.Element:
    return ET.fromstring(text)


def path_points(element: ET.Element) -> list[tuple[Decimal, Decimal]]:
    """The vertices of a ``d="M x,y L x,y ..."`` path, as Decimals."""
    found = []
    for part in element.attrib["d"].split():
        x, y = part[1:].split(",")
        found.append((Decimal(x), Decimal(y)))
    return found


def test_sparkline_puts_the_highest_amount_at_the_top_and_the_latest_at_the_right() -> None:
    """A falling series: first point top-left, last bottom-right, the dot on the last one."""
    series = [
        (T0, Decimal("6000.00")),
        (T0 + HOUR, Decimal("4500.50")),
        (T0 + 2 * HOUR, Decimal("3000")),
    ]

    root = parse(svg.sparkline(series, T0, T0 + 2 * HOUR, tone="warning", label="drain"))

    (line,) = root.findall("s:path", NS)
    pts = path_points(line)
    assert pts[0] == (Decimal(2), Decimal(3))  # left edge, top of the plot
    assert pts[-1] == (Decimal(116), Decimal(29))  # right edge, bottom
    assert pts[1][1] == Decimal("16")  # 4500.50 is half-way (to the pixel's tenth)
    (dot,) = root.findall("s:circle", NS)
    assert (Decimal(dot.attrib["cx"]), Decimal(dot.attrib["cy"])) == pts[-1]
    assert root.find("s:title", NS).text == "drain"
    assert "warning" in root.attrib["class"]


def test_a_flat_or_empty_sparkline_is_still_a_valid_image() -> None:
    """One amount all along is a line through the middle; no data is an empty image."""
    flat = [(T0, Decimal(5)), (T0 + HOUR, Decimal(5))]
    pts = path_points(parse(svg.sparkline(flat, T0, T0 + HOUR)).find("s:path", NS))
    assert {y for _, y in pts} == {Decimal(16)}
    empty = parse(svg.sparkline([], T0, T0 + HOUR))
    assert empty.findall("s:path", NS) == []


def test_pixels_come_from_decimals_that_a_float_could_not_tell_apart() -> None:
    """Amounts beyond a float's 16 digits still land on different pixels."""
    low = Decimal("12345678901234567890.01")
    high = Decimal("12345678901234567890.02")
    pts = path_points(
        parse(svg.sparkline([(T0, low), (T0 + HOUR, high)], T0, T0 + HOUR)).find("s:path", NS)
    )
    assert pts[0][1] == Decimal(29)
    assert pts[1][1] == Decimal(3)


def test_points_keep_each_spans_extremes_in_the_order_they_were_read() -> None:
    """A span whose high came before its low gives (high, low); a one-poll span one point."""
    buckets = [
        Bucket(T0, 3, Decimal(1), T0 + 2 * HOUR, Decimal(9), T0 + HOUR),
        Bucket(T0 + 3 * HOUR, 1, Decimal(4), T0 + 3 * HOUR, Decimal(4), T0 + 3 * HOUR),
    ]
    assert svg.points(buckets) == [
        (T0 + HOUR, Decimal(9)),
        (T0 + 2 * HOUR, Decimal(1)),
        (T0 + 3 * HOUR, Decimal(4)),
    ]


def test_value_axis_uses_round_steps_that_cover_the_data() -> None:
    """Ticks are 1, 2 or 5 times a power of ten and enclose the data."""
    low, high, ticks = svg.value_ticks(Decimal("2950.5"), Decimal("6010"))
    assert (low, high) == (Decimal(2000), Decimal(7000))
    assert ticks == [Decimal(n) for n in (2000, 3000, 4000, 5000, 6000, 7000)]
    low, high, ticks = svg.value_ticks(Decimal("0.00012"), Decimal("0.00019"))
    assert low <= Decimal("0.00012")
    assert high >= Decimal("0.00019")
    assert ticks[1] - ticks[0] == Decimal("0.00002")
    flat = svg.value_ticks(Decimal(0), Decimal(0))[2]
    assert (flat[0], flat[-1]) == (Decimal(-1), Decimal(1))
    assert Decimal(0) in flat


def test_chart_draws_threshold_levels_bands_axes_and_escapes_every_text() -> None:
    """The critical level is a line at its value, an episode a band over its hours, a
    silence a strip; labels with markup come out as text, not elements."""
    series = [(T0 + i * HOUR, Decimal(6000 - 1000 * i)) for i in range(5)]
    root = parse(
        svg.chart(
            series,
            T0,
            T0 + 4 * HOUR,
            currency="DZD",
            title="<shop> available DZD",
            levels=[svg.Level(Decimal(3000), "critical below 3,000.00 DZD", "critical")],
            bands=[
                svg.Band(T0 + 3 * HOUR, None, "<b>critical</b> since 03:00", "critical"),
                svg.Band(T0, T0 + HOUR, "silenced: maintenance", "silence"),
            ],
        )
    )

    assert root.find("s:title", NS).text == "<shop> available DZD"
    series_path = root.find("s:path[@class='series']", NS)
    pts = path_points(series_path)
    assert len(pts) == 5
    assert pts == sorted(pts)
    level = root.find("s:line[@class='level critical']", NS)
    y_of = {p[0]: p[1] for p in pts}
    assert Decimal(level.attrib["y1"]) == y_of[pts[3][0]]  # 3000 is the fourth point's amount
    critical = root.find("s:rect[@class='band critical']", NS)
    assert Decimal(critical.attrib["x"]) == pts[3][0]
    assert critical.find("s:title", NS).text == "<b>critical</b> since 03:00"
    silence = root.find("s:rect[@class='band silence']", NS)
    assert Decimal(silence.attrib["height"]) == 6
    labels = [t.text for t in root.findall("s:text[@class='axis y']", NS)]
    assert "3,000.00" in labels
    assert "6,000.00" in labels
    hours = [t.text for t in root.findall("s:text[@class='axis x']", NS)]
    assert hours[0] == "00:00"
    assert "04:00" in hours


def test_chart_without_polls_says_so() -> None:
    """An empty period is a framed chart with a sentence, not an error."""
    root = parse(svg.chart([], T0, T0 + HOUR, currency="DZD", title="nothing"))
    assert root.find("s:text[@class='empty']", NS).text == "no polls in this period"


def test_time_axis_labels_days_for_long_ranges() -> None:
    """A 30-day chart is labelled with dates, about one a week."""
    ticks = svg.time_ticks(T0, T0 + timedelta(days=30))
    assert 4 <= len(ticks) <= 8
    assert ticks[0][1] == "May 01"


def test_a_30_day_chart_of_one_minute_polls_is_drawn_in_well_under_100_ms() -> None:
    """43,200 polls downsampled to 300 spans draw in a few milliseconds (the SVG part of the
    page's goal; the store's part is measured in docs/web.md)."""
    minute = timedelta(minutes=1)
    buckets = [
        Bucket(
            T0 + i * 144 * minute,
            144,
            Decimal(90000 - i),
            T0 + (i * 144 + 7) * minute,
            Decimal(90100 - i),
            T0 + (i * 144 + 3) * minute,
        )
        for i in range(300)
    ]
    started = time.process_time()
    text = svg.chart(svg.points(buckets), T0, T0 + timedelta(days=30), currency="DZD", title="30 d")
    spent = time.process_time() - started
    assert len(path_points(parse(text).find("s:path[@class='series']", NS))) == 600
    assert spent < 0.1
