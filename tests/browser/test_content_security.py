"""The pages under the strict Content-Security-Policy in real Chromium: charts drawn, nothing refused.

The policy allows scripts and styles from the server only, with no 'unsafe-eval' and no 'unsafe-inline': Vega runs
its expression interpreter instead of compiling expressions with Function(), the templates carry no style attribute
and no inline script, and the API docs start Swagger UI from a file. Every refusal the browser makes fires a
`securitypolicyviolation` event (and logs a console error): a listener added before any script of the page records
each one, and the test asserts there were none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tandem.periods import next_quarter
from tandem.server.app import CONTENT_SECURITY_POLICY

from .conftest import RecordedPage
from .test_overview import charts_drawn

PERIOD = next_quarter(date.today()).label

#: Each event the browser fires when the policy refuses something, as "directive: what (where)".
LISTEN = """
window.__refused = [];
document.addEventListener("securitypolicyviolation", function (event) {
  window.__refused.push(event.violatedDirective + ": " + event.blockedURI + " (" + event.sourceFile + ":"
    + event.lineNumber + ")");
});
"""

#: Pages with charts, and the charts each draws (the Plan page draws its waterfall for a revenue typed in).
CHART_PAGES = {
    "/": ["forecast-range", "stage-volumes", "revenue-by-month"],
    "/funnel": ["stage-volumes", "velocity"],
    "/forecast": ["forecast-range", "backtest"],
    f"/plan?period={PERIOD}&revenue=2M&rate=mql%3Asql%3D40%25": ["required"],
}
#: Pages without charts that use what the policy restricts: tables once styled inline, forms with scripts, the docs.
OTHER_PAGES = ["/definitions", "/imports", "/admin", "/account", "/api/docs"]


def open_with_listener(as_user: Callable[[str], tuple[Page, RecordedPage]]) -> tuple[Page, RecordedPage]:
    page, recorded = as_user("ada")
    page.add_init_script(LISTEN)
    return page, recorded


def refused(page: Page) -> list[str]:
    events: list[str] = page.evaluate("() => window.__refused")
    return events


def test_the_policy_allows_no_eval_and_nothing_inline() -> None:
    assert CONTENT_SECURITY_POLICY == (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "font-src 'self'; frame-ancestors 'none'; form-action 'self'"
    )


@pytest.mark.parametrize(("path", "charts"), CHART_PAGES.items(), ids=["overview", "funnel", "forecast", "plan"])
def test_charts_are_drawn_under_the_policy_with_nothing_refused(
    as_user: Callable[[str], tuple[Page, RecordedPage]],
    shot: Callable[[Page, str], Path],
    path: str,
    charts: list[str],
) -> None:
    page, recorded = open_with_listener(as_user)
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    states = charts_drawn(page)
    assert page.eval_on_selector_all("figure.chart", "figures => figures.map(f => f.dataset.chart)") == charts
    assert states == ["true"] * len(charts)
    for figure in page.query_selector_all("figure.chart"):
        svg = figure.query_selector("svg")
        assert svg is not None, figure.get_attribute("data-chart")
        marks = svg.query_selector_all("g[class*='mark-'] > path, g[class*='mark-'] > rect, g[class*='mark-'] > g")
        assert len(marks) > 0, f"chart {figure.get_attribute('data-chart')} has no marks"
    page.wait_for_load_state("networkidle")
    shot(page, "drawn")
    assert refused(page) == []
    assert recorded.errors == []


def test_a_chart_tooltip_shows_styled_by_the_stylesheet(as_user: Callable[[str], tuple[Page, RecordedPage]]) -> None:
    """vega-tooltip's rules come from tandem.css, not a <style> element it adds: hovering a bar shows the tooltip
    (positioned through the style property, which the policy allows) with nothing refused."""
    page, recorded = open_with_listener(as_user)
    page.goto("/funnel")
    charts_drawn(page)
    page.hover("figure.chart[data-chart=stage-volumes] g.mark-rect path")
    tooltip = page.wait_for_selector("#vg-tooltip-element.visible")
    assert tooltip is not None
    assert tooltip.evaluate("t => [getComputedStyle(t).position, getComputedStyle(t).fontSize]") == ["fixed", "11px"]
    assert page.locator("style").count() == 0
    assert refused(page) == []
    assert recorded.errors == []


def test_pages_without_charts_break_nothing_under_the_policy(
    as_user: Callable[[str], tuple[Page, RecordedPage]],
) -> None:
    page, recorded = open_with_listener(as_user)
    for path in OTHER_PAGES:
        response = page.goto(path)
        assert response is not None
        assert response.status == 200, path
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY, path
        page.wait_for_load_state("networkidle")
        if path == "/api/docs":
            page.wait_for_selector(".opblock")  # Swagger UI started by its script file
        assert refused(page) == [], path
    assert recorded.errors == []


def test_an_inline_style_or_script_is_refused(as_user: Callable[[str], tuple[Page, RecordedPage]]) -> None:
    """The listener sees a refusal when there is one: markup with a style attribute and an inline script, added to
    a page, is refused by the policy and reported, and neither takes effect."""
    page, _recorded = open_with_listener(as_user)
    page.goto("/account")
    page.evaluate(
        """() => {
          const probe = document.createElement("div");
          probe.innerHTML = '<p id="probe" style="color: rgb(255, 0, 0)">x</p>';
          document.body.append(probe);
          const script = document.createElement("script");
          script.textContent = "window.__ran = true;";
          document.body.append(script);
        }"""
    )
    page.wait_for_function("() => window.__refused.length >= 2")
    assert sorted(event.split(":")[0] for event in refused(page)) == ["script-src-elem", "style-src-attr"]
    assert page.evaluate("() => window.__ran === undefined") is True
    # the text keeps the page's ink (--ink: #1d2433), not the red of the refused attribute
    assert page.evaluate("() => getComputedStyle(document.getElementById('probe')).color") == "rgb(29, 36, 51)"
