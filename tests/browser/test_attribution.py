"""The Attribution page in real Chromium, on the demo company and on an empty workspace: credit under the model in
force with its totals, every model side by side, the data-driven models' strength, cost and return with the spend
chart drawn, a drill-down from a credit to the deals and touches behind it, and the Overview's marketing card.
Screenshots at desktop width and at 390 px go to /tmp/shots/ for a look."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

import tandem
from tests.server.conftest import PASSWORD

from .conftest import TIMEOUT_MS, RecordedPage, serving, sign_in_through_the_form
from .test_overview import charts_drawn
from .test_sla_queue import snap


def money(text: str) -> float:
    return float(re.sub(r"[^0-9.\-]", "", text))


def test_the_page_shows_credit_that_adds_up_every_model_and_the_deals_behind_a_credit(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("val")
    page.goto("/attribution")
    assert page.inner_text("h1") == "Marketing's share of revenue"
    assert "no model approved" in page.inner_text("#attribution-models")
    document = page.request.get("/api/attribution").json()
    rows = page.query_selector_all("#attribution-rows tbody tr")
    assert len(rows) == len(document["rows"]) > 0
    cells = [r.query_selector_all("td") for r in rows]
    shown = sum(money(c[1].inner_text()) for c in cells)
    assert shown == pytest.approx(document["totals"]["value"], abs=len(rows))  # whole dollars, rounded per row
    header = page.inner_text("#attribution-comparison thead")
    for name in ("first touch", "W-shaped", "Markov", "Shapley"):
        assert name in header
    flagged = page.query_selector_all("#attribution-comparison tr.model-dependent")
    assert len(flagged) == sum(r["model_dependent"] for r in document["comparison"]["rows"])
    assert document["data_driven"]["strength"] in page.inner_text("#attribution-data-driven")
    assert charts_drawn(page) == ["true"]
    roi = page.request.get("/api/roi").json()
    assert page.inner_text("#attribution-roi tr.total td:nth-child(2)") == f"${roi['totals']['spend']:,.0f}"
    shot(page, "attribution")
    snap(page, "attribution-demo")

    first = document["rows"][0]["item"]
    page.click("#attribution-rows tbody tr:first-child a:text('deals')")
    page.wait_for_url(re.compile(r"/attribution/deals\?"))
    assert page.inner_text("h1") == f"The deals behind {first}'s credit"
    deals = page.request.get(f"/api/attribution/deals?item={first}&limit=50").json()
    assert len(page.query_selector_all("#attribution-deals tbody tr")) == deals["shown"]
    assert first in page.inner_text("#attribution-deals tbody tr:first-child td:last-child")
    snap(page, "attribution-deals-demo")

    page.goto("/attribution?model=linear&by=campaign")
    assert "showing linear" in page.inner_text("#attribution-models")
    assert page.inner_text("#attribution-rows thead th:first-child") == "campaign"

    page.goto("/")
    card = page.inner_text("[data-card=marketing-share]")
    summary = page.request.get("/api/attribution/summary").json()
    assert f"${summary['marketing_credited']:,.0f}" in card
    assert "lead's channel" in card
    assert recorded.errors == []
    assert recorded.failed == []


@pytest.fixture
def empty_origin(tmp_path: Path) -> Iterator[str]:
    with tandem.init_workspace(tmp_path / "empty") as ws:
        ws.accounts.create_user("test", "viewer", "viewer", password=PASSWORD)
    with serving(tmp_path / "empty", "attribution-empty") as origin:
        yield origin


def test_on_an_empty_workspace_the_page_says_what_to_import(chromium: Browser, empty_origin: str) -> None:
    context = chromium.new_context(base_url=empty_origin)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    recorded = RecordedPage(page)
    sign_in_through_the_form(page, empty_origin, "viewer")
    page.goto("/attribution")
    assert "Nothing to attribute yet" in page.inner_text("#attribution-empty")
    assert "No spend and no leads" in page.inner_text("main")
    snap(page, "attribution-empty")
    page.goto("/attribution/deals?item=email")
    assert "No outcome gave email any credit" in page.inner_text("#attribution-no-deals")
    assert recorded.errors == []
    assert recorded.failed == []
    context.close()
