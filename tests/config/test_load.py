"""The config contract (DESIGN.md §4): what loads, what it means, and how mistakes read.

Every class of mistake is reported as ``file:line: path: message``, with the path the
operator wrote and the line of the key; all of them at once; never with a secret in it.
Every test runs with libyaml's parser and with PyYAML's pure-Python fallback.
"""

from __future__ import annotations

import textwrap
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from balancewatch.config import yamldoc as yamlload
from balancewatch.config.load import (
    Config,
    default_config_path,
    load_config,
    parse_config,
    state_path,
)
from balancewatch.model import ConfigError, Severity
from balancewatch.providers.http_json import HttpJsonSettings
from balancewatch.providers.thedex import TheDexSettings

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True, params=["libyaml", "python"])
def parser(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The parser every config in the test is read with."""
    if request.param not in yamlload.PARSERS:
        pytest.skip("PyYAML is built without libyaml here")
    monkeypatch.setattr(yamlload, "PARSER", request.param)
    return str(request.param)


ACCOUNT = """\
accounts:
  - name: main
    provider: dhmad
    api_key: key-123456
"""


def parse(text: str, environ: dict[str, str] | None = None, **kwargs: object) -> Config:
    return parse_config(textwrap.dedent(text), environ=environ or {}, **kwargs)  # type: ignore[arg-type]


def problems(text: str, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse(text, environ)
    return caught.value.problems


def one_problem(text: str, environ: dict[str, str] | None = None) -> str:
    found = problems(text, environ)
    assert len(found) == 1, found
    return found[0]


# ---------------------------------------------------------------- the reference file

EXAMPLE_ENV = {
    "SMTP_PASSWORD": "smtp-password-1",
    "SLACK_TOKEN": "T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC",
    "TELEGRAM_BOT_TOKEN": "123456789:AAH-telegram-bot-token",
    "TELEGRAM_CHAT_ID": "-1001234567",
    "WEBHOOK_TOKEN": "webhook-token-1",
    "ONECLICKDZ_API_KEY": "oneclick-key-1",
    "THEDEX_API_KEY": "thedex-key-1",
    "THEDEX_SECRET": "thedex-secret-1",
    "DHMAD_API_KEY": "dhmad-key-1",
    "SUNOR_API_KEY": "sunor-key-1",
    "EXAMPLE_API_TOKEN": "example-token-1",
}


def test_the_example_config_validates() -> None:
    """config.example.yaml is the working reference: all providers, rule types, routes."""
    config = load_config(REPO / "config.example.yaml", environ=EXAMPLE_ENV)
    assert config.source == REPO / "config.example.yaml"
    assert {a.provider for a in config.accounts} == {
        "oneclickdz",
        "thedex",
        "dhmad",
        "sunor",
        "http_json",
    }
    rule_types = {rule.type for account in config.accounts for rule in account.rules}
    assert rule_types == {"threshold", "change", "held_increase", "runway"}
    assert set(config.notifiers) == {"ops-email", "slack", "telegram", "webhook"}
    assert config.http is None
    assert set(EXAMPLE_ENV.values()) <= config.secrets


def test_the_design_example_shape_means_what_it_says() -> None:
    """Provider keys land in the provider's settings model; rules, routes and URLs as written."""
    config = load_config(REPO / "config.example.yaml", environ=EXAMPLE_ENV)
    thedex = config.account("thedex-wallet")
    assert isinstance(thedex.settings, TheDexSettings)
    assert thedex.settings.secret.get_secret_value() == "thedex-secret-1"
    main = config.account("oneclick-main")
    threshold = main.rules[0].threshold
    assert threshold is not None
    assert threshold.levels() == [
        (Severity.CRITICAL, Decimal(1000)),
        (Severity.WARNING, Decimal(5000)),
    ]
    assert main.rule_ids == ("threshold", "change", "runway")
    assert config.routes[0].match.severity == ("critical",)
    assert config.routes[0].notify == ("ops-email", "telegram")
    assert config.notifiers["slack"].urls == (f"slack://{EXAMPLE_ENV['SLACK_TOKEN']}/#payments",)


# ---------------------------------------------------------------- values and defaults


def test_defaults_fill_what_an_account_leaves_out() -> None:
    """Account.effective(defaults): the account's own value, else the default."""
    config = parse(
        """\
        defaults: {interval: 10m, timeout: 20s, jitter: 30s, repeat: 2h, send_resolved: false}
        accounts:
          - {name: a, provider: dhmad, api_key: key-1234}
          - {name: b, provider: dhmad, api_key: key-1234, interval: 1m, jitter: 50%,
             failures_before_alert: 1, send_resolved: true, repeat: 30m}
          - {name: c, provider: dhmad, api_key: key-1234, jitter: 0}
        """
    )
    a, b, c = (account.effective(config.defaults) for account in config.accounts)
    assert c.jitter == timedelta(0)  # zero is a value, not "unset"
    assert (a.interval, a.timeout, a.jitter, a.repeat) == (
        timedelta(minutes=10),
        timedelta(seconds=20),
        timedelta(seconds=30),
        timedelta(hours=2),
    )
    assert (a.failures_before_alert, a.send_resolved) == (3, False)
    assert (b.interval, b.timeout, b.jitter, b.repeat) == (
        timedelta(minutes=1),
        timedelta(seconds=20),
        timedelta(seconds=30),
        timedelta(minutes=30),
    )
    assert (b.failures_before_alert, b.send_resolved) == (1, True)


def test_built_in_defaults_apply_when_nothing_is_said() -> None:
    """An account alone is a whole config: every other value has a documented default."""
    config = parse(ACCOUNT)
    plan = config.accounts[0].effective(config.defaults)
    assert plan.interval == timedelta(minutes=5)
    assert plan.timeout == timedelta(seconds=10)
    assert plan.jitter == timedelta(seconds=30)  # 10% of 5m
    assert (plan.failures_before_alert, plan.repeat, plan.send_resolved) == (
        3,
        timedelta(hours=6),
        True,
    )
    assert config.state.keep == timedelta(days=90)
    assert config.notify.give_up_after == timedelta(hours=24)
    assert config.logging.level == "info"
    assert config.accounts[0].enabled is True
    assert config.source is None


def test_state_path_default_chain() -> None:
    """state.path, else $STATE_DIRECTORY/state.db (systemd), else ./balancewatch.db."""
    default = parse(ACCOUNT)
    assert state_path(default, {}) == Path("balancewatch.db")
    assert default.state.db_path({"STATE_DIRECTORY": "/var/lib/balancewatch"}) == Path(
        "/var/lib/balancewatch/state.db"
    )
    assert default.state.db_path({"STATE_DIRECTORY": "/var/lib/a:/var/lib/b"}) == Path(
        "/var/lib/a/state.db"
    )
    explicit = parse("state: {path: /srv/bw.db}\n" + ACCOUNT)
    assert explicit.state.db_path({"STATE_DIRECTORY": "/var/lib/balancewatch"}) == Path(
        "/srv/bw.db"
    )


def test_empty_sections_mean_all_defaults_and_http_is_off_unless_given() -> None:
    """A section with every key commented out means its defaults; an empty ``http:`` means off."""
    config = parse("defaults:\nnotify:\nhttp:\n" + ACCOUNT)
    assert config.defaults.interval == timedelta(minutes=5)
    assert config.http is None
    listening = parse("http: {listen: '[::1]:9100'}\n" + ACCOUNT)
    assert listening.http is not None
    assert (listening.http.host, listening.http.port) == ("::1", 9100)
    assert parse("http: {}\n" + ACCOUNT).http.listen == "127.0.0.1:9464"  # type: ignore[union-attr]


def test_notifier_forms_are_normalized() -> None:
    """A URL, a list of URLs, or {urls, title, body}: always a Notifier with a URL tuple."""
    config = parse(
        textwrap.dedent("""\
        notifiers:
          one: json://localhost/a
          many: [json://localhost/b, json://localhost/c]
          worded:
            urls: json://localhost/d
            title: "[{severity}] {account}"
            body: "{summary} ({amount} {currency})"
        """)
        + ACCOUNT
    )
    assert config.notifiers["one"].urls == ("json://localhost/a",)
    assert config.notifiers["many"].urls == ("json://localhost/b", "json://localhost/c")
    worded = config.notifiers["worded"]
    assert (worded.name, worded.urls, worded.title) == (
        "worded",
        ("json://localhost/d",),
        "[{severity}] {account}",
    )


def test_route_matching() -> None:
    """Every given condition must hold; any item of a list matches."""
    config = parse(
        textwrap.dedent("""\
        notifiers: {ops: json://localhost/a}
        routes:
          - match: {severity: critical, tags: [payments, crypto], account: main}
            notify: ops
        """)
        + ACCOUNT
    )
    match = config.routes[0].match
    assert match.matches("main", ("crypto",), Severity.CRITICAL)
    assert not match.matches("main", ("crypto",), Severity.WARNING)
    assert not match.matches("main", ("other",), Severity.CRITICAL)
    assert not match.matches("other", ("crypto",), Severity.CRITICAL)
    assert config.routes[0].notify == ("ops",)


def test_http_json_account_keeps_its_provider_settings() -> None:
    """http_json's url/headers/paths are validated by its own model and its headers are secrets."""
    config = parse(
        """\
        accounts:
          - name: wallet
            provider: http_json
            url: https://api.example.com/balance
            headers: {Authorization: "Bearer ${TOKEN}"}
            available: data.balance
            currency: EUR
        """,
        {"TOKEN": "header-token-1"},
    )
    account = config.accounts[0]
    assert isinstance(account.settings, HttpJsonSettings)
    assert account.currency == "EUR"
    request = account.build_provider().build_request(datetime.now(UTC))
    assert request.headers["Authorization"] == "Bearer header-token-1"
    assert "header-token-1" in config.secrets
    assert "Bearer header-token-1" in config.secrets  # header values are SecretStr


# ---------------------------------------------------------------- one test per class of mistake


def test_a_duplicate_key_is_an_error_naming_both_lines() -> None:
    """PyYAML would keep the second value silently."""
    text = ACCOUNT + "    api_key: again-123456\n"
    assert (
        one_problem(text)
        == "config.yaml:5: accounts[0].api_key: duplicate key 'api_key' (first at line 4)"
    )


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    """A typo in a section name is caught, with the likely intended key."""
    assert one_problem("notifers: {}\n" + ACCOUNT) == (
        "config.yaml:1: notifers: unknown key 'notifers' (did you mean 'notifiers'?)"
    )


def test_unknown_account_key_suggests_from_common_and_provider_keys() -> None:
    """Account keys are the common ones plus the provider's: both are candidates for the hint."""
    found = problems(
        """\
        accounts:
          - name: dex
            provider: thedex
            api_key: key-123456
            secrte: secret-123456
            intervl: 5m
        """
    )
    assert found == [
        "config.yaml:2: accounts[0].secret: 'secret' is required",
        "config.yaml:5: accounts[0].secrte: unknown key 'secrte' (did you mean 'secret'?)",
        "config.yaml:6: accounts[0].intervl: unknown key 'intervl' (did you mean 'interval'?)",
    ]


def test_unknown_rule_keys_and_rule_types_suggest_the_close_one() -> None:
    """Inside a rule the hint comes from that rule type's keys; a misspelt type from the types."""
    found = problems(
        ACCOUNT
        + "    rules:\n"
        + "      - threshold: {below: 5, clear_margn: 1}\n"
        + "      - thresold: {below: 5}\n"
    )
    assert found == [
        "config.yaml:6: accounts[0].rules[0].threshold.clear_margn: unknown key 'clear_margn' (did you mean 'clear_margin'?)",
        "config.yaml:7: accounts[0].rules[1].thresold: unknown key 'thresold' (did you mean 'threshold'?)",
    ]


def test_a_typo_inside_levels_is_one_line_without_union_internals() -> None:
    """``below`` is a number or {warning, critical}: a mapping is judged as the latter only."""
    text = ACCOUNT + "    rules:\n      - threshold:\n          below: {warnin: 500}\n"
    assert one_problem(text) == (
        "config.yaml:7: accounts[0].rules[0].threshold.below.warnin: "
        "unknown key 'warnin' (did you mean 'warning'?)"
    )


def test_a_scalar_in_a_union_is_judged_as_a_scalar() -> None:
    """``below: lots`` is judged as a number (not also as {warning, critical}): one line."""
    text = ACCOUNT + "    rules:\n      - threshold: {below: lots}\n"
    assert (
        one_problem(text)
        == "config.yaml:6: accounts[0].rules[0].threshold.below: 'lots' is not a number"
    )


def test_missing_required_credential_points_at_the_account() -> None:
    """A missing key has no line of its own: the line of its mapping (the account) is given."""
    text = "accounts:\n  - name: a\n    provider: dhmad\n  - name: b\n    provider: sunor\n"
    assert problems(text) == [
        "config.yaml:2: accounts[0].api_key: 'api_key' is required",
        "config.yaml:4: accounts[1].api_key: 'api_key' is required",
    ]


def test_a_wrong_type_says_what_was_expected_and_what_was_found() -> None:
    """No pydantic wording: what the key wants, and what shape the file gave."""
    text = ACCOUNT + "    tags: payments\n    currency: 100\n"
    assert problems(text) == [
        "config.yaml:5: accounts[0].tags: expected a list, not text",
        "config.yaml:6: accounts[0].currency: expected text, not a whole number",
    ]


def test_below_warning_must_be_above_critical() -> None:
    """For ``below``, the warning level comes first, so it is the higher number."""
    text = (
        ACCOUNT + "    rules:\n      - threshold:\n          below: {warning: 100, critical: 500}\n"
    )
    assert one_problem(text) == (
        "config.yaml:7: accounts[0].rules[0].threshold.below: 'warning' must be above 'critical'"
    )


def test_above_warning_must_be_below_critical() -> None:
    """For ``above`` (held funds) the order is the reverse."""
    text = (
        ACCOUNT + "    rules:\n      - threshold:\n          above: {warning: 500, critical: 100}\n"
    )
    assert one_problem(text) == (
        "config.yaml:7: accounts[0].rules[0].threshold.above: 'warning' must be below 'critical'"
    )


def test_a_bad_duration_shows_the_accepted_forms() -> None:
    """The message says how durations are written."""
    assert one_problem("defaults:\n  interval: 5 minutes\n" + ACCOUNT) == (
        "config.yaml:2: defaults.interval: '5 minutes' is not a duration (use e.g. 30s, 5m, 1h, 1d, 1h30m)"
    )


def test_a_bad_percentage_is_an_error_at_its_key() -> None:
    """``percent`` takes 20 or '20%'; anything else is reported where it was written."""
    text = ACCOUNT + "    rules:\n      - change: {drop: {percent: 'twenty%'}}\n"
    assert (
        one_problem(text)
        == "config.yaml:6: accounts[0].rules[0].change.drop.percent: 'twenty' is not a number"
    )


def test_a_bare_number_is_not_a_jitter() -> None:
    """``jitter: 10`` could mean seconds or per cent; the operator must say which."""
    assert one_problem("defaults: {jitter: 10}\n" + ACCOUNT) == (
        "config.yaml:1: defaults.jitter: write a percentage of the interval ('10%') or a duration (30s)"
    )


def test_no_is_not_a_boolean() -> None:
    """``send_resolved: no`` is the text 'no', which is not a boolean: an error, not False."""
    assert one_problem("defaults:\n  send_resolved: no\n" + ACCOUNT) == (
        "config.yaml:2: defaults.send_resolved: 'no' is not a boolean here: write true or false"
    )


def test_no_is_text_where_text_is_expected() -> None:
    """The Norway problem: a currency code ``NO`` stays a currency code."""
    config = parse(ACCOUNT + "    currency: NO\n    tags: [no, on]\n")
    assert config.accounts[0].currency == "NO"
    assert config.accounts[0].tags == ("no", "on")


def test_leading_zero_is_decimal() -> None:
    """``010`` is ten failures, not eight (YAML 1.1 octal)."""
    config = parse("defaults: {failures_before_alert: 010}\n" + ACCOUNT)
    assert config.defaults.failures_before_alert == 10


def test_amounts_are_exact_decimals() -> None:
    """Levels are Decimals built from the text: 0.1 is exactly one tenth."""
    text = ACCOUNT + "    rules:\n      - threshold: {below: 0.1, clear_margin: 1e2}\n"
    threshold = parse(text).accounts[0].rules[0].threshold
    assert threshold is not None
    assert threshold.below == Decimal("0.1")
    assert isinstance(threshold.below, Decimal)
    assert threshold.clear_margin == Decimal(100)


def test_nan_is_rejected_as_an_amount() -> None:
    """A NaN threshold would never fire (every comparison with NaN is False)."""
    text = ACCOUNT + "    rules:\n      - threshold: {below: .nan}\n"
    assert one_problem(text) == (
        "config.yaml:6: accounts[0].rules[0].threshold.below: "
        "'.nan' is not a finite number (NaN and infinity are never amounts)"
    )


def test_a_missing_environment_variable_is_named_with_its_path_and_line() -> None:
    """DESIGN §4: a missing variable is a config error that names it."""
    text = "accounts:\n  - name: a\n    provider: dhmad\n    api_key: ${DHMAD_KEY}\n"
    assert one_problem(text) == (
        "config.yaml:4: accounts[0].api_key: the environment variable DHMAD_KEY is not set"
    )


@pytest.mark.parametrize(
    ("value", "environ", "named"),
    [
        pytest.param("${HOST}:${PORT}", {}, "variables HOST and PORT are", id="two"),
        pytest.param("${A}${B}${C}", {"B": "bee"}, "variables A and C are", id="two-of-three"),
        pytest.param("${A}/${B}/${C}", {}, "variables A, B and C are", id="three"),
        pytest.param("${A}-${A}", {}, "variable A is", id="one-used-twice"),
        pytest.param("file:${DIR}/${NAME}", {}, "variables DIR and NAME are", id="file-path"),
    ],
)
def test_every_missing_variable_of_one_value_is_named_at_once(
    value: str, environ: dict[str, str], named: str
) -> None:
    """A value with several unset variables names them all (once each), in one problem."""
    text = f'accounts:\n  - name: a\n    provider: dhmad\n    api_key: "{value}"\n'
    assert one_problem(text, environ) == (
        f"config.yaml:4: accounts[0].api_key: the environment {named} not set"
    )


def test_environment_defaults_and_the_dollar_brace_escape() -> None:
    """``${X:-default}`` gives a default; ``$${`` writes a literal ``${``."""
    config = parse(
        """\
        logging: {level: "${LOG_LEVEL:-warning}"}
        accounts:
          - name: main
            provider: dhmad
            api_key: key-123456
            tags: ["$${literal}", "${TEAM:-ops}"]
        """
    )
    assert config.logging.level == "warning"
    assert config.accounts[0].tags == ("${literal}", "ops")


def test_file_and_credential_secrets(tmp_path: Path) -> None:
    """``file:`` (relative to the config file) and ``credential:`` ($CREDENTIALS_DIRECTORY)."""
    (tmp_path / "dhmad.key").write_text("dhmad-from-file\n")
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "thedex-secret").write_text("thedex-from-credential")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(
        textwrap.dedent(
            """\
            accounts:
              - {name: d, provider: dhmad, api_key: "file:dhmad.key"}
              - {name: t, provider: thedex, api_key: key-123456, secret: "credential:thedex-secret"}
            """
        )
    )
    config = load_config(config_file, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert config.accounts[0].settings.api_key.get_secret_value() == "dhmad-from-file"  # type: ignore[attr-defined]
    assert config.accounts[1].settings.secret.get_secret_value() == "thedex-from-credential"  # type: ignore[attr-defined]
    assert {"dhmad-from-file", "thedex-from-credential"} <= config.secrets


def test_unreadable_secret_file_and_unset_credentials_directory(tmp_path: Path) -> None:
    """The file (or the missing $CREDENTIALS_DIRECTORY) is named, with the YAML path and line."""
    text = f"""\
    accounts:
      - name: d
        provider: dhmad
        api_key: "file:{tmp_path}/nope"
      - name: t
        provider: sunor
        api_key: "credential:sunor-key"
    """
    found = problems(text)
    assert len(found) == 2
    assert found[0].startswith(
        f"config.yaml:4: accounts[0].api_key: cannot read the secret file '{tmp_path}/nope'"
    )
    assert found[1].startswith(
        "config.yaml:7: accounts[1].api_key: credential:sunor-key needs $CREDENTIALS_DIRECTORY"
    )


def test_unknown_provider_lists_the_known_ones() -> None:
    """The hint names the close provider and lists every registered one."""
    text = "accounts:\n  - name: a\n    provider: oneclick\n    api_key: key-123456\n"
    assert one_problem(text) == (
        "config.yaml:3: accounts[0].provider: unknown provider 'oneclick' (did you mean 'oneclickdz'?); "
        "known: dhmad, http_json, oneclickdz, sunor, thedex"
    )


def test_account_names_are_unique() -> None:
    """Names key alert state and silences, so two accounts cannot share one."""
    text = ACCOUNT + "  - name: main\n    provider: sunor\n    api_key: key-123456\n"
    assert (
        one_problem(text)
        == "config.yaml:5: accounts[1].name: duplicate account name 'main' (first at line 2)"
    )


def test_account_names_use_letters_digits_dash_and_underscore() -> None:
    """Names appear in CLI arguments, metrics labels and alert keys."""
    text = "accounts:\n  - name: main account\n    provider: dhmad\n    api_key: key-123456\n"
    assert (
        one_problem(text)
        == "config.yaml:2: accounts[0].name: use only letters, digits, '-' and '_'"
    )


def test_route_naming_a_missing_notifier_or_account() -> None:
    """Routes may only name notifiers and accounts that exist, with a hint for typos."""
    found = problems(
        textwrap.dedent("""\
        notifiers: {slack: json://localhost/a, ops: json://localhost/b}
        routes:
          - match: {account: [main, mian, nobody]}
            notify: [slak, ops]
        """)
        + ACCOUNT
    )
    assert found == [
        "config.yaml:3: routes[0].match.account[1]: no account named 'mian' (did you mean 'main'?)",
        "config.yaml:3: routes[0].match.account[2]: no account named 'nobody'; known: main",
        "config.yaml:4: routes[0].notify[0]: no notifier named 'slak' (did you mean 'slack'?)",
    ]


def test_unparseable_apprise_url() -> None:
    """Apprise is asked (for real) at load; the URL itself is not echoed (it holds tokens)."""
    found = problems(
        textwrap.dedent("""\
        notifiers:
          slack: "slack://not-enough-tokens"
          many: [json://localhost/ok, "nonsense"]
        """)
        + ACCOUNT
    )
    assert found == [
        "config.yaml:2: notifiers.slack: Apprise cannot use this slack:// URL; check it against the Apprise wiki",
        "config.yaml:3: notifiers.many[1]: Apprise cannot use this value (no scheme://); check it against the Apprise wiki",
    ]


def test_two_urls_in_one_entry_are_refused_at_load() -> None:
    """Apprise.add() would take both, but a channel sends to exactly one URL."""
    found = problems(
        textwrap.dedent("""\
        notifiers:
          hooks: "json://localhost/a json://localhost/b"
        """)
        + ACCOUNT
    )
    assert found == [
        "config.yaml:2: notifiers.hooks: this entry holds 2 URLs; give each its own item under urls:"
    ]


def test_notifier_templates_are_checked_at_load() -> None:
    """Unknown fields and format syntax errors are found now, not when an alert is sent."""
    found = problems(
        textwrap.dedent("""\
        notifiers:
          ops:
            urls: json://localhost/a
            title: "{acount} is low"
            body: "{amount"
        """)
        + ACCOUNT
    )
    assert (
        found[0]
        == "config.yaml:4: notifiers.ops.title: unknown field {acount} (did you mean 'account'?)"
    )
    assert found[1].startswith("config.yaml:5: notifiers.ops.body: not a valid template")
    assert len(found) == 2


def test_timeout_must_be_shorter_than_interval() -> None:
    """Checked on the effective values; reported at the key the operator wrote."""
    found = problems(
        """\
        defaults: {interval: 1m, timeout: 1m}
        accounts:
          - {name: a, provider: dhmad, api_key: key-123456, interval: 20s, timeout: 5s}
          - {name: b, provider: dhmad, api_key: key-123456, interval: 5m, timeout: 10m}
        """
    )
    assert found == [
        "config.yaml:1: defaults.timeout: 'timeout' (1m) must be shorter than 'interval' (1m)",
        "config.yaml:4: accounts[1].timeout: 'timeout' (10m) must be shorter than 'interval' (5m)",
    ]


def test_a_fixed_jitter_must_not_exceed_the_interval() -> None:
    """A jitter longer than the interval would push a poll into the next one's slot: refused
    where written, in the config's own words (a percentage is capped at 100% when read)."""
    found = problems(
        """\
        defaults: {interval: 1m, jitter: 90s}
        accounts:
          - {name: a, provider: dhmad, api_key: key-123456, interval: 5m}
          - {name: b, provider: dhmad, api_key: key-123456, interval: 30s, timeout: 5s}
          - {name: c, provider: dhmad, api_key: key-123456, interval: 10s, timeout: 5s, jitter: 100%}
        """
    )
    assert found == [
        "config.yaml:1: defaults.jitter: 'jitter' (1m30s) must be at most 'interval' (1m)",
        "config.yaml:4: accounts[1].interval: 'jitter' (1m30s) must be at most 'interval' (30s)",
    ]


def test_rule_ids_are_unique_within_an_account() -> None:
    """Rule ids key the alert state; an explicit id may not collide with a generated one."""
    text = (
        ACCOUNT
        + "    rules:\n      - threshold: {below: 5}\n      - threshold: {id: threshold, below: 3}\n"
    )
    assert one_problem(text) == (
        "config.yaml:7: accounts[0].rules[1]: duplicate rule id 'threshold': give each rule its own 'id'"
    )


def test_a_config_watches_at_least_one_account() -> None:
    """A config without accounts would run and watch nothing."""
    assert (
        one_problem("logging: {level: info}\n")
        == "config.yaml:1: accounts: give at least one account"
    )


def test_sections_of_the_wrong_shape_are_reported_plainly() -> None:
    """Short values that happen to sit where URLs go are not mistaken for secrets."""
    assert problems("defaults: 5\nnotifiers: [a]\nroutes: {a: 1}\naccounts: x\n") == [
        "config.yaml:1: defaults: expected a mapping (key: value), not a whole number",
        "config.yaml:2: notifiers: expected a mapping of name: Apprise URL(s)",
        "config.yaml:3: routes: expected a list of routes",
        "config.yaml:4: accounts: expected a list of accounts",
    ]


def test_the_document_must_be_a_mapping_of_sections() -> None:
    """Anything else is reported once, without a cascade of follow-up errors."""
    assert one_problem("- a\n- b\n").startswith("config.yaml:1: expected a mapping of sections")


# ---------------------------------------------------------------- all at once, no secrets


def test_several_mistakes_are_all_reported_one_line_each_in_file_order() -> None:
    """YAML, environment, schema and cross-check mistakes come out together, sorted by line."""
    found = problems(
        """\
        defaults:
          interval: 5x
        notifiers:
          ops: json://localhost/a
        routes:
          - notify: [opps]
        accounts:
          - name: a
            provider: dhmad
            api_key: ${MISSING}
            rules:
              - threshold: {below: {warning: 1, critical: 2}}
          - name: b
            provider: sunr
        """
    )
    assert [line.split(": ")[0] for line in found] == [
        "config.yaml:2",
        "config.yaml:6",
        "config.yaml:10",
        "config.yaml:12",
        "config.yaml:14",
    ]
    assert "defaults.interval" in found[0]
    assert "no notifier named 'opps' (did you mean 'ops'?)" in found[1]
    assert "MISSING" in found[2]
    assert "'warning' must be above 'critical'" in found[3]
    assert "unknown provider 'sunr'" in found[4]


def test_secrets_are_collected_for_redaction() -> None:
    """SecretStr values, interpolated values, and Apprise URLs with their token parts; no
    value under 4 characters, even from the environment (``5m`` would cut words out of logs)."""
    env = {
        "KEY": "interpolated-key",
        "SLACK": "T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC",
        "EVERY": "5m",
    }
    config = parse(
        """\
        defaults: {interval: "${EVERY}"}
        notifiers:
          slack: slack://${SLACK}/#ops
          mail: mailtos://me:mail-password@example.com?to=ops@example.com
          tg: tgram://123456789:AAH-bot-token-xyz/-100123
        accounts:
          - {name: a, provider: thedex, api_key: "${KEY}", secret: literal-secret}
        """,
        env,
    )
    expected = {
        "interpolated-key",
        "literal-secret",
        "T0000AAAA",
        "B0000BBBB",
        "CCCCCCCCCCCCCCCCCCCCCCCC",
        "mail-password",
        "123456789:AAH-bot-token-xyz",
        "AAH-bot-token-xyz",
        "slack://T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC/#ops",
    }
    assert expected <= config.secrets
    assert "ops" not in config.secrets
    assert "example.com" not in config.secrets
    assert "5m" not in config.secrets


def test_secrets_never_appear_in_error_messages() -> None:
    """Even where a secret lands in a wrong place, the message does not carry it."""
    env = {
        "TOKEN": "super-secret-token-value",
        "SLACK": "T0000AAAA/B0000BBBB/CCCCCCCCCCCCCCCCCCCCCCCC",
    }
    found = problems(
        """\
        defaults: {interval: "${TOKEN}"}
        notifiers:
          slack: "slack://${SLACK}/#ops?x=${TOKEN}"
          bad: "slack://${TOKEN}"
        accounts:
          - {name: a, provider: http_json, url: "ftp://${TOKEN}", headers: {X-Key: 12345678901}}
          - {name: b, provider: thedex, api_key: "${TOKEN}", secret: ["${TOKEN}"]}
        """,
        env,
    )
    assert len(found) >= 4
    text = "\n".join(found)
    for secret in (
        "super-secret-token-value",
        "T0000AAAA",
        "CCCCCCCCCCCCCCCCCCCCCCCC",
        "12345678901",
    ):
        assert secret not in text


# ---------------------------------------------------------------- files


def test_load_config_names_a_missing_file(tmp_path: Path) -> None:
    """A missing file is a config error (exit 2), not a traceback."""
    with pytest.raises(ConfigError, match=r"nope\.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")


def test_problems_name_the_file_as_given(tmp_path: Path) -> None:
    """The file name in each line is the path the operator passed."""
    path = tmp_path / "bw.yaml"
    path.write_text("notifers: {}\n" + ACCOUNT)
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ={})
    assert caught.value.problems == [
        f"{path}:1: notifers: unknown key 'notifers' (did you mean 'notifiers'?)"
    ]


def test_default_config_path(tmp_path: Path) -> None:
    """$BALANCEWATCH_CONFIG, else /etc/balancewatch/config.yaml if it exists, else ./config.yaml."""
    system = tmp_path / "etc-config.yaml"
    assert default_config_path({"BALANCEWATCH_CONFIG": "/x.yaml"}, system_path=system) == Path(
        "/x.yaml"
    )
    assert default_config_path({}, system_path=system) == Path("config.yaml")
    system.write_text("")
    assert default_config_path({}, system_path=system) == system
