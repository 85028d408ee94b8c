"""A HubSpot export in euros, as a new user imports it: the funnel says which entries have no date of their own,
every document and CSV with money names its currency, and the pipeline comes in HubSpot's order with subtotals.

The workspace, worked by hand (``ago(n)`` is n days before today):

- six contacts, exported without the "Became a ... Date" columns, so each has one undated stage event at its
  current Lifecycle Stage (dated at its creation): C1 Lead, C2 Marketing Qualified Lead, C3 Sales Qualified Lead,
  C4 Opportunity, C5 Customer (won), C6 Marketing Qualified Lead;
- six deals, each of C1, C4, C5 and C6 with one (its contact gets a dated ``opportunity`` event at the deal's
  creation, and C5 a dated ``won`` at its close): an undated event yields to a dated one at its stage or later,
  so only C2's and C3's stay;
- the funnel (cumulative: a later stage implies the earlier): mql 6, sql 5 (all but C2), opportunity 4 (C1, C4,
  C5, C6), won 1 (C5). Entries with no date of their own: mql 2 (C2, and C3 through its sql), sql 1 (C3);
- the open deals, in HubSpot's default order: Appointment Scheduled (ago 5: 0-30, EUR 2,000), Qualified To Buy
  (ago 10: 0-30, EUR 1,000; ago 45: 30-60, EUR 1,500; subtotal 2, EUR 2,500), presentationscheduled (HubSpot's
  internal name, ago 70: 60-90, EUR 4,000), Contract Sent (ago 40: 30-60, EUR 3,000); total 5 deals, EUR 11,500.
  The won deal (EUR 5,000) is not open.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem.money import currency_in_use, use_currency
from tandem.server import create_app

from .conftest import write
from .server.conftest import PASSWORD, sign_in
from .test_cli import run

UNDATED_CAUTION = (
    "Entries with no date of their own: mql 2 of 6, sql 1 of 5; the days between stages and velocity are unknown "
    "for them, and so is the period they are counted in. They come from stage events with no date of their own"
)


def _ago(days: int) -> str:
    return (datetime.now(UTC).date() - timedelta(days=days)).isoformat()


@pytest.fixture(scope="module")
def hubspot(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hubspot")
    folder = root / "ws"
    with tandem.init_workspace(folder) as ws:
        ws.accounts.create_user("test", "ada", "admin", password=PASSWORD)
    config = folder / "tandem.toml"
    text = config.read_text(encoding="utf-8")
    assert text.rstrip().endswith("[settings]"), text
    config.write_text(text.rstrip() + '\ncurrency = "EUR"\n', encoding="utf-8")
    stages = [
        "Lead",
        "Marketing Qualified Lead",
        "Sales Qualified Lead",
        "Opportunity",
        "Customer",
        "Marketing Qualified Lead",
    ]
    contacts = write(
        root / "contacts.csv",
        "Record ID,Email,Contact owner,Lifecycle Stage,Create Date,Original Source,Company Name,Country/Region\n"
        + "".join(
            f"C{i},c{i}@example.com,Jane,{stage},{_ago(300 - i)} 09:00,Organic Search,Co{i},France\n"
            for i, stage in enumerate(stages, start=1)
        ),
    )
    deals = write(
        root / "deals.csv",
        "Record ID,Deal Stage,Amount,Close Date,Create Date,Deal owner,Associated Contact IDs,Associated Company IDs\n"
        f"D1,Qualified To Buy,1000,,{_ago(10)} 12:00,Bob,C4,\n"
        f"D2,Closed Won,5000,{_ago(20)} 00:00,{_ago(100)} 12:00,Bob,C5,\n"
        f"D3,Contract Sent,3000,,{_ago(40)} 12:00,Bob,C6,\n"
        f"D4,Appointment Scheduled,2000,,{_ago(5)} 12:00,Bob,C1,\n"
        f"D5,presentationscheduled,4000,,{_ago(70)} 12:00,Bob,,\n"
        f"D6,Qualified To Buy,1500,,{_ago(45)} 12:00,Bob,,\n",
    )
    for table, path, preset in (("leads", contacts, "hubspot-contacts"), ("opportunities", deals, "hubspot-deals")):
        done = run("import", table, path, "--mapping", preset, "-w", folder)
        assert done.returncode == 0, done.stderr
    return folder


# --- the funnel says when dates are unknown ------------------------------------------------------------------------
def test_the_funnel_document_counts_the_entries_with_no_date_of_their_own(hubspot: Path) -> None:
    done = run("funnel", "--format", "json", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    assert [(row["stage"], row["reached"]) for row in document["rows"]] == [
        ("lead", 6),
        ("mql", 6),
        ("sql", 5),
        ("opportunity", 4),
        ("won", 1),
    ]
    assert document["undated_entries"] == {"mql": 2, "sql": 1}
    assert len(document["cautions"]) == 1
    assert document["cautions"][0].startswith(UNDATED_CAUTION)


def test_tandem_funnel_says_it_under_its_table(hubspot: Path) -> None:
    done = run("funnel", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    assert UNDATED_CAUTION in " ".join(done.stdout.split())  # the terminal wraps it


def test_a_range_counts_only_the_undated_entries_in_it(hubspot: Path) -> None:
    """C2 and C3 were created (so entered undated) 298 and 297 days ago; from 297 days ago on only C3's count."""
    done = run("funnel", "--from", _ago(297), "--format", "json", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["undated_entries"] == {"mql": 1, "sql": 1}


def test_a_workspace_with_dated_events_has_no_caution(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    assert run("init", folder).returncode == 0
    leads = write(tmp_path / "leads.csv", "lead_id,created_at\nL1,2026-01-05\n")
    events = write(tmp_path / "events.csv", "lead_id,stage,occurred_at\nL1,mql,2026-01-07\n")
    for table, path in (("leads", leads), ("stage_events", events)):
        assert run("import", table, path, "-w", folder).returncode == 0
    document = json.loads(run("funnel", "--format", "json", "-w", folder).stdout)
    assert (document["undated_entries"], document["cautions"]) == ({}, [])


# --- every document and CSV with money names its currency ----------------------------------------------------------
@pytest.mark.parametrize("command", ["revenue", "pipeline"])
def test_json_documents_with_money_name_the_workspace_currency(hubspot: Path, command: str) -> None:
    done = run(command, "--format", "json", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["currency"] == "EUR"


def test_every_document_with_money_names_the_workspace_currency(hubspot: Path) -> None:
    """Through the question layer (what the command line, the REST API and the pages serve): each kind that declares
    money (`Question.money`) and answers on this workspace without more to say names EUR; a kind without money
    (the funnel) names none."""
    from tandem.questions import KINDS, ask

    answered = ("revenue", "pipeline", "status", "goals", "roi", "attribution", "attribution-summary")
    with tandem.open_workspace(hubspot) as ws:
        for kind in answered:
            question = KINDS[kind]
            assert question.money, kind
            assert ask(ws, question.parse())["currency"] == "EUR", kind
        assert not KINDS["funnel"].money
        assert "currency" not in ask(ws, KINDS["funnel"].parse())


def test_the_forecast_document_names_its_currency(hubspot: Path) -> None:
    done = run("forecast", "--simulations", "1000", "--format", "json", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["currency"] == "EUR"


def test_the_revenue_csv_has_a_currency_column(hubspot: Path) -> None:
    done = run("revenue", "--format", "csv", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [(row["won_revenue"], row["won_deals"], row["open_pipeline"], row["currency"]) for row in rows] == [
        ("5000.0", "1", "11500.0", "EUR")
    ]


def test_the_pipeline_csv_has_a_currency_column_and_the_rows_in_pipeline_order(hubspot: Path) -> None:
    done = run("pipeline", "--format", "csv", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    reader = csv.reader(io.StringIO(done.stdout))
    assert list(reader) == [
        ["stage", "age_bin", "deals", "amount", "unknown_deals", "currency"],
        ["Appointment Scheduled", "0-30", "1", "2000.0", "0", "EUR"],
        ["Qualified To Buy", "0-30", "1", "1000.0", "0", "EUR"],
        ["Qualified To Buy", "30-60", "1", "1500.0", "0", "EUR"],
        ["presentationscheduled", "60-90", "1", "4000.0", "0", "EUR"],
        ["Contract Sent", "30-60", "1", "3000.0", "0", "EUR"],
    ]


def test_a_funnel_csv_without_money_has_no_currency_column(hubspot: Path) -> None:
    done = run("funnel", "--format", "csv", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    assert "currency" not in done.stdout.splitlines()[0].split(",")


# --- the pipeline in HubSpot's order, with subtotals ---------------------------------------------------------------
def test_tandem_pipeline_lists_hubspot_stages_in_hubspots_order_with_subtotals(hubspot: Path) -> None:
    done = run("pipeline", "-w", hubspot)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("│")]
    assert [[cell.strip() for cell in line.strip("│").split("│")] for line in lines] == [
        ["Appointment Scheduled", "0-30", "1", "€2,000", "0"],
        ["Qualified To Buy", "0-30", "1", "€1,000", "0"],
        ["Qualified To Buy", "30-60", "1", "€1,500", "0"],
        ["Qualified To Buy", "subtotal", "2", "€2,500", "0"],
        ["presentationscheduled", "60-90", "1", "€4,000", "0"],
        ["Contract Sent", "30-60", "1", "€3,000", "0"],
        ["total", "", "5", "€11,500", "0"],
    ]
    assert "stages in pipeline order, from HubSpot's default sales pipeline\n" in done.stdout
    assert "pipeline_stages =" not in done.stdout  # nothing to set


# --- the web app ---------------------------------------------------------------------------------------------------
@pytest.fixture
def browser(hubspot: Path) -> Iterator[TestClient]:
    before = currency_in_use()
    try:
        with TestClient(create_app(hubspot), follow_redirects=False) as client:
            assert sign_in(client, "ada").status_code == 303  # type: ignore[attr-defined]
            yield client
    finally:
        use_currency(before)  # the app set the process's currency to the workspace's


def test_the_funnel_page_shows_euros_and_says_which_entries_have_no_date(browser: TestClient) -> None:
    page = browser.get("/funnel")
    assert page.status_code == 200
    notice = re.search(r'<div class="notice" id="funnel-cautions"><p>(.*?)</p></div>', page.text, re.S)
    assert notice, page.text
    assert notice.group(1).replace("&#39;", "'").startswith(UNDATED_CAUTION)
    table = re.search(r'<table id="pipeline-table">.*?</table>', page.text, re.S)
    assert table
    stages = re.findall(r'<tr data-stage="([^"]*)">', table.group(0))
    assert stages == [
        "Appointment Scheduled",
        "Qualified To Buy",
        "presentationscheduled",
        "Contract Sent",
        "total",
    ]
    assert "<strong>5 · €11,500</strong>" in table.group(0)
    assert 'id="pipeline-order-advice"' not in page.text


@pytest.mark.parametrize(("path", "key"), [("/api/revenue", "currency"), ("/api/pipeline", "currency")])
def test_the_rest_documents_name_their_currency(browser: TestClient, path: str, key: str) -> None:
    assert browser.get(path).json()[key] == "EUR"


def test_the_rest_funnel_document_carries_the_undated_entries(browser: TestClient) -> None:
    assert browser.get("/api/funnel").json()["undated_entries"] == {"mql": 2, "sql": 1}


# --- on every backend ----------------------------------------------------------------------------------------------
CONTACTS = (
    "Record ID,Email,Contact owner,Lifecycle Stage,Create Date,Original Source,Company Name,Country/Region\n"
    "C1,c1@example.com,Jane,Lead,2026-01-01 09:00,Organic Search,Co1,France\n"
    "C2,c2@example.com,Jane,Marketing Qualified Lead,2026-01-02 09:00,Organic Search,Co2,France\n"
    "C3,c3@example.com,Jane,Sales Qualified Lead,2026-01-03 09:00,Organic Search,Co3,France\n"
    "C4,c4@example.com,Jane,Opportunity,2026-01-04 09:00,Organic Search,Co4,France\n"
    "C5,c5@example.com,Jane,Customer,2026-01-05 09:00,Organic Search,Co5,France\n"
    "C6,c6@example.com,Jane,Marketing Qualified Lead,2026-01-06 09:00,Organic Search,Co6,France\n"
)
DEALS = (
    "Record ID,Deal Stage,Amount,Close Date,Create Date,Deal owner,Associated Contact IDs,Associated Company IDs\n"
    "D1,Qualified To Buy,1000,,2026-02-01 12:00,Bob,C4,\n"
    "D2,Closed Won,5000,2026-03-01 00:00,2026-02-02 12:00,Bob,C5,\n"
    "D3,Contract Sent,3000,,2026-02-03 12:00,Bob,C6,\n"
    "D4,Appointment Scheduled,2000,,2026-02-04 12:00,Bob,C1,\n"
)


@pytest.mark.parametrize(
    ("question", "undated"),
    [
        ({"as_of": "2026-06-01"}, {"mql": 2, "sql": 1}),  # C2 and C3 (through its sql); C3
        ({"as_of": "2026-01-02T12:00"}, {"mql": 1}),  # C3 was not created yet
        ({"as_of": "2026-06-01", "start": "2026-01-03"}, {"mql": 1, "sql": 1}),  # C2 entered before the range
        ({"as_of": "2026-06-01", "strict": True}, {"mql": 1}),  # C3 has no mql: strict, it reached no later stage
    ],
)
def test_the_undated_entries_on_every_backend(
    workspace: tandem.Workspace, tmp_path: Path, question: dict[str, object], undated: dict[str, int]
) -> None:
    from tandem.questions import FunnelQuestion, ask

    workspace.import_files("leads", [write(tmp_path / "contacts.csv", CONTACTS)], mapping="hubspot-contacts")
    workspace.import_files("opportunities", [write(tmp_path / "deals.csv", DEALS)], mapping="hubspot-deals")
    document = ask(workspace, FunnelQuestion.parse(**question))
    assert document["undated_entries"] == undated
