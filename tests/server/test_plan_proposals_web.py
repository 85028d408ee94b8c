"""The marketing plan as a proposal in the web app, and scenarios side by side.

The people of the test workspace (tests/server/conftest.py): mark and mia (marketing) propose; sam is the sales
leader who decides; sid (sales, not a leader) only comments; eve (exec) and val (viewer) do neither. The plans are
for 2027-Q1, whose goal each test sets first (the sufficiency check runs the plan against it).

What each refusal answers: 422 for a file with problems (every one by line and column) or something asked that
cannot be used (an empty reason, no goal to check against); 409 for a decision or comment on a version that is no
longer the one waiting, or a proposal identical to the one waiting; 404 for a plan or version that does not exist;
403 for a role without the permission, or a step the person may not take (`allowed_actions`). A refusal stores
nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from html import unescape

import pytest
from fastapi import FastAPI
from fastapi.encoders import jsonable_encoder
from fastapi.testclient import TestClient

from tandem.periods import parse_period
from tandem.plan.calculator import Given, plan_inputs
from tandem.plan.scenarios import compare, load_scenarios

from .conftest import Browser
from .test_plan_pages import set_goal

PERIOD = "2027-Q1"
PLAN = """\
period: 2027-Q1
note: Q1 demand plan
programs:
  - name: Webinar series
    channel: webinar
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
SCENARIOS = """\
scenarios:
  - name: better qualification
    rate_changes: [mql:sql=+20%]
  - name: bigger deals
    deal_size_change: +15%
  - name: flat budget
    channels: [webinar=0.5@120, paid_search=0.5@140]
    budget: 150k
"""


@pytest.fixture(autouse=True)
def q1_goal(app: FastAPI) -> None:
    set_goal(app, PERIOD, "3M")


def propose(api: Callable[[str], TestClient], author: str = "mark", document: str = PLAN) -> dict[str, object]:
    answer = api(author).post("/api/plans", json={"document": document})
    assert answer.status_code == 201, answer.text
    version: dict[str, object] = answer.json()["version"]
    return version


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


# --- proposing ----------------------------------------------------------------------------------------------------
def test_a_marketing_user_proposes_through_the_api_with_the_sufficiency_check(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    version = propose(api)
    assert (version["period"], version["version"], version["status"], version["author"]) == (
        PERIOD,
        1,
        "proposed",
        "mark",
    )
    check = version["sufficiency"]
    assert isinstance(check, dict)
    assert check["goal"] == pytest.approx(3_000_000)
    assert check["low"] <= check["expected_revenue"] <= check["high"]
    assert check["summary"].startswith("The plan ")

    val = api("val")
    listed = val.get("/api/plans").json()["plans"]
    assert [(p["period"], p["status"], p["waiting"], p["baseline"]) for p in listed] == [(PERIOD, "proposed", 1, None)]
    plan_id = listed[0]["id"]
    one = val.get(f"/api/plans/{plan_id}").json()
    assert one["versions"][0]["document"] == PLAN
    assert one["versions"][0]["plan"]["budget"] == 100_000
    assert one["actions"] == []  # a viewer may read, not act
    assert api("sam").get(f"/api/plans/{plan_id}").json()["actions"] == ["review", "accept", "send_back", "reject"]
    assert api("mark").get(f"/api/plans/{plan_id}").json()["actions"] == ["propose", "review"]
    assert val.get("/api/plans/99").status_code == 404
    assert [e["action"] for e in app.state.tandem.workspace.audit_log() if e["action"].startswith("plan.")] == [
        "plan.propose"
    ]


def test_a_plan_file_with_problems_is_refused_by_line_and_column_and_nothing_is_stored(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    broken = PLAN.replace("budget: 40k", "budget: lots").replace("end: 2027-03-31", "end: 2027-02-30")
    answer = api("mark").post("/api/plans", json={"document": broken})
    assert answer.status_code == 422
    refusal = answer.json()
    assert refusal["detail"] == "2 problems in the plan; nothing was stored."
    assert [(p["line"], p["column"], p["value"]) for p in refusal["problems"]] == [
        (6, 13, "lots"),
        (14, 10, "2027-02-30"),
    ]
    assert "'budget' in program 'Webinar series' is not an amount" in refusal["problems"][0]["problem"]
    malformed = api("mark").post("/api/plans", json={"document": "period: [2027\nprograms: x\n"})
    assert malformed.status_code == 422
    assert malformed.json()["problems"][0]["line"] is not None
    assert app.state.tandem.workspace.plans.plans() == []


def test_refusals_as_asked_are_422_and_a_viewer_may_not_propose(api: Callable[[str], TestClient]) -> None:
    assert api("val").post("/api/plans", json={"document": PLAN}).status_code == 403
    assert api("eve").post("/api/plans", json={"document": PLAN}).status_code == 403
    sales = api("sid").post("/api/plans", json={"document": PLAN})
    assert sales.status_code == 403  # forbidden: the sales role may not propose the marketing plan
    assert "only marketing users propose the marketing plan" in sales.json()["detail"]
    no_goal = api("mark").post("/api/plans", json={"document": PLAN.replace("2027-Q1", "2027-Q3")})
    assert no_goal.status_code == 422
    assert "no goal for 2027-Q3 to check the plan against" in no_goal.json()["detail"]
    propose(api)
    twice = api("mia").post("/api/plans", json={"document": PLAN})
    assert twice.status_code == 409  # a conflict with the version waiting
    assert "identical to version 1" in twice.json()["detail"]


@pytest.mark.parametrize(
    "change",
    [("volume: 900", "volume: 99999999999999999999999999999"), ("end: 2027-03-31", "end: 9999-12-31")],
    ids=["a huge volume", "a program to the end of the calendar"],
)
def test_numbers_the_model_cannot_carry_are_refused_not_a_server_error(
    app: FastAPI, api: Callable[[str], TestClient], change: tuple[str, str]
) -> None:
    answer = api("mark").post("/api/plans", json={"document": PLAN.replace(*change)})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith("the sufficiency check cannot run on this plan: ")
    assert app.state.tandem.workspace.plans.plans() == []


# --- reviewing and deciding ---------------------------------------------------------------------------------------
def test_a_sales_leader_accepts_and_the_plan_is_the_baseline_pacing_measures_against(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    plan_id = propose(api)["plan_id"]
    sid, sam = api("sid"), api("sam")
    reviewed = sid.post(f"/api/plans/{plan_id}/review", json={"comment": "Paid search starts late.", "version": 1})
    assert reviewed.status_code == 200, reviewed.text
    assert [(c["author"], c["comment"]) for c in reviewed.json()["version"]["comments"]] == [
        ("sid", "Paid search starts late.")
    ]
    refused = sid.post(f"/api/plans/{plan_id}/accept", json={"version": 1})
    assert refused.status_code == 403
    assert "sid is not a sales leader" in refused.json()["detail"]
    assert api("eve").post(f"/api/plans/{plan_id}/accept", json={"version": 1}).status_code == 403
    assert api("val").post(f"/api/plans/{plan_id}/accept", json={"version": 1}).status_code == 403

    pacing = api("val").get("/api/plan/pacing", params={"period": PERIOD, "as_of": "2027-01-15T00:00:00"})
    assert pacing.json()["basis"] == f"what the goal needs (no plan accepted for {PERIOD})"
    accepted = sam.post(f"/api/plans/{plan_id}/accept", json={"version": 1})
    assert accepted.status_code == 200, accepted.text
    assert (accepted.json()["version"]["status"], accepted.json()["version"]["decided_by"]) == ("accepted", "sam")
    plan = api("val").get(f"/api/plans/{plan_id}").json()
    assert (plan["baseline"], plan["waiting"], plan["status"]) == (1, None, "accepted")
    assert app.state.tandem.workspace.plans.baseline(PERIOD).version == 1
    pacing = api("val").get("/api/plan/pacing", params={"period": PERIOD, "as_of": "2027-01-15T00:00:00"})
    assert pacing.json()["basis"] == (
        f"the accepted plan (plan #{plan_id} ({PERIOD}) version 1); sales stages against what the goal needs"
    )

    again = sam.post(f"/api/plans/{plan_id}/accept", json={"version": 1})
    assert again.status_code == 409
    assert "accepted by sam" in again.json()["detail"]
    assert sam.post(f"/api/plans/{plan_id}/review", json={"comment": "late", "version": 1}).status_code == 409


def test_the_author_never_decides_and_a_stale_version_is_refused(api: Callable[[str], TestClient]) -> None:
    plan_id = propose(api, author="mark")["plan_id"]
    assert api("mark").post(f"/api/plans/{plan_id}/accept", json={"version": 1}).status_code == 403  # marketing
    second = propose(api, author="mia", document=PLAN.replace("budget: 40k", "budget: 50k"))
    assert second["version"] == 2
    sam = api("sam")
    stale = sam.post(f"/api/plans/{plan_id}/accept", json={"version": 1})
    assert stale.status_code == 409
    assert "was replaced by version 2; read it and accept again" in stale.json()["detail"]
    assert sam.post(f"/api/plans/{plan_id}/review", json={"comment": "ok", "version": 1}).status_code == 409
    assert sam.post(f"/api/plans/{plan_id}/accept", json={"version": 7}).status_code == 404  # no such version
    sent = sam.post(f"/api/plans/{plan_id}/send-back", json={"reason": "Too little in March."})
    assert sent.status_code == 200, sent.text
    assert (sent.json()["version"]["version"], sent.json()["version"]["status"]) == (2, "sent_back")
    closed = sam.post(f"/api/plans/{plan_id}/reject", json={"reason": "no"})
    assert closed.status_code == 409  # nothing is waiting any more
    third = propose(api, author="mark", document=PLAN.replace("budget: 40k", "budget: 70k"))
    rejected = sam.post(f"/api/plans/{plan_id}/reject", json={"reason": "Not this quarter.", "version": 3})
    assert rejected.json()["version"]["status"] == "rejected"
    assert third["version"] == 3


def test_a_sales_leader_may_not_accept_a_plan_they_wrote(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    ws = app.state.tandem.workspace
    propose(api, author="mark")
    plan_id = ws.plans.plan(PERIOD).id
    ws.accounts.update_user("ada", "mark", role="sales", leader=True)  # mark moves to sales, as a leader
    refused = api("mark").post(f"/api/plans/{plan_id}/accept", json={"version": 1})
    assert refused.status_code == 403
    assert "mark wrote version 1 of the 2027-Q1 plan and cannot accept it" in refused.json()["detail"]


# --- pages --------------------------------------------------------------------------------------------------------
def test_the_plan_page_lists_plans_and_offers_the_propose_form_to_marketing_only(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    page = signed_in("mark").get("/plan", params={"period": PERIOD})
    assert page.status_code == 200
    assert 'id="plan-propose-form"' in page.text
    example = unescape(re.search(r'name="document"[^>]*>([^<]*)</textarea>', page.text).group(1))  # type: ignore[union-attr]
    assert example.startswith(f"period: {PERIOD}\n")
    assert "channel: " in example
    for name in ("sam", "val", "eve"):
        assert 'id="plan-propose-form"' not in signed_in(name).get("/plan", params={"period": PERIOD}).text
    assert "No plans yet." in page.text

    propose(api)
    listed = signed_in("val").get("/plan", params={"period": PERIOD}).text
    section = listed.split('id="plans"')[1].split("</section>")[0]
    assert 'data-period="2027-Q1" data-status="proposed"' in section
    assert "none accepted" in section


def test_a_plan_proposed_in_the_form_is_commented_and_accepted_on_its_page(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    mark = signed_in("mark")
    page = mark.get("/plan", params={"period": PERIOD}).text
    example = unescape(re.search(r'name="document"[^>]*>([^<]*)</textarea>', page).group(1))  # type: ignore[union-attr]
    done = mark.form("/plan/proposals", {"document": example, "note": "From the example"})
    assert done.status_code == 303, done.text
    address = done.headers["location"]
    assert re.fullmatch(r"/plan/proposals/\d+\?done=proposed", address)
    shown = mark.get(address).text
    assert "Version 1 proposed." in text_of(shown)
    assert 'id="sufficiency-summary"' in shown
    assert 'id="accept-form"' not in shown  # the author does not accept
    assert 'id="review-form"' in shown

    sam = signed_in("sam")
    base = address.split("?")[0]
    page = sam.get(base).text
    for form in ("review-form", "accept-form", "send-back-form", "reject-form"):
        assert f'id="{form}"' in page
    for name in ("val", "eve"):
        other = signed_in(name).get(base).text
        assert 'id="plan-actions"' not in other
    sid_page = signed_in("sid").get(base).text
    assert 'id="review-form"' in sid_page
    assert 'id="accept-form"' not in sid_page

    commented = sam.form(f"{base}/review", {"comment": "<b>March</b> looks thin.", "version": "1"})
    assert commented.status_code == 303
    page = sam.get(commented.headers["location"]).text
    assert "&lt;b&gt;March&lt;/b&gt; looks thin." in page  # escaped
    accepted = sam.form(f"{base}/accept", {"version": "1"})
    assert accepted.status_code == 303
    assert accepted.headers["location"].endswith("?done=accepted")
    page = sam.get(accepted.headers["location"]).text
    assert 'data-status="accepted"' in page
    assert "version 1, accepted by sam" in page
    assert 'id="plan-actions"' not in page
    stale = sam.form(f"{base}/accept", {"version": "1"})
    assert stale.status_code == 409
    assert "accepted by sam" in stale.text

    listed = signed_in("val").get("/plan", params={"period": PERIOD}).text
    section = listed.split('id="plans"')[1].split("</section>")[0]
    assert "version 1, accepted by sam" in section


def test_a_bad_plan_in_the_form_comes_back_with_its_problems(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    mark = signed_in("mark")
    broken = PLAN.replace("budget: 40k", "budget: <lots>")
    answer = mark.form("/plan/proposals", {"document": broken})
    assert answer.status_code == 422
    assert 'id="plan-file-problems"' in answer.text
    assert "<code>&lt;lots&gt;</code>" in answer.text
    assert "budget: &lt;lots&gt;" in answer.text  # the draft comes back to fix in place
    assert app.state.tandem.workspace.plans.plans() == []
    assert signed_in("val").post("/plan/proposals", data={"document": PLAN}).status_code == 403


# --- scenarios ----------------------------------------------------------------------------------------------------
def test_the_scenarios_api_answers_what_compare_does(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    answer = api("val").get("/api/plan/scenarios", params={"document": SCENARIOS, "period": PERIOD})
    assert answer.status_code == 200, answer.text
    document = answer.json()
    ws = app.state.tandem.workspace
    inputs = plan_inputs(Given({}, {}), ws, period=parse_period(PERIOD))
    expected = compare(
        inputs.model,
        load_scenarios(SCENARIOS),
        inputs.goal_by_month,
        period_end=inputs.period_end,
        costs=inputs.costs,
    )
    assert document["period"] == PERIOD
    assert document["scenarios"] == jsonable_encoder([o.as_dict() for o in expected])
    assert [s["name"] for s in document["scenarios"]] == ["base", "better qualification", "bigger deals", "flat budget"]

    given = api("val").get("/api/plan/scenarios", params={"document": SCENARIOS, "period": PERIOD, "revenue": "1.5M"})
    assert given.json()["scenarios"][0]["stages"][0]["required"] == pytest.approx(
        document["scenarios"][0]["stages"][0]["required"] / 2
    )


def test_a_bad_scenarios_file_is_refused_naming_the_place(api: Callable[[str], TestClient]) -> None:
    val = api("val")
    malformed = val.get("/api/plan/scenarios", params={"document": "scenarios:\n  - name: [x\n", "period": PERIOD})
    assert malformed.status_code == 422
    assert malformed.json()["detail"].startswith("scenarios.yaml:3:1: not YAML")
    unknown = val.get(
        "/api/plan/scenarios", params={"document": "scenarios:\n  - name: a\n    rates: [x:y=0.5]\n", "period": PERIOD}
    )
    assert unknown.status_code == 422
    assert "x:y is not a step of the funnel" in unknown.json()["detail"]
    no_goal = val.get("/api/plan/scenarios", params={"document": SCENARIOS, "period": "2027-Q3"})
    assert no_goal.status_code == 422
    assert no_goal.json()["detail"].startswith("revenue: no goal for 2027-Q3")
    assert val.get("/api/plan/scenarios", params={"document": SCENARIOS, "period": "2027-Q9"}).status_code == 422


def test_the_scenarios_form_shows_the_comparison_on_the_plan_page(signed_in: Callable[[str], Browser]) -> None:
    val = signed_in("val")
    page = val.get("/plan", params={"period": PERIOD}).text
    assert 'id="scenarios-form"' in page
    answer = val.get("/plan/scenarios", params={"document": SCENARIOS, "period": PERIOD})
    assert answer.status_code == 200, answer.text[:500]
    table = answer.text.split('id="scenarios-table"')[1].split("</table>")[0]
    assert re.findall(r'data-scenario="([^"]+)"', table) == [
        "base",
        "better qualification",
        "bigger deals",
        "flat budget",
    ]
    assert "mql:sql +20%" in table
    assert 'id="plan-waterfall"' in answer.text  # the rest of the page is there too
    bad = val.get("/plan/scenarios", params={"document": "scenarios: 3\n", "period": PERIOD})
    assert bad.status_code == 422
    assert "expected `scenarios:` with a list" in text_of(bad.text)
    assert "scenarios: 3" in bad.text  # kept in the form


def test_sending_back_and_refusals_on_the_page_say_why(
    api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    plan_id = propose(api)["plan_id"]
    base = f"/plan/proposals/{plan_id}"
    eve = signed_in("eve").form(f"{base}/accept", {"version": "1"})
    assert eve.status_code == 403
    assert "eve has the exec role; only a sales leader accepts the marketing plan" in text_of(eve.text)
    sam = signed_in("sam")
    empty = sam.form(f"{base}/send-back", {"reason": "  ", "version": "1"})
    assert empty.status_code == 422
    assert "give a reason to send back the plan" in text_of(empty.text)
    sent = sam.form(f"{base}/send-back", {"reason": "Add events in March.", "version": "1"})
    assert sent.status_code == 303
    assert sent.headers["location"].endswith("?done=sent_back")
    page = sam.get(sent.headers["location"]).text
    assert "Version 1 sent back to marketing." in text_of(page)
    assert "sent back by sam" in text_of(page)
    assert 'id="plan-actions"' not in page
    assert sam.form(f"{base}/reject", {"reason": "no", "version": "1"}).status_code == 409
    assert signed_in("val").get("/plan/proposals/42").status_code == 404

    no_goal = signed_in("mark").form("/plan/proposals", {"document": PLAN.replace(PERIOD, "2027-Q3")})
    assert no_goal.status_code == 422
    assert "no goal for 2027-Q3 to check the plan against" in text_of(no_goal.text)
    assert "<h1>Plan · 2027-Q3</h1>" in no_goal.text  # the page comes back for the plan's period
