"""Signing in, the Overview's charts drawn by the browser, and pages that ask nothing of any other server."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Browser, Page

from tandem.server.pages import NAV
from tests.server.conftest import PASSWORD

from .conftest import TIMEOUT_MS, RecordedPage

#: Every page a signed-in admin can open from the menu, the account page and the API docs (and a drill-down, below).
PAGES = ["/", "/funnel", "/definitions", "/imports", "/admin", "/account", "/api/docs"]


def charts_drawn(page: Page) -> list[str]:
    """Wait until every chart on the page has been drawn (or failed to); return each one's state."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('figure.chart')].every(f => f.dataset.drawn)", timeout=TIMEOUT_MS
    )
    states: list[str] = page.eval_on_selector_all("figure.chart", "figures => figures.map(f => f.dataset.drawn)")
    return states


def test_signing_in_through_the_form_leads_to_the_page_asked_for(
    chromium: Browser, server: str, shot: Callable[[Page, str], Path]
) -> None:
    context = chromium.new_context(base_url=server)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    page.goto("/funnel")
    assert page.url == f"{server}/login?next=/funnel"
    shot(page, "sign-in-form")
    page.fill("input[name=username]", "eve")
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation(url=f"{server}/funnel"):
        page.click("button[type=submit]")
    assert page.inner_text("h1") == "Funnel"
    assert "eve" in page.inner_text(".who")
    shot(page, "signed-in")
    context.close()


def test_a_wrong_password_keeps_the_form_and_says_so(chromium: Browser, server: str) -> None:
    context = chromium.new_context(base_url=server)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=username]", "mark")
    page.fill("input[name=password]", "not the password")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert "wrong user name or password" in page.inner_text("[role=alert]")
    context.close()


def test_the_overview_draws_its_charts_in_the_browser(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("val")
    page.goto("/")
    assert page.inner_text("h1") == "Overview"
    states = charts_drawn(page)
    assert len(states) >= 2
    assert states == ["true"] * len(states)
    for figure in page.query_selector_all("figure.chart"):
        svg = figure.query_selector("svg")
        assert svg is not None, figure.get_attribute("data-chart")
        marks = svg.query_selector_all("g[class*='mark-'] > path, g[class*='mark-'] > rect, g[class*='mark-'] > g")
        assert marks, f"chart {figure.get_attribute('data-chart')} has no marks"
    shot(page, "overview")
    assert recorded.errors == []


def test_no_page_makes_a_request_outside_the_server(
    as_user: Callable[[str], tuple[Page, RecordedPage]], server: str, shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("ada")
    page.goto("/")
    drill_down = page.get_attribute(".card a[href^='/funnel/leads']", "href")
    assert drill_down
    for path in [*PAGES, drill_down]:
        response = page.goto(path)
        assert response is not None, path
        assert response.status == 200, path
        assert set(charts_drawn(page)) <= {"true"}, path  # whatever charts a page has are drawn
        page.wait_for_load_state("networkidle")
        shot(page, path.strip("/").split("?")[0].replace("/", "-") or "overview")
    outside = [url for url in recorded.requests if not url.startswith((f"{server}/", "data:", "blob:"))]
    assert recorded.requests
    assert outside == []
    assert recorded.failed == []
    assert recorded.errors == []


def test_the_api_docs_show_every_operation_of_the_document(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("val")
    document = page.request.get("/api/openapi.json").json()
    operations = sum(len(item) for item in document["paths"].values())
    page.goto("/api/docs")
    page.wait_for_selector(".opblock, .version-pragma")  # operations, or Swagger UI's refusal of the document
    shot(page, "api-docs")
    assert page.locator(".opblock").count() == operations
    assert recorded.errors == []


#: A phone's width in CSS pixels (an iPhone 12 to 15).
PHONE_WIDTH = 390


def test_the_header_fits_a_phone(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    """At 390 px every item of the header (brand, each menu link, the user, sign out) lies inside the viewport and
    inside the header's bar: the bar wraps onto lines of its own rather than spilling off."""
    page, recorded = as_user("ada")
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    page.goto("/")
    bar = page.locator("header.top").bounding_box()
    assert bar is not None
    assert (bar["x"], bar["width"]) == (0, PHONE_WIDTH)
    items = page.locator(
        "header.top .brand, header.top nav a, header.top .who a, header.top .who .role, header.top .who button"
    )
    assert items.count() == len(NAV) + 4  # brand, every menu link (an admin sees them all), user, role, sign out
    outside = []
    for i in range(items.count()):
        box = items.nth(i).bounding_box()
        assert box is not None
        inside_x = box["x"] >= 0 and box["x"] + box["width"] <= PHONE_WIDTH
        inside_bar = box["y"] >= bar["y"] and box["y"] + box["height"] <= bar["y"] + bar["height"]
        if not (inside_x and inside_bar):
            outside.append((items.nth(i).inner_text(), box))
    assert outside == []
    assert page.evaluate("document.querySelector('header.top').scrollWidth") <= PHONE_WIDTH
    shot(page, "overview-phone")
    assert recorded.errors == []
