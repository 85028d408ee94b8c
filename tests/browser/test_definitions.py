"""Changing the definitions in the browser: mark proposes, mia (marketing leader) and sam (sales leader) approve.

The browser tests share one served workspace, so this test reads the version it starts from instead of assuming
one, and changes only the wording of a stage (what the mql stage means): no figure another test checks moves.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from playwright.sync_api import Page

from .conftest import RecordedPage

NEW_MEANING = "A lead marketing believes is ready for a sales conversation, because it asked for a demo or scored high."


def mql_meaning(page: Page) -> str:
    return page.inner_text("#stage-definitions tr[data-stage=mql] td:nth-child(4)").strip()


def test_a_proposal_made_in_the_form_and_approved_by_both_leaders_is_the_new_version(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    # mark, in marketing, edits the file the form starts from: the mql stage gets a new meaning.
    page, recorded = as_user("mark")
    page.goto("/definitions")
    version = int(page.get_attribute("#current-definitions", "data-version") or 0)
    page.click("#definitions-yaml summary")  # the YAML editor is the advanced view, beside the rule builder
    current = page.input_value("#proposed-document")
    assert "- name: mql\n" in current
    before = re.search(r"- name: mql\n(?:  .*\n)*?  description: (.*)\n", current)
    assert before is not None
    proposed = current.replace(before.group(0), before.group(0).replace(before.group(1), NEW_MEANING), 1)
    page.fill("#proposed-document", proposed)
    page.fill("#propose-form input[name=note]", "Say what an MQL is")
    shot(page, "proposing")
    with page.expect_navigation():
        page.click("#propose-form button[type=submit]")
    assert "Proposal #" in page.inner_text("#proposal-notice")
    assert re.fullmatch(r".*/definitions/proposals/\d+\?done=proposed", page.url)
    address = page.url.split("?")[0]
    assert "description:" in page.inner_text("#proposal-changes")
    assert page.inner_text("#proposal-waiting").strip() == "a marketing leader (mia) and a sales leader (sam)"
    assert page.locator("#approve-form").count() == 0  # the author does not approve their own change
    assert page.locator("#reject-form button").inner_text() == "Withdraw"
    # New words, the same leads: the impact measured on the data says so.
    assert page.inner_text("#impact-summary").strip() == "No lead changes stage under the proposal."
    assert page.locator("#impact-table tr[data-stage=mql]").count() == 1
    shot(page, "proposed")
    assert recorded.errors == []

    # mia approves for marketing, with a comment; the proposal now waits for sales.
    page, recorded = as_user("mia")
    page.goto(address)
    page.fill("#approve-form textarea[name=comment]", "Clearer for the sales team.")
    with page.expect_navigation():
        page.click("#approve-form button[type=submit]")
    assert page.inner_text("#proposal-notice").strip() == "Approved; it now waits for sales."
    assert page.inner_text("#proposal-decisions tr[data-side=marketing]").split("\t")[:3] == [
        "marketing",
        "approve",
        "mia",
    ]
    assert page.locator("#approve-form").count() == 0
    shot(page, "approved-by-marketing")
    assert recorded.errors == []

    # sam approves for sales: that makes the next version.
    page, recorded = as_user("sam")
    page.goto(address)
    with page.expect_navigation():
        page.click("#approve-form button[type=submit]")
    notice = page.inner_text("#proposal-notice").strip()
    assert notice == f"Approved: version {version + 1} of the definitions is now current."
    assert page.get_attribute("#proposal-status", "data-status") == "approved"
    assert page.locator("#proposal-actions").count() == 0
    shot(page, "approved-by-sales")

    # The Definitions page shows it as the current version, with the new meaning and in the history.
    page.goto("/definitions")
    assert page.get_attribute("#current-definitions", "data-version") == str(version + 1)
    assert f"Version {version + 1} (current)" in page.inner_text("#current-definitions h2")
    assert mql_meaning(page) == NEW_MEANING
    assert page.locator(f"#definition-history tr[data-version='{version + 1}']").count() == 1
    assert page.get_attribute("#proposals tr[data-proposal] >> nth=0", "data-status") == "approved"
    shot(page, "new-version")
    assert recorded.failed == []
    assert recorded.errors == []


def test_a_file_with_a_broken_rule_comes_back_with_its_problem_by_line_and_column(
    as_user: Callable[[str], tuple[Page, RecordedPage]], shot: Callable[[Page, str], Path]
) -> None:
    page, recorded = as_user("sid")
    page.goto("/definitions")
    page.click("#definitions-yaml summary")
    broken = page.input_value("#proposed-document").replace("- name: mql\n", "- name: mql\n  rule: employees >=\n", 1)
    page.fill("#proposed-document", broken)
    with page.expect_response(lambda response: response.request.method == "POST") as answer:
        page.click("#propose-form button[type=submit]")
    assert answer.value.status == 422
    page.wait_for_selector("#definition-problems")
    line, column = page.eval_on_selector(
        "#definition-problems tbody tr", "row => [row.cells[0].innerText, row.cells[1].innerText]"
    )
    assert broken.splitlines()[int(line) - 1] == "  rule: employees >="
    assert int(column) > len("  rule: ")
    assert page.input_value("#proposed-document") == broken  # the text as sent, to fix in place
    shot(page, "problems")
    assert recorded.errors == []
