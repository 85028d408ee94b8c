"""The Funnel page and its drill-down: the question as a form, the answer as a table and charts, every number a link
to the leads behind it."""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from datetime import date
from urllib.parse import parse_qs, urlsplit

from fastapi import FastAPI

from .conftest import Browser

AS_OF = date.today().isoformat()


def month_start(months_back: int) -> str:
    today = date.today()
    index = today.year * 12 + today.month - 1 - months_back
    return date(index // 12, index % 12 + 1, 1).isoformat()


FROM, TO = month_start(6), month_start(0)
QUESTION = {"by": "channel", "period": "month", "from": FROM, "to": TO, "as_of": AS_OF}


def drill_links(page: str) -> list[tuple[str, str, int]]:
    """(stage, href, number shown) of every drill-down link of the funnel table."""
    found = re.findall(r'<a class="drill" data-stage="([^"]+)" href="([^"]+)">([\d,]+)</a>', page)
    return [(stage, html.unescape(href), int(shown.replace(",", ""))) for stage, href, shown in found]


def count_on(page: str) -> int:
    match = re.search(r'id="leads-count" data-count="(\d+)"', page)
    assert match, page
    return int(match.group(1))


def test_the_page_offers_the_question_as_a_form(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel").text
    assert 'id="funnel-form"' in page
    picker = re.search(r'<select name="by" multiple.*?</select>', page, re.S)
    assert picker
    offered = re.findall(r'<option value="([^"]+)"', picker.group(0))
    assert {"channel", "owner", "segment", "team"} <= set(offered)
    assert not {"lead_id", "created_at", "_import_id"} & set(offered)
    for field in ('name="period"', 'name="from"', 'name="to"', 'name="strict"', 'name="window"'):
        assert field in page


def test_the_page_shows_the_funnel_with_charts(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel", params=QUESTION).text
    assert 'id="funnel-table"' in page
    charts = re.findall(r'<figure class="chart" data-chart="([^"]+)"', page)
    assert charts == ["stage-volumes", "cohort-conversion", "reached-by-period", "velocity"]
    assert 'id="velocity-table"' in page
    assert "/charts/funnel/cohort-conversion.png?" in page


def test_without_a_period_there_is_no_cohort_chart(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel").text
    charts = re.findall(r'<figure class="chart" data-chart="([^"]+)"', page)
    assert charts == ["stage-volumes", "velocity"]


def test_every_reached_number_links_to_its_leads_with_group_period_and_stage(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    page = signed_in("val").get("/funnel", params=QUESTION).text
    links = drill_links(page)
    rows = app.state.tandem.workspace.funnel(by=["channel"], period="month", start=FROM, end=TO, as_of=AS_OF).rows()
    assert len(links) == len(rows)
    stage, href, shown = links[0]
    row = rows[0]
    asked = parse_qs(urlsplit(href).query, keep_blank_values=True)
    assert urlsplit(href).path == "/funnel/leads"
    assert asked["stage"] == [stage] == [row["stage"]]
    assert asked["where"] == [f"channel={row['channel'] or ''}"]
    assert asked["from"] == [f"{row['period']:%Y-%m-%d}"]
    assert asked["to"][0] > asked["from"][0]
    assert asked["as_of"] == [AS_OF]
    assert shown == row["reached"]


def test_the_drill_down_lists_as_many_leads_as_the_number_clicked(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    links = drill_links(browser.get("/funnel", params=QUESTION).text)
    chosen = [link for link in links if link[0] in ("mql", "sql") and link[2] > 0][:6]
    missing_channel = [link for link in links if "where=channel%3D&" in link[1] or "where=channel=&" in link[1]]
    assert chosen
    assert missing_channel
    for _stage, href, shown in [*chosen, missing_channel[0]]:
        leads = browser.get(href)
        assert leads.status_code == 200
        assert count_on(leads.text) == shown
        assert leads.text.count("<tr data-lead=") == min(shown, 500)


def test_a_period_cut_by_the_range_drills_into_the_part_inside_it(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    mid_month = FROM[:8] + "11"
    links = drill_links(browser.get("/funnel", params={**QUESTION, "from": mid_month, "strict": "1"}).text)
    first_month = [link for link in links if f"from={mid_month}&" in link[1]]
    assert len(first_month) >= 5
    assert [stage for stage, _href, _shown in first_month] == ["lead", "mql", "sql", "opportunity", "won"] * (
        len(first_month) // 5
    )
    for _stage, href, shown in first_month[:10]:
        assert count_on(browser.get(href).text) == shown


def test_the_drill_down_states_its_question_and_links_back_and_to_the_csv(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    page = browser.get(
        "/funnel/leads",
        params={"stage": "sql", "where": ["channel=email", "segment="], "from": FROM, "to": TO, "as_of": AS_OF},
    ).text
    words = re.search(r'<p id="leads-question">(.*?)</p>', page, re.S)
    assert words
    assert html.unescape(words.group(1)) == (
        f"Leads that entered sql from {FROM} up to (not including) {TO}, where channel is email and segment is "
        f"missing; cumulative mode (a later stage implies the earlier); as of {AS_OF} UTC."
    )
    back = html.unescape(re.search(r'id="leads-back" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert parse_qs(urlsplit(back).query)["by"] == ["channel", "segment"]
    download = html.unescape(re.search(r'id="leads-download" href="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert download.startswith("/api/leads.csv?")
    csv = browser.get(download)
    assert csv.status_code == 200
    assert csv.text.count("\n") == count_on(page) + 1


def test_the_drill_down_links_back_to_the_same_funnel_question(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    links = drill_links(browser.get("/funnel", params={**QUESTION, "window": "30", "strict": "1"}).text)
    leads = browser.get(links[0][1]).text
    back = html.unescape(re.search(r'id="leads-back" href="([^"]+)"', leads).group(1))  # type: ignore[union-attr]
    assert parse_qs(urlsplit(back).query) == {
        "by": ["channel"],
        "period": ["month"],
        "from": [FROM],
        "to": [TO],
        "strict": ["1"],
        "window": ["30"],
        "as_of": [AS_OF],
    }
    assert "strict mode" in leads


def test_a_chart_exports_as_png(signed_in: Callable[[str], Browser]) -> None:
    response = signed_in("val").get("/charts/funnel/cohort-conversion.png", params=QUESTION)
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/png"
    assert response.content.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_velocity_histogram_exports_as_svg_for_the_chosen_step(signed_in: Callable[[str], Browser]) -> None:
    response = signed_in("val").get("/charts/funnel/velocity.svg", params={"from_stage": "sql", "to_stage": "won"})
    assert response.status_code == 200
    assert response.content.lstrip().startswith(b"<svg")
    assert b"Days from sql to won" in response.content


def test_a_chart_the_question_does_not_have_is_not_found(signed_in: Callable[[str], Browser]) -> None:
    assert signed_in("val").get("/charts/funnel/cohort-conversion.png").status_code == 404


def test_an_unknown_chart_or_image_format_is_a_422(signed_in: Callable[[str], Browser]) -> None:
    assert signed_in("val").get("/charts/funnel/stage-volumes.gif").status_code == 422
    assert signed_in("val").get("/charts/funnel/pie.png").status_code == 422


def test_a_bad_question_on_the_page_keeps_the_form_and_names_the_value(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    for params, named in (
        ({"by": "no_such_column"}, "no_such_column"),
        ({"from": "2026-02-30"}, "2026-02-30"),
        ({"window": "soon"}, "soon"),
        ({"period": "decade"}, "decade"),
    ):
        page = browser.get("/funnel", params=params)
        assert page.status_code == 422
        assert 'id="funnel-form"' in page.text
        assert named in html.unescape(page.text)


def test_a_bad_velocity_step_leaves_the_funnel_shown(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel", params={"from_stage": "sql", "to_stage": "mql"})
    assert page.status_code == 200
    assert 'id="funnel-table"' in page.text
    assert "velocity goes from a stage to a later one" in html.unescape(page.text)


def test_a_drill_down_for_an_unknown_stage_is_an_error_page(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/funnel/leads", params={"stage": "nope"})
    assert page.status_code == 422
    assert "unknown stage 'nope'" in html.unescape(page.text)


def test_the_pages_need_a_session(app: FastAPI) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app, follow_redirects=False) as anonymous:
        assert anonymous.get("/funnel").status_code == 303
        assert anonymous.get("/funnel/leads?stage=mql").status_code == 303
