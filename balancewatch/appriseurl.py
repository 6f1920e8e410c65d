"""Whether Apprise can use a notifier URL, asking only the plugin that the URL names.

``Apprise().add(url)`` answers by importing every one of Apprise's plugin modules first
(about 180, a quarter of a second and most of ``balancewatch validate``'s time).
:mod:`balancewatch.apprise_schemes` maps each scheme to the class that serves it, for
the Apprise release it was generated from; :func:`accepts` imports that one class and
asks it what ``add()`` asks: ``parse_url``, then the constructor, with the ``enabled``
checks before and after. Anything else goes to ``Apprise().add(url)`` itself: a URL
without a known scheme (a service's own https:// webhook address, which Apprise
recognises by scanning every plugin; ``bwconsole://``), or another Apprise release.

A test keeps the answers equal: the table against the installed Apprise's own, and
:func:`accepts` against ``add()`` on good and bad URLs of every scheme.

Run ``python -m balancewatch.appriseurl`` after an Apprise upgrade to rewrite the table.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from balancewatch.apprise_schemes import APPRISE_VERSION, PLUGINS

_PLUGIN_PACKAGE = "apprise.plugins."
_SCHEME_PLUGINS = {scheme: path for path, schemes in PLUGINS.items() for scheme in schemes.split()}


def accepts(url: str) -> bool:
    """``apprise.Apprise().add(url)``: True when Apprise can use every URL in ``url``."""
    import apprise

    with _quiet_apprise():
        if needs_every_plugin(url):
            return bool(apprise.Apprise().add(url))
        urls = split(url)
        asset = apprise.AppriseAsset()
        return bool(urls) and all(_instance(one, asset) is not None for one in urls)


def needs_every_plugin(url: str) -> bool:
    """True when :func:`accepts` has Apprise load all its plugins to answer for ``url``."""
    import apprise

    if apprise.__version__ != APPRISE_VERSION:
        return True
    schemes = [_scheme(one) for one in split(url)]
    return any(scheme is not None and scheme not in _SCHEME_PLUGINS for scheme in schemes)


def split(url: str) -> list[str]:
    """The URLs in ``url`` as ``Apprise.add`` splits them (at commas and spaces)."""
    from apprise.utils import parse

    split: Any = parse.parse_urls  # untyped in Apprise
    return list(split(url))


def _scheme(url: str) -> str | None:
    """The URL's scheme as Apprise reads it; None when it has none (Apprise rejects it)."""
    from apprise.utils.parse import GET_SCHEMA_RE

    found = GET_SCHEMA_RE.match(_escaped(url))
    return None if found is None else found.group("schema").lower()


def instantiate(url: str, asset: Any) -> Any | None:
    """``apprise.Apprise.instantiate(url, asset=asset)``: the plugin object that sends to one
    URL, or None. Only the URL's own plugin is imported when the table knows its scheme
    (every plugin loaded is ~18 MB the daemon would keep for its lifetime)."""
    import apprise

    if needs_every_plugin(url):
        from balancewatch.console import register_console

        register_console()  # the demo's bwconsole:// (registering loads every plugin)
        return apprise.Apprise.instantiate(url, asset=asset)
    with _quiet_apprise():
        return _instance(url, asset)


def _instance(url: str, asset: Any) -> Any | None:
    """What ``Apprise.instantiate`` does with the plugin serving ``url`` (Apprise 2.2)."""
    scheme = _scheme(url)
    if scheme is None:
        return None
    details = _plugin(scheme).parse_url(_escaped(url))
    if not details:
        return None
    plugin = _plugin(details["schema"])  # Apprise builds the class of the parsed scheme
    if not plugin.enabled:  # a library it needs is not installed
        return None
    details.update(tag=set(), asset=asset)
    try:
        instance = plugin(**details)
    except Exception:  # Apprise's own answer to a constructor error: not usable
        return None
    return instance if instance.enabled else None


def _plugin(scheme: str) -> Any:
    module, _, name = _SCHEME_PLUGINS[scheme].rpartition(".")
    return getattr(importlib.import_module(_PLUGIN_PACKAGE + module), name)


def _escaped(url: str) -> str:
    return url.replace("/#", "/%23")  # as Apprise does: a '#' starts a channel, not a fragment


@contextmanager
def _quiet_apprise() -> Iterator[None]:
    """Drop this thread's Apprise log records: Apprise logs whole URLs, secrets included."""
    this_thread = threading.get_ident()

    def not_ours(record: logging.LogRecord) -> bool:
        return record.thread != this_thread

    logger = logging.getLogger("apprise")
    logger.addFilter(not_ours)
    try:
        yield
    finally:
        logger.removeFilter(not_ours)


# ---------------------------------------------------------------- the table


def installed_plugins() -> dict[str, str]:
    """The installed Apprise's own table (every plugin loaded): class path -> its schemes."""
    from apprise import manager_plugins

    make_manager: Any = manager_plugins.NotificationManager  # untyped in Apprise
    manager = make_manager()
    table: dict[str, list[str]] = {}
    for scheme in manager.schemas():
        plugin = manager[scheme]
        if plugin.__module__.startswith(_PLUGIN_PACKAGE):  # not custom ones (bwconsole://)
            path = f"{plugin.__module__.removeprefix(_PLUGIN_PACKAGE)}.{plugin.__qualname__}"
            table.setdefault(path, []).append(scheme)
    return {path: " ".join(sorted(schemes)) for path, schemes in sorted(table.items())}


def table_source() -> str:
    """The text of :mod:`balancewatch.apprise_schemes` for the installed Apprise."""
    import apprise

    rows = "".join(f'    "{path}": "{schemes}",\n' for path, schemes in installed_plugins().items())
    return (
        '"""Apprise\'s schemes and the plugin class serving each, generated by\n'
        "``python -m balancewatch.appriseurl`` from the installed Apprise; do not edit.\n"
        '"""\n\n'
        f'APPRISE_VERSION = "{apprise.__version__}"\n\n'
        "PLUGINS: dict[str, str] = {\n"
        f"{rows}"
        "}\n"
        '"""Plugin class (under ``apprise.plugins``) -> its schemes, space-separated."""\n'
    )


if __name__ == "__main__":
    target = Path(__file__).with_name("apprise_schemes.py")
    target.write_text(table_source())
    print(f"wrote {target}")
