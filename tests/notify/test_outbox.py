"""Notifications: routing, wording, and delivery through the outbox to real receivers.

Delivery is tested end to end against real local servers (an SMTP server, a JSON webhook)
and a real SQLite store; Slack and Telegram, which need the internet, are checked at the
``requests`` transport: the request Apprise would send is captured and answered 200.
The clock is passed in (``now``), never slept on; the only real waits are the short send
timeouts of receivers that hang.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import apprise
import pytest
import requests
from structlog.testing import capture_logs

from balancewatch.channels import send as channels
from balancewatch.channels.console import register_console
from balancewatch.channels.send import outcome
from balancewatch.config.load import Config, parse_config
from balancewatch.model import Severity
from balancewatch.notify.compose import compose
from balancewatch.notify.outbox import (
    BACKOFF_CAP,
    DeliveryStats,
    OnSent,
    backoff,
    deliver_due,
    notify_test,
    plan_deliveries,
)
from balancewatch.records import Delivery, Notification, NotificationKind
from balancewatch.state.sqlite import SqliteStore
from tests.receivers import JsonReceiver, SmtpReceiver

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SEND_TIMEOUT = 1.0


# ---------------------------------------------------------------- builders


def make_config(
    notifiers: dict[str, Any],
    routes: list[dict[str, Any]] | None = None,
    give_up_after: str = "1h",
) -> Config:
    """A validated config (the real parser) with two accounts and these notifiers."""
    doc: dict[str, Any] = {
        "notify": {"give_up_after": give_up_after},
        "notifiers": notifiers,
        "accounts": [
            {"name": "acme", "provider": "dhmad", "api_key": "acme-key-123456", "tags": ["pay"]},
            {"name": "beta", "provider": "sunor", "api_key": "beta-key-123456"},
        ],
    }
    if routes is not None:
        doc["routes"] = routes
    return parse_config(json.dumps(doc), environ={})


def note(
    nid: str,
    *,
    kind: NotificationKind = "firing",
    severity: Severity = Severity.WARNING,
    account: str = "acme",
    poll: str = "poll-1",
    tags: tuple[str, ...] = ("pay",),
    at: datetime = T0,
) -> Notification:
    """A notification shaped like ``messages.render`` makes them."""
    label = "RESOLVED" if kind == "resolved" else severity.name
    title = f"[{label}] {account}: available 950.00 TND is below 1,000.00 TND"
    body = (
        f"{title} (was 1,420.00 TND 2 min ago)\nNext: top up the account.\n"
        f"Account {account} (dhmad), rule threshold, TND · new · id {nid}"
    )
    fields = {
        "account": account,
        "provider": "dhmad",
        "severity": "resolved" if kind == "resolved" else severity.label,
        "rule": "threshold",
        "currency": "TND",
        "amount": "950.00 TND",
        "threshold": "1,000.00 TND",
        "summary": "available 950.00 TND is below 1,000.00 TND",
        "status": kind,
        "id": nid,
        "count": "1",
        "tags": ",".join(tags),
    }
    return Notification(
        nid, account, "threshold:TND", kind, severity, title, body, at, poll, fields, tags
    )


def channels_of(deliveries: list[Delivery], nid: str) -> set[str]:
    return {d.channel for d in deliveries if d.notification_id == nid}


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "state.db"


@pytest.fixture
def store(db: Path) -> Iterator[SqliteStore]:
    with SqliteStore.open(db, now=T0) as opened:
        yield opened


@pytest.fixture
def up() -> Iterator[JsonReceiver]:
    with JsonReceiver() as receiver:
        yield receiver


@pytest.fixture
def down() -> Iterator[JsonReceiver]:
    """A receiver that starts broken; tests choose how."""
    with JsonReceiver(hang_for=5.0) as receiver:
        yield receiver


def enqueue(store: SqliteStore, config: Config, *notes: Notification) -> list[Delivery]:
    deliveries = plan_deliveries(notes, config)
    store.enqueue(notes, deliveries)
    return deliveries


def deliver(
    store: SqliteStore, config: Config, now: datetime, on_sent: OnSent | None = None
) -> DeliveryStats:
    return asyncio.run(deliver_due(store, config, now, on_sent=on_sent, send_timeout=SEND_TIMEOUT))


# ---------------------------------------------------------------- routing

HOOKS = {"slack": "json://127.0.0.1:9/s", "mail": "json://127.0.0.1:9/m"}


def test_without_routes_every_notifier_gets_every_notification() -> None:
    """No ``routes:`` means all notifiers, one delivery per (notification, channel)."""
    deliveries = plan_deliveries([note("aaaaaaaaa1"), note("aaaaaaaaa2")], make_config(HOOKS))
    assert sorted((d.notification_id, d.channel) for d in deliveries) == [
        ("aaaaaaaaa1", "mail"),
        ("aaaaaaaaa1", "slack"),
        ("aaaaaaaaa2", "mail"),
        ("aaaaaaaaa2", "slack"),
    ]
    assert all(d.next_attempt_at is None and d.attempts == 0 for d in deliveries)


def test_a_notifier_with_several_urls_is_one_channel_per_url() -> None:
    """Each URL is delivered and retried on its own: ``ops#1``, ``ops#2``."""
    config = make_config({"ops": ["json://127.0.0.1:9/a", "json://127.0.0.1:9/b"]})
    assert channels_of(plan_deliveries([note("aaaaaaaaa1")], config), "aaaaaaaaa1") == {
        "ops#1",
        "ops#2",
    }


def test_every_matching_route_adds_its_notifiers() -> None:
    """Severity, tags and account all route; a notification no route takes goes nowhere."""
    config = make_config(
        HOOKS,
        routes=[
            {"match": {"severity": "critical"}, "notify": ["mail"]},
            {"match": {"tags": ["pay"]}, "notify": ["slack"]},
            {"match": {"account": "beta", "severity": ["warning"]}, "notify": ["mail"]},
        ],
    )
    notes = [
        note("c0000acme0", severity=Severity.CRITICAL),
        note("w0000acme0"),
        note("c0000beta0", severity=Severity.CRITICAL, account="beta", tags=()),
        note("w0000beta0", account="beta", tags=()),
        note("i0000beta0", severity=Severity.INFO, account="beta", tags=()),
    ]
    deliveries = plan_deliveries(notes, config)
    assert channels_of(deliveries, "c0000acme0") == {"mail", "slack"}
    assert channels_of(deliveries, "w0000acme0") == {"slack"}
    assert channels_of(deliveries, "c0000beta0") == {"mail"}
    assert channels_of(deliveries, "w0000beta0") == {"mail"}
    assert channels_of(deliveries, "i0000beta0") == set()


def test_send_resolved_false_on_a_route_drops_resolved_for_that_route_only() -> None:
    """The pager route skips "resolved"; the chat route still tells everyone it is over."""
    config = make_config(
        HOOKS,
        routes=[
            {"match": {"severity": "critical"}, "notify": ["mail"], "send_resolved": False},
            {"notify": ["slack"]},
        ],
    )
    resolved = note("r000000001", kind="resolved", severity=Severity.CRITICAL)
    firing = note("f000000001", severity=Severity.CRITICAL)
    deliveries = plan_deliveries([resolved, firing], config)
    assert channels_of(deliveries, "r000000001") == {"slack"}
    assert channels_of(deliveries, "f000000001") == {"mail", "slack"}


def test_route_repeat_zero_means_no_reminders_there_and_positive_lets_them_through() -> None:
    """Reminders come at the account's ``repeat``; a route can refuse them (repeat 0).

    The config schema only accepts positive durations today, so the zero case is built
    with ``model_copy`` (see the report: ``repeat: 0``/``never`` on routes).
    """
    config = make_config(
        HOOKS,
        routes=[{"notify": ["mail"], "repeat": "1h"}, {"notify": ["slack"], "repeat": "2h"}],
    )
    quiet = config.routes[1].model_copy(update={"repeat": timedelta(0)})
    config = config.model_copy(update={"routes": (config.routes[0], quiet)})
    reminder, fresh = note("p000000001", kind="repeat"), note("f000000001")
    deliveries = plan_deliveries([reminder, fresh], config)
    assert channels_of(deliveries, "p000000001") == {"mail"}
    assert channels_of(deliveries, "f000000001") == {"mail", "slack"}


def test_system_notifications_go_to_every_notifier_whatever_the_routes() -> None:
    """balancewatch talking about itself (state reset) reaches everyone."""
    from balancewatch.notify.wording import system_notification

    config = make_config(HOOKS, routes=[{"match": {"account": "acme"}, "notify": ["slack"]}])
    warning = system_notification("state reset", "moved aside", now=T0, severity=Severity.WARNING)
    assert channels_of(plan_deliveries([warning], config), warning.id) == {"mail", "slack"}


# ---------------------------------------------------------------- wording


def test_one_polls_alerts_for_one_channel_are_one_message_worst_first() -> None:
    """The title counts them; the body holds each, worst first, with every id."""
    message = compose(
        [
            note("aaaaaaaaa1"),
            note("aaaaaaaaa2", kind="resolved"),
            note("aaaaaaaaa3", severity=Severity.CRITICAL),
        ]
    )
    assert message.title == "[CRITICAL] acme: 3 alerts (1 critical, 1 warning, 1 resolved)"
    positions = [message.text.index(f"id {nid}") for nid in ("aaaaaaaaa3", "aaaaaaaaa1")]
    assert positions == sorted(positions)
    assert message.text.index("id aaaaaaaaa2") > positions[-1]
    assert message.notify_type == "failure"


def test_templates_fill_fields_and_the_ids_are_always_in_the_message() -> None:
    """A notifier's title/body templates replace the wording; ids are appended if missing."""
    config = make_config(
        {
            "hook": {
                "urls": "json://127.0.0.1:9/x",
                "title": "BW {severity} {account}",
                "body": "{account}: {amount} < {threshold} {runway}",
            }
        }
    )
    single = compose([note("aaaaaaaaa1")], config.notifiers["hook"])
    assert single.title == "BW warning acme"
    assert single.text == "acme: 950.00 TND < 1,000.00 TND \n\nid: aaaaaaaaa1"
    group = compose([note("aaaaaaaaa1"), note("aaaaaaaaa2")], config.notifiers["hook"])
    assert group.title == "BW warning acme"
    assert group.text.endswith("ids: aaaaaaaaa1, aaaaaaaaa2")


def test_markdown_wording_bolds_headlines_and_escapes_markup_in_values() -> None:
    """Values that look like Markdown stay literal; the id is code."""
    message = compose([note("aaaaaaaaa1", account="acme*corp"), note("aaaaaaaaa2")])
    assert "**\\[WARNING\\] acme\\*corp: available" in message.markdown
    assert "id `aaaaaaaaa1`" in message.markdown
    assert "**" not in message.text


# ---------------------------------------------------------------- services, end to end


def test_email_arrives_with_subject_plain_text_body_and_recipients(store: SqliteStore) -> None:
    """A ``mailto://`` notifier into a real SMTP server: plain text, not Markdown."""
    with SmtpReceiver() as smtp:
        config = make_config({"ops-email": smtp.url(to="ops@example.com")})
        enqueue(store, config, note("e000000001", severity=Severity.CRITICAL))
        stats = deliver(store, config, T0)
    assert (stats.messages, stats.delivered, stats.failed) == (1, 1, 0)
    [mail] = smtp.mails
    assert mail.sender == "alerts@example.com"
    assert mail.recipients == ("ops@example.com",)
    assert mail.subject == "[CRITICAL] acme: available 950.00 TND is below 1,000.00 TND"
    assert mail.message.get_content_type() == "text/plain"
    assert "Next: top up the account." in mail.text
    assert "id e000000001" in mail.text
    assert "**" not in mail.text


def test_json_webhook_gets_title_body_and_type(store: SqliteStore, up: JsonReceiver) -> None:
    """A ``json://`` notifier posts Apprise's JSON: title, message, type."""
    config = make_config({"hook": up.url("/alerts")})
    enqueue(store, config, note("j000000001", kind="resolved"))
    deliver(store, config, T0)
    [got] = up.messages("/alerts")
    assert got.payload["title"].startswith("[RESOLVED] acme:")
    assert "id j000000001" in got.payload["message"]
    assert got.payload["type"] == "success"
    assert store.outbox_depth() == 0


@pytest.fixture
def wire(monkeypatch: pytest.MonkeyPatch) -> list[requests.PreparedRequest]:
    """The requests transport, answering 200: what Apprise sends to the internet, captured."""
    sent: list[requests.PreparedRequest] = []

    def fake_send(
        self: requests.Session, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        sent.append(request)
        response = requests.Response()
        response.status_code = 200
        response._content = b"ok" if "slack" in str(request.url) else b'{"ok": true}'
        response.request, response.url = request, str(request.url)
        return response

    monkeypatch.setattr(requests.sessions.Session, "send", fake_send)
    return sent


def payload_of(request: requests.PreparedRequest) -> Any:
    assert isinstance(request.body, bytes | str)
    return json.loads(request.body)


SLACK_URL = "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ/#payments"
TELEGRAM_URL = "tgram://123456789:abcdefghijklmnopqrstuvwxyz1234/-1001234567"


def test_slack_gets_its_webhook_payload_in_mrkdwn(
    store: SqliteStore, wire: list[requests.PreparedRequest]
) -> None:
    """Slack: the incoming-webhook URL, the channel, ``mrkdwn`` on, a grouped message."""
    config = make_config({"slack": SLACK_URL})
    enqueue(store, config, note("s000000001", severity=Severity.CRITICAL), note("s000000002"))
    assert deliver(store, config, T0).messages == 1
    [request] = wire
    assert request.url == (
        "https://hooks.slack.com/services/T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ"
    )
    payload = payload_of(request)
    assert payload["channel"] == "#payments"
    assert payload["mrkdwn"] is True
    [attachment] = payload["attachments"]
    assert attachment["title"] == "[CRITICAL] acme: 2 alerts (1 critical, 1 warning)"
    assert "*[CRITICAL] acme: available 950.00 TND" in attachment["text"]  # bold in mrkdwn
    assert "id `s000000001`" in attachment["text"]
    assert "id `s000000002`" in attachment["text"]


def test_telegram_gets_sendmessage_with_markdown(
    store: SqliteStore, wire: list[requests.PreparedRequest]
) -> None:
    """Telegram: ``sendMessage`` of the bot, the chat id, a Markdown parse mode."""
    config = make_config({"telegram": TELEGRAM_URL})
    enqueue(store, config, note("t000000001", severity=Severity.CRITICAL))
    deliver(store, config, T0)
    [request] = wire
    assert request.url == (
        "https://api.telegram.org/bot123456789:abcdefghijklmnopqrstuvwxyz1234/sendMessage"
    )
    payload = payload_of(request)
    assert payload["chat_id"] == -1001234567
    assert payload["parse_mode"].lower().startswith("markdown")
    assert payload["text"].startswith("*[CRITICAL] acme: available 950.00 TND")
    assert "id `t000000001`" in payload["text"]


def test_console_channel_prints_the_message(
    store: SqliteStore, capsys: pytest.CaptureFixture[str]
) -> None:
    """``bwconsole://`` (the demo's notifier) prints the message to stdout, headline once."""
    register_console()
    config = make_config({"console": "bwconsole://"})
    alert = note("c000000001")
    enqueue(store, config, alert)
    with capture_logs():  # keep balancewatch's own log lines out of stdout
        assert deliver(store, config, T0).delivered == 1
    assert capsys.readouterr().out == alert.body + "\n\n"


# ---------------------------------------------------------------- grouping


def test_two_alerts_of_one_poll_to_one_channel_are_one_message_with_both_ids(
    store: SqliteStore, up: JsonReceiver
) -> None:
    """One poll, one channel, one message; another poll is another message."""
    config = make_config({"hook": up.url()})
    enqueue(store, config, note("g000000001"), note("g000000002", severity=Severity.CRITICAL))
    enqueue(store, config, note("g000000003", poll="poll-2"))
    stats = deliver(store, config, T0)
    assert (stats.messages, stats.delivered) == (2, 3)
    first, second = up.messages()
    assert first.payload["title"] == "[CRITICAL] acme: 2 alerts (1 critical, 1 warning)"
    assert "g000000001" in first.payload["message"]
    assert "g000000002" in first.payload["message"]
    assert "g000000003" in second.payload["message"]


# ---------------------------------------------------------------- failures and retries


def break_receiver(receiver: JsonReceiver, how: str) -> None:
    if how == "refused":
        receiver.refuse()
    else:
        receiver.mode = "error" if how == "http-500" else "hang"


def mend_receiver(receiver: JsonReceiver, how: str) -> None:
    if how == "refused":
        receiver.restore()
    else:
        receiver.mode = "up"
        receiver.release.set()


@pytest.mark.parametrize("how", ["refused", "http-500", "hanging"])
def test_a_down_channel_delays_nobody_and_is_retried_after_backoff_even_across_restart(
    how: str, db: Path, up: JsonReceiver, down: JsonReceiver
) -> None:
    """The healthy channel gets its message at once; the broken one is scheduled 30 s
    later, not tried before, and delivered (once) when back, after a restart too."""
    config = make_config({"good": up.url(), "bad": down.url()})
    break_receiver(down, how)
    store = SqliteStore.open(db, now=T0)
    enqueue(store, config, note("d000000001"))

    started = time.monotonic()
    stats = deliver(store, config, T0)
    assert (stats.delivered, stats.failed) == (1, 1)
    [good] = up.messages()
    assert good.at - started < SEND_TIMEOUT, "the healthy channel waited for the broken one"
    [pending] = store.due_deliveries(T0 + timedelta(days=1))
    assert pending.delivery.channel == "bad"
    assert pending.delivery.next_attempt_at == T0 + timedelta(seconds=30)
    assert pending.delivery.attempts == 1
    assert pending.delivery.last_error

    tries = (down.errors, down.hung)
    assert deliver(store, config, T0 + timedelta(seconds=29)) == DeliveryStats()
    assert (down.errors, down.hung) == tries, "retried before next_attempt_at"

    store.close()  # a restart: the schedule lives in the file
    mend_receiver(down, how)
    with SqliteStore.open(db, now=T0) as reopened:
        stats = deliver(reopened, config, T0 + timedelta(seconds=30))
        assert (stats.delivered, stats.failed) == (1, 0)
        assert reopened.outbox_depth() == 0
    assert len(down.messages()) == 1
    assert len(up.messages()) == 1, "the channel that succeeded was sent again"


def test_delivery_never_blocks_the_event_loop(store: SqliteStore, down: JsonReceiver) -> None:
    """While a receiver hangs, the loop keeps ticking: Apprise runs in a worker thread."""
    down.mode = "hang"
    config = make_config({"slow": down.url()})
    enqueue(store, config, note("b000000001"))

    async def deliver_while_ticking() -> tuple[DeliveryStats, float]:
        task = asyncio.create_task(deliver_due(store, config, T0, send_timeout=SEND_TIMEOUT))
        worst, last = 0.0, time.monotonic()
        while not task.done():
            await asyncio.sleep(0.01)
            worst, last = max(worst, time.monotonic() - last), time.monotonic()
        return await task, worst

    stats, worst_gap = asyncio.run(deliver_while_ticking())
    assert stats.failed == 1
    assert down.hung == 1
    assert worst_gap < 0.2, f"the event loop was blocked for {worst_gap:.2f} s"


def test_backoff_doubles_from_30s_and_is_capped_at_30min() -> None:
    """30 s, 1 min, 2 min, ... never more than 30 min apart."""
    waits = [backoff(attempts) for attempts in range(12)]
    assert waits[:4] == [timedelta(seconds=s) for s in (30, 60, 120, 240)]
    assert max(waits) == BACKOFF_CAP == timedelta(minutes=30)
    assert waits[-1] == BACKOFF_CAP


def test_retries_back_off_until_give_up_after_then_give_up_logged_and_counted(
    store: SqliteStore, down: JsonReceiver
) -> None:
    """Retried at growing intervals (the last one cut to the deadline), then given up:
    logged with channel and id, counted, and out of the outbox."""
    config = make_config({"pager": down.url()}, give_up_after="1h")
    down.refuse()
    enqueue(store, config, note("x000000001"))
    now, waits = T0, []
    while now < T0 + timedelta(hours=1):
        assert deliver(store, config, now).failed == 1
        [pending] = store.due_deliveries(T0 + timedelta(days=1))
        assert pending.delivery.next_attempt_at is not None
        waits.append(int((pending.delivery.next_attempt_at - now).total_seconds()))
        now = pending.delivery.next_attempt_at
    assert waits == [30, 60, 120, 240, 480, 960, 1710]

    with capture_logs() as logs:
        stats = deliver(store, config, now)
    assert (stats.gave_up, stats.given_up) == (1, [("x000000001", "pager")])
    [event] = [e for e in logs if e["event"] == "delivery_gave_up"]
    assert event["log_level"] == "error"
    assert (event["notification_id"], event["channel"], event["attempts"]) == (
        "x000000001",
        "pager",
        7,
    )
    assert store.outbox_depth() == 0


def test_a_channel_no_longer_in_the_config_is_retried_not_crashed_on(
    store: SqliteStore, up: JsonReceiver
) -> None:
    """Outbox rows for a notifier removed by a reload wait (and give up in time)."""
    enqueue(store, make_config({"old": up.url()}), note("o000000001"))
    stats = deliver(store, make_config({"new": up.url()}), T0)
    assert (stats.delivered, stats.failed) == (0, 1)
    [pending] = store.due_deliveries(T0 + timedelta(days=1))
    assert pending.delivery.last_error == "no such channel in the config"


def test_on_sent_runs_after_the_send_and_before_the_mark(
    store: SqliteStore, up: JsonReceiver
) -> None:
    """The crash tests' hook: the receiver has the message, the outbox still holds it."""
    config = make_config({"hook": up.url()})
    enqueue(store, config, note("h000000001"), note("h000000002"))
    seen: list[tuple[tuple[str, ...], str, int, int]] = []

    def on_sent(ids: tuple[str, ...], channel: str) -> None:
        seen.append((ids, channel, len(up.messages()), store.outbox_depth()))

    deliver(store, config, T0, on_sent=on_sent)
    assert seen == [(("h000000001", "h000000002"), "hook", 1, 2)]
    assert store.outbox_depth() == 0


# ---------------------------------------------------------------- Apprise's answers


@pytest.mark.parametrize(
    ("status", "ok"),
    [
        (apprise.AppriseResultStatus.SUCCESS, True),
        (apprise.AppriseResultStatus.FAILURE, False),
        (apprise.AppriseResultStatus.PARTIAL, False),
        (apprise.AppriseResultStatus.NOMATCH, False),
        (apprise.AppriseResultStatus.TIMEOUT, False),
    ],
)
def test_only_success_counts_as_delivered(status: Any, ok: bool) -> None:
    """Apprise 2.x results: PARTIAL is falsy, a TIMEOUT may have arrived and is retried."""
    assert outcome(apprise.AppriseResult(status=status)) == (ok, status.name.lower())


def test_apprise_1x_booleans_are_understood() -> None:
    assert outcome(True) == (True, "success")
    assert outcome(False) == (False, "failure")


# ---------------------------------------------------------------- notify-test


def test_notify_test_reports_each_channel_without_urls(
    up: JsonReceiver, down: JsonReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line per channel, ``ok  name`` or ``FAIL name: reason``; exit 1 if any failed."""
    down.refuse()
    secret_url = down.url("/TOKEN-abcdef123456789")
    config = make_config({"chat": up.url(), "pager": secret_url})
    assert notify_test(config, send_timeout=SEND_TIMEOUT) == 1
    out = capsys.readouterr().out
    lines = sorted(out.splitlines())
    assert lines[0].startswith("FAIL pager: ")
    assert lines[1] == "ok  chat"
    assert "abcdef123456789" not in out
    assert "json://" not in out
    [received] = up.messages()
    assert "test message" in received.payload["title"]


def test_notify_test_of_one_notifier(up: JsonReceiver, capsys: pytest.CaptureFixture[str]) -> None:
    config = make_config({"chat": up.url(), "other": "json://127.0.0.1:9/x"})
    assert notify_test(config, "chat", send_timeout=SEND_TIMEOUT) == 0
    assert capsys.readouterr().out == "ok  chat\n"


def test_notify_test_of_an_unknown_notifier_names_the_known_ones(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert notify_test(make_config(HOOKS), "slak") == 2
    err = capsys.readouterr().err
    assert err == "no notifier named 'slak'; known: slack, mail\n"


def test_failure_reasons_never_contain_the_url_or_its_tokens() -> None:
    url = "tgram://123456789:AAH-secret-bot-token/-1001234567"
    reason = channels.scrub(f"failed {url} and AAH-secret-bot-token again", url)
    assert "secret-bot-token" not in reason
    assert reason == "failed *** and *** again"


def test_failure_reasons_are_one_line_without_a_secret_of_several_lines() -> None:
    """A secret read from a file may hold line breaks: it is hidden before the reason is
    joined into one line, where it could no longer be recognised."""
    secret = "first-line-of-key\nsecond-line-of-key"
    reason = channels.scrub(f"rejected:\n{secret}\n  bye", "json://localhost/x", [secret])
    assert reason == "rejected: *** bye"


SEND_IN_A_FRESH_PROCESS = """\
import json, sys
from balancewatch.channels.send import Channel, Outgoing, send_blocking
result = send_blocking(Channel("hook", "hook", sys.argv[1]), Outgoing("t", "text", "text"), 5)
plugins = sorted(m for m in sys.modules if m.startswith("apprise.plugins."))
print(json.dumps({"ok": result.ok, "plugins": plugins}))
"""


def test_a_send_loads_only_the_plugin_of_its_url(up: JsonReceiver) -> None:
    """Every Apprise plugin loaded is ~18 MB a daemon keeps for its life; one is enough."""
    out = subprocess.run(
        [sys.executable, "-c", SEND_IN_A_FRESH_PROCESS, up.url()],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    assert json.loads(out) == {
        "ok": True,
        "plugins": ["apprise.plugins.base", "apprise.plugins.custom_json"],
    }
    assert len(up.received) == 1
