"""`tandem alerts check|run|list` as cron and an operator run them: real processes, exit codes, stdout and stderr.

`alerts run` is fed readings with ``--signals FILE`` here (the forecast's own readings need a workspace with
history); deliveries go to a real HTTP receiver on 127.0.0.1.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import tandem

from ..test_cli_accounts import as_json, failed, ok, tandem_cli
from .conftest import Webhook, free_port, goal_chance, stage_pace

RULES = """\
destinations:
  revops: {{webhook: "{url}"}}
  leaders: {{email: [maria@example.com]}}
rules:
  - name: goal-at-risk
    signal: goal_chance
    below: 0.5
    min_sample: 1000
    send_to: [revops]
  - name: mql-behind
    signal: stage_pace
    subject: mql
    below: 0.85
    min_sample: 30
    send_to: [revops]
"""


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    tandem.init_workspace(folder).close()
    with (folder / "tandem.toml").open("a", encoding="utf-8") as config:
        config.write("alert_retry_seconds = 0\nalert_attempts = 2\nalert_max_attempts = 4\n")
    return folder


def with_rules(ws: Path, url: str) -> Path:
    (ws / "alerts.yaml").write_text(RULES.format(url=url), encoding="utf-8")
    return ws


def signals_file(tmp_path: Path, *readings: object) -> Path:
    path = tmp_path / "signals.json"
    path.write_text(json.dumps([r.as_dict() for r in readings]), encoding="utf-8")  # type: ignore[attr-defined]
    return path


def alerts(ws: Path, *args: str | Path) -> subprocess.CompletedProcess[str]:
    return tandem_cli(ws, "alerts", *args)


def test_check_prints_the_rules_of_a_good_file(ws: Path) -> None:
    with_rules(ws, "https://hooks.example.com/T000/B000")
    shown = ok(alerts(ws, "check"))
    assert "goal-at-risk" in shown
    assert "below 50 %" in shown
    assert "mql-behind" in shown
    assert "below 0.85" in shown
    assert "revops: webhook https://hooks.example.com/..." in shown
    assert "2 rule(s), 2 destination(s): the file is good." in shown
    document = as_json(alerts(ws, "check", "--format", "json"))
    assert document["rules"][0] == {
        "name": "goal-at-risk",
        "signal": "goal_chance",
        "below": 0.5,
        "min_sample": 1000,
        "send_to": ["revops"],
    }
    assert document["destinations"]["leaders"] == {"channel": "email", "target": "maria@example.com"}


def test_check_refuses_a_bad_file_naming_line_column_and_value(ws: Path) -> None:
    (ws / "alerts.yaml").write_text(RULES.format(url="x").replace("below: 0.85", "below: 85%"), encoding="utf-8")
    message = failed(alerts(ws, "check"))
    assert "2 problems in the alert rules; nothing was sent." in message
    assert (
        "alerts.yaml, line 2, column 21: destination 'revops' 'webhook': must be an http:// or https:// URL ('x')"
        in message
    )
    assert "alerts.yaml, line 13, column 12: rule 2 'below': input should be a valid number" in message
    assert "('85%')" in message


def test_check_without_a_rules_file_says_how_to_start(ws: Path) -> None:
    assert "there is no alert rules file" in failed(alerts(ws, "check"))


def test_run_sends_once_per_signal_per_period_however_often_cron_runs_it(
    ws: Path, tmp_path: Path, webhook: Webhook
) -> None:
    with_rules(ws, webhook.url)
    readings = signals_file(tmp_path, goal_chance(0.38), stage_pace("mql", 0.9), goal_chance(0.1, period="x", sample=5))
    first = ok(alerts(ws, "run", "--signals", readings))
    assert "goal-at-risk" in first
    assert "sent" in first
    assert "not enough data: 5 observations, the rule needs 1000" in first
    again = as_json(alerts(ws, "run", "--signals", readings, "--format", "json"))
    assert again["ok"] is True
    assert again["counts"]["already_sent"] == 1
    assert again["counts"]["sent"] == 0
    assert again["quiet"] == 1
    assert len(again["not_enough_data"]) == 1
    assert len(webhook.requests) == 1
    history = as_json(alerts(ws, "list", "--format", "json"))["alerts"]
    assert [(r["rule"], r["status"], r["attempts"]) for r in history] == [("goal-at-risk", "sent", 1)]
    assert history[0]["payload"]["text"].startswith("[tandem] goal-at-risk · 2026Q4: ")
    assert history[0]["fired_at"].endswith("Z")
    listed = ok(alerts(ws, "list"))
    assert "goal-at-risk" in listed
    assert "revops (webhook)" in listed
    with tandem.open_workspace(ws, needs_warehouse=False) as workspace:
        entries = [(e["action"], e["actor"]) for e in workspace.audit_log() if e["action"].startswith("alert.")]
    assert entries == [("alert.sent", "cli:ops")]


def test_run_exits_1_when_a_delivery_failed_and_the_next_run_retries(ws: Path, tmp_path: Path) -> None:
    with_rules(ws, f"http://127.0.0.1:{free_port()}/hook")
    readings = signals_file(tmp_path, goal_chance(0.38))
    done = alerts(ws, "run", "--signals", readings)
    assert done.returncode == 1, done.stderr
    assert "failed" in done.stdout
    assert "cannot reach the webhook" in done.stdout
    assert "1 delivery(ies) failed in this run" in done.stderr
    second = alerts(ws, "run", "--signals", readings, "--format", "json")
    assert second.returncode == 1
    assert json.loads(second.stdout)["alerts"][0] | {"error": ""} == {
        "rule": "goal-at-risk",
        "signal_key": "goal_chance::2026Q4",
        "destination": "revops",
        "outcome": "gave_up",
        "attempts": 4,
        "error": "",
        "text": json.loads(second.stdout)["alerts"][0]["text"],
    }
    assert ok(alerts(ws, "run", "--signals", readings))  # given up before: nothing failed in this run
    history = as_json(alerts(ws, "list", "--status", "gave_up", "--format", "json"))["alerts"]
    assert [(r["status"], r["attempts"]) for r in history] == [("gave_up", 4)]


def test_a_dry_run_says_what_would_be_sent_and_sends_nothing(ws: Path, tmp_path: Path, webhook: Webhook) -> None:
    with_rules(ws, webhook.url)
    shown = ok(alerts(ws, "run", "--dry-run", "--signals", signals_file(tmp_path, goal_chance(0.38))))
    assert "dry run: nothing sent" in shown
    assert "would_send" in shown
    assert webhook.requests == []
    assert "No alerts yet." in ok(alerts(ws, "list"))


def test_list_refuses_an_unknown_status(ws: Path) -> None:
    """A value the question refuses is a usage error (exit 2) naming the flag."""
    assert "error: --status: unknown alert status 'lost'; one of: sending, sent, failed, gave_up" in failed(
        alerts(ws, "list", "--status", "lost"), code=2
    )


def test_run_refuses_a_signals_file_it_cannot_read(ws: Path, tmp_path: Path) -> None:
    with_rules(ws, "https://hooks.example.com/x")
    bad = tmp_path / "bad.json"
    bad.write_text('[{"kind": "goal_chance", "value": "low"}]', encoding="utf-8")
    assert "signal 1 cannot be read" in failed(alerts(ws, "run", "--signals", bad))
    bad.write_text("[{", encoding="utf-8")
    assert "line 1, column 3: not JSON" in failed(alerts(ws, "run", "--signals", bad))


def test_a_broken_rules_file_stops_a_run_before_anything_is_sent(ws: Path, tmp_path: Path, webhook: Webhook) -> None:
    (ws / "alerts.yaml").write_text(RULES.format(url=webhook.url).replace("send_to: [revops]", "send_to: [ops]", 1))
    message = failed(alerts(ws, "run", "--signals", signals_file(tmp_path, goal_chance(0.38))))
    assert "rule 'goal-at-risk' sends to 'ops', which is not a destination" in message
    assert webhook.requests == []
