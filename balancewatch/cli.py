"""Command line: argument parsing and one small function per command.

Errors are one clear line on stderr, never a traceback (unless ``--debug``). Exit codes:
``check`` follows the monitoring-plugin convention (see ``check.py``); every other command
exits 0 on success, 2 on a config error, 1 on any other failure.

Imports of heavy modules (httpx, apprise, the daemon) happen inside the commands that need
them, so ``--help`` and ``validate`` start fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from balancewatch import __version__
from balancewatch.cli_args import (
    CHECK_UNKNOWN,
    Parser,
    common_options,
    demo_seconds,
    demo_speed,
    duration,
    silence_id,
    silence_problem,
    state_file,
    usage_exit_for,
)
from balancewatch.model import BalancewatchError, ConfigError

if TYPE_CHECKING:
    from balancewatch.config import Config
    from balancewatch.records import Store

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def utcnow() -> datetime:
    return datetime.now(UTC)


# ---------------------------------------------------------------- helpers


def _load(args: argparse.Namespace, *, redact: bool = True, secrets: bool = True) -> Config:
    """The config; with ``redact``, its credentials are kept out of what is printed next.

    ``validate`` prints only a count after a successful load, so it skips the redaction
    set (which costs the poller's imports). Commands that neither poll nor send pass
    ``secrets=False``: an operator runs them without the service's credentials (see
    :func:`balancewatch.config.parse_config`).
    """
    from balancewatch.config import default_config_path, load_config

    path = Path(args.config) if args.config else default_config_path(os.environ)
    config = load_config(path, secrets=secrets)
    if redact:
        from balancewatch.observe import REDACTOR
        from balancewatch.poller import redactable_secrets

        REDACTOR.update(redactable_secrets(config))
    return config


def _open_store(config: Config, *, write: bool = False, path: Path | None = None) -> Store:
    """The state file, read only (``write=False``: it must exist, and is never created,
    migrated or repaired) or to add to it beside a running daemon (``silence``)."""
    from balancewatch.config import state_path
    from balancewatch.state import SqliteStore

    path = path or state_path(config, os.environ)
    if not write and not path.exists():
        raise BalancewatchError(f"no state file at {path}: has the daemon run yet?")
    _check_owner(path, write=write)
    if write:
        return SqliteStore.open(path, now=utcnow(), repair=False)
    return SqliteStore.open_readonly(path)


def _check_owner(path: Path, *, write: bool) -> None:
    """Refuse to open another user's state file as root, or one this user cannot use.

    SQLite creates its ``-wal`` and ``-shm`` files as whoever opens the database, even to
    read: root running ``balancewatch status`` on the service's file would leave files the
    daemon (user ``balancewatch``) can no longer write, and the next poll would fail.
    """
    import pwd

    try:
        owner = path.stat().st_uid
    except FileNotFoundError:
        return
    mode = os.R_OK | os.W_OK if write else os.R_OK
    if owner == os.geteuid() or (os.geteuid() != 0 and os.access(path, mode)):
        return
    try:
        name = pwd.getpwuid(owner).pw_name
    except KeyError:
        name = str(owner)
    if os.geteuid() == 0:
        raise BalancewatchError(
            f"the state file {path} belongs to user {name}: run this command as that user "
            f"(sudo -u {name} balancewatch ...), so the daemon can still write it"
        )
    raise BalancewatchError(
        f"cannot {'write' if write else 'read'} the state file {path} (owner {name}): run "
        f"this command as that user (sudo -u {name} balancewatch ...)"
    )


def _plans(config: Config, only: str | None = None) -> list[Any]:
    from balancewatch.poller import make_plan

    accounts = [a for a in config.accounts if a.enabled]
    if only is not None:
        accounts = [a for a in config.accounts if a.name == only]
        if not accounts:
            known = ", ".join(a.name for a in config.accounts)
            raise ConfigError(f"no account named {only!r} in the config (known: {known})")
    return [make_plan(a, config.defaults) for a in accounts]


def _account_names(config: Config, name: str) -> None:
    if name not in {a.name for a in config.accounts}:
        known = ", ".join(a.name for a in config.accounts)
        raise ConfigError(f"no account named {name!r} in the config (known: {known})")


# ---------------------------------------------------------------- commands


def cmd_validate(args: argparse.Namespace) -> int:
    config = _load(args, redact=False)
    print(
        f"{config.source}: OK - {len(config.accounts)} account(s), "
        f"{len(config.notifiers)} notifier(s), {len(config.routes)} route(s)"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from balancewatch import check

    try:
        config = _load(args)
        plans = _plans(config, args.account)
    except ConfigError as error:
        _print_problems(error)
        return check.UNKNOWN
    store = _try_store(config)
    try:
        results = asyncio.run(check.check_accounts(plans, store, utcnow()))
    finally:
        if store is not None:
            store.close()
    print(check.to_json(results) if args.json else check.to_text(results))
    return check.exit_code(results)


def _try_store(config: Config) -> Store | None:
    """The state file, read for history when it exists; ``check`` works without one.

    ``check`` is read-only and may run as another user (a Nagios agent): a state file it
    cannot read, or one that is damaged, is skipped (no history), never an exit outside
    0-3, and never "repaired" (moved aside) under the daemon's feet.
    """
    from balancewatch.config import state_path

    if not state_path(config, os.environ).is_file():
        return None
    try:
        return _open_store(config)
    except (BalancewatchError, OSError):
        return None


def cmd_status(args: argparse.Namespace) -> int:
    import json

    from balancewatch import reports

    config = _load(args, secrets=False)
    store = _open_store(config)
    try:
        now = utcnow()
        names = [a.name for a in config.accounts]
        data = reports.status_data(store, names, now)
    finally:
        store.close()
    print(json.dumps(data, indent=2) if args.json else reports.status_text(data, now))
    return EXIT_OK


def cmd_history(args: argparse.Namespace) -> int:
    from balancewatch import reports
    from balancewatch.units import parse_duration

    config = _load(args, secrets=False)
    _account_names(config, args.account)
    store = _open_store(config)
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

    config = _load(args, secrets=False)
    if args.account is not None and args.account != "*":
        _account_names(config, args.account)
    if args.rule is not None:
        _check_silence_rule(config, args.account, args.rule)
    store = _open_store(config, write=True)
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
    ids = {rule_id for a in accounts for rule_id in a.rule_ids}
    known = {"auth", "unreachable"} | ids | {rule_id.split("-", 1)[0] for rule_id in ids}
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
    from balancewatch.config import state_path
    from balancewatch.poller import ONE_SHOT_LOOKBACK
    from balancewatch.replay import format_replay, replay
    from balancewatch.units import parse_duration

    config = _load(args, secrets=False)
    (plan,) = _plans(config, args.account)
    path = Path(args.state) if args.state else state_path(config, os.environ)
    if not path.exists():
        raise BalancewatchError(f"no state file at {path} (use --state to point at one)")
    store = _open_store(config, path=path)
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


def cmd_notify_test(args: argparse.Namespace) -> int:
    from balancewatch import notify

    config = _load(args)
    return notify.notify_test(config, args.notifier)


def cmd_run(args: argparse.Namespace) -> int:
    from balancewatch import daemon

    path = Path(args.config) if args.config else None
    return daemon.run(path, log_level="debug" if args.debug else args.log_level)


def cmd_demo(args: argparse.Namespace) -> int:
    from balancewatch import demo

    return demo.run(duration=args.duration, speed=args.speed)


# ---------------------------------------------------------------- parsing


def _print_problems(error: ConfigError) -> None:
    for line in error.problems:
        print(f"config error: {line}", file=sys.stderr)


def build_parser(usage_exit: int = EXIT_CONFIG) -> argparse.ArgumentParser:
    """The whole command line; every value is checked by its type (:mod:`.cli_args`).

    ``usage_exit`` is the exit code of a usage error found before the command is known
    (:func:`.cli_args.usage_exit_for`); ``check``'s own parser always says UNKNOWN.
    """
    common = common_options()
    parser = Parser(
        prog="balancewatch",
        description="Watch prepaid balances; alert before the money runs out.",
        parents=[common],
    )
    parser.usage_exit = usage_exit
    parser.add_argument("--version", action="version", version=f"balancewatch {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, func: Callable[[argparse.Namespace], int], text: str) -> Any:
        p = sub.add_parser(name, parents=[common], help=text, description=text)
        p.set_defaults(func=func, command_parser=p)
        return p

    add("run", cmd_run, "run the daemon")
    p = add("check", cmd_check, "poll now, evaluate, notify nothing (exit 0/1/2/3)")
    p.usage_exit = CHECK_UNKNOWN
    p.add_argument("--account", metavar="NAME", help="poll only this account (even if disabled)")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    add("validate", cmd_validate, "check the config and exit")
    p = add("status", cmd_status, "last balances, firing alerts, silences, outbox")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p = add("history", cmd_history, "recorded balances of one account")
    p.add_argument("account", help="account name, as in the config")
    since = "how far back, e.g. 30m, 12h, 7d, 2w (default: %(default)s)"
    p.add_argument("--since", type=duration, default="7d", metavar="DURATION", help=since)
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON list of polls")
    fmt.add_argument("--csv", action="store_true", help="print CSV, one row per poll and currency")
    p = add("silence", cmd_silence, "mute notifications for a while; --list, --lift ID")
    p.add_argument("account", nargs="?", help="account name, or * for all")
    p.add_argument("--rule", metavar="ID", help="mute only this rule id (default: all rules)")
    p.add_argument(
        "--for",
        dest="duration",
        type=duration,
        metavar="DURATION",
        help="how long, e.g. 30m, 2h, 1d (required for a new silence)",
    )
    p.add_argument("--reason", metavar="TEXT", help="shown in status and silence --list")
    p.add_argument("--list", action="store_true", help="list the active silences")
    p.add_argument("--lift", type=silence_id, metavar="ID", help="end silence #ID now")
    p = add("replay", cmd_replay, "run the config's rules over recorded history")
    p.add_argument("account", help="account name, as in the config")
    p.add_argument("--since", type=duration, default="30d", metavar="DURATION", help=since)
    p.add_argument(
        "--state",
        type=state_file,
        metavar="FILE",
        help="state file to read (default: the config's)",
    )
    p = add("notify-test", cmd_notify_test, "send a test message through each notifier")
    p.add_argument("--notifier", metavar="NAME", help="only this notifier (default: every one)")
    p = add("demo", cmd_demo, "watch simulated providers drain, no keys or network needed")
    p.add_argument("--duration", type=demo_seconds, default=75.0, help="seconds (default 75)")
    # A test knob (the scenario runs faster): checked like any option, but not advertised.
    p.add_argument("--speed", type=demo_speed, default=1.0, help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(usage_exit_for(words)).parse_args(words)
    problem = silence_problem(args) if args.command == "silence" else None
    if problem:
        args.command_parser.error(problem)
    for name, default in (("config", None), ("debug", False), ("log_level", None)):
        if not hasattr(args, name):
            setattr(args, name, default)
    if args.command != "run":
        from balancewatch.observe import setup_logging

        setup_logging("debug" if args.debug else args.log_level or "warning")
    try:
        return int(args.func(args))
    except ConfigError as error:
        _print_problems(error)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    except Exception as error:
        if args.debug:
            raise
        from balancewatch.observe import REDACTOR

        text = (
            str(error)
            if isinstance(error, BalancewatchError)
            else f"{type(error).__name__}: {error}"
        )
        print(f"error: {REDACTOR.text(text)}", file=sys.stderr)
        return EXIT_FAILURE


__all__ = ["main", "timedelta"]
