"""Import: every storage behaviour runs on SQLite + DuckDB and on PostgreSQL (the `workspace` fixture)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tandem import ImportValidationError, MappingError, Workspace
from tandem.warehouse.mapping import load_mapping

from .conftest import write

LEADS = "lead_id,created_at,channel\nL1,2026-01-02 10:00,email\nL2,2026-01-03 11:30,paid_search\n"


def rows(ws: Workspace, table: str, order: str | tuple[str, ...] = ()) -> list[dict[str, object]]:
    t = ws.warehouse.table(table)
    keys = (order,) if isinstance(order, str) else order or tuple(ws.warehouse.columns(table))[:1]
    return list(t.order_by(list(keys)).to_pyarrow().to_pylist())


def snapshot(ws: Workspace) -> dict[str, list[dict[str, object]]]:
    """Every row of every table plus the import log: what 'changes nothing' must leave equal."""
    out = {
        name: rows(ws, name, ws.warehouse.columns(name) and tuple(ws.warehouse.columns(name)))
        for name in ws.status()["tables"]
    }
    out["import_log"] = rows(ws, "import_log", "import_id")
    return out


def fails(ws: Workspace, kind: str, path: Path, **kw: object) -> ImportValidationError:
    before = snapshot(ws)
    with pytest.raises(ImportValidationError) as info:
        ws.import_files(kind, [path], **kw)  # type: ignore[arg-type]
    assert snapshot(ws) == before, "a failed import must change nothing"
    return info.value


# --- the happy path ---------------------------------------------------------------------------------------------
def test_import_adds_rows_and_records_the_import(workspace: Workspace, tmp_path: Path) -> None:
    (result,) = workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    assert (result.added, result.updated, result.unchanged, result.rejected) == (2, 0, 0, 0)
    assert rows(workspace, "leads", "lead_id") == [
        {
            "lead_id": "L1",
            "created_at": dt.datetime(2026, 1, 2, 10, 0),
            "channel": "email",
            **_nulls("L1"),
            "_import_id": 1,
        },
        {
            "lead_id": "L2",
            "created_at": dt.datetime(2026, 1, 3, 11, 30),
            "channel": "paid_search",
            **_nulls("L2"),
            "_import_id": 1,
        },
    ]
    (log,) = workspace.imports()
    assert log["file_name"] == "leads.csv"
    assert log["table_name"] == "leads"
    assert log["added"] == 2
    assert len(log["sha256"]) == 64
    assert log["actor"]


def _nulls(_lead: str) -> dict[str, None]:
    return dict.fromkeys(
        [
            "campaign_id",
            "account_id",
            "owner",
            "email",
            "company",
            "country",
            "industry",
            "employees",
            "score",
        ]
    )


def test_reimporting_the_same_file_changes_nothing(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "leads.csv", LEADS)
    workspace.import_files("leads", [path])
    before = rows(workspace, "leads")
    (again,) = workspace.import_files("leads", [path])
    assert (again.added, again.updated, again.unchanged) == (0, 0, 2)
    assert rows(workspace, "leads") == before


def test_a_known_key_replaces_the_old_version_but_keeps_columns_the_file_lacks(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.import_files("leads", [write(tmp_path / "a.csv", "lead_id,created_at,score\nL1,2026-01-02,10\n")])
    (result,) = workspace.import_files(
        "leads",
        [write(tmp_path / "b.csv", "lead_id,created_at,channel\nL1,2026-01-05,email\nL2,2026-01-06,\n")],
    )
    assert (result.added, result.updated, result.unchanged) == (1, 1, 0)
    first = rows(workspace, "leads", "lead_id")[0]
    assert first["created_at"] == dt.datetime(2026, 1, 5)
    assert first["channel"] == "email"
    assert first["score"] == 10.0, "a column the new file does not provide is kept"
    assert first["_import_id"] == 2


def test_extra_columns_are_kept_as_typed_attributes(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "leads.csv",
        "lead_id,created_at,Lead Source,Total Visits,Zip,Opted In\n"
        "L1,2026-01-02,Web,5,02139,true\nL2,2026-01-03,,12,94105,false\n",
    )
    (result,) = workspace.import_files("leads", [path])
    assert result.new_attributes == ["lead_source", "total_visits", "zip", "opted_in"]
    types = workspace.warehouse.columns("leads")
    assert (types["lead_source"], types["total_visits"], types["zip"], types["opted_in"]) == (
        "string",
        "integer",
        "string",
        "boolean",
    )
    first = rows(workspace, "leads", "lead_id")[0]
    assert (first["lead_source"], first["total_visits"], first["zip"], first["opted_in"]) == (
        "Web",
        5,
        "02139",
        True,
    )


def test_an_attribute_keeps_its_type_in_later_imports(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "a.csv", "lead_id,created_at,visits\nL1,2026-01-02,5\n")])
    error = fails(workspace, "leads", write(tmp_path / "b.csv", "lead_id,created_at,visits\nL2,2026-01-02,many\n"))
    assert "line 2, column 'visits': value 'many': cannot be read; expected a whole number" in str(error)


def test_parquet_imports_with_native_types(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    pq.write_table(
        pa.table(
            {
                "lead_id": ["L1", "L1"],
                "stage": ["lead", "mql"],
                "occurred_at": pa.array([dt.datetime(2026, 1, 2, 10), dt.datetime(2026, 1, 4, 9)], pa.timestamp("us")),
                "amount": [None, 12.5],
            }
        ),
        path,
    )
    (result,) = workspace.import_files("stage_events", [path])
    assert result.added == 2
    assert [r["occurred_at"] for r in rows(workspace, "stage_events", "occurred_at")] == [
        dt.datetime(2026, 1, 2, 10),
        dt.datetime(2026, 1, 4, 9),
    ]


def test_several_files_import_together_or_not_at_all(workspace: Workspace, tmp_path: Path) -> None:
    good = write(tmp_path / "good.csv", LEADS)
    bad = write(tmp_path / "bad.csv", "lead_id,created_at\nL3,yesterday\n")
    before = snapshot(workspace)
    with pytest.raises(ImportValidationError, match=r"bad\.csv, line 2"):
        workspace.import_files("leads", [good, bad])
    assert snapshot(workspace) == before
    results = workspace.import_files(
        "leads", [good, write(tmp_path / "more.csv", "lead_id,created_at\nL3,2026-02-01\n")]
    )
    assert [r.added for r in results] == [2, 1]
    assert [r.import_id for r in results] == [1, 2]


# --- time zones and formats ---------------------------------------------------------------------------------------
def test_timestamps_are_stored_in_utc(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.toml", 'timezone = "America/New_York"\n')
    path = write(
        tmp_path / "leads.csv",
        "lead_id,created_at\nL1,2026-01-02 10:00\nL2,2026-07-02 10:00\n"
        "L3,2026-01-02T10:00:00+01:00\nL4,2026-01-02T10:00:00Z\n",
    )
    workspace.import_files("leads", [path], mapping=str(mapping))
    assert [r["created_at"] for r in rows(workspace, "leads", "lead_id")] == [
        dt.datetime(2026, 1, 2, 15, 0),  # EST, UTC-5
        dt.datetime(2026, 7, 2, 14, 0),  # EDT, UTC-4
        dt.datetime(2026, 1, 2, 9, 0),  # an explicit offset wins over the mapping's zone
        dt.datetime(2026, 1, 2, 10, 0),
    ]


def test_a_mapping_renames_parses_formats_and_maps_values(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(
        tmp_path / "deals.toml",
        'table = "opportunities"\n'
        "[columns]\n"
        'opportunity_id = "Deal ID"\n'
        'created_at = { column = "Opened", format = "%d/%m/%Y" }\n'
        'status = { column = "Stage", values = { "Closed Won" = "won", "Closed Lost" = "lost" }, otherwise = "open" }\n'
        'stage = "Stage"\n'
        'amount = "Value"\n'
        'product = { constant = "GTX Pro" }\n',
    )
    path = write(
        tmp_path / "deals.csv",
        "Deal ID,Opened,Stage,Value\nD1,31/01/2026,Closed Won,1200.5\n"
        "D2,01/02/2026,Proposal,\nD3,02/02/2026,Closed Lost,300\n",
    )
    workspace.import_files("opportunities", [path], mapping=str(mapping))
    got = [
        (r["opportunity_id"], r["created_at"], r["status"], r["stage"], r["amount"], r["product"])
        for r in rows(workspace, "opportunities", "opportunity_id")
    ]
    assert got == [
        ("D1", dt.datetime(2026, 1, 31), "won", "Closed Won", 1200.5, "GTX Pro"),
        ("D2", dt.datetime(2026, 2, 1), "open", "Proposal", None, "GTX Pro"),
        ("D3", dt.datetime(2026, 2, 2), "lost", "Closed Lost", 300.0, "GTX Pro"),
    ]


def test_wide_lifecycle_dates_become_one_event_per_stage(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    mapping = write(
        tmp_path / "life.toml",
        'table = "stage_events"\n[columns]\nlead_id = "Record ID"\n'
        '[stage_columns]\nlead = "Became a Lead Date"\nmql = "Became an MQL Date"\n',
    )
    path = write(
        tmp_path / "life.csv",
        "Record ID,Became a Lead Date,Became an MQL Date\nL1,2026-01-02 10:00,2026-01-05 09:00\nL2,2026-01-03 11:30,\n",
    )
    (result,) = workspace.import_files("stage_events", [path], mapping=str(mapping))
    assert result.added == 3
    got = [
        (r["lead_id"], r["stage"], r["occurred_at"])
        for r in rows(workspace, "stage_events", ("lead_id", "occurred_at"))
    ]
    assert got == [
        ("L1", "lead", dt.datetime(2026, 1, 2, 10)),
        ("L1", "mql", dt.datetime(2026, 1, 5, 9)),
        ("L2", "lead", dt.datetime(2026, 1, 3, 11, 30)),
    ]


def test_a_row_filter_keeps_only_matching_rows(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    mapping = write(
        tmp_path / "hist.toml",
        'table = "stage_events"\n[filter]\ncolumn = "Field"\nvalues = ["Status"]\n'
        '[columns]\nlead_id = "LeadId"\noccurred_at = "CreatedDate"\n'
        'stage = { column = "NewValue", values = { "Working" = "mql", "Qualified" = "sql" } }\n',
    )
    path = write(
        tmp_path / "hist.csv",
        "LeadId,Field,NewValue,CreatedDate\nL1,Status,Working,2026-01-04\nL1,Rating,Hot,2026-01-04\nL1,Status,Qualified,2026-01-09\n",
    )
    (result,) = workspace.import_files("stage_events", [path], mapping=str(mapping))
    assert (result.added, result.filtered) == (2, 1)


# --- bad input: a clear error that names the place, and nothing changed ----------------------------------------
def test_wrong_delimiter_in_the_mapping_names_the_missing_columns(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "semi.csv", "lead_id;created_at\nL1;2026-01-02\n")
    mapping = write(tmp_path / "m.toml", 'delimiter = ","\n')
    error = fails(workspace, "leads", path, mapping=str(mapping))
    assert "semi.csv, line 1, column 'created_at': required column missing from the header" in str(error)
    assert "is the delimiter right? the header looks ';'-separated: set delimiter = ';'" in str(error)


def test_a_semicolon_file_is_read_by_sniffing_the_delimiter(workspace: Workspace, tmp_path: Path) -> None:
    (result,) = workspace.import_files("leads", [write(tmp_path / "semi.csv", "lead_id;created_at\nL1;2026-01-02\n")])
    assert result.added == 1


def test_utf8_with_bom_is_read_correctly(workspace: Workspace, tmp_path: Path) -> None:
    write(tmp_path / "bom.csv", "\ufefflead_id,created_at,company\nL1,2026-01-02,Société Générale\n")
    workspace.import_files("leads", [tmp_path / "bom.csv"])
    assert rows(workspace, "leads")[0]["company"] == "Société Générale"


def test_latin1_is_detected_and_read_correctly(workspace: Workspace, tmp_path: Path) -> None:
    write(
        tmp_path / "latin.csv",
        "lead_id,created_at,company\nL1,2026-01-02,Müller & Söhne\n",
        encoding="latin-1",
    )
    (result,) = workspace.import_files("leads", [tmp_path / "latin.csv"])
    assert result.encoding == "latin-1"
    assert rows(workspace, "leads")[0]["company"] == "Müller & Söhne"


def test_missing_required_column(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", write(tmp_path / "l.csv", "lead_id,channel\nL1,email\n"))
    assert "l.csv, line 1, column 'created_at': required column missing from the header" in str(error)
    assert "the file's columns are: lead_id, channel" in str(error)


def test_a_mapping_naming_a_column_the_file_lacks(workspace: Workspace, tmp_path: Path) -> None:
    mapping = write(tmp_path / "m.toml", '[columns]\ncreated_at = "Create Date"\n')
    before = snapshot(workspace)
    with pytest.raises(
        MappingError,
        match=r"maps created_at from 'Create Date', which l.csv lacks; its columns are: lead_id, created",
    ):
        workspace.import_files(
            "leads", [write(tmp_path / "l.csv", "lead_id,created\nL1,2026-01-02\n")], mapping=str(mapping)
        )
    assert snapshot(workspace) == before


def test_empty_file(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", write(tmp_path / "empty.csv", ""))
    assert "empty.csv: the file is empty" in str(error)


def test_header_only(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", write(tmp_path / "h.csv", "lead_id,created_at\n"))
    assert "h.csv: the file has a header but no rows" in str(error)


def test_unparsable_date(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", write(tmp_path / "d.csv", "lead_id,created_at\nL1,2026-01-02\nL2,31st of May\n"))
    assert "d.csv, line 3, column 'created_at': value '31st of May': cannot be read; expected a date-time" in str(error)


def test_amount_not_a_number_or_negative(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "o.csv",
        "opportunity_id,created_at,status,amount\nO1,2026-01-02,open,12k\nO2,2026-01-02,won,-5\nO3,2026-01-02,lost,7\n",
    )
    error = fails(workspace, "opportunities", path)
    assert error.total == 2
    assert "o.csv, line 2, column 'amount': value '12k': cannot be read; expected a number" in str(error)
    assert "o.csv, line 3, column 'amount': value '-5': is negative; expected >= 0" in str(error)


def test_duplicate_key_within_a_file(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-02\nL1,2026-01-03\n")
    error = fails(workspace, "leads", path)
    assert "l.csv, line 4, column 'lead_id': value 'lead_id=L1': duplicate key: the same leads row is on line 2" in str(
        error
    )


def test_unknown_stage_name_hints_at_a_value_map(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    error = fails(
        workspace,
        "stage_events",
        write(tmp_path / "e.csv", "lead_id,stage,occurred_at\nL1,MQL-ish,2026-01-04\n"),
    )
    assert "e.csv, line 2, column 'stage': value 'MQL-ish': unknown value; expected one of the funnel's stages" in str(
        error
    )
    assert "value map" in str(error)


def test_event_for_an_unknown_lead_is_rejected(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    path = write(tmp_path / "e.csv", "lead_id,stage,occurred_at\nL1,mql,2026-01-04\nL9,mql,2026-01-05\n")
    error = fails(workspace, "stage_events", path)
    assert "e.csv, line 3, column 'lead_id': value 'L9': unknown lead" in str(error)
    assert "--create-missing" in str(error)


def test_create_missing_creates_the_unknown_leads(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "e.csv", "lead_id,stage,occurred_at\nL9,lead,2026-01-05\nL9,mql,2026-01-07\n")
    (result,) = workspace.import_files("stage_events", [path], create_missing=True)
    assert (result.added, result.created_leads) == (2, 1)
    assert rows(workspace, "leads")[0]["created_at"] == dt.datetime(2026, 1, 5)


def test_all_problems_are_reported_in_one_run(workspace: Workspace, tmp_path: Path) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    path = write(
        tmp_path / "e.csv",
        "lead_id,stage,occurred_at\nL1,mqll,2026-01-06\nL9,sql,2026-01-07\nL2,mql,notadate\n",
    )
    error = fails(workspace, "stage_events", path)
    assert error.total == 3
    assert [i.line for i in error.issues] == [2, 3, 4]


def test_a_huge_field_is_kept_verbatim(workspace: Workspace, tmp_path: Path) -> None:
    big = "x" * (1024 * 1024)
    workspace.import_files("leads", [write(tmp_path / "big.csv", f"lead_id,created_at,notes\nL1,2026-01-02,{big}\n")])
    assert rows(workspace, "leads")[0]["notes"] == big


def test_formula_like_text_is_kept_verbatim(workspace: Workspace, tmp_path: Path) -> None:
    text = '=HYPERLINK("http://x"),+1,-2,@SUM(A1)'
    path = write(
        tmp_path / "f.csv",
        "lead_id,created_at,company\n" + f'L1,2026-01-02,"{text.replace(chr(34), chr(34) * 2)}"\n',
    )
    workspace.import_files("leads", [path])
    assert rows(workspace, "leads")[0]["company"] == text


def test_binary_garbage(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "garbage.csv"
    path.write_bytes(bytes(range(256)) * 40)
    error = fails(workspace, "leads", path)
    assert "garbage.csv: the file holds binary data (a NUL byte at offset 0)" in str(error)


def test_a_file_named_parquet_that_is_not(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", write(tmp_path / "x.parquet", LEADS))
    assert "x.parquet: the file is not Parquet" in str(error)


def test_missing_file(workspace: Workspace, tmp_path: Path) -> None:
    error = fails(workspace, "leads", tmp_path / "nope.csv")
    assert "nope.csv: the file does not exist" in str(error)


def test_a_mapping_for_another_table_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    with pytest.raises(MappingError, match="is for table 'opportunities', not 'leads'"):
        workspace.import_files("leads", [write(tmp_path / "l.csv", LEADS)], mapping=load_mapping("hubspot-deals"))


def test_errors_beyond_the_first_fifty_are_counted(workspace: Workspace, tmp_path: Path) -> None:
    body = "".join(f"L{i},not a date\n" for i in range(120))
    error = fails(workspace, "leads", write(tmp_path / "many.csv", "lead_id,created_at\n" + body))
    assert error.total == 120
    assert len(error.issues) == 50
    assert "120 problems found; nothing was imported." in str(error)
    assert "      120 x many.csv: created_at: cannot be read" in str(error)
    assert "... and 70 more" in str(error)


# --- --skip-invalid -----------------------------------------------------------------------------------------------
def test_skip_invalid_imports_good_rows_and_writes_rejects_beside_the_input(
    workspace: Workspace, tmp_path: Path
) -> None:
    workspace.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
    path = write(
        tmp_path / "e.csv",
        "lead_id,stage,occurred_at,note\nL1,mql,2026-01-05,ok\nL1,mqll,2026-01-06,=cmd()\nL9,sql,2026-01-07,\n"
        "L2,mql,notadate,\nL1,mql,2026-01-05,again\n",
    )
    (result,) = workspace.import_files("stage_events", [path], skip_invalid=True)
    assert (result.added, result.rejected) == (1, 4)
    assert result.rejects_path == str(tmp_path / "e.csv.rejected.csv")
    assert Path(result.rejects_path).read_text().splitlines() == [
        "line,reason,lead_id,stage,occurred_at,note",
        "3,stage: unknown value,L1,mqll,2026-01-06,'=cmd()",
        "4,lead_id: unknown lead,L9,sql,2026-01-07,",
        "5,occurred_at: cannot be read,L2,mql,notadate,",
        "6,duplicate key of line 2,L1,mql,2026-01-05,again",
    ]
    (log,) = [r for r in workspace.imports() if r["import_id"] == result.import_id]
    assert (log["added"], log["rejected"]) == (1, 4)


def test_malformed_rows_are_reported_with_their_true_line(workspace: Workspace, tmp_path: Path) -> None:
    path = write(
        tmp_path / "m.csv",
        "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-03,extra,fields\nL3,not a date\nL5\nL4,2026-01-05\n",
    )
    error = fails(workspace, "leads", path)
    assert [(i.line, i.problem) for i in error.issues] == [
        (3, "malformed CSV row (too many columns)"),
        (4, "cannot be read"),
        (5, "malformed CSV row (missing columns)"),
    ]
    (result,) = workspace.import_files("leads", [path], skip_invalid=True)
    assert (result.added, result.rejected) == (2, 3)
    assert Path(str(result.rejects_path)).read_text().splitlines() == [
        "line,reason,lead_id,created_at",
        '3,"malformed CSV row (too many columns): L2,2026-01-03,extra,fields"',
        "4,created_at: cannot be read,L3,not a date",
        "5,malformed CSV row (missing columns): L5",
    ]


def test_an_unbalanced_quote_that_defeats_detection_is_explained(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "q.csv", 'lead_id,created_at\nL1,2026-01-02\n"L5,2026-01-05\nL4,2026-01-05\n')
    error = fails(workspace, "leads", path)
    assert "q.csv, line 3: unbalanced quote: a quoted field opened on this line is never closed" in str(error)


def test_spend_by_channel_alone_imports_with_a_null_campaign_and_stays_idempotent(
    workspace: Workspace, tmp_path: Path
) -> None:
    spend = write(tmp_path / "spend.csv", "date,channel,amount\n2026-01-05,email,100\n2026-01-05,paid_search,250.5\n")
    (first,) = workspace.import_files("spend", [spend])
    (second,) = workspace.import_files("spend", [spend])
    assert (first.added, second.added, second.updated, second.unchanged) == (2, 0, 0, 2)
    rows = workspace.warehouse.table("spend").order_by("channel").to_pyarrow().to_pylist()
    assert [(r["channel"], r["campaign_id"], r["amount"]) for r in rows] == [
        ("email", None, 100.0),
        ("paid_search", None, 250.5),
    ]
