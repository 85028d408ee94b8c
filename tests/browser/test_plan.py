"""The Plan page in the browser: no goal yet, so a revenue typed into the form; the waterfall and its chart drawn."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

from playwright.sync_api import Page

from tandem.periods import next_quarter

from .conftest import RecordedPage
from .test_overview import charts_drawn

PERIOD = next_quarter(date.today()).label


def test_a_revenue_typed_into_the_form_gives_the_waterfall_and_its_chart(
    as_user: Callable[[str], tuple[Page, RecordedPage]], server: str, shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("mia")
    page.goto(f"/plan?period={PERIOD}")
    assert page.inner_text("h1") == f"Plan · {PERIOD}"
    assert f"tandem goal set {PERIOD} AMOUNT" in page.inner_text("#plan-no-goal")
    assert page.locator("#plan-stages").count() == 0
    shot(page, "no-goal")

    page.fill("#plan-form input[name=revenue]", "2M")
    page.fill("#plan-form textarea[name=rate]", "mql:sql=40%")
    with page.expect_navigation(url="**/plan?*revenue=2M*"):
        page.click("#plan-form button")

    assert charts_drawn(page) == ["true"]
    figure = page.query_selector("figure.chart[data-chart=required]")
    assert figure is not None
    svg = figure.query_selector("svg")
    assert svg is not None
    assert svg.query_selector_all("g[class*='mark-'] > path, g[class*='mark-'] > rect")
    # The needed numbers are the API's for the same question (the session reads the API too).
    answer = page.request.get(f"/api/plan/waterfall?period={PERIOD}&revenue=2M&rate=mql:sql%3D40%25")
    assert answer.ok, answer.text()
    document = answer.json()
    shown = page.eval_on_selector_all(
        "#plan-stages tbody tr", "rows => rows.map(r => [r.dataset.stage, r.querySelector('.needed').innerText])"
    )
    assert shown == [[total["stage"], f"{total['required']:,.0f}"] for total in document["stages"]]
    assert page.input_value("#plan-form textarea[name=rate]") == "mql:sql=40%"
    assert "mql → sql" in page.inner_text("#plan-model")
    shot(page, "waterfall")
    outside = [url for url in recorded.requests if not url.startswith((f"{server}/", "data:", "blob:"))]
    assert outside == []
    assert recorded.failed == []
    assert recorded.errors == []
