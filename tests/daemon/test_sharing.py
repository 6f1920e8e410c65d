"""Who asks for which lease, how claims are batched and kept, and what a fenced group
commit does with a refused record: on a real SQLite store, with a clock passed in."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from balancewatch.config.load import parse_config
from balancewatch.daemon.claims import Leases
from balancewatch.daemon.cluster import Membership, config_hash, heartbeat_period, preferred
from balancewatch.daemon.commits import GroupCommit
from balancewatch.daemon.schedule import Ticker, next_slot
from balancewatch.daemon.sharing import Sharing, plans_hash
from balancewatch.model import Snapshot, StateLocked
from balancewatch.poll.plan import make_plan, plan_config
from balancewatch.records import Health, PollRecord
from balancewatch.state import Claim, LeaseLost, Member
from balancewatch.state.sqlite import SqliteStore

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NAMES = [f"account-{i}" for i in range(3000)]

CONFIG = """\
state: {{path: {path}}}
http: {{listen: "127.0.0.1:{port}"}}
notifiers:
  ops: "json://127.0.0.1:9/hook"
accounts:
  - name: shop
    provider: oneclickdz
    api_key: {key}
    rules:
      - threshold: {{below: {{warning: {warning}}}}}
"""


def member(name: str, beat: datetime, config: str = "c1") -> Member:
    return Member(name, "host", 1, config, T0, beat)


def test_rendezvous_spreads_accounts_evenly_and_moves_only_a_leavers_share() -> None:
    """Three members get about a third of the accounts each; when one leaves, only its
    accounts move, and every daemon computes the same owner for every account."""
    three = ["a", "b", "c"]
    owners = {name: preferred(name, three) for name in NAMES}
    shares = [sum(1 for o in owners.values() if o == m) for m in three]
    assert all(800 < share < 1200 for share in shares), shares
    after = {name: preferred(name, ["a", "b"]) for name in NAMES}
    moved = [n for n in NAMES if after[n] != owners[n]]
    assert all(owners[n] == "c" for n in moved)
    assert {name: preferred(name, ["b", "a"]) for name in NAMES} == after


def test_membership_counts_fresh_members_with_the_same_config_and_reports_the_others() -> None:
    """A member silent for longer than the limit, or running another config, is not live;
    the second one is reported as a mismatch; the daemon always counts itself."""
    view = Membership("me", "host", 1, "c1")
    assert view.mine("anything")
    members = [
        member("me", T0),
        member("peer", T0 - timedelta(seconds=2)),
        member("gone", T0 - timedelta(seconds=60)),
        member("other", T0, config="c2"),
    ]
    assert view.update(members, stale_after=15)
    assert view.live == ["me", "peer"]
    assert [m.id for m in view.mismatched()] == ["other"]
    assert view.configs == 2
    mine = [n for n in NAMES[:200] if view.mine(n)]
    assert 60 < len(mine) < 140
    assert not view.update(members, stale_after=15), "no change, no news"


def test_the_config_hash_ignores_where_the_state_is_and_the_http_port_but_not_rules() -> None:
    """Two hosts with their own state path and port agree; a changed threshold or a
    changed key (through the account's fingerprint, itself a hash) disagrees."""

    def hashed(path: str, port: int, key: str = "key-123456", warning: int = 500) -> str:
        config = parse_config(CONFIG.format(path=path, port=port, key=key, warning=warning))
        return plans_hash(config, [make_plan(a, config.defaults) for a in config.accounts])

    base = hashed("/a.db", 9464)
    assert hashed("/b.db", 9465) == base
    assert hashed("/a.db", 9464, warning=600) != base
    assert hashed("/a.db", 9464, key="key-654321") != base
    config = parse_config(CONFIG.format(path="x", port=1, key="key-123456", warning=1))
    assert "key-123456" not in repr(config_hash(config, [["shop", "f"]]))


def test_heartbeats_are_frequent_enough_to_notice_a_death_within_the_lease() -> None:
    """Half the shortest interval, within 1 to 5 seconds."""
    assert heartbeat_period(timedelta(seconds=2)) == 1.0
    assert heartbeat_period(timedelta(seconds=6)) == 3.0
    assert heartbeat_period(timedelta(minutes=5)) == 5.0
    assert heartbeat_period(None) == 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def leases_on(store: SqliteStore, owner: str, clock: Clock) -> tuple[Leases, list[int]]:
    calls: list[int] = []

    async def claim(wanted: Sequence[tuple[str, float]]) -> dict[str, Claim]:
        calls.append(len(wanted))
        return store.claim_accounts(owner, wanted)

    async def release(names: Sequence[str]) -> int:
        return store.release_accounts(owner, names)

    def spawn(coro: Coroutine[Any, Any, None]) -> None:
        asyncio.get_running_loop().create_task(coro)

    leases = Leases(owner, claim, release, spawn, window=0.01, renew_window=0.05, clock=clock)
    return leases, calls


def test_claims_of_one_moment_go_in_one_round_trip_and_a_kept_lease_needs_none(
    tmp_path: Path,
) -> None:
    """Fifty polls starting together make one claim call; their next polls, while the
    lease still covers them, make none; near its end it is claimed again, in one batch."""
    store = SqliteStore.open(tmp_path / "state.db", now=T0)
    clock = Clock()
    names = NAMES[:50]

    async def run() -> tuple[list[int], list[list[Claim | None]]]:
        leases, calls = leases_on(store, "d1", clock)

        async def tick() -> list[Claim | None]:
            return list(await asyncio.gather(*(leases.acquire(n, 14.0, 2.0) for n in names)))

        first = await tick()
        clock.now += 2.0
        kept = await tick()
        assert calls == [50], "no round trip while the lease covers the poll"
        clock.now += 9.0
        renewed = await tick()
        return calls, [first, kept, renewed]

    calls, (first, kept, renewed) = asyncio.run(run())
    assert calls == [50, 50]
    assert all(c is not None and c.previous_owner is None for c in first)
    assert [c.token for c in kept if c] == [c.token for c in first if c]
    assert all(c is not None and not c.taken_from_another("d1") for c in renewed)
    assert all(a and b and b.token > a.token for a, b in zip(first, renewed, strict=True))
    store.close()


def test_a_lease_is_renewed_after_a_poll_and_the_next_poll_waits_for_a_renewal_under_way(
    tmp_path: Path,
) -> None:
    """After a poll is written, a lease that would not cover the next one is renewed in
    the background, many at once; a poll starting meanwhile gets the renewed token,
    never the old one (the renewal bumps it, and would refuse that poll's record)."""
    store = SqliteStore.open(tmp_path / "state.db", now=T0)
    clock = Clock()
    names = NAMES[:20]

    async def run() -> tuple[list[int], list[Claim | None], list[Claim | None]]:
        leases, calls = leases_on(store, "d1", clock)
        first = list(await asyncio.gather(*(leases.acquire(n, 14.0, 2.0) for n in names)))
        clock.now += 6.0  # 8 s left: not enough for a poll due in 4 s plus 2 s more
        for name in names:
            leases.renew_soon(name, 14.0, cover=7.0)
        during = list(await asyncio.gather(*(leases.acquire(n, 14.0, 2.0) for n in names)))
        return calls, first, during

    calls, first, during = asyncio.run(run())
    assert calls == [20, 20], "the renewals in one batch, the polls waiting for it"
    assert all(a and b and b.token == a.token + 1 for a, b in zip(first, during, strict=True))
    assert store.claim_accounts("d1", [(names[0], 14.0)])[names[0]].token == first[0].token + 2
    store.close()


def test_a_second_daemon_gets_no_claim_on_a_held_account_until_it_is_released(
    tmp_path: Path,
) -> None:
    """On the same SQLite file, the second daemon is refused; after the holder hands the
    account over, the claim is granted and says it was taken from another daemon."""
    store = SqliteStore.open(tmp_path / "state.db", now=T0)
    first, _ = leases_on(store, "d1", Clock())
    second, _ = leases_on(store, "d2", Clock())

    async def run() -> tuple[Claim | None, Claim | None]:
        assert await first.acquire("shop", 14.0, 2.0) is not None
        refused = await second.acquire("shop", 14.0, 2.0)
        first.release_later("shop")
        await asyncio.sleep(0.1)
        return refused, await second.acquire("shop", 14.0, 2.0)

    refused, granted = asyncio.run(run())
    assert refused is None
    assert granted is not None
    assert granted.taken_from_another("d2")
    store.close()


def record(account: str, fence: int | None) -> PollRecord:
    snap = Snapshot(account, T0, {})
    return PollRecord(
        account, T0, snap, Health(account, last_ok_at=T0, last_poll_at=T0), fence=fence
    )


def test_a_group_commit_fails_only_the_records_whose_lease_was_lost(tmp_path: Path) -> None:
    """Two records in one group: the one whose lease another daemon took is refused
    (its caller gets LeaseLost), the other is written."""
    store = SqliteStore.open(tmp_path / "state.db", now=T0)
    mine = store.claim_accounts("d1", [("kept", 60.0), ("lost", 0.0)])
    store.claim_accounts("d2", [("lost", 60.0)])

    async def run() -> list[BaseException | None]:
        async def write(records: Sequence[PollRecord]) -> None:
            store.commit_polls(records)

        def spawn(coro: Coroutine[Any, Any, None]) -> None:
            asyncio.get_running_loop().create_task(coro)

        group = GroupCommit(write, spawn, window=0.01)
        return list(
            await asyncio.gather(
                group.commit(record("kept", mine["kept"].token)),
                group.commit(record("lost", mine["lost"].token)),
                return_exceptions=True,
            )
        )

    kept, lost = asyncio.run(run())
    assert kept is None
    assert isinstance(lost, LeaseLost)
    assert store.last_snapshot("kept") is not None
    assert store.last_snapshot("lost") is None
    store.close()


def test_a_daemon_ticks_only_the_accounts_it_should_hold_and_takes_back_a_leavers() -> None:
    """With two live daemons, each keeps APScheduler jobs only for its own share (a tick
    of an account another daemon polls would be work for nothing); when the other one
    leaves, every account ticks again here, from its next slot."""
    accounts = "".join(
        f"  - {{name: acct{i}, provider: sunor, api_key: k-{i:012d}}}\n" for i in range(40)
    )
    kept, plans, _ = plan_config(parse_config("accounts:\n" + accounts))
    daemon = SimpleNamespace(config=kept, plans=plans, clock=lambda: T0)

    async def run(name: str) -> None:
        raise AssertionError("the ticker is never started here")

    ticker = Ticker(run)
    for name, plan in plans.items():
        ticker.add(name, plan.effective.interval, plan.effective.jitter, T0)
    sharing = Sharing(daemon, lambda coro: coro.close(), ticker)  # type: ignore[arg-type]
    me, mine_hash = sharing.owner, sharing.membership.config_hash
    both = [Member(me, "h", 1, mine_hash, T0, T0), Member("other", "h", 2, mine_hash, T0, T0)]
    sharing.membership.update(both, 60)
    sharing._retick()
    mine = {name for name in plans if sharing.membership.mine(name)}
    assert 0 < len(mine) < len(plans)
    assert {name for name in plans if ticker.has(name)} == mine
    assert sharing.idle == set(plans) - mine

    sharing.membership.update(both[:1], 60)  # the other daemon is gone
    sharing._retick()
    assert all(ticker.has(name) for name in plans)
    assert not sharing.idle
    back = sorted(set(plans) - mine)[0]
    interval = plans[back].effective.interval
    job = ticker._scheduler.get_job(back)
    assert job.next_run_time == next_slot(back, interval, T0)


def test_daemons_started_together_skip_a_first_run_the_other_has_made(tmp_path: Path) -> None:
    """Daemons started together see none of the others when they join, so each makes quick
    first runs. A first run of an account another live daemon has polled since is skipped
    (its slot comes next); an account nobody polled gets its first run; and a later run
    of the skipped account is made."""
    accounts = "".join(
        f"  - {{name: acct{i}, provider: sunor, api_key: k-{i:012d}}}\n" for i in range(20)
    )
    kept, plans, _ = plan_config(parse_config("accounts:\n" + accounts))
    store = SqliteStore.open(tmp_path / "state.db", now=T0)

    async def db(call: Any, *args: Any) -> Any:
        return call(*args)

    async def run(name: str) -> None:
        raise AssertionError("the ticker is never started here")

    def daemon() -> Any:
        forget = SimpleNamespace(forget=lambda name: None)
        return SimpleNamespace(
            config=kept, plans=plans, clock=lambda: T0, store=store, db=db, cache=forget
        )

    async def scenario() -> tuple[int | None, int | None, int | None, int | None]:
        def spawn(coro: Coroutine[Any, Any, None]) -> None:
            asyncio.get_running_loop().create_task(coro)

        a, b = Sharing(daemon(), spawn, Ticker(run)), Sharing(daemon(), spawn, Ticker(run))
        a._first_runs, b._first_runs = set(plans), set(plans)  # as join() left them
        me_a = Member(a.owner, "h", 1, a.membership.config_hash, T0, T0)
        me_b = Member(b.owner, "h", 2, b.membership.config_hash, T0, T0)
        a.membership.update([me_a], 60)  # a's first runs, before it heard of b
        b.membership.update([me_a, me_b], 60)
        live = sorted([a.owner, b.owner])
        polled, untouched = [n for n in plans if preferred(n, live) == b.owner][:2]
        first_by_a = await a.acquire(plans[polled])
        store.release_accounts(a.owner, [polled])  # a saw b, polled it and handed it over
        return (
            first_by_a,
            await b.acquire(plans[polled]),
            await b.acquire(plans[untouched]),
            await b.acquire(plans[polled]),
        )

    try:
        first_by_a, skipped, made, later = asyncio.run(scenario())
    finally:
        store.close()
    assert first_by_a is not None
    assert skipped is None
    assert made is not None
    assert later is not None
    assert later > first_by_a


def test_a_state_that_stops_answering_before_the_first_heartbeat_pauses_polls() -> None:
    """PostgreSQL going down between the store's opening and the daemon's first heartbeat
    is an outage like any other (polls wait, the heartbeats probe again), not a crash;
    no quick first run is made, not knowing who else polls."""
    kept, plans, _ = plan_config(
        parse_config("accounts:\n  - {name: a, provider: sunor, api_key: k-000000000001}\n")
    )

    def heartbeat(*args: Any, **kwargs: Any) -> list[Member]:
        raise StateLocked("cannot connect to the state database: refused; nothing was written")

    async def db(call: Any, *args: Any) -> Any:
        return call(*args)

    async def run(name: str) -> None:
        raise AssertionError("the ticker is never started here")

    daemon = SimpleNamespace(
        config=kept, plans=plans, clock=lambda: T0, db=db, metrics=None,
        store=SimpleNamespace(heartbeat=heartbeat),
    )  # fmt: skip
    sharing = Sharing(daemon, lambda coro: coro.close(), Ticker(run))  # type: ignore[arg-type]

    async def scenario() -> int | None:
        await sharing.join()
        return await sharing.acquire(plans["a"])

    assert asyncio.run(scenario()) is None
    assert sharing.problem() is not None
    assert sharing._skip_first_runs
