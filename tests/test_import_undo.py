"""Undo of an import (`tandem.warehouse.undo`): exact table contents before and after, on DuckDB and PostgreSQL
(the `workspace` fixture), refusals with their reasons, the audit entry, the import log, and the command line."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from tandem import Workspace
from tandem.errors import ConflictError, NotFoundError
from tandem.server.state import newest_imports
from tandem.warehouse.undo import UndoResult, replaced_table, undo_import, with_undo_marks

from .conftest import write
from .test_cli import run
from .test_import import rows

FIRST = "lead_id,created_at,channel\nL1,2026-01-02 10:00,email\nL2,2026-01-03 11:30,paid_search\n"
#: L1 as it was (unchanged), L2 moved to another channel (updated), L3 new (added), and a new attribute.
SECOND = (
    "lead_id,created_at,channel,region\n"
    "L1,2026-01-02 10:00,email,\n"
    "L2,2026-01-03 11:30,webinar,emea\n"
    "L3,2026-01-04 09:00,email,amer\n"
)
EVENTS = "lead_id,stage,occurred_at\nL1,mql,2026-01-05 10:00\n"


def leads(ws: Workspace) -> list[tuple[object, ...]]:
    """The leads table as (lead_id, created_at, channel, region if present, _import_id), by lead."""
    wanted = [
        c for c in ("lead_id", "created_at", "channel", "region", "_import_id") if c in ws.warehouse.columns("leads")
    ]
    return [tuple(row[c] for c in wanted) for row in rows(ws, "leads", "lead_id")]


def log(ws: Workspace) -> list[tuple[object, ...]]:
    """The import log as (import, table, added, updated, removed, undo_of, undone_by), oldest first."""
    marked = with_undo_marks(ws.warehouse, ws.imports())
    return sorted(
        (r["import_id"], r["table_name"], r["added"], r["updated"], r["removed"], r["undo_of"], r["undone_by"])
        for r in marked
    )


def undo(ws: Workspace, number: int, **kwargs: object) -> UndoResult:
    return undo_import(ws.warehouse, number, actor="ann", record=ws.record, **kwargs)  # type: ignore[arg-type]


def everything(ws: Workspace) -> dict[str, list[dict[str, object]]]:
    """Every canonical table and the import log, row by row: what a refused undo must leave equal."""
    out = {name: rows(ws, name, tuple(ws.warehouse.columns(name))) for name in ws.status()["tables"]}
    out["import_log"] = rows(ws, "import_log", ("import_id", "table_name"))
    return out


def test_undo_of_an_import_that_added_and_updated_puts_the_table_back(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "first.csv", FIRST)])
    (second,) = workspace.import_files("leads", [write(tmp_path / "second.csv", SECOND)])
    assert (second.added, second.updated, second.unchanged) == (1, 1, 1)
    assert leads(workspace) == [
        ("L1", dt.datetime(2026, 1, 2, 10, 0), "email", None, 1),
        ("L2", dt.datetime(2026, 1, 3, 11, 30), "webinar", "emea", 2),
        ("L3", dt.datetime(2026, 1, 4, 9, 0), "email", "amer", 2),
    ]
    # The version of L2 that import 2 replaced is kept beside the table.
    (kept,) = rows(workspace, replaced_table("leads"), "lead_id")
    assert (kept["lead_id"], kept["channel"], kept["_import_id"], kept["_replaced_by"]) == ("L2", "paid_search", 1, 2)

    done = undo(workspace, 2)

    assert (done.import_id, done.undo_id, done.table, done.file) == (2, 3, "leads", "second.csv")
    assert (done.removed, done.restored) == ({"leads": 1}, {"leads": 1})
    assert done.summary() == "import 2 (second.csv -> leads) undone (logged as import 3): leads: 1 removed, 1 put back"
    # As before import 2, with the attribute column it created left in place (empty).
    assert leads(workspace) == [
        ("L1", dt.datetime(2026, 1, 2, 10, 0), "email", None, 1),
        ("L2", dt.datetime(2026, 1, 3, 11, 30), "paid_search", None, 1),
    ]
    assert rows(workspace, replaced_table("leads"), "lead_id") == []
    assert log(workspace) == [
        (1, "leads", 2, 0, None, None, None),
        (2, "leads", 1, 1, None, None, 3),
        (3, "leads", 0, 1, 1, 2, None),
    ]
    entry = workspace.audit_log(limit=1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("ann", "data.undo", "leads")
    assert entry["details"] == {
        "import_id": 2,
        "undo_id": 3,
        "file": "second.csv",
        "sha256": second.sha256,
        "removed": {"leads": 1},
        "restored": {"leads": 1},
    }
    # The undo is the newest change to leads: caches keyed on the newest import per table are recomputed.
    assert newest_imports(workspace)["leads"] == 3


def test_the_same_file_imports_again_after_an_undo(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "second.csv", SECOND)
    workspace.import_files("leads", [path])
    undo(workspace, 1)
    assert leads(workspace) == []
    (again,) = workspace.import_files("leads", [path])
    assert (again.import_id, again.added, again.notes()) == (3, 3, [])
    assert leads(workspace) == [
        ("L1", dt.datetime(2026, 1, 2, 10, 0), "email", None, 3),
        ("L2", dt.datetime(2026, 1, 3, 11, 30), "webinar", "emea", 3),
        ("L3", dt.datetime(2026, 1, 4, 9, 0), "email", "amer", 3),
    ]


def test_undo_refused_while_a_later_import_updated_its_rows(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "first.csv", FIRST)])
    workspace.import_files("leads", [write(tmp_path / "second.csv", SECOND)])
    before = everything(workspace)
    with pytest.raises(ConflictError) as refused:
        undo(workspace, 1)
    assert str(refused.value) == (
        "import 1 cannot be undone: later imports depend on it (import 2 updated rows it wrote); "
        "undo it first, newest first: tandem imports undo 2"
    )
    assert everything(workspace) == before
    # Newest first, both go.
    undo(workspace, 2)
    third = undo(workspace, 1)
    assert (third.removed, third.restored, third.undo_id) == ({"leads": 2}, {"leads": 0}, 4)
    assert leads(workspace) == []
    assert log(workspace) == [
        (1, "leads", 2, 0, None, None, 4),
        (2, "leads", 1, 1, None, None, 3),
        (3, "leads", 0, 1, 1, 2, None),
        (4, "leads", 0, 0, 2, 1, None),
    ]


def test_undo_refused_while_later_events_name_the_leads_it_added(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "first.csv", FIRST)])
    workspace.import_files("stage_events", [write(tmp_path / "events.csv", EVENTS)])
    before = everything(workspace)
    with pytest.raises(ConflictError) as refused:
        undo(workspace, 1)
    assert str(refused.value) == (
        "import 1 cannot be undone: later imports depend on it (import 2 wrote stage_events naming leads it "
        "added); undo it first, newest first: tandem imports undo 2"
    )
    assert everything(workspace) == before
    events = undo(workspace, 2)
    assert (events.table, events.removed, events.restored) == ("stage_events", {"stage_events": 1}, {"stage_events": 0})
    assert rows(workspace, "stage_events", "lead_id") == []
    undo(workspace, 1)
    assert leads(workspace) == []


def test_undo_removes_the_leads_an_import_created(workspace: Workspace, tmp_path: Path) -> None:
    (events,) = workspace.import_files("stage_events", [write(tmp_path / "events.csv", EVENTS)], create_missing=True)
    assert events.created_leads == 1
    done = undo(workspace, 1)
    assert (done.table, done.removed, done.restored) == (
        "stage_events",
        {"leads": 1, "stage_events": 1},
        {"leads": 0, "stage_events": 0},
    )
    assert (leads(workspace), rows(workspace, "stage_events", "lead_id")) == ([], [])
    # One log row per table the undo changed, under one number: the leads' cache moves too.
    assert log(workspace) == [
        (1, "stage_events", 1, 0, None, None, 2),
        (2, "leads", 0, 0, 1, 1, None),
        (2, "stage_events", 0, 0, 1, 1, None),
    ]
    assert newest_imports(workspace) == {"leads": 2, "stage_events": 2}


def test_undo_twice_an_undo_and_an_unknown_import_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "first.csv", FIRST)])
    undo(workspace, 1)
    finished = next(r["finished_at"] for r in workspace.imports() if r["import_id"] == 2)
    with pytest.raises(ConflictError) as twice:
        undo(workspace, 1)
    assert str(twice.value) == f"import 1 was already undone by import 2 on {finished:%Y-%m-%d %H:%M} UTC"
    with pytest.raises(ConflictError) as of_undo:
        undo(workspace, 2)
    assert str(of_undo.value) == ("import 2 is the undo of import 1; an undo cannot be undone: import the file again")
    with pytest.raises(NotFoundError) as unknown:
        undo(workspace, 7)
    assert str(unknown.value) == "no import 7: imports are numbered 1 to 2 (`tandem imports` lists them)"
    assert [e["action"] for e in workspace.audit_log(limit=2)] == ["data.undo", "data.import"]


def test_a_dry_run_says_what_an_undo_would_do_and_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "first.csv", FIRST)])
    workspace.import_files("leads", [write(tmp_path / "second.csv", SECOND)])
    before = everything(workspace)
    entries = len(workspace.audit_log())
    preview = undo(workspace, 2, dry_run=True)
    assert (preview.removed, preview.restored, preview.dry_run) == ({"leads": 1}, {"leads": 1}, True)
    assert preview.summary() == "import 2 (second.csv -> leads) would be undone: leads: 1 removed, 1 put back"
    assert everything(workspace) == before
    assert len(workspace.audit_log()) == entries


# --- the command line -------------------------------------------------------------------------------------------
def test_imports_undo_on_the_command_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    assert run("init", ws).returncode == 0
    assert run("import", "leads", write(tmp_path / "first.csv", FIRST), "-w", ws).returncode == 0
    assert run("import", "leads", write(tmp_path / "second.csv", SECOND), "-w", ws).returncode == 0

    refused = run("imports", "undo", "1", "-w", ws)
    assert refused.returncode == 1
    assert "error: import 1 cannot be undone: later imports depend on it (import 2 updated rows it wrote)" in (
        refused.stderr
    )

    done = run("imports", "undo", "2", "-w", ws)
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        "import 2 (second.csv -> leads) undone (logged as import 3): leads: 1 removed, 1 put back\n"
        "Attribute columns the import created stay, empty where no other import filled them.\n"
    )
    listed = json.loads(run("imports", "-w", ws, "--format", "json").stdout)["imports"]
    assert [(r["import_id"], r["undo_of"], r["undone_by"], r["removed"]) for r in listed] == [
        (3, 2, None, 1),
        (2, None, 3, None),
        (1, None, None, None),
    ]
    table = run("imports", "-w", ws).stdout
    assert "undone by #3" in table
    assert "undo of #2" in table

    again = run("imports", "undo", "2", "-w", ws, "--format", "json")
    assert again.returncode == 1
    assert "error: import 2 was already undone by import 3 on " in again.stderr


def test_undo_of_a_file_that_filled_two_tables_empties_both(workspace: Workspace, tmp_path: Path) -> None:
    """A HubSpot contacts export gives leads and, under the same import number, stage events (current stage)."""
    contacts = tmp_path / "contacts.csv"
    contacts.write_bytes((Path(__file__).parent / "data" / "presets" / "hubspot-contacts.csv").read_bytes())
    results = workspace.import_files("leads", [contacts], mapping="hubspot-contacts")
    assert sorted((r.import_id, r.table, r.added) for r in results) == [(1, "leads", 3), (1, "stage_events", 2)]
    done = undo(workspace, 1)
    assert (done.table, done.removed, done.restored) == (
        "leads, stage_events",
        {"leads": 3, "stage_events": 2},
        {"leads": 0, "stage_events": 0},
    )
    assert (workspace.status()["tables"]["leads"], workspace.status()["tables"]["stage_events"]) == (0, 0)
    assert log(workspace) == [
        (1, "leads", 3, 0, None, None, 2),
        (1, "stage_events", 2, 0, None, None, 2),
        (2, "leads", 0, 0, 3, 1, None),
        (2, "stage_events", 0, 0, 2, 1, None),
    ]
