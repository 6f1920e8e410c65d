"""The daemon's incremental history answers the rules' questions as the plain list does.

:class:`balancewatch.rules.history.SnapshotHistory` walks a list of snapshots (``check``,
``replay``); :class:`balancewatch.daemon.history.History` keeps runs, prefix sums and
monotonic stacks so that a question costs the same whatever the window. Hypothesis feeds
both the same random polls (amounts that repeat, move, change how they are written, go
missing and come back, at uneven times) and asks both every question at every poll, with
random windows, instants and event references.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from balancewatch.config.load import parse_config
from balancewatch.daemon.history import History, Latest, Needs, kept_history
from balancewatch.model import Balance, Snapshot
from balancewatch.poll.decide import recent_history
from balancewatch.poll.plan import make_plan
from balancewatch.rules.history import Point, SnapshotHistory, Spending

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
CURRENCIES = ("DZD", "USD")
KINDS = ("available", "held")
ASKED = ((*CURRENCIES, "EUR"), (*KINDS, "escrow", "total"))
"""Questions about amounts that are kept, one that never appears, and an alias (escrow)."""

PLAN = make_plan(
    parse_config("accounts: [{name: shop, provider: oneclickdz, api_key: key-123456}]").accounts[0],
    parse_config("accounts: [{name: shop, provider: oneclickdz, api_key: key-123456}]").defaults,
)

# Few distinct amounts, several spellings of each: runs, ties and equal values written
# differently (1.0 is not 1.00 in a message) all come up often.
amounts = st.sampled_from(
    [None, None, "0", "0.00", "-1", "1", "1.0", "1.00", "2", "2.5", "7", "7.000", "10"]
).map(lambda text: None if text is None else Decimal(text))
gaps = st.sampled_from([1, 30, 60, 60, 60, 61, 90, 600, 7200])
polls = st.lists(
    st.tuples(gaps, st.tuples(amounts, amounts), st.tuples(amounts, amounts)),
    min_size=1,
    max_size=40,
)
windows = st.sampled_from([0, 60, 120, 300, 1800, 86400]).map(lambda s: timedelta(seconds=s))
offsets = st.lists(st.integers(min_value=-3, max_value=7300), min_size=1, max_size=4)


def snapshots(drawn: list[tuple[int, tuple[Decimal | None, ...], tuple[Decimal | None, ...]]]):  # type: ignore[no-untyped-def]
    at = T0
    for gap, dzd, usd in drawn:
        at += timedelta(seconds=gap)
        balances = {}
        for currency, values in zip(CURRENCIES, (dzd, usd), strict=True):
            kinds = {k: v for k, v in zip(KINDS, values, strict=True) if v is not None}
            if kinds:
                balances[currency] = Balance(**kinds)
        yield Snapshot("shop", at, balances)


def written(point: Point | None) -> tuple[datetime, str] | None:
    """A point with its amount as written: the answers must quote the same text."""
    return None if point is None else (point[0], str(point[1]))


def spent(found: Spending | None) -> tuple[datetime, Decimal, str] | None:
    """The sum compared by value (a sum of differences may end in more zeros)."""
    return None if found is None else (found.first_at, found.spent, str(found.last))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(drawn=polls, window=windows, offsets=offsets)
def test_the_incremental_history_answers_every_question_as_the_list_does(
    drawn: list[tuple[int, tuple[Decimal | None, ...], tuple[Decimal | None, ...]]],
    window: timedelta,
    offsets: list[int],
) -> None:
    """At every poll, trimmed to the window as the daemon trims it (the previous poll alone
    when the window is zero), the cache and the list
    of the same snapshots give the same previous amount, latest amount since an instant,
    highest and lowest since an instant (the same poll of equals), and the same spending
    (first poll, exact sum of decreases, last amount), for instants before, inside and after
    the kept polls."""
    kept = kept_history(PLAN, Needs(window, KINDS, None))
    assert isinstance(kept, Latest if window == timedelta(0) else History)
    seen: list[Snapshot] = []
    for snap in snapshots(drawn):
        now = snap.taken_at
        kept.trim(now - window)
        plain = SnapshotHistory(recent_history(seen, window, now))
        instants = [None, *(now - timedelta(seconds=s) for s in offsets)]
        for currency in ASKED[0]:
            for kind in ASKED[1]:
                assert written(kept.latest(currency, kind)) == written(plain.latest(currency, kind))
                for at in instants:
                    assert written(kept.last(currency, kind, at)) == written(
                        plain.last(currency, kind, at)
                    )
                    for highest in (True, False):
                        assert written(kept.extreme(currency, kind, at, highest=highest)) == (
                            written(plain.extreme(currency, kind, at, highest=highest))
                        )
                    assert spent(kept.spending(currency, kind, at)) == spent(
                        plain.spending(currency, kind, at)
                    )
        assert len(kept) == len(plain.snapshots)
        kept.append(snap)
        seen.append(snap)


def test_a_steady_balance_costs_one_run_however_long_the_window() -> None:
    """A day of polls reporting the same amount keeps one entry per amount (and the times),
    no sums nor stacks, and its questions are answered from that entry."""
    day = timedelta(hours=24)
    kept = History(PLAN, Needs(day, ("available",), None))
    for minute in range(1441):
        at = T0 + timedelta(minutes=minute)
        kept.trim(at - day)
        kept.append(Snapshot("shop", at, {"DZD": Balance(available=Decimal("5000.00"))}))
    now = T0 + timedelta(minutes=1441)
    kept.trim(now - day)
    (column,) = kept.columns
    assert len(column.values) == 1
    assert column.moves is None
    assert len(kept) == 1440
    assert kept.extreme("DZD", "available", now - day, highest=False) == (
        T0 + timedelta(minutes=1),
        Decimal("5000.00"),
    )
    assert kept.spending("DZD", "available", now - day) == Spending(
        T0 + timedelta(minutes=1), Decimal(0), Decimal("5000.00")
    )
