"""The rep's queue in real Chromium: a rep accepts one lead and rejects another, and the SLA page counts both.

The app serves a private copy of the demo company (decisions change it) with one more user: ``rep``, a sales rep
named as the demo's leads name their owner: the demo rep with the most leads waiting (the test needs two).
Screenshots of the SLA page and the
queue, on the demo and on an empty workspace, at desktop width and at 390 px, go to /tmp/shots/ for a look.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

import tandem
from tandem.questions import SlaQuestion, ask
from tests.server.conftest import PASSWORD

from .conftest import TIMEOUT_MS, RecordedPage, serving, sign_in_through_the_form

SHOTS = Path("/tmp/shots")
PHONE_WIDTH = 390


@pytest.fixture
def demo_origin(browser_workspace: Path, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """The demo company served, and the name of the rep signed in as ``rep``."""
    folder = tmp_path / "demo"
    shutil.copytree(browser_workspace, folder)
    with tandem.open_workspace(folder) as ws:
        rows = ask(ws, SlaQuestion.parse(by="rep"))["rows"]
        busiest = max(rows, key=lambda r: (r["undecided"], r["rep"]))
        assert busiest["undecided"] >= 2, rows
        ws.accounts.create_user("test", "rep", "sales", password=PASSWORD, display_name=busiest["rep"])
    with serving(folder, "sla-demo") as origin:
        yield origin, busiest["rep"]


@pytest.fixture
def empty_origin(tmp_path: Path) -> Iterator[str]:
    with tandem.init_workspace(tmp_path / "empty") as ws:
        ws.accounts.create_user("test", "rep", "sales", password=PASSWORD, display_name="Ava Thompson")
    with serving(tmp_path / "empty", "sla-empty") as origin:
        yield origin


@pytest.fixture
def signed_in(chromium: Browser) -> Iterator[Callable[[str, str], tuple[Page, RecordedPage]]]:
    contexts = []

    def open_page(origin: str, username: str) -> tuple[Page, RecordedPage]:
        context = chromium.new_context(base_url=origin)
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        recorded = RecordedPage(page)
        sign_in_through_the_form(page, origin, username)
        return page, recorded

    yield open_page
    for context in contexts:
        context.close()


def snap(page: Page, name: str) -> None:
    """A full-page screenshot at desktop width and at 390 px; the page must not be wider than a phone there."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.set_viewport_size({"width": 1280, "height": 900})
    page.screenshot(path=str(SHOTS / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size({"width": PHONE_WIDTH, "height": 844})
    page.screenshot(path=str(SHOTS / f"{name}-phone.png"), full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE_WIDTH, name
    page.set_viewport_size({"width": 1280, "height": 900})


def rep_row(document: dict[str, Any], rep: str) -> tuple[int, int]:
    (row,) = [r for r in document["rows"] if r["rep"] == rep]
    return row["accepted"], row["rejected"]


def reason_count(document: dict[str, Any], reason: str) -> int:
    return sum(r["count"] for r in document["rejection_reasons"] if r["reason"] == reason)


def page_row(page: Page, rep: str) -> list[str]:
    cells: list[str] = page.eval_on_selector_all(
        "#sla-rows tbody tr",
        f"rows => rows.map(r => Array.from(r.cells, c => c.innerText.trim())).find(c => c[0] === {rep!r})",
    )
    return cells


def test_a_rep_accepts_and_rejects_from_the_queue_and_the_report_counts_both(
    signed_in: Callable[[str, str], tuple[Page, RecordedPage]], demo_origin: tuple[str, str]
) -> None:
    origin, rep = demo_origin
    page, recorded = signed_in(origin, "rep")
    before = page.request.get("/api/sla").json()
    accepted, rejected = rep_row(before, rep)
    page.goto("/sla")
    assert page_row(page, rep)[2:4] == [str(accepted), str(rejected)]  # rep, handoffs, accepted, rejected
    snap(page, "sla-demo")

    page.goto("/sla/queue")
    assert page.inner_text("h1") == f"Rep's queue: {rep}"
    leads = page.eval_on_selector_all("li.queue-lead", "items => items.map(i => i.dataset.lead)")
    assert len(leads) >= 2
    first, second = leads[0], leads[1]
    snap(page, "sla-queue-demo")

    with page.expect_navigation():
        page.click(f"li.queue-lead[data-lead='{first}'] form.accept-form button")
    assert page.inner_text("p.flash.ok").startswith(f"Lead {first} accepted (import ")

    reject = page.locator(f"li.queue-lead[data-lead='{second}'] form.reject-form")
    reject.locator("select[name=reason]").select_option("no_budget")
    reject.locator("input[name=note]").fill("budget frozen until next year")
    with page.expect_navigation():
        reject.locator("button").click()
    assert page.inner_text("p.flash.ok").startswith(f"Lead {second} rejected (import ")
    waiting = page.eval_on_selector_all("li.queue-lead", "items => items.map(i => i.dataset.lead)")
    assert first not in waiting
    assert second not in waiting

    after = page.request.get("/api/sla").json()
    assert rep_row(after, rep) == (accepted + 1, rejected + 1)
    assert reason_count(after, "no_budget") == reason_count(before, "no_budget") + 1
    page.goto("/sla")
    assert page_row(page, rep)[2:4] == [str(accepted + 1), str(rejected + 1)]
    reasons = page.eval_on_selector_all(
        "#sla-reasons tbody tr",
        "rows => Object.fromEntries(rows.map(r => [r.cells[0].innerText, r.cells[1].innerText]))",
    )
    assert reasons["no_budget"] == f"{reason_count(after, 'no_budget'):,}"
    assert recorded.errors == []
    assert recorded.failed == []


def test_an_empty_workspace_says_what_to_do_on_both_pages(
    signed_in: Callable[[str, str], tuple[Page, RecordedPage]], empty_origin: str
) -> None:
    page, recorded = signed_in(empty_origin, "rep")
    for path, name in (("/sla", "sla-empty"), ("/sla/queue", "sla-queue-empty")):
        page.goto(path)
        assert page.inner_text("#sla-missing").startswith("No service levels yet: definitions version 1 has no")
        snap(page, name)
    assert recorded.errors == []
    assert recorded.failed == []
