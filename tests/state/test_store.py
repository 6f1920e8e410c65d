"""The state store's contract: every scenario runs on SQLite and on a real PostgreSQL.

The ``store`` and ``open_store`` fixtures (tests/state/conftest.py) are parametrized over
the backends. SQLite's own failure modes (corruption, locking, file modes, WAL) are in
test_sqlite.py; PostgreSQL's (restarts, lost connections, concurrent migrations) in
test_postgres.py; leases and fencing, on both, in test_leases.py.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from balancewatch.model import Balance, Severity, Snapshot, StateError
from balancewatch.records import Acknowledgement, Delivery, Health, PollRecord
from balancewatch.state import Store
from tests.state.builders import MIN, T0, alert, notification, poll, snapshot
from tests.state.conftest import OpenStore

# ---------------------------------------------------------------- contract: polls


def test_snapshot_round_trips_decimals_exactly_and_in_utc(store: Store) -> None:
    """Amounts come back as the very Decimals written (no float), None kinds stay None."""
    balances = {
        "DZD": Balance(available=Decimal("0.1") + Decimal("0.2"), held=Decimal("-0.00")),
        "BTC_BITCOIN": Balance(total=Decimal("0.000000012345678901234567890")),
        "USDT_TRON": Balance(Decimal("1E+3"), Decimal("2"), Decimal("3"), Decimal("6")),
        "EMPTY": Balance(),
    }
    taken_at = datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    store.commit_poll(poll(snap=Snapshot("acme", taken_at, balances)))

    got = store.last_snapshot("acme")

    assert got == Snapshot("acme", taken_at, balances)
    assert got.taken_at.utcoffset() == timedelta(0)
    dzd = got.balances["DZD"]
    assert dzd.available == Decimal("0.3")
    assert str(dzd.available) == "0.3"
    assert str(dzd.held) == "-0.00"
    assert (dzd.pending, dzd.total) == (None, None)
    assert str(got.balances["USDT_TRON"].available) == "1E+3"


def test_failed_poll_records_health_but_no_snapshot(store: Store) -> None:
    """A poll without a snapshot (the balance is unknown) writes only its health."""
    failing = Health(
        "acme", consecutive_failures=3, last_error="timeout", last_error_kind="transient"
    )
    store.commit_poll(replace(poll(snap=None), health=failing))

    assert store.last_snapshot("acme") is None
    assert store.health("acme") == failing
    assert store.accounts() == ["acme"]


def test_health_is_one_row_per_account_updated_in_place(store: Store) -> None:
    """The latest poll's health replaces the previous one; all_health lists accounts sorted."""
    store.commit_poll(poll("zeta"))
    store.commit_poll(poll("acme"))
    later = Health("acme", 1, "boom", "malformed", T0, T0 + MIN, T0 + 5 * MIN, "cafe")
    store.commit_poll(replace(poll("acme", T0 + MIN, snap=None), health=later))

    assert store.health("acme") == later
    assert store.health("nobody") is None
    assert [h.account for h in store.all_health()] == ["acme", "zeta"]


def test_history_is_oldest_first_within_inclusive_bounds(store: Store) -> None:
    """history() orders by instant whatever the write order or the time zone written."""
    plus_one = timezone(timedelta(hours=1))
    instants = [T0 + 3 * MIN, T0, T0 + MIN + timedelta(microseconds=1), T0 + MIN]
    for at in instants:
        store.commit_poll(poll(at=at))
    # 13:02 at UTC+1 is 12:02 UTC: between T0+MIN and T0+3*MIN.
    store.commit_poll(poll(at=datetime(2024, 5, 1, 13, 2, tzinfo=plus_one)))
    store.commit_poll(poll("other", T0 + MIN))

    everything = [s.taken_at for s in store.history("acme", T0 - MIN)]
    window = [s.taken_at for s in store.history("acme", T0 + MIN, T0 + 2 * MIN)]

    assert everything == sorted([*instants, T0 + 2 * MIN])
    assert window == [T0 + MIN, T0 + MIN + timedelta(microseconds=1), T0 + 2 * MIN]
    assert store.history("acme", T0 + 4 * MIN) == []
    assert store.history("nobody", T0 - MIN) == []


def test_last_snapshot_is_the_latest_instant(store: Store) -> None:
    """last_snapshot() is by time taken, not by insertion order."""
    store.commit_poll(poll(at=T0 + MIN))
    store.commit_poll(poll(at=T0))

    latest = store.last_snapshot("acme")

    assert latest is not None
    assert latest.taken_at == T0 + MIN
    assert store.last_snapshot("nobody") is None


def test_accounts_lists_each_account_once_sorted(store: Store) -> None:
    """accounts() covers accounts with snapshots and accounts that only ever failed."""
    for at in (T0, T0 + MIN):
        store.commit_poll(poll("beta", at))
        store.commit_poll(poll("alpha", at))
    store.commit_poll(poll("gamma", snap=None))

    assert store.accounts() == ["alpha", "beta", "gamma"]


# ---------------------------------------------------------------- contract: alerts


def test_alert_states_are_upserted_per_key_and_survive_a_restart(open_store: OpenStore) -> None:
    """One row per (account, key); the latest write wins; a reopened store sees it all."""
    store = open_store()
    pending = alert(status="pending", consecutive=1, updated_at=T0)
    other = alert(key="runway:DZD", rule="runway", rule_type="runway", status="resolved")
    store.commit_poll(poll(alerts=(pending, other)))
    firing = alert(
        status="firing",
        severity=Severity.CRITICAL,
        consecutive=2,
        started_at=T0 + MIN,
        last_notified_at=T0 + MIN,
        notified_severity=Severity.CRITICAL,
        value=Decimal("950.10"),
        threshold=Decimal("1000"),
        updated_at=T0 + MIN,
    )
    event = alert("beta", "jump:*", currency=None, kind="event", event_ref=T0, status="firing")
    store.commit_poll(poll(at=T0 + MIN, alerts=(firing,)))
    store.commit_poll(poll("beta", alerts=(event,)))
    store.close()

    reopened = open_store()

    assert reopened.alert_states("acme") == {"low:DZD": firing, "runway:DZD": other}
    assert reopened.alert_states("beta") == {"jump:*": event}
    assert reopened.alert_states("nobody") == {}
    assert reopened.firing_alerts() == [firing, event]


# ---------------------------------------------------------------- contract: outbox


def test_poll_writes_notifications_and_deliveries_with_it(store: Store) -> None:
    """The outbox is filled by the poll's own transaction, one delivery per channel."""
    note = notification("n1")
    store.commit_poll(
        poll(notifications=(note,), deliveries=(Delivery("n1", "slack"), Delivery("n1", "mail")))
    )

    due = store.due_deliveries(T0)

    assert [(d.delivery.channel, d.notification) for d in due] == [("mail", note), ("slack", note)]
    assert store.outbox_depth() == 2
    assert store.recent_notifications() == [note]


def test_due_deliveries_come_oldest_notification_first(store: Store) -> None:
    """Older notifications are sent first, and ``limit`` caps the batch."""
    newer, older = notification("b-new", T0 + MIN), notification("a-old", T0)
    store.enqueue([newer], [Delivery("b-new", "slack")])
    store.enqueue([older], [Delivery("a-old", "slack")])

    due = store.due_deliveries(T0 + 2 * MIN)

    assert [d.notification.id for d in due] == ["a-old", "b-new"]
    assert [d.notification.id for d in store.due_deliveries(T0 + 2 * MIN, limit=1)] == ["a-old"]


def test_failed_delivery_waits_for_its_next_attempt(store: Store) -> None:
    """mark_failed counts the attempt and backs off: not due before next_attempt_at."""
    store.enqueue([notification("n1")], [Delivery("n1", "slack")])
    store.mark_failed("n1", "slack", "HTTP 503", next_attempt_at=T0 + 5 * MIN)

    assert store.due_deliveries(T0 + 4 * MIN) == []
    (due,) = store.due_deliveries(T0 + 5 * MIN)
    assert due.delivery == Delivery("n1", "slack", 1, T0 + 5 * MIN, last_error="HTTP 503")
    assert store.outbox_depth() == 1, "backing off is still in the outbox"

    store.mark_failed("n1", "slack", "timeout", next_attempt_at=T0 + 15 * MIN)
    (again,) = store.due_deliveries(T0 + 15 * MIN)
    assert (again.delivery.attempts, again.delivery.last_error) == (2, "timeout")


def test_mark_delivered_is_idempotent(store: Store) -> None:
    """Marking a delivery twice (or an unknown one) is harmless; only that channel is done."""
    store.enqueue([notification("n1")], [Delivery("n1", "slack"), Delivery("n1", "mail")])

    store.mark_delivered("n1", "slack", T0)
    store.mark_delivered("n1", "slack", T0 + MIN)
    store.mark_delivered("n1", "nowhere", T0)

    assert [d.delivery.channel for d in store.due_deliveries(T0 + MIN)] == ["mail"]
    assert store.outbox_depth() == 1


def test_given_up_delivery_is_never_due_again(store: Store) -> None:
    """After mark_gave_up the delivery leaves the outbox for good."""
    store.enqueue([notification("n1")], [Delivery("n1", "slack")])

    store.mark_gave_up("n1", "slack", "gave up after 24h", T0 + 24 * 60 * MIN)

    assert store.due_deliveries(T0 + 48 * 60 * MIN) == []
    assert store.outbox_depth() == 0
    assert store.recent_notifications() == [notification("n1")]


def test_enqueue_outside_a_poll_is_atomic(store: Store) -> None:
    """A delivery for an unknown notification fails the whole enqueue."""
    with pytest.raises(StateError):
        store.enqueue([notification("ok")], [Delivery("ok", "slack"), Delivery("ghost", "slack")])

    assert store.recent_notifications() == []
    assert store.outbox_depth() == 0


def test_recent_notifications_are_newest_first(store: Store) -> None:
    """Fields and tags round-trip; the limit keeps the newest."""
    for i in range(3):
        store.enqueue([notification(f"n{i}", T0 + i * MIN)], [])

    assert [n.id for n in store.recent_notifications()] == ["n2", "n1", "n0"]
    assert [n.id for n in store.recent_notifications(limit=2)] == ["n2", "n1"]
    assert store.recent_notifications(1)[0].fields == {"amount": "950.00", "currency": "DZD"}


# ---------------------------------------------------------------- contract: silences


def test_silences_are_active_between_start_and_end(store: Store) -> None:
    """silences(at) is what covers ``at``; silences() is every stored silence."""
    first = store.add_silence("acme", None, T0, T0 + 60 * MIN, "maintenance")
    later = store.add_silence("*", "low", T0 + 30 * MIN, T0 + 90 * MIN, "known")

    assert first.id != later.id
    assert (first.account, first.rule, first.starts_at, first.reason) == (
        "acme",
        None,
        T0,
        "maintenance",
    )
    assert store.silences(T0 - MIN) == []
    assert store.silences(T0) == [first]
    assert store.silences(T0 + 45 * MIN) == [first, later]
    assert store.silences(T0 + 60 * MIN) == [later], "ends_at is exclusive"
    assert store.silences() == [first, later]


def test_lifting_a_silence_ends_it_now(store: Store) -> None:
    """lift_silence() ends an active silence; lifting it again, or an unknown id, is False."""
    silence = store.add_silence("acme", "low", T0, T0 + 60 * MIN, "deploy")

    assert store.lift_silence(silence.id, T0 + 10 * MIN) is True
    assert store.lift_silence(silence.id, T0 + 11 * MIN) is False
    assert store.lift_silence(9999, T0) is False
    assert store.silences(T0 + 10 * MIN) == []
    assert store.silences() == [replace(silence, ends_at=T0 + 10 * MIN)]


def test_lifting_a_future_silence_cancels_it(store: Store) -> None:
    """A silence that has not started yet ends where it starts: it never applies."""
    silence = store.add_silence("acme", None, T0 + 60 * MIN, T0 + 120 * MIN, "tonight")

    assert store.lift_silence(silence.id, T0) is True
    assert store.silences(T0 + 60 * MIN) == []
    assert store.silences()[0].ends_at == silence.starts_at


# ---------------------------------------------------------------- contract: acknowledgements


def test_an_acknowledgement_round_trips_and_is_read_per_account(store: Store) -> None:
    """Instants come back in UTC to the microsecond (an episode is matched exactly)."""
    episode = datetime(2024, 5, 1, 14, 30, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    shop = Acknowledgement("shop", "threshold:DZD", episode, Severity.CRITICAL, T0, "ana")
    acme = Acknowledgement("acme", "auth", T0, Severity.WARNING, T0 + MIN)
    store.acknowledge(shop)
    store.acknowledge(acme)

    assert store.acknowledgements() == [acme, shop]
    assert store.acknowledgements("shop") == [shop]
    assert store.acknowledgements("nobody") == []
    got = store.acknowledgements("shop")[0]
    assert got.episode == episode
    assert got.episode.utcoffset() == timedelta(0)
    assert got.acked_by == "ana"


def test_acknowledging_an_episode_again_replaces_it_and_a_new_episode_forgets_the_old(
    store: Store,
) -> None:
    """One row per episode, and only the alert's latest episode is kept."""
    first = Acknowledgement("shop", "threshold:DZD", T0, Severity.WARNING, T0 + MIN, "ana")
    store.acknowledge(first)
    again = replace(first, severity=Severity.CRITICAL, acked_at=T0 + 9 * MIN, acked_by="bo")
    store.acknowledge(again)
    assert store.acknowledgements() == [again]

    other = Acknowledgement("shop", "auth", T0, Severity.CRITICAL, T0 + MIN)
    store.acknowledge(other)
    next_episode = replace(first, episode=T0 + 60 * MIN, acked_at=T0 + 61 * MIN)
    store.acknowledge(next_episode)
    assert store.acknowledgements("shop") == [other, next_episode]


# ---------------------------------------------------------------- contract: prune, meta


def test_prune_keeps_each_accounts_latest_snapshot(store: Store) -> None:
    """Old history goes, but an account polled long ago keeps its last known balance."""
    for minutes in (0, 1, 2, 10):
        store.commit_poll(poll("busy", T0 + minutes * MIN))
    store.commit_poll(poll("stale", T0))
    store.commit_poll(poll("stale", T0 + MIN))

    deleted = store.prune(before=T0 + 5 * MIN)

    assert deleted == 4
    assert [s.taken_at for s in store.history("busy", T0 - MIN)] == [T0 + 10 * MIN]
    assert [s.taken_at for s in store.history("stale", T0 - MIN)] == [T0 + MIN]


def test_prune_drops_only_finished_old_notifications(store: Store) -> None:
    """Delivered or given-up notifications older than the cutoff go; pending ones stay."""
    for nid in ("delivered", "gave-up", "pending", "fresh"):
        at = T0 + 10 * MIN if nid == "fresh" else T0
        store.enqueue([notification(nid, at)], [Delivery(nid, "slack")])
    store.mark_delivered("delivered", "slack", T0)
    store.mark_delivered("fresh", "slack", T0 + 10 * MIN)
    store.mark_gave_up("gave-up", "slack", "no", T0)

    assert store.prune(before=T0 + 5 * MIN) == 2
    assert [n.id for n in store.recent_notifications()] == ["fresh", "pending"]
    assert store.outbox_depth() == 1


def test_meta_is_a_small_key_value_store(store: Store) -> None:
    """set_meta overwrites; an unknown key is None."""
    store.set_meta("last_reload_ok", "true")
    store.set_meta("last_reload_ok", "false")

    assert store.get_meta("last_reload_ok") == "false"
    assert store.get_meta("missing") is None


# ---------------------------------------------------------------- contract: atomicity


def test_a_poll_that_fails_midway_writes_nothing(store: Store) -> None:
    """An invalid alert row fails the transaction: snapshot, health, outbox are not written."""
    broken = alert(status="exploded")
    record = poll(
        alerts=(alert(key="fine"), broken),
        notifications=(notification("n1"),),
        deliveries=(Delivery("n1", "slack"),),
    )

    with pytest.raises(StateError):
        store.commit_poll(record)

    assert store.last_snapshot("acme") is None
    assert store.health("acme") is None
    assert store.alert_states("acme") == {}
    assert store.outbox_depth() == 0
    assert store.recent_notifications() == []


def test_naive_datetimes_are_refused_before_writing(store: Store) -> None:
    """Every instant must be aware; a naive one is a bug, reported as ValueError."""
    naive_alert = alert(started_at=datetime(2024, 5, 1, 12))

    with pytest.raises(ValueError, match="naive"):
        store.commit_poll(poll(alerts=(naive_alert,)))
    with pytest.raises(ValueError, match="naive"):
        store.history("acme", datetime(2024, 5, 1))
    assert store.last_snapshot("acme") is None


def test_store_can_be_used_from_many_threads(store: Store) -> None:
    """Concurrent commits from worker threads are serialised, none lost."""

    def worker(n: int) -> None:
        for i in range(10):
            store.commit_poll(poll(f"acct-{n}", T0 + i * MIN))
            store.last_snapshot(f"acct-{n}")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert store.accounts() == [f"acct-{n}" for n in range(4)]
    assert all(len(store.history(f"acct-{n}", T0)) == 10 for n in range(4))


def test_group_commit_writes_several_polls_in_one_transaction(store: Store) -> None:
    """`commit_polls` stores every record, and a bad one leaves none of the batch written."""
    good = [
        PollRecord(name, T0, snapshot(name, T0), Health(name), [alert(name)])
        for name in ("a", "b", "c")
    ]
    store.commit_polls(good)
    assert {s.account for s in (store.last_snapshot(n) for n in "abc") if s} == {"a", "b", "c"}
    assert set(store.alert_states("b")) == {"low:DZD"}
    later = T0 + timedelta(minutes=1)
    bad = [
        PollRecord("d", later, snapshot("d", later), Health("d")),
        PollRecord("e", later, None, Health("e"), [alert("e", status="bogus")]),  # type: ignore[arg-type]
    ]
    with pytest.raises(StateError):
        store.commit_polls(bad)
    assert store.last_snapshot("d") is None


# ---------------------------------------------------------------- contract: the page's reads


def test_last_snapshots_gives_each_accounts_latest_in_one_call(store: Store) -> None:
    """The same snapshots as ``last_snapshot`` per account; accounts without one are absent."""
    for minute in range(3):
        store.commit_polls(
            [poll("acme", T0 + minute * MIN), poll("beta", T0 + minute * MIN - MIN / 2)]
        )
    store.commit_poll(poll("gone", T0, snap=None))

    got = store.last_snapshots(["beta", "acme", "gone", "unknown"])

    assert got == {"acme": store.last_snapshot("acme"), "beta": store.last_snapshot("beta")}
    assert got["acme"].taken_at == T0 + 2 * MIN
    assert store.last_snapshots([]) == {}


def amounts(*values: str, kind: str = "available") -> list[Snapshot]:
    """One snapshot a minute from T0 with these amounts of DZD (``-`` for not reported)."""
    return [
        snapshot("acme", T0 + i * MIN, DZD=Balance(**({} if v == "-" else {kind: Decimal(v)})))
        for i, v in enumerate(values)
    ]


def test_series_keeps_each_spans_lowest_and_highest_amount_exactly(store: Store) -> None:
    """Six polls in three two-minute spans: each span's extremes, as the Decimals written."""
    for snap in amounts("100.50", "90.25", "95", "95.000", "80.10", "120.00"):
        store.commit_poll(poll(snap=snap))

    got = store.series("acme", "DZD", "available", T0, T0 + 6 * MIN, 3)

    assert [(b.start, b.polls) for b in got] == [(T0, 2), (T0 + 2 * MIN, 2), (T0 + 4 * MIN, 2)]
    assert [(str(b.low), b.low_at, str(b.high), b.high_at) for b in got] == [
        ("90.25", T0 + MIN, "100.50", T0),
        ("95", T0 + 2 * MIN, "95", T0 + 2 * MIN),
        ("80.10", T0 + 4 * MIN, "120.00", T0 + 5 * MIN),
    ]


def test_series_leaves_out_spans_without_the_amount_and_polls_outside_the_window(
    store: Store,
) -> None:
    """Spans with no poll, or only polls not reporting the kind, are absent; ``until`` is
    exclusive; another kind or currency is not mixed in."""
    for snap in amounts("10", "-", "-", "-", "7", "5"):
        store.commit_poll(poll(snap=snap))
    store.commit_poll(poll(snap=snapshot("acme", T0 + MIN, USD=Balance(available=Decimal(1)))))

    got = store.series("acme", "DZD", "available", T0, T0 + 5 * MIN, 5)

    assert [(b.start, str(b.low), str(b.high)) for b in got] == [
        (T0, "10", "10"),
        (T0 + 4 * MIN, "7", "7"),
    ]
    assert store.series("acme", "DZD", "held", T0, T0 + 5 * MIN, 5) == []
    assert store.series("acme", "DZD", "available", T0, T0, 5) == []
    assert store.series("nobody", "DZD", "available", T0, T0 + 5 * MIN, 5) == []


def test_series_reads_a_currency_whose_name_a_json_path_cannot_quote(store: Store) -> None:
    """A currency named with a double quote still has a series (decoded row by row)."""
    odd = 'X"Y'
    store.commit_poll(poll(snap=snapshot("acme", T0, **{odd: Balance(available=Decimal("3.5"))})))

    got = store.series("acme", odd, "available", T0, T0 + MIN, 1)

    assert [(str(b.low), str(b.high), b.polls) for b in got] == [("3.5", "3.5", 1)]


def test_notifications_of_one_account_newest_first(store: Store) -> None:
    """Only the account's own notifications, newest first, at most ``limit``."""
    store.enqueue(
        [
            notification("n1", T0, "acme"),
            notification("n2", T0 + MIN, "beta"),
            notification("n3", T0 + 2 * MIN, "acme"),
            notification("n4", T0 + 3 * MIN, "acme"),
        ],
        [],
    )

    assert [n.id for n in store.notifications_of("acme")] == ["n4", "n3", "n1"]
    assert [n.id for n in store.notifications_of("acme", limit=2)] == ["n4", "n3"]
    assert store.notifications_of("nobody") == []


def test_failures_gives_each_polled_accounts_failures_in_a_row(store: Store) -> None:
    """0 for a good last poll, the count for a failing one; never polled: absent."""
    store.commit_poll(poll("good"))
    failing = Health("bad", consecutive_failures=3, last_error="timeout")
    store.commit_poll(replace(poll("bad", snap=None), health=failing))

    assert store.failures() == {"good": 0, "bad": 3}
