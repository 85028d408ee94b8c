"""Warnings before a breach: a clock at 75 % of its target and a clock run out go out through the alert rules, once
per lead and clock, only while the lead's team is at work, and a breach only while it is fresh."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from tandem.forecast.handoff_signals import sla_signals
from tandem.workspace import Workspace

from ..handoffs.company import CONTRACT, agree, people, write
from .conftest import Webhook

# The contract is agreed today, so the clocks run in the weeks after it: "as of" a day sees only the contract known
# then. The team works 09:00-12:00 and 13:00-17:00 UTC on weekdays, with no holidays; accept within 8 hours.
TODAY = datetime.now(UTC).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
MONDAY = TODAY + timedelta(days=14 - TODAY.weekday())  # Monday of the week after next


def at(days: int, hour: int, minute: int = 0) -> datetime:
    return MONDAY + timedelta(days=days, hours=hour, minutes=minute)


L1_HANDED = at(0, 9)  # Monday 09:00
L2_HANDED = at(-3, 15)  # the Friday before, 15:00
UTC_CONTRACT = CONTRACT.replace("America/New_York", "UTC").replace("      holidays: US\n", "")


def company(ws: Workspace, tmp_path: Path) -> None:
    ws.definitions.guarded = False
    agree(ws, people(ws), UTC_CONTRACT)
    ws.import_files(
        "leads", [write(tmp_path / "l.csv", "lead_id,created_at,owner\nL1,2026-11-27,ana\nL2,2026-11-27,ana\n")]
    )
    rows = f"L1,{L1_HANDED:%Y-%m-%d %H:%M},assigned,ana\nL2,{L2_HANDED:%Y-%m-%d %H:%M},assigned,ana\n"
    ws.import_files("handoffs", [write(tmp_path / "h.csv", "lead_id,occurred_at,event,owner\n" + rows)])


def readings(ws: Workspace, at: datetime) -> list[tuple[str, str, float]]:
    return sorted((s.kind, s.subject, s.value) for s in sla_signals(ws, at))


def test_clocks_at_risk_and_run_out_are_signals_only_while_the_team_works(workspace: Workspace, tmp_path: Path) -> None:
    company(workspace, tmp_path)
    # Monday 15:00: L1 has used 5 h of 8; L2 2 h on Friday and 5 h today, 7 h of 8 (87.5 %).
    assert readings(workspace, at(0, 15)) == [("sla_at_risk", "L2/1/accept", 0.875)]
    # Monday 18:00: the team has gone home; nothing is raised, though L2 is at 100 %.
    assert readings(workspace, at(0, 18)) == []
    # Tuesday 10:00: L1 at 8 h exactly (at risk, not yet run out); L2 at 2 + 7 + 1 = 10 h, two past its target.
    assert readings(workspace, at(1, 10)) == [("sla_at_risk", "L1/1/accept", 1.0), ("sla_breach", "L2/1/accept", 1.25)]
    # Thursday 15:00: both breaches are more than a working day old: history, in the report, not news.
    assert readings(workspace, at(3, 15)) == []
    (breach,) = [s for s in sla_signals(workspace, at(1, 10)) if s.kind == "sla_breach"]
    assert breach.message == (
        "Lead L2 (standard) was not accepted or rejected within 8 h: ana (amer) has let it wait 10 h of business time."
    )


def test_each_lead_and_clock_is_alerted_once(workspace: Workspace, tmp_path: Path, webhook: Webhook) -> None:
    company(workspace, tmp_path)
    (workspace.path / "alerts.yaml").write_text(
        f"""\
destinations:
  reps: {{webhook: "{webhook.url}"}}
rules:
  - name: sla-at-risk
    signal: sla_at_risk
    above: 0
    send_to: [reps]
  - name: sla-breach
    signal: sla_breach
    above: 0
    send_to: [reps]
""",
        encoding="utf-8",
    )
    for moment in (at(0, 15), at(0, 15, 30), at(1, 10)):
        report = workspace.alerts.run(sla_signals(workspace, moment), now=moment)
        assert report.ok
    keys = [body["signal"]["kind"] + " " + body["signal"]["subject"] for body in webhook.bodies]
    assert keys == ["sla_at_risk L2/1/accept", "sla_at_risk L1/1/accept", "sla_breach L2/1/accept"]
