"""Command line: argument parsing and one small function per command.

Errors are one clear line on stderr, never a traceback (unless ``--debug``). Exit codes:
``check`` follows the monitoring-plugin convention (see ``check.py``); every other command
exits 0 on success, 2 on a config error, 1 on any other failure.

Imports of heavy modules (httpx, apprise, the daemon) happen inside the commands that need
them, so ``--help`` and ``validate`` start fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from balancewatch import __version__
from balancewatch.commands.args import (
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
from balancewatch.commands.common import load, open_store, plans, utcnow
from balancewatch.commands.state_commands import cmd_history, cmd_replay, cmd_silence, cmd_status
from balancewatch.model import BalancewatchError, ConfigError

if TYPE_CHECKING:
    from balancewatch.config.load import Config
    from balancewatch.state import Store

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def cmd_validate(args: argparse.Namespace) -> int:
    config = load(args, redact=False)
    print(
        f"{config.source}: OK - {len(config.accounts)} account(s), "
        f"{len(config.notifiers)} notifier(s), {len(config.routes)} route(s)"
    )
    return EXIT_OK


def cmd_check(args: argparse.Namespace) -> int:
    import asyncio

    from balancewatch.commands import check

    try:
        config = load(args)
        chosen = plans(config, args.account)
    except ConfigError as error:
        _print_problems(error)
        return check.UNKNOWN
    store = _try_store(config)
    try:
        results = asyncio.run(check.check_accounts(chosen, store, utcnow()))
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
    from balancewatch.commands.common import state_exists

    if not state_exists(config):
        return None
    try:
        return open_store(config)
    except (BalancewatchError, OSError):
        return None


def cmd_notify_test(args: argparse.Namespace) -> int:
    from balancewatch.notify import outbox as notify

    config = load(args)
    return notify.notify_test(config, args.notifier)


def cmd_run(args: argparse.Namespace) -> int:
    from balancewatch.daemon import service as daemon

    path = Path(args.config) if args.config else None
    return daemon.run(path, log_level="debug" if args.debug else args.log_level)


def cmd_demo(args: argparse.Namespace) -> int:
    from balancewatch.commands import demo

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
        from balancewatch.daemon.logs import setup_logging

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
        from balancewatch.redaction import REDACTOR

        text = (
            str(error)
            if isinstance(error, BalancewatchError)
            else f"{type(error).__name__}: {error}"
        )
        print(f"error: {REDACTOR.hide(text)}", file=sys.stderr)
        return EXIT_FAILURE


__all__ = ["main", "timedelta"]
