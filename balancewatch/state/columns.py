"""The columns of the tables both backends share, in the order their rows are read and
written (``sqlite_schema`` and ``postgres_schema`` differ in types, not in columns).
A snapshot's balances are read differently by each (JSON text, ``jsonb::text``), so
its column list stays with each backend."""

HEALTH_COLUMNS = (
    "account, consecutive_failures, last_error, last_error_kind, last_ok_at, last_poll_at,"
    " not_before, config_hash"
)
ALERT_COLUMNS = (
    "account, key, rule, rule_type, currency, kind, status, severity, summary, consecutive,"
    " started_at, last_notified_at, notified_severity, resolved_at, value, threshold,"
    " event_ref, updated_at"
)
NOTIFICATION_COLUMNS = (
    "id, account, alert_key, kind, severity, title, body, created_at, poll_id, fields, tags"
)
DELIVERY_COLUMNS = (
    "notification_id, channel, attempts, next_attempt_at, delivered_at, gave_up_at, last_error"
)
SILENCE_COLUMNS = "id, account, rule, starts_at, ends_at, reason, created_by"
ACK_COLUMNS = "account, alert_key, episode, severity, acked_at, acked_by"
