"""The Overview's handoff card and the Definitions page's rejections per version: the same figures as the SLA
documents they come from, on the server tests' demo company."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from pathlib import Path

from fastapi.testclient import TestClient

import tandem
from tandem.server import create_app

from .conftest import PASSWORD, Browser, sign_in


def card(page: str) -> str:
    found = re.search(r'<div class="cards" data-card="handoff">(.*?)</div>\s*</div>\s*</div>', page, re.S)
    assert found, page
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1)))


def test_the_overview_shows_the_quarter_s_handoff_as_the_summary_counts_it(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    summary = api("val").get("/api/sla/summary").json()
    page = signed_in("val").get("/").text
    shown = " ".join(card(page).split())
    assert f"handed to sales, {summary['period']} {summary['handoffs']:,}" in shown
    assert f"service-level breaches {summary['breaches']:,}" in shown
    assert f"clocks at risk now {summary['at_risk']:,}" in shown
    assert f"Handoff · {summary['period']}" in page


def test_the_definitions_page_shows_sales_verdict_per_version(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    versions = api("val").get("/api/sla").json()["rejections"]["version"]
    page = signed_in("val").get("/definitions").text
    section = re.search(r'<section id="handoff-rejections">(.*?)</section>', page, re.S)
    assert section
    text = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", section.group(1))).split())
    (first,) = versions
    assert f"version {first['value']} {first['decided']:,} {first['rejected']:,}" in text


def test_without_a_contract_there_is_no_card(tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.accounts.create_user("test", "val", "viewer", password=PASSWORD)
        leads = tmp_path / "leads.csv"
        leads.write_text("lead_id,created_at\nL1,2026-10-02\n", encoding="utf-8")
        ws.import_files("leads", [leads])
    with TestClient(create_app(tmp_path / "ws"), follow_redirects=False) as browser:
        assert sign_in(browser, "val").status_code == 303  # type: ignore[attr-defined]
        page = browser.get("/").text
        assert 'data-card="handoff"' not in page
        assert "Handoff ·" not in page
        assert browser.get("/api/sla/summary").json()["unavailable"] == (
            "the definitions have no service levels: propose a service_levels section"
        )
