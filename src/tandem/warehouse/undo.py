"""Undo an import: remove exactly the rows it added and put back the rows it replaced.

What makes it possible
----------------------
- Every canonical row carries ``_import_id``, the import that last wrote it (added it, or updated it).
- Before the importer updates a row, it copies the row as it was into a side table, ``tandem_replaced_<table>``
  (every column of the canonical table, attributes included, plus ``_replaced_by``: the import that replaced it).
  `keep_replaced` does this inside the import's transaction. The side tables are created the first time an import
  updates a row of their table, and gain the attribute columns their table gains, so the warehouse layout
  (`SCHEMA_VERSION`) did not change for them.

What an undo of import N does, in one transaction
-------------------------------------------------
1. Refuses, with the reason, when N does not exist, is itself an undo, was undone already, or later imports depend
   on it: a later import replaced a row N wrote (undo that import first), or a later import wrote rows naming a
   lead N added (stage events, activities). An import that updated rows before tandem kept the replaced rows (no
   side rows for it) cannot be undone either.
2. In every canonical table: deletes the rows whose ``_import_id`` is N (what N added, and N's version of what it
   updated), then inserts back the versions N replaced (with the ``_import_id`` of the import that wrote them) and
   drops them from the side table. A file that also filled a second table under the same import id (a HubSpot
   contacts file gives leads and stage events) is undone in both.
3. Logs the undo in the import log as a new import (a new number, one row per table it changed, ``undo_of`` = N,
   ``removed`` = rows taken out, ``updated`` = rows put back): import numbers stay unique, N's own row stays (shown
   as undone), and the newest import into each table changes, so cached results (the web app's) are recomputed.
   The two columns are added to the import log by the first undo.

Attribute columns that N created stay (empty where N's rows were): other rows may use them, and a later import of
the file finds them there. Rows a later import found unchanged were written by N and go with it: import the file
again to bring them back.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tandem.errors import ConflictError, NotFoundError
from tandem.warehouse.backends import IMPORT_LOG, IMPORT_LOG_COLUMNS, Warehouse, quote, take_import_numbers
from tandem.warehouse.schema import TABLES, Table

__all__ = [
    "REPLACED_BY",
    "UNDO_LOG_COLUMNS",
    "EarlierImport",
    "UndoResult",
    "earlier_imports",
    "keep_replaced",
    "replaced_table",
    "undo_import",
    "with_undo_marks",
]

#: The column of a side table naming the import that replaced the row.
REPLACED_BY = "_replaced_by"
#: Columns the first undo adds to the import log: on an undo's rows, the import it undid and the rows it removed.
UNDO_LOG_COLUMNS = {"undo_of": "BIGINT", "removed": "BIGINT"}

Record = Callable[[str, str, str, Any], None]


def replaced_table(table: str) -> str:
    """The side table holding the rows of `table` that imports replaced."""
    return f"tandem_replaced_{table}"


@dataclass
class UndoResult:
    """What an undo did (or, with ``dry_run``, would do): per table, rows removed and rows put back."""

    import_id: int
    undo_id: int
    table: str
    file: str
    sha256: str
    removed: dict[str, int] = field(default_factory=dict)
    restored: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def summary(self) -> str:
        parts = [
            f"{table}: {self.removed.get(table, 0):,} removed, {self.restored.get(table, 0):,} put back"
            for table in TABLES
            if table in self.removed or table in self.restored
        ]
        done = "would be undone" if self.dry_run else f"undone (logged as import {self.undo_id})"
        return f"import {self.import_id} ({self.file} -> {self.table}) {done}: " + "; ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "import_id": self.import_id,
            "undo_id": None if self.dry_run else self.undo_id,
            "table": self.table,
            "file": self.file,
            "sha256": self.sha256,
            "removed": self.removed,
            "restored": self.restored,
            "dry_run": self.dry_run,
        }


@dataclass(frozen=True)
class EarlierImport:
    """An earlier import of the same file (same sha256) that is still in effect."""

    import_id: int
    tables: tuple[str, ...]
    finished_at: datetime | None

    @property
    def when(self) -> str:
        return f"{self.finished_at:%Y-%m-%d %H:%M} UTC" if self.finished_at else "an unknown date"


# ---------------------------------------------------------------------------------------------------------------
# Inside an import
# ---------------------------------------------------------------------------------------------------------------
def keep_replaced(cur: Any, table: Table, incoming: str, match: str, changed: str, import_id: int) -> None:
    """Before the importer's UPDATE of `table` from `incoming` (aliases ``t`` and ``s``, joined by `match`, where
    `changed`): copy the rows it is about to replace into the side table, marked as replaced by `import_id`."""
    side = replaced_table(table.name)
    columns = _sync_side_table(cur, table.name)
    names = ", ".join(quote(c) for c in columns)
    cur.execute(
        f"INSERT INTO {quote(side)} ({names}, {REPLACED_BY}) "
        f"SELECT {', '.join('t.' + quote(c) for c in columns)}, {int(import_id)} "
        f"FROM {quote(table.name)} AS t, {incoming} AS s WHERE {match} AND ({changed})"
    )


def earlier_imports(cur: Any, sha256: str, before: int) -> list[EarlierImport]:
    """Imports before number `before` of a file with this sha256 that are still in effect (neither undone nor an
    undo), oldest first, each with the tables it wrote."""
    log = _columns(cur, IMPORT_LOG)
    undo = "undo_of" in log
    extra = (
        f" AND l.undo_of IS NULL AND NOT EXISTS (SELECT 1 FROM {IMPORT_LOG} u WHERE u.undo_of = l.import_id)"
        if undo
        else ""
    )
    cur.execute(
        f"SELECT l.import_id, l.table_name, l.finished_at FROM {IMPORT_LOG} l "
        f"WHERE l.sha256 = {_mark(cur)} AND l.import_id < {int(before)}{extra} ORDER BY l.import_id, l.table_name",
        [sha256],
    )
    found: dict[int, tuple[list[str], datetime | None]] = {}
    for import_id, table_name, finished_at in cur.fetchall():
        tables, _ = found.setdefault(int(import_id), ([], finished_at))
        tables.append(str(table_name))
    return [EarlierImport(number, tuple(tables), when) for number, (tables, when) in found.items()]


# ---------------------------------------------------------------------------------------------------------------
# The undo
# ---------------------------------------------------------------------------------------------------------------
def undo_import(
    warehouse: Warehouse,
    import_id: int,
    *,
    actor: str,
    record: Record | None = None,
    dry_run: bool = False,
) -> UndoResult:
    """Undo import `import_id` in one transaction (see the module docstring), then `record` it in the audit log.

    With `dry_run` every check and change is made and then rolled back: the result says what an undo would do.
    Raises `NotFoundError` (no such import) or `ConflictError` (already undone, an undo, or depended on).
    """
    warehouse.check_writable()
    started = datetime.now(UTC).replace(tzinfo=None)
    result: UndoResult | None = None
    try:
        with warehouse.transaction() as cur:
            result = _undo(cur, import_id, actor, started)
            result.dry_run = dry_run
            if dry_run:
                raise _DryRun()
    except _DryRun:
        assert result is not None
        return result
    if record is not None:
        record(
            actor,
            "data.undo",
            result.table,
            {
                "import_id": result.import_id,
                "undo_id": result.undo_id,
                "file": result.file,
                "sha256": result.sha256,
                "removed": result.removed,
                "restored": result.restored,
            },
        )
    return result


class _DryRun(Exception):
    """Rolls a dry run's transaction back."""


def _undo(cur: Any, import_id: int, actor: str, started: datetime) -> UndoResult:
    present = _columns(cur, IMPORT_LOG)
    for name, sql_type in UNDO_LOG_COLUMNS.items():
        if name not in present:  # the first undo: altered only then (an ALTER locks the log for readers)
            cur.execute(f"ALTER TABLE {IMPORT_LOG} ADD COLUMN {quote(name)} {sql_type}")
    mark = _mark(cur)
    cur.execute(
        f"SELECT table_name, file_name, file_path, sha256, mapping, updated, undo_of FROM {IMPORT_LOG} "
        f"WHERE import_id = {mark} ORDER BY table_name",
        [import_id],
    )
    logged = cur.fetchall()
    if not logged:
        cur.execute(f"SELECT max(import_id) FROM {IMPORT_LOG}")
        newest = cur.fetchone()[0]
        known = f"imports are numbered 1 to {newest}" if newest else "nothing has been imported yet"
        raise NotFoundError(f"no import {import_id}: {known} (`tandem imports` lists them)")
    undone_of = logged[0][6]
    if undone_of is not None:
        raise ConflictError(
            f"import {import_id} is the undo of import {undone_of}; an undo cannot be undone: import the file again"
        )
    cur.execute(f"SELECT import_id, finished_at FROM {IMPORT_LOG} WHERE undo_of = {mark}", [import_id])
    already = cur.fetchone()
    if already is not None:
        raise ConflictError(
            f"import {import_id} was already undone by import {already[0]} on {already[1]:%Y-%m-%d %H:%M} UTC"
        )
    tables_of = {str(row[0]) for row in logged}
    # A file that filled several tables under one import id has one log row per table, all naming the file.
    first = logged[0]
    file_name, file_path, sha256, mapping = (first[1], first[2], first[3], first[4])
    _refuse_if_depended_on(cur, import_id)
    updated = sum(int(row[5] or 0) for row in logged)
    kept = 0
    for table in TABLES:
        if _columns(cur, replaced_table(table)):
            kept += _count(
                cur, f"SELECT count(*) FROM {quote(replaced_table(table))} WHERE {REPLACED_BY} = {mark}", [import_id]
            )
    if kept < updated:
        raise ConflictError(
            f"import {import_id} updated {updated:,} rows before tandem kept the rows an import replaces, so they "
            "cannot be put back; import the earlier versions of those rows again instead"
        )
    label = ", ".join(t for t in TABLES if t in tables_of)
    result = UndoResult(import_id, 0, label, str(file_name), str(sha256))
    for table in TABLES:
        removed = _changed(cur, f"DELETE FROM {quote(table)} WHERE _import_id = {mark}", [import_id])
        restored = 0
        side_columns = _columns(cur, replaced_table(table))
        if side_columns:
            columns = [c for c in _columns(cur, table) if c in side_columns]
            names = ", ".join(quote(c) for c in columns)
            side = quote(replaced_table(table))
            restored = _changed(
                cur,
                f"INSERT INTO {quote(table)} ({names}) SELECT {names} FROM {side} WHERE {REPLACED_BY} = {mark}",
                [import_id],
            )
            cur.execute(f"DELETE FROM {side} WHERE {REPLACED_BY} = {mark}", [import_id])
        if removed or restored or table in tables_of:
            result.removed[table] = removed - restored
            result.restored[table] = restored
    result.undo_id = take_import_numbers(cur)
    finished = datetime.now(UTC).replace(tzinfo=None)
    logged_columns = [*IMPORT_LOG_COLUMNS, *UNDO_LOG_COLUMNS]
    for table in result.removed:
        values: dict[str, Any] = {
            "import_id": result.undo_id,
            "table_name": table,
            "file_name": file_name,
            "file_path": file_path,
            "sha256": sha256,
            "mapping": mapping,
            "actor": actor,
            "started_at": started,
            "finished_at": finished,
            "rows_read": 0,
            "added": 0,
            "updated": result.restored[table],
            "unchanged": 0,
            "rejected": 0,
            "filtered": 0,
            "created_leads": 0,
            "undo_of": import_id,
            "removed": result.removed[table],
        }
        listed, marks = ", ".join(quote(n) for n in logged_columns), ", ".join([mark] * len(logged_columns))
        cur.execute(f"INSERT INTO {IMPORT_LOG} ({listed}) VALUES ({marks})", [values[n] for n in logged_columns])
    return result


def _refuse_if_depended_on(cur: Any, import_id: int) -> None:
    """Raise `ConflictError` naming the later imports that depend on `import_id` and why."""
    mark = _mark(cur)
    replaced_by: set[int] = set()
    for table in TABLES:
        if _columns(cur, replaced_table(table)):
            cur.execute(
                f"SELECT DISTINCT {REPLACED_BY} FROM {quote(replaced_table(table))} WHERE _import_id = {mark}",
                [import_id],
            )
            replaced_by |= {int(row[0]) for row in cur.fetchall()}
    referring: dict[int, set[str]] = {}
    for spec in TABLES.values():
        for column, referenced in spec.references.items():
            key = quote(TABLES[referenced].key[0])
            side = replaced_table(referenced)
            kept = (
                f" AND NOT EXISTS (SELECT 1 FROM {quote(side)} s WHERE s.{REPLACED_BY} = {mark} AND s.{key} = a.{key})"
                if _columns(cur, side)
                else ""
            )
            params = [import_id, import_id] + ([import_id] if kept else [])
            cur.execute(
                f"SELECT DISTINCT r._import_id FROM {quote(spec.name)} r "
                f"WHERE r._import_id > {mark} AND r.{quote(column)} IN "
                f"(SELECT a.{key} FROM {quote(referenced)} a WHERE a._import_id = {mark}{kept})",
                params,
            )
            for (later,) in cur.fetchall():
                referring.setdefault(int(later), set()).add(f"{spec.name} naming {referenced} it added")
    if not replaced_by and not referring:
        return
    reasons = [f"import {n} updated rows it wrote" for n in sorted(replaced_by)]
    reasons += [f"import {n} wrote {', '.join(sorted(what))}" for n, what in sorted(referring.items())]
    later = sorted(replaced_by | set(referring), reverse=True)
    raise ConflictError(
        f"import {import_id} cannot be undone: later imports depend on it ({'; '.join(reasons)}); "
        f"undo {'them' if len(later) > 1 else 'it'} first, newest first: "
        + ", ".join(f"tandem imports undo {n}" for n in later)
    )


# ---------------------------------------------------------------------------------------------------------------
# Reading the log
# ---------------------------------------------------------------------------------------------------------------
def with_undo_marks(warehouse: Warehouse, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Import-log rows with ``undo_of``, ``removed`` and ``undone_by`` (the import that undid it) on each, as
    every front end shows them (the columns exist once something was undone)."""
    undone: dict[int, int] = {}
    if rows and "undo_of" in warehouse.columns(IMPORT_LOG):
        log = warehouse.table(IMPORT_LOG)
        found = log.filter(log.undo_of.notnull()).select("undo_of", "import_id").distinct().to_pyarrow().to_pylist()
        undone = {int(row["undo_of"]): int(row["import_id"]) for row in found}
    return [
        {
            **row,
            "undo_of": row.get("undo_of"),
            "removed": row.get("removed"),
            "undone_by": undone.get(int(row["import_id"])),
        }
        for row in rows
    ]


# ---------------------------------------------------------------------------------------------------------------
# SQL helpers (every value a parameter; every identifier tandem's own, quoted)
# ---------------------------------------------------------------------------------------------------------------
def _mark(cur: Any) -> str:
    """The parameter placeholder of the cursor: DuckDB's ``?`` or psycopg's ``%s``."""
    import duckdb

    return "?" if isinstance(cur, duckdb.DuckDBPyConnection) else "%s"


def _columns(cur: Any, table: str) -> dict[str, str]:
    """The columns of `table` in the warehouse's schema and their SQL types, in order; empty if no such table."""
    mark = _mark(cur)
    cur.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_name = {mark} AND table_schema = current_schema() ORDER BY ordinal_position",
        [table],
    )
    return {str(name): str(kind) for name, kind in cur.fetchall()}


def _sync_side_table(cur: Any, table: str) -> list[str]:
    """Create the side table of `table` if needed and give it every column `table` has; return those columns."""
    columns = _columns(cur, table)
    side = replaced_table(table)
    present = _columns(cur, side)
    if not present:
        cur.execute(
            f"CREATE TABLE {quote(side)} AS SELECT *, CAST(NULL AS BIGINT) AS {REPLACED_BY} FROM {quote(table)} "
            "WHERE false"
        )
        if _mark(cur) == "%s":  # PostgreSQL: an undo looks rows up by import
            cur.execute(f"CREATE INDEX ON {quote(side)} ({REPLACED_BY})")
            cur.execute(f"CREATE INDEX ON {quote(side)} (_import_id)")
        return list(columns)
    for name, kind in columns.items():
        if name not in present:
            cur.execute(f"ALTER TABLE {quote(side)} ADD COLUMN {quote(name)} {kind}")
    return list(columns)


def _count(cur: Any, sql: str, params: list[Any]) -> int:
    cur.execute(sql, params)
    return int(cur.fetchone()[0])


def _changed(cur: Any, sql: str, params: list[Any]) -> int:
    """Run a DELETE or INSERT and return how many rows it changed (DuckDB answers with a row, psycopg a rowcount)."""
    cur.execute(sql, params)
    if _mark(cur) == "%s":
        return int(cur.rowcount)
    row = cur.fetchone()
    return int(row[0]) if row else 0
