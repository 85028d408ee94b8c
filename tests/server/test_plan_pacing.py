"""Plan against actual in the web app: ``/api/plan/pacing``, and the pacing on the Overview and the Plan page."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.periods import current_quarter, parse_period
from tandem.plan.pacing import period_pacing

from .conftest import Browser
from .test_plan_pages import set_goal

AS_OF = "2026-08-16T00:00:00"


def test_the_api_gives_each_stage_against_the_goal(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    client = api("val")
    refused = client.get("/api/plan/pacing", params={"period": "2026-Q3", "as_of": AS_OF})
    assert refused.status_code == 400
    assert "nothing to measure 2026-Q3 against" in refused.json()["detail"]

    set_goal(app, "2026-Q3", "900k")
    document = client.get("/api/plan/pacing", params={"period": "2026-Q3", "as_of": AS_OF}).json()
    assert document["period"] == "2026-Q3"
    assert document["basis"] == "what the goal needs (no plan accepted for 2026-Q3)"
    expected = period_pacing(app.state.tandem.workspace, parse_period("2026-Q3"), as_of=datetime(2026, 8, 16))
    assert [s["actual_to_date"] for s in document["stages"]] == [s.actual for s in expected.stages]
    assert [s["expected_to_date"] for s in document["stages"]] == [s.expected for s in expected.stages]

    # A bigger goal is a new question: the cache does not serve the old answer.
    set_goal(app, "2026-Q3", "1.8M")
    again = client.get("/api/plan/pacing", params={"period": "2026-Q3", "as_of": AS_OF}).json()
    assert again["stages"][0]["planned"] == document["stages"][0]["planned"] * 2
    assert client.get("/api/plan/pacing", params={"period": "2026-Q9"}).status_code == 422  # a bad value


def test_the_overview_shows_the_quarter_against_its_goal(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    quarter = current_quarter()
    page = signed_in("val").get("/").text
    section = page.split('id="pacing"')[1].split("</section>")[0]
    assert f"nothing to measure {quarter.label} against" in section

    set_goal(app, quarter.label, "1M")
    page = signed_in("val").get("/").text
    section = page.split('id="pacing"')[1].split("</section>")[0]
    assert "measured against what the goal needs" in section
    # Every stage, then the won revenue against the goal by month.
    assert re.findall(r'<tr data-stage="([^"]+)"', section) == [*app.state.tandem.workspace.stages, "revenue"]


def test_the_plan_page_shows_the_current_quarter_s_pacing(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    set_goal(app, current_quarter().label, "1M")
    page = signed_in("val").get("/plan", params={"revenue": "1M"}).text
    assert 'id="pacing-table"' in page
