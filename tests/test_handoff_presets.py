"""From a CRM export to the handoffs table: Salesforce's lead history and HubSpot's contacts, through their presets.

Salesforce's LeadHistory gives one row per field change: Lead Status changes become events by the new status
(`salesforce-lead-handoffs`'s event map), Lead Owner changes become `reassigned`, in the same import. A HubSpot
contacts export gives the latest owner assignment and the current Lead Status only (`hubspot-handoffs`). The files
are written here with the products' own headers; every row expected below is worked out by hand from them. Each
test runs on DuckDB and on PostgreSQL.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import shutil
from pathlib import Path
from typing import Any

import pytest

from tandem import MappingError, Workspace
from tandem.errors import ImportValidationError
from tandem.warehouse.mapping import load_mapping

from .conftest import write
from .test_mapping_presets import FIXTURES


def csv_text(header: list[str], rows: list[list[str]]) -> str:
    """A CSV export as the CRM writes it: every field quoted, one line per record."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, quoting=csv.QUOTE_ALL, lineterminator="\n")
    writer.writerows([header, *rows])
    return buffer.getvalue()


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def import_leads(ws: Workspace, tmp_path: Path, *ids: str) -> None:
    """The leads the handoffs name (a handoff must name a known lead)."""
    rows = "".join(f"{lead},2024-02-01\n" for lead in ids)
    ws.import_files("leads", [write(tmp_path / "leads.csv", "lead_id,created_at\n" + rows)])


def handoffs(ws: Workspace) -> list[tuple[Any, ...]]:
    table = ws.warehouse.table("handoffs")
    rows = table.order_by(["lead_id", "occurred_at", "event"]).to_pyarrow().to_pylist()
    return [(r["lead_id"], r["occurred_at"], r["event"], r["owner"], r["reason"], r["status"]) for r in rows]


def outcome(result: Any) -> tuple[Any, ...]:
    return (result.derived, result.added, result.filtered, result.left_out)


# --- Salesforce ---------------------------------------------------------------------------------------------------
#: LeadHistory exported through the API (Data Loader): 18-character ids, ISO dates in UTC.
LEAD_HISTORY_HEADER = ["Id", "IsDeleted", "LeadId", "CreatedById", "CreatedDate", "Field", "DataType", "OldValue"]
L1, L2, L3 = "00Q000000000001AAA", "00Q000000000002AAA", "00Q000000000003AAA"


def change(lead: str, at: str, by: str, field: str, old: str = "", new: str = "") -> list[str]:
    """One LeadHistory row: at `at` (UTC), user `by` changed `field` of `lead` from `old` to `new`."""
    kind = {"Status": "DynamicEnum", "Owner": "EntityId", "Email": "Email"}.get(field, "")
    return [f"017{lead[-6:-3]}{at[-8:].replace(':', '')}", "false", lead, by, f"{at}.000Z", field, kind, old, new]


LEAD_HISTORY = csv_text(
    [*LEAD_HISTORY_HEADER, "NewValue"],
    [
        # L1: created in the marketing queue, taken by Sam (Salesforce writes the change twice: names, then
        # ids), worked, converted.
        change(L1, "2024-02-05T09:41:07", "005M", "created"),
        change(L1, "2024-02-05T09:41:07", "005M", "Owner", "Marketing Queue", "Sam Patel"),
        change(L1, "2024-02-05T09:41:07", "005M", "Owner", "00G000000000001", "005000000000001"),
        change(L1, "2024-02-07T15:20:33", "005S", "Status", "Open - Not Contacted", "Working - Contacted"),
        change(L1, "2024-02-12T10:15:40", "005S", "Status", "Working - Contacted", "Closed - Converted"),
        # L2: Sam rejects it; an email change is not a handoff.
        change(L2, "2024-02-08T11:02:45", "005S", "Status", "Open - Not Contacted", "Closed - Not Converted"),
        change(L2, "2024-02-08T11:03:10", "005S", "Email", "old@fabrikam.example", "lukas@fabrikam.example"),
        # L3: put on hold (a status of the org's own: a `status` event), handed to Ana, then back to nurture.
        change(L3, "2024-02-09T08:00:00", "005S", "Status", "Open - Not Contacted", "On Hold"),
        change(L3, "2024-02-12T14:30:00", "005M", "Owner", "Sam Patel", "Ana Lopez"),
        change(L3, "2024-02-13T16:45:00", "005A", "Status", "On Hold", "Nurturing"),
    ],
)


def test_salesforce_status_changes_and_owner_changes_become_handoffs(workspace: Workspace, tmp_path: Path) -> None:
    import_leads(workspace, tmp_path, L1, L2, L3)
    results = workspace.import_files(
        "handoffs", [write(tmp_path / "LeadHistory.csv", LEAD_HISTORY)], mapping="salesforce-lead-handoffs"
    )
    # 10 rows: 5 Status changes; 3 Owner rows, two of them one change written twice (the first is kept); the
    # "created" and Email rows are neither.
    assert [outcome(r) for r in results] == [
        (None, 5, 5, {}),
        ("owner changes", 2, 7, {"the same row as another": 1}),
    ]
    assert [r.import_id for r in results] == [2, 2]  # one import: undone as one
    assert handoffs(workspace) == [
        (L1, t("2024-02-05 09:41:07"), "reassigned", "Sam Patel", None, None),
        (L1, t("2024-02-07 15:20:33"), "accepted", None, None, "Working - Contacted"),
        (L1, t("2024-02-12 10:15:40"), "accepted", None, None, "Closed - Converted"),
        (L2, t("2024-02-08 11:02:45"), "rejected", None, None, "Closed - Not Converted"),
        (L3, t("2024-02-09 08:00:00"), "status", None, None, "On Hold"),
        (L3, t("2024-02-12 14:30:00"), "reassigned", "Ana Lopez", None, None),
        (L3, t("2024-02-13 16:45:00"), "recycled", None, None, "Nurturing"),
    ]
    # Who made each change: the user id of the API export.
    actors = workspace.warehouse.table("handoffs").order_by(["lead_id", "occurred_at"]).to_pyarrow()
    assert actors.column("actor").to_pylist() == ["005M", "005S", "005S", "005S", "005S", "005M", "005A"]

    # The same file again changes nothing.
    again = workspace.import_files("handoffs", [tmp_path / "LeadHistory.csv"], mapping="salesforce-lead-handoffs")
    assert [(r.added, r.updated, r.unchanged) for r in again] == [(0, 0, 5), (0, 0, 2)]


#: A "Lead History" report exported as CSV: labels, 15-character ids, the exporting user's locale and time zone.
LEAD_HISTORY_REPORT = csv_text(
    ["Lead ID", "First Name", "Last Name", "Edited By", "Edit Date", "Field / Event", "Old Value", "New Value"],
    [
        ["00Q000000000001", "Priya", "Raman", "Ana Lopez", "2/5/2024, 9:41 AM", "Created.", "", ""],
        ["00Q000000000001", "Priya", "Raman", "Ana Lopez", "2/5/2024, 9:41 AM", "Lead Owner", "Marketing", "Sam Patel"],
        ["00Q000000000001", "Priya", "Raman", "Sam Patel", "2/5/2024, 1:05 PM", "Lead Status", "New", "Working"],
        ["00Q000000000002", "Lukas", "Becker", "Sam Patel", "3/11/2024, 9:30 AM", "Lead Status", "New", "Unqualified"],
    ],
)


def test_a_salesforce_report_needs_a_copy_with_its_date_format_and_time_zone(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_leads(workspace, tmp_path, "00Q000000000001", "00Q000000000002")
    path = write(tmp_path / "report.csv", LEAD_HISTORY_REPORT)
    # As shipped, the preset reads ISO dates: the report's are refused, by line, before anything is written.
    with pytest.raises(ImportValidationError) as refused:
        workspace.import_files("handoffs", [path], mapping="salesforce-lead-handoffs")
    assert sorted((i.line, i.column, i.value, i.problem) for i in refused.value.issues) == [
        (3, "Edit Date", "2/5/2024, 9:41 AM", "cannot be read"),
        (4, "Edit Date", "2/5/2024, 1:05 PM", "cannot be read"),
        (5, "Edit Date", "3/11/2024, 9:30 AM", "cannot be read"),
    ]
    assert workspace.warehouse.table("handoffs").count().to_pyarrow().as_py() == 0

    # A copy with the report's format and the exporting user's zone (New York: UTC-5 in February, UTC-4 after
    # the 10 March 2024 change) reads both kinds of rows.
    mine = load_mapping("salesforce-lead-handoffs").model_copy(
        update={"date_format": "%m/%d/%Y, %I:%M %p", "timezone": "America/New_York"}
    )
    results = workspace.import_files("handoffs", [path], mapping=mine)
    assert [outcome(r) for r in results] == [(None, 2, 2, {}), ("owner changes", 1, 3, {})]
    assert handoffs(workspace) == [
        ("00Q000000000001", t("2024-02-05 14:41"), "reassigned", "Sam Patel", None, None),
        ("00Q000000000001", t("2024-02-05 18:05"), "accepted", None, None, "Working"),
        ("00Q000000000002", t("2024-03-11 13:30"), "rejected", None, None, "Unqualified"),
    ]


# --- HubSpot ------------------------------------------------------------------------------------------------------
#: A contacts export with the owner and lead status properties. 101 is worked (label), 102 disqualified with a
#: reason, 103 (internal names, as some tools export) waits for a better time and was never assigned, 104 is new,
#: 105's status has no date of change, 106 has no owner and no status.
CONTACTS = csv_text(
    [
        "Record ID",
        "Email",
        "Contact owner",
        "Owner assigned date",
        "Lead Status",
        "Date of last lead status change",
        "Disqualification Reason",
    ],
    [
        ["101", "priya@northwind.example", "Sam Patel", "2024-02-05 09:45", "In Progress", "2024-02-06 10:12", ""],
        [
            "102",
            "lb@fabrikam.example",
            "Ana Lopez",
            "2024-02-06 16:30",
            "Unqualified",
            "2024-02-07 09:00",
            "Not a good fit",
        ],
        ["103", "maya@contoso.example", "", "", "BAD_TIMING", "2024-02-09 15:00", ""],
        ["104", "tom@tailspin.example", "Sam Patel", "2024-02-08 08:05", "New", "2024-02-08 08:05", ""],
        ["105", "ines@litware.example", "Ana Lopez", "2024-02-08 12:00", "Connected", "", ""],
        ["106", "k.sato@adatum.example", "", "", "", "", ""],
    ],
)


def test_hubspot_contacts_give_the_last_assignment_and_the_current_status(workspace: Workspace, tmp_path: Path) -> None:
    import_leads(workspace, tmp_path, "101", "102", "103", "104", "105", "106")
    results = workspace.import_files(
        "handoffs", [write(tmp_path / "contacts.csv", CONTACTS)], mapping="hubspot-handoffs"
    )
    # assigned: the 4 contacts with an owner assigned date. Status: the 5 with a Lead Status, less 105's (undated).
    assert [outcome(r) for r in results] == [
        (None, 4, 2, {}),
        ("current lead status", 4, 1, {"no Date of last lead status change": 1}),
    ]
    assert results[1].note.startswith("one event per contact at its current Lead Status")
    assert results[0].missing_columns == []
    assert handoffs(workspace) == [
        ("101", t("2024-02-05 09:45"), "assigned", "Sam Patel", None, None),
        ("101", t("2024-02-06 10:12"), "accepted", None, None, "In Progress"),
        ("102", t("2024-02-06 16:30"), "assigned", "Ana Lopez", None, None),
        ("102", t("2024-02-07 09:00"), "rejected", None, "Not a good fit", "Unqualified"),
        ("103", t("2024-02-09 15:00"), "recycled", None, None, "BAD_TIMING"),
        # 104's status was set in the minute it was assigned: two events, the assignment first.
        ("104", t("2024-02-08 08:05"), "assigned", "Sam Patel", None, None),
        ("104", t("2024-02-08 08:05"), "status", None, None, "New"),
        ("105", t("2024-02-08 12:00"), "assigned", "Ana Lopez", None, None),
    ]


def test_hubspot_contacts_without_the_status_date_give_the_assignments_and_say_what_is_missing(
    workspace: Workspace, tmp_path: Path
) -> None:
    import_leads(workspace, tmp_path, "101", "102")
    export = csv_text(
        ["Record ID", "Contact owner", "Owner assigned date", "Lead Status"],
        [["101", "Sam Patel", "2024-02-05 09:45", "In Progress"], ["102", "Ana Lopez", "2024-02-06 16:30", "New"]],
    )
    results = workspace.import_files("handoffs", [write(tmp_path / "contacts.csv", export)], mapping="hubspot-handoffs")
    assert [outcome(r) for r in results] == [(None, 2, 0, {})]
    assert results[0].missing_columns == ["Date of last lead status change", "Disqualification Reason"]
    assert handoffs(workspace) == [
        ("101", t("2024-02-05 09:45"), "assigned", "Sam Patel", None, None),
        ("102", t("2024-02-06 16:30"), "assigned", "Ana Lopez", None, None),
    ]


# --- the wrong file -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("preset", "export", "refused"),
    [
        (
            "hubspot-handoffs",
            "hubspot-deals.csv",
            "hubspot-deals.csv does not look like a file for mapping 'hubspot-handoffs': 5 of the 6 columns it "
            "expects are missing (Contact owner, Owner assigned date, Lead Status, Date of last lead status change, "
            "Disqualification Reason); it looks like a HubSpot deals export: use --mapping hubspot-deals (table "
            "opportunities); or pass --lenient to import it anyway",
        ),
        (
            "salesforce-lead-handoffs",
            "salesforce-opportunities.csv",
            "salesforce-opportunities.csv does not look like a file for mapping 'salesforce-lead-handoffs': 3 of "
            "the 5 columns it expects are missing (LeadId, NewValue, Field); it looks like a Salesforce Opportunity "
            "export: use --mapping salesforce-opportunities (table opportunities); or pass --lenient to import it "
            "anyway",
        ),
    ],
)
def test_a_deals_export_given_to_a_handoff_preset_is_refused_in_one_line(
    workspace: Workspace, tmp_path: Path, preset: str, export: str, refused: str
) -> None:
    path = Path(shutil.copy(FIXTURES / export, tmp_path / export))
    with pytest.raises(MappingError) as caught:
        workspace.import_files("handoffs", [path], mapping=preset)
    assert str(caught.value) == refused
    assert workspace.imports() == []
