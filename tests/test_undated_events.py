"""A dated stage event wins over an undated one (`tandem.engine.quality.prefer_dated`).

A HubSpot contacts export without the "Became a ... Date" columns gives one event per contact at its current
lifecycle stage, dated at the contact's creation and marked undated. The deals export then gives the same
contacts real `opportunity` and `won` dates. The funnel must take its dates from those, and the data-quality
report must not call the made-up dates out of order. Every count and date below is worked out by hand from the
two files. Each test runs on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from typing import Any

from tandem import Workspace

from .conftest import write

AS_OF = "2026-06-30"
UNDATED = "hubspot lifecycle stage (undated)"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """A CSV export as HubSpot writes it: every field quoted."""
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n").writerows([header, *rows])
    return buffer.getvalue()


#: Contacts without the "Became a ... Date" columns: each gives one undated event at its current stage.
#: 301 is a customer (won its deal 9301); 302 an opportunity (deal 9302, open); 303 a customer whose deal in this
#: file (9303) is still open, so only its opportunity has a date; 304 an SQL with no deal; 305 still an MQL in
#: HubSpot although its deal 9305 was won.
CONTACTS = csv_text(
    [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Create Date",
        "Contact owner",
        "Lifecycle Stage",
        "Company Name",
        "Country/Region",
        "Original Source",
    ],
    [
        [
            "301",
            "Priya",
            "Raman",
            "priya@northwind.example",
            "2026-01-05 09:00",
            "Sam Patel",
            "Customer",
            "Northwind",
            "United Kingdom",
            "Paid Search",
        ],
        [
            "302",
            "Lukas",
            "Becker",
            "lukas@fabrikam.example",
            "2026-01-10 09:00",
            "Ana Lopez",
            "Opportunity",
            "Fabrikam",
            "Germany",
            "Organic Search",
        ],
        [
            "303",
            "Tom",
            "Okafor",
            "tom@tailspin.example",
            "2026-01-12 09:00",
            "Sam Patel",
            "Customer",
            "Tailspin",
            "Nigeria",
            "Paid Social",
        ],
        [
            "304",
            "Anna",
            "Berg",
            "anna@wingtip.example",
            "2026-01-20 08:00",
            "Ana Lopez",
            "Sales Qualified Lead",
            "Wingtip",
            "Sweden",
            "Referrals",
        ],
        [
            "305",
            "Li",
            "Wei",
            "li@contoso.example",
            "2026-01-25 08:00",
            "Ana Lopez",
            "Marketing Qualified Lead",
            "Contoso",
            "China",
            "Paid Search",
        ],
    ],
)

#: Deals: `opportunity` at each deal's Create Date, `won` at a won deal's Close Date, for its contact.
DEALS = csv_text(
    [
        "Record ID",
        "Deal Name",
        "Pipeline",
        "Deal Stage",
        "Amount",
        "Close Date",
        "Create Date",
        "Deal owner",
        "Associated Company IDs",
        "Associated Contact IDs",
    ],
    [
        [
            "9301",
            "Northwind",
            "Sales Pipeline",
            "Closed won",
            "24000",
            "2026-03-02 00:00",
            "2026-02-01 10:00",
            "Sam Patel",
            "7001",
            "301",
        ],
        [
            "9302",
            "Fabrikam",
            "Sales Pipeline",
            "Contract sent",
            "18500",
            "2026-04-30 00:00",
            "2026-02-10 10:00",
            "Ana Lopez",
            "7002",
            "302",
        ],
        [
            "9303",
            "Tailspin",
            "Sales Pipeline",
            "Contract sent",
            "1200",
            "2026-04-30 00:00",
            "2026-02-15 09:00",
            "Sam Patel",
            "7003",
            "303",
        ],
        [
            "9305",
            "Contoso",
            "Sales Pipeline",
            "Closed won",
            "3000",
            "2026-03-10 00:00",
            "2026-02-20 10:00",
            "Ana Lopez",
            "7005",
            "305",
        ],
    ],
)


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def imported(workspace: Workspace, tmp_path: Path, *, deals: bool = True) -> Workspace:
    workspace.import_files("leads", [write(tmp_path / "contacts.csv", CONTACTS)], mapping="hubspot-contacts")
    if deals:
        workspace.import_files("opportunities", [write(tmp_path / "deals.csv", DEALS)], mapping="hubspot-deals")
    return workspace


def reached(ws: Workspace, as_of: str = AS_OF) -> dict[str, int]:
    return {row["stage"]: row["reached"] for row in ws.funnel(as_of=as_of).rows()}


def entered(ws: Workspace, stage: str) -> dict[str, dt.datetime]:
    """Each lead's entry into `stage`, as the funnel counts it (its drill-down)."""
    return {row["lead_id"]: row["entered"] for row in ws.leads(stage, as_of=AS_OF).rows()}


def check(ws: Workspace, name: str) -> dict[str, Any]:
    return next(c for c in ws.quality(as_of=AS_OF).to_dict()["checks"] if c["check"] == name)


def test_the_deals_dates_win_over_the_contacts_undated_stages(workspace: Workspace, tmp_path: Path) -> None:
    ws = imported(workspace, tmp_path)
    # Every stage event as imported: the contacts' five undated ones, the deals' six dated ones.
    table = ws.warehouse.table("stage_events")
    rows = table.order_by(["lead_id", "occurred_at", "stage"]).to_pyarrow().to_pylist()
    assert [(r["lead_id"], r["stage"], r["occurred_at"], r["source"]) for r in rows] == [
        ("301", "won", t("2026-01-05 09:00"), UNDATED),
        ("301", "opportunity", t("2026-02-01 10:00"), "hubspot"),
        ("301", "won", t("2026-03-02 00:00"), "hubspot"),
        ("302", "opportunity", t("2026-01-10 09:00"), UNDATED),
        ("302", "opportunity", t("2026-02-10 10:00"), "hubspot"),
        ("303", "won", t("2026-01-12 09:00"), UNDATED),
        ("303", "opportunity", t("2026-02-15 09:00"), "hubspot"),
        ("304", "sql", t("2026-01-20 08:00"), UNDATED),
        ("305", "mql", t("2026-01-25 08:00"), UNDATED),
        ("305", "opportunity", t("2026-02-20 10:00"), "hubspot"),
        ("305", "won", t("2026-03-10 00:00"), "hubspot"),
    ]

    # Counted once per stage, as without the deals: mql and sql by all five (cumulative), opportunity by all but
    # 304, won by the two customers and 305 (its won deal).
    assert reached(ws) == {"lead": 5, "mql": 5, "sql": 5, "opportunity": 4, "won": 3}

    # 301's and 305's won, and every opportunity, at the deals' dates. 303's undated won is kept (no dated won
    # says otherwise) but not before its dated opportunity: at it. 305's undated mql (a dated later stage
    # exists) does not put its mql at its creation: the opportunity's date, cumulatively.
    assert entered(ws, "won") == {
        "301": t("2026-03-02 00:00"),
        "303": t("2026-02-15 09:00"),
        "305": t("2026-03-10 00:00"),
    }
    assert entered(ws, "opportunity") == {
        "301": t("2026-02-01 10:00"),
        "302": t("2026-02-10 10:00"),
        "303": t("2026-02-15 09:00"),
        "305": t("2026-02-20 10:00"),
    }
    # Only 304, which has nothing dated, keeps its creation as its sql date.
    assert entered(ws, "mql") == {
        "301": t("2026-02-01 10:00"),
        "302": t("2026-02-10 10:00"),
        "303": t("2026-02-15 09:00"),
        "304": t("2026-01-20 08:00"),
        "305": t("2026-02-20 10:00"),
    }

    # Opportunity to won: 301 in 28 days 14 hours, 303 in 0, 305 in 17 days 14 hours (median 17.58), not the 0
    # days of a won dated at the contact's creation.
    won = ws.funnel(as_of=AS_OF).rows()[-1]
    assert round(won["median_days_from_previous"], 4) == round(17 + 14 / 24, 4)

    # On Feb 5 only 301's opportunity had happened: nobody had won yet, and 303 and 305 were only leads.
    assert reached(ws, "2026-02-05") == {"lead": 5, "mql": 2, "sql": 2, "opportunity": 1, "won": 0}


def test_the_quality_report_sees_no_disorder_in_made_up_dates(workspace: Workspace, tmp_path: Path) -> None:
    ws = imported(workspace, tmp_path)
    # Without the rule, 301 and 303 (won at creation, before the opportunity) would be out of order, and 301's
    # won and 302's opportunity re-entries.
    assert check(ws, "out_of_order")["count"] == 0
    assert check(ws, "re_entries")["count"] == 0
    assert check(ws, "negative_durations")["count"] == 0
    undated = check(ws, "undated_events")
    assert undated["count"] == 2
    assert [(e["lead_id"], e["stage"], e["occurred_at"]) for e in undated["examples"]] == [
        ("303", "won", t("2026-02-15 09:00")),
        ("304", "sql", t("2026-01-20 08:00")),
    ]
    assert undated["effect"] == (
        f"2 from {UNDATED!r}, for 2 leads: each is dated at its lead's creation (or, when later, at the lead's last "
        "dated event), so the stage counts are right but the days between stages and the period a stage is counted "
        "in are not; 3 more left out: their leads have dated events for the same or a later stage, which win"
    )


def test_contacts_alone_still_count_at_their_undated_stage(workspace: Workspace, tmp_path: Path) -> None:
    ws = imported(workspace, tmp_path, deals=False)
    # Nothing dated: each contact counts at its current stage, on the day it was created.
    assert reached(ws) == {"lead": 5, "mql": 5, "sql": 4, "opportunity": 3, "won": 2}
    assert entered(ws, "won") == {"301": t("2026-01-05 09:00"), "303": t("2026-01-12 09:00")}
    assert entered(ws, "sql") == {
        "301": t("2026-01-05 09:00"),
        "302": t("2026-01-10 09:00"),
        "303": t("2026-01-12 09:00"),
        "304": t("2026-01-20 08:00"),
    }
    assert check(ws, "undated_events")["count"] == 5
    assert check(ws, "out_of_order")["count"] == 0
