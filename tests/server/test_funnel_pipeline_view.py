"""The Funnel page's Pipeline table: `tandem pipeline`'s document, by stage in pipeline order and by age bin, with
totals; its amounts in the workspace's currency; and the stage-volume chart drawing the groups its table lists."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable

from .conftest import Browser


def test_the_pipeline_table_is_the_pipeline_document_in_pipeline_order(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    document = browser.get("/api/pipeline").json()
    page = browser.get("/funnel").text
    table = re.search(r'<table id="pipeline-table">.*?</table>', page, re.S)
    assert table, page
    stages = re.findall(r'<tr data-stage="([^"]*)">', table.group(0))
    assert stages.pop() == "total"  # the footer's row
    assert stages == [s or "" for s in document["stage_order"]]  # the document's order: the demo's CRM order
    assert [s for s in stages if s] == ["Discovery", "Demo", "Proposal", "Negotiation"]
    headers = re.findall(r'<th class="n">([^<]+)</th>', table.group(0))
    assert headers == [f"{b} days" for b in document["age_bins"]] + ["total"]
    total = document["total"]
    footer = re.search(r'<tfoot><tr data-stage="total">(.*?)</tr></tfoot>', table.group(0), re.S)
    assert footer
    last_cell = re.findall(r'<td class="n">(.*?)</td>', footer.group(1))[-1]
    assert html.unescape(re.sub(r"<[^>]+>", "", last_cell)) == f"{total['deals']:,} · ${round(total['amount']):,}"
    # Each stage's total is the document's, and the stage totals add up to the total row.
    assert sum(t["deals"] for t in document["stage_totals"]) == total["deals"]


def test_the_stage_volume_chart_has_one_series_per_row_group_of_the_table(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel", params={"by": "channel"}).text
    spec = re.search(
        r'data-chart="stage-volumes"><div class="vega"></div><script type="application/json">(.*?)</script>', page
    )
    assert spec
    values = json.loads(spec.group(1))["data"]["values"]
    table = re.search(r'<table id="funnel-table">.*?</table>', page, re.S)
    assert table
    groups = re.findall(r'<tr data-stage="lead">\s*<td>(?:<span class="muted">)?([^<]+)', table.group(0))
    assert len(groups) == 9  # the demo's eight channels and the leads without one: more than the old chart's eight
    assert list(dict.fromkeys(v["series"] for v in values)) == [html.unescape(g) for g in groups]
