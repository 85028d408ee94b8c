"""The Imports page in the browser: bad rows named by line, and a viewer who can neither see nor use the upload."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from playwright.sync_api import FilePayload, Page

from .conftest import RecordedPage

#: Line 3 has an impossible date, line 4 no key, line 5 no date at all; line 2 is fine (the header is line 1).
BAD_LEADS = b"lead_id,created_at,channel\nB-1,2025-01-05,email\nB-2,31/02/2025,email\n,2025-01-07,web\nB-4,soon,web\n"

#: Channel names a hostile file could carry: each would run a script if a page wrote it out as markup.
PAYLOADS = [
    '<img src=x onerror="window.tandemXss=1">',
    '"><script>window.tandemXss=2</script>',
    '</script><svg onload="window.tandemXss=3">',
]


def column(page: Page, table: str, index: int) -> list[str]:
    cells: list[str] = page.eval_on_selector_all(
        f"{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].innerText.trim())"
    )
    return cells


def test_a_file_with_bad_rows_is_refused_with_its_problems_by_line(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("mark")
    page.goto("/imports")
    history_before = page.locator("#import-history tbody tr[data-import]").count()
    page.select_option("#upload-form select[name=kind]", "leads")
    upload: FilePayload = {"name": "leads.csv", "mimeType": "text/csv", "buffer": BAD_LEADS}
    page.set_input_files("#upload-form input[name=file]", files=[upload])
    shot(page, "chosen")
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click("#upload-form button[type=submit]")
    assert answer.value.status == 422

    page.wait_for_selector("#import-errors")
    assert column(page, "#import-errors", 1) == ["3", "4", "5"]
    assert column(page, "#import-errors", 2) == ["created_at", "lead_id", "created_at"]
    assert "nothing was imported" in page.inner_text("#import-problems")
    assert page.locator("#import-history tbody tr[data-import]").count() == history_before
    shot(page, "problems")
    assert recorded.errors == []


def test_a_viewer_sees_no_upload_form_and_a_forged_upload_is_refused(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, _ = as_user("val")
    page.goto("/imports")
    page.wait_for_selector("#import-history")
    assert page.locator("#upload-form").count() == 0
    shot(page, "no-upload-form")

    # The form a viewer does not get, built in the page with the session's own CSRF token and submitted.
    status = submit_forged_form(page, "/imports", {"kind": "leads"})
    assert status == 403
    page.wait_for_selector("h1:has-text('Not allowed')")
    assert "viewer role may not do this" in page.inner_text("main")
    shot(page, "refused")


def test_a_viewer_forging_an_admin_form_is_refused_and_nothing_changes(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, _ = as_user("val")
    page.goto("/")
    status = submit_forged_form(page, "/admin/users", {"username": "intruder", "role": "admin"})
    assert status == 403
    page.wait_for_selector("h1:has-text('Not allowed')")
    shot(page, "refused")

    admin, _ = as_user("ada")
    admin.goto("/admin")
    assert "intruder" not in admin.inner_text("main")


def submit_forged_form(page: Page, action: str, fields: dict[str, str]) -> int:
    """Post a form the page does not offer, as a script on it could, with the session's CSRF token; the status."""
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.evaluate(
            """([action, fields]) => {
                const form = document.createElement("form");
                form.method = "post";
                form.action = action;
                form.enctype = "multipart/form-data";
                const token = document.querySelector("meta[name=csrf-token]").content;
                for (const [name, value] of Object.entries({csrf_token: token, ...fields})) {
                    const input = document.createElement("input");
                    input.type = "hidden";
                    input.name = name;
                    input.value = value;
                    form.append(input);
                }
                document.body.append(form);
                form.submit();
            }""",
            [action, fields],
        )
    status: int = answer.value.status
    return status


def test_markup_in_imported_data_is_shown_as_text_and_never_runs(
    as_user: Callable[[str], tuple[Page, RecordedPage]], server: str, shot: Callable[[Page, str], Path]
) -> None:
    """Data is untrusted: a channel named like markup is imported, and every page shows it as the text it is."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["lead_id", "created_at", "channel"])
    for number, payload in enumerate(PAYLOADS):
        writer.writerow([f"X-{number}", now, payload])
    page, recorded = as_user("sam")
    page.goto("/imports")
    page.select_option("#upload-form select[name=kind]", "leads")
    upload: FilePayload = {"name": "markup.csv", "mimeType": "text/csv", "buffer": rows.getvalue().encode()}
    page.set_input_files("#upload-form input[name=file]", files=[upload])
    with page.expect_navigation():
        page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#import-summary")

    page.goto("/funnel?by=channel")
    page.wait_for_selector("#funnel-table")
    page.wait_for_function("() => [...document.querySelectorAll('figure.chart')].every(f => f.dataset.drawn)")
    channels = page.eval_on_selector_all("#funnel-table tbody tr", "rows => rows.map(r => r.cells[0].innerText)")
    assert set(PAYLOADS) <= set(channels)
    shot(page, "funnel-by-channel")
    drill = page.locator("#funnel-table tr", has_text=PAYLOADS[0]).locator("a.drill").first
    with page.expect_navigation():
        drill.click()
    page.wait_for_selector("#leads-table")
    assert PAYLOADS[0] in page.inner_text("#leads-question")
    shot(page, "drill-down")

    assert page.evaluate("() => window.tandemXss") is None
    assert [url for url in recorded.requests if url.startswith(f"{server}/x")] == []
    assert recorded.errors == []


def test_an_import_is_undone_from_the_history_after_a_confirmation(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
    page, recorded = as_user("mark")
    page.goto("/imports")
    page.select_option("#upload-form select[name=kind]", "leads")
    content = f"lead_id,created_at,channel\nUNDO-1,{now},webinar\nUNDO-2,{now},email\n".encode()
    upload: FilePayload = {"name": "undo-me.csv", "mimeType": "text/csv", "buffer": content}
    page.set_input_files("#upload-form input[name=file]", files=[upload])
    with page.expect_navigation():
        page.click("#upload-form button[type=submit]")
    page.wait_for_selector("#import-summary")
    number = column(page, "#import-summary", 0)[0]
    row = page.locator(f"#import-history tr[data-import='{number}']")
    with page.expect_navigation():
        row.locator("a", has_text="Undo").click()

    page.wait_for_selector("#undo-counts")
    assert column(page, "#undo-counts", 1) == ["2"]
    assert page.inner_text("h1") == f"Undo import {number}"
    shot(page, "confirm")
    with page.expect_navigation():
        page.click("#undo-form button[type=submit]")
    page.wait_for_selector(f"#import-history tr[data-import='{number}'] td.undo:has-text('undone by')")
    assert f"import {number} (undo-me.csv -> leads) undone" in page.inner_text("p.flash.ok")
    undo_row = page.locator("#import-history tbody tr").first
    assert undo_row.locator("td.undo").inner_text() == f"undo of #{number}: 2 removed"
    shot(page, "undone")
    assert recorded.errors == []

    viewer, _ = as_user("val")
    viewer.goto("/imports")
    viewer.wait_for_selector("#import-history")
    assert viewer.locator("#import-history a", has_text="Undo").count() == 0
