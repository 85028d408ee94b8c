"""Import: map, validate, upsert. Atomic, idempotent, streamed.

How an import works
-------------------
1. **Read.** DuckDB streams the file (CSV or Parquet) into a staging table, every CSV field as text, each row
   numbered with its line in the file. Nothing is loaded whole into Python memory.
2. **Map and type.** Each canonical column gets one SQL expression from the mapping: source column or constant,
   value map, parse (date formats, time zone to UTC), with a flag per rule that can fail (missing, unparsable,
   negative, unknown value, unknown stage). Duplicate keys within the file are flagged too.
3. **Validate.** Every flagged cell becomes an `Issue` (file, line, column, value, expected). Unless
   ``skip_invalid``, any issue stops the import before the warehouse is touched.
4. **Write, in one transaction.** Rows go to a temporary table in the warehouse; references (stage events and
   activities need a known lead) are checked there; rows whose key is new are inserted, rows whose key is known
   and whose values differ are updated (only the columns this file provides), identical rows are left alone.
   The import log row is written in the same transaction. Commit, or roll back on any error, so a failed or
   killed import leaves the warehouse as it was, and importing the same file twice changes nothing.

**Derived tables** (`Mapping.derived`: HubSpot contacts give leads and stage events) go through the same steps
from the same file, as plans of their own staged after the file's, written in the same transaction under the
same import id, with a log row each. They differ in three ways, because the file is not about them: a derived
mapping whose columns the file lacks does not apply (`_NotApplicable`); rows with no lead or no stage, or a stage
the funnel does not have, are left out and counted (`_Rule.leave_out`) instead of rejected; and their leads may
not be imported yet (counted, kept: they count once those leads are).

All SQL here is written by tandem: identifiers are canonical names or attribute names checked against
``[a-z_][a-z0-9_]*`` (and quoted), and every value that comes from a user (a path, a format, a time zone, a
value map) is passed as a query parameter.
"""

from __future__ import annotations

import csv
import hashlib
import heapq
import io
import os
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb

from tandem.errors import ImportValidationError, Issue, MappingError, TandemError
from tandem.exports import neutralise
from tandem.warehouse.backends import (
    ALLOCATOR_FLUSH,
    IMPORT_LOG,
    IMPORT_LOG_COLUMNS,
    SQL_TYPES,
    Warehouse,
    quote,
    take_import_numbers,
)
from tandem.warehouse.mapping import ColumnSource, Lookup, Mapping, RowFilter
from tandem.warehouse.mapping_checks import check_file
from tandem.warehouse.schema import TABLES, Column, ColumnType, Table, attribute_name
from tandem.warehouse.undo import EarlierImport, earlier_imports, keep_replaced

__all__ = ["ImportLimits", "ImportResult", "import_files"]

Progress = Callable[[str, int, int], None]

_SNIFF_BYTES = 64 * 1024
_OFFSET_PATTERN = r"(Z|z|[+-][0-9]{2}(:?[0-9]{2})?)$"
#: ``__dup_of`` of a staged row rejected for naming an unknown lead (real duplicates hold a line number > 0).
_REJECTED_REFERENCE = -1
#: Characters refused inside ids (RE2 syntax): C0 and C1 controls, zero-width space/non-joiner/joiner, word joiner,
#: byte order mark, bidi embeddings and isolates. Each makes a lookalike of another id.
_INVISIBLE = r"[\x00-\x1f\x7f-\x9f\x{200b}-\x{200d}\x{2060}\x{feff}\x{202a}-\x{202e}\x{2066}-\x{2069}]"
_DELIMITERS = ",;\t|"


@dataclass(frozen=True)
class ImportLimits:
    """What an import accepts beyond the mapping: the bounds that keep a file from breaking a figure (dates a
    period can hold) or exhausting the machine (columns, new attributes, line length). From the workspace's
    settings (`from_settings`); the defaults are the settings' defaults."""

    max_columns: int = 500
    max_new_attributes: int = 50
    earliest_date: date = date(1900, 1, 1)
    latest_date: date = date(2200, 12, 31)
    max_line_bytes: int = 8 * 1024 * 1024

    @classmethod
    def from_settings(cls, settings: dict[str, Any]) -> ImportLimits:
        """The limits a workspace's resolved settings (`tandem.settings.resolve_settings`) set."""
        return cls(
            max_columns=int(settings["import_max_columns"]),
            max_new_attributes=int(settings["import_max_new_attributes"]),
            earliest_date=date.fromisoformat(settings["import_earliest_date"]),
            latest_date=date.fromisoformat(settings["import_latest_date"]),
            max_line_bytes=int(settings["import_max_line_bytes"]),
        )


@dataclass
class ImportResult:
    """What one file's import did."""

    import_id: int
    table: str
    file: str
    sha256: str
    rows_read: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    rejected: int = 0
    filtered: int = 0
    created_leads: int = 0
    attributes: list[str] = field(default_factory=list)
    new_attributes: list[str] = field(default_factory=list)
    encoding: str | None = None
    rejects_path: str | None = None
    issues: list[Issue] = field(default_factory=list)
    #: Earlier imports of the same file (same sha256) still in effect, oldest first (`warnings` says them).
    earlier: list[EarlierImport] = field(default_factory=list)
    #: Source columns the mapping expects that the file lacks (accepted: at most half were missing, or --lenient).
    missing_columns: list[str] = field(default_factory=list)
    #: The derived mapping (`Mapping.derived`) that gave these rows from the file of the import, if any.
    derived: str | None = None
    #: Rows a derived mapping left out, by reason ("no Associated Contact IDs", "stage 'lead' not in the funnel").
    left_out: dict[str, int] = field(default_factory=dict)
    #: Derived rows naming leads not imported yet: kept, they count once those leads are imported.
    unknown_leads: int = 0
    #: What the derived rows mean (the derived mapping's `note`).
    note: str = ""

    def summary(self) -> str:
        parts = [f"{self.added:,} added", f"{self.updated:,} updated", f"{self.unchanged:,} unchanged"]
        if self.rejected:
            parts.append(f"{self.rejected:,} rejected")
        if self.filtered:
            parts.append(f"{self.filtered:,} filtered out")
        if self.created_leads:
            parts.append(f"{self.created_leads:,} missing leads created")
        parts += [f"{count:,} left out ({reason})" for reason, count in self.left_out.items()]
        if self.unknown_leads:
            parts.append(f"{self.unknown_leads:,} for leads not imported yet")
        derived = f" ({self.derived})" if self.derived else ""
        return f"{self.file} -> {self.table}{derived}: " + ", ".join(parts)

    def notes(self) -> list[str]:
        """What the user should know beyond the counts: the same file imported before (into another table: a
        warning), and the columns the mapping expects that the file lacks."""
        found: list[str] = []
        name = Path(self.file).name
        if self.missing_columns:
            found.append(
                f"{name} lacks columns the mapping expects, imported without them: " + ", ".join(self.missing_columns)
            )
        if self.derived:  # the file's own result speaks for it
            return found
        for earlier in self.earlier:
            if self.table in earlier.tables:
                if not (self.added or self.updated):
                    found.append(f"already imported as import {earlier.import_id} on {earlier.when}: nothing changed")
                continue
            found.append(
                f"warning: the same file (sha256 {self.sha256[:12]}) was imported into "
                f"{', '.join(earlier.tables)} as import {earlier.import_id} on {earlier.when}; if that was a "
                f"mistake, undo it with `tandem imports undo {earlier.import_id}`"
            )
        return found


# ---------------------------------------------------------------------------------------------------------------
# Rules: what each typed column is checked for, with the words shown to the user.
# ---------------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Rule:
    flag: str  # SQL boolean expression over the mapped table, true where the row breaks the rule
    column: str | None  # the source column named in the message
    raw: str | None  # SQL expression of the value shown
    problem: str
    expected: str
    #: In a derived table, rows breaking this rule are left out (with this reason) instead of rejected.
    leave_out: str | None = None


@dataclass
class _Plan:
    """Everything decided about one file before SQL runs: sources, expressions, rules."""

    path: Path
    table: Table
    mapping: Mapping
    select: list[str] = field(default_factory=list)  # typed output columns, "expr AS name"
    output: dict[str, ColumnType] = field(default_factory=dict)  # column name -> type
    rules: list[_Rule] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    source_of: dict[str, str] = field(default_factory=dict)  # canonical column -> source column (for messages)
    new_attributes: list[str] = field(default_factory=list)
    source_types: dict[str, str] = field(default_factory=dict)
    encoding: str | None = None
    is_csv: bool = True
    #: SQL true where a typed row is rejected: a rule broken, or a duplicate key (set once flags exist).
    bad: str = "false"
    #: Records the CSV reader itself could not parse (wrong number of fields, bad quoting).
    malformed: list[Issue] = field(default_factory=list)

    #: Temp table of each record's physical line (CSV), when records and lines differ; see `line_of`.
    lines: str | None = None
    limits: ImportLimits = field(default_factory=ImportLimits)
    #: The CSV delimiter read from the header (the mapping's, else the most frequent candidate), if any.
    delimiter: str | None = None
    #: Filled by a derived mapping (`Mapping.derived`) of the file at `file_index` of the import.
    derived: bool = False
    file_index: int = 0
    #: Stage -> the file's column holding its dates (the `stage_columns` present in the file).
    stage_sources: dict[str, str] = field(default_factory=dict)
    #: Synthetic column -> (source column, separator): one row per value of a split cell.
    splits: dict[str, tuple[str, str]] = field(default_factory=dict)
    #: Canonical column -> where its values are looked up in the warehouse (`ColumnSource.lookup`).
    lookups: dict[str, Lookup] = field(default_factory=dict)
    #: Output column -> its typed SQL expression (for rules across columns).
    typed_sql: dict[str, str] = field(default_factory=dict)

    def line_of(self, raw: str) -> str:
        """SQL for the line number of a record of `raw`, from its ``rowid``.

        DuckDB keeps the file's order: the first record is line 2 of a CSV (after the header), row 1 of a Parquet
        file. When the file's physical lines are not one per record (a quoted field holding a line break, blank
        lines, records the reader skipped as malformed), `lines` holds each record's first physical line.
        """
        first = 2 if self.is_csv else 1
        if self.lines is None:
            return f"({raw}.rowid + {first})"
        return f"(SELECT l.line FROM {self.lines} l WHERE l.rid = {raw}.rowid)"

    def param(self, value: Any) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"${name}"


# ---------------------------------------------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------------------------------------------
def import_files(
    warehouse: Warehouse,
    kind: str,
    paths: Sequence[Path],
    mapping: Mapping,
    *,
    stages: Sequence[str],
    skip_invalid: bool = False,
    create_missing: bool = False,
    actor: str = "unknown",
    max_line_bytes: int = 8 * 1024 * 1024,
    errors_shown: int = 50,
    progress: Progress | None = None,
    limits: ImportLimits | None = None,
    origin: str | None = None,
) -> list[ImportResult]:
    """Import `paths` into canonical table `kind`, all files in one transaction. See the module docstring.

    `limits` (default: the settings' defaults) bounds what a file may hold and cause; `max_line_bytes` wins over
    its own. `origin`, when given, is logged as where the files came from instead of their path (an upload's
    temporary folder means nothing once it is gone).
    """
    from tandem.warehouse.schema import table as table_spec

    spec = table_spec(kind)
    warehouse.check_writable()
    mapping.check_table(kind)
    # DuckDB stages in the warehouse's own connection: it must be the writer's from the start (a read lease
    # upgraded later would close the connection and its staged tables).
    warehouse.acquire("write")
    if not paths:
        raise MappingError("no file given to import")
    notify = progress or (lambda _phase, _done, _total: None)
    bounds = replace(limits or ImportLimits(), max_line_bytes=max_line_bytes)
    staging = _staging_connection(warehouse)
    started = datetime.now(UTC).replace(tzinfo=None)
    staged: list[tuple[_Plan, ImportResult, str]] = []
    all_issues: list[Issue] = []
    by_problem: dict[str, int] = {}
    try:
        for index, path in enumerate(paths):
            notify(f"reading {path.name}", index, len(paths))
            plan, result, typed, issues, counts = _stage_file(
                staging, warehouse, spec, path, mapping, str(index), stages, bounds, errors_shown
            )
            plan.file_index = index
            staged.append((plan, result, typed))
            all_issues.extend(issues)
            by_problem.update(counts)
            derived = _stage_derived(
                staging, warehouse, path, mapping, index, stages, bounds, errors_shown, result.sha256
            )
            for plan, result, typed, issues, counts in derived:
                staged.append((plan, result, typed))
                all_issues.extend(issues)
                by_problem.update(counts)
        # Unless skipping, a file with problems is not written; its references are still checked (inside a
        # transaction that is rolled back) so the user sees every problem in one run.
        collect_only = bool(by_problem) and not skip_invalid
        notify("checking references" if collect_only else "writing", len(paths), len(paths))
        with warehouse.transaction() as cur:
            next_id = take_import_numbers(cur, len(paths))
            for plan, result, typed in staged:
                result.import_id = next_id + plan.file_index  # a file's derived tables share its import id
                unknown, shown = _write(
                    cur,
                    warehouse,
                    staging,
                    plan,
                    result,
                    typed,
                    skip_invalid,
                    create_missing,
                    errors_shown,
                    check_only=collect_only,
                )
                all_issues.extend(shown)
                for label, count in unknown.items():
                    by_problem[label] = by_problem.get(label, 0) + count
                if unknown and not skip_invalid:
                    collect_only = True
                if not collect_only:
                    _log(cur, result, plan, actor, started, origin)
                    result.earlier = earlier_imports(cur, result.sha256, result.import_id)
            if collect_only:
                all_issues.sort(key=lambda i: (i.file, i.line or 0))
                raise ImportValidationError(
                    all_issues[:errors_shown], sum(by_problem.values()), shown=errors_shown, by_problem=by_problem
                )
            # Rejects are written before the commit (a failure rolls the import back) and named after it.
            pending = [
                (result, _write_rejects(staging, plan, typed)) for plan, result, typed in staged if result.rejected
            ]
        for result, written in pending:
            final = written.with_suffix("")
            written.replace(final)
            result.rejects_path = str(final)
    finally:
        for _plan, _result, typed in staged:
            staging.execute(f"DROP TABLE IF EXISTS {typed}")
            staging.execute(f"DROP TABLE IF EXISTS {typed}_raw")
            staging.execute(f"DROP TABLE IF EXISTS {typed}_rejected_refs")
            staging.execute(f"DROP TABLE IF EXISTS {typed}_raw_lines")
        if staging is not _warehouse_duckdb(warehouse):
            staging.close()
    return [result for _plan, result, _typed in staged]


def _stage_derived(
    con: duckdb.DuckDBPyConnection,
    warehouse: Warehouse,
    path: Path,
    mapping: Mapping,
    index: int,
    stages: Sequence[str],
    limits: ImportLimits,
    errors_shown: int,
    sha256: str,
) -> Iterator[tuple[_Plan, ImportResult, str, list[Issue], dict[str, int]]]:
    """Stage the derived tables of one file (`Mapping.derived`): each that applies, i.e. whose columns the file
    has, unless it is the fallback of one that applied. `sha256` is the file's, hashed once for the import."""
    from tandem.warehouse.schema import table as table_spec

    applied: set[str] = set()
    for number, derived in enumerate(mapping.derived_for_file()):
        if derived.fallback_for is not None and derived.fallback_for in applied:
            continue
        assert derived.table is not None  # checked when the mapping was read
        try:
            plan, result, typed, issues, counts = _stage_file(
                con,
                warehouse,
                table_spec(derived.table),
                path,
                derived,
                f"{index}_{number}",
                stages,
                limits,
                errors_shown,
                derived=True,
                sha256=sha256,
            )
        except _NotApplicable:
            for suffix in ("_raw", "_raw_lines"):
                con.execute(f"DROP TABLE IF EXISTS __tandem_stage_{index}_{number}{suffix}")
            continue
        applied.add(derived.name)
        plan.file_index = index
        result.derived = derived.name
        result.note = derived.note
        yield plan, result, typed, issues, counts


class _NotApplicable(Exception):
    """A derived mapping needs a column the file lacks: it does not apply to this file."""


def _warehouse_duckdb(warehouse: Warehouse) -> duckdb.DuckDBPyConnection | None:
    return warehouse.duckdb


def _staging_connection(warehouse: Warehouse) -> duckdb.DuckDBPyConnection:
    """DuckDB warehouse: stage in its own connection (temp tables). PostgreSQL: a private in-memory DuckDB."""
    own = _warehouse_duckdb(warehouse)
    if own is not None:
        return own
    warehouse.temp_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, str | bool | int | float | list[str]] = {"temp_directory": str(warehouse.temp_dir)}
    if warehouse.duckdb_memory_gb:
        config["memory_limit"] = f"{int(warehouse.duckdb_memory_gb)}GB"
        config["allocator_flush_threshold"] = ALLOCATOR_FLUSH
    con = duckdb.connect(config=config)
    con.execute("SET TimeZone = 'UTC'")
    return con


# ---------------------------------------------------------------------------------------------------------------
# 1. Read
# ---------------------------------------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _file_issue(path: Path, problem: str, expected: str) -> ImportValidationError:
    return ImportValidationError([Issue(str(path), None, None, None, problem, expected)])


def _detect_format(path: Path) -> bool:
    """True for CSV, False for Parquet; refuses empty, missing and binary files with the reason."""
    if not path.is_file():
        raise _file_issue(path, "the file does not exist", "the path of a CSV or Parquet file")
    size = path.stat().st_size
    if size == 0:
        raise _file_issue(path, "the file is empty", "a header line naming the columns, then one row per record")
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head[:4] == b"PAR1":
        return False
    if path.suffix.lower() in {".parquet", ".pq"}:
        raise _file_issue(path, "the file is not Parquet (no PAR1 magic bytes)", "a Parquet file, or a .csv name")
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return True
    nul = head.find(b"\x00")
    if nul >= 0:
        raise _file_issue(
            path,
            f"the file holds binary data (a NUL byte at offset {nul}), not text",
            "a CSV text file (UTF-8 or Latin-1) or a Parquet file",
        )
    return True


def _detect_encoding(path: Path, declared: str | None) -> str:
    """The mapping's encoding, else UTF-16 by BOM, UTF-8 if the first 64 KiB decode, else Latin-1."""
    if declared:
        return declared
    with path.open("rb") as handle:
        head = handle.read(_SNIFF_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "latin-1"
    return "utf-8"


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().split("\n") or [""])[0]


def _check_header(plan: _Plan) -> None:
    """Refuse, from the header alone and before any heavy work, a file with more columns than
    ``import_max_columns`` or with two columns of the same name; note the CSV delimiter the header uses.

    A CSV header is read from the first ``import_max_line_bytes`` of the file (a longer record is refused by the
    reader anyway); a Parquet file's from its footer, which also refuses a truncated or damaged file.
    """
    path, limits = plan.path, plan.limits
    if plan.is_csv:
        encoding = _detect_encoding(path, plan.mapping.encoding)
        with path.open("rb") as handle:
            head = handle.read(limits.max_line_bytes).decode(encoding, errors="replace").lstrip("\ufeff")
        first = head.split("\n", 1)[0]
        plan.delimiter = plan.mapping.delimiter or _guess_delimiter(first)
        try:
            names = next(csv.reader(io.StringIO(head), delimiter=plan.delimiter or ","), [])
        except csv.Error:  # an unbalanced quote in the header: the reader says where
            names = first.split(plan.delimiter or ",")
    else:
        import pyarrow.parquet as pq

        try:
            names = list(pq.ParquetFile(path).schema_arrow.names)
        except Exception as exc:  # pyarrow's errors for a damaged file are of several kinds
            raise _file_issue(
                path, f"the file is not a readable Parquet file ({_first_line(exc)})", _PARQUET_HINT
            ) from None
    if len(names) > limits.max_columns:
        raise ImportValidationError(
            [
                Issue(
                    str(path),
                    1,
                    None,
                    None,
                    f"the file has {len(names):,} columns, more than the {limits.max_columns:,} an import accepts",
                    f"at most {limits.max_columns:,} columns: remove the columns you do not need, or raise "
                    "import_max_columns under [settings] in tandem.toml",
                )
            ]
        )
    seen: dict[str, int] = {}
    duplicates: list[Issue] = []
    for number, name in enumerate(names, start=1):
        trimmed = name.strip()
        if not trimmed:
            continue
        earlier = seen.setdefault(trimmed.lower(), number)
        if earlier != number:
            duplicates.append(
                Issue(
                    str(path),
                    1,
                    trimmed,
                    None,
                    f"two columns have the same name: column {earlier} ({names[earlier - 1].strip()!r}) and "
                    f"column {number} ({trimmed!r})",
                    "each column named once (names are compared trimmed and ignoring case): rename or remove one",
                )
            )
    if duplicates:
        raise ImportValidationError(duplicates)


_PARQUET_HINT = "a complete Parquet file: it may be truncated or damaged, so export or copy it again"


def _guess_delimiter(first_line: str) -> str | None:
    """The candidate delimiter the header line holds most often outside quotes (None: a one-column header)."""
    bare = re.sub(r'"(?:[^"]|"")*"', "", first_line)
    counts = {d: bare.count(d) for d in _DELIMITERS}
    best = max(_DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else None


def _read_csv(
    con: duckdb.DuckDBPyConnection, raw_table: str, path: Path, encoding: str, delimiter: str | None, max_line: int
) -> None:
    options: dict[str, Any] = {
        "path": str(path),
        "encoding": encoding,
        "max_line_size": max_line,
        "quote": '"',  # RFC 4180: a quote inside a quoted field is doubled
    }
    delim = ", delim = $delim" if delimiter else ""
    if delimiter:
        options["delim"] = delimiter
    con.execute(
        "CREATE OR REPLACE TEMP TABLE "
        + raw_table
        + " AS SELECT * FROM read_csv($path, all_varchar = true, header = true, encoding = $encoding,"
        " max_line_size = $max_line_size, quote = $quote, escape = $quote, store_rejects = true,"
        " rejects_scan = 'reject_scans', rejects_table = 'reject_errors',"
        " strict_mode = true, null_padding = false, parallel = true" + delim + ")",
        options,
    )


def _read_raw(con: duckdb.DuckDBPyConnection, plan: _Plan, raw_table: str, temp_dir: Path) -> list[Issue]:
    """Stream the file into `raw_table`; structural CSV errors become issues, at their physical lines.

    Line numbers come from ``rowid`` (see `_Plan.line_of`). DuckDB's strict reader refuses a file whose records
    end some in CRLF and some in LF: such a file is read from a copy with LF endings. A file the reader refuses
    is read again by Python's csv module, which names the line of the fault (an unbalanced quote).
    """
    path = plan.path
    if not plan.is_csv:
        try:
            con.execute(f"CREATE TEMP TABLE {raw_table} AS SELECT * FROM read_parquet($path)", {"path": str(path)})
        except duckdb.Error as exc:
            raise _file_issue(path, f"the file cannot be read as Parquet ({_first_line(exc)})", _PARQUET_HINT) from None
        return []
    plan.encoding = _detect_encoding(path, plan.mapping.encoding)
    max_line = plan.limits.max_line_bytes
    try:
        _read_csv(con, raw_table, path, plan.encoding, plan.delimiter, max_line)
    except duckdb.Error as exc:
        failure: duckdb.Error | None = exc
        if _mixed_line_endings(path, plan.encoding):
            copy = _lf_copy(path, plan.encoding, temp_dir)
            try:
                _read_csv(con, raw_table, copy, "utf-8", plan.delimiter, max_line)
                failure = None
            except duckdb.Error as again:
                failure = again
            finally:
                copy.unlink(missing_ok=True)
        if failure is not None:
            raise _csv_failure(plan, failure) from None
    # One problem per skipped line (DuckDB may report a line once per extra field).
    rejects = con.execute(
        "SELECT line, arg_min(column_name, column_idx), arg_min(error_type, column_idx), any_value(csv_line) "
        "FROM reject_errors GROUP BY line ORDER BY line"
    ).fetchall()
    con.execute("DELETE FROM reject_errors")
    con.execute("DELETE FROM reject_scans")
    reject_lines = sorted({int(line) for line, *_ in rejects if line is not None})
    physical = _physical_lines(con, plan, raw_table, reject_lines)
    return [
        Issue(
            str(path),
            physical.get(int(line), int(line)) if line is not None else None,
            column_name,
            str(csv_line).lstrip("\r\n") if csv_line is not None else None,
            f"malformed CSV row ({str(error_type).lower().replace('_', ' ')})",
            "one value per header column, quotes balanced",
        )
        for line, column_name, error_type, csv_line in rejects
    ]


def _csv_failure(plan: _Plan, exc: duckdb.Error) -> ImportValidationError:
    """The one-line reason the reader refused the file: the located fault when Python's csv module finds one."""
    path = plan.path
    message = _first_line(exc)
    hint = "a well-formed CSV file"
    lowered = message.lower()
    if "unicode" in lowered or "encoding" in lowered:
        hint = "text in UTF-8; for another encoding set encoding = 'latin-1' (or 'utf-16') in the mapping"
        return _file_issue(path, f"the file cannot be read as CSV: {message}", hint)
    if "out of memory" in lowered:
        hint = "more memory for DuckDB: raise duckdb_memory_gb under [settings] in tandem.toml"
        return _file_issue(path, f"the file cannot be read as CSV: {message}", hint)
    located = _locate_csv_fault(path, plan.encoding or "utf-8", plan.delimiter, plan.limits.max_line_bytes)
    if located is not None:
        return ImportValidationError([located])
    if "sniffing" in lowered:
        message = "its delimiter and quoting could not be detected (an unbalanced quote is a common cause)"
        hint = "a CSV file with balanced quotes; or set delimiter (and encoding) in the mapping"
    return _file_issue(path, f"the file cannot be read as CSV: {message}", hint)


def _locate_csv_fault(path: Path, encoding: str, delimiter: str | None, max_field: int) -> Issue | None:
    """The first record Python's strict csv reader refuses, at the physical line it starts on (None: none)."""
    previous = csv.field_size_limit()
    csv.field_size_limit(max(previous, max_field))
    start = 1
    try:
        with path.open(encoding=encoding, errors="replace", newline="") as handle:
            reader = csv.reader(handle, delimiter=delimiter or ",", strict=True)
            for _record in reader:
                start = reader.line_num + 1
    except csv.Error as exc:
        reason = str(exc)
        if "unexpected end of data" in reason or "field larger than field limit" in reason:
            return Issue(
                str(path),
                start,
                None,
                None,
                "unbalanced quote: a quoted field opened on this line is never closed",
                'a closing quote for every opening one (a quote inside a quoted field is doubled: "")',
            )
        return Issue(
            str(path),
            start,
            None,
            None,
            f"malformed CSV record ({reason})",
            'one value per header column, quotes balanced (a quote inside a quoted field is doubled: "")',
        )
    finally:
        csv.field_size_limit(previous)
    return None


def _text_chunks(path: Path, encoding: str) -> Iterator[str]:
    """The file's text in chunks of about 1 MiB, line endings as written; a chunk never ends between CR and LF."""
    with path.open(encoding=encoding, errors="replace", newline="") as handle:
        while chunk := handle.read(1024 * 1024):
            if chunk.endswith("\r"):
                chunk += handle.read(1)
            yield chunk


def _mixed_line_endings(path: Path, encoding: str) -> bool:
    """True when the file has both CRLF and bare LF line breaks (DuckDB's strict reader refuses those)."""
    crlf = lone_lf = False
    for chunk in _text_chunks(path, encoding):
        both = chunk.count("\r\n")
        crlf = crlf or both > 0
        lone_lf = lone_lf or chunk.count("\n") > both
        if crlf and lone_lf:
            return True
    return False


def _lf_copy(path: Path, encoding: str, temp_dir: Path) -> Path:
    """A UTF-8 copy of the file with every CRLF made LF (the physical lines stay the same), in `temp_dir`."""
    temp_dir.mkdir(parents=True, exist_ok=True)
    copy = temp_dir / f"lf-{os.getpid()}-{hashlib.sha256(str(path).encode()).hexdigest()[:12]}.csv"
    with copy.open("w", encoding="utf-8", newline="") as out:
        for chunk in _text_chunks(path, encoding):
            out.write(chunk.replace("\r\n", "\n"))
    return copy


def _line_count(path: Path, encoding: str) -> int:
    """How many physical lines the file has (a last line without a line break counts)."""
    count = 0
    last = ""
    if encoding == "utf-16":
        for chunk in _text_chunks(path, encoding):
            count += chunk.count("\n") + chunk.count("\r") - chunk.count("\r\n")
            last = chunk[-1:]
        return count + (1 if last and last not in "\r\n" else 0)
    with path.open("rb") as handle:
        tail = b""
        while block := handle.read(1024 * 1024):
            if block.endswith(b"\r"):
                block += handle.read(1)
            count += block.count(b"\n") + block.count(b"\r") - block.count(b"\r\n")
            tail = block[-1:]
    return count + (1 if tail and tail not in b"\r\n" else 0)


def _physical_lines(
    con: duckdb.DuckDBPyConnection, plan: _Plan, raw_table: str, reject_lines: list[int]
) -> dict[int, int]:
    """Map records to physical lines where they differ; returns the reader's line -> physical line of rejects.

    DuckDB numbers a record by records and blank lines before it, not by the line breaks inside quoted fields.
    When the file has exactly one line per record (almost always: a line count tells) both agree. Otherwise the
    file is read once more, line by line, counting quotes: a record goes on while it has opened a quote it has
    not closed. Each record's first line goes to ``{raw_table}_lines`` (`_Plan.line_of`).
    """
    rows = _count(con, f"SELECT count(*) FROM {raw_table}")
    encoding = plan.encoding or "utf-8"
    if _line_count(plan.path, encoding) == 1 + rows + len(reject_lines):
        # One line per record: the i-th skipped line (from 0) comes after (line - 2 - i) good records.
        by_threshold = {line - 2 - i: i + 1 for i, line in enumerate(reject_lines)}
        _store_lines(con, plan, raw_table, sorted(by_threshold.items()))
        return {}
    rejected = set(reject_lines)
    physical: dict[int, int] = {}
    shifts: list[tuple[int, int]] = []
    reader_line = line_number = good = last_shift = 0
    start_line = start_reader = 0
    in_quotes = False
    with plan.path.open(encoding=encoding, errors="replace", newline="") as handle:
        for text in handle:
            line_number += 1
            if not in_quotes:
                reader_line += 1
                if text in {"\n", "\r\n", "\r"}:  # a blank line: the reader skips it but counts it
                    continue
                start_line, start_reader = line_number, reader_line
            if text.count('"') % 2:
                in_quotes = not in_quotes
            if in_quotes or start_reader == 1:  # the record goes on, or it is the header
                continue
            if start_reader in rejected:
                physical[start_reader] = start_line
                continue
            shift = start_line - (good + 2)
            if shift != last_shift:
                shifts.append((good, shift))
                last_shift = shift
            good += 1
    if good != rows:  # the file is not what the reader read (quotes inside unquoted fields): keep its numbers
        return {}
    _store_lines(con, plan, raw_table, shifts)
    return physical


def _store_lines(con: duckdb.DuckDBPyConnection, plan: _Plan, raw_table: str, shifts: list[tuple[int, int]]) -> None:
    """Write each record's physical line to ``{raw_table}_lines`` from (first rowid, lines it is moved down)."""
    if shifts:
        plan.lines = f"{raw_table}_lines"
        con.execute(f"CREATE OR REPLACE TEMP TABLE {plan.lines}_shifts (threshold BIGINT, shift BIGINT)")
        con.executemany(f"INSERT INTO {plan.lines}_shifts VALUES (?, ?)", shifts)
        con.execute(
            f"CREATE OR REPLACE TEMP TABLE {plan.lines} AS SELECT r.rid, r.rid + 2 + coalesce(s.shift, 0) AS line "
            f"FROM (SELECT rowid AS rid FROM {raw_table}) r ASOF LEFT JOIN {plan.lines}_shifts s "
            "ON r.rid >= s.threshold"
        )
        con.execute(f"DROP TABLE {plan.lines}_shifts")


# ---------------------------------------------------------------------------------------------------------------
# 2. Map and type
# ---------------------------------------------------------------------------------------------------------------
def _find_source(sources: dict[str, str], wanted: str) -> str | None:
    """The file's column for `wanted`: exact name, else case-insensitive, else same snake_case form."""
    if wanted in sources:
        return wanted
    lowered = {s.lower(): s for s in sources}
    if wanted.lower() in lowered:
        return lowered[wanted.lower()]
    snake = {attribute_name(s): s for s in sources}
    return snake.get(attribute_name(wanted))


def _find_any(sources: dict[str, str], wanted: str | list[str]) -> str | None:
    """The file's column for the first of `wanted` (a name or alternatives) it has."""
    names = [wanted] if isinstance(wanted, str) else wanted
    return next((f for f in (_find_source(sources, w) for w in names) if f is not None), None)


def _names(wanted: str | list[str]) -> str:
    return " or ".join(map(repr, [wanted] if isinstance(wanted, str) else wanted))


def _text(source: str, source_type: str) -> str:
    """SQL for a source column as trimmed text (empty becomes NULL)."""
    col = quote(source)
    if source_type == "VARCHAR":
        return f"nullif(trim({col}), '')"
    return f"CAST({col} AS VARCHAR)"


def _mapped_text(plan: _Plan, spec: ColumnSource, source: str | None) -> str:
    """SQL text value of a canonical column before typing: source or constant, then the value map."""
    if spec.constant is not None:
        base = plan.param(spec.constant)
    else:
        assert source is not None
        base = _text(source, plan.source_types[source])
        if spec.split is not None and spec.keep == "first":
            base = f"nullif(trim(split_part({base}, {plan.param(spec.split)}, 1)), '')"
    if not spec.values and spec.otherwise is None:
        return base
    cases = " ".join(f"WHEN {plan.param(k)} THEN {plan.param(v)}" for k, v in spec.values.items())
    fallback = plan.param(spec.otherwise) if spec.otherwise is not None else base
    mapped = f"CASE {base} {cases} ELSE {fallback} END" if cases else fallback
    # A value mapped to "" is no value (a derived table leaves its row out).
    return f"(CASE WHEN {base} IS NULL THEN NULL ELSE nullif({mapped}, '') END)"


def _typed(plan: _Plan, text: str, source: str | None, kind: ColumnType, fmt: str | None) -> str:
    """SQL converting `text` (or a typed Parquet source) to `kind`; NULL where it does not parse."""
    source_type = plan.source_types.get(source, "VARCHAR") if source else "VARCHAR"
    tz = plan.mapping.timezone
    if kind == "string":
        return text
    if kind == "timestamp":
        if source and source_type.startswith("TIMESTAMP WITH TIME ZONE"):
            return f"timezone('UTC', {quote(source)})"
        if source and (source_type.startswith("TIMESTAMP") or source_type == "DATE"):
            value = f"CAST({quote(source)} AS TIMESTAMP)"
            return value if tz == "UTC" else f"timezone('UTC', timezone({plan.param(tz)}, {value}))"
        if fmt:
            parsed = f"try_strptime({text}, {plan.param(fmt)})"
            if "%z" in fmt or "%Z" in fmt:
                return f"timezone('UTC', {parsed})"
            return parsed if tz == "UTC" else f"timezone('UTC', timezone({plan.param(tz)}, {parsed}))"
        local = f"try_cast({text} AS TIMESTAMP)"
        if tz != "UTC":
            local = f"timezone('UTC', timezone({plan.param(tz)}, {local}))"
        return (
            f"(CASE WHEN regexp_matches({text}, '{_OFFSET_PATTERN}') "
            f"THEN timezone('UTC', try_cast({text} AS TIMESTAMPTZ)) ELSE {local} END)"
        )
    if kind == "date":
        if source and (source_type.startswith("TIMESTAMP") or source_type == "DATE"):
            return f"CAST({quote(source)} AS DATE)"
        if fmt:
            return f"CAST(try_strptime({text}, {plan.param(fmt)}) AS DATE)"
        return f"coalesce(try_cast({text} AS DATE), CAST(try_cast({text} AS TIMESTAMP) AS DATE))"
    if kind == "float":
        return f"try_cast({quote(source) if source and source_type != 'VARCHAR' else text} AS DOUBLE)"
    if kind == "integer":
        if source and ("INT" in source_type):
            return f"try_cast({quote(source)} AS BIGINT)"
        number = f"try_cast({text} AS DOUBLE)"
        return f"(CASE WHEN {number} = floor({number}) THEN try_cast({number} AS BIGINT) END)"
    if kind == "boolean":
        return f"try_cast({text} AS BOOLEAN)"
    raise AssertionError(kind)


def _add_column(plan: _Plan, column: Column, text: str, source: str | None, stages: Sequence[str]) -> None:
    spec = plan.mapping.columns.get(column.name)
    fmt = (spec.format if spec else None) or plan.mapping.date_format
    if column.type not in {"timestamp", "date"}:
        fmt = None
    typed = _typed(plan, text, source, column.type, fmt)
    name = column.name
    plan.select.append(f"{typed} AS {quote(name)}")
    plan.output[name] = column.type
    plan.typed_sql[name] = typed
    shown = plan.source_of.get(name, name)
    raw = text
    if column.required:
        leave_out = None
        if plan.derived:
            leave_out = f"{shown} maps to no {name}" if spec is not None and spec.values else f"no {shown}"
        plan.rules.append(_Rule(f"{text} IS NULL", shown, None, "missing value", f"a value for {name}", leave_out))
    if column.type != "string":
        expected = {
            "timestamp": "a date-time such as 2026-01-31 14:05 or 2026-01-31T14:05:00Z"
            + (f" (format {fmt})" if fmt else ""),
            "date": "a date such as 2026-01-31" + (f" (format {fmt})" if fmt else ""),
            "float": "a number such as 1234.50 (no currency sign or thousands separator)",
            "integer": "a whole number",
            "boolean": "true or false",
        }[column.type]
        plan.rules.append(_Rule(f"({text} IS NOT NULL AND {typed} IS NULL)", shown, raw, "cannot be read", expected))
    _add_value_rules(plan, column, typed, shown, raw)
    if column.minimum is not None:
        plan.rules.append(
            _Rule(
                # -Infinity is refused as not finite, once
                f"coalesce({typed} < {column.minimum!r} AND {typed} <> '-Infinity'::DOUBLE, false)",
                shown,
                raw,
                "is negative",
                f">= {column.minimum:g}",
            )
        )
    choices: Sequence[str] | None = column.choices
    what = f"one of {', '.join(column.choices or ())}"
    if plan.table.name == "stage_events" and name == "stage":
        choices = stages
        what = (
            f"one of the funnel's stages ({', '.join(stages)}); translate source stage names with a value map "
            'in the mapping, e.g. stage = { column = "Status", values = { "Marketing Qualified" = "mql" } }'
        )
    if choices:
        allowed = ", ".join(plan.param(c) for c in choices)
        # A derived table leaves out the stages this funnel does not have (a custom stage list), and says so.
        leave_out = "stage" if plan.derived and choices is stages else None
        plan.rules.append(
            _Rule(f"coalesce({typed} NOT IN ({allowed}), false)", shown, raw, "unknown value", what, leave_out)
        )


def _add_value_rules(plan: _Plan, column: Column, typed: str, shown: str, raw: str) -> None:
    """Rules for values that read but that no figure can use: a number that is not finite, a date outside the
    accepted range, an invisible character in an id, a NUL byte in text (PostgreSQL cannot hold it)."""
    limits = plan.limits
    if column.type == "float":
        plan.rules.append(
            _Rule(
                f"coalesce(NOT isfinite({typed}), false)",
                shown,
                raw,
                "is not a finite number",
                "a finite number (NaN, Infinity and numbers too large to hold, such as 1e309, are refused)",
            )
        )
    elif column.type in {"date", "timestamp"}:
        low = plan.param(limits.earliest_date)
        high = plan.param(limits.latest_date + timedelta(days=1))
        plan.rules.append(
            _Rule(
                f"coalesce({typed} < CAST({low} AS DATE) OR {typed} >= CAST({high} AS DATE), false)",
                shown,
                raw,
                "is outside the dates tandem accepts",
                f"a date from {limits.earliest_date} to {limits.latest_date} (settings import_earliest_date and "
                "import_latest_date in tandem.toml)",
            )
        )
    elif column.type == "string" and _is_key(plan.table, column.name):
        plan.rules.append(
            _Rule(
                f"coalesce(regexp_matches({typed}, {plan.param(_INVISIBLE)}), false)",
                shown,
                raw,
                "holds a control or invisible character",
                "an id of visible characters only: remove control characters, zero-width spaces, byte order marks "
                "and direction marks (shown escaped in the value)",
            )
        )
    elif column.type == "string":
        plan.rules.append(
            _Rule(
                f"coalesce(contains({typed}, chr(0)), false)",
                shown,
                raw,
                "holds a NUL character",
                "text without NUL (0x00) characters: export the file again as UTF-8 text",
            )
        )


def _is_key(spec: Table, name: str) -> bool:
    """A canonical column that names a row (its table's key, a reference, any ``*_id``): lookalikes there make
    two rows of one."""
    return spec.column(name) is not None and (name in spec.key or name in spec.references or name.endswith("_id"))


def _infer_attribute_type(con: duckdb.DuckDBPyConnection, raw_table: str, source: str, source_type: str) -> ColumnType:
    """Type of a new attribute: kept from Parquet; for CSV text, integer/float/boolean if every value fits.

    A value with a leading zero (a postal code, an id) keeps the column text.
    """
    if source_type != "VARCHAR":
        if source_type in {
            "BIGINT",
            "INTEGER",
            "SMALLINT",
            "TINYINT",
            "UBIGINT",
            "UINTEGER",
            "USMALLINT",
            "UTINYINT",
        }:
            return "integer"
        if source_type in {"DOUBLE", "FLOAT", "REAL"} or source_type.startswith("DECIMAL"):
            return "float"
        if source_type == "BOOLEAN":
            return "boolean"
        if source_type == "DATE":
            return "date"
        if source_type.startswith("TIMESTAMP"):
            return "timestamp"
        return "string"
    text = f"nullif(trim({quote(source)}), '')"
    row = con.execute(
        f"SELECT count({text}), "
        f"count_if(regexp_full_match({text}, '-?(0|[1-9][0-9]{{0,17}})')), "
        f"count_if(try_cast({text} AS DOUBLE) IS NOT NULL AND NOT regexp_full_match({text}, '-?0[0-9].*')), "
        f"count_if(lower({text}) IN ('true', 'false')), count_if(isfinite(try_cast({text} AS DOUBLE))) "
        f"FROM {raw_table}"
    ).fetchone()
    assert row is not None
    present, integers, floats, booleans, finite = row
    if present == 0:
        return "string"
    if integers == present:
        return "integer"
    if floats == present and finite:  # "inf" among numbers is refused as one; "NaN" alone is a word
        return "float"
    if booleans == present:
        return "boolean"
    return "string"


def _delimiter_hint(sources: dict[str, str]) -> str:
    """When the header was read as one column, name the separator it seems to use."""
    if len(sources) != 1:
        return ""
    (only,) = sources
    found = max(";\t|,", key=only.count)
    if not only.count(found):
        return ""
    shown = {"\t": "\\t"}.get(found, found)
    return (
        f" (one column only: is the delimiter right? the header looks {shown!r}-separated: set delimiter = {shown!r})"
    )


def _plan_columns(
    con: duckdb.DuckDBPyConnection,
    warehouse: Warehouse,
    plan: _Plan,
    raw_table: str,
    stages: Sequence[str],
) -> list[Issue]:
    """Resolve every canonical column and attribute to SQL; file-level problems (missing columns) as issues."""
    spec, mapping, path = plan.table, plan.mapping, plan.path
    sources = plan.source_types
    issues: list[Issue] = []
    used: set[str] = set()
    # A name holding a line break or an invisible character is shown escaped: a message stays one line.
    header = ", ".join(name if name.isprintable() else repr(name) for name in sources)

    def require(src: str | list[str]) -> str:
        found = _find_any(sources, src)
        if found is None:
            raise MappingError(
                f"mapping {mapping.name!r} names column {_names(src)}, which {path.name} lacks; its columns are: "
                f"{header}"
            )
        used.add(found)
        return found

    for stage, src in mapping.stage_columns.items():
        # A lenient mapping takes the stage columns the file has (exports carry the properties one picked).
        if mapping.lenient and _find_any(sources, src) is None:
            continue
        plan.stage_sources[stage] = require(src)
        if stage in mapping.stage_when:
            require(mapping.stage_when[stage].column)
    if mapping.stage_columns and not plan.stage_sources:
        raise MappingError(
            f"mapping {mapping.name!r} names the stage columns "
            f"{', '.join(_names(c) for c in mapping.stage_columns.values())}, none of which {path.name} has; "
            f"its columns are: {header}"
        )
    if mapping.filter is not None:
        require(mapping.filter.column)

    texts: dict[str, tuple[str, str | None]] = {}
    for column in spec.columns:
        if mapping.stage_columns and column.name in {"stage", "occurred_at"}:
            texts[column.name] = (f"__unpivot_{column.name}", None)
            plan.source_types[f"__unpivot_{column.name}"] = "VARCHAR"
            continue
        explicit = mapping.columns.get(column.name)
        if explicit is not None and explicit.constant is not None:
            texts[column.name] = (_mapped_text(plan, explicit, None), None)
            plan.source_of[column.name] = f"(constant {explicit.constant!r})"
            continue
        wanted = explicit.column if explicit is not None and explicit.column else [column.name]
        found = next((f for f in (_find_source(sources, w) for w in wanted) if f is not None), None)
        if found is None:
            if explicit is not None and (column.required or not mapping.lenient):
                raise MappingError(
                    f"mapping {mapping.name!r} maps {column.name} from "
                    f"{' or '.join(map(repr, wanted))}, which {path.name} lacks; its columns are: {header}"
                )
            if column.required:
                issues.append(
                    Issue(
                        str(path),
                        1,
                        column.name,
                        None,
                        "required column missing from the header",
                        f"a column named {column.name!r}, or a mapping (--mapping) saying which column holds it; "
                        f"the file's columns are: {header}{_delimiter_hint(sources)}",
                    )
                )
            elif column.name in spec.key:
                # An optional key column the file lacks (spend by channel only) is part of the key as null.
                texts[column.name] = ("CAST(NULL AS VARCHAR)", None)
                plan.source_of[column.name] = "(absent: null)"
            continue
        used.add(found)
        plan.source_of[column.name] = found
        source_spec = explicit or ColumnSource(column=[found])
        if source_spec.lookup is not None:
            plan.lookups[column.name] = source_spec.lookup
        if source_spec.split is not None and source_spec.keep == "each":
            # One row per value of the cell (see `_source_rows`), read from a column of its own.
            split = f"__split_{column.name}"
            plan.splits[split] = (found, source_spec.split)
            plan.source_types[split] = "VARCHAR"
            texts[column.name] = (_mapped_text(plan, source_spec.model_copy(update={"split": None}), split), None)
            continue
        # A typed source (Parquet) is converted directly, unless a value map rewrites it as text first.
        typed_source = None if source_spec.values or source_spec.otherwise is not None else found
        texts[column.name] = (_mapped_text(plan, source_spec, found), typed_source)

    if issues:
        return issues
    for column in spec.columns:
        if column.name in texts:
            text, source = texts[column.name]
            _add_column(plan, column, text, source, stages)

    # Attributes: every source column nobody mapped, kept under a snake_case name.
    existing = warehouse.columns(spec.name)
    ignored = {attribute_name(i) for i in mapping.ignore}
    if mapping.keep_unmapped:
        attributes: list[tuple[str, str, str]] = []  # (source, its type, attribute name)
        taken = set(plan.output)
        for source, source_type in list(sources.items()):
            if source in used or source.startswith("__") or attribute_name(source) in ignored:
                continue
            name = attribute_name(source)
            if name in spec.column_names or name in taken or name.startswith("_"):
                name = f"{name}_source"
            while name in taken:
                name += "_2"
            taken.add(name)
            attributes.append((source, source_type, name))
        _check_new_attributes(plan, [name for _s, _t, name in attributes if name not in existing])
        for source, source_type, name in attributes:
            kind = existing.get(name) or _infer_attribute_type(con, raw_table, source, source_type)
            if name not in existing:
                plan.new_attributes.append(name)
            plan.source_of[name] = source
            _add_column(plan, Column(name, kind), _text(source, source_type), source, stages)
    return []


def _check_new_attributes(plan: _Plan, new: list[str]) -> None:
    """Refuse a file that would add more attribute columns than ``import_max_new_attributes`` (before their types
    are read: each costs a pass over the file, and every one stays in the table)."""
    limit = plan.limits.max_new_attributes
    if len(new) <= limit:
        return
    listed = ", ".join(new[:10]) + (f" and {len(new) - 10:,} more" if len(new) > 10 else "")
    raise ImportValidationError(
        [
            Issue(
                str(plan.path),
                1,
                None,
                None,
                f"the file would add {len(new):,} new attribute columns to {plan.table.name} ({listed}), more "
                f"than the {limit:,} one import may add",
                "map the columns you need in a mapping file and set keep_unmapped = false (or list the others "
                "under ignore), or raise import_max_new_attributes under [settings] in tandem.toml",
            )
        ]
    )


def _stage_file(
    con: duckdb.DuckDBPyConnection,
    warehouse: Warehouse,
    spec: Table,
    path: Path,
    mapping: Mapping,
    index: str,
    stages: Sequence[str],
    limits: ImportLimits,
    errors_shown: int,
    *,
    derived: bool = False,
    sha256: str | None = None,
) -> tuple[_Plan, ImportResult, str, list[Issue], dict[str, int]]:
    """Read, map, type and validate one file into a staging table; return its first issues and counts by kind.

    For a `derived` table, a column the file lacks raises `_NotApplicable`, and rows a rule marks as left out
    (`_Rule.leave_out`) are removed and counted instead of rejected.
    """
    plan = _Plan(path=path, table=spec, mapping=mapping, is_csv=_detect_format(path), derived=derived, limits=limits)
    _check_header(plan)  # too many columns, or two of one name: refused before the file is read
    result = ImportResult(import_id=0, table=spec.name, file=str(path), sha256=sha256 or _sha256(path))
    typed = f"__tandem_stage_{index}"
    raw = f"{typed}_raw"
    for stale in (typed, raw):
        con.execute(f"DROP TABLE IF EXISTS {stale}")
    structural = plan.malformed = _read_raw(con, plan, raw, warehouse.temp_dir)
    result.encoding = plan.encoding
    plan.source_types = {name: str(kind) for name, kind, *_ in con.execute(f"DESCRIBE {raw}").fetchall()}
    if not derived:  # a file that does not look like its mapping's export is refused here, with the reason
        result.missing_columns = check_file(mapping, plan.source_types, path)
    count_row = con.execute(f"SELECT count(*) FROM {raw}").fetchone()
    rows = int(count_row[0]) if count_row else 0
    if rows == 0 and not structural:
        raise _file_issue(path, "the file has a header but no rows", "at least one record after the header")
    try:
        file_issues = _plan_columns(con, warehouse, plan, raw, stages)
    except MappingError:
        if derived:
            raise _NotApplicable() from None
        raise
    if file_issues:
        if derived:
            raise _NotApplicable()
        raise ImportValidationError(file_issues)

    source = _source_rows(plan, raw)
    if mapping.filter is not None:
        counted = f"SELECT count(DISTINCT __line) FROM ({source})"
        result.filtered = rows - _count(con, counted, _bind(counted, plan.params))
    flags = [r.flag for r in plan.rules]
    flag_cols = "".join(f", {f} AS __bad_{i}" for i, f in enumerate(flags))
    create = (
        f"CREATE TEMP TABLE {typed} AS SELECT __line, {', '.join(plan.select)}{flag_cols}, "
        f"CAST(NULL AS BIGINT) AS __dup_of FROM ({source}) AS src"
    )
    con.execute(create, _bind(create, plan.params))
    if derived:
        result.left_out = _leave_out(con, plan, typed)
    broken = " OR ".join(f"__bad_{i}" for i in range(len(flags))) or "false"
    _mark_duplicates(con, spec, typed, broken)
    if derived:  # the same derived row twice (two deals of one contact opened at the same minute) is one row
        repeated = _count(con, f"SELECT count(*) FROM {typed} WHERE __dup_of IS NOT NULL")
        if repeated:
            result.left_out["the same row as another"] = repeated
            con.execute(f"DELETE FROM {typed} WHERE __dup_of IS NOT NULL")
    plan.bad = f"(({broken}) OR __dup_of IS NOT NULL)"
    result.rows_read = rows
    issues, by_problem = _collect_issues(con, plan, typed, errors_shown)
    structural_count = len(structural)
    if structural:
        by_problem[f"{path.name}: malformed CSV row"] = structural_count
    result.rejected = _count(con, f"SELECT count(*) FROM {typed} WHERE {plan.bad}") + structural_count
    return plan, result, typed, structural[:errors_shown] + issues, by_problem


def _leave_out(con: duckdb.DuckDBPyConnection, plan: _Plan, typed: str) -> dict[str, int]:
    """Remove the derived rows a rule leaves out (`_Rule.leave_out`); how many, by reason (the first that applies).

    A stage the funnel does not have is reported by name, so a custom stage list shows what it left out.
    """
    left_out: dict[str, int] = {}
    for i, rule in enumerate(plan.rules):
        if rule.leave_out is None:
            continue
        if rule.leave_out == "stage":
            found = con.execute(f"SELECT stage, count(*) FROM {typed} WHERE __bad_{i} GROUP BY stage ORDER BY stage")
            for stage, count in found.fetchall():
                left_out[f"stage {stage!r} is not one of the funnel's stages"] = int(count)
        else:
            count = _count(con, f"SELECT count(*) FROM {typed} WHERE __bad_{i}")
            if count:
                left_out[rule.leave_out] = count
        con.execute(f"DELETE FROM {typed} WHERE __bad_{i}")
    return left_out


def _mark_duplicates(con: duckdb.DuckDBPyConnection, spec: Table, typed: str, broken: str) -> None:
    """Set ``__dup_of`` (the first line with the same key) on every later row that repeats a key.

    An aggregate finds the repeated keys (usually none, and it spills to disk on big files); only those rows
    are then updated.
    """
    keys = ", ".join(quote(k) for k in spec.key)
    required = " AND ".join(f"{quote(k)} IS NOT NULL" for k in spec.key if k not in spec.nullable_key) or "true"
    dups = f"{typed}_dups"
    con.execute(
        f"CREATE OR REPLACE TEMP TABLE {dups} AS SELECT {keys}, min(__line) AS first_line FROM {typed} "
        f"WHERE {required} AND NOT ({broken}) GROUP BY {keys} HAVING count(*) > 1"
    )
    if _count(con, f"SELECT count(*) FROM {dups}"):
        con.execute(
            f"UPDATE {typed} SET __dup_of = d.first_line FROM {dups} AS d "
            f"WHERE {_key_match(spec, typed, 'd')} AND {typed}.__line <> d.first_line AND NOT ({broken})"
        )
    con.execute(f"DROP TABLE {dups}")


def _source_rows(plan: _Plan, raw: str) -> str:
    """SQL for the rows to import: filtered, and unpivoted when the mapping lists one column per stage."""
    mapping = plan.mapping
    where = "true"
    if mapping.filter is not None:
        where = _kept(plan, mapping.filter)
    # A split cell gives one row per value (an empty cell one row, with no value).
    splits = ""
    for name, (source, separator) in plan.splits.items():
        cell = _text(source, plan.source_types[source])
        values = f"list_filter(string_split({cell}, {plan.param(separator)}), lambda v: trim(v) <> '')"
        splits += f", unnest(CASE WHEN coalesce(len({values}), 0) = 0 THEN [NULL::VARCHAR] ELSE {values} END) AS {name}"
    if not mapping.stage_columns:
        return f"SELECT *, {plan.line_of(raw)} AS __line{splits} FROM {raw} WHERE {where}"
    parts = []
    for stage, col in plan.stage_sources.items():
        text = _text(col, plan.source_types[col])
        when = _kept(plan, mapping.stage_when[stage]) if stage in mapping.stage_when else "true"
        parts.append(
            f"SELECT *, {plan.line_of(raw)} AS __line, {plan.param(stage)} AS __unpivot_stage, "
            f"{text} AS __unpivot_occurred_at{splits} "
            f"FROM {raw} WHERE {where} AND {when} AND {text} IS NOT NULL"
        )
    return " UNION ALL ".join(parts)


def _kept(plan: _Plan, keep: RowFilter) -> str:
    """SQL true for the rows a `RowFilter` keeps."""
    col = _find_any(plan.source_types, keep.column)
    assert col is not None  # checked in `_plan_columns`
    text = _text(col, plan.source_types[col])
    if keep.present:
        return f"({text} IS NOT NULL)"
    return f"coalesce({text} IN ({', '.join(plan.param(v) for v in keep.values)}), false)"


def _bind(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """The parameters a statement uses (DuckDB refuses unused ones)."""
    used = set(re.findall(r"\$(p[0-9]+)\b", sql))
    return {k: v for k, v in params.items() if k in used}


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: Any = None) -> int:
    row = con.execute(sql, params).fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _collect_issues(
    con: duckdb.DuckDBPyConnection, plan: _Plan, typed: str, limit: int
) -> tuple[list[Issue], dict[str, int]]:
    """The first `limit` issues in line order, and how many rows have each kind of problem."""
    n = len(plan.rules)
    sums = ", ".join(f"count_if(__bad_{i})" for i in range(n))
    totals = con.execute(f"SELECT count_if(__dup_of IS NOT NULL){', ' + sums if n else ''} FROM {typed}").fetchone()
    assert totals is not None
    labels = [f"{plan.path.name}: duplicate key", *(f"{plan.path.name}: {_reason(r)}" for r in plan.rules)]
    by_problem: dict[str, int] = {}
    for label, count in zip(labels, totals, strict=True):
        if count:
            by_problem[label] = by_problem.get(label, 0) + int(count)
    if not by_problem:
        return [], {}
    lines = [
        int(r[0])
        for r in con.execute(
            f"SELECT DISTINCT __line FROM {typed} WHERE {plan.bad} ORDER BY __line LIMIT {int(limit)}"
        ).fetchall()
    ]
    # The values shown are recomputed from the source for those few lines, rather than kept for every row.
    source = _source_rows(plan, f"{typed}_raw")
    checks = "".join(f", {r.flag}, {r.raw or 'NULL'}" for r in plan.rules)
    query = f"SELECT __line{checks} FROM ({source}) AS src WHERE __line IN (SELECT unnest($lines)) ORDER BY __line"
    issues: list[Issue] = []
    for line, *cells in con.execute(query, {**_bind(query, plan.params), "lines": lines}).fetchall():
        for rule, broken, raw in zip(plan.rules, cells[0::2], cells[1::2], strict=True):
            if broken:
                value = None if raw is None else str(raw)
                issues.append(Issue(str(plan.path), int(line), rule.column, value, rule.problem, rule.expected))
    key_cols = ", ".join(quote(k) for k in plan.table.key)
    duplicates = con.execute(
        f"SELECT __line, __dup_of, {key_cols} FROM {typed} WHERE __dup_of IS NOT NULL "
        "AND __line IN (SELECT unnest($lines))",
        {"lines": lines},
    ).fetchall()
    for line, dup_of, *key_values in duplicates:
        key = ", ".join(f"{k}={v}" for k, v in zip(plan.table.key, key_values, strict=True))
        issues.append(
            Issue(
                str(plan.path),
                int(line),
                ", ".join(plan.table.key),
                key,
                f"duplicate key: the same {plan.table.name} row is on line {dup_of}",
                "each key once per file (the first occurrence is kept with --skip-invalid)",
            )
        )
    issues.sort(key=lambda issue: issue.line or 0)
    return issues[:limit], by_problem


# ---------------------------------------------------------------------------------------------------------------
# 4. Write
# ---------------------------------------------------------------------------------------------------------------
def _write(
    cur: Any,
    warehouse: Warehouse,
    staging: duckdb.DuckDBPyConnection,
    plan: _Plan,
    result: ImportResult,
    typed: str,
    skip_invalid: bool,
    create_missing: bool,
    errors_shown: int,
    *,
    check_only: bool = False,
) -> tuple[dict[str, int], list[Issue]]:
    """Inside the transaction: add new attribute columns, move valid rows over, check references, upsert.

    Returns how many rows name an unknown reference (by kind) and the first of them as issues. With `check_only`
    (the caller will roll back) or without `skip_invalid`, such rows stop the writing.
    """
    spec = plan.table
    target = quote(spec.name)
    for name in plan.new_attributes:
        cur.execute(f"ALTER TABLE {target} ADD COLUMN {quote(name)} {SQL_TYPES[plan.output[name]]}")
    columns = list(plan.output)
    in_warehouse = _transfer(cur, warehouse, staging, plan, typed, columns)
    for column, lookup in plan.lookups.items():
        _look_up(
            cur, warehouse, plan, result, typed if warehouse.backend_name == "duckdb" else in_warehouse, column, lookup
        )
    unknown_by_kind: dict[str, int] = {}
    issues: list[Issue] = []

    for column, referenced in spec.references.items():
        if column not in plan.output:
            continue
        ref_key = quote(TABLES[referenced].key[0])
        missing = (
            f"SELECT s.__line, s.{quote(column)} FROM {in_warehouse} s WHERE NOT EXISTS "
            f"(SELECT 1 FROM {quote(referenced)} r WHERE r.{ref_key} = s.{quote(column)})"
        )
        if plan.derived:  # kept: derived events count once their leads are imported (deals before contacts)
            result.unknown_leads = _count_cursor(cur, f"SELECT count(*) FROM ({missing}) m")
            continue
        if create_missing and referenced == "leads" and not check_only:
            time_col = next((c for c in ("occurred_at", "created_at") if c in plan.output), None)
            assert time_col is not None
            cur.execute(
                f"INSERT INTO leads (lead_id, created_at, _import_id) "
                f"SELECT s.{quote(column)}, min(s.{quote(time_col)}), {int(result.import_id)} FROM {in_warehouse} s "
                f"WHERE NOT EXISTS (SELECT 1 FROM leads r WHERE r.lead_id = s.{quote(column)}) "
                f"GROUP BY s.{quote(column)}"
            )
            result.created_leads += int(cur.rowcount if warehouse.backend_name == "postgres" else cur.fetchone()[0])
            continue
        cur.execute(f"SELECT count(*) FROM ({missing}) m")
        unknown = int(cur.fetchone()[0])
        if not unknown:
            continue
        cur.execute(missing + f" ORDER BY s.__line LIMIT {int(errors_shown)}")
        shown = [
            Issue(
                str(plan.path),
                int(line),
                plan.source_of.get(column, column),
                str(value),
                f"unknown {referenced[:-1]}: no {referenced} row has this {TABLES[referenced].key[0]}",
                f"a {TABLES[referenced].key[0]} already imported into {referenced} (import {referenced} first, "
                "or pass --create-missing to create the missing leads)",
            )
            for line, value in cur.fetchall()
        ]
        unknown_by_kind[f"{plan.path.name}: {plan.source_of.get(column, column)}: unknown {referenced[:-1]}"] = unknown
        issues.extend(shown)
        if check_only or not skip_invalid:
            continue
        result.issues.extend(shown)
        result.rejected += unknown
        cur.execute(f"SELECT s.__line FROM ({missing}) s")
        rejected_lines = [int(r[0]) for r in cur.fetchall()]
        staging.execute(f"CREATE OR REPLACE TEMP TABLE {typed}_rejected_refs (line BIGINT, reason VARCHAR)")
        staging.executemany(
            f"INSERT INTO {typed}_rejected_refs VALUES (?, ?)",
            [(line, f"{column}: unknown {referenced[:-1]}") for line in rejected_lines],
        )
        if warehouse.backend_name == "duckdb":  # the incoming view hides rows marked as rejected
            staging.execute(
                f"UPDATE {typed} SET __dup_of = {_REJECTED_REFERENCE} "
                f"WHERE __line IN (SELECT line FROM {typed}_rejected_refs)"
            )
        else:
            cur.execute(f"DELETE FROM {in_warehouse} WHERE __line IN (SELECT m.__line FROM ({missing}) m)")

    if check_only or (unknown_by_kind and not skip_invalid):
        return unknown_by_kind, issues
    result.updated, result.added = _upsert(cur, warehouse, spec, in_warehouse, columns, result.import_id)
    valid = _count_cursor(cur, f"SELECT count(*) FROM {in_warehouse}")
    result.unchanged = valid - result.updated - result.added
    result.new_attributes = list(plan.new_attributes)
    result.attributes = [c for c in columns if c not in spec.column_names]
    cur.execute(f"DROP {'VIEW' if warehouse.backend_name == 'duckdb' else 'TABLE'} {in_warehouse}")
    return {}, []


def _look_up(
    cur: Any, warehouse: Warehouse, plan: _Plan, result: ImportResult, rows: str, column: str, lookup: Lookup
) -> None:
    """Replace `column`'s values in the staged `rows` by the key of the `lookup.table` row holding them (none:
    empty). A derived table leaves its rows with no match out, and counts them."""
    have = warehouse.columns(lookup.table)
    match = next((c for c in lookup.columns if c in have), None)
    key = quote(TABLES[lookup.table].key[0])
    target = quote(column)
    if match is None:
        cur.execute(f"UPDATE {rows} SET {target} = NULL")
    else:
        cur.execute(
            f"UPDATE {rows} SET {target} = (SELECT min(r.{key}) FROM {quote(lookup.table)} r "
            f"WHERE CAST(r.{quote(match)} AS VARCHAR) = {rows}.{target})"
        )
    canonical = plan.table.column(column)
    if not plan.derived or canonical is None or not canonical.required:
        return
    missing = _count_cursor(cur, f"SELECT count(*) FROM {rows} WHERE {target} IS NULL")
    if missing:
        shown = plan.source_of.get(column, column)
        result.left_out[f"no {lookup.table} row has its {shown} in {' or '.join(lookup.columns)}"] = missing
        cur.execute(f"DELETE FROM {rows} WHERE {target} IS NULL")


def _count_cursor(cur: Any, sql: str) -> int:
    cur.execute(sql)
    return int(cur.fetchone()[0])


def _transfer(
    cur: Any,
    warehouse: Warehouse,
    staging: duckdb.DuckDBPyConnection,
    plan: _Plan,
    typed: str,
    columns: list[str],
) -> str:
    """Make the valid staged rows visible to the warehouse as ``__tandem_incoming``; return that name.

    DuckDB stages in the warehouse itself: a view over the staged rows, no copy. PostgreSQL: a temporary table
    filled with COPY, in batches.
    """
    select = ", ".join(["__line", *(quote(c) for c in columns)])
    target = "__tandem_incoming"
    if warehouse.backend_name == "duckdb":
        cur.execute(f"CREATE OR REPLACE TEMP VIEW {target} AS SELECT {select} FROM {typed} WHERE NOT {plan.bad}")
        return target
    definitions = ", ".join(["__line BIGINT", *(f"{quote(c)} {SQL_TYPES[plan.output[c]]}" for c in columns)])
    cur.execute(f"DROP TABLE IF EXISTS {target}")
    cur.execute(f"CREATE TEMP TABLE {target} ({definitions}) ON COMMIT DROP")
    reader = staging.execute(f"SELECT {select} FROM {typed} WHERE NOT {plan.bad}").fetch_record_batch(200_000)
    import pyarrow.csv as pacsv

    with cur.copy(f"COPY {target} ({select}) FROM STDIN WITH (FORMAT csv)") as copy:
        for batch in reader:
            buffer = io.BytesIO()
            pacsv.write_csv(
                batch, buffer, write_options=pacsv.WriteOptions(include_header=False, quoting_style="needed")
            )
            copy.write(buffer.getvalue())
    if plan.table.name in {"stage_events", "activities", "handoffs"}:
        cur.execute(f"CREATE INDEX ON {target} (lead_id)")
    cur.execute(f"ANALYZE {target}")
    return target


def _key_match(spec: Table, left: str, right: str) -> str:
    return " AND ".join(
        f"{left}.{quote(k)} IS NOT DISTINCT FROM {right}.{quote(k)}"
        if k in spec.nullable_key
        else f"{left}.{quote(k)} = {right}.{quote(k)}"
        for k in spec.key
    )


def _upsert(
    cur: Any, warehouse: Warehouse, spec: Table, incoming: str, columns: list[str], import_id: int
) -> tuple[int, int]:
    """Update changed rows (only the given columns), insert new keys. Returns (updated, added)."""
    target = quote(spec.name)
    values = [c for c in columns if c not in spec.key]
    changed = " OR ".join(f"t.{quote(c)} IS DISTINCT FROM s.{quote(c)}" for c in values) or "false"
    updated = 0
    if values:
        assignments = ", ".join(f"{quote(c)} = s.{quote(c)}" for c in values)
        # The rows about to be replaced are kept, so that `tandem imports undo` can put them back.
        keep_replaced(cur, spec, incoming, _key_match(spec, "t", "s"), changed, import_id)
        cur.execute(
            f"UPDATE {target} AS t SET {assignments}, _import_id = {int(import_id)} "
            f"FROM {incoming} AS s WHERE {_key_match(spec, 't', 's')} AND ({changed})"
        )
        updated = _rowcount(cur, warehouse)
    names = ", ".join(quote(c) for c in columns)
    cur.execute(
        f"INSERT INTO {target} ({names}, _import_id) SELECT {', '.join('s.' + quote(c) for c in columns)}, "
        f"{int(import_id)} FROM {incoming} AS s WHERE NOT EXISTS "
        f"(SELECT 1 FROM {target} AS t WHERE {_key_match(spec, 't', 's')})"
    )
    return updated, _rowcount(cur, warehouse)


def _rowcount(cur: Any, warehouse: Warehouse) -> int:
    if warehouse.backend_name == "postgres":
        return int(cur.rowcount)
    row = cur.fetchone()
    return int(row[0]) if row else 0


def _log(cur: Any, result: ImportResult, plan: _Plan, actor: str, started: datetime, origin: str | None) -> None:
    placeholder = "%s" if not isinstance(cur, duckdb.DuckDBPyConnection) else "?"
    values = [
        result.import_id,
        result.table,
        Path(result.file).name,
        origin or str(Path(result.file).resolve()),
        result.sha256,
        plan.mapping.name,
        actor,
        started,
        datetime.now(UTC).replace(tzinfo=None),
        result.rows_read,
        result.added,
        result.updated,
        result.unchanged,
        result.rejected,
        result.filtered,
        result.created_leads,
    ]
    # Columns named: the first undo adds two to the log (`tandem.warehouse.undo.UNDO_LOG_COLUMNS`).
    names = ", ".join(quote(c) for c in IMPORT_LOG_COLUMNS)
    cur.execute(
        f"INSERT INTO {IMPORT_LOG} ({names}) VALUES ({', '.join([placeholder] * len(values))})",
        values,
    )


# ---------------------------------------------------------------------------------------------------------------
# Rejected rows, written beside the input
# ---------------------------------------------------------------------------------------------------------------
def _write_rejects(con: duckdb.DuckDBPyConnection, plan: _Plan, typed: str) -> Path:
    """Write ``NAME.rejected.csv.partial`` beside the input: line, reasons, then the row as it was in the file."""
    derived = f".{plan.table.name}" if plan.derived else ""  # a derived table's rejects beside the file's own
    out = plan.path.with_name(f"{plan.path.name}{derived}.rejected.csv.partial")
    if not os.access(out.parent, os.W_OK):
        raise TandemError(
            f"cannot write the rejected rows beside {plan.path} (no write permission in {out.parent}); "
            "copy the file to a folder you can write to and import it from there"
        )
    reasons: dict[int, list[str]] = {}
    flags = "".join(f", __bad_{i}" for i in range(len(plan.rules)))
    cursor = con.execute(f"SELECT __line, __dup_of{flags} FROM {typed} WHERE {plan.bad} ORDER BY __line")
    while batch := cursor.fetchmany(10_000):
        for line, dup_of, *bad in batch:
            found = reasons.setdefault(int(line), [])
            found += [_reason(rule) for rule, flag in zip(plan.rules, bad, strict=True) if flag]
            if dup_of is not None and dup_of != _REJECTED_REFERENCE:
                found.append(f"duplicate key of line {dup_of}")
    for issue in plan.malformed:
        if issue.line is not None:
            reasons.setdefault(issue.line, []).append(issue.problem)
    refs = f"{typed}_rejected_refs"
    if _count(con, "SELECT count(*) FROM duckdb_tables() WHERE table_name = $name", {"name": refs}):
        for line, reason in con.execute(f"SELECT line, reason FROM {refs}").fetchall():
            reasons.setdefault(int(line), []).append(reason)
    header = [c for c in plan.source_types if not c.startswith("__")]
    cols = ", ".join(quote(c) for c in header)
    raw = f"{typed}_raw"
    malformed = {issue.line: issue.value for issue in plan.malformed if issue.line is not None}
    lines = sorted(set(reasons) - set(malformed))

    def parsed_rows() -> Iterator[list[Any]]:
        for start in range(0, len(lines), 10_000):
            records = con.execute(
                f"SELECT * FROM (SELECT {plan.line_of(raw)} AS __line, {cols} FROM {raw}) "
                "WHERE __line IN (SELECT unnest($lines)) ORDER BY __line",
                {"lines": lines[start : start + 10_000]},
            ).fetchall()
            for line, *values in records:
                shown = [neutralise(None if v is None else str(v)) for v in values]
                yield [line, "; ".join(dict.fromkeys(reasons[int(line)])), *shown]

    # The reader kept no fields of a malformed record: its text goes with the reason.
    unparsed: Iterator[list[Any]] = (
        [line, f"{'; '.join(reasons[line])}: {neutralise(text)}"] for line, text in sorted(malformed.items())
    )
    with out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["line", "reason", *header])
        writer.writerows(heapq.merge(parsed_rows(), unparsed, key=_first_cell))
    return out


def _first_cell(row: Iterable[Any]) -> int:
    return int(next(iter(row)))


def _reason(rule: _Rule) -> str:
    return f"{rule.column}: {rule.problem}"
