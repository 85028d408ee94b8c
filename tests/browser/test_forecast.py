"""The Forecast page and the Overview's forecast card in Chromium, on a copy of the demo company with a goal for the
current quarter (served for this module alone: the shared server's workspace has no goal, and other browser tests
rely on that)."""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from tandem.periods import current_quarter
from tandem.workspace import open_workspace
from tests.server.conftest import PASSWORD

from .conftest import RecordedPage, serving
from .test_overview import charts_drawn

METHODS = ["tandem", "weighted_pipeline", "run_rate"]


@pytest.fixture(scope="module")
def server(browser_workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The app on this module's copy of the demo company, with eve's goal for the current quarter."""
    folder = tmp_path_factory.mktemp("forecast-browser") / "demo"
    shutil.copytree(browser_workspace, folder)
    with open_workspace(folder) as ws:
        ws.goals.set(ws.accounts.authenticate("eve", PASSWORD, "test"), current_quarter(), "600k")
    with serving(folder, "uvicorn-forecast") as origin:
        yield origin


@pytest.fixture(scope="module")
def session_states() -> dict[str, Any]:
    """Sessions of this module's server only (the shared server's would not sign in here)."""
    return {}


def drawn_marks(page: Page, name: str) -> int:
    figure = page.query_selector(f"figure.chart[data-chart={name}]")
    assert figure is not None, name
    svg = figure.query_selector("svg")
    assert svg is not None, name
    return len(svg.query_selector_all("g[class*='mark-'] > path, g[class*='mark-'] > rect, g[class*='mark-'] > g"))


def test_the_forecast_page_shows_the_chance_the_range_and_the_backtest(
    as_user: Callable[[str], tuple[Page, RecordedPage]], server: str, shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("val")
    page.goto("/forecast")
    assert page.inner_text("h1") == "Forecast"
    chance = page.inner_text("#chance .value")
    assert re.fullmatch(r"\d+\.\d%", chance), chance
    document = page.request.get("/api/forecast").json()
    assert chance == f"{document['chance_of_goal']:.1%}"
    assert "goal $600,000" in page.inner_text("#chance")
    assert document["summary"] in page.inner_text("#forecast-summary")

    assert charts_drawn(page) == ["true", "true"]
    assert drawn_marks(page, "forecast-range") > 0
    assert drawn_marks(page, "backtest") > 0
    methods = page.eval_on_selector_all(
        "#backtest-scores tbody tr[data-stretch='every week']", "rows => rows.map(r => r.dataset.method)"
    )
    assert methods == METHODS
    assert page.locator("#backtest-periods tbody tr").count() >= 1
    # The entry rule as the code applies it (90 days, 30 closed deals), and each target said met or not.
    backtest = page.request.get("/api/forecast/backtest").json()
    assert page.inner_text("#backtest-rule").startswith(f"This workspace's own backtest: {backtest['entry_rule']}.")
    assert "180 days" not in page.inner_text("#backtest")
    targets = page.eval_on_selector_all("#backtest-targets li", "items => items.map(i => i.dataset.met)")
    assert targets == [str(t["met"]).lower() for t in backtest["targets"].values() if t["met"] is not None]
    # Won deals are counted as their own deals, not 0.0, and whole: nothing about them is expected any more.
    won = next(s for s in document["sources"] if s["source"] == "won")
    assert page.inner_text("#forecast-sources tr[data-source='won'] td:nth-child(4)") == f"{won['count']:,}"
    assert page.locator("#warnings-stages tbody tr").count() == 5
    shot(page, "forecast")

    outside = [url for url in recorded.requests if not url.startswith((f"{server}/", "data:", "blob:"))]
    assert outside == []
    assert recorded.failed == []
    assert recorded.errors == []


def test_the_overview_shows_the_forecast_card_and_leads_to_the_page(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("sam")
    page.goto("/")
    card = page.locator("#forecast-card")
    assert f"Forecast · {current_quarter().label}" in card.inner_text()
    assert re.fullmatch(r"\d+\.\d%", page.inner_text("#overview-chance .value"))
    assert "goal $600,000" in page.inner_text("#overview-chance")
    assert "won so far" in page.inner_text("#overview-sources")
    states = charts_drawn(page)
    assert states == ["true"] * len(states)
    assert drawn_marks(page, "forecast-range") > 0
    shot(page, "overview-card")
    with page.expect_navigation(url="**/forecast"):
        card.locator("a[href='/forecast']").click()
    assert page.inner_text("h1") == "Forecast"
    assert recorded.failed == []
    assert recorded.errors == []
