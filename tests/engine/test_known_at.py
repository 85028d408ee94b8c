"""As of a past day, nothing later is seen: the `known_at` rule of revenue and pipeline, worked out by hand.

Two imports finished at known times (#1 on Jan 10, #2 on Feb 10); five deals whose rows are as the warehouse keeps
them today (the latest values only), each naming the import that last wrote it. The tables are made on one bare
connection of each backend (DuckDB, PostgreSQL, Spark), and each question runs through the compiled-query machinery
as the workspace runs it: compiled once with sentinel moments, then rebound to each as-of moment.

    deal  created  today                               last written by
    d1    Jan 2    open, Demo, 100                     #1 (Jan 10)
    d2    Jan 5    won Feb 5, Closed Won, 400           #2 (Feb 10)
    d3    Jan 20   open, Proposal, 250                 #2 (Feb 10)
    d4    Jan 3    lost Jan 8, Closed Lost, 0          #2 (Feb 10)
    d5    Jan 4    open, Demo, 30                      #9 (no entry in the log: taken as known)
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tandem.engine.compiled import QUERIES
from tandem.engine.result import Result
from tandem.engine.revenue import pipeline_table, revenue_table
from tandem.engine.spec import FunnelSpec

from ..backends import POSTGRES, Backend
from .reference import REVENUE_VALUES

STAGES = ("lead", "mql", "sql", "opportunity", "won")
BEFORE_BOTH = datetime(2026, 1, 9)  # before import #1
BETWEEN = datetime(2026, 1, 15)  # after #1, before #2
CLOSED_BEFORE_WRITTEN = datetime(2026, 2, 7)  # d2 won on Feb 5; its row was written on Feb 10
AFTER_BOTH = datetime(2026, 3, 1)


def _ts(day: str) -> datetime:
    return datetime.fromisoformat(day)


OPPORTUNITIES = pa.table(
    {
        "opportunity_id": pa.array(["d1", "d2", "d3", "d4", "d5"], pa.string()),
        "created_at": pa.array(
            [_ts("2026-01-02"), _ts("2026-01-05"), _ts("2026-01-20"), _ts("2026-01-03"), _ts("2026-01-04")],
            pa.timestamp("us"),
        ),
        "status": pa.array(["open", "won", "open", "lost", "open"], pa.string()),
        "amount": pa.array([100.0, 400.0, 250.0, 0.0, 30.0], pa.float64()),
        "close_date": pa.array([None, date(2026, 2, 5), None, date(2026, 1, 8), None], pa.date32()),
        "stage": pa.array(["Demo", "Closed Won", "Proposal", "Closed Lost", "Demo"], pa.string()),
        "lead_id": pa.array([None] * 5, pa.string()),
        "_import_id": pa.array([1, 2, 2, 2, 9], pa.int64()),
    }
)
LEADS = pa.table({"lead_id": pa.array([], pa.string()), "created_at": pa.array([], pa.timestamp("us"))})
IMPORTS = pa.table(
    {
        "import_id": pa.array([1, 2], pa.int64()),
        "table_name": pa.array(["opportunities"] * 2, pa.string()),
        "started_at": pa.array([_ts("2026-01-09 23:59"), _ts("2026-02-09 23:59")], pa.timestamp("us")),
        "finished_at": pa.array([_ts("2026-01-10"), _ts("2026-02-10")], pa.timestamp("us")),
    }
)


@dataclass
class Target:
    """A bare connection as the engine's `QueryTarget`: what `Result.for_question` runs a compiled query on."""

    con: Any
    backend_name: str
    duckdb: Any = None
    query_dir: Path | None = None


@contextlib.contextmanager
def connection_holding(backend: Backend, folder: Path, tables: Mapping[str, pa.Table]) -> Iterator[Target]:
    """One connection of `backend` holding `tables` (what a join across them needs), in UTC."""
    import ibis

    if backend.name == "duckdb":
        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        for name, table in tables.items():
            con.create_table(name, table)
        try:
            yield Target(con, "duckdb", duckdb=con.con)
        finally:
            con.disconnect()
    elif backend.name == "postgres":
        with POSTGRES.fresh_database() as url:
            con = ibis.connect(url)
            con.raw_sql("SET TIME ZONE 'UTC'")
            for name, table in tables.items():
                con.create_table(name, table)
            try:
                yield Target(con, "postgres")
            finally:
                con.disconnect()
    else:
        from tandem.warehouse import spark

        session = spark.warehouse_session()
        folder.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, folder / f"{name}.parquet")
            session.read.parquet(str(folder / f"{name}.parquet")).createOrReplaceTempView(name)
        yield Target(spark.connect(session), "pyspark")


@pytest.fixture
def target(backend: Backend, tmp_path: Path) -> Iterator[Target]:
    tables = {"opportunities": OPPORTUNITIES, "leads": LEADS, "import_log": IMPORTS}
    with connection_holding(backend, tmp_path / "data", tables) as found:
        yield found


def ask(
    target: Target, kind: str, as_of: datetime, *, imports: bool = True, **question: Any
) -> tuple[list[dict[str, Any]], Result]:
    """`kind`'s rows as of `as_of`, built, compiled and rebound as the workspace does (`Result.for_question`)."""
    con = target.con

    def log() -> Any:
        return con.table("import_log") if imports else None

    builds: dict[str, Callable[[FunnelSpec], Any]] = {
        "revenue": lambda spec: revenue_table(con.table("opportunities"), con.table("leads"), spec, imports=log()),
        "pipeline": lambda spec: pipeline_table(
            con.table("opportunities"), con.table("leads"), spec.by, spec.as_of, imports=log()
        ),
    }
    spec = FunnelSpec(stages=STAGES, as_of=as_of, **question)
    result = Result.for_question(
        f"known-at-{kind}",
        target,
        spec,
        builds[kind],
        reads=("opportunities", "leads", "import_log"),
        shape=(imports,),
        definition_version=1,
        backend=target.backend_name,
    )
    return result.rows(), result


def pipeline_rows(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(stage, age bin, deals, amount, unknown deals), the unknown stage (null) last on every backend."""
    found = [(r["stage"], r["age_bin"], r["deals"], r["amount"], r["unknown_deals"]) for r in rows]
    return sorted(found, key=lambda r: (r[0] is None, r[0] or "", r[1]))


#: The revenue result's value columns, in order (the reference's: the same columns on every backend).
REVENUE_COLUMNS = REVENUE_VALUES

#: as of -> the one revenue row, in REVENUE_COLUMNS' order.
REVENUE: dict[datetime, tuple[Any, ...]] = {
    # d4 lost on Jan 8 (closing is recorded); d1 and d2 were open, written later: unknown; d5 has no log entry
    BEFORE_BOTH: (0.0, 0, 1, None, 0.0, 30.0, 3, 2, None, None),
    # d1 is known since import #1 (100); d2 is still open and unknown
    BETWEEN: (0.0, 0, 1, None, 0.0, 130.0, 3, 1, None, None),
    # d2 won on Feb 5 (400, 31 days), though its row was written on Feb 10; d3 is open and unknown
    CLOSED_BEFORE_WRITTEN: (400.0, 1, 1, 400.0, 0.5, 130.0, 3, 1, 31.0, 31.0),
    # everything known: today's values
    AFTER_BOTH: (400.0, 1, 1, 400.0, 0.5, 380.0, 3, 0, 31.0, 31.0),
}

#: as of -> pipeline rows (stage, age bin, deals, amount, unknown deals).
PIPELINE: dict[datetime, list[tuple[Any, ...]]] = {
    BEFORE_BOTH: [("Demo", "0-30", 1, 30.0, 0), (None, "0-30", 2, None, 2)],
    BETWEEN: [("Demo", "0-30", 2, 130.0, 0), (None, "0-30", 1, None, 1)],
    CLOSED_BEFORE_WRITTEN: [("Demo", "30-60", 2, 130.0, 0), (None, "0-30", 1, None, 1)],
    AFTER_BOTH: [("Demo", "30-60", 2, 130.0, 0), ("Proposal", "30-60", 1, 250.0, 0)],
}


@pytest.mark.parametrize("as_of", list(REVENUE), ids=lambda d: f"{d:%b-%d}")
def test_revenue_sees_only_what_the_imports_had_written(target: Target, as_of: datetime) -> None:
    (row,) = ask(target, "revenue", as_of)[0]
    assert tuple(row[c] for c in REVENUE_COLUMNS) == REVENUE[as_of]


@pytest.mark.parametrize("as_of", list(PIPELINE), ids=lambda d: f"{d:%b-%d}")
def test_pipeline_puts_deals_written_later_in_an_unknown_stage_without_value(target: Target, as_of: datetime) -> None:
    rows, _ = ask(target, "pipeline", as_of)
    assert pipeline_rows(rows) == PIPELINE[as_of]


def test_no_open_deal_shows_a_stage_it_reached_later(target: Target) -> None:
    """Before the rule, d2 showed as open in stage 'Closed Won' on Jan 15, valued at what it won on Feb 5."""
    rows, _ = ask(target, "pipeline", BETWEEN)
    assert all(row["stage"] != "Closed Won" for row in rows)
    without_log, _ = ask(target, "pipeline", BETWEEN, imports=False)
    assert ("Closed Won", "0-30", 1, 400.0, 0) in pipeline_rows(without_log)


def test_after_the_last_import_the_view_is_todays(target: Target) -> None:
    """A moment after every import sees the same rows as a view that ignores the imports log."""
    for kind in ("revenue", "pipeline"):
        with_log, _ = ask(target, kind, AFTER_BOTH)
        without_log, _ = ask(target, kind, AFTER_BOTH, imports=False)
        assert with_log == without_log


def test_a_breakdown_and_periods_split_the_unknown_deals(target: Target) -> None:
    """By CRM stage and month as of Jan 15: the open deals are placed by creation, the unknown ones by themselves."""
    rows, _ = ask(target, "revenue", BETWEEN, by=("stage",), period="month")
    got = sorted(
        ((r["stage"], r["period"], r["open_deals"], r["open_unknown_amount_deals"], r["open_pipeline"]) for r in rows),
        key=lambda r: (r[0] is None, r[0] or ""),
    )
    # d4 is lost (Closed Lost, Jan); d1 and d5 are Demo (known); d2's stage then is unknown
    assert got == [
        ("Closed Lost", datetime(2026, 1, 1), 0, 0, 0.0),
        ("Demo", datetime(2026, 1, 1), 2, 0, 130.0),
        (None, datetime(2026, 1, 1), 1, 1, 0.0),
    ]


def test_each_moment_is_a_rebound_literal_of_one_compiled_query(target: Target) -> None:
    """The moment reaches the SQL only as a literal: the query is compiled once and rebound to each as-of."""
    QUERIES.clear()
    results = [ask(target, "pipeline", moment)[1] for moment in (BEFORE_BOTH, BETWEEN, AFTER_BOTH)]
    assert all(result._query is not None for result in results)
    assert QUERIES.misses == 1
    assert QUERIES.hits == 2
    assert "2989" not in results[0].sql  # the as-of sentinel's year: bound to the question's own moment
