"""The command line's words: option types that refuse bad input with one clear line.

Every value the command line takes is checked while it is parsed, so a mistake is
answered by argparse itself: the usage, then one line naming the option
(``balancewatch history: error: argument --since: '5x' is not a duration ...``), and
the usage-error exit code. That code is 2 (DESIGN.md §8: "2 on a config error", and a
command line is configuration too), except for ``check``, a monitoring plugin, which
says UNKNOWN (3) for anything that kept it from polling: a Nagios/Icinga agent must not
read a typo in its command definition as "critical".

Decisions where the design is silent:

- A duration on the command line (``--since``, ``--for``) is longer than zero (a silence
  of nothing, or a history of no time, is a mistake) and at most :data:`MAX_DURATION`
  (further back than that no state file reaches, and ``now - 10000w`` is not a date).
- A bare number is not a duration here (the config accepts a YAML integer of seconds;
  on a command line ``--for 2`` is more likely two hours than two seconds): say ``2h``.
- ``demo --duration`` is seconds, more than zero and at most a day; ``--speed`` (a test
  knob: the script's steps come that many times sooner) is above zero and at most
  :data:`MAX_DEMO_SPEED`.
- ``replay --state`` must be an existing SQLite file: replay only reads, and the store
  moves a file it cannot read as a database aside, so pointing ``--state`` at the config
  by mistake would otherwise rename the config.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import NoReturn

from balancewatch.units import parse_duration

EXIT_USAGE = 2
CHECK_UNKNOWN = 3
"""``check``'s exit code for a command line it cannot use (:mod:`balancewatch.commands.check`)."""

LOG_LEVELS = ("debug", "info", "warning", "error")
"""The levels ``--log-level`` accepts: the same as the config's ``logging.level``."""

MAX_DURATION = timedelta(days=36525)
MAX_DEMO_SECONDS = 86400.0
MAX_DEMO_SPEED = 1000.0
MAX_SILENCE_ID = 2**63 - 1
"""SQLite's largest integer: a larger ID cannot name a silence."""

SQLITE_HEADER = b"SQLite format 3\x00"

_ZERO = "is zero: give a duration longer than that"

_VALUE_OPTIONS = ("-c", "--config", "--log-level")
"""The options before the command that take a value (the next word, unless ``=``)."""


class Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose usage errors exit with :attr:`usage_exit`."""

    usage_exit = EXIT_USAGE

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(self.usage_exit, f"{self.prog}: error: {message}\n")


def command_word(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option or its value).

    Needed before parsing: an error in an option written before the command (``balancewatch
    --log-level loud check``) is found by the top-level parser, which must already know
    that ``check`` answers it with exit 3.
    """
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif not word.startswith("-"):
            return word
    return None


def usage_exit_for(argv: Sequence[str]) -> int:
    return CHECK_UNKNOWN if command_word(argv) == "check" else EXIT_USAGE


def common_options() -> Parser:
    """``-c``, ``--debug`` and ``--log-level``: accepted before the command and after it."""
    common = Parser(add_help=False)
    common.add_argument(
        "-c",
        "--config",
        type=config_path,
        default=argparse.SUPPRESS,
        metavar="FILE",
        help="config file (default: $BALANCEWATCH_CONFIG, /etc/balancewatch/config.yaml, "
        "./config.yaml)",
    )
    common.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log at debug level, and show the traceback of an unexpected error",
    )
    common.add_argument(
        "--log-level",
        type=log_level,
        default=argparse.SUPPRESS,
        metavar="LEVEL",
        help=f"{', '.join(LOG_LEVELS)} (default: warning; for run, the config's)",
    )
    return common


# ---------------------------------------------------------------- option types


def log_level(text: str) -> str:
    """``--log-level``: one of :data:`LOG_LEVELS`, in any case."""
    level = text.strip().lower()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a log level (choose from {', '.join(LOG_LEVELS)})"
        )
    return level


def config_path(text: str) -> str:
    """``-c``: a path; an empty one is a mistake, not "use the default"."""
    if not text.strip():
        raise argparse.ArgumentTypeError("give the config file's path")
    return text


def duration(text: str) -> str:
    """``--since``, ``--for``: ``30m``, ``2h``, ``1d``, ``1h30m``, ``2w``; see the module.

    Checked here, returned as written: each command parses it where it uses it.
    """
    written = text.strip()
    shown = repr(written[:40])
    if written.startswith("-"):
        raise argparse.ArgumentTypeError(f"{shown}: a duration cannot be negative")
    if re.fullmatch(r"[0-9]+", written):
        number = written.lstrip("0")[:20]
        if not number:
            raise argparse.ArgumentTypeError(f"{shown} {_ZERO}")
        raise argparse.ArgumentTypeError(f"{shown} has no unit: write e.g. {number}m or {number}h")
    try:
        value = parse_duration(written)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{shown} {_ZERO}")
    if value > MAX_DURATION:
        raise argparse.ArgumentTypeError(f"{shown} is too long (at most 100 years)")
    return text


def silence_id(text: str) -> int:
    """``--lift``: the number ``silence --list`` shows (``#3`` accepted)."""
    digits = text.strip().removeprefix("#")
    if not re.fullmatch(r"[0-9]{1,19}", digits) or not 1 <= int(digits) <= MAX_SILENCE_ID:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r} is not a silence number (see 'balancewatch silence --list')"
        )
    return int(digits)


def _positive_float(text: str, what: str, limit: float) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text[:40]!r} is not a number") from None
    if not math.isfinite(value) or not 0 < value <= limit:
        raise argparse.ArgumentTypeError(
            f"{text[:40]!r}: {what} must be above 0, at most {limit:g}"
        )
    return value


def demo_seconds(text: str) -> float:
    return _positive_float(text, "seconds", MAX_DEMO_SECONDS)


def demo_speed(text: str) -> float:
    return _positive_float(text, "the speed", MAX_DEMO_SPEED)


def state_file(text: str) -> Path:
    """``replay --state``: an existing, readable SQLite file (see the module)."""
    path = Path(text)
    try:
        with path.open("rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{text}: no such file") from None
    except OSError as exc:
        why = exc.strerror or exc
        raise argparse.ArgumentTypeError(f"{text}: cannot read it ({why})") from None
    if header != SQLITE_HEADER:
        raise argparse.ArgumentTypeError(f"{text}: not a balancewatch state file (not SQLite)")
    return path


# ---------------------------------------------------------------- combinations


def silence_problem(args: argparse.Namespace) -> str | None:
    """What is wrong with a ``silence`` command line's combination of options, if anything.

    ``silence`` alone lists; ``--lift ID`` stands alone; a new silence needs an account and
    ``--for`` (an option that would be ignored is refused, not dropped in silence).
    """
    options = {"--for": args.duration, "--rule": args.rule, "--reason": args.reason}
    given = [option for option, value in options.items() if value is not None]
    if args.lift is not None:
        if given or args.list or args.account is not None:
            return "--lift ID takes no account and no other option"
        return None
    if args.list:
        ignored = given + (["ACCOUNT"] if args.account is not None else [])
        return f"--list takes no {', '.join(ignored)}" if ignored else None
    if args.account is None:
        return f"{', '.join(given)}: name an ACCOUNT (or '*' for all)" if given else None
    if args.duration is None:
        return "say how long: --for 2h"
    return None
