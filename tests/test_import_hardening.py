"""Issue 16, import validation: values no figure can use are refused at import, each with its file, line, column and
value; a file cannot make the importer do unbounded work; and faults that were tracebacks or misplaced are one
located message. Every case runs on DuckDB and PostgreSQL (the `workspace` fixture) and changes nothing."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tandem import ConfigError, ImportValidationError, MappingError, Workspace
from tandem.errors import Issue
from tandem.forecast.history import load_history
from tandem.settings import resolve_settings
from tandem.warehouse import importer
from tandem.warehouse.importer import ImportLimits, import_files
from tandem.warehouse.mapping import Mapping

from .conftest import write

OPPORTUNITIES = "opportunity_id,created_at,status,amount,close_date\n"
FINITE = "a finite number (NaN, Infinity and numbers too large to hold, such as 1e309, are refused)"
DATES = "a date from 1900-01-01 to 2200-12-31 (settings import_earliest_date and import_latest_date in tandem.toml)"
VISIBLE = (
    "an id of visible characters only: remove control characters, zero-width spaces, byte order marks and "
    "direction marks (shown escaped in the value)"
)


def state(ws: Workspace) -> dict[str, Any]:
    """Row counts of every table and the import log: what a refused import must leave as it was."""
    counts = {name: ws.warehouse.table(name).count().execute() for name in ws.status()["tables"]}
    return {"counts": counts, "log": [(i["import_id"], i["file_name"], i["added"]) for i in ws.imports()]}


def seeded(ws: Workspace, tmp_path: Path) -> dict[str, Any]:
    """Import one lead and one deal, so that "nothing changed" is checked against a warehouse holding rows."""
    ws.import_files("leads", [write(tmp_path / "seed-leads.csv", "lead_id,created_at\nS1,2026-01-01\n")])
    seed = write(tmp_path / "seed-opps.csv", OPPORTUNITIES + "SO-1,2026-01-02,won,10,2026-02-01\n")
    ws.import_files("opportunities", [seed])
    return state(ws)


def refused(ws: Workspace, kind: str, path: Path, before: dict[str, Any], **kw: Any) -> ImportValidationError:
    with pytest.raises(ImportValidationError) as info:
        ws.import_files(kind, [path], **kw)
    assert state(ws) == before, "a refused import must change nothing"
    return info.value


def import_directly(ws: Workspace, kind: str, path: Path, limits: ImportLimits) -> None:
    """Import with `limits` (the workspace passes its settings' limits itself)."""
    try:
        import_files(ws.warehouse, kind, [path], Mapping(), stages=ws.stages, limits=limits)
    finally:
        ws.warehouse.release()


def issues(error: ImportValidationError) -> list[str]:
    return [str(issue) for issue in error.issues]


# --- values a figure cannot use -----------------------------------------------------------------------------------
def test_non_finite_amounts_are_refused_each_at_its_line(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(
        tmp_path / "o.csv",
        OPPORTUNITIES
        + "OB-1,2026-01-01,won,NaN,2026-02-01\n"
        + "OB-2,2026-01-01,won,Infinity,2026-02-01\n"
        + "OB-3,2026-01-01,won,-Infinity,2026-02-01\n"
        + "OB-4,2026-01-01,won,1e309,2026-02-01\n"
        + "OB-5,2026-01-01,won,100,2026-02-01\n",
    )
    error = refused(workspace, "opportunities", path, before)
    assert issues(error) == [
        f"{path}, line 2, column 'amount': value 'NaN': is not a finite number; expected {FINITE}",
        f"{path}, line 3, column 'amount': value 'Infinity': is not a finite number; expected {FINITE}",
        f"{path}, line 4, column 'amount': value '-Infinity': is not a finite number; expected {FINITE}",
        f"{path}, line 5, column 'amount': value '1e309': is not a finite number; expected {FINITE}",
    ]


def test_a_non_finite_score_or_numeric_attribute_is_refused(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(
        tmp_path / "l.csv",
        "lead_id,created_at,score,Lead Rating\nL1,2026-01-01,inf,4.5\nL2,2026-01-01,3,-inf\nL3,2026-01-01,2,1\n",
    )
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 2, column 'score': value 'inf': is not a finite number; expected {FINITE}",
        f"{path}, line 3, column 'Lead Rating': value '-inf': is not a finite number; expected {FINITE}",
    ]


def test_an_integer_too_large_to_hold_is_refused_not_a_traceback(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(tmp_path / "l.csv", "lead_id,created_at,employees\nL1,2026-01-01,99999999999999999999\n")
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 2, column 'employees': value '99999999999999999999': cannot be read; expected a whole number"
    ]


def test_dates_outside_the_accepted_range_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(
        tmp_path / "o.csv",
        OPPORTUNITIES
        + "OB-1,2026-01-01,won,100,0001-01-01\n"
        + "OB-2,9999-12-31 23:00,open,100,\n"
        + "OB-3,2026-01-01,won,100,infinity\n"
        + "OB-4,1899-12-31 23:59:59,open,100,2200-12-31\n"
        + "OB-5,1900-01-01,lost,100,2201-01-01\n",
    )
    error = refused(workspace, "opportunities", path, before)
    problem = "is outside the dates tandem accepts"
    assert issues(error) == [
        f"{path}, line 2, column 'close_date': value '0001-01-01': {problem}; expected {DATES}",
        f"{path}, line 3, column 'created_at': value '9999-12-31 23:00': {problem}; expected {DATES}",
        f"{path}, line 4, column 'close_date': value 'infinity': {problem}; expected {DATES}",
        f"{path}, line 5, column 'created_at': value '1899-12-31 23:59:59': {problem}; expected {DATES}",
        f"{path}, line 6, column 'close_date': value '2201-01-01': {problem}; expected {DATES}",
    ]


def test_a_deal_closing_before_it_was_created_is_taken_and_the_forecast_ages_it_from_its_creation(
    workspace: Workspace, tmp_path: Path
) -> None:
    """CRMs hold such deals (entered after they closed, migrated): refusing them would refuse real exports. The
    forecast, which ages deals from creation to close, takes them as closed at age 0."""
    path = write(
        tmp_path / "o.csv",
        OPPORTUNITIES + "OB-1,2026-03-01 09:00,won,100,2026-02-28\nOB-2,2026-03-01 23:00,lost,100,2026-03-05\n",
    )
    workspace.import_files("opportunities", [path])
    history = load_history(workspace, dt.datetime(2026, 6, 1))
    march_first = float((dt.date(2026, 3, 1) - dt.date(1970, 1, 1)).days)
    assert history.closed.tolist() == [march_first, march_first + 4]


def test_the_date_range_comes_from_the_settings(workspace: Workspace, tmp_path: Path) -> None:
    settings = resolve_settings({"import_earliest_date": "2020-01-01", "import_latest_date": "2030-12-31"})
    limits = ImportLimits.from_settings(settings)
    assert (limits.earliest_date, limits.latest_date) == (dt.date(2020, 1, 1), dt.date(2030, 12, 31))
    before = state(workspace)
    path = write(tmp_path / "o.csv", OPPORTUNITIES + "OB-1,2019-12-31,won,100,2026-02-01\n")
    with pytest.raises(ImportValidationError) as info:
        import_directly(workspace, "opportunities", path, limits)
    assert issues(info.value) == [
        f"{path}, line 2, column 'created_at': value '2019-12-31': is outside the dates tandem accepts; expected a "
        "date from 2020-01-01 to 2030-12-31 (settings import_earliest_date and import_latest_date in tandem.toml)"
    ]
    assert state(workspace) == before


def test_a_date_setting_may_be_written_unquoted_in_tandem_toml() -> None:
    """TOML reads ``import_earliest_date = 2000-01-01`` as a date, not a string: it is the same setting."""
    settings = resolve_settings({"import_earliest_date": dt.date(2000, 1, 1)})
    assert settings["import_earliest_date"] == "2000-01-01"


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"import_earliest_date": "1/1/1900"},
            "setting import_earliest_date must be a date written YYYY-MM-DD, got '1/1/1900'",
        ),
        (
            {"import_latest_date": "2200-02-30"},
            "setting import_latest_date must be a date written YYYY-MM-DD, got '2200-02-30'",
        ),
        (
            {"import_earliest_date": "2030-01-01", "import_latest_date": "2020-01-01"},
            "setting import_earliest_date must not be after import_latest_date",
        ),
    ],
)
def test_a_date_range_setting_that_is_not_a_range_is_refused(overrides: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_settings(overrides)
    assert str(info.value) == message


def test_invisible_and_control_characters_in_ids_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    rows = ["L\u200b1", "\ufeffL2", "L\u202e3", "L\x014", "L\u20605", "L\t6"]
    body = "".join(f"{lead},2026-01-01,Acme\u200b\n" for lead in rows)
    path = write(tmp_path / "l.csv", "lead_id,created_at,company\n" + body)
    error = refused(workspace, "leads", path, before)
    escaped = ["L\\u200b1", "\\ufeffL2", "L\\u202e3", "L\\x014", "L\\u20605", "L\\t6"]
    assert issues(error) == [
        f"{path}, line {n}, column 'lead_id': value '{value}': holds a control or invisible character; "
        f"expected {VISIBLE}"
        for n, value in enumerate(escaped, start=2)
    ]


def test_invisible_characters_in_a_referenced_id_are_refused(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(tmp_path / "o.csv", "opportunity_id,created_at,status,lead_id\nOB-1,2026-01-01,open,S\u200d1\n")
    error = refused(workspace, "opportunities", path, before)
    assert issues(error) == [
        f"{path}, line 2, column 'lead_id': value 'S\\u200d1': holds a control or invisible character; "
        f"expected {VISIBLE}"
    ]


def test_a_nul_byte_after_the_first_64_kib_is_refused_at_its_physical_line(
    workspace: Workspace, tmp_path: Path
) -> None:
    before = seeded(workspace, tmp_path)
    filler = "x" * 80
    rows = "".join(f"L{i},2026-01-01,{filler}\n" for i in range(1000))  # 1000 rows of 97+ bytes: past 64 KiB
    path = write(tmp_path / "l.csv", "lead_id,created_at,note\n" + rows + 'L1000,2026-01-01,"a\x00\nb"\nL1001,bad,c\n')
    assert path.read_bytes().index(b"\x00") > 64 * 1024
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 1002, column 'note': value 'a\\x00\\nb': holds a NUL character; expected text without NUL "
        "(0x00) characters: export the file again as UTF-8 text",
        f"{path}, line 1004, column 'created_at': value 'bad': cannot be read; expected a date-time such as "
        "2026-01-31 14:05 or 2026-01-31T14:05:00Z",
    ]


def test_duplicate_header_names_are_refused_naming_both_columns(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(tmp_path / "l.csv", "lead_id,created_at,Region, region \nL1,2026-01-01,EU,US\n")
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 1, column 'region': two columns have the same name: column 3 ('Region') and column 4 "
        "('region'); expected each column named once (names are compared trimmed and ignoring case): rename or "
        "remove one"
    ]


# --- limits on the work a file can cause --------------------------------------------------------------------------
def test_a_one_row_file_of_10000_columns_is_refused_from_its_header(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = seeded(workspace, tmp_path)
    names = ["lead_id", "created_at", *(f"c{i}" for i in range(9998))]
    path = write(tmp_path / "wide.csv", ",".join(names) + "\n" + ",".join(["L1", "2026-01-01", *["1"] * 9998]) + "\n")
    assert 50_000 < path.stat().st_size < 80_000

    def never(*_args: object) -> None:
        raise AssertionError("the file was read: the column limit must refuse it from the header")

    monkeypatch.setattr(importer, "_read_raw", never)
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 1: the file has 10,000 columns, more than the 500 an import accepts; expected at most 500 "
        "columns: remove the columns you do not need, or raise import_max_columns under [settings] in tandem.toml"
    ]


def test_a_file_adding_too_many_attributes_is_refused_before_their_types_are_read(
    workspace: Workspace, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = seeded(workspace, tmp_path)
    names = ["lead_id", "created_at", *(f"Extra {i}" for i in range(51))]
    path = write(tmp_path / "l.csv", ",".join(names) + "\n" + ",".join(["L1", "2026-01-01", *["x"] * 51]) + "\n")

    def never(*_args: object) -> None:
        raise AssertionError("an attribute's type was read: the attribute limit must refuse the file first")

    monkeypatch.setattr(importer, "_infer_attribute_type", never)
    error = refused(workspace, "leads", path, before)
    listed = ", ".join(f"extra_{i}" for i in range(10))
    assert issues(error) == [
        f"{path}, line 1: the file would add 51 new attribute columns to leads ({listed} and 41 more), more than "
        "the 50 one import may add; expected map the columns you need in a mapping file and set keep_unmapped = "
        "false (or list the others under ignore), or raise import_max_new_attributes under [settings] in tandem.toml"
    ]


def test_the_column_limits_come_from_the_settings() -> None:
    limits = ImportLimits.from_settings(resolve_settings({"import_max_columns": 20, "import_max_new_attributes": 3}))
    assert (limits.max_columns, limits.max_new_attributes) == (20, 3)
    assert ImportLimits.from_settings(resolve_settings({})) == ImportLimits()


# --- tracebacks and misplaced faults, now one located line --------------------------------------------------------
def test_a_truncated_parquet_file_is_refused_in_one_line(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    whole = tmp_path / "whole.parquet"
    pq.write_table(pa.table({"lead_id": ["L1", "L2"], "created_at": ["2026-01-01", "2026-01-02"]}), whole)
    path = tmp_path / "cut.parquet"
    path.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    error = refused(workspace, "leads", path, before)
    (issue,) = error.issues
    assert (issue.file, issue.line, issue.column, issue.value) == (str(path), None, None, None)
    assert issue.problem.startswith("the file is not a readable Parquet file (")
    assert "\n" not in issue.problem
    assert issue.expected == "a complete Parquet file: it may be truncated or damaged, so export or copy it again"


def test_a_mapping_file_in_latin_1_is_refused_in_one_line(workspace: Workspace, tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_bytes('table = "leads"\n# Soci\u00e9t\u00e9\n[columns]\nlead_id = "Id"\n'.encode("latin-1"))
    before = state(workspace)
    with pytest.raises(MappingError) as info:
        workspace.import_files("leads", [write(tmp_path / "l.csv", "Id,created_at\nL1,2026-01-01\n")], mapping=mapping)
    assert str(info.value) == (
        f"{mapping}: line 2: byte 0xe9 is not UTF-8 (TOML files are UTF-8); save the mapping file as UTF-8 (in most "
        "editors: Save as, encoding UTF-8) and try again"
    )
    assert state(workspace) == before


def test_a_mapping_date_format_with_an_unknown_directive_is_refused_when_it_loads(
    workspace: Workspace, tmp_path: Path
) -> None:
    mapping = write(tmp_path / "m.toml", 'table = "leads"\n[columns]\ncreated_at = { column = "c", format = "%Q%Y" }\n')
    before = state(workspace)
    with pytest.raises(MappingError) as info:
        workspace.import_files("leads", [write(tmp_path / "l.csv", "lead_id,c\nL1,2026\n")], mapping=mapping)
    assert str(info.value) == (
        f"{mapping}: columns.created_at.format: Value error, date format '%Q%Y' has %Q, which is not a strptime "
        "directive; use directives such as %Y, %m, %d, %H, %M, %S, %z (e.g. '%Y-%m-%d' or '%d/%m/%Y %H:%M'), and "
        "%% for a percent sign"
    )
    assert state(workspace) == before


def test_mixed_crlf_and_lf_line_endings_import(workspace: Workspace, tmp_path: Path) -> None:
    path = write(tmp_path / "l.csv", 'lead_id,created_at,note\r\nL1,2026-01-01,a\nL2,2026-01-02,"b\r\nc"\r\nL3,,x\n')
    error = refused(workspace, "leads", path, state(workspace))
    assert issues(error) == [f"{path}, line 5, column 'created_at': missing value; expected a value for created_at"]
    write(path, 'lead_id,created_at,note\r\nL1,2026-01-01,a\nL2,2026-01-02,"b\r\nc"\r\nL3,2026-01-03,x\n')
    (result,) = workspace.import_files("leads", [path])
    assert (result.added, result.rejected) == (3, 0)
    leads = workspace.warehouse.table("leads").order_by("lead_id").select("lead_id", "note").to_pyarrow()
    assert leads.to_pylist() == [
        {"lead_id": "L1", "note": "a"},
        {"lead_id": "L2", "note": "b\nc"},
        {"lead_id": "L3", "note": "x"},
    ]


def test_problems_are_named_at_their_physical_lines(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(
        tmp_path / "l.csv",
        'lead_id,created_at,note\nL1,2026-01-01,"one\ntwo\nthree"\n\nL2,2026-01-01,x,extra\nL3,later,y\n',
    )
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 6: value 'L2,2026-01-01,x,extra': malformed CSV row (too many columns); expected one value "
        "per header column, quotes balanced",
        f"{path}, line 7, column 'created_at': value 'later': cannot be read; expected a date-time such as "
        "2026-01-31 14:05 or 2026-01-31T14:05:00Z",
    ]


def test_an_unbalanced_quote_on_line_2_is_named_as_such(workspace: Workspace, tmp_path: Path) -> None:
    before = seeded(workspace, tmp_path)
    path = write(tmp_path / "l.csv", 'lead_id,created_at\nL1,"2026-01-01\nL2,2026-01-02\nL3,2026-01-03\n')
    error = refused(workspace, "leads", path, before)
    assert issues(error) == [
        f"{path}, line 2: unbalanced quote: a quoted field opened on this line is never closed; expected a closing "
        'quote for every opening one (a quote inside a quoted field is doubled: "")'
    ]


def test_skip_invalid_is_offered_only_when_rows_can_be_set_aside() -> None:
    """A file too wide, or with a broken header, has no row --skip-invalid could leave out: the hint says so."""
    whole = ImportValidationError([Issue("f.csv", 1, None, None, "the file has 10,000 columns", "at most 500")])
    assert str(whole).splitlines()[-1] == "Fix the file or the mapping and import again."
    row = ImportValidationError([Issue("f.csv", 2, "amount", "NaN", "is not a finite number", "a finite number")])
    assert str(row).splitlines()[-1] == (
        "Fix the file or the mapping and import again, or use --skip-invalid to import the valid rows and write the "
        "rejected ones, each with its reason, beside the input."
    )
