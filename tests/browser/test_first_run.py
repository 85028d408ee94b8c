"""The first run in the browser: every page of a new, empty workspace works and says what to do next, the next
step moves on once leads are imported, and a user with a one-time password has a way on (change it, then the page
first asked for) and a way out (sign out), with no link that cannot work meanwhile.

The workspace is the one `tandem init` makes, with an admin added (`tandem users add ada --role admin`), served as
`tandem serve` serves it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, FilePayload, Page

import tandem
from tandem.periods import next_quarter
from tests.server.conftest import PASSWORD

from .conftest import TIMEOUT_MS, RecordedPage, serving, sign_in_through_the_form
from .test_overview import charts_drawn

#: The next step of an empty workspace, as the panel words it (`tandem.questions.next_steps`).
FIRST_STEP = (
    "What to do next: import your leads. No data yet.\n"
    "Import your leads: upload a CSV on the Imports page, or run the command (a HubSpot contacts export here; "
    "tandem mappings lists the HubSpot and Salesforce presets)."
)
FIRST_COMMAND = "tandem import leads leads.csv --mapping hubspot-contacts"
LATER_STEPS = "Then: import stage events, import your deals, set a revenue goal, agree on a plan."

#: Every page of the menu (and the drill-down to leads, and the account), with its heading.
PAGES = [
    ("/", "Overview"),
    ("/funnel", "Funnel"),
    ("/funnel/leads?stage=lead", "Leads behind the number"),
    ("/plan", "Plan · {next_quarter}"),
    ("/forecast", "Forecast"),
    ("/definitions", "Definitions"),
    ("/sla", "Service levels at the handoff"),
    ("/sla/queue", "Rep's queue"),
    ("/attribution", "Marketing's share of revenue"),
    ("/imports", "Imports"),
    ("/admin", "Admin"),
    ("/account", "Your account"),
]

#: Two leads created today: the Overview counts the quarter to date.
TODAY = datetime.now(UTC).date().isoformat()
LEADS_CSV = f"lead_id,created_at,channel\nL1,{TODAY},webinar\nL2,{TODAY},paid search\n".encode()


def empty_workspace(folder: Path) -> dict[str, str]:
    """`tandem init` and an admin, ada; and two users with one-time passwords (returned by name)."""
    with tandem.init_workspace(folder) as ws:
        ws.accounts.create_user("test", "ada", "admin", password=PASSWORD)
        return {name: ws.accounts.create_user("test", name, "exec")[1] for name in ("newbie", "later")}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    """The served empty workspace: its origin and the one-time passwords."""
    folder = tmp_path_factory.mktemp("first-run") / "acme"
    one_time = empty_workspace(folder)
    with serving(folder, "first-run") as origin:
        yield origin, one_time


@pytest.fixture(scope="module")
def ada_session(chromium: Browser, first_run: tuple[str, dict[str, str]]) -> Any:
    context = chromium.new_context(base_url=first_run[0])
    context.set_default_timeout(TIMEOUT_MS)
    sign_in_through_the_form(context.new_page(), first_run[0], "ada")
    state = context.storage_state()
    context.close()
    return state


def open_page(chromium: Browser, origin: str, storage: Any = None) -> tuple[Page, RecordedPage, Callable[[], None]]:
    context = chromium.new_context(base_url=origin, storage_state=storage)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    return page, RecordedPage(page), context.close


def next_quarter_label() -> str:
    return next_quarter(datetime.now(UTC).date()).label


@pytest.mark.parametrize(("path", "heading"), PAGES, ids=[p.strip("/").split("?")[0] or "overview" for p, _ in PAGES])
def test_every_page_of_an_empty_workspace_says_what_to_do_next(
    chromium: Browser,
    first_run: tuple[str, dict[str, str]],
    ada_session: Any,
    shot: Callable[[Page, str], Path],
    path: str,
    heading: str,
) -> None:
    page, recorded, close = open_page(chromium, first_run[0], ada_session)
    response = page.goto(path)
    assert response is not None
    assert response.status == 200
    assert page.inner_text("h1") == heading.format(next_quarter=next_quarter_label())
    panel = page.locator("#next-steps")
    assert panel.get_attribute("data-step") == "leads"
    assert panel.locator("p").nth(0).inner_text() + "\n" + panel.locator("p").nth(1).inner_text() == FIRST_STEP
    assert panel.locator("pre.command").inner_text() == FIRST_COMMAND
    links = panel.locator("a.next-link")
    if path == "/imports":  # the panel does not send the page to itself
        assert links.count() == 0
    else:
        assert (links.inner_text(), links.get_attribute("href")) == ("Go to the Imports page", "/imports")
    if path == "/":  # every step, those done ticked, instead of figures that are all zero
        assert panel.locator("ol.steps li").all_inner_texts() == [
            "✓ Add the first user",
            "Import your leads",
            "Import stage events",
            "Import your deals",
            "Set a revenue goal",
            "Agree on a plan",
        ]
        assert page.locator(".card[data-stage]").count() == 0
        assert "No data-quality problems found" not in page.inner_text("main")
    else:
        assert panel.locator("p.muted").last.inner_text() == LATER_STEPS
    assert set(charts_drawn(page)) <= {"true"}
    page.wait_for_load_state("networkidle")
    shot(page, path.strip("/").split("?")[0].replace("/", "-") or "overview")
    assert recorded.failed == []
    assert recorded.errors == []
    close()


def test_the_scenarios_of_an_empty_workspace_say_why_they_cannot_be_compared(
    chromium: Browser, first_run: tuple[str, dict[str, str]], ada_session: Any, shot: Callable[[Page, str], Path]
) -> None:
    page, recorded, close = open_page(chromium, first_run[0], ada_session)
    page.goto("/plan")
    page.fill("#scenario-name", "better qualification")
    page.fill("#scenario-rate-change", "+20")
    with page.expect_response(lambda r: "/plan/scenarios" in r.url) as answer:
        page.click("#scenario-form button[type=submit]")
    assert answer.value.status == 422  # refused with the reason, on the Plan page again
    assert page.locator("#next-steps").get_attribute("data-step") == "leads"
    quarter = next_quarter_label()
    assert page.inner_text("#scenarios-error") == (
        f"revenue: no goal for {quarter}: an admin or exec sets one with `tandem goal set {quarter} AMOUNT` "
        f"(or PUT /api/goals/{quarter}); or give a revenue to plan for"
    )
    shot(page, "plan-scenarios")
    assert recorded.errors == []
    close()


def test_once_leads_are_imported_the_next_step_is_the_stage_events(
    chromium: Browser, tmp_path: Path, shot: Callable[[Page, str], Path]
) -> None:
    empty_workspace(tmp_path / "acme")
    with serving(tmp_path / "acme", "first-run-import") as origin:
        page, recorded, close = open_page(chromium, origin)
        sign_in_through_the_form(page, origin, "ada")
        page.click("#next-steps a.next-link")
        assert page.inner_text("h1") == "Imports"
        page.select_option("#upload-form select[name=kind]", "leads")
        upload: FilePayload = {"name": "leads.csv", "mimeType": "text/csv", "buffer": LEADS_CSV}
        page.set_input_files("#upload-form input[name=file]", files=[upload])
        with page.expect_navigation():
            page.click("#upload-form button[type=submit]")
        page.goto("/")
        panel = page.locator("#next-steps")
        assert panel.get_attribute("data-step") == "stages"
        assert panel.locator("pre.command").inner_text() == (
            "tandem import stage_events lifecycle.csv --mapping hubspot-lifecycle"
        )
        assert panel.locator("ol.steps li").all_inner_texts()[:3] == [
            "✓ Add the first user",
            "✓ Import your leads",
            "Import stage events",
        ]
        assert page.locator(".cards .card[data-stage='lead'] .value").inner_text() == "2"
        shot(page, "overview-after-leads")
        assert recorded.errors == []
        close()


def test_a_one_time_password_is_changed_on_the_way_to_the_page_first_asked_for(
    chromium: Browser, first_run: tuple[str, dict[str, str]], shot: Callable[[Page, str], Path]
) -> None:
    origin, one_time = first_run
    page, recorded, close = open_page(chromium, origin)
    page.goto("/funnel")
    assert page.url == f"{origin}/login?next=/funnel"
    page.fill("input[name=username]", "newbie")
    page.fill("input[name=password]", one_time["newbie"])
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.url == f"{origin}/account?next=/funnel"
    assert page.inner_text("#forced-change") == (
        "You signed in with a one-time password: choose your own to go on to /funnel. Until then, only this page works."
    )
    # Nothing that cannot work meanwhile: no menu, no link to the overview, no panel; signing out works.
    assert page.locator("header nav a").count() == 0
    assert page.locator("a[href='/']").count() == 0
    assert page.locator("#next-steps").count() == 0
    assert page.locator("#not-now button").inner_text() == "Sign out"
    shot(page, "forced-change")
    # Another page opened meanwhile leads back here.
    page.goto("/forecast")
    assert page.url == f"{origin}/account?next=/forecast"
    page.goto("/account?next=/funnel")
    page.fill("input[name=current]", one_time["newbie"])
    page.fill("input[name=new]", "newbie's own password")
    page.fill("input[name=again]", "newbie's own passw0rd")
    with page.expect_navigation():
        page.click("form[action='/account/password'] button[type=submit]")
    assert page.inner_text("[role=alert]") == "the two new passwords differ; type the same one twice"
    assert page.url == f"{origin}/account/password"
    shot(page, "passwords-differ")
    page.fill("input[name=current]", one_time["newbie"])
    page.fill("input[name=new]", "newbie's own password")
    page.fill("input[name=again]", "newbie's own password")
    with page.expect_navigation(url=f"{origin}/funnel"):
        page.click("form[action='/account/password'] button[type=submit]")
    assert page.inner_text("h1") == "Funnel"
    assert page.locator("header nav a").count() == 9  # the pages a viewer reads, SLA and Attribution among them
    assert page.locator("#next-steps").get_attribute("data-step") == "leads"
    shot(page, "changed-and-on")
    assert recorded.errors == []
    close()


def test_a_one_time_password_user_may_sign_out_instead(
    chromium: Browser, first_run: tuple[str, dict[str, str]], shot: Callable[[Page, str], Path]
) -> None:
    origin, one_time = first_run
    page, recorded, close = open_page(chromium, origin)
    page.goto("/login")
    page.fill("input[name=username]", "later")
    page.fill("input[name=password]", one_time["later"])
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    assert page.url == f"{origin}/account"
    with page.expect_navigation(url=f"{origin}/login"):
        page.click("#not-now button")
    assert page.inner_text("h1") == "Sign in"
    shot(page, "signed-out")
    assert recorded.errors == []
    close()
