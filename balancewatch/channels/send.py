"""Channels: one Apprise URL of a notifier, and sending one message there.

A notifier with one URL is one channel named after it (``slack``); a notifier with several
URLs is one channel per URL, numbered from 1 (``ops-email#1``, ``ops-email#2``). Delivery is
recorded per (notification, channel), and each send uses its own Apprise object holding
exactly one URL, so a channel that succeeded is never sent again because another failed
(Apprise's PARTIAL result cannot say which URL got the message).

Apprise facts this module relies on (read in Apprise 2.2's source):

- ``Apprise.notify()`` never raises. 2.x returns an ``AppriseResult`` whose ``status`` is
  SUCCESS, FAILURE, PARTIAL, NOMATCH or TIMEOUT, and only SUCCESS is truthy; 1.x returns a
  bool. :func:`outcome` reads both. A TIMEOUT is "maybe delivered": it is retried.
- ``notify()`` is blocking (``requests``, ``smtplib``); ``async_notify()`` still runs the
  message preparation on the caller's thread, so :func:`send` runs the whole sync call in a
  worker thread instead, bounded by a semaphore and ``asyncio.wait_for``.
- Three limits keep a hanging receiver from holding a worker: the request timeouts of the
  plugin (``cto``/``rto``, shortened to the send timeout unless the URL sets them), Apprise's
  own deadline (``service_timeout`` and ``notify(timeout=)``, 2.x), and ``wait_for``.
- Markdown is sent (``body_format=MARKDOWN``) only to chat services that render it
  (:data:`MARKDOWN_SERVICES`: Slack, Telegram, Discord, ...); Apprise translates CommonMark
  to each one's dialect. Everything else, e-mail included, gets plain text.

Apprise is imported lazily, and a channel loads only the plugin its URL names
(:func:`balancewatch.channels.apprise_url.instantiate`): loading all ~180 takes a noticeable
fraction of a second and ~18 MB that a daemon would keep. ``bwconsole://`` (prints messages to
stdout, for the demo; :func:`balancewatch.channels.console.register_console`) is registered, with
every plugin, when a URL using it is validated or sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

import structlog

from balancewatch.redaction import REDACTOR, Redactor, url_secrets

log = structlog.get_logger("balancewatch.notify")

MARKDOWN_SERVICES = frozenset(
    {"slack", "tgram", "discord", "gchat", "matrix", "matrixs", "rocket", "rockets"}
)
"""Apprise schemes of chat services that render Markdown (and whose plugin accepts it)."""

WAIT_GRACE = 2.0
"""Seconds ``wait_for`` allows beyond the send timeout, for Apprise to report its own."""
MAX_REASON = 200

NotifyType = Literal["info", "success", "warning", "failure"]


@dataclass(frozen=True, slots=True)
class Channel:
    """One Apprise URL of a notifier. ``url`` holds secrets: it is never printed or logged."""

    name: str
    notifier: str
    url: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message, worded both ways; the channel's service decides which is sent."""

    title: str
    text: str
    markdown: str
    notify_type: NotifyType = "info"


@dataclass(frozen=True, slots=True)
class SendResult:
    """What became of one send. ``reason`` is one line without secrets ("" on success)."""

    ok: bool
    status: str
    reason: str = ""


def channel_names(notifier: str, count: int) -> list[str]:
    """``notifier`` for a single URL, else ``notifier#1`` ... ``notifier#count``."""
    if count == 1:
        return [notifier]
    return [f"{notifier}#{index}" for index in range(1, count + 1)]


def notifier_channels(notifier: str, urls: Sequence[str]) -> list[Channel]:
    names = channel_names(notifier, len(urls))
    return [Channel(name, notifier, url) for name, url in zip(names, urls, strict=True)]


def all_channels(urls_by_notifier: Mapping[str, Sequence[str]]) -> dict[str, Channel]:
    """Every channel of every notifier, by channel name."""
    return {
        channel.name: channel
        for notifier, urls in urls_by_notifier.items()
        for channel in notifier_channels(notifier, urls)
    }


# ---------------------------------------------------------------- sending


async def send(
    channel: Channel,
    message: Outgoing,
    *,
    send_timeout: float,
    limit: asyncio.Semaphore,
    secrets: Iterable[str] = (),
) -> SendResult:
    """Send ``message`` on ``channel`` without blocking the loop; never raises."""
    async with limit:
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(send_blocking, channel, message, send_timeout, tuple(secrets)),
                timeout=send_timeout + WAIT_GRACE,
            )
        except TimeoutError:
            # The worker thread may still finish; the outbox retries, so at worst a duplicate.
            return SendResult(False, "timeout", f"no answer within {send_timeout:g} s")


def send_blocking(
    channel: Channel, message: Outgoing, timeout: float, secrets: Sequence[str] = ()
) -> SendResult:
    """The blocking part of :func:`send`, run in a worker thread."""
    try:
        result = _send(channel, message, timeout)
    except Exception as exc:  # Apprise should not raise; a bug there must not kill delivery
        result = SendResult(False, "error", f"{type(exc).__name__}: {exc}")
    if result.reason:
        result = replace(result, reason=scrub(result.reason, channel.url, secrets))
    return result


def _send(channel: Channel, message: Outgoing, timeout: float) -> SendResult:
    import apprise

    from balancewatch.channels import apprise_url as appriseurl

    asset = _asset(apprise, timeout)
    plugin = appriseurl.instantiate(channel.url, asset)
    if not plugin:
        return SendResult(False, "unusable", "Apprise cannot use this URL")
    _limit_request_timeouts(plugin, channel.url, timeout)
    sender = apprise.Apprise(asset=asset)
    sender.add(plugin)
    markdown = wants_markdown(plugin)
    options: dict[str, Any] = {}
    if hasattr(apprise, "AppriseResultStatus"):  # 2.x: a deadline for the whole call
        options["timeout"] = timeout
    result = sender.notify(
        body=message.markdown if markdown else message.text,
        title=message.title,
        notify_type=message.notify_type,
        body_format=apprise.NotifyFormat.MARKDOWN if markdown else apprise.NotifyFormat.TEXT,
        **options,
    )
    try:
        ok, status = outcome(result)
        return SendResult(ok, status, "" if ok else _reason(status, result))
    finally:
        close = getattr(result, "close", None)
        if callable(close):
            close()


def _asset(apprise: Any, timeout: float) -> Any:
    if hasattr(apprise, "AppriseResultStatus"):
        return apprise.AppriseAsset(service_timeout=timeout)
    return apprise.AppriseAsset()


def _limit_request_timeouts(plugin: Any, url: str, timeout: float) -> None:
    """Shorten the plugin's connect/read timeouts to ``timeout``, unless the URL sets them."""
    given = {key for key, _value in parse_qsl(urlsplit(url).query)}
    for param, attribute in (("cto", "socket_connect_timeout"), ("rto", "socket_read_timeout")):
        current = getattr(plugin, attribute, None)
        if param not in given and isinstance(current, int | float):
            setattr(plugin, attribute, min(float(current), timeout))


def wants_markdown(plugin: Any) -> bool:
    """True for a chat service that renders Markdown and whose plugin accepts it."""
    schemes: set[str] = set()
    for attribute in ("protocol", "secure_protocol"):
        value = getattr(plugin, attribute, None)
        schemes.update([value] if isinstance(value, str) else value or ())
    formats = getattr(plugin, "notify_format", ())
    formats = formats if isinstance(formats, tuple | list) else (formats,)
    accepted = {str(getattr(item, "value", item)) for item in formats}
    return bool(schemes & MARKDOWN_SERVICES) and "markdown" in accepted


def outcome(result: object) -> tuple[bool, str]:
    """``(ok, status)`` from what ``notify()`` returned: 2.x result or 1.x bool."""
    status = getattr(result, "status", None)
    if status is None:
        return (True, "success") if result is True else (False, "failure")
    name = str(getattr(status, "name", status)).lower()
    return name == "success", name


def _reason(status: str, result: object) -> str:
    """The last warning Apprise logged for this call (2.x), else the status."""
    last = ""
    logs = getattr(result, "logs", None)
    if callable(logs):
        for entry in logs():
            if getattr(entry, "level", "") in ("WARNING", "ERROR", "CRITICAL"):
                last = str(getattr(entry, "message", ""))
    return f"{status}: {last}" if last else status


# ---------------------------------------------------------------- no secrets in reasons


def scrub(text: str, url: str, secrets: Iterable[str] = ()) -> str:
    """``text`` on one line, short, without the URL, its token-like parts or known secrets."""
    hidden = Redactor([*secrets, *url_secrets(url, path_tokens=True)])
    # Hidden before and after the spaces are joined: a secret may hold a line break, and
    # joining may spell out one that held a double space.
    line = hidden.hide(" ".join(hidden.hide(text).split()))
    line = REDACTOR.hide(line)
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 3] + "..."
