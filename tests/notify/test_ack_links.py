"""Every notification of a firing alert carries the link acknowledging its episode, when
``http: {public_url, secret}`` is set; resolved, event and system messages carry none."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from balancewatch.acklinks import AckClaim
from balancewatch.alerts import Transition
from balancewatch.config.load import parse_config
from balancewatch.model import Severity
from balancewatch.notify.compose import ack_links, compose
from balancewatch.notify.wording import Where, render, system_notification
from balancewatch.records import AlertState, Notification, NotificationKind

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
STARTED = NOW - timedelta(hours=2, microseconds=5)
SECRET = "s" * 40
CONFIG = f"""\
notifiers:
  ops: "json://127.0.0.1:9/hook"
  custom:
    urls: "json://127.0.0.1:9/other"
    body: "{{account}} is {{severity}}"
accounts:
  - {{name: shop, provider: oneclickdz, api_key: shop-key-123456}}
http:
  public_url: https://bw.example.com/
  secret: {SECRET}
  ack_links_valid_for: 3d
"""
STATE = AlertState(
    "shop", "threshold:DZD", "threshold", "threshold", "DZD", "state", "firing",
    Severity.CRITICAL, "available 900 DZD is below 1,000 DZD", started_at=STARTED,
)  # fmt: skip
WHERE = Where("shop", "oneclickdz")


def note(kind: NotificationKind = "repeat") -> Notification:
    return render(Transition(kind, STATE), WHERE, now=NOW, poll_id="p")


def test_a_reminder_carries_a_link_that_verifies_to_its_episode() -> None:
    """The link is under public_url, and its token names the account, the alert, the
    episode (to the microsecond) and an expiry of ack_links_valid_for after creation."""
    config = parse_config(CONFIG)
    assert config.http is not None
    message = compose([note()], config.notifiers["ops"], ack_links(config.http))
    (url,) = [w for w in message.text.split() if w.startswith("https://")]
    assert url.startswith("https://bw.example.com/ack/")
    assert f"Acknowledge (stops the reminders): {url}" in message.text
    assert url in message.markdown
    signer = config.http.ack_signer()
    assert signer is not None
    claim = signer.verify(url.rsplit("/", 1)[1], NOW)
    assert claim == AckClaim("shop", "threshold:DZD", STARTED, NOW + timedelta(days=3))


def test_a_template_without_the_link_still_sends_it() -> None:
    """A body template that leaves out {ack_url} gets the link appended; the link is the
    same on a retry (its expiry counts from the notification's creation)."""
    config = parse_config(CONFIG)
    links = ack_links(config.http)
    first = compose([note("firing")], config.notifiers["custom"], links)
    again = compose([note("firing")], config.notifiers["custom"], links)
    assert first.text.startswith("shop is critical\nAcknowledge: https://bw.example.com/ack/")
    assert first.text == again.text


def test_resolved_event_and_system_messages_carry_no_link() -> None:
    """Nothing to acknowledge once it resolved, in a one-off event, or about balancewatch."""
    links = ack_links(parse_config(CONFIG).http)
    resolved = render(
        Transition("resolved", replace(STATE, status="resolved")), WHERE, now=NOW, poll_id="p"
    )
    event = render(Transition("event", replace(STATE, kind="event")), WHERE, now=NOW, poll_id="p")
    system = system_notification("state reset", "moved aside", now=NOW, severity=Severity.WARNING)
    for plain in (resolved, event, system):
        assert "/ack/" not in compose([plain], None, links).text


def test_without_a_public_url_or_a_secret_there_is_no_link() -> None:
    """Links need both: where the page is, and a key that outlives a restart."""
    no_url = parse_config(CONFIG.replace("  public_url: https://bw.example.com/\n", ""))
    no_secret = parse_config(CONFIG.replace(f"  secret: {SECRET}\n", ""))
    assert ack_links(no_url.http) is None
    assert ack_links(no_secret.http) is None
    assert ack_links(None) is None
    assert "/ack/" not in compose([note()]).text
