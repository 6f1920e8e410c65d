"""Channels: one Apprise URL of a notifier; the wording of a message; sending it there.

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

Wording (:func:`compose`): one poll's notifications for one channel are one message, worst
first, titled with the notification's own title or ``[CRITICAL] acme: 2 alerts (1 critical,
1 warning)``. A notifier's ``title``/``body`` templates (``str.format`` with the
notification's fields; a field it lacks is empty) replace the default wording; for a
grouped message the title template gets the worst notification's fields with ``count``,
``id`` (all ids) and ``summary`` (the breakdown), and the body template is applied to each
notification. Any notification id not already in the body is appended, so every message
names its ids and a duplicate can be recognised. Field values are Markdown-escaped for
Markdown channels; the template's own text is the operator's and is sent as written.

Apprise is imported lazily, and a channel loads only the plugin its URL names
(:func:`balancewatch.appriseurl.instantiate`): loading all ~180 takes a noticeable fraction
of a second and ~18 MB that a daemon would keep. ``bwconsole://`` (prints messages to
stdout, for the demo; :func:`balancewatch.console.register_console`) is registered, with
every plugin, when a URL using it is validated or sent.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlsplit

from balancewatch.model import Severity
from balancewatch.observe import REDACTOR, get_logger
from balancewatch.records import Notification

if TYPE_CHECKING:
    from balancewatch.config import Notifier

log = get_logger("balancewatch.notify")

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


# ---------------------------------------------------------------- wording


class _Fields(dict[str, str]):
    """Template values: a field a notification does not have is empty."""

    def __missing__(self, key: str) -> str:
        return ""


def compose(notes: Sequence[Notification], notifier: Notifier | None = None) -> Outgoing:
    """The message for one poll's notifications on one channel (pure, except a log line
    when a template cannot be applied and the default wording is used instead)."""
    ordered = sorted(notes, key=_urgency, reverse=True)
    title_template = notifier.title if notifier else None
    body_template = notifier.body if notifier else None
    if len(ordered) == 1:
        title = _fill(title_template, ordered[0].fields) or ordered[0].title
    else:
        title = _fill(title_template, _group_fields(ordered)) or _group_title(ordered)
    ids = [note.id for note in ordered]
    text = "\n\n".join(_fill(body_template, n.fields) or n.body for n in ordered)
    markdown = "\n\n".join(
        _fill(body_template, n.fields, md_escape) or _markdown_body(n, title) for n in ordered
    )
    return Outgoing(
        title,
        _with_ids(text, ids, markdown=False),
        _with_ids(markdown, ids, markdown=True),
        _notify_type(ordered[0]),
    )


def _urgency(note: Notification) -> tuple[bool, Severity]:
    return note.kind != "resolved", note.severity


def _label(note: Notification) -> str:
    return "resolved" if note.kind == "resolved" else note.severity.label


def _breakdown(ordered: Sequence[Notification]) -> str:
    counts = Counter(_label(note) for note in ordered)
    return f"{len(ordered)} alerts ({', '.join(f'{n} {label}' for label, n in counts.items())})"


def _group_title(ordered: Sequence[Notification]) -> str:
    accounts = {note.account for note in ordered}
    where = ordered[0].account if len(accounts) == 1 else "balancewatch"
    return f"[{_label(ordered[0]).upper()}] {where}: {_breakdown(ordered)}"


def _group_fields(ordered: Sequence[Notification]) -> dict[str, str]:
    return {
        **ordered[0].fields,
        "severity": _label(ordered[0]),
        "count": str(len(ordered)),
        "id": ", ".join(note.id for note in ordered),
        "summary": _breakdown(ordered),
    }


def _notify_type(worst: Notification) -> NotifyType:
    if worst.kind == "resolved":
        return "success"
    types: dict[Severity, NotifyType] = {Severity.CRITICAL: "failure", Severity.WARNING: "warning"}
    return types.get(worst.severity, "info")


def _fill(
    template: str | None, fields: Mapping[str, str], escape: Callable[[str], str] = str
) -> str | None:
    """``template`` filled in, or None (no template, or it fails on these values)."""
    if template is None:
        return None
    try:
        return template.format_map(_Fields({k: escape(v) for k, v in fields.items()}))
    except (ValueError, KeyError, IndexError, AttributeError, TypeError) as exc:
        log.warning("template_failed", error=str(exc), fields=sorted(fields))
        return None


def md_escape(text: str) -> str:
    """Escape what CommonMark would read as markup in plain text.

    Underscores are left alone: CommonMark does not emphasise inside words, and Apprise's
    Slack and Telegram converters keep ``low_balance`` literal, while ``\\_`` would show
    its backslash in Slack.
    """
    for char in ("\\", "`", "*", "[", "]", "<", ">"):
        text = text.replace(char, "\\" + char)
    return text


def _markdown_body(note: Notification, title: str) -> str:
    """The default body with its headline in bold and the id as code.

    Chat services show the title in bold above the body, so a headline that repeats the
    title is cut down to what it adds (the trend in brackets).
    """
    first, *rest = note.body.split("\n")
    if first.startswith(title):
        first, bold = first.removeprefix(title).strip(), False
    else:
        bold = True
    head = [f"**{md_escape(first)}**" if bold else md_escape(first)] if first else []
    lines = [*head, *(md_escape(line) for line in rest)]
    return "\n".join(lines).replace(f"id {note.id}", f"id `{note.id}`")


def _with_ids(body: str, ids: Sequence[str], *, markdown: bool) -> str:
    missing = [nid for nid in ids if nid not in body]
    if not missing:
        return body
    shown = ", ".join(f"`{nid}`" if markdown else nid for nid in missing)
    return f"{body}\n\nid{'s' if len(missing) > 1 else ''}: {shown}"


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

    from balancewatch import appriseurl

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
    from balancewatch.config import url_secrets

    hidden = sorted({*secrets, *url_secrets(url)}, key=len, reverse=True)
    for secret in hidden:
        if len(secret) >= 4:
            text = text.replace(secret, "***")
    text = REDACTOR.text(" ".join(text.split()))
    return text if len(text) <= MAX_REASON else text[: MAX_REASON - 3] + "..."
