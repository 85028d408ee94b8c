"""Forms for leaders: the goal form, the rule builder, the plan table and the scenario form write exactly what the
command line (or the YAML editor beside them) writes, through the same domain functions.

The people of the test workspace (tests/server/conftest.py): eve (exec) and ada (admin) set goals; mia and mark
(marketing) propose definitions and plans; sam (sales leader) and val (viewer) are refused the goal form.
Each comparison runs the command line on a second copy of the same demo workspace and compares the documents,
less the moments and the people that differ by construction.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from html import unescape
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import select
from typer.testing import CliRunner

from tandem.cli import app as cli
from tandem.store.database import AppStore
from tandem.store.models import AuditEntry
from tandem.workspace import open_workspace

from .conftest import PASSWORD, Browser

PERIOD = "2027-Q1"


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


def tandem(workspace: Path, *arguments: str, user: str | None = None) -> dict[str, Any]:
    """`tandem ARGUMENTS --format json` on `workspace` (signed in as `user`, password on stdin): its document."""
    signed = ["--as", user, "--password-stdin"] if user else []
    printed = CliRunner().invoke(
        cli,
        [*arguments, *signed, "--workspace", str(workspace), "--format", "json"],
        input=PASSWORD + "\n" if user else None,
        catch_exceptions=False,
    )
    assert printed.exit_code == 0, printed.output
    document: dict[str, Any] = json.loads(printed.stdout)
    return document


@pytest.fixture
def cli_copy(demo_template: Path, tmp_path: Path) -> Path:
    """A second copy of the demo workspace, for the command line to do the same thing on."""
    target = tmp_path / "cli"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("demo-data"))
    return target


def without(document: Any, keys: frozenset[str]) -> Any:
    """`document` less the keys that differ by construction (moments, who), at any depth."""
    if isinstance(document, dict):
        return {k: without(v, keys) for k, v in document.items() if k not in keys}
    if isinstance(document, list):
        return [without(v, keys) for v in document]
    return document


MOMENTS = frozenset({"created_at", "updated_at", "at", "seq"})
#: What a document says about the person asking (the page's reader, not the command line's).
ASKER = MOMENTS | {"asked_by", "actions"}
#: How the person acting came in (a browser session, the command line): the audit log says it.
VIA = frozenset({"via"})


def audit_in(store: AppStore, action: str) -> list[dict[str, Any]]:
    """The audit log's entries of `action`, oldest first: who, what, and the details."""
    with store.session() as s:
        rows = s.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))
        return [{"actor": r.actor, "target": r.target, "details": r.details} for r in rows]


def audit_of(app: FastAPI, action: str) -> list[dict[str, Any]]:
    return audit_in(app.state.tandem.workspace.store, action)


def audit_of_cli(workspace: Path, action: str) -> list[dict[str, Any]]:
    with open_workspace(workspace, needs_warehouse=False) as ws:
        return audit_in(ws.store, action)


# --- the goal form ------------------------------------------------------------------------------------------------
GOAL_FORM = {"period": PERIOD, "amount": "2.5M", "marketing_share": "0.4", "note": "board plan"}


def test_an_exec_sets_the_goal_the_cli_sets(app: FastAPI, signed_in: Callable[[str], Browser], cli_copy: Path) -> None:
    page = signed_in("eve").get("/plan", params={"period": PERIOD})
    assert page.status_code == 200
    assert 'id="goal-form"' in page.text
    assert '<option value="2027-Q1" selected>2027-Q1</option>' in page.text

    posted = signed_in("eve").form("/plan/goal", GOAL_FORM)
    assert posted.status_code == 303
    assert posted.headers["location"] == "/plan?period=2027-Q1&done=goal"

    tandem(cli_copy, "goal", "set", PERIOD, "2.5M", "--marketing-share", "0.4", "--note", "board plan", user="eve")
    by_form = signed_in("val").get("/api/goals").json()
    by_cli = tandem(cli_copy, "goal", "list")
    assert without(by_form, MOMENTS) == without(by_cli, MOMENTS)
    assert without(by_form, MOMENTS)["goals"] == [
        {
            "period": "2027-Q1",
            "kind": "quarter",
            "start": "2027-01-01",
            "end": "2027-04-01",
            "dimension": None,
            "value": None,
            "amount": 2500000.0,
            "marketing_share": 0.4,
            "note": "board plan",
            "created_by": "eve",
            "updated_by": "eve",
            "replaced": None,
        }
    ]
    assert audit_of(app, "goal.set") == audit_of_cli(cli_copy, "goal.set")
    assert audit_of(app, "goal.set")[0]["actor"] == "eve"
    shown = signed_in("eve").get(posted.headers["location"])
    assert "Goal set: 2027-Q1 is" in text_of(shown.text)


def test_the_goal_form_edits_an_existing_goal(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    eve = signed_in("eve")
    assert eve.form("/plan/goal", GOAL_FORM).status_code == 303
    page = eve.get("/plan", params={"period": PERIOD})
    assert "Change the goal of 2027-Q1" in page.text
    assert 'id="goal-amount" value="2500000"' in page.text
    assert 'id="goal-share" value="0.4"' in page.text
    assert 'id="goal-note" value="board plan"' in page.text
    assert eve.form("/plan/goal", {**GOAL_FORM, "amount": "3M", "marketing_share": ""}).status_code == 303
    goal = app.state.tandem.workspace.goals.get(PERIOD)
    assert (float(goal.amount), goal.marketing_share) == (3_000_000.0, None)
    changes = audit_of(app, "goal.set")
    assert [c["details"]["amount"] for c in changes] == ["2500000.00", "3000000.00"]
    assert changes[1]["details"]["replaced"]["amount"] == "2500000.00"


@pytest.mark.parametrize("user", ["sam", "mia", "val"])
def test_only_those_who_may_set_goals_see_the_form_and_others_are_refused(
    app: FastAPI, signed_in: Callable[[str], Browser], user: str
) -> None:
    browser = signed_in(user)
    page = browser.get("/plan", params={"period": PERIOD})
    assert page.status_code == 200
    assert 'id="goal-form"' not in page.text
    refused = browser.form("/plan/goal", GOAL_FORM)
    assert refused.status_code == 403
    assert app.state.tandem.workspace.goals.all() == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"period": "2027-Q5"},
            "period: '2027-Q5' is not a period; use a year (2027), a quarter (2027-Q1) or a month (2027-01)",
        ),
        ({"period": ""}, "period: choose the period: a year (2027), a quarter (2027-Q1) or a month (2027-01)"),
        ({"amount": "ten"}, "amount: 'ten' is not an amount; use "),
        ({"amount": ""}, "amount: give the revenue target, e.g. 2.5M, 750k or 1,200,000"),
        ({"amount": "-5M"}, "amount: '-5M' is not an amount; use "),
        (
            {"marketing_share": "lots"},
            "marketing_share: 'lots' is not a number; give a fraction from 0 to 1, like 0.6, or leave it empty to "
            "measure it",
        ),
        ({"marketing_share": "1.5"}, "the marketing share is a fraction from 0 to 1, like 0.6 (got 1.5)"),
        ({"dimension": "segment"}, "a segment goal needs the segment's value, e.g. segment=Enterprise"),
    ],
)
def test_a_bad_goal_input_is_one_line_naming_the_field(
    app: FastAPI, signed_in: Callable[[str], Browser], change: dict[str, str], message: str
) -> None:
    refused = signed_in("eve").form("/plan/goal", {**GOAL_FORM, **change})
    assert refused.status_code == 422
    shown = re.search(r'<p id="goal-error" class="flash error" role="alert">([^<]*)</p>', refused.text)
    assert shown is not None, refused.text
    assert unescape(shown.group(1)).startswith(message)
    assert "\n" not in shown.group(1)
    assert 'id="goal-note" value="board plan"' in refused.text  # what was typed comes back
    assert app.state.tandem.workspace.goals.all() == []


# --- the plan table -----------------------------------------------------------------------------------------------
TABLE_PLAN = """\
period: 2027-Q1
note: Q1 from the table
programs:
  - name: Webinar Jan 2027
    channel: webinar
    budget: 40k
    start: 2027-01-01
    end: 2027-01-31
    volume: 900
  - name: Paid search
    channel: paid_search
    budget: $60,000
    start: 2027-01-01
    end: 2027-03-31
"""
TABLE = {
    "period": PERIOD,
    "note": "Q1 from the table",
    "name": ["", "Paid search", ""],
    "channel": ["webinar", "paid_search", ""],
    "month": ["2027-01", "2027-01", ""],
    "through": ["", "2027-03", ""],
    "budget": ["40k", "$60,000", ""],
    "volume": ["900", "", ""],
}


@pytest.fixture
def q1_goal(app: FastAPI, cli_copy: Path) -> None:
    """2027-Q1's goal on both copies: a plan's sufficiency check runs against it."""
    ws = app.state.tandem.workspace
    ws.goals.set(ws.accounts.authenticate("eve", PASSWORD, "test"), PERIOD, "3M")
    tandem(cli_copy, "goal", "set", PERIOD, "3M", user="eve")


def table_form(browser: Browser, data: dict[str, Any]) -> Any:
    return browser.post("/plan/proposals/table", data={"csrf_token": browser.csrf, **data})


def test_the_plan_table_proposes_the_plan_the_cli_proposes(
    app: FastAPI, signed_in: Callable[[str], Browser], cli_copy: Path, q1_goal: None, tmp_path: Path
) -> None:
    mark = signed_in("mark")
    page = mark.get("/plan", params={"period": PERIOD}).text
    assert 'id="plan-table-form"' in page
    assert '<details id="plan-yaml">' in page  # the YAML editor stays, as the advanced view

    done = table_form(mark, TABLE)
    assert done.status_code == 303, text_of(done.text)[:2000]
    assert re.fullmatch(r"/plan/proposals/1\?done=proposed", done.headers["location"])
    by_form = signed_in("val").get("/api/plans/1").json()
    assert by_form["versions"][0]["document"] == TABLE_PLAN

    (tmp_path / "plan.yaml").write_text(TABLE_PLAN, encoding="utf-8")
    tandem(cli_copy, "plan", "propose", str(tmp_path / "plan.yaml"), user="mark")
    by_cli = tandem(cli_copy, "plan", "show", "1")
    assert without(by_form, ASKER) == without(by_cli, ASKER)
    by_page, by_command = audit_of(app, "plan.propose"), audit_of_cli(cli_copy, "plan.propose")
    assert without(by_page, VIA) == without(by_command, VIA)
    assert [e["details"].get("via") for e in by_page] == ["session"]


def test_the_plan_table_adds_and_removes_rows_without_javascript(
    app: FastAPI, signed_in: Callable[[str], Browser], q1_goal: None
) -> None:
    mark = signed_in("mark")
    added = table_form(mark, {**TABLE, "add_row": "1"})
    assert added.status_code == 200
    assert added.text.count('<tr class="plan-row">') == 4
    assert 'name="budget" value="$60,000"' in added.text
    removed = table_form(mark, {**TABLE, "remove_row": "1"})
    assert removed.status_code == 200
    assert removed.text.count('<tr class="plan-row">') == 2
    assert 'name="channel" value="webinar"' not in removed.text
    assert app.state.tandem.workspace.plans.plans() == []


@pytest.mark.parametrize(
    ("change", "problems"),
    [
        (
            {"budget": ["lots", "$60,000", ""]},
            ["row 1, budget: 'budget' in program 'Webinar Jan 2027' is not an amount"],
        ),
        ({"month": ["2027-01", "2027-13", ""]}, ["row 2, month: '2027-13': there is no month 13"]),
        ({"month": ["", "2027-01", ""]}, ["row 1, month: give the month the program runs in, as YYYY-MM"]),
        ({"volume": ["many", "", ""]}, ["row 1, expected leads: 'volume' in program 'Webinar Jan 2027' is not"]),
        ({"channel": ["webinar", "paid_search", ""], "budget": ["40k", "$60,000", "5k"]}, ["row 3, month: give"]),
    ],
)
def test_a_bad_plan_row_is_one_line_naming_the_row_and_column(
    app: FastAPI, signed_in: Callable[[str], Browser], q1_goal: None, change: dict[str, Any], problems: list[str]
) -> None:
    refused = table_form(signed_in("mark"), {**TABLE, **change})
    assert refused.status_code == 422
    shown = re.search(r'<div id="plan-table-problems"[^>]*>.*?<ul>(.*?)</ul>', refused.text, re.DOTALL)
    assert shown is not None, refused.text
    told = [unescape(item) for item in re.findall(r"<li>(.*?)</li>", shown.group(1))]
    assert len(told) == len(problems), told
    for line, start in zip(told, problems, strict=True):
        assert line.startswith(start), told
    assert app.state.tandem.workspace.plans.plans() == []


def test_the_plan_table_is_for_marketing_only(signed_in: Callable[[str], Browser], q1_goal: None) -> None:
    for name in ("sam", "eve", "val"):
        browser = signed_in(name)
        assert 'id="plan-table-form"' not in browser.get("/plan", params={"period": PERIOD}).text
        assert table_form(browser, TABLE).status_code == 403


# --- the rule builder ---------------------------------------------------------------------------------------------
RULE = "country in ('US', 'CA') and employees >= 20 and has_event('webinar', within='90d') and score >= 50"
BUILDER = {
    "stage": "mql",
    "field": ["country", "employees", ""],
    "operator": ["in", ">=", "="],
    "value": ["US, CA", "20", ""],
    "activity_kind": "webinar",
    "activity_count": "",
    "activity_days": "90",
    "score": "50",
    "note": "MQLs from webinars in North America",
    "action": "propose",
}


def builder_form(browser: Browser, data: dict[str, Any]) -> Any:
    return browser.post("/definitions/proposals/rule", data={"csrf_token": browser.csrf, **data})


MQL_MEANING = (
    "  description: A lead marketing believes is ready for a sales conversation, from who they are and what they did.\n"
)


def with_rule(app: FastAPI) -> str:
    """The demo's definitions file (no stage has a rule) with the mql stage's new rule, after its description."""
    document: str = app.state.tandem.workspace.definitions.current().document
    assert document.count(MQL_MEANING) == 1
    return document.replace(MQL_MEANING, f"{MQL_MEANING}  rule: {RULE}\n")


def test_the_builder_starts_from_the_current_rule(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("mark").get("/definitions").text
    assert 'id="rule-builder"' in page
    # No stage of the demo has a rule: the builder starts on the second stage, empty.
    assert '<option value="mql" data-rule="" selected>mql</option>' in page
    assert 'id="rule-score" value=""' in page
    assert '<code id="rule-preview">(none: the stage is reached by its stage events only)</code>' in page
    assert '<details id="definitions-yaml">' in page  # the YAML editor stays, as the advanced view
    assert 'id="rule-builder"' not in signed_in("val").get("/definitions").text


def test_the_builder_previews_the_rule_and_the_file_it_writes(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    shown = builder_form(signed_in("mark"), {**BUILDER, "action": "preview"})
    assert shown.status_code == 200
    assert f'<code id="rule-preview">{RULE}</code>'.replace("'", "&#39;").replace(">=", "&gt;=") in shown.text
    textarea = re.search(r'<textarea id="proposed-document" name="document"[^>]*>([^<]*)</textarea>', shown.text)
    assert textarea is not None
    expected = with_rule(app)
    assert unescape(textarea.group(1)) == expected
    assert app.state.tandem.workspace.definitions.proposals() == []
    live = signed_in("mark").get(
        "/definitions/rule-preview",
        params={
            "field": ["country", "employees"],
            "operator": ["in", ">="],
            "value": ["US, CA", "20"],
            "activity_kind": "webinar",
            "activity_days": "90",
            "score": "50",
        },
    )
    assert live.json() == {"rule": RULE, "error": ""}


def test_the_builder_proposes_the_file_the_cli_proposes(
    app: FastAPI, signed_in: Callable[[str], Browser], cli_copy: Path, tmp_path: Path
) -> None:
    expected = with_rule(app)
    done = builder_form(signed_in("mark"), BUILDER)
    assert done.status_code == 303, text_of(done.text)[:3000]
    assert done.headers["location"] == "/definitions/proposals/1?done=proposed"
    by_form = signed_in("val").get("/api/definitions/proposals/1").json()
    assert by_form["document"] == expected

    (tmp_path / "definitions.yaml").write_text(expected, encoding="utf-8")
    tandem(
        cli_copy, "definitions", "propose", str(tmp_path / "definitions.yaml"), "--note", BUILDER["note"], user="mark"
    )
    by_cli = tandem(cli_copy, "definitions", "proposals", "1")
    assert without(by_form, ASKER) == without(by_cli, ASKER)
    assert by_form["changes"] == [f"stage 'mql': rule: (none) -> {RULE}"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"field": ["nope", "employees", ""]}, "condition 1, field: 'nope' is not a column of the leads; use one of "),
        ({"value": ["US, CA", "many", ""]}, "condition 2, value: 'many' is not a number; give one like 50 or 12.5"),
        ({"value": ["", "20", ""]}, "condition 1, value: give the value to compare country with"),
        ({"score": "high"}, "score threshold: 'high' is not a number; give one like 50 or 12.5"),
        ({"activity_days": "ninety"}, "activity, days: 'ninety' is not a whole number of days from 1 to 3650"),
        ({"activity_kind": ""}, "activity, kind: name the kind of touch, e.g. webinar"),
        ({"stage": "closed"}, "'closed' is not a stage; choose one of the current definitions' stages"),
    ],
)
def test_a_bad_builder_input_is_one_line_naming_it(
    app: FastAPI, signed_in: Callable[[str], Browser], change: dict[str, Any], message: str
) -> None:
    refused = builder_form(signed_in("mark"), {**BUILDER, **change})
    assert refused.status_code == 422
    shown = re.search(r'<p id="rule-builder-error" class="flash error" role="alert">([^<]*)</p>', refused.text)
    assert shown is not None, text_of(refused.text)[:3000]
    assert unescape(shown.group(1)).startswith(message), shown.group(1)
    assert app.state.tandem.workspace.definitions.proposals() == []


# --- the scenario form --------------------------------------------------------------------------------------------
SCENARIO = """\
scenarios:
  - name: "better qualification"
    rate_changes:
      - "mql:sql=+20%"
    deal_size_change: "+15%"
    budget: "150k"
"""


def test_the_scenario_form_compares_what_the_cli_compares(
    app: FastAPI, signed_in: Callable[[str], Browser], cli_copy: Path, tmp_path: Path
) -> None:
    val = signed_in("val")  # a question, not a change: every role may ask it
    page = val.get(
        "/plan/scenarios",
        params={
            "period": PERIOD,
            "revenue": "3M",
            "name": "better qualification",
            "rate_step": "mql:sql",
            "rate_change": "20",
            "deal_size_change": "15",
            "budget": "150k",
        },
    )
    assert page.status_code == 200, text_of(page.text)[:2000]
    textarea = re.search(r'<textarea id="scenarios-input" name="document"[^>]*>([^<]*)</textarea>', page.text)
    assert textarea is not None
    assert unescape(textarea.group(1)) == SCENARIO
    (tmp_path / "scenarios.yaml").write_text(SCENARIO, encoding="utf-8")
    by_cli = tandem(
        cli_copy, "plan", "scenarios", str(tmp_path / "scenarios.yaml"), "--period", PERIOD, "--revenue", "3M"
    )
    by_api = val.get("/api/plan/scenarios", params={"document": SCENARIO, "period": PERIOD, "revenue": "3M"}).json()
    assert without(by_api, MOMENTS) == without(by_cli, MOMENTS)
    assert [o["name"] for o in by_cli["scenarios"]] == ["base", "better qualification"]
    described = by_cli["scenarios"][1]["describe"]
    assert described.startswith("mql:sql +20%; deal size +15%; budget ")
    assert described.endswith("150,000")
    assert 'data-scenario="better qualification"' in page.text
    assert described in text_of(page.text)


def test_a_scenario_without_a_name_is_refused_naming_it(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/plan/scenarios", params={"period": PERIOD, "revenue": "3M", "rate_change": "20"})
    assert page.status_code == 422
    shown = re.search(r'<p id="scenarios-error" class="flash error" role="alert">([^<]*)</p>', page.text)
    assert shown is not None
    assert unescape(shown.group(1)) == "scenario name: give the scenario a name, e.g. better qualification"
