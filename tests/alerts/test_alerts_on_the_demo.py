"""`tandem alerts run` as cron runs it on a real workspace: the forecast and the early warnings produce the
readings, the rules pick what fires, a local webhook receives it once, however often the run repeats.

The demo company is fixed at 2026-11-26 and given a goal far above what it will reach (7M for 2026-Q4), so the
chance of the goal is low and every stage is behind what the goal needs.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

import pytest

from tandem.demo_workspace import build_demo
from tandem.forecast.current import read_signals

from ..test_cli_accounts import as_json, tandem_cli
from .conftest import Webhook

DAY = date(2026, 11, 26)
RULES = """\
destinations:
  revops: {{webhook: "{url}"}}
rules:
  - name: goal-at-risk
    signal: goal_chance
    below: 0.5
    min_sample: 1000
    send_to: [revops]
  - name: mql-behind
    signal: stage_pace
    subject: mql
    below: 0.95
    min_sample: 30
    send_to: [revops]
"""


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("alerts-demo") / "ws"
    with build_demo(folder, leads=3000, seed=5, today=DAY, echo=lambda _line: None) as workspace:
        workspace.accounts.create_user("test", "cfo", "exec", password="a long enough password")
        cfo = workspace.accounts.authenticate("cfo", "a long enough password", "test")
        workspace.goals.set(cfo, "2026-Q4", "7M")
        signals = read_signals(workspace, as_of=datetime(2026, 11, 26, 12))
    assert {s.kind for s in signals.signals} >= {"goal_chance", "stage_pace"}, signals.notes
    return folder


def test_a_run_sends_each_firing_reading_once_however_often_cron_repeats_it(demo: Path, webhook: Webhook) -> None:
    (demo / "alerts.yaml").write_text(RULES.format(url=webhook.url), encoding="utf-8")
    first = as_json(tandem_cli(demo, "alerts", "run", "--as-of", "2026-11-26T12:00:00", "--format", "json"))
    sent = [a for a in first["alerts"] if a["outcome"] == "sent"]
    assert {a["rule"] for a in sent} == {"goal-at-risk", "mql-behind"}
    assert len(webhook.bodies) == 2
    goal = next(b for b in webhook.bodies if b["rule"] == "goal-at-risk")
    assert goal["period"] == "2026-Q4"
    assert goal["signal"]["kind"] == "goal_chance"
    assert goal["signal"]["value"] < 0.5
    assert "2026-Q4" in goal["text"]

    again = as_json(tandem_cli(demo, "alerts", "run", "--as-of", "2026-11-26T12:00:00", "--format", "json"))
    assert {a["outcome"] for a in again["alerts"]} == {"already_sent"}
    assert len(webhook.bodies) == 2  # nothing new was delivered

    history = as_json(tandem_cli(demo, "alerts", "list", "--format", "json"))
    rows = history if isinstance(history, list) else history["alerts"]
    assert sorted(r["rule"] for r in rows if r["status"] == "sent") == ["goal-at-risk", "mql-behind"]
