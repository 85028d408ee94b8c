"""The Funnel page in the browser: a breakdown picked in its form, and a number followed to the leads behind it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from .conftest import RecordedPage

#: The drill-down page lists the newest 500 leads (the CSV has more).
LISTED = 500


def header_cells(page: Page, table: str) -> list[str]:
    cells: list[str] = page.eval_on_selector_all(f"{table} thead th", "cells => cells.map(c => c.innerText.trim())")
    return cells


def test_a_breakdown_picked_in_the_form_updates_the_funnel_table(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("mia")
    page.goto("/funnel")
    page.wait_for_selector("#funnel-table")
    assert "channel" not in header_cells(page, "#funnel-table")
    rows_before = page.locator("#funnel-table tbody tr").count()
    shot(page, "whole-funnel")

    page.select_option("#funnel-form select[name=by]", "channel")
    with page.expect_navigation(url="**/funnel?*by=channel*"):
        page.click("#funnel-form button")

    assert header_cells(page, "#funnel-table")[0] == "channel"
    channels = page.eval_on_selector_all(
        "#funnel-table tbody tr", "rows => [...new Set(rows.map(r => r.cells[0].innerText.trim()))]"
    )
    assert len(channels) > 1, channels
    assert page.locator("#funnel-table tbody tr").count() > rows_before
    assert page.locator("#funnel-form select[name=by] option[value=channel]").evaluate("o => o.selected")
    shot(page, "by-channel")
    assert recorded.failed == []
    assert recorded.errors == []


def test_a_number_in_the_funnel_table_leads_to_the_leads_behind_it(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("sid")
    page.goto("/funnel?by=channel")
    page.wait_for_selector("#funnel-table")
    # The first number of a stage after the first that some leads reached: a real drill-down, not the whole list.
    numbers = page.locator("#funnel-table a.drill:not([data-stage=lead])")
    drill = next(link for link in numbers.all() if int(link.inner_text().replace(",", "")) > 0)
    reached = int(drill.inner_text().replace(",", ""))
    stage = drill.get_attribute("data-stage")
    channel = drill.locator("xpath=ancestor::tr/td[1]").inner_text().strip()
    drill.scroll_into_view_if_needed()
    shot(page, "funnel")

    with page.expect_navigation(url="**/funnel/leads?*"):
        drill.click()

    page.wait_for_selector("#leads-table")
    assert page.get_attribute("#leads-count", "data-count") == str(reached)
    assert page.locator("#leads-table tbody tr").count() == min(reached, LISTED)
    assert stage is not None
    assert stage in page.inner_text("#leads-question")
    column = header_cells(page, "#leads-table").index("channel")
    listed = page.eval_on_selector_all(
        "#leads-table tbody tr", f"rows => [...new Set(rows.map(r => r.cells[{column}].innerText.trim()))]"
    )
    assert listed == [channel if channel != "(missing)" else ""]
    shot(page, "leads")
    assert recorded.failed == []
    assert recorded.errors == []
