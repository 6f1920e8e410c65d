"""Leases, fencing and delivery claims: the contract, on SQLite and on PostgreSQL.

Two daemons are two stores opened on the same data (``open_store()`` twice), each with its
own connection. A lease of 0 seconds runs out at once, which is how a lease expires here
without waiting; a lease that ran out long ago is written into the database directly
(:func:`age_lease`). Races between threads and processes are in test_races.py.
"""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from balancewatch.model import StateError
from balancewatch.records import Delivery, Health, PollRecord
from balancewatch.state import Claim, LeaseLost, Store, default_lease
from tests.state.builders import MIN, T0, alert, notification, poll
from tests.state.conftest import OpenStore

HOUR = 3600.0
HOUR_TD = timedelta(hours=1)


def age_lease(location: Path | str, account: str, seconds: int) -> None:
    """Make ``account``'s lease one that ran out ``seconds`` ago, on the database's clock."""
    if isinstance(location, str):
        with psycopg.connect(location, autocommit=True) as conn:
            conn.execute(
                "UPDATE leases SET expires_at = now() - %s * interval '1 second'"
                " WHERE account = %s",
                (seconds, account),
            )
        return
    conn = sqlite3.connect(location)
    conn.execute(
        "UPDATE leases SET expires_at = strftime('%Y-%m-%dT%H:%M:%f000Z', 'now', ?)"
        " WHERE account = ?",
        (f"-{seconds} seconds", account),
    )
    conn.commit()
    conn.close()


def tokens(claims: dict[str, Claim]) -> dict[str, int]:
    return {account: claim.token for account, claim in claims.items()}


# ---------------------------------------------------------------- claiming accounts


def test_the_default_lease_is_two_intervals_and_ten_seconds() -> None:
    """A holder renews at every poll: one late poll does not lose the account."""
    assert default_lease(timedelta(minutes=5)) == timedelta(minutes=10, seconds=10)


def test_a_first_claim_gets_token_one_and_no_previous_owner(store: Store) -> None:
    """Accounts never claimed are granted at once, in one batch, each with token 1."""
    claims = store.claim_accounts("d1", [("acme", HOUR), ("beta", HOUR)])

    assert tokens(claims) == {"acme": 1, "beta": 1}
    assert claims["acme"].previous_owner is None
    assert claims["acme"].taken_from_another("d1")


def test_the_holder_renews_its_own_lease_and_each_claim_bumps_the_token(store: Store) -> None:
    """A daemon claims before every poll: its own lease is renewed, with a new token, and
    the previous owner is itself (its cache is still good)."""
    store.claim_accounts("d1", [("acme", HOUR)])

    renewed = store.claim_accounts("d1", [("acme", HOUR)])["acme"]
    again = store.claim_accounts("d1", [("acme", HOUR)])["acme"]

    assert (renewed.token, again.token) == (2, 3)
    assert renewed.previous_owner == "d1"
    assert not renewed.taken_from_another("d1")


def test_another_daemon_cannot_claim_an_unexpired_lease(open_store: OpenStore) -> None:
    """While d1's lease runs, d2's claim on that account is not granted; others are."""
    d1, d2 = open_store(), open_store()
    d1.claim_accounts("d1", [("acme", HOUR)])

    claims = d2.claim_accounts("d2", [("acme", HOUR), ("beta", HOUR)])

    assert tokens(claims) == {"beta": 1}
    assert d1.cluster().held_by("d1") == ["acme"]


def test_an_expired_lease_is_taken_over_with_a_bumped_token(open_store: OpenStore) -> None:
    """Once d1's lease runs out, d2 gets the account, a higher token, and learns that d1
    held it (so d2 reads the account's state again instead of trusting a cache)."""
    d1, d2 = open_store(), open_store()
    d1.claim_accounts("d1", [("acme", 0)])

    (claim,) = d2.claim_accounts("d2", [("acme", HOUR)]).values()

    assert (claim.token, claim.previous_owner) == (2, "d1")
    assert claim.taken_from_another("d2")
    assert d1.claim_accounts("d1", [("acme", HOUR)]) == {}, "d2 holds it now"


def test_a_batch_names_each_account_once_and_refuses_negative_leases(store: Store) -> None:
    """Duplicates in one batch are one claim (the last lease given); a negative or endless
    lease is a caller's bug."""
    claims = store.claim_accounts("d1", [("acme", 0), ("acme", HOUR)])

    assert tokens(claims) == {"acme": 1}
    assert store.claim_accounts("d2", [("acme", HOUR)]) == {}, "the last lease given won"
    assert store.claim_accounts("d1", []) == {}
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="lease"):
            store.claim_accounts("d1", [("acme", bad)])


def test_released_accounts_are_claimed_at_once_by_another_daemon(open_store: OpenStore) -> None:
    """A clean shutdown releases its leases: the others need not wait for them to expire.
    The releaser's commits still land until someone claims again (the token is kept)."""
    d1, d2 = open_store(), open_store()
    held = d1.claim_accounts("d1", [("acme", HOUR), ("beta", HOUR), ("gamma", HOUR)])

    assert d1.release_accounts("d1", ["acme", "beta"]) == 2
    d1.commit_poll(poll("acme", fence=held["acme"].token))
    assert d1.last_snapshot("acme") is not None
    assert tokens(d2.claim_accounts("d2", [("acme", HOUR), ("gamma", HOUR)])) == {"acme": 2}
    assert d1.release_accounts("d1") == 1, "only gamma was still held"
    assert d1.release_accounts("d1") == 0


# ---------------------------------------------------------------- fenced commits


def _everything(account: str, nid: str, fence: int | None) -> PollRecord:
    return poll(
        account,
        alerts=(alert(account),),
        notifications=(notification(nid, account=account),),
        deliveries=(Delivery(nid, "slack"),),
        fence=fence,
    )


def test_a_commit_under_the_current_token_is_written(open_store: OpenStore) -> None:
    """The holder's fenced record is written whole."""
    store = open_store()
    claim = store.claim_accounts("d1", [("acme", HOUR)])["acme"]

    store.commit_poll(_everything("acme", "n1", claim.token))

    assert store.last_snapshot("acme") is not None
    assert store.outbox_depth() == 1


def test_a_stale_holders_commit_is_refused_and_writes_nothing(open_store: OpenStore) -> None:
    """d1 was paused past its lease and d2 took the account over: d1's late result is
    refused whole (no snapshot, health, alert, notification or delivery), and the batch's
    other records are written; LeaseLost names the refused ones."""
    d1, d2 = open_store(), open_store()
    old = d1.claim_accounts("d1", [("acme", 0), ("beta", HOUR)])
    d2.claim_accounts("d2", [("acme", HOUR)])
    stale = _everything("acme", "n-stale", old["acme"].token)
    fresh = _everything("beta", "n-fresh", old["beta"].token)

    with pytest.raises(LeaseLost, match="acme") as lost:
        d1.commit_polls([stale, fresh])

    assert lost.value.refused == [stale]
    assert isinstance(lost.value, StateError), "a daemon that knows no leases still copes"
    assert d2.last_snapshot("acme") is None
    assert d2.health("acme") is None
    assert d2.alert_states("acme") == {}
    assert [n.id for n in d2.recent_notifications()] == ["n-fresh"]
    assert [d.notification.id for d in d2.due_deliveries(T0)] == ["n-fresh"]
    assert d2.last_snapshot("beta") is not None


def test_the_new_holder_commits_after_a_takeover(open_store: OpenStore) -> None:
    """The takeover's own token is the current one: its record is written."""
    d1, d2 = open_store(), open_store()
    d1.claim_accounts("d1", [("acme", 0)])
    claim = d2.claim_accounts("d2", [("acme", HOUR)])["acme"]

    d2.commit_poll(poll("acme", fence=claim.token))

    assert d1.last_snapshot("acme") is not None


def test_a_record_without_a_fence_is_always_written(store: Store) -> None:
    """fence=None is a single daemon that claims nothing: written as before leases."""
    store.claim_accounts("someone-else", [("acme", HOUR)])

    store.commit_poll(poll("acme"))

    assert store.last_snapshot("acme") is not None


def test_a_fence_on_an_account_never_claimed_is_refused(store: Store) -> None:
    """A token the database never gave out is stale by definition."""
    with pytest.raises(LeaseLost):
        store.commit_poll(poll("acme", fence=1))
    assert store.accounts() == []


def test_a_batch_with_two_polls_of_one_account_keeps_the_later(store: Store) -> None:
    """Group commit may carry an account twice (unfenced): the later health and alert win,
    both snapshots are history."""
    first = poll("acme", T0, alerts=(alert(status="pending"),))
    later = PollRecord("acme", T0 + MIN, None, Health("acme", 2), (alert(status="firing"),))

    store.commit_polls([first, later])

    assert store.health("acme") == Health("acme", 2)
    assert store.alert_states("acme")["low:DZD"].status == "firing"
    assert len(store.history("acme", T0)) == 1


# ---------------------------------------------------------------- delivery claims


def _outbox(store: Store, count: int) -> None:
    for i in range(count):
        store.enqueue([notification(f"n{i}", T0 + i * MIN)], [Delivery(f"n{i}", "slack")])


def test_claimed_deliveries_are_not_claimed_again_until_their_lease_ends(
    open_store: OpenStore,
) -> None:
    """Two workers claiming in turn get disjoint deliveries, oldest first, with tokens."""
    w1, w2 = open_store(), open_store()
    _outbox(w1, 3)

    first = w1.claim_deliveries("w1", T0 + HOUR_TD, lease_seconds=HOUR, limit=2)
    second = w2.claim_deliveries("w2", T0 + HOUR_TD, lease_seconds=HOUR)

    assert [(d.notification.id, d.claim) for d in first] == [("n0", 1), ("n1", 1)]
    assert [(d.notification.id, d.claim) for d in second] == [("n2", 1)]
    assert w2.claim_deliveries("w2", T0 + HOUR_TD, lease_seconds=HOUR) == []
    assert len(w2.due_deliveries(T0 + HOUR_TD)) == 3, "due_deliveries ignores claims"


def test_a_lost_delivery_claim_refuses_a_failure_but_keeps_a_success(
    open_store: OpenStore,
) -> None:
    """w1's claim ran out and w2 claimed the delivery: w1 may not reschedule it (w2 owns
    the retry) but its success is recorded, since the message went out."""
    w1, w2 = open_store(), open_store()
    _outbox(w1, 1)
    (mine,) = w1.claim_deliveries("w1", T0, lease_seconds=0)
    (theirs,) = w2.claim_deliveries("w2", T0, lease_seconds=HOUR)
    assert theirs.claim == 2

    with pytest.raises(LeaseLost, match="n0"):
        w1.mark_failed("n0", "slack", "HTTP 503", T0 + MIN, claim=mine.claim)
    with pytest.raises(LeaseLost):
        w1.mark_gave_up("n0", "slack", "gave up", T0, claim=mine.claim)
    assert w2.due_deliveries(T0)[0].delivery.attempts == 0

    w1.mark_delivered("n0", "slack", T0, claim=mine.claim)
    assert w2.outbox_depth() == 0


def test_a_failed_claimed_delivery_is_claimable_again_after_its_backoff(store: Store) -> None:
    """mark_failed ends the claim: the delivery waits only for its next attempt."""
    _outbox(store, 1)
    (due,) = store.claim_deliveries("w1", T0, lease_seconds=HOUR)

    store.mark_failed("n0", "slack", "timeout", T0 + 5 * MIN, claim=due.claim)

    assert store.claim_deliveries("w2", T0 + 4 * MIN, lease_seconds=HOUR) == []
    (again,) = store.claim_deliveries("w2", T0 + 5 * MIN, lease_seconds=HOUR)
    assert (again.claim, again.delivery.attempts) == (2, 1)
    store.mark_delivered("n0", "slack", T0 + 5 * MIN, claim=again.claim)
    assert store.outbox_depth() == 0


# ---------------------------------------------------------------- daemons, status, overdue


def test_heartbeats_list_the_daemons_and_their_config_hashes(open_store: OpenStore) -> None:
    """Each heartbeat returns every known daemon; differing config hashes are visible;
    a daemon that leaves is forgotten."""
    d1, d2 = open_store(), open_store()
    d1.heartbeat("d1", host="alpha", pid=101, config_hash="aaaa")
    members = d2.heartbeat("d2", host="beta", pid=202, config_hash="bbbb")

    assert [(m.id, m.host, m.pid, m.config_hash) for m in members] == [
        ("d1", "alpha", 101, "aaaa"),
        ("d2", "beta", 202, "bbbb"),
    ]
    again = d1.heartbeat("d1", host="alpha", pid=101, config_hash="cccc")
    first = next(m for m in again if m.id == "d1")
    assert first.last_heartbeat >= first.started_at
    assert d1.cluster().config_hashes() == {"cccc", "bbbb"}
    d2.leave("d2")
    assert [m.id for m in d1.cluster().members] == ["d1"]


def test_the_cluster_view_shows_who_holds_what(open_store: OpenStore) -> None:
    """status reads the database's clock, the daemons and the leases at once."""
    d1, d2 = open_store(), open_store()
    d1.claim_accounts("d1", [("acme", HOUR), ("beta", 0)])
    d2.claim_accounts("d2", [("gamma", HOUR)])

    view = d1.cluster()

    assert view.held_by("d1") == ["acme"], "beta's lease ran out"
    assert view.held_by("d2") == ["gamma"]
    assert [(lease.account, lease.owner, lease.token) for lease in view.leases] == [
        ("acme", "d1", 1),
        ("beta", "d1", 1),
        ("gamma", "d2", 1),
    ]
    acme = view.leases[0]
    assert acme.expires_at - acme.claimed_at == timedelta(hours=1)
    assert acme.claimed_at <= view.now


def test_oldest_overdue_is_the_longest_expired_lease_among_the_accounts(
    store: Store, location: Path | str
) -> None:
    """0 while every lease runs; else how long ago the oldest ran out. Accounts not asked
    about (gone from the config) and accounts never claimed do not count."""
    store.claim_accounts("d1", [("acme", HOUR), ("beta", HOUR), ("gone", HOUR)])
    assert store.oldest_overdue(["acme", "beta", "never-claimed"]) == 0.0

    age_lease(location, "beta", 90)
    age_lease(location, "gone", 5000)

    overdue = store.oldest_overdue(["acme", "beta"])
    assert 90 <= overdue < 120
    assert store.oldest_overdue([]) == 0.0
