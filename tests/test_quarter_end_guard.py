"""The quarter-end guard: loosening a marketing stage in the last weeks of a quarter needs a recorded exec override.

The scenario from the issue: a loosened MQL rule proposed to take effect in the last week of a quarter is refused
at the approval that would make it a version, until an exec (CEO or CRO) overrides the guard with a reason.

Dates in the workflow are placed relative to today, in the *next* quarter, so proposals are never in the past:
`FREEZE_DAY` is three days before that quarter ends (inside its last two weeks), `CALM_DAY` forty days after it
starts (outside them). The date arithmetic itself is checked on hand-worked dates.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

import tandem
from tandem.accounts import Principal
from tandem.definitions.governance import GovernanceError
from tandem.definitions.guard import (
    GuardVerdict,
    Measured,
    Rules,
    freeze_window,
    loosened_stages,
    quarter_bounds,
    quarter_label,
    relaxed_rules,
    resolve_rules,
)
from tandem.definitions.model import Definitions, DefinitionsError, load_definitions
from tandem.settings import resolve_settings
from tandem.workspace import Workspace

from .test_cli_accounts import as_json, failed, ok
from .test_cli_definitions import as_user, definitions, make_team, password

PASSWORD = "a long enough password"
TODAY = datetime.now(UTC).date()
NEXT_QUARTER = quarter_bounds(quarter_bounds(TODAY)[1] + timedelta(days=1))
FREEZE_DAY = NEXT_QUARTER[1] - timedelta(days=3)
CALM_DAY = NEXT_QUARTER[0] + timedelta(days=40)
FREEZE = freeze_window(FREEZE_DAY, 2)
assert FREEZE is not None


# --- the calendar -------------------------------------------------------------------------------------------------
def test_quarters_are_calendar_quarters() -> None:
    assert quarter_bounds(date(2026, 11, 26)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_bounds(date(2026, 10, 1)) == (date(2026, 10, 1), date(2026, 12, 31))
    assert quarter_bounds(date(2027, 2, 10)) == (date(2027, 1, 1), date(2027, 3, 31))
    assert quarter_bounds(date(2027, 6, 30)) == (date(2027, 4, 1), date(2027, 6, 30))
    assert quarter_bounds(date(2027, 7, 1)) == (date(2027, 7, 1), date(2027, 9, 30))
    assert quarter_label(date(2026, 12, 28)) == "2026-Q4"
    assert quarter_label(date(2027, 2, 10)) == "2027-Q1"


def test_the_freeze_is_the_last_weeks_of_the_quarter_including_its_last_day() -> None:
    # 14 days ending on 31 December: the 18th to the 31st.
    assert freeze_window(date(2026, 12, 28), 2) == (date(2026, 12, 18), date(2026, 12, 31))
    # The window belongs to the quarter, wherever in it the day falls.
    assert freeze_window(date(2026, 11, 26), 2) == (date(2026, 12, 18), date(2026, 12, 31))
    assert freeze_window(date(2026, 12, 28), 1) == (date(2026, 12, 25), date(2026, 12, 31))
    # A leap year's first quarter ends on 31 March all the same; the 7 days before it are 25 to 31 March.
    assert freeze_window(date(2028, 2, 29), 1) == (date(2028, 3, 25), date(2028, 3, 31))
    assert quarter_bounds(date(2028, 2, 29)) == (date(2028, 1, 1), date(2028, 3, 31))
    # 0 weeks turns the guard off; more weeks than the quarter has is the whole quarter.
    assert freeze_window(date(2026, 12, 28), 0) is None
    assert freeze_window(date(2026, 12, 28), 20) == (date(2026, 10, 1), date(2026, 12, 31))


# --- what loosens a stage -----------------------------------------------------------------------------------------
BASE = """
stages:
  - name: lead
    side: marketing
    description: Someone we can reach.
  - name: mql
    side: marketing
    description: Ready for a sales conversation.
    rule: score >= 50
  - name: sql
    side: sales
    description: Sales accepted it.
scoring:
  fit:
    - when: employees >= 50
      points: 20
"""


def defs(text: str = BASE) -> Definitions:
    return load_definitions(text)


def test_by_the_text_a_new_or_changed_rule_on_a_marketing_stage_loosens_it() -> None:
    base = defs()
    assert loosened_stages(base, defs(BASE.replace("score >= 50", "score >= 40"))) == ["mql"]
    # A higher threshold is tighter, but the text cannot tell: without data any change of rule counts.
    assert loosened_stages(base, defs(BASE.replace("score >= 50", "score >= 60"))) == ["mql"]
    with_lead_rule = BASE.replace("description: Someone we can reach.", "description: x\n    rule: employees >= 1")
    assert loosened_stages(base, defs(with_lead_rule)) == ["lead"]


def test_by_the_text_new_scoring_loosens_the_stages_whose_rule_uses_the_score() -> None:
    assert loosened_stages(defs(), defs(BASE.replace("points: 20", "points: 40"))) == ["mql"]
    no_score = BASE.replace("score >= 50", "employees >= 50")
    assert loosened_stages(defs(no_score), defs(no_score.replace("points: 20", "points: 40"))) == []


def test_removing_a_rule_is_not_loosening() -> None:
    """Reaching a stage is "has its stage event OR meets its rule": without the rule fewer leads reach it."""
    assert loosened_stages(defs(), defs(BASE.replace("    rule: score >= 50\n", ""))) == []


def test_sales_stages_and_words_are_not_the_guards_business() -> None:
    sql_rule = BASE.replace("description: Sales accepted it.", "description: Sales accepted it.\n    rule: score >= 1")
    assert loosened_stages(defs(), defs(sql_rule)) == []
    assert loosened_stages(defs(), defs(BASE.replace("Someone we can reach.", "Anyone at all."))) == []
    assert loosened_stages(defs(), defs()) == []


def test_a_new_marketing_stage_with_a_rule_counts_as_loosened() -> None:
    mel_stage = "  - name: mel\n    side: marketing\n    description: x\n    rule: score >= 5\n"
    mel = BASE.replace("  - name: mql\n", mel_stage + "  - name: mql\n")
    assert loosened_stages(defs(), defs(mel)) == ["mel"]


def test_handing_a_stage_to_sales_in_the_same_change_does_not_slip_past() -> None:
    handed = BASE.replace("side: marketing\n    description: Ready", "side: sales\n    description: Ready")
    assert loosened_stages(defs(), defs(handed.replace("score >= 50", "score >= 10"))) == ["mql"]


def test_with_data_a_stage_is_loosened_when_the_proposal_adds_leads_to_it() -> None:
    tighter = defs(BASE.replace("score >= 50", "score >= 60"))
    assert loosened_stages(defs(), tighter, {"lead": 0, "mql": -120, "sql": 0}) == []
    assert loosened_stages(defs(), tighter, {"lead": 0, "mql": 35, "sql": 12}) == ["mql"]
    # Measured, a change elsewhere that adds leads to a marketing stage counts too; a stage not measured gained none.
    assert loosened_stages(defs(), defs(), {"lead": 4}) == ["lead"]
    assert loosened_stages(defs(), tighter, {}) == []


def test_the_verdict_says_what_to_do() -> None:
    verdict = GuardVerdict(
        proposal_id=3,
        loosened=["mql"],
        effective=date(2026, 12, 28),
        weeks=2,
        window=(date(2026, 12, 18), date(2026, 12, 31)),
    )
    assert verdict.needs_override
    assert verdict.blocked
    assert verdict.message == (
        "proposal #3 loosens mql and takes effect on 2026-12-28, within the last 2 weeks of 2026-Q4 "
        "(2026-12-18 to 2026-12-31): an exec must override it first "
        "(`tandem definitions override 3 --as USER --reason TEXT`), or propose it again effective from 2027-01-01"
    )
    measured = GuardVerdict(3, ["mql"], date(2026, 12, 28), 2, verdict.window, added={"mql": 1200})
    assert "loosens mql (+1,200 leads)" in measured.message
    overridden = GuardVerdict(3, ["mql"], date(2026, 12, 28), 2, verdict.window, None, "eve", "board agreed")
    assert overridden.needs_override
    assert not overridden.blocked
    assert overridden.message.endswith("overridden by eve: board agreed")
    outside = GuardVerdict(3, ["mql"], date(2027, 2, 10), 2, (date(2027, 3, 18), date(2027, 3, 31)))
    assert not outside.needs_override
    assert outside.message.endswith(
        "outside the last 2 weeks of 2027-Q1 (2027-03-18 to 2027-03-31); no override needed"
    )
    assert outside.as_dict()["window"] == [date(2027, 3, 18), date(2027, 3, 31)]
    assert "guard is off" in GuardVerdict(3, ["mql"], date(2026, 12, 28), 0, None).message


# --- the workflow -------------------------------------------------------------------------------------------------
def person(ws: Workspace, username: str, role: str, *, leader: bool = False) -> Principal:
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=leader)
    return ws.accounts.authenticate(username, PASSWORD, "test")


@pytest.fixture
def team(workspace: Workspace) -> dict[str, Principal]:
    return {
        "mark": person(workspace, "mark", "marketing"),
        "maria": person(workspace, "maria", "marketing", leader=True),
        "sam": person(workspace, "sam", "sales", leader=True),
        "eve": person(workspace, "eve", "exec"),
        "ed": person(workspace, "ed", "exec"),
        "vic": person(workspace, "vic", "viewer"),
    }


def with_mql_rule(ws: Workspace, rule: str | None) -> str:
    """The current definitions with `rule` as the mql stage's rule (None: without a rule)."""
    current = ws.definitions.current().document.splitlines()
    lines = [f"version_note: mql rule {rule}"]
    for line in current:
        if line.startswith(("version_note:", "  rule:")):
            continue
        lines.append(line)
        if line.endswith("name: mql") and rule is not None:
            lines.append(f"  rule: {rule}")
    return "\n".join(lines) + "\n"


def definition_actions(ws: Workspace) -> list[tuple[str, str]]:
    return [(e["actor"], e["action"]) for e in reversed(ws.audit_log()) if e["action"].startswith("definitions.")]


def test_the_workspace_guards_the_last_two_weeks_unless_its_settings_say_otherwise(workspace: Workspace) -> None:
    assert resolve_settings({})["definitions_freeze_weeks"] == 2
    assert workspace.definitions.freeze_weeks == 2


def test_a_loosened_mql_rule_at_quarter_end_waits_for_an_exec_override(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=FREEZE_DAY)
    verdict = governance.guard(proposal.id)
    assert (verdict.loosened, verdict.effective, verdict.window) == (["mql"], FREEZE_DAY, FREEZE)
    assert verdict.blocked

    # Marketing's leader approves what the change says: recorded, and the proposal now waits for sales and an exec.
    after_marketing = governance.approve(team["maria"], proposal.id)
    assert after_marketing.waiting_for == ["sales", "exec"]

    # Sales' approval would make it a version: refused, with what to do, and nothing of it kept.
    with pytest.raises(GovernanceError, match=r"loosens mql .* within the last 2 weeks .* an exec must override"):
        governance.approve(team["sam"], proposal.id)
    assert governance.current().version == 1
    assert [(d.username, d.side) for d in governance.proposal(proposal.id).decisions] == [("maria", "marketing")]
    assert definition_actions(workspace) == [("mark", "definitions.propose"), ("maria", "definitions.approve")]

    overridden = governance.override(team["eve"], proposal.id, "Board agreed: the Q4 campaign changed the mix")
    assert overridden.override is not None
    assert (overridden.override.username, overridden.override.comment) == (
        "eve",
        "Board agreed: the Q4 campaign changed the mix",
    )
    assert overridden.as_dict()["override"]["side"] == "exec"
    assert governance.guard(proposal.id).overridden_by == "eve"

    done = governance.approve(team["sam"], proposal.id)
    assert (done.status, done.version) == ("approved", 2)
    assert done.guard is not None
    assert not done.guard.blocked
    assert governance.current().effective_from == FREEZE_DAY
    assert definition_actions(workspace) == [
        ("mark", "definitions.propose"),
        ("maria", "definitions.approve"),
        ("eve", "definitions.override"),
        ("sam", "definitions.approve"),
        ("sam", "definitions.version"),
    ]
    assert workspace.verify_audit().ok


def test_only_an_exec_overrides_with_a_reason_once_and_not_their_own_proposal(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=FREEZE_DAY)
    with pytest.raises(GovernanceError, match="vic has the viewer role; only an exec"):
        governance.override(team["vic"], proposal.id, "why not")
    with pytest.raises(GovernanceError, match="maria has the marketing role; only an exec"):
        governance.override(team["maria"], proposal.id, "why not")
    with pytest.raises(GovernanceError, match="give a reason for the override"):
        governance.override(team["eve"], proposal.id, "  ")
    with pytest.raises(GovernanceError, match="no proposal #9"):
        governance.override(team["eve"], 9, "why not")
    assert governance.proposal(proposal.id).decisions == []

    governance.override(team["eve"], proposal.id, "agreed with both leaders")
    with pytest.raises(GovernanceError, match=r"already overridden by eve \(\d{4}-\d\d-\d\d\): agreed with both"):
        governance.override(team["ed"], proposal.id, "me too")

    # Mark, who wrote the next proposal, is made an exec: he still cannot wave his own change through.
    second = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 30"), effective_from=FREEZE_DAY)
    workspace.accounts.update_user("admin", "mark", role="exec")
    mark_as_exec = workspace.accounts.authenticate("mark", PASSWORD, "test")
    with pytest.raises(GovernanceError, match="mark wrote proposal #2 and cannot override the guard on it"):
        governance.override(mark_as_exec, second.id, "my own")

    governance.reject(team["sam"], second.id, "too loose")
    with pytest.raises(GovernanceError, match="proposal #2 is rejected; it is closed"):
        governance.override(team["eve"], second.id, "too late")
    assert [a for a in definition_actions(workspace) if a[1] == "definitions.override"] == [
        ("eve", "definitions.override")
    ]


def test_outside_the_window_a_loosening_needs_no_override(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=CALM_DAY)
    verdict = governance.guard(proposal.id)
    assert verdict.loosened == ["mql"]
    assert not verdict.needs_override
    assert "no override needed" in verdict.message
    governance.approve(team["maria"], proposal.id)
    assert governance.approve(team["sam"], proposal.id).version == 2


def test_without_an_effective_date_the_approval_day_counts(
    workspace: Workspace, team: dict[str, Principal], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The clock is fixed: a run that crosses midnight must not see two different "todays".
    approval_day = datetime(2026, 12, 21, 23, 59, 59)
    monkeypatch.setattr("tandem.definitions.governance._now", lambda: approval_day)
    proposal = workspace.definitions.propose(team["mark"], with_mql_rule(workspace, "score >= 40"))
    verdict = workspace.definitions.guard(proposal.id)
    assert verdict.effective == date(2026, 12, 21)
    assert verdict.window == (date(2026, 12, 18), date(2026, 12, 31))


def test_a_tightening_change_in_the_window_needs_no_override(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    first = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=CALM_DAY)
    governance.approve(team["maria"], first.id)
    governance.approve(team["sam"], first.id)

    # Measured on the warehouse, a higher threshold adds no lead to any stage.
    measured: list[tuple[str | None, str | None]] = []

    def added_leads(current: Definitions, proposed: Definitions) -> dict[str, int]:
        measured.append((current.stage("mql").rule, proposed.stage("mql").rule))
        return {"lead": 0, "mql": -310, "sql": 0, "opportunity": 0, "won": 0}

    governance.added_leads = added_leads
    tighter = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 60"), effective_from=FREEZE_DAY)
    assert governance.guard(tighter.id).loosened == []
    governance.approve(team["maria"], tighter.id)
    assert governance.approve(team["sam"], tighter.id).version == 3
    assert measured[-1] == ("score >= 40", "score >= 60")

    # By the text, dropping the rule is tighter: only the stage events reach mql then.
    governance.added_leads = None
    dropped = governance.propose(team["mark"], with_mql_rule(workspace, None), effective_from=FREEZE_DAY)
    governance.approve(team["maria"], dropped.id)
    assert governance.approve(team["sam"], dropped.id).version == 4


def test_measured_loosening_names_the_leads_it_adds(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    governance.added_leads = lambda current, proposed: {"lead": 0, "mql": 1200}
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=FREEZE_DAY)
    governance.approve(team["sam"], proposal.id)
    with pytest.raises(GovernanceError, match=r"loosens mql \(\+1,200 leads\)"):
        governance.approve(team["maria"], proposal.id)


def test_with_the_freeze_off_a_small_loosening_at_quarter_end_waits_for_nobody(
    workspace: Workspace, team: dict[str, Principal]
) -> None:
    governance = workspace.definitions
    governance.freeze_weeks = 0
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=FREEZE_DAY)
    assert governance.guard(proposal.id).message == (
        f"proposal #1 loosens mql and takes effect on {FREEZE_DAY} (the quarter-end freeze is off); no override needed"
    )
    governance.approve(team["maria"], proposal.id)
    assert governance.approve(team["sam"], proposal.id).version == 2


def test_with_the_guard_off_nothing_waits(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    governance.guarded = False
    governance.added_leads = lambda current, proposed: Measured({"mql": 5000}, {"mql": (10, 5010)})
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=FREEZE_DAY)
    assert governance.guard(proposal.id).message == "proposal #1: the guard is off; no override needed"
    governance.approve(team["maria"], proposal.id)
    assert governance.approve(team["sam"], proposal.id).version == 2


# --- the command line ---------------------------------------------------------------------------------------------
def test_guard_and_override_on_the_command_line(tmp_path: Path) -> None:
    ws = make_team(tmp_path / "ws")
    with tandem.open_workspace(ws) as workspace:
        workspace.accounts.create_user("cli:ops", "eve", "exec", password=password("eve"))
    text = ok(definitions(ws, "show")).replace("- name: mql\n", "- name: mql\n  rule: score >= 40\n")
    (tmp_path / "mql.yaml").write_text(text, encoding="utf-8")
    proposed = ok(as_user(ws, "mark", "propose", tmp_path / "mql.yaml", "--effective", FREEZE_DAY.isoformat()))
    assert "approve it and an exec override." in proposed

    assert "an exec must override it first" in " ".join(ok(definitions(ws, "guard", "1")).split())
    verdict = as_json(definitions(ws, "guard", "1", "--format", "json"))
    assert (verdict["loosened"], verdict["needs_override"], verdict["overridden_by"]) == (["mql"], True, None)

    assert "waiting for a sales leader and an exec override" in ok(as_user(ws, "maria", "approve", "1"))
    assert "an exec must override it first" in failed(as_user(ws, "sam", "approve", "1"))
    assert "mark has the marketing role; only an exec" in failed(as_user(ws, "mark", "override", "1", "--reason", "x"))
    overridden = ok(as_user(ws, "eve", "override", "1", "--reason", "agreed with both leaders"))
    assert "Proposal #1: eve overrode the guard: agreed with both leaders" in overridden
    assert f"version 2 is in effect from {FREEZE_DAY}" in ok(as_user(ws, "sam", "approve", "1"))


# --- the share rule and the guard's own rules -----------------------------------------------------------------------
def test_a_loosening_that_adds_more_than_the_share_allowed_needs_an_exec_at_any_time() -> None:
    # 460 mqls over the last 90 days under the proposal against 400 now: 15 % more, over the 10 % allowed.
    large = GuardVerdict(
        1,
        ["mql"],
        CALM_DAY,
        2,
        freeze_window(CALM_DAY, 2),
        {"mql": 120},
        max_added_percent=10,
        recent={"mql": (400, 460)},
    )
    assert not large.in_window
    assert large.added_share("mql") == pytest.approx(0.15)
    assert large.too_large == ["mql"]
    assert large.blocked
    assert large.message == (
        f"proposal #1 loosens mql (+120 leads) and takes effect on {CALM_DAY}, it would raise the volume of mql by "
        "15 % (460 against 400) over the last 90 days, more than the 10 % the guard allows at any time: an exec "
        "must override it first (`tandem definitions override 1 --as USER --reason TEXT`)"
    )
    # Exactly 10 % more is allowed.
    small = GuardVerdict(
        1,
        ["mql"],
        CALM_DAY,
        2,
        freeze_window(CALM_DAY, 2),
        {"mql": 40},
        max_added_percent=10,
        recent={"mql": (400, 440)},
    )
    assert small.too_large == []
    assert not small.needs_override
    assert small.message.endswith("and within the 10 % of volume the guard allows; no override needed")
    # A stage that had no volume and gains some is raised by an infinite share.
    from_none = GuardVerdict(1, ["mql"], CALM_DAY, 2, None, {"mql": 3}, max_added_percent=10, recent={"mql": (0, 3)})
    assert from_none.too_large == ["mql"]
    assert "raise the volume of mql by from none (3 against 0)" in from_none.message


def test_the_guard_rules_come_from_the_definitions_and_relaxing_them_needs_an_exec() -> None:
    with_section = defs(BASE + "guard:\n  freeze_weeks: 3\n  max_added_percent: 25\n")
    assert resolve_rules(with_section, 2) == Rules(freeze_weeks=3, max_added_percent=25, window_days=90)
    assert resolve_rules(defs(), 2) == Rules(freeze_weeks=2, max_added_percent=10, window_days=90)
    assert relaxed_rules(Rules(2, 10, 90), Rules(0, 10, 90)) == ["freeze_weeks 2 -> 0"]
    assert relaxed_rules(Rules(2, 10, 90), Rules(2, 50, 30)) == ["max_added_percent 10 -> 50"]
    assert relaxed_rules(Rules(2, 10, 90), Rules(4, 5, 30)) == []
    relaxing = GuardVerdict(4, [], CALM_DAY, 2, None, {}, relaxed=["freeze_weeks 2 -> 0"], max_added_percent=10)
    assert relaxing.blocked
    assert relaxing.message == (
        "proposal #4 relaxes the guard (freeze_weeks 2 -> 0): an exec must override it first "
        "(`tandem definitions override 4 --as USER --reason TEXT`)"
    )


def test_out_of_range_guard_rules_are_refused_with_their_place() -> None:
    with pytest.raises(DefinitionsError) as found:
        defs(BASE + "guard:\n  freeze_weeks: 20\n  max_added_percnt: 5\n")
    problems = [str(issue) for issue in found.value.issues]
    assert any("'freeze_weeks' in the guard is 20" in p and "use 0 to 13" in p for p in problems), problems
    assert any("unknown key 'max_added_percnt'" in p and "did you mean 'max_added_percent'" in p for p in problems)


def test_an_approval_that_relaxes_the_guard_waits_for_an_exec(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    relaxed = governance.current().document + "guard:\n  freeze_weeks: 0\n"
    proposal = governance.propose(team["mark"], relaxed, effective_from=CALM_DAY)
    governance.approve(team["maria"], proposal.id)
    with pytest.raises(GovernanceError, match=r"relaxes the guard \(freeze_weeks 2 -> 0\)"):
        governance.approve(team["sam"], proposal.id)
    governance.override(team["eve"], proposal.id, "the board wants no freeze this year")
    assert governance.approve(team["sam"], proposal.id).version == 2


def test_a_large_loosening_on_a_calm_day_waits_for_an_exec(workspace: Workspace, team: dict[str, Principal]) -> None:
    governance = workspace.definitions
    governance.added_leads = lambda current, proposed: Measured({"mql": 632}, {"mql": (410, 1042)})
    proposal = governance.propose(team["mark"], with_mql_rule(workspace, "score >= 40"), effective_from=CALM_DAY)
    governance.approve(team["maria"], proposal.id)
    with pytest.raises(GovernanceError, match=r"by 154 % \(1,042 against 410\) over the last 90 days"):
        governance.approve(team["sam"], proposal.id)
    assert governance.current().version == 1
