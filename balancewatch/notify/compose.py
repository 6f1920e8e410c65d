"""The message for one channel: one poll's notifications, worded once for plain text and once
for Markdown (the channel's service decides which is sent, :mod:`balancewatch.channels`).

One poll's notifications for one channel are one message, worst
first, titled with the notification's own title or ``[CRITICAL] acme: 2 alerts (1 critical,
1 warning)``. A notifier's ``title``/``body`` templates (``str.format`` with the
notification's fields; a field it lacks is empty) replace the default wording; for a
grouped message the title template gets the worst notification's fields with ``count``,
``id`` (all ids) and ``summary`` (the breakdown), and the body template is applied to each
notification. Any notification id not already in the body is appended, so every message
names its ids and a duplicate can be recognised. Field values are Markdown-escaped for
Markdown channels; the template's own text is the operator's and is sent as written.

With ``http: {public_url, secret}`` set, a notification of a firing alert (firing, repeat,
escalated, de-escalated) carries the link that acknowledges its episode (``ack_url``
field for templates; appended when the body does not show it). The link's expiry counts
from the notification's creation, so a retried delivery sends the same link.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

import structlog

from balancewatch.acklinks import AckClaim, link
from balancewatch.channels.send import NotifyType, Outgoing
from balancewatch.model import Severity
from balancewatch.records import Notification

if TYPE_CHECKING:
    from balancewatch.config.http import HttpSettings
    from balancewatch.config.models import Notifier

Links = Callable[[Notification], str | None]
"""A notification's acknowledgement link, or None (it has none)."""
ACKABLE = ("firing", "repeat", "escalated", "deescalated")

log = structlog.get_logger("balancewatch.notify")


class _Fields(dict[str, str]):
    """Template values: a field a notification does not have is empty."""

    def __missing__(self, key: str) -> str:
        return ""


def ack_links(http: HttpSettings | None) -> Links | None:
    """The links of ``http``'s page, or None without both ``public_url`` and ``secret``."""
    signer = http.ack_signer() if http is not None else None
    if http is None or signer is None or http.public_url is None:
        return None
    public_url, ttl = http.public_url, http.ack_links_valid_for

    def made(note: Notification) -> str | None:
        started = note.fields.get("started")
        if note.kind not in ACKABLE or not started:
            return None
        claim = AckClaim(
            note.account, note.alert_key, datetime.fromisoformat(started), note.created_at + ttl
        )
        return link(public_url, signer.sign(claim))

    return made


def _with_link(note: Notification, links: Links | None) -> Notification:
    url = links(note) if links is not None else None
    if url is None:
        return note
    ack = f"Acknowledge (stops the reminders): {url}"
    return replace(note, body=f"{note.body}\n{ack}", fields={**note.fields, "ack_url": url})


def compose(
    notes: Sequence[Notification], notifier: Notifier | None = None, links: Links | None = None
) -> Outgoing:
    """The message for one poll's notifications on one channel (pure, except a log line
    when a template cannot be applied and the default wording is used instead)."""
    ordered = sorted((_with_link(n, links) for n in notes), key=_urgency, reverse=True)
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
    urls = [n.fields["ack_url"] for n in ordered if n.fields.get("ack_url")]
    return Outgoing(
        title,
        _with_ids(_with_links(text, urls), ids, markdown=False),
        _with_ids(_with_links(markdown, urls), ids, markdown=True),
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


def _with_links(body: str, urls: Sequence[str]) -> str:
    """A template that leaves out ``{ack_url}`` still sends the links, at the end."""
    missing = [url for url in urls if url not in body]
    return "\n".join([body, *(f"Acknowledge: {url}" for url in missing)])


def _with_ids(body: str, ids: Sequence[str], *, markdown: bool) -> str:
    missing = [nid for nid in ids if nid not in body]
    if not missing:
        return body
    shown = ", ".join(f"`{nid}`" if markdown else nid for nid in missing)
    return f"{body}\n\nid{'s' if len(missing) > 1 else ''}: {shown}"
