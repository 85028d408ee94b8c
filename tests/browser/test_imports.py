"""The Imports page in the browser: bad rows named by line, and a viewer who can neither see nor use the upload."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import FilePayload, Page

from .conftest import RecordedPage

#: Line 3 has an impossible date, line 4 no key, line 5 no date at all; line 2 is fine (the header is line 1).
BAD_LEADS = b"lead_id,created_at,channel\nB-1,2025-01-05,email\nB-2,31/02/2025,email\n,2025-01-07,web\nB-4,soon,web\n"


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
