"""Running the rules: evaluation, idempotency (one alert per signal per period), retries, giving up, concurrent
runs and the history, on both storage setups (SQLite and PostgreSQL application databases), with real receivers.
"""

from __future__ import annotations

import math
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tandem.alerts import Alerts, RunReport
from tandem.errors import ConfigError
from tandem.store.models import AlertDelivery, AuditEntry
from tandem.workspace import Workspace

from .conftest import Mailbox, Webhook, free_port, goal_chance, stage_pace

NOW = datetime(2026, 11, 26, 15, 30)


def rules_file(webhook_url: str, *, smtp: bool = False) -> str:
    leaders = "  leaders: {email: [maria@example.com, sam@example.com]}\n" if smtp else ""
    send_to = "[revops, leaders]" if smtp else "[revops]"
    return f"""\
destinations:
  revops: {{webhook: "{webhook_url}"}}
{leaders}rules:
  - name: goal-at-risk
    signal: goal_chance
    below: 0.5
    min_sample: 1000
    send_to: {send_to}
  - name: mql-behind
    signal: stage_pace
    subject: mql
    below: 0.85
    min_sample: 30
    send_to: [revops]
  - name: pace-surge
    signal: stage_pace
    above: 1.5
    send_to: [revops]
"""


class Clock:
    """Records the waits between tries instead of waiting."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


def alerts_for(
    ws: Workspace, url: str, *, smtp: Mailbox | None = None, clock: Clock | None = None, **settings: Any
) -> Alerts:
    (ws.path / "alerts.yaml").write_text(rules_file(url, smtp=smtp is not None), encoding="utf-8")
    values = {**ws.settings, "alert_retry_seconds": 1, "alert_timeout_seconds": 5, **settings}
    if smtp is not None:
        values["alert_smtp_port"] = smtp.port
    return Alerts(ws.store, ws.path, workspace=ws.config.name, settings=values, sleep=clock or Clock())


def outcomes(report: RunReport) -> list[tuple[str, str, str, str, int]]:
    return [(a.rule, a.signal_key, a.destination, a.outcome, a.attempts) for a in report.alerts]


def audit(ws: Workspace, prefix: str = "alert.") -> list[tuple[str, str, dict[str, Any]]]:
    with ws.store.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action.startswith(prefix)).order_by(AuditEntry.seq))
        return [(e.action, e.target, e.details) for e in rows]


def test_a_firing_rule_is_delivered_to_each_destination_and_recorded(
    workspace: Workspace, webhook: Webhook, smtp: Mailbox
) -> None:
    alerts = alerts_for(workspace, webhook.url, smtp=smtp)
    report = alerts.run([goal_chance(0.38), stage_pace("mql", 0.9), stage_pace("sql", 0.5)], now=NOW, actor="cli:ops")
    assert outcomes(report) == [
        ("goal-at-risk", "goal_chance::2026Q4", "revops", "sent", 1),
        ("goal-at-risk", "goal_chance::2026Q4", "leaders", "sent", 1),
    ]
    assert report.ok
    assert report.quiet == 3
    assert [body["rule"] for body in webhook.bodies] == ["goal-at-risk"]
    assert webhook.bodies[0]["workspace"] == workspace.config.name
    assert [recipients for recipients, _ in smtp.messages] == [["maria@example.com", "sam@example.com"]]
    history = alerts.history()
    assert [(r.destination, r.channel, r.status, r.attempts, r.last_error) for r in history] == [
        ("leaders", "email", "sent", 1, ""),
        ("revops", "webhook", "sent", 1, ""),
    ]
    assert history[1].target == "http://127.0.0.1:" + webhook.url.split(":")[2].split("/")[0] + "/..."
    assert history[1].payload == webhook.bodies[0]
    assert history[1].fired_at == NOW
    assert history[1].sent_at is not None
    assert history[1].sent_at >= NOW
    assert history[1].text.startswith("[tandem] goal-at-risk · 2026Q4: ")
    assert [(action, target, details["destination"]) for action, target, details in audit(workspace)] == [
        ("alert.sent", "alert goal-at-risk:goal_chance::2026Q4", "revops"),
        ("alert.sent", "alert goal-at-risk:goal_chance::2026Q4", "leaders"),
    ]
    assert workspace.verify_audit().ok


def test_running_again_sends_nothing_new_and_a_new_period_is_a_new_alert(
    workspace: Workspace, webhook: Webhook
) -> None:
    alerts = alerts_for(workspace, webhook.url)
    first = alerts.run([goal_chance(0.38)], now=NOW)
    again = [alerts.run([goal_chance(0.30)], now=NOW + timedelta(minutes=30 * n)) for n in range(1, 4)]
    assert outcomes(first) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "sent", 1)]
    for report in again:
        assert outcomes(report) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "already_sent", 1)]
        assert report.ok
    assert len(webhook.requests) == 1
    next_period = alerts.run([goal_chance(0.30, period="2027Q1")], now=NOW + timedelta(days=40))
    assert outcomes(next_period) == [("goal-at-risk", "goal_chance::2027Q1", "revops", "sent", 1)]
    assert [body["period"] for body in webhook.bodies] == ["2026Q4", "2027Q1"]
    assert len(alerts.history()) == 2


def test_thresholds_are_strict_and_thin_readings_are_skipped_as_not_enough_data(
    workspace: Workspace, webhook: Webhook
) -> None:
    alerts = alerts_for(workspace, webhook.url)
    report = alerts.run(
        [
            goal_chance(0.5, period="at-threshold"),
            goal_chance(0.4999, period="just-below"),
            goal_chance(0.2, period="thin", sample=999),
            goal_chance(0.2, period="just-enough", sample=1000),
            goal_chance(math.nan, period="no-number"),
            stage_pace("sql", 0.5),  # mql-behind watches mql only
            stage_pace("sql", 1.5, period="surge-at"),
            stage_pace("sql", 1.51, period="surge-over"),
        ],
        now=NOW,
    )
    assert [(a.rule, a.signal_key) for a in report.alerts] == [
        ("goal-at-risk", "goal_chance::just-below"),
        ("goal-at-risk", "goal_chance::just-enough"),
        ("pace-surge", "stage_pace:sql:surge-over"),
    ]
    assert [(s.rule, s.signal_key, s.sample, s.min_sample) for s in report.not_enough_data] == [
        ("goal-at-risk", "goal_chance::thin", 999, 1000),
        ("goal-at-risk", "goal_chance::no-number", 5000, 1000),
    ]
    assert report.not_enough_data[0].reason == "not enough data: 999 observations, the rule needs 1000"
    assert report.quiet == 3  # goal at 0.5; sql 0.5 and 1.5 not over the surge threshold
    assert len(webhook.requests) == 3


def test_a_failed_try_is_retried_within_the_run_with_backoff(workspace: Workspace, webhook: Webhook) -> None:
    clock = Clock()
    alerts = alerts_for(workspace, webhook.url, clock=clock, alert_retry_seconds=3)
    webhook.statuses.extend([500])
    report = alerts.run([goal_chance()], now=NOW)
    assert outcomes(report) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "sent", 2)]
    assert clock.waits == [3.0]
    assert len(webhook.requests) == 2
    (record,) = alerts.history()
    assert (record.status, record.attempts, record.last_error) == ("sent", 2, "")


def test_an_unreachable_receiver_fails_then_is_retried_by_later_runs_until_given_up(
    workspace: Workspace, webhook: Webhook
) -> None:
    clock = Clock()
    down = f"http://127.0.0.1:{free_port()}/hook"
    alerts = alerts_for(workspace, down, clock=clock, alert_attempts=2, alert_max_attempts=5)
    first = alerts.run([goal_chance()], now=NOW)
    assert outcomes(first) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "failed", 2)]
    assert not first.ok
    assert first.failures == first.alerts
    assert "cannot reach the webhook" in first.alerts[0].error
    assert clock.waits == [1.0]
    (record,) = alerts.history(status="failed")
    assert record.attempts == 2
    assert "cannot reach the webhook" in record.last_error
    assert record.sent_at is None
    second = alerts.run([goal_chance()], now=NOW + timedelta(minutes=30))
    assert outcomes(second) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "failed", 4)]
    third = alerts.run([goal_chance()], now=NOW + timedelta(minutes=60))
    assert outcomes(third) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "gave_up", 5)]
    fourth = alerts.run([goal_chance()], now=NOW + timedelta(minutes=90))
    assert outcomes(fourth) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "already_gave_up", 5)]
    assert fourth.ok  # given up before: nothing failed in this run
    assert [r.status for r in alerts.history()] == ["gave_up"]
    assert [action for action, _, _ in audit(workspace)] == ["alert.gave_up"]


def test_a_failed_alert_is_delivered_by_the_next_run_once_the_receiver_is_back(
    workspace: Workspace, webhook: Webhook
) -> None:
    alerts = alerts_for(workspace, webhook.url, alert_attempts=2)
    webhook.statuses.extend([503, 503])
    assert outcomes(alerts.run([goal_chance(0.38)], now=NOW))[0][3:] == ("failed", 2)
    assert alerts.history()[0].last_error.startswith("HTTP 503")
    later = alerts.run([goal_chance(0.35)], now=NOW + timedelta(minutes=30))
    assert outcomes(later) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "sent", 3)]
    # The retry carries the current reading; the alert keeps the moment it first fired.
    assert [body["signal"]["value"] for body in webhook.bodies] == [0.38, 0.38, 0.35]
    (record,) = alerts.history()
    assert (record.status, record.attempts, record.fired_at, record.payload["signal"]["value"]) == (
        "sent",
        3,
        NOW,
        0.35,
    )


def test_a_warning_that_cleared_before_the_retry_is_not_sent_late(workspace: Workspace) -> None:
    alerts = alerts_for(workspace, f"http://127.0.0.1:{free_port()}/hook", alert_attempts=1)
    assert outcomes(alerts.run([goal_chance(0.38)], now=NOW))[0][3] == "failed"
    recovered = alerts.run([goal_chance(0.62)], now=NOW + timedelta(minutes=30))
    assert recovered.alerts == []
    assert recovered.quiet == 1
    assert recovered.ok
    assert [(r.status, r.attempts) for r in alerts.history()] == [("failed", 1)]


def test_a_dry_run_sends_and_records_nothing(workspace: Workspace, webhook: Webhook) -> None:
    alerts = alerts_for(workspace, webhook.url)
    dry = alerts.run([goal_chance()], now=NOW, dry_run=True)
    assert outcomes(dry) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "would_send", 0)]
    assert dry.as_dict()["dry_run"] is True
    assert webhook.requests == []
    assert alerts.history() == []
    assert audit(workspace) == []
    alerts.run([goal_chance()], now=NOW)
    assert outcomes(alerts.run([goal_chance()], now=NOW, dry_run=True))[0][3] == "already_sent"
    assert len(webhook.requests) == 1


def test_two_runs_at_once_send_an_alert_once(workspace: Workspace, webhook: Webhook) -> None:
    alerts = alerts_for(workspace, webhook.url)
    start = threading.Barrier(2)
    reports: list[RunReport] = []
    problems: list[BaseException] = []

    def run() -> None:
        try:
            start.wait(timeout=10)
            reports.append(alerts.run([goal_chance(), stage_pace("mql", 0.7)], now=NOW))
        except BaseException as exc:
            problems.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert problems == []
    assert sorted(body["alert"] for body in webhook.bodies) == [
        "goal-at-risk:goal_chance::2026Q4",
        "mql-behind:stage_pace:mql:2026-11",
    ]
    done = sorted(a.outcome for report in reports for a in report.alerts)
    assert done.count("sent") == 2
    assert len(done) == 4
    assert set(done) <= {"sent", "in_progress", "already_sent"}
    assert [r.status for r in alerts.history()] == ["sent", "sent"]


def test_an_alert_a_crashed_run_left_sending_is_taken_over_once_stale(workspace: Workspace, webhook: Webhook) -> None:
    alerts = alerts_for(workspace, f"http://127.0.0.1:{free_port()}/hook", alert_attempts=1)
    alerts.run([goal_chance()], now=NOW)
    with workspace.store.session() as s, s.begin():
        s.execute(update(AlertDelivery).values(status="sending", claimed_at=NOW))  # as a run that died mid-send
    alerts = alerts_for(workspace, webhook.url)
    assert outcomes(alerts.run([goal_chance()], now=NOW + timedelta(minutes=5)))[0][3] == "in_progress"
    assert webhook.requests == []
    taken = alerts.run([goal_chance()], now=NOW + timedelta(minutes=16))
    assert outcomes(taken) == [("goal-at-risk", "goal_chance::2026Q4", "revops", "sent", 2)]
    assert len(webhook.requests) == 1


def test_the_history_is_newest_first_and_filtered(workspace: Workspace, webhook: Webhook) -> None:
    alerts = alerts_for(workspace, webhook.url)
    for day in range(3):
        alerts.run(
            [goal_chance(period=f"2026-1{day}"), stage_pace(period=f"2026-1{day}")], now=NOW + timedelta(days=day)
        )
    history = alerts.history()
    assert [r.period for r in history] == ["2026-12", "2026-12", "2026-11", "2026-11", "2026-10", "2026-10"]
    assert [r.signal_key for r in alerts.history(rule="mql-behind", limit=2)] == [
        "stage_pace:mql:2026-12",
        "stage_pace:mql:2026-11",
    ]
    assert [r.rule for r in alerts.history(period="2026-11")] == ["mql-behind", "goal-at-risk"]
    assert alerts.history(status="failed") == []
    with pytest.raises(ConfigError, match="unknown alert status 'lost'; one of: sending, sent, failed, gave_up"):
        alerts.history(status="lost")
    assert history[0].as_dict()["payload"]["rule"] == "mql-behind"


def test_the_workspace_reads_its_rules_beside_tandem_toml(workspace: Workspace, webhook: Webhook) -> None:
    (workspace.path / "alerts.yaml").write_text(rules_file(webhook.url), encoding="utf-8")
    assert [r.name for r in workspace.alerts.rules().rules] == ["goal-at-risk", "mql-behind", "pace-surge"]
    assert workspace.alerts.path == workspace.path / "alerts.yaml"
    assert workspace.alerts.settings["alert_max_attempts"] == 10


def test_settings_that_cannot_work_are_refused(workspace: Workspace, webhook: Webhook) -> None:
    alerts = alerts_for(workspace, webhook.url, alert_attempts=0)
    with pytest.raises(ConfigError, match="setting alert_attempts must be 1 or more, got 0"):
        alerts.run([goal_chance()], now=NOW)
    assert webhook.requests == []


def test_a_signal_that_is_slow_to_deliver_does_not_hold_up_timing(workspace: Workspace, webhook: Webhook) -> None:
    """A hanging receiver fails after alert_timeout_seconds, it does not hang cron."""
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection, never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/hook"
        alerts = alerts_for(workspace, url, alert_attempts=1, alert_timeout_seconds=1)
        started = time.monotonic()
        report = alerts.run([goal_chance()], now=NOW)
        assert time.monotonic() - started < 10
    assert report.alerts[0].outcome == "failed"
    assert "did not answer within 1 s" in report.alerts[0].error or "timed out" in report.alerts[0].error
