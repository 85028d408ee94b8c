"""The Plan page and ``GET /api/plan/waterfall``: the CLI's document for the same question, bad values named, the
goal shown (or how to set one), the page's numbers the API's, and a goal change recomputing the cached plan."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.periods import next_quarter
from tandem.server import create_app

from ..test_cli import TANDEM
from .conftest import PASSWORD, Browser

PERIOD = next_quarter(date.today()).label
AS_OF = date.today().isoformat()
#: A question with a bit of everything: a rate and a lag by hand, the deal size, and a channel mix with costs.
QUESTION: dict[str, str | list[str]] = {
    "period": PERIOD,
    "revenue": "2M",
    "deal_size": "60k",
    "rate": ["mql:sql=40%"],
    "lag": ["sql:opportunity=2w"],
    "channel": ["paid_search=0.6@12.5", "email=0.4@3"],
    "as_of": AS_OF,
}


def cli_waterfall(workspace: Path) -> dict[str, object]:
    arguments = ["--period", PERIOD, "--revenue", "2M", "--deal-size", "60k", "--rate", "mql:sql=40%"]
    arguments += ["--lag", "sql:opportunity=2w", "--channel", "paid_search=0.6@12.5", "--channel", "email=0.4@3"]
    environment = {k: v for k, v in os.environ.items() if k != "TANDEM_WORKSPACE"}
    done = subprocess.run(
        [*TANDEM, "plan", "waterfall", *arguments, "--as-of", AS_OF, "-w", str(workspace), "--format", "json"],
        capture_output=True,
        text=True,
        env=environment,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    document: dict[str, object] = json.loads(done.stdout)
    return document


def set_goal(app: FastAPI, period: str, amount: str) -> None:
    ws = app.state.tandem.workspace
    eve = ws.accounts.authenticate("eve", PASSWORD, "test")
    ws.goals.set(eve, period, amount)


def test_the_api_answers_with_the_document_the_cli_prints(served: Path) -> None:
    expected = cli_waterfall(served)  # before the server opens the workspace (DuckDB: one process writes)
    app = create_app(served)
    ws = app.state.tandem.workspace
    _, secret = ws.accounts.create_token("test", "val", "tests")
    with TestClient(app, headers={"Authorization": f"Bearer {secret}"}) as client:
        answer = client.get("/api/plan/waterfall", params=QUESTION)
    assert answer.status_code == 200, answer.text
    assert answer.json() == expected
    assert answer.json()["period"]["label"] == PERIOD
    assert [row["channel"] for row in answer.json()["budget"]] == ["paid_search", "email"]


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"period": "2027-Q5"}, "period"),
        ({"revenue": "ten"}, "revenue"),
        ({"revenue": "0"}, "revenue"),
        ({"deal_size": "-5"}, "deal_size"),
        ({"rate": ["mql=0.4"]}, "rate"),
        ({"rate": ["mql:sql=1.5"]}, "rate"),
        ({"rate": ["lead:won=0.5"]}, "rate"),
        ({"lag": ["sql:opportunity=soon"]}, "lag"),
        ({"lag": ["sql:opportunity=99999"]}, "lag"),
        ({"lag": ["mql:won=3"]}, "lag"),
        ({"channel": ["paid_search=2"]}, "channel"),
        ({"channel": ["paid_search=0.6@1e300", "email=0.4"]}, "channel"),
        ({"where": ["segment"]}, "where"),
        ({"where": ["no_such_column=x"]}, "where"),
        ({"where": ["created_at=2027-01-01"]}, "where"),
        ({"as_of": "yesterday-ish"}, "as_of"),
        ({"as_of": "0001-01-01"}, "as_of"),
    ],
)
def test_a_bad_value_is_refused_naming_its_parameter(
    api: Callable[[str], TestClient], changes: dict[str, str | list[str]], named: str
) -> None:
    answer = api("val").get("/api/plan/waterfall", params={**QUESTION, **changes})
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"].startswith(f"{named}: "), answer.json()


def test_a_value_of_the_wrong_type_is_fastapis_422(api: Callable[[str], TestClient]) -> None:
    assert api("val").get("/api/plan/waterfall", params={**QUESTION, "lookback": "a year"}).status_code == 422
    assert api("val").get("/api/plan/waterfall", params={**QUESTION, "seed": "-1"}).status_code == 422


def test_without_a_goal_the_api_names_the_revenue_and_the_page_says_how_to_set_one(
    api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    answer = api("val").get("/api/plan/waterfall", params={"period": PERIOD})
    assert answer.status_code == 422
    assert answer.json()["detail"].startswith(f"revenue: no goal for {PERIOD}")
    assert f"tandem goal set {PERIOD} AMOUNT" in answer.json()["detail"]

    page = signed_in("val").get("/plan", params={"period": PERIOD})
    assert page.status_code == 200
    assert 'id="plan-no-goal"' in page.text
    assert f"tandem goal set {PERIOD} AMOUNT" in page.text
    assert "An exec or an admin sets it" in page.text
    assert 'id="plan-stages"' not in page.text
    assert "You may set it" in signed_in("eve").get("/plan", params={"period": PERIOD}).text


def test_a_viewer_reads_the_plan_and_sees_it_in_the_menu(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    page = browser.get("/plan", params=QUESTION)
    assert page.status_code == 200, page.text
    assert '<a href="/plan" aria-current="page">Plan</a>' in page.text
    assert browser.get("/api/plan/waterfall", params=QUESTION).status_code == 200


def stage_rows(page: str) -> dict[str, dict[str, float]]:
    found = re.findall(
        r'<tr data-stage="([^"]+)" data-required="([^"]+)" data-low="([^"]+)" data-high="([^"]+)">\s*<td>[^<]*</td>\s*'
        r'<td class="n needed">([\d,]+)</td>',
        page,
    )
    return {
        stage: {"required": float(req), "low": float(low), "high": float(high), "shown": float(shown.replace(",", ""))}
        for stage, req, low, high, shown in found
    }


def test_the_page_shows_the_numbers_of_the_api(
    api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    document = api("val").get("/api/plan/waterfall", params=QUESTION).json()
    page = signed_in("val").get("/plan", params=QUESTION).text

    shown = stage_rows(page)
    assert list(shown) == document["model"]["stages"]
    for total in document["stages"]:
        row = shown[total["stage"]]
        assert row["required"] == pytest.approx(total["required"])
        assert (row["low"], row["high"]) == pytest.approx((total["low"], total["high"]))
        assert row["shown"] == round(total["required"])
        assert f"{total['last_entry']}</td>" in page
    assert f"{document['revenue']:,.0f} in revenue" in page
    # The month x stage grid: every month some stage needs half an entry in, each cell the API's number rounded.
    grid = re.search(r'<table id="plan-grid">.*?</table>', page, re.S)
    assert grid
    months = re.findall(r'<tr data-month="([^"]+)">', grid.group(0))
    wanted = sorted({row["month"][:7] for row in document["rows"] if row["required"] >= 0.5})
    assert months == wanted
    first = next(row for row in document["rows"] if row["month"][:7] == months[0] and row["stage"] == "lead")
    cell = re.search(rf'<tr data-month="{months[0]}">.*?<td class="n" data-stage="lead">([\d,]*)</td>', page, re.S)
    assert cell
    assert cell.group(1) == f"{first['required']:,.0f}"
    # The budget, the model and the chart.
    assert re.findall(r'<tr data-channel="([^"]+)">', page) == ["paid_search", "email"]
    assert document["model"]["basis"].split(";")[0] in page
    assert re.findall(r'<figure class="chart" data-chart="([^"]+)"', page) == ["required"]
    assert "/charts/plan/required.png?" in page


def test_the_chart_exports_as_png_and_svg(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    png = browser.get("/charts/plan/required.png", params=QUESTION)
    assert png.status_code == 200
    assert png.headers["content-type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = browser.get("/charts/plan/required.svg", params=QUESTION)
    assert svg.status_code == 200
    assert svg.text.lstrip().startswith("<svg")
    assert "mql" in svg.text


def test_the_goal_is_shown_and_a_change_recomputes_the_cached_plan(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    year = PERIOD[:4]
    from_goal = {key: value for key, value in QUESTION.items() if key != "revenue"}
    set_goal(app, year, "12M")
    client = api("val")
    first = client.get("/api/plan/waterfall", params=from_goal).json()
    target = app.state.tandem.workspace.goals.show(PERIOD)["target"]["amount"]
    assert first["revenue"] == pytest.approx(target)
    assert client.get("/api/plan/waterfall", params=from_goal).json() == first  # the cache answers the same
    page = signed_in("val").get("/plan", params=from_goal).text
    assert f'data-amount="{target}"' in page
    assert f"derived from {year}&#39;s $12,000,000" in page  # how the quarter's target was derived, escaped
    assert "sales bookings" in page
    assert "marketing-sourced revenue" in page

    set_goal(app, year, "24M")
    second = client.get("/api/plan/waterfall", params=from_goal).json()
    assert second["revenue"] == pytest.approx(2 * first["revenue"], abs=0.02)
    assert second["stages"][0]["required"] == pytest.approx(2 * first["stages"][0]["required"], rel=1e-3)
    assert f'data-amount="{2 * target}"' in signed_in("val").get("/plan", params=from_goal).text
    # A revenue given by hand does not depend on the goal.
    assert client.get("/api/plan/waterfall", params=QUESTION).json()["revenue"] == 2_000_000


def test_user_text_is_escaped_on_the_page(signed_in: Callable[[str], Browser]) -> None:
    hostile = "<script>alert(1)</script>"
    page = signed_in("val").get("/plan", params={**QUESTION, "rate": [f"mql:sql={hostile}"]})
    assert page.status_code == 422  # a bad value: refused as invalid, like the API
    assert hostile not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert 'id="plan-form"' in page.text  # the form comes back with the values as given
