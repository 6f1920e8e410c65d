"""The commands that read or add to the state without polling: ``status``, ``history``,
``silence`` and ``replay``. None of them needs the secrets the config refers to, and none
moves, migrates or repairs the state file (only the daemon does)."""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from balancewatch.commands.common import account_names, load, open_store, plans, utcnow
from balancewatch.model import BalancewatchError, ConfigError
from balancewatch.records import Silence

if TYPE_CHECKING:
    from balancewatch.config.load import Config
    from balancewatch.state import Store

EXIT_OK, EXIT_FAILURE = 0, 1


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from balancewatch.commands import reports
    from balancewatch.web.data import status_data

    config = load(args, secrets=False)
    store = open_store(config)
    try:
        now = utcnow()
        names = [a.name for a in config.accounts]
        data = status_data(store, names, now)
    finally:
        store.close()
    print(json.dumps(data, indent=2) if args.json else reports.status_text(data, now))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from balancewatch.commands import reports
    from balancewatch.units import parse_duration

    config = load(args, secrets=False)
    account_names(config, args.account)
    store = open_store(config)
    try:
        snaps = store.history(args.account, utcnow() - parse_duration(args.since))
    finally:
        store.close()
    if args.csv:
        sys.stdout.write(reports.history_csv(snaps))
    elif args.json:
        print(reports.history_json(snaps))
    else:
        print(reports.history_text(args.account, snaps))
    return EXIT_OK


def cmd_silence(args: argparse.Namespace) -> int:
    from balancewatch.units import parse_duration

    config = load(args, secrets=False)
    if args.account is not None and args.account != "*":
        account_names(config, args.account)
    if args.rule is not None:
        _check_silence_rule(config, args.account, args.rule)
    store = open_store(config, write=True)
    now = utcnow()
    try:
        if args.lift is not None:
            lifted = store.lift_silence(args.lift, now)
            print(f"silence #{args.lift} lifted" if lifted else f"no active silence #{args.lift}")
            return EXIT_OK if lifted else EXIT_FAILURE
        if args.list or args.account is None:
            return _list_silences(store, now)
        if not args.duration:
            raise BalancewatchError("say how long: --for 2h")
        until = now + parse_duration(args.duration)
        silence = store.add_silence(args.account, args.rule, now, until, args.reason or "")
    finally:
        store.close()
    rule = f" rule {silence.rule}" if silence.rule else ""
    print(
        f"silence #{silence.id}: {silence.account}{rule} until {silence.ends_at:%Y-%m-%d %H:%M} UTC"
    )
    return EXIT_OK


def _check_silence_rule(config: Config, account: str | None, rule: str) -> None:
    """``--rule`` must name a rule a silence can match (see ``Silence.covers``): a rule id of
    the account (of any account for ``*``), its type, or a health alert. A typo would
    otherwise be accepted and mute nothing."""
    accounts = [a for a in config.accounts if account in (None, "*", a.name)]
    known = Silence.targets(rule_id for a in accounts for rule_id in a.rule_ids)
    if rule not in known:
        where = f"account {account!r}" if account not in (None, "*") else "any account"
        raise ConfigError(
            f"--rule: no rule {rule[:40]!r} on {where} (known: {', '.join(sorted(known))})"
        )


def _list_silences(store: Store, now: datetime) -> int:
    silences = store.silences(now)
    if not silences:
        print("no active silences")
    for s in silences:
        rule = f" rule {s.rule}" if s.rule else ""
        print(f"#{s.id} {s.account}{rule} until {s.ends_at:%Y-%m-%d %H:%M} UTC: {s.reason}")
    return EXIT_OK


def cmd_replay(args: argparse.Namespace) -> int:
    from balancewatch.commands.replay import format_replay, replay
    from balancewatch.config.load import state_location
    from balancewatch.poll.decide import ONE_SHOT_LOOKBACK
    from balancewatch.units import parse_duration

    config = load(args, secrets=False)
    (plan,) = plans(config, args.account)
    where = Path(args.state) if args.state else state_location(config, os.environ)
    if isinstance(where, Path) and not where.exists():
        raise BalancewatchError(f"no state file at {where} (use --state to point at one)")
    store = open_store(config, path=where if isinstance(where, Path) else None)
    try:
        start = utcnow() - parse_duration(args.since)
        snaps = store.history(args.account, start)
        lookback = store.history(
            args.account, start - max(plan.history_window, ONE_SHOT_LOOKBACK), start
        )
    finally:
        store.close()
    items = list(replay(plan, snaps, [s for s in lookback if s.taken_at < start]))
    print(format_replay(items, plan, len(snaps)))
    return EXIT_OK
