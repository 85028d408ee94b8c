"""Forms for leaders in the browser: an exec sets a goal on the Plan page, marketing builds a stage's rule and
proposes it, and proposes a plan through the table of programs, adding and removing rows.

The period is three quarters ahead: the other browser tests plan the next two quarters, and share the workspace.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from playwright.sync_api import Page

from tandem.periods import next_quarter

from .conftest import ARTIFACTS, RecordedPage

PERIOD = next_quarter(next_quarter(next_quarter(date.today()).start).start).label
RULE = "country in ('US', 'CA') and employees >= 20 and has_event('webinar', within='90d') and score >= 50"


def test_an_exec_sets_and_changes_the_goal_in_the_form(
    as_user: Callable[[str], tuple[Page, RecordedPage]], server: str, shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("mia")  # marketing reads the goal, never sets it
    page.goto(f"/plan?period={PERIOD}")
    assert page.locator("#goal-form").count() == 0

    page, recorded = as_user("eve")
    page.goto(f"/plan?period={PERIOD}")
    assert page.input_value("#goal-period") == PERIOD
    assert page.inner_text("#goal-form-section h3") == "Set a goal"
    page.fill("#goal-amount", "ten")
    with page.expect_navigation():
        page.click("#goal-form button[type=submit]")
    assert page.inner_text("#goal-error").startswith("amount: 'ten' is not an amount; use ")
    assert page.input_value("#goal-amount") == "ten"  # what was typed comes back, to fix
    shot(page, "refused")

    page.fill("#goal-amount", "2.5M")
    page.fill("#goal-share", "0.4")
    page.fill("#goal-note", "Board plan")
    shot(page, "filled")
    page.locator("#goal-form-section").screenshot(path=str(ARTIFACTS / "test_forms-goal-form.png"))
    with page.expect_navigation():
        page.click("#goal-form button[type=submit]")
    assert page.url.endswith(f"/plan?period={PERIOD}&done=goal")
    assert page.inner_text("#goal-notice").startswith(f"Goal set: {PERIOD} is ")
    assert page.get_attribute("#goal-target", "data-amount") == "2500000.0"
    assert page.inner_text("#goal-form-section h3") == f"Change the goal of {PERIOD}"
    assert page.input_value("#goal-amount") == "2500000"
    shot(page, "set")

    page.fill("#goal-amount", "3M")
    with page.expect_navigation():
        page.click("#goal-form button[type=submit]")
    assert page.get_attribute("#goal-target", "data-amount") == "3000000.0"
    assert recorded.errors == []
    assert recorded.failed == [f"422 POST {server}/plan/goal"]  # the refused amount, and nothing else


def test_the_rule_builder_shows_the_rule_as_it_is_built_and_proposes_it(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("mark")
    page.goto("/definitions")
    assert page.locator("#definitions-yaml[open]").count() == 0  # the YAML is the advanced view, closed
    page.select_option("#rule-stage", "mql")
    rows = page.locator("#rule-conditions tr.rule-condition")
    rows.nth(0).locator("select[name=field]").select_option("country")
    rows.nth(0).locator("select[name=operator]").select_option("in")
    rows.nth(0).locator("input[name=value]").fill("US, CA")
    rows.nth(1).locator("select[name=field]").select_option("employees")
    rows.nth(1).locator("select[name=operator]").select_option(">=")
    rows.nth(1).locator("input[name=value]").fill("20")
    page.fill("#rule-activity-kind", "webinar")
    page.fill("#rule-activity-days", "90")
    page.fill("#rule-score", "50")
    # The rule, written by the server as the inputs change (no reload).
    page.wait_for_function(
        "rule => document.getElementById('rule-preview').textContent === rule", arg=RULE, timeout=30_000
    )
    page.click("#rule-add-condition")  # one more row, without a round trip
    assert rows.count() == 3
    shot(page, "built")
    page.locator("#propose").screenshot(path=str(ARTIFACTS / "test_forms-rule-builder.png"))

    page.fill("#rule-builder input[name=note]", "MQLs from webinars in North America")
    with page.expect_navigation():
        page.click("#rule-propose")
    assert re.fullmatch(r".*/definitions/proposals/\d+\?done=proposed", page.url)
    assert page.inner_text("#proposal-changes").strip() == f"stage 'mql': rule: (none) -> {RULE}"
    assert f"+  rule: {RULE}" in page.inner_text("#proposal-diff")
    shot(page, "proposed")

    # Withdrawn, so that the other tests' proposals are made on a quiet workspace.
    page.fill("#reject-form textarea[name=reason]", "Only a test of the builder")
    with page.expect_navigation():
        page.click("#reject-form button[type=submit]")
    assert recorded.errors == []


def test_marketing_proposes_a_plan_through_the_table_of_programs(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("eve")
    page.goto("/plan")
    token = page.get_attribute("meta[name=csrf-token]", "content") or ""
    answer = page.request.put(f"/api/goals/{PERIOD}", data={"amount": 3_000_000}, headers={"X-CSRF-Token": token})
    assert answer.ok, answer.text()

    page, recorded = as_user("mark")
    page.goto(f"/plan?period={PERIOD}")
    assert page.input_value("#plan-table-period") == PERIOD
    rows = page.locator("#plan-table tr.plan-row")
    before = rows.count()
    assert before >= 1  # a row per priced channel to start from
    assert page.locator("#plan-yaml[open]").count() == 0
    shot(page, "example")

    page.click("#plan-add-row")
    assert rows.count() == before + 1
    added = rows.nth(before)
    assert added.locator("input[name=channel]").input_value() == ""
    added.locator("input[name=channel]").fill("webinar")
    added.locator("input[name=month]").fill(f"{PERIOD[:4]}-{3 * int(PERIOD[-1]) - 2:02d}")
    added.locator("input[name=budget]").fill("25k")
    added.locator("input[name=volume]").fill("300")
    rows.nth(0).locator("button.remove-row").click()
    assert rows.count() == before
    shot(page, "edited")
    page.locator("#plans").screenshot(path=str(ARTIFACTS / "test_forms-plan-table.png"))
    with page.expect_navigation():
        page.click("#plan-table-propose")
    assert re.fullmatch(r".*/plan/proposals/\d+\?done=proposed", page.url), page.url
    assert page.locator("#sufficiency-programs tbody tr").count() == before
    shot(page, "proposed")
    assert recorded.errors == []
