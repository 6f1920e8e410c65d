"""The page and the API over HTTP, from a real store: what is listed, in which order, what
is refused, and the headers on every answer."""

from __future__ import annotations

import html
import io
import json
import re
import xml.etree.ElementTree as ET
from contextlib import redirect_stdout
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import time_machine

from balancewatch.commands.cli import main as cli
from balancewatch.web.security import CSP
from tests.web.harness import CONFIG, NOW, serving


def names_in_order(html: str) -> list[str]:
    return re.findall(r'<a class="name" href="/accounts/[^"]+">([^<]+)</a>', html)


def test_every_account_is_listed_worst_first(tmp_path: Path) -> None:
    """Critical, then failing, then never polled, then fine; with balances and the alert."""
    with serving(tmp_path) as page:
        answer = page.get("/")
    assert answer.status == 200
    assert names_in_order(answer.body) == ["shop", "broken", "fresh", "credits"]
    assert "2,755.00 DZD" in answer.body
    assert "available 2,755.00 DZD is below 3,000.00 DZD" in answer.body
    assert "3 failed: HTTP 500 from the provider" in answer.body
    assert "950 CREDITS" in answer.body
    assert '<meta http-equiv="refresh" content="30">' in answer.body
    assert "<title>(1 critical) balancewatch</title>" in answer.body


def test_filters_by_name_tag_and_state_and_pages_through(tmp_path: Path) -> None:
    """name is a substring, tag exact, state one of the states; one account per page."""
    with serving(tmp_path) as page:
        assert names_in_order(page.get("/?name=RED").body) == ["credits"]
        assert names_in_order(page.get("/?tag=dz").body) == ["shop"]
        assert names_in_order(page.get("/?state=failing").body) == ["broken"]
        assert names_in_order(page.get("/?state=firing").body) == ["shop"]
        second = page.get("/?per=1&page=2")
        past = page.get("/?per=1&page=5")
        off = page.get("/?refresh=off")
    assert names_in_order(second.body) == ["broken"]
    assert "page 2 of 4" in second.body
    assert past.status == 404
    assert "There are 4 page(s); page 5 is past the last." in past.body
    assert "http-equiv" not in off.body


def test_bad_parameters_and_paths_get_a_sentence_never_a_traceback(tmp_path: Path) -> None:
    """Each mistake: its 4xx and a sentence naming it; JSON under /api/."""
    cases = {
        "/?state=burning": (400, "state must be one of firing, critical"),
        "/?page=0": (400, "page must be a whole number from 1 to"),
        "/?sort=name": (400, "unknown parameter 'sort'"),
        "/accounts/nobody": (404, "No account named 'nobody' in the config."),
        "/accounts/shop?range=forever": (400, "range: 'forever' is not a duration"),
        "/accounts/shop?range=1s": (400, "range must be from 10m to 400d"),
        "/accounts/shop/spark.svg?range=1y": (400, "range must be one of 24h, 7d, 30d"),
        "/nothing/here": (404, "Nothing here: /nothing/here."),
        "/static/../../etc/passwd": (404, "Nothing here"),
    }
    api = {
        "/api/v1/status?x=1": (400, "/api/v1/status takes no parameters"),
        "/api/v1/accounts/nobody/history": (404, "no account named 'nobody' in the config"),
        "/api/v1/accounts/shop/history?since=soon": (400, "neither a duration"),
        "/api/v1/accounts/shop/history?since=2024-05-01T00:00:00": (
            400,
            "give the instant's offset",
        ),
        "/api/v1/accounts/shop/history?kind=gold": (400, "kind must be one of available"),
        "/api/v1/accounts/shop/history?since=500d": (400, "at most 400 days back"),
        "/api/v1/nothing": (404, "Nothing here: /api/v1/nothing."),
    }
    with serving(tmp_path) as page:
        for path, (status, text) in cases.items():
            answer = page.get(path)
            shown = html.unescape(answer.body)
            assert (answer.status, text in shown) == (status, True), (path, shown)
            assert "Traceback" not in answer.body
        for path, (status, text) in api.items():
            answer = page.get(path)
            assert answer.status == status, path
            assert text in answer.json()["error"], (path, answer.body)
        wrong_method = page.request("DELETE", "/")
    assert wrong_method.status == 405
    assert "DELETE is not accepted at /." in wrong_method.body


def test_every_answer_carries_the_security_headers(tmp_path: Path) -> None:
    """Pages, errors, JSON, images, the stylesheet: the CSP and its companions on all;
    no page has a script or an inline style the policy would have to allow."""
    with serving(tmp_path) as page:
        answers = [
            page.get(p)
            for p in (
                "/",
                "/accounts/shop",
                "/nope",
                "/api/v1/status",
                "/accounts/shop/spark.svg",
                "/static/style.css",
                "/healthz",
            )
        ]
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CSP
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
        assert answer.headers["Referrer-Policy"] == "no-referrer"
        assert answer.headers["X-Frame-Options"] == "DENY"
    for answer in answers[:3]:
        assert "<script" not in answer.body
        assert " style=" not in answer.body
        assert answer.headers["Cache-Control"] == "no-store"


def test_the_api_status_is_what_status_json_prints(tmp_path: Path) -> None:
    """Same state, same instant: `balancewatch status --json` and /api/v1/status agree,
    accounts by name in both (the daemon keeps no config order of its accounts)."""
    config = tmp_path / "config.yaml"
    text = f"state: {{path: {tmp_path / 'state.db'}}}\n" + CONFIG
    config.write_text(text)
    with serving(tmp_path, text) as page:
        api = page.get("/api/v1/status").json()
        printed = io.StringIO()
        with time_machine.travel(NOW, tick=False), redirect_stdout(printed):
            assert cli(["status", "--json", "-c", str(config)]) == 0
    assert json.loads(printed.getvalue()) == api
    assert [row["account"] for row in api["accounts"]] == ["broken", "credits", "fresh", "shop"]
    assert api["accounts"][3]["balances"]["DZD"]["available"] == "2755"
    assert api["firing"][0]["severity"] == "critical"


def test_history_api_gives_exact_amounts_of_one_kind(tmp_path: Path) -> None:
    """since=10m: the last ten polls; kind=available leaves the other kinds out."""
    with serving(tmp_path) as page:
        rows = page.get("/api/v1/accounts/shop/history?since=10m&kind=available").json()["rows"]
        since = page.get("/api/v1/accounts/shop/history?since=2024-05-01T11:58:00Z&currency=DZD")
    assert len(rows) == 10
    assert rows[-1] == {
        "taken_at": "2024-05-01T11:59:00+00:00",
        "currency": "DZD",
        "available": "2755",
    }
    assert [r["held"] for r in since.json()["rows"]] == ["10.50", "10.50"]


def test_the_account_page_draws_each_amount_with_levels_and_the_episode(tmp_path: Path) -> None:
    """shop: a chart per kind; the available one has both levels and the critical band;
    the notification and the recent polls are listed."""
    with serving(tmp_path) as page:
        answer = page.get("/accounts/shop?range=1h")
    assert answer.status == 200
    charts = re.findall(r'<svg xmlns="http://www.w3.org/2000/svg".*?</svg>', answer.body, re.S)
    assert len(charts) == 2  # available and held DZD
    available = ET.fromstring(charts[0])
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert {
        e.attrib["class"] for e in available.findall("s:line", ns) if "level" in e.attrib["class"]
    } == {
        "level critical",
        "level warning",
    }
    assert available.findall("s:rect[@class='band critical']", ns)
    held = ET.fromstring(charts[1])
    assert held.findall("s:rect[@class='band critical']", ns) == []  # the alert is on available
    assert "[CRITICAL] shop: available below 3,000.00 DZD" in answer.body
    assert "2024-05-01 11:59:00" in answer.body
    assert 'class="on" aria-current="true">1h<' in answer.body


def test_the_sparkline_follows_the_watched_amount_in_the_accounts_colour(tmp_path: Path) -> None:
    """shop's sparkline falls left to right and is drawn in the critical tone."""
    with serving(tmp_path) as page:
        answer = page.get("/accounts/shop/spark.svg?range=24h")
    assert answer.headers["Content-Type"].startswith("image/svg+xml")
    root = ET.fromstring(answer.body)
    assert "critical" in root.attrib["class"]
    path = root.find("{http://www.w3.org/2000/svg}path")
    assert path is not None
    ys = [Decimal(p.split(",")[1]) for p in path.attrib["d"].replace("M", "").split("L")]
    assert ys[0] < ys[-1]  # SVG y grows downwards: the amount fell


def test_metrics_and_healthz_keep_their_answers(tmp_path: Path) -> None:
    """/metrics in Prometheus' content type; /healthz 200 ok, or 503 listing the problems."""
    problems: list[str] = []
    with serving(
        tmp_path, health=lambda: problems, metrics=lambda: b"balancewatch_x 1.0\n"
    ) as page:
        metrics = page.get("/metrics")
        healthy = page.get("/healthz")
        problems.append("nothing polled for 400s")
        sick = page.get("/healthz")
    assert metrics.body == "balancewatch_x 1.0\n"
    assert metrics.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert (healthy.status, healthy.body) == (200, "ok\n")
    assert (sick.status, sick.body) == (503, "nothing polled for 400s\n")


def test_no_credential_of_the_config_appears_on_any_page(tmp_path: Path) -> None:
    """The providers' keys and secrets (canaries in the config) are on no page or answer."""
    with serving(tmp_path) as page:
        bodies = [
            page.get(p).body
            for p in (
                "/",
                "/accounts/shop",
                "/accounts/fresh",
                "/accounts/broken",
                "/api/v1/status",
                "/api/v1/accounts/shop/history",
                "/accounts/shop/spark.svg",
                "/?state=waiting",
            )
        ]
    assert all("canary" not in body for body in bodies)


def test_a_sparklines_address_names_its_poll_so_the_browser_keeps_it(tmp_path: Path) -> None:
    """The overview links shop's sparkline with its state and latest poll; that address is
    cached for good; a bad tone or instant is refused."""
    with serving(tmp_path) as page:
        found = re.search(r'src="(/accounts/shop/spark.svg[^"]+)"', page.get("/").body)
        assert found is not None
        address = html.unescape(found.group(1))
        kept = page.get(address)
        bad_tone = page.get("/accounts/shop/spark.svg?range=24h&tone=purple")
        bad_at = page.get("/accounts/shop/spark.svg?range=24h&at=yesterday")
    last_poll = int((NOW - timedelta(minutes=1)).timestamp())
    assert address == f"/accounts/shop/spark.svg?range=24h&tone=critical&at={last_poll}"
    assert kept.headers["Cache-Control"] == "private, max-age=604800, immutable"
    assert "critical" in ET.fromstring(kept.body).attrib["class"]
    assert bad_tone.status == 400
    assert bad_at.status == 400
