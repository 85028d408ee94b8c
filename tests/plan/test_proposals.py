"""The marketing plan as a proposal: marketing proposes, sales leaders review, send back, accept or reject.

Workflow tests run on both storage setups (SQLite + DuckDB, PostgreSQL) through the `workspace` fixture, with a
stand-in sufficiency check (the real one needs history; it runs at the end, on the demo company).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, text, update
from sqlalchemy.exc import DatabaseError

from tandem.accounts import Principal
from tandem.plan.proposals import PlanDocument, PlanError, PlanFileError, Plans, load_plan
from tandem.store.models import PlanVersion
from tandem.workspace import Workspace

PASSWORD = "a long enough password"

PLAN = """\
period: 2027-Q1
note: Q1 demand plan
programs:
  - name: Webinar series
    channel: webinar
    campaign: wb-2027-q1
    budget: 40k
    start: 2026-12-01
    end: 2027-02-28
    volume: 900
  - name: Paid search
    channel: paid_search
    budget: $60,000
    start: 2027-01-01
    end: 2027-03-31
"""


def person(ws: Workspace, username: str, role: str, *, leader: bool = False) -> Principal:
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=leader)
    return ws.accounts.authenticate(username, PASSWORD, "test")


def stand_in(plan: PlanDocument) -> Mapping[str, Any]:
    """A sufficiency check that needs no history: what the real one returns, in shape."""
    return {
        "goal": 1_000_000.0,
        "expected_revenue": plan.budget * 10,
        "low": plan.budget * 8,
        "high": plan.budget * 12,
        "after_period_revenue": plan.budget * 2,
        "by_month": [{"month": plan.period.start, "expected_revenue": plan.budget * 10}],
        "shortfall": [],
        "programs": [{"name": p.name, "budget": p.budget} for p in plan.programs],
    }


def changed(budget: str = "50k") -> str:
    return PLAN.replace("budget: 40k", f"budget: {budget}")


@pytest.fixture
def plans(workspace: Workspace) -> Plans:
    return Plans(workspace.store, stand_in, lambda: workspace.stages)


@pytest.fixture
def team(workspace: Workspace) -> dict[str, Principal]:
    return {
        "mark": person(workspace, "mark", "marketing"),
        "maria": person(workspace, "maria", "marketing", leader=True),
        "sam": person(workspace, "sam", "sales", leader=True),
        "sara": person(workspace, "sara", "sales", leader=True),
        "sid": person(workspace, "sid", "sales"),
        "eve": person(workspace, "eve", "exec"),
        "vic": person(workspace, "vic", "viewer"),
    }


def plan_actions(ws: Workspace) -> list[tuple[str, str, str]]:
    return [(e["actor"], e["action"], e["target"]) for e in reversed(ws.audit_log()) if e["action"].startswith("plan.")]


# --- the plan file ------------------------------------------------------------------------------------------------
def test_the_plan_file_is_read_into_programs() -> None:
    plan = load_plan(PLAN, stages=["lead", "mql", "won"])
    assert plan.period.label == "2027-Q1"
    assert plan.note == "Q1 demand plan"
    webinar, search = plan.programs
    assert (webinar.name, webinar.channel, webinar.campaign, webinar.budget) == (
        "Webinar series",
        "webinar",
        "wb-2027-q1",
        40_000,
    )
    assert (str(webinar.start), str(webinar.end), webinar.volume, webinar.stage) == (
        "2026-12-01",
        "2027-02-28",
        900,
        None,
    )
    assert (search.budget, search.volume, search.campaign) == (60_000, None, None)
    assert plan.budget == 100_000


def test_every_problem_in_the_file_is_named_with_its_place_and_value() -> None:
    broken = """\
period: 2027-Q5
programs:
  - name: Webinar series
    channel: webinar
    budget: lots
    start: 2027-02-30
    end: 2027-01-01
    volume: -3
    stage: visitor
    budjet: 4
  - name: Webinar series
    channel: webinar
    budget: 1k
    start: 2027-01-01
    end: 2027-01-31
"""
    with pytest.raises(PlanFileError) as raised:
        load_plan(broken, stages=["lead", "mql", "won"], source_name="q1.yaml")
    message = str(raised.value)
    assert message.startswith("7 problems in the plan; nothing was stored.")
    assert "q1.yaml, line 1, column 9: 'period' is not a period ('2027-Q5')" in message
    assert "q1.yaml, line 5, column 13: 'budget' in program 'Webinar series' is not an amount ('lots')" in message
    assert (
        "line 6, column 12: 'start' in program 'Webinar series' is not a date ('2027-02-30'). Hint: a day as YYYY-MM-DD"
        in message
    )
    assert "line 8, column 13: 'volume' in program 'Webinar series' is not a number of entries ('-3')" in message
    assert (
        "line 9, column 12: 'stage' in program 'Webinar series' is not a stage of the funnel ('visitor'). "
        "Hint: one of: lead, mql, won" in message
    )
    assert "line 10, column 5: unknown key 'budjet' in program 1. Hint: did you mean 'budget'?" in message
    assert "line 11, column 5: program name 'Webinar series' appears twice (first as program 1)" in message
    assert [issue.line for issue in raised.value.issues] == sorted(issue.line or 0 for issue in raised.value.issues)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "line 1, column 1: the plan file is empty"),
        ("period: [2027\n", "malformed YAML"),
        ("note: x\n", "the plan file has no 'period'"),
        ("period: 2027-Q1\nprograms: []\n", "'programs' must be a list with at least one program"),
        (
            "period: 2027-Q1\nprograms:\n  - name: a\n    channel: b\n    budget: 0\n"
            "    start: 2027-01-01\n    end: 2027-01-02\n",
            "costs nothing and gives no volume",
        ),
        (
            "period: 2027-Q1\nprograms:\n  - name: a\n    budget: 1k\n    start: 2027-01-01\n    end: 2027-01-02\n",
            "program 'a' has no 'channel'",
        ),
    ],
)
def test_a_broken_plan_file_says_what_to_write(text: str, expected: str) -> None:
    with pytest.raises(PlanFileError, match=expected):
        load_plan(text)


# --- proposing ----------------------------------------------------------------------------------------------------
def test_a_marketing_user_proposes_version_one_with_its_sufficiency(
    workspace: Workspace, plans: Plans, team: dict[str, Principal], tmp_path: Path
) -> None:
    path = tmp_path / "q1.yaml"
    path.write_text(PLAN, encoding="utf-8")
    proposed = plans.propose(team["mark"], path)
    assert (proposed.plan_id, proposed.period, proposed.version, proposed.status) == (1, "2027-Q1", 1, "proposed")
    assert (proposed.author, proposed.note, proposed.document) == ("mark", "Q1 demand plan", PLAN)
    assert proposed.sufficiency is not None
    assert proposed.sufficiency["expected_revenue"] == 1_000_000
    assert proposed.sufficiency["by_month"] == [{"month": "2027-01-01", "expected_revenue": 1_000_000.0}]
    assert plans.plan("2027-Q1").waiting == proposed
    assert plans.plan(1) == plans.plan("#1") == plans.plan("2027-Q1")
    assert plans.baseline("2027-Q1") is None
    assert plan_actions(workspace) == [("mark", "plan.propose", "plan #1 (2027-Q1) version 1")]
    details = workspace.audit_log(1)[0]["details"]
    assert details["budget"] == 100_000
    assert details["sufficiency"]["after_period_revenue"] == 200_000


def test_only_marketing_proposes(plans: Plans, team: dict[str, Principal]) -> None:
    for name in ("sam", "sid", "eve", "vic"):
        with pytest.raises(PlanError, match=f"{name} has the .* role; only marketing users propose"):
            plans.propose(team[name], PLAN)
    assert plans.plans() == []
    assert plans.propose(team["maria"], PLAN).author == "maria"  # a marketing leader proposes too


def test_nothing_is_stored_when_the_file_or_the_check_fails(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    with pytest.raises(PlanFileError):
        plans.propose(team["mark"], PLAN.replace("budget: 40k", "budget: many"))

    def no_goal(plan: PlanDocument) -> Mapping[str, Any]:
        raise PlanError("no goal for 2027-Q1: set one (`tandem goal set 2027-Q1 AMOUNT`)")

    with pytest.raises(PlanError, match="no goal for 2027-Q1"):
        Plans(workspace.store, no_goal).propose(team["mark"], PLAN)
    assert plans.plans() == []
    assert plan_actions(workspace) == []


def test_a_new_version_supersedes_the_one_waiting(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    with pytest.raises(PlanError, match="identical to version 1 of the 2027-Q1 plan, which is waiting"):
        plans.propose(team["maria"], PLAN)
    second = plans.propose(team["maria"], changed(), note="more webinars")
    assert (second.version, second.note, second.sufficiency and second.sufficiency["expected_revenue"]) == (
        2,
        "more webinars",
        1_100_000,
    )
    first = plans.version("2027-Q1", 1)
    assert (first.status, first.decided_by, first.reason) == ("superseded", "maria", "replaced by version 2")
    assert plans.plan("2027-Q1").waiting == second
    assert workspace.audit_log(1)[0]["details"]["supersedes"] == 1


# --- reviewing ----------------------------------------------------------------------------------------------------
def test_marketing_and_sales_comment_on_the_version_they_read(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    plans.review(team["sid"], 1, "Paid search starts late", version=1)
    plans.review(team["maria"], 1, "Agreed, it should start in December", version=1)
    for name in ("eve", "vic"):
        with pytest.raises(PlanError, match="marketing and sales users review plans"):
            plans.review(team[name], 1, "hm", version=1)
    with pytest.raises(PlanError, match="give a comment"):
        plans.review(team["sid"], 1, "  ", version=1)
    with pytest.raises(PlanError, match=r"plan #1 \(2027-Q1\) has no version 4; its versions are 1 to 1"):
        plans.review(team["sid"], 1, "hm", version=4)
    with pytest.raises(PlanError, match="no plan #9"):
        plans.review(team["sid"], 9, "hm", version=1)
    comments = plans.version(1, 1).comments
    assert [(c.version, c.author, c.comment) for c in comments] == [
        (1, "sid", "Paid search starts late"),
        (1, "maria", "Agreed, it should start in December"),
    ]
    assert [a for _, a, _ in plan_actions(workspace)] == ["plan.propose", "plan.review", "plan.review"]


def test_a_review_of_a_replaced_version_is_refused_as_stale(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    plans.review(team["sid"], 1, "on version 1", version=1)
    plans.propose(team["mark"], changed())
    with pytest.raises(
        PlanError, match="version 1 of the 2027-Q1 plan was replaced by version 2; read it and review again"
    ):
        plans.review(team["sam"], 1, "looks fine", version=1)
    assert [c.comment for c in plans.version(1, 1).comments] == ["on version 1"]
    assert plans.version(1, 2).comments == []
    assert [a for _, a, _ in plan_actions(workspace)].count("plan.review") == 1
    plans.review(team["sam"], 1, "looks fine", version=2)
    assert [c.comment for c in plans.version(1, 2).comments] == ["looks fine"]


# --- deciding -----------------------------------------------------------------------------------------------------
def test_a_sales_leader_accepts_and_the_version_becomes_the_baseline(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    accepted = plans.accept(team["sam"], 1, version=1)
    assert (accepted.status, accepted.decided_by) == ("accepted", "sam")
    assert accepted.decided_at is not None
    assert plans.baseline("2027-Q1") == accepted
    assert plans.plan("2027-Q1").waiting is None
    assert plan_actions(workspace) == [
        ("mark", "plan.propose", "plan #1 (2027-Q1) version 1"),
        ("sam", "plan.accept", "plan #1 (2027-Q1) version 1"),
    ]
    assert workspace.verify_audit().ok


def test_only_a_sales_leader_accepts_sends_back_or_rejects(plans: Plans, team: dict[str, Principal]) -> None:
    plans.propose(team["mark"], PLAN)
    for name, message in [
        ("sid", "sid is not a sales leader; only a sales leader accepts"),
        ("maria", "maria has the marketing role; only a sales leader accepts"),
        ("eve", "eve has the exec role; only a sales leader accepts"),
        ("vic", "vic has the viewer role"),
    ]:
        with pytest.raises(PlanError, match=message):
            plans.accept(team[name], 1, version=1)
    with pytest.raises(PlanError, match="only a sales leader sends back"):
        plans.send_back(team["sid"], 1, "no")
    with pytest.raises(PlanError, match="only a sales leader rejects"):
        plans.reject(team["maria"], 1, "no")
    assert plans.version(1, 1).status == "proposed"


def test_the_author_never_accepts_their_own_plan(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    workspace.accounts.update_user("admin", "mark", role="sales", leader=True)  # mark moved to sales, as a leader
    mark = workspace.accounts.authenticate("mark", PASSWORD, "test")
    with pytest.raises(PlanError, match="mark wrote version 1 of the 2027-Q1 plan and cannot accept it"):
        plans.accept(mark, 1, version=1)
    with pytest.raises(PlanError, match=r"mark wrote version 1 .* cannot send back it"):
        plans.send_back(mark, 1, "not good")
    assert plans.version(1, 1).status == "proposed"
    assert [a for _, a, _ in plan_actions(workspace)] == ["plan.propose"]


def test_accepting_a_stale_version_is_refused(plans: Plans, team: dict[str, Principal]) -> None:
    plans.propose(team["mark"], PLAN)
    plans.propose(team["mark"], changed())
    with pytest.raises(
        PlanError, match="version 1 of the 2027-Q1 plan was replaced by version 2; read it and accept again"
    ):
        plans.accept(team["sam"], 1, version=1)
    assert plans.baseline("2027-Q1") is None
    assert plans.accept(team["sam"], 1, version=2).status == "accepted"


def test_an_accepted_plan_cannot_be_edited_a_change_is_a_new_version(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    plans.accept(team["sam"], 1, version=1)
    with pytest.raises(PlanError, match=r"accepted by sam on .*: it is the baseline and cannot change"):
        plans.review(team["sid"], 1, "one more thing", version=1)
    with pytest.raises(PlanError, match="accepted by sam"):
        plans.accept(team["sara"], 1, version=1)
    with pytest.raises(PlanError, match="no version of the 2027-Q1 plan is waiting"):
        plans.send_back(team["sara"], 1, "too late")
    with pytest.raises(PlanError, match="identical to version 1, the accepted baseline of 2027-Q1"):
        plans.propose(team["mark"], PLAN)

    # The change is version 2: version 1 stays the baseline until a sales leader accepts it.
    second = plans.propose(team["mark"], changed())
    assert second.version == 2
    assert plans.baseline("2027-Q1") == plans.version(1, 1)
    assert plans.accept(team["sara"], 1, version=2).status == "accepted"
    assert plans.baseline("2027-Q1") == plans.version(1, 2)
    assert plans.version(1, 1).status == "replaced"
    assert workspace.audit_log(1)[0]["details"]["replaces"] == 1


def test_the_database_refuses_a_direct_edit_of_an_accepted_version(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    plans.accept(team["sam"], 1, version=1)
    edits = [
        update(PlanVersion).where(PlanVersion.version == 1).values(document=changed()),
        update(PlanVersion).where(PlanVersion.version == 1).values(sufficiency={"expected_revenue": 1.0}),
        update(PlanVersion).where(PlanVersion.version == 1).values(status="proposed"),
        update(PlanVersion).where(PlanVersion.version == 1).values(decided_by="sara"),
        delete(PlanVersion).where(PlanVersion.version == 1),
    ]
    for edit in edits:
        with (
            pytest.raises(DatabaseError, match="an accepted plan version is frozen"),
            workspace.store.session() as s,
            s.begin(),
        ):
            s.execute(edit)
    with workspace.store.session() as s, s.begin():  # the ORM meets the same refusal
        row = s.scalars(select(PlanVersion)).one()
        row.note = "edited"
        with pytest.raises(DatabaseError, match="frozen"):
            s.flush()
    assert plans.version(1, 1).document == PLAN
    assert plans.version(1, 1).note == "Q1 demand plan"
    with workspace.store.session() as s:  # a version not yet accepted is an ordinary row
        assert s.execute(text("select count(*) from plan_versions")).scalar() == 1


def test_a_sent_back_version_waits_for_a_revision(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plans.propose(team["mark"], PLAN)
    with pytest.raises(PlanError, match="give a reason"):
        plans.send_back(team["sam"], 1, "")
    sent = plans.send_back(team["sam"], 1, "paid search must start in December")
    assert (sent.status, sent.decided_by, sent.reason) == ("sent_back", "sam", "paid search must start in December")
    with pytest.raises(
        PlanError, match=r"was sent back by sam on .*: paid search must start in December; it is closed"
    ):
        plans.accept(team["sara"], 1, version=1)
    with pytest.raises(PlanError, match="was sent back by sam"):
        plans.review(team["sid"], 1, "hm", version=1)
    revised = plans.propose(team["mark"], changed())
    assert (revised.version, revised.status) == (2, "proposed")
    assert plans.version(1, 1).status == "sent_back"  # a decided version keeps its status
    assert plans.accept(team["sara"], 1, version=2).status == "accepted"
    assert [a for _, a, _ in plan_actions(workspace)] == [
        "plan.propose",
        "plan.send_back",
        "plan.propose",
        "plan.accept",
    ]


def test_a_rejected_version_is_closed_for_good(workspace: Workspace, plans: Plans, team: dict[str, Principal]) -> None:
    plans.propose(team["mark"], PLAN)
    rejected = plans.reject(team["sara"], 1, "we sell to banks, not webinar audiences", version=1)
    assert (rejected.status, rejected.reason) == ("rejected", "we sell to banks, not webinar audiences")
    with pytest.raises(PlanError, match=r"was rejected by sara .*; it is closed, propose a new version"):
        plans.accept(team["sam"], 1, version=1)
    with pytest.raises(PlanError, match="was rejected by sara"):
        plans.send_back(team["sam"], 1, "x", version=1)
    assert plans.baseline("2027-Q1") is None
    assert workspace.audit_log(1)[0]["action"] == "plan.reject"


def test_each_period_has_its_own_plan(plans: Plans, team: dict[str, Principal]) -> None:
    plans.propose(team["mark"], PLAN)
    q2 = plans.propose(team["mark"], PLAN.replace("2027-Q1", "2027-Q2"))
    assert (q2.plan_id, q2.period, q2.version) == (2, "2027-Q2", 1)
    assert [p.period for p in plans.history()] == ["2027-Q1", "2027-Q2"]
    assert [p.period for p in plans.history("2027-Q2")] == ["2027-Q2"]
    with pytest.raises(PlanError, match="no plan for 2027-Q3"):
        plans.plan("2027-Q3")
    with pytest.raises(PlanError, match="neither a plan number"):
        plans.plan("next quarter")


def test_two_racing_accepts_let_exactly_one_through(plans: Plans, team: dict[str, Principal]) -> None:
    plans.propose(team["mark"], PLAN)
    start = threading.Barrier(2)
    outcomes: dict[str, object] = {}

    def accept(name: str) -> None:
        start.wait()
        try:
            outcomes[name] = plans.accept(team[name], 1, version=1).status
        except PlanError as exc:
            outcomes[name] = exc

    threads = [threading.Thread(target=accept, args=(name,)) for name in ("sam", "sara")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [name for name, outcome in outcomes.items() if outcome == "accepted"]
    refused = [outcome for outcome in outcomes.values() if isinstance(outcome, PlanError)]
    assert len(winners) == 1
    assert len(refused) == 1
    assert f"was accepted by {winners[0]}" in str(refused[0])
    assert plans.baseline("2027-Q1") is not None
    assert plans.version(1, 1).decided_by == winners[0]


def test_two_racing_first_proposals_make_one_plan_with_two_versions(plans: Plans, team: dict[str, Principal]) -> None:
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def propose(name: str, text: str) -> None:
        start.wait()
        try:
            plans.propose(team[name], text)
        except BaseException as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=propose, args=("mark", PLAN)),
        threading.Thread(target=propose, args=("maria", changed())),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    plan = plans.plan("2027-Q1")
    assert [(v.version, v.status) for v in plan.versions] == [(1, "superseded"), (2, "proposed")]


# --- the real sufficiency check, on the demo company (SQLite + DuckDB) ------------------------------------------
def test_the_sufficiency_check_runs_forward_on_history_and_is_kept_with_the_version(tmp_path: Path) -> None:
    from tandem.demo_workspace import build_demo
    from tandem.periods import parse_period
    from tandem.plan.calculator import Given, goal_by_month, plan_model
    from tandem.plan.forward import sufficiency
    from tandem.plan.history import channel_costs

    with build_demo(tmp_path / "demo", leads=2000, seed=7, echo=lambda _: None) as ws:
        mark = person(ws, "mark", "marketing")
        sam = person(ws, "sam", "sales", leader=True)
        with pytest.raises(
            PlanError,
            match=r"no goal for 2027-Q1 to check the plan against: .*`tandem goal set 2027-Q1 AMOUNT --as USER`",
        ):
            ws.plans.propose(mark, PLAN)
        assert ws.plans.plans() == []
        ws.goals.set(person(ws, "eve", "exec"), "2027-Q1", "3M")
        with pytest.raises(PlanFileError, match="'stage' in program 'Webinar series' is not a stage of the funnel"):
            ws.plans.propose(mark, PLAN.replace("    volume: 900\n", "    volume: 900\n    stage: visitor\n"))

        proposed = ws.plans.propose(mark, PLAN)
        checked = proposed.sufficiency
        assert checked is not None
        assert checked["goal"] == pytest.approx(3_000_000)
        assert checked["low"] <= checked["expected_revenue"] <= checked["high"]
        # The stored check is the sufficiency check's on the workspace's own model, goal and costs (seeded draws:
        # the same inputs give the same range, to the last digit).
        fresh = sufficiency(
            plan_model(Given({}, {}), ws),
            load_plan(PLAN).programs,
            goal_by_month(ws, parse_period("2027-Q1")),
            period_end=date(2027, 3, 31),
            costs=channel_costs(ws),
        )
        assert (checked["expected_revenue"], checked["after_period_revenue"]) == (
            fresh.expected_revenue,
            fresh.after_period_revenue,
        )
        assert (checked["low"], checked["high"]) == (fresh.low, fresh.high)
        assert checked["budget"] == 100_000
        programs = {p["name"]: p for p in checked["programs"]}
        assert programs["Webinar series"]["volume"] == 900
        cost = next(c.cost_per_lead for c in channel_costs(ws) if c.channel == "paid_search")
        assert cost is not None
        assert programs["Paid search"]["volume"] == pytest.approx(60_000 / cost)  # no volume given: budget / cost
        assert sum(p["expected_revenue"] for p in checked["programs"]) == pytest.approx(checked["expected_revenue"])
        assert {g["stage"] for g in checked["shortfall"]} <= set(ws.stages)
        # Stored as computed: accepting it later does not run it again, and the baseline carries it.
        ws.plans.accept(sam, proposed.plan_id, version=1)
        baseline = ws.plans.baseline("2027-Q1")
        assert baseline is not None
        assert baseline.sufficiency == checked
        audited = ws.audit_log(2)[1]["details"]["sufficiency"]
        assert audited["after_period_revenue"] == checked["after_period_revenue"]
