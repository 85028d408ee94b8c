"""Warnings before a breach: a clock at 75 % of its target and a clock run out go out through the alert rules, once
per lead and clock, only while the recipient's team is at work (the lead's own, unless the rules name another),
and a breach only while it is fresh in the recipient's business time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tandem.alerts.rules import AlertRulesError, load_rules
from tandem.forecast.current import read_signals
from tandem.forecast.handoff_signals import in_hours_of, sla_signals
from tandem.forecast.signals import Signal
from tandem.workspace import Workspace

from ..handoffs.company import CONTRACT, agree, people, write
from ..test_cli_accounts import failed, tandem_cli
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


# A second team in Tokyo (09:00-17:00 local, 00:00-08:00 UTC, no daylight saving) whose hours an alert may follow.
TWO_TEAMS = UTC_CONTRACT.replace(
    "  priorities:",
    '    - team: apac\n      members: [kai]\n      time_zone: Asia/Tokyo\n      hours: {mon-fri: ["09:00-17:00"]}\n'
    "  priorities:",
)


def one_lead(ws: Workspace, tmp_path: Path) -> None:
    """L1, handed to ana (amer) on Monday 09:00: its accept clock (8 h) runs out on Tuesday at 10:00 UTC (7 h on
    Monday, 1 on Tuesday), its first-touch clock (16 h) on Wednesday at 11:00 UTC."""
    ws.definitions.guarded = False
    agree(ws, people(ws), TWO_TEAMS)
    ws.import_files("leads", [write(tmp_path / "l.csv", "lead_id,created_at,owner\nL1,2026-11-27,ana\n")])
    rows = f"L1,{L1_HANDED:%Y-%m-%d %H:%M},assigned,ana\n"
    ws.import_files("handoffs", [write(tmp_path / "h.csv", "lead_id,occurred_at,event,owner\n" + rows)])


def heard(ws: Workspace, moment: datetime, teams: set[str | None]) -> list[tuple[str, str, float, list[str]]]:
    return sorted((s.kind, s.subject, s.value, s.details["in_hours_of"]) for s in sla_signals(ws, moment, teams))


def test_a_breach_outside_the_recipient_s_hours_is_sent_at_its_first_run_inside_them(
    workspace: Workspace, tmp_path: Path
) -> None:
    one_lead(workspace, tmp_path)
    both: set[str | None] = {None, "apac"}  # the lead's own team (amer), and a destination following apac
    # Tuesday 10:00 UTC: amer works (L1's accept clock at 8 h of 8: at risk); Tokyo is at 19:00.
    assert heard(workspace, at(1, 10), both) == [("sla_at_risk", "L1/1/accept", 1.0, ["amer"])]
    # Tuesday 18:00 UTC: amer has gone home, Tokyo is at 03:00 on Wednesday: nothing.
    assert heard(workspace, at(1, 18), both) == []
    # Wednesday 00:00 UTC, 09:00 in Tokyo: the accept clock ran out on Tuesday at 10:00 UTC, 19:00 in Tokyo, so
    # apac has had no business time since: the breach is fresh for apac, sent at apac's first hour. amer sleeps.
    # L1 has used 14 h (7 + 7) of business time: 14/8 of the accept target, 14/16 of the first touch's.
    assert heard(workspace, at(2, 0), both) == [
        ("sla_at_risk", "L1/1/first_touch", 0.875, ["apac"]),
        ("sla_breach", "L1/1/accept", 1.75, ["apac"]),
    ]
    # Wednesday 10:00 UTC: amer is back; 7 h of amer's time since the breach (6 on Tuesday, 1 today): fresh.
    assert heard(workspace, at(2, 10), both) == [
        ("sla_at_risk", "L1/1/first_touch", 0.9375, ["amer"]),
        ("sla_breach", "L1/1/accept", 1.875, ["amer"]),
    ]
    # Wednesday 11:30 UTC: 8.5 h of amer's time since the accept breach: history for amer. The first touch ran
    # out at 11:00 UTC, half an hour ago (16.5 h of 16).
    assert heard(workspace, at(2, 11, 30), both) == [("sla_breach", "L1/1/first_touch", 1.03125, ["amer"])]
    # Thursday 00:00 UTC, 09:00 in Tokyo: apac has had exactly 8 h (Wednesday 09:00-17:00 local) since the accept
    # breach, still fresh (at most a working day); none since the first touch's. amer's 13 h do not matter to apac.
    assert heard(workspace, at(3, 0), both) == [
        ("sla_breach", "L1/1/accept", 2.625, ["apac"]),
        ("sla_breach", "L1/1/first_touch", 1.3125, ["apac"]),
    ]
    # Thursday 01:00 UTC: 9 h of apac's time since the accept breach: history; the first touch's 1 h is news.
    assert heard(workspace, at(3, 1), both) == [("sla_breach", "L1/1/first_touch", 1.3125, ["apac"])]
    # Without a destination following apac (the lead's team only), Tokyo's morning raises nothing.
    assert heard(workspace, at(2, 0), {None}) == []


def test_each_destination_hears_a_signal_only_in_its_own_team_s_hours(workspace: Workspace, tmp_path: Path) -> None:
    one_lead(workspace, tmp_path)
    rules = load_rules(
        """\
destinations:
  tokyo-desk: {webhook: "https://hooks.example.com/a", team: apac}
  reps: {webhook: "https://hooks.example.com/b"}
rules:
  - {name: breach, signal: sla_breach, above: 0, send_to: [tokyo-desk, reps]}
  - {name: breach-to-apac, signal: sla_breach, above: 0, team: apac, send_to: [reps]}
  - {name: goal, signal: goal_chance, below: 0.5, send_to: [reps]}
""",
        teams=["amer", "apac"],
    )
    breach, to_apac, _ = rules.rules
    assert [rules.team_for(breach, "tokyo-desk"), rules.team_for(breach, "reps")] == ["apac", None]
    assert rules.team_for(to_apac, "reps") == "apac"  # the rule's team, the destination naming none
    assert rules.followed_teams() == {"apac", None}  # the goal rule follows no hours
    (signal,) = [s for s in sla_signals(workspace, at(2, 0), rules.followed_teams()) if s.kind == "sla_breach"]
    assert [in_hours_of(signal, team) for team in ("apac", None, "amer")] == [True, False, False]
    goal = Signal("goal_chance", "", "2026-Q4", 0.3, "share", 5000, "...")
    assert in_hours_of(goal, "apac") is True  # other signals follow no hours


def test_a_team_the_contract_does_not_have_is_refused_naming_its_line(tmp_path: Path) -> None:
    text = """\
destinations:
  desk: {webhook: "https://hooks.example.com/a", team: emea}
rules:
  - {name: goal, signal: goal_chance, below: 0.5, team: apac, send_to: [desk]}
"""
    with pytest.raises(AlertRulesError) as refused:
        load_rules(text, teams=["amer", "apac"])
    assert str(refused.value).splitlines() == [
        "2 problems in the alert rules; nothing was sent.",
        "alerts.yaml, line 2, column 56: destination 'desk' follows the hours of team 'emea', which is not a team of "
        "the contract ('emea'). Hint: one of: amer, apac",
        "alerts.yaml, line 4, column 57: rule 'goal' watches goal_chance, which does not follow a team's hours "
        "('apac'). Hint: remove `team:`; only sla_at_risk and sla_breach are sent within a team's hours",
    ]


def test_the_alerts_run_checks_the_teams_against_the_contract(workspace: Workspace, tmp_path: Path) -> None:
    one_lead(workspace, tmp_path)
    (workspace.path / "alerts.yaml").write_text(
        'destinations:\n  desk: {webhook: "https://hooks.example.com/a", team: Emea}\n'
        "rules:\n  - {name: breach, signal: sla_breach, above: 0, send_to: [desk]}\n",
        encoding="utf-8",
    )
    done = tandem_cli(workspace.path, "alerts", "run", "--dry-run", "--as-of", at(2, 0).isoformat())
    assert failed(done) == (
        f"error: 1 problem in the alert rules; nothing was sent. {workspace.path / 'alerts.yaml'}, line 2, column 56: "
        "destination 'desk' follows the hours of team 'Emea', which is not a team of the contract ('Emea'). "
        "Hint: one of: amer, apac"
    )


def test_service_levels_that_cannot_be_read_leave_a_note(workspace: Workspace) -> None:
    found = read_signals(workspace, datetime(2026, 11, 18, 12))
    assert [note for note in found.notes if note.startswith("service levels")] == [
        "service levels: definitions version 1 has no service levels; propose a `service_levels:` section "
        "(docs/sla.md, 'The contract') and have both leaders approve it"
    ]
