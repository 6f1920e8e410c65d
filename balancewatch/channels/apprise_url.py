"""Whether Apprise can use a notifier URL, asking only the plugin that the URL names.

``Apprise().add(url)`` answers by importing every one of Apprise's plugin modules first
(about 180, a quarter of a second and most of ``balancewatch validate``'s time).
:mod:`balancewatch.channels.schemes` maps each scheme to the class that serves it, one
table per supported Apprise release; :func:`accepts` imports that one class and asks it
what ``add()`` asks: ``parse_url``, then the constructor, with the ``enabled`` checks
before and after. Anything else goes to ``Apprise().add(url)`` itself: a URL without a
known scheme (a service's own https:// webhook address, which Apprise recognises by
scanning every plugin; ``bwconsole://``), or an Apprise release without a table (a
warning says so, once: it is slower and the daemon keeps ~18 MB more).

A test keeps the answers equal: the table against the installed Apprise's own, and
:func:`accepts` against ``add()`` on good and bad URLs of every scheme.

Run ``python -m balancewatch.channels.apprise_url`` with a new Apprise release installed to write
its table (then list it in ``apprise_schemes.SUPPORTED`` and ``pyproject.toml``).
"""

from __future__ import annotations

import functools
import importlib
import logging
import sys
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from balancewatch.channels import schemes as apprise_schemes

_PLUGIN_PACKAGE = "apprise.plugins."


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
    known = scheme_plugins()
    if known is None:
        return True
    schemes = [_scheme(one) for one in split(url)]
    return any(scheme is not None and scheme not in known for scheme in schemes)


@functools.cache
def scheme_plugins() -> Mapping[str, str] | None:
    """Scheme -> plugin class (under ``apprise.plugins``) for the installed Apprise, or None
    (with a warning, once) when balancewatch has no table for that release."""
    import apprise

    table = apprise_schemes.plugins(apprise.__version__)
    if table is None:
        logging.getLogger("balancewatch.notify").warning(
            "Apprise %s is not a release balancewatch is tested with (%s): notifier URLs are "
            "checked and sent by loading every Apprise plugin (slower, ~18 MB more); "
            "install a supported release: pip install 'apprise>=%s,<=%s'",
            apprise.__version__,
            ", ".join(apprise_schemes.SUPPORTED),
            apprise_schemes.SUPPORTED[0],
            apprise_schemes.SUPPORTED[-1],
        )
        return None
    return {scheme: path for path, schemes in table.items() for scheme in schemes.split()}


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
        from balancewatch.channels.console import register_console

        register_console()  # the demo's bwconsole:// (registering loads every plugin)
        return apprise.Apprise.instantiate(url, asset=asset)
    with _quiet_apprise():
        return _instance(url, asset)


def _instance(url: str, asset: Any) -> Any | None:
    """What ``Apprise.instantiate`` does with the plugin serving ``url`` (Apprise 2.2, 2.3)."""
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
    known = scheme_plugins()
    assert known is not None  # only called once needs_every_plugin() said a table knows it
    module, _, name = known[scheme].rpartition(".")
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
    """The text of the installed Apprise release's table module."""
    import apprise

    version = apprise.__version__
    rows = "".join(f'    "{path}": "{schemes}",\n' for path, schemes in installed_plugins().items())
    return (
        f'"""Apprise {version}\'s schemes and the plugin class serving each, generated by\n'
        "``python -m balancewatch.channels.apprise_url`` from that release; do not edit.\n"
        '"""\n\n'
        f'APPRISE_VERSION = "{version}"\n\n'
        "PLUGINS: dict[str, str] = {\n"
        f"{rows}"
        "}\n"
        '"""Plugin class (under ``apprise.plugins``) -> its schemes, space-separated."""\n'
    )


def table_path(version: str) -> Path:
    """Where the table of ``version`` is written."""
    package = Path(apprise_schemes.__file__).parent
    return package / f"{apprise_schemes.module_name(version).rpartition('.')[2]}.py"


if __name__ == "__main__":
    import apprise

    target = table_path(apprise.__version__)
    target.write_text(table_source())
    print(f"wrote {target}")
    if apprise.__version__ not in apprise_schemes.SUPPORTED:
        print(
            f"now add {apprise.__version__!r} to SUPPORTED in {apprise_schemes.__file__} "
            "and widen the apprise range in pyproject.toml",
            file=sys.stderr,
        )
