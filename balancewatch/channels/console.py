"""The ``bwconsole://`` Apprise scheme: messages printed to stdout (the demo's notifier).

Its own small module because config validation must register it before asking Apprise
whether a URL is valid, and config sits below the notify layer.
"""

from __future__ import annotations

import sys
import threading
from typing import Any

CONSOLE_SCHEME = "bwconsole"
_console_lock = threading.Lock()
_console_registered = False


def _print_to_console(body: str, title: str, *args: Any, **kwargs: Any) -> bool:
    """The ``bwconsole://`` service: the message on stdout, a blank line after it.

    The title is left out when the body already starts with it (the default wording).
    """
    text = body if not title or body.startswith(title) else f"{title}\n{body}"
    sys.stdout.write(text.rstrip("\n") + "\n\n")
    sys.stdout.flush()
    return True


def register_console() -> None:
    """Make ``bwconsole://`` a valid Apprise URL in this process (idempotent)."""
    global _console_registered
    with _console_lock:
        if _console_registered:
            return
        from apprise import decorators

        register: Any = decorators.notify  # untyped in Apprise
        register(on=CONSOLE_SCHEME, name="balancewatch console")(_print_to_console)
        _console_registered = True
