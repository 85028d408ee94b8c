"""A plan accepted, in the browser: mark (marketing) proposes the plan in the form on /plan, sam (sales leader)
opens its page, comments and accepts it; the page says accepted and /plan shows it as the period's baseline.

The browser tests share one served workspace, and test_plan.py needs next quarter without a goal: this test plans
the quarter after it, whose goal eve (an exec) sets first through the API, as a browser session does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from pathlib import Path

from playwright.sync_api import Page

from tandem.periods import next_quarter

from .conftest import RecordedPage

PERIOD = next_quarter(next_quarter(date.today()).start).label
COMMENT = "Webinars carry the first month; <fine> by sales."


def test_a_plan_proposed_in_the_form_is_commented_and_accepted_by_a_sales_leader(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    # eve sets the period's goal: the sufficiency check runs the plan against it.
    page, recorded = as_user("eve")
    page.goto("/plan")
    token = page.get_attribute("meta[name=csrf-token]", "content") or ""
    answer = page.request.put(f"/api/goals/{PERIOD}", data={"amount": 3_000_000}, headers={"X-CSRF-Token": token})
    assert answer.ok, answer.text()
    assert page.locator("#plan-propose-form").count() == 0  # an exec does not propose the marketing plan

    # mark, in marketing, proposes the example the form starts from (a program per priced channel).
    page, recorded = as_user("mark")
    page.goto(f"/plan?period={PERIOD}")
    page.click("#plan-yaml summary")  # the YAML editor is the advanced view, beside the table of programs
    plan = page.input_value("#plan-document-input")
    assert plan.startswith(f"period: {PERIOD}\n")
    assert "channel: " in plan
    page.fill("#plan-propose-form input[name=note]", "The example, as it stands")
    shot(page, "proposing")
    with page.expect_navigation():
        page.click("#plan-propose-form button[type=submit]")
    assert re.fullmatch(r".*/plan/proposals/\d+\?done=proposed", page.url)
    address = page.url.split("?")[0]
    assert "Version 1 proposed." in page.inner_text("#plan-notice")
    assert page.get_attribute("#plan-status", "data-status") == "proposed"
    summary = page.inner_text("#sufficiency-summary")
    assert summary.startswith("The plan ")
    assert "expected within the period" in summary
    # The forecast's chance, as everywhere: this version is not accepted yet, so the forecast as if it were.
    assert page.inner_text("#plan-chance .label") == "chance of reaching the goal, if accepted"
    assert page.locator("#sufficiency-programs tbody tr").count() == plan.count("  - name: ")
    assert page.locator("#accept-form").count() == 0  # the author does not accept their own plan
    shot(page, "proposed")
    assert recorded.errors == []

    # sam, a sales leader, reads it, comments and accepts it.
    page, recorded = as_user("sam")
    page.goto(address)
    assert page.locator("#accept-form").count() == 1
    page.fill("#review-form textarea[name=comment]", COMMENT)
    with page.expect_navigation():
        page.click("#review-form button[type=submit]")
    assert page.inner_text("#plan-notice").strip() == "Comment kept with version 1."
    assert COMMENT in page.inner_text("#plan-comments")  # shown as text, not markup
    shot(page, "commented")
    with page.expect_navigation():
        page.click("#accept-form button[type=submit]")
    assert "Accepted: version 1 is the baseline" in page.inner_text("#plan-notice")
    assert page.get_attribute("#plan-status", "data-status") == "accepted"
    assert page.inner_text("#plan-status-text").startswith("accepted by sam")
    assert page.inner_text("#plan-baseline").strip() == "version 1, accepted by sam"
    assert page.locator("#plan-actions").count() == 0
    shot(page, "accepted")

    # The Plan page lists it as the period's baseline.
    page.goto(f"/plan?period={PERIOD}")
    row = page.locator(f"#plans-table tr[data-period='{PERIOD}']")
    assert row.get_attribute("data-status") == "accepted"
    assert row.locator("td.baseline").inner_text().strip() == "version 1, accepted by sam"
    shot(page, "baseline")
    assert recorded.failed == []
    assert recorded.errors == []
