"""One chance of reaching the goal: the Plan, Overview and Forecast pages and the API show the same figure.

A new user saw a plan page say "a 47 % chance of reaching the goal" (revenue the plan's leads bring after the
quarter included) while the Overview and the Forecast said 0 %. The chance is now the forecast's alone, computed in
one place (it runs the accepted plan's volumes as its new arrivals), and every page shows that figure.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.exports import format_number
from tandem.periods import current_quarter

from .conftest import PASSWORD


def plan_for(period: str, start: str, end: str) -> str:
    return (
        f"period: {period}\nnote: the quarter's demand plan\nprograms:\n"
        f"  - name: Webinar series\n    channel: webinar\n    budget: 40k\n    start: {start}\n    end: {end}\n"
        "    volume: 900\n"
    )


@pytest.fixture
def with_plan(served: Path) -> str:
    """The served demo with a goal for this quarter and a marketing plan for it, accepted by sales, and a second
    version of it (three times the webinar volume) proposed since."""
    quarter = current_quarter()
    with tandem.open_workspace(served) as ws:
        sign = ws.accounts.authenticate
        ws.goals.set(sign("eve", PASSWORD, "test"), quarter.label, "3M")
        last = quarter.end.fromordinal(quarter.end.toordinal() - 1)
        plan = plan_for(quarter.label, quarter.start.isoformat(), last.isoformat())
        proposed = ws.plans.propose(sign("mark", PASSWORD, "test"), plan)
        ws.plans.accept(sign("sam", PASSWORD, "test"), proposed.plan_id, version=1)
        ws.plans.propose(sign("mark", PASSWORD, "test"), plan.replace("volume: 900", "volume: 2700"))
        return f"/plan/proposals/{proposed.plan_id}"


def shown(html: str, element_id: str) -> str:
    """The text of the first ``class="value"`` element inside the element `element_id`."""
    found = re.search(rf'id="{element_id}".*?class="value"[^>]*>([^<]*)<', html, re.DOTALL)
    assert found, element_id
    return found.group(1).strip()


def test_plan_overview_forecast_and_api_give_the_same_chance(
    with_plan: str, signed_in: Callable[[str], TestClient], api: Callable[[str], TestClient]
) -> None:
    chance = api("val").get("/api/forecast").json()["chance_of_goal"]
    assert chance is not None
    percent = format_number(chance, "pct")
    browser = signed_in("val")
    assert shown(browser.get("/").text, "overview-chance") == percent
    assert shown(browser.get("/forecast").text, "chance") == percent
    plan_page = browser.get(f"{with_plan}?version=1").text  # the accepted version: the period's forecast
    assert shown(plan_page, "plan-chance") == percent
    assert "chance of reaching the goal</div>" in plan_page
    # The plan's own check counts what lands inside the quarter, and says what comes after; it has no chance.
    assert "expected within" in plan_page
    assert "sufficiency-probability" not in plan_page


def test_a_version_under_review_shows_the_forecast_as_if_it_were_accepted(
    with_plan: str, signed_in: Callable[[str], TestClient], api: Callable[[str], TestClient]
) -> None:
    plan_id = int(with_plan.rsplit("/", 1)[1])
    as_if = api("val").get("/api/forecast", params={"plan": plan_id, "plan_version": 2}).json()
    accepted = api("val").get("/api/forecast").json()
    assert (
        as_if["arrivals_basis"]
        == f"new leads at the volumes of plan #{plan_id} ({as_if['period']['label']}) version 2, as if accepted"
    )
    assert accepted["arrivals_basis"].endswith("version 1)")
    # Three times the webinar volume for the rest of the quarter: more new leads, a larger expected total.
    new_leads = {s["source"]: s for s in as_if["sources"]}["new leads"]["count"]
    assert new_leads > {s["source"]: s for s in accepted["sources"]}["new leads"]["count"]
    page = signed_in("val").get(f"{with_plan}?version=2").text
    assert shown(page, "plan-chance") == format_number(as_if["chance_of_goal"], "pct")
    assert "chance of reaching the goal, if accepted" in page
    assert api("val").get("/api/forecast", params={"plan": plan_id, "plan_version": 9}).status_code == 422
