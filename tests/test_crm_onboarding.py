"""From a CRM export to a full funnel: HubSpot contacts and deals, Salesforce leads and opportunities.

The presets fill stage events from the same files, in the same import (`Mapping.derived`): HubSpot's "Became a ...
Date" columns (else the current lifecycle stage, undated), the deals' associated contacts, Salesforce's conversion,
lead status and won opportunities. The files are made here with the products' own headers, of several vintages;
every count and date below is worked out by hand from them. Each test runs on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import tandem
from tandem import MappingError, Workspace
from tandem.questions import StatusQuestion, ask
from tandem.questions.status import STAGE_SOURCES, funnel_findings
from tandem.server import create_app
from tandem.warehouse.mapping import load_mapping

from .conftest import WorkspaceFactory, write
from .server.conftest import PASSWORD, sign_in

AS_OF = "2026-06-30"


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """A CSV export as the CRM writes it: every field quoted, one line per record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([header, *rows])
    return buffer.getvalue()


# --- HubSpot files ----------------------------------------------------------------------------------------------
#: A 2024-vintage contacts export with the "Became a ... Date" properties (Subscriber's too, which has no stage).
#: 101 went all the way; 102 stopped at MQL; 103 was a subscriber first; 104 is only a subscriber; 105 is an SQL.
CONTACTS_WITH_DATES = csv_text(
    [
        "Record ID",
        "First Name",
        "Last Name",
        "Email",
        "Create Date",
        "Contact owner",
        "Lifecycle Stage",
        "Original Traffic Source",
        "Company Name",
        "Country/Region",
        "Industry",
        "HubSpot Score",
        "Number of Employees",
        "Became a Subscriber Date",
        "Became a Lead Date",
        "Became a Marketing Qualified Lead Date",
        "Became a Sales Qualified Lead Date",
        "Became an Opportunity Date",
        "Became a Customer Date",
    ],
    [
        [
            "101",
            "Priya",
            "Raman",
            "priya@northwind.example",
            "2026-01-05 09:00",
            "Sam Patel",
            "Customer",
            "Paid Search",
            "Northwind",
            "United Kingdom",
            "Computer Software",
            "42",
            "100-500",
            "",
            "2026-01-05 09:00",
            "2026-01-10 14:00",
            "2026-01-20 10:30",
            "2026-02-01 10:00",
            "2026-03-02 16:45",
        ],
        [
            "102",
            "Lukas",
            "Becker",
            "lukas@fabrikam.example",
            "2026-01-06 10:00",
            "Ana Lopez",
            "Marketing Qualified Lead",
            "Organic Search",
            "Fabrikam",
            "Germany",
            "Mechanical or Industrial Engineering",
            "15",
            "1000+",
            "",
            "2026-01-06 10:00",
            "2026-01-12 09:15",
            "",
            "",
            "",
            "",
        ],
        [
            "103",
            "Tom",
            "Okafor",
            "tom@tailspin.example",
            "2026-01-07 11:00",
            "Sam Patel",
            "Lead",
            "Paid Social",
            "Tailspin",
            "Nigeria",
            "Retail",
            "8",
            "25-50",
            "2026-01-07 11:00",
            "2026-01-15 08:00",
            "",
            "",
            "",
            "",
        ],
        [
            "104",
            "Ines",
            "Duarte",
            "ines@litware.example",
            "2026-01-08 12:00",
            "",
            "Subscriber",
            "Direct Traffic",
            "Litware",
            "Portugal",
            "",
            "3",
            "",
            "2026-01-08 12:00",
            "",
            "",
            "",
            "",
            "",
        ],
        [
            "105",
            "Anna",
            "Berg",
            "anna@wingtip.example",
            "2026-01-09 13:00",
            "Ana Lopez",
            "Sales Qualified Lead",
            "Referrals",
            "Wingtip",
            "Sweden",
            "Marketing and Advertising",
            "27",
            "5-25",
            "",
            "2026-01-09 13:00",
            "2026-01-11 13:00",
            "2026-01-25 17:00",
            "",
            "",
        ],
    ],
)

#: A deals export. 9001 is won by 101 (created at the minute HubSpot set 101's "Became an Opportunity Date");
#: 9002 is open with two contacts; 9003 is lost with none; 9004 is won by a contact not in the contacts file;
#: 9005 is won, its stage written with HubSpot's internal name.
DEALS = csv_text(
    [
        "Record ID",
        "Deal Name",
        "Pipeline",
        "Deal Stage",
        "Amount",
        "Amount in company currency",
        "Close Date",
        "Create Date",
        "Deal owner",
        "Associated Company IDs",
        "Associated Contact IDs",
    ],
    [
        [
            "9001",
            "Northwind - Platform",
            "Sales Pipeline",
            "Closed won",
            "24000",
            "24000",
            "2026-03-02 00:00",
            "2026-02-01 10:00",
            "Sam Patel",
            "7001",
            "101",
        ],
        [
            "9002",
            "Fabrikam - Expansion",
            "Sales Pipeline",
            "Contract sent",
            "18500",
            "18500",
            "2026-03-30 00:00",
            "2026-02-10 10:00",
            "Ana Lopez",
            "7002",
            "102;105",
        ],
        [
            "9003",
            "Contoso - Pilot",
            "Sales Pipeline",
            "Closed lost",
            "3000",
            "3000",
            "2026-02-28 00:00",
            "2026-02-11 10:00",
            "Ana Lopez",
            "",
            "",
        ],
        [
            "9004",
            "Adatum - Renewal",
            "Sales Pipeline",
            "Closed won",
            "7000",
            "7000",
            "2026-03-01 00:00",
            "2026-02-12 10:00",
            "Sam Patel",
            "7004",
            "999",
        ],
        [
            "9005",
            "Tailspin - Starter",
            "Sales Pipeline",
            "closedwon",
            "1200",
            "1200",
            "2026-02-27 00:00",
            "2026-02-15 09:00",
            "Sam Patel",
            "7003",
            "103",
        ],
    ],
)

#: A 2023-vintage contacts export with no "Became a ... Date" columns: only the current lifecycle stage, as labels
#: or internal names. 204 and 206 (Subscriber, Other) have no tandem stage; 207 has no stage at all.
CONTACTS_2023 = csv_text(
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
        "Associated Company IDs",
    ],
    [
        [
            "201",
            "Tom",
            "Okafor",
            "tom@tailspin.example",
            "2023-03-14 10:05",
            "Sam Patel",
            "Lead",
            "Tailspin",
            "Nigeria",
            "Social Media",
            "9101",
        ],
        [
            "202",
            "Ines",
            "Duarte",
            "ines@litware.example",
            "2023-03-15 17:48",
            "Ana Lopez",
            "Opportunity",
            "Litware",
            "Portugal",
            "Organic Search",
            "9102",
        ],
        [
            "203",
            "Li",
            "Wei",
            "li@contoso.example",
            "2023-03-16 08:00",
            "Ana Lopez",
            "marketingqualifiedlead",
            "Contoso",
            "China",
            "Paid Search",
            "9103",
        ],
        [
            "204",
            "Ola",
            "Nordmann",
            "ola@fjord.example",
            "2023-03-17 09:30",
            "",
            "Subscriber",
            "Fjord",
            "Norway",
            "Direct Traffic",
            "",
        ],
        [
            "205",
            "Maria",
            "Rossi",
            "maria@alpina.example",
            "2023-03-18 11:11",
            "Sam Patel",
            "Evangelist",
            "Alpina",
            "Italy",
            "Referrals",
            "9105",
        ],
        [
            "206",
            "Jan",
            "Novak",
            "jan@tatra.example",
            "2023-03-19 12:00",
            "",
            "Other",
            "Tatra",
            "Czechia",
            "Offline Sources",
            "",
        ],
        ["207", "Eva", "Lind", "eva@lake.example", "2023-03-20 13:00", "", "", "Lake", "Sweden", "Direct Traffic", ""],
    ],
)

#: A legacy export (before 2019 labels) without any stage column.
CONTACTS_LEGACY = csv_text(
    [
        "Contact ID",
        "First Name",
        "Last Name",
        "Email",
        "Create Date",
        "Contact owner",
        "Company Name",
        "Country",
        "Original Source Type",
    ],
    [
        [
            "301",
            "Anna",
            "Berg",
            "anna.berg@wingtip.example",
            "2018-09-03 13:20",
            "Sam Patel",
            "Wingtip",
            "Sweden",
            "Email Marketing",
        ],
        ["302", "Diego", "Ruiz", "druiz@proseware.example", "2018-09-04 09:02", "", "Proseware", "Spain", "Referrals"],
    ],
)

#: A deals export without the associated contacts.
DEALS_WITHOUT_CONTACTS = csv_text(
    ["Record ID", "Deal Name", "Deal Stage", "Amount", "Close Date", "Create Date"],
    [
        ["9101", "Wingtip - Platform", "Closed won", "5000", "2018-11-30 00:00", "2018-10-01 10:00"],
    ],
)

# --- Salesforce files (API names, as the Data Export service and Data Loader write them) ------------------------
#: A1 and A4 were converted into opportunities; A5 was closed without converting.
SF_LEADS = csv_text(
    [
        "Id",
        "IsDeleted",
        "LastName",
        "FirstName",
        "Company",
        "Email",
        "LeadSource",
        "Status",
        "OwnerId",
        "IsConverted",
        "ConvertedDate",
        "ConvertedAccountId",
        "ConvertedContactId",
        "ConvertedOpportunityId",
        "CreatedDate",
    ],
    [
        [
            "00Q5g00000LeadA1",
            "false",
            "Raman",
            "Priya",
            "Northwind",
            "priya@northwind.example",
            "Web",
            "Closed - Converted",
            "0055g00000User1",
            "true",
            "2024-02-12",
            "0015g0000Acct1",
            "0035g0000Cont1",
            "0065g00000OppO1",
            "2024-02-05T09:41:07.000Z",
        ],
        [
            "00Q5g00000LeadA2",
            "false",
            "Becker",
            "Lukas",
            "Fabrikam",
            "lukas@fabrikam.example",
            "Partner Referral",
            "Working - Contacted",
            "0055g00000User2",
            "false",
            "",
            "",
            "",
            "",
            "2024-02-06T16:02:51.000Z",
        ],
        [
            "00Q5g00000LeadA3",
            "false",
            "Okafor",
            "Tom",
            "Tailspin",
            "tom@tailspin.example",
            "Web",
            "Open - Not Contacted",
            "0055g00000User1",
            "false",
            "",
            "",
            "",
            "",
            "2024-02-07T08:00:00.000Z",
        ],
        [
            "00Q5g00000LeadA4",
            "false",
            "Duarte",
            "Ines",
            "Litware",
            "ines@litware.example",
            "Advertisement",
            "Closed - Converted",
            "0055g00000User2",
            "true",
            "2024-02-20",
            "0015g0000Acct4",
            "0035g0000Cont4",
            "0065g00000OppO2",
            "2024-02-08T10:00:00.000Z",
        ],
        [
            "00Q5g00000LeadA5",
            "false",
            "Berg",
            "Anna",
            "Wingtip",
            "anna@wingtip.example",
            "Web",
            "Closed - Not Converted",
            "0055g00000User1",
            "false",
            "",
            "",
            "",
            "",
            "2024-02-09T11:00:00.000Z",
        ],
        [
            "00Q5g00000LeadA6",
            "false",
            "Rossi",
            "Maria",
            "Alpina",
            "maria@alpina.example",
            "Trade Show",
            "Sales Qualified",
            "0055g00000User2",
            "false",
            "",
            "",
            "",
            "",
            "2024-02-10T12:00:00.000Z",
        ],
    ],
)

#: O1 (A1's) is won, O2 (A4's) is open, O3 came from no lead and is won.
SF_OPPORTUNITIES = csv_text(
    [
        "Id",
        "IsDeleted",
        "AccountId",
        "Name",
        "StageName",
        "Amount",
        "Probability",
        "CloseDate",
        "IsClosed",
        "IsWon",
        "OwnerId",
        "CreatedDate",
    ],
    [
        [
            "0065g00000OppO1",
            "false",
            "0015g0000Acct1",
            "Northwind - Platform",
            "Closed Won",
            "24000",
            "100",
            "2024-03-28",
            "true",
            "true",
            "0055g00000User1",
            "2024-02-12T10:15:44.000Z",
        ],
        [
            "0065g00000OppO2",
            "false",
            "0015g0000Acct4",
            "Litware - Expansion",
            "Negotiation/Review",
            "18500",
            "90",
            "2024-04-30",
            "false",
            "false",
            "0055g00000User2",
            "2024-02-20T14:32:09.000Z",
        ],
        [
            "0065g00000OppO3",
            "false",
            "0015g0000Acct9",
            "Contoso - Renewal",
            "Closed Won",
            "7000",
            "100",
            "2024-03-15",
            "true",
            "true",
            "0055g00000User1",
            "2024-01-10T09:00:00.000Z",
        ],
    ],
)

UNDATED_TEXT = (
    "stage events for {leads} have no date of their own ({sources}): they are dated at the lead's creation (or its "
    "last dated event), so the counts per stage are right but the days between stages and the period a stage is "
    "counted in are not; export HubSpot's 'Became a ... Date' properties, or import Salesforce's lead history, for "
    "real dates"
)
HOW_TO_LINK = (
    "export HubSpot deals with 'Associated Contact IDs'; for Salesforce, import the leads (with "
    "ConvertedOpportunityId) before the opportunities; or map lead_id in the opportunities' mapping"
)


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def reached(ws: Workspace) -> dict[str, int]:
    return {row["stage"]: row["reached"] for row in ws.funnel(as_of=AS_OF).rows()}


def events(ws: Workspace) -> list[tuple[Any, ...]]:
    table = ws.warehouse.table("stage_events")
    rows = table.order_by(["lead_id", "occurred_at", "stage"]).to_pyarrow().to_pylist()
    return [(r["lead_id"], r["stage"], r["occurred_at"], r["source"], r["_import_id"]) for r in rows]


def outcome(result: Any) -> tuple[Any, ...]:
    return (result.table, result.derived, result.added, result.updated, result.unchanged, result.left_out)


# --- HubSpot ----------------------------------------------------------------------------------------------------
def test_hubspot_contacts_and_deals_alone_give_the_whole_funnel(workspace: Workspace, tmp_path: Path) -> None:
    contacts = workspace.import_files(
        "leads", [write(tmp_path / "contacts.csv", CONTACTS_WITH_DATES)], mapping="hubspot-contacts"
    )
    assert [outcome(r) for r in contacts] == [
        ("leads", None, 5, 0, 0, {}),
        ("stage_events", "lifecycle stage dates", 11, 0, 0, {}),
    ]
    assert [r.import_id for r in contacts] == [1, 1]  # one import: undone as one

    # The "Became a ... Date" cells are the entry dates, to the minute (Subscriber's has no stage).
    assert events(workspace) == [
        ("101", "lead", t("2026-01-05 09:00"), "hubspot", 1),
        ("101", "mql", t("2026-01-10 14:00"), "hubspot", 1),
        ("101", "sql", t("2026-01-20 10:30"), "hubspot", 1),
        ("101", "opportunity", t("2026-02-01 10:00"), "hubspot", 1),
        ("101", "won", t("2026-03-02 16:45"), "hubspot", 1),
        ("102", "lead", t("2026-01-06 10:00"), "hubspot", 1),
        ("102", "mql", t("2026-01-12 09:15"), "hubspot", 1),
        ("103", "lead", t("2026-01-15 08:00"), "hubspot", 1),
        ("105", "lead", t("2026-01-09 13:00"), "hubspot", 1),
        ("105", "mql", t("2026-01-11 13:00"), "hubspot", 1),
        ("105", "sql", t("2026-01-25 17:00"), "hubspot", 1),
    ]

    deals = workspace.import_files("opportunities", [write(tmp_path / "deals.csv", DEALS)], mapping="hubspot-deals")
    # 9001's opportunity event is 101's own (same minute): it only gains the deal's amount. 9003 has no contact.
    assert [outcome(r) for r in deals] == [
        ("opportunities", None, 5, 0, 0, {}),
        ("stage_events", "deal stages", 7, 1, 0, {"no Associated Contact IDs": 1}),
    ]
    assert (deals[1].import_id, deals[1].unknown_leads) == (2, 2)
    deal_events = [e for e in events(workspace) if e[4] == 2]
    assert deal_events == [
        ("101", "opportunity", t("2026-02-01 10:00"), "hubspot", 2),
        ("101", "won", t("2026-03-02 00:00"), "hubspot", 2),
        ("102", "opportunity", t("2026-02-10 10:00"), "hubspot", 2),
        ("103", "opportunity", t("2026-02-15 09:00"), "hubspot", 2),
        ("103", "won", t("2026-02-27 00:00"), "hubspot", 2),
        ("105", "opportunity", t("2026-02-10 10:00"), "hubspot", 2),
        ("999", "opportunity", t("2026-02-12 10:00"), "hubspot", 2),
        ("999", "won", t("2026-03-01 00:00"), "hubspot", 2),
    ]
    opened = workspace.warehouse.table("stage_events")
    opened = opened.filter(opened.stage == "opportunity").order_by("lead_id").to_pyarrow().to_pylist()
    assert [(e["lead_id"], e["amount"]) for e in opened] == [
        ("101", 24000.0),
        ("102", 18500.0),
        ("103", 1200.0),
        ("105", 18500.0),
        ("999", 7000.0),
    ]
    # The deal's lead is its first contact.
    opportunities = workspace.warehouse.table("opportunities").order_by("opportunity_id").to_pyarrow().to_pylist()
    assert [(o["opportunity_id"], o["lead_id"], o["status"]) for o in opportunities] == [
        ("9001", "101", "won"),
        ("9002", "102", "open"),
        ("9003", None, "lost"),
        ("9004", "999", "won"),
        ("9005", "103", "won"),
    ]

    # lead: all 5. mql: 101, 102, 105, and 103 (its won deal implies it). sql: 101, 105, and 102 and 103 (their
    # deals). opportunity: 101, 102, 103, 105. won: 101 and 103 (999 is no lead, 9003 was lost).
    assert reached(workspace) == {"lead": 5, "mql": 4, "sql": 4, "opportunity": 4, "won": 2}

    # What is still missing: 999's events wait for its contact; 9003 and 9004 name no imported lead.
    assert ask(workspace, StatusQuestion())["findings"] == [
        {
            "kind": "events_for_unknown_leads",
            "text": "2 stage events name leads not imported (a deal's contacts, say): they count once those leads "
            "are imported; import the contacts or leads they name",
        },
        {
            "kind": "unlinked_opportunities",
            "text": "2 of 5 opportunities name no imported lead, 1 of them won: their won deals will not show in the "
            f"funnel, nor in revenue by channel; {HOW_TO_LINK}",
        },
    ]

    # The same two files again change nothing.
    again = workspace.import_files(
        "leads", [write(tmp_path / "contacts.csv", CONTACTS_WITH_DATES)], mapping="hubspot-contacts"
    )
    assert [(r.added, r.updated, r.unchanged) for r in again] == [(0, 0, 5), (0, 0, 11)]
    again = workspace.import_files("opportunities", [tmp_path / "deals.csv"], mapping="hubspot-deals")
    assert [(r.added, r.updated, r.unchanged) for r in again] == [(0, 0, 5), (0, 0, 8)]


def test_hubspot_current_lifecycle_stage_is_counted_and_flagged(workspace: Workspace, tmp_path: Path) -> None:
    results = workspace.import_files(
        "leads", [write(tmp_path / "contacts-2023.csv", CONTACTS_2023)], mapping="hubspot-contacts"
    )
    assert [outcome(r) for r in results] == [
        ("leads", None, 7, 0, 0, {}),
        ("stage_events", "current lifecycle stage", 4, 0, 0, {"Lifecycle Stage maps to no stage": 3}),
    ]
    assert results[1].note.startswith("no 'Became a ... Date' columns: one stage event per contact")
    undated = "hubspot lifecycle stage (undated)"
    assert events(workspace) == [
        ("201", "lead", t("2023-03-14 10:05"), undated, 1),
        ("202", "opportunity", t("2023-03-15 17:48"), undated, 1),
        ("203", "mql", t("2023-03-16 08:00"), undated, 1),
        ("205", "won", t("2023-03-18 11:11"), undated, 1),
    ]
    # An evangelist was a customer; an opportunity passed mql and sql.
    assert reached(workspace) == {"lead": 7, "mql": 3, "sql": 2, "opportunity": 2, "won": 1}

    quality = workspace.quality(as_of=AS_OF).to_dict()
    check = next(c for c in quality["checks"] if c["check"] == "undated_events")
    assert check["count"] == 4
    assert check["effect"] == (
        "4 from 'hubspot lifecycle stage (undated)', for 4 leads: each is dated at its lead's creation (or, when "
        "later, at the lead's last dated event), so the stage counts are right but the days between stages and the "
        "period a stage is counted in are not"
    )
    assert check["meaning"] == (
        "stage events with no date of their own (a CRM's current stage, such as HubSpot's current lifecycle stage or "
        "Salesforce's lead status): dated at the lead's creation; export HubSpot's 'Became a ... Date' properties or "
        "Salesforce's lead history for real dates"
    )
    assert [e["lead_id"] for e in check["examples"]] == ["201", "202", "203", "205"]

    assert funnel_findings(workspace) == [
        {"kind": "undated_events", "text": UNDATED_TEXT.format(leads="4 leads", sources=undated)},
    ]


def test_contacts_without_any_stage_column_say_the_funnel_shows_only_leads(
    workspace: Workspace, tmp_path: Path
) -> None:
    results = workspace.import_files(
        "leads", [write(tmp_path / "contacts-legacy.csv", CONTACTS_LEGACY)], mapping="hubspot-contacts"
    )
    assert [outcome(r) for r in results] == [("leads", None, 2, 0, 0, {})]
    assert reached(workspace) == {"lead": 2, "mql": 0, "sql": 0, "opportunity": 0, "won": 0}
    workspace.import_files(
        "opportunities", [write(tmp_path / "deals.csv", DEALS_WITHOUT_CONTACTS)], mapping="hubspot-deals"
    )
    assert funnel_findings(workspace) == [
        {"kind": "no_stage_events", "text": f"no stage events: the funnel will show only leads; {STAGE_SOURCES}"},
        {
            "kind": "unlinked_opportunities",
            "text": "opportunities are not linked to leads: won deals will not show in the funnel, nor revenue by "
            f"channel; {HOW_TO_LINK}",
        },
    ]


def test_an_empty_workspace_says_to_import_leads_first(workspace: Workspace) -> None:
    assert funnel_findings(workspace) == [
        {
            "kind": "no_leads",
            "text": "no leads yet: the funnel is empty; import your contacts or leads first, e.g. "
            "`tandem import leads contacts.csv --mapping hubspot-contacts` (or salesforce-leads)",
        }
    ]


def test_a_custom_funnel_keeps_only_its_own_stages_and_says_which_it_left_out(
    make_workspace: WorkspaceFactory, tmp_path: Path
) -> None:
    ws = make_workspace(stages=["inquiry", "mql", "sal", "sqo", "won"])
    results = ws.import_files(
        "leads", [write(tmp_path / "contacts.csv", CONTACTS_WITH_DATES)], mapping="hubspot-contacts"
    )
    assert [outcome(r) for r in results] == [
        ("leads", None, 5, 0, 0, {}),
        (
            "stage_events",
            "lifecycle stage dates",
            4,
            0,
            0,
            {
                "stage 'lead' is not one of the funnel's stages": 4,
                "stage 'opportunity' is not one of the funnel's stages": 1,
                "stage 'sql' is not one of the funnel's stages": 2,
            },
        ),
    ]
    assert [(e[0], e[1]) for e in events(ws)] == [("101", "mql"), ("101", "won"), ("102", "mql"), ("105", "mql")]
    assert reached(ws) == {"inquiry": 5, "mql": 3, "sal": 1, "sqo": 1, "won": 1}


# --- Salesforce -------------------------------------------------------------------------------------------------
def test_salesforce_leads_and_opportunities_give_the_whole_funnel(workspace: Workspace, tmp_path: Path) -> None:
    leads = workspace.import_files("leads", [write(tmp_path / "Lead.csv", SF_LEADS)], mapping="salesforce-leads")
    assert [outcome(r) for r in leads] == [
        ("leads", None, 6, 0, 0, {}),
        ("stage_events", "conversion", 2, 0, 0, {}),
        ("stage_events", "current lead status", 3, 0, 0, {"Status maps to no stage": 3}),
    ]
    assert leads[1].filtered == 4  # the leads not converted into an opportunity
    opportunities = workspace.import_files(
        "opportunities", [write(tmp_path / "Opportunity.csv", SF_OPPORTUNITIES)], mapping="salesforce-opportunities"
    )
    no_lead = "no leads row has its Id in convertedopportunityid or converted_opportunity_id"
    assert [outcome(r) for r in opportunities] == [
        ("opportunities", None, 3, 0, 0, {}),
        ("stage_events", "won by the converted lead", 1, 0, 0, {no_lead: 1}),
    ]
    undated = "salesforce lead status (undated)"
    assert events(workspace) == [
        ("00Q5g00000LeadA1", "opportunity", t("2024-02-12 00:00"), "salesforce", 1),
        ("00Q5g00000LeadA1", "won", t("2024-03-28 00:00"), "salesforce", 2),
        ("00Q5g00000LeadA2", "mql", t("2024-02-06 16:02:51"), undated, 1),
        ("00Q5g00000LeadA3", "lead", t("2024-02-07 08:00"), undated, 1),
        ("00Q5g00000LeadA4", "opportunity", t("2024-02-20 00:00"), "salesforce", 1),
        ("00Q5g00000LeadA6", "sql", t("2024-02-10 12:00"), undated, 1),
    ]
    rows = workspace.warehouse.table("opportunities").order_by("opportunity_id").to_pyarrow().to_pylist()
    assert [(o["opportunity_id"], o["lead_id"]) for o in rows] == [
        ("0065g00000OppO1", "00Q5g00000LeadA1"),
        ("0065g00000OppO2", "00Q5g00000LeadA4"),
        ("0065g00000OppO3", None),
    ]
    # mql: A1, A4 (converted), A2, A6. sql: A1, A4, A6. opportunity: A1, A4. won: A1.
    assert reached(workspace) == {"lead": 6, "mql": 4, "sql": 3, "opportunity": 2, "won": 1}
    assert funnel_findings(workspace) == [
        {"kind": "undated_events", "text": UNDATED_TEXT.format(leads="3 leads", sources=undated)},
        {
            "kind": "unlinked_opportunities",
            "text": "1 of 3 opportunities name no imported lead, 1 of them won: their won deals will not show in the "
            f"funnel, nor in revenue by channel; {HOW_TO_LINK}",
        },
    ]


# --- the mapping layer ------------------------------------------------------------------------------------------
def test_a_fallback_must_name_a_derived_mapping_listed_before_it(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        'table = "leads"\n[[derived]]\nname = "status"\ntable = "stage_events"\nfallback_for = "dates"\n',
    )
    with pytest.raises(
        MappingError,
        match=r"m\.toml: \(top level\): Value error, derived\[0\]: fallback_for = 'dates' names no derived "
        r"mapping listed before it$",
    ):
        load_mapping(path)


def test_stage_when_must_name_a_stage_column(tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.toml",
        'table = "stage_events"\n[stage_columns]\nwon = "Close Date"\n[stage_when.lost]\ncolumn = "Stage"\n'
        'values = ["Lost"]\n',
    )
    with pytest.raises(MappingError, match=r"\[stage_when\] names lost, which \[stage_columns\] does not list"):
        load_mapping(path)


# --- the Imports page -------------------------------------------------------------------------------------------
def findings_on(page: str) -> list[str]:
    """The findings the Imports page lists, as a user reads them."""
    section = re.search(r'<section id="funnel-findings">(.*?)</section>', page, re.S)
    if section is None:
        return []
    return [html.unescape(item) for item in re.findall(r"<li[^>]*>(.*?)</li>", section.group(1), re.S)]


def test_the_imports_page_imports_contacts_with_their_stages_and_says_what_is_missing(tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.accounts.create_user("test", "ada", "admin", password=PASSWORD)
    with TestClient(create_app(tmp_path / "ws"), follow_redirects=False) as client:
        assert sign_in(client, "ada").status_code == 303  # type: ignore[attr-defined]
        page = client.get("/imports").text
        assert findings_on(page) == [
            "no leads yet: the funnel is empty; import your contacts or leads first, e.g. "
            "`tandem import leads contacts.csv --mapping hubspot-contacts` (or salesforce-leads)"
        ]
        csrf = re.search(r'name="csrf-token" content="([^"]*)"', client.get("/account").text)
        assert csrf is not None
        done = client.post(
            "/imports",
            data={"csrf_token": csrf.group(1), "kind": "leads", "mapping": "hubspot-contacts"},
            files={"file": ("contacts-2023.csv", CONTACTS_2023, "text/csv")},
        )
    assert done.status_code == 200, done.text
    summary = re.search(r'<table id="import-summary">.*?<tbody>(.*?)</tbody>', done.text, re.S)
    assert summary is not None
    cells = [
        [html.unescape(re.sub(r"<[^>]+>", "", cell)).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S)]
        for row in re.findall(r"<tr>(.*?)</tr>", summary.group(1), re.S)
    ]
    assert [row[:5] for row in cells] == [
        ["1", "leads", "contacts-2023.csv", "7", "7"],
        ["1", "stage_events (current lifecycle stage)", "contacts-2023.csv", "7", "4"],
    ]
    note = re.search(r'<p class="muted derived-note">(.*?)</p>', done.text, re.S)
    assert note is not None
    assert html.unescape(note.group(1)) == (
        "stage_events from contacts-2023.csv: no 'Became a ... Date' columns: one stage event per contact at its "
        "current Lifecycle Stage, dated at the contact's creation (undated); export the 'Became a ... Date' "
        "properties for real dates; 3 left out (Lifecycle Stage maps to no stage)."
    )
    assert findings_on(done.text) == [UNDATED_TEXT.format(leads="4 leads", sources="hubspot lifecycle stage (undated)")]


def test_the_imports_page_lists_what_the_funnel_cannot_show(tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.accounts.create_user("test", "ada", "admin", password=PASSWORD)
        ws.import_files("leads", [write(tmp_path / "contacts.csv", CONTACTS_2023)], mapping="hubspot-contacts")
    with TestClient(create_app(tmp_path / "ws"), follow_redirects=False) as client:
        assert sign_in(client, "ada").status_code == 303  # type: ignore[attr-defined]
        page = client.get("/imports").text
    assert findings_on(page) == [UNDATED_TEXT.format(leads="4 leads", sources="hubspot lifecycle stage (undated)")]


# --- undone as one import ---------------------------------------------------------------------------------------
def test_undoing_an_import_removes_its_derived_stage_events_and_restores_what_it_updated(
    workspace: Workspace, tmp_path: Path
) -> None:
    from tandem.warehouse.undo import undo_import

    workspace.import_files("leads", [write(tmp_path / "contacts.csv", CONTACTS_WITH_DATES)], mapping="hubspot-contacts")
    after_contacts = events(workspace)
    workspace.import_files("opportunities", [write(tmp_path / "deals.csv", DEALS)], mapping="hubspot-deals")
    assert len(events(workspace)) == 18

    undo_import(workspace.warehouse, 2, actor="test")
    # The deals' events are gone, and 101's own opportunity event is back as the contacts import wrote it.
    assert events(workspace) == after_contacts
    opened = workspace.warehouse.table("stage_events")
    assert opened.filter(opened.amount.notnull()).count().execute() == 0

    undo_import(workspace.warehouse, 1, actor="test")
    assert (workspace.warehouse.counts()["leads"], workspace.warehouse.counts()["stage_events"]) == (0, 0)
