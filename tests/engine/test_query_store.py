"""Compiled queries outlive the process: a workspace's next process answers from the query stored on disk.

Every command-line run is a new process. `tandem.engine.compiled.QueryStore` keeps each compiled query under the
workspace's ``.tandem/queries/``, named by its shape and by the code that compiled it, so a later process reads
it back instead of importing Ibis and compiling again. These tests empty the process's cache (what a new process
finds), then check that the stored query gives the hand-worked answer without compiling; that a stored file which
does not read back, or that other code wrote, is compiled again; and that the rows fetched without Arrow are
exactly the rows Arrow gives.
"""

from __future__ import annotations

import os
import random
from datetime import datetime
from pathlib import Path
from typing import Any

import ibis
import pytest

from tandem import Workspace
from tandem.engine import Result
from tandem.engine import compiled as compiled_module
from tandem.engine.compiled import (
    QUERIES,
    CompiledQuery,
    QueryStore,
    duckdb_timestamp,
    store_at,
    timestamp_literal,
)

from .conftest import Build
from .journeys import deal, lead

pytestmark = pytest.mark.notrun(["pyspark"], reason="a Spark warehouse's queries are kept in its process only")


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    QUERIES.clear()


def journeys() -> list[Any]:
    """a: lead Jan 2, mql Jan 10, sql Feb 15; b: lead Jan 5, mql Feb 20; c: lead Feb 10."""
    return [
        lead("a", "2026-01-02", channel="email").at("mql", "2026-01-10").at("sql", "2026-02-15"),
        lead("b", "2026-01-05", channel="web").at("mql", "2026-02-20"),
        lead("c", "2026-02-10", channel="web"),
    ]


def reached(result: Result) -> list[int]:
    return [row["reached"] for row in result.rows()]


def stored(ws: Workspace) -> QueryStore:
    return store_at(ws.warehouse.query_dir)


def test_a_new_process_answers_from_the_stored_query_without_compiling(
    build: Build, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = build(journeys())
    assert reached(ws.funnel(by=["channel"], as_of="2026-02-01")) == [1, 1, 0, 0, 0, 1, 0, 0, 0, 0]
    assert len(list(ws.warehouse.query_dir.glob("*.json"))) == 1
    loads = stored(ws).loads

    QUERIES.clear()  # a new process: nothing in memory

    def no_compiling(*args: Any) -> None:
        raise AssertionError("compiled again")

    monkeypatch.setattr(compiled_module, "compiled_query", no_compiling)
    march = ws.funnel(by=["channel"], as_of="2026-03-01")
    assert stored(ws).loads == loads + 1
    # email: a reached lead, mql, sql; web: b and c are leads, b an mql
    assert reached(march) == [1, 1, 1, 0, 0, 2, 1, 0, 0, 0]
    monkeypatch.undo()
    assert march.to_arrow().equals(march.expr.to_pyarrow())  # what a fresh compile gives


def test_a_stored_query_that_does_not_read_back_is_compiled_again(build: Build) -> None:
    ws = build(journeys())
    ws.funnel(as_of="2026-03-01").rows()
    (path,) = ws.warehouse.query_dir.glob("*.json")
    saves = stored(ws).saves
    for damaged in ('{"sql": "SELECT 1"', '{"sql": 1, "slots": [], "arrow": "", "plain_rows": true}', "not json"):
        path.write_text(damaged)
        QUERIES.clear()
        assert reached(ws.funnel(as_of="2026-03-01")) == [3, 2, 1, 0, 0]
    assert stored(ws).saves == saves + 3
    assert CompiledQuery.from_json(path.read_text()).sql  # stored whole again


def test_queries_other_code_stored_are_never_read(build: Build, monkeypatch: pytest.MonkeyPatch) -> None:
    ws = build(journeys())
    ws.funnel(as_of="2026-03-01").rows()
    QUERIES.clear()
    monkeypatch.setattr(compiled_module, "code_fingerprint", lambda: "another version of tandem or Ibis")
    loads = stored(ws).loads
    assert reached(ws.funnel(as_of="2026-03-01")) == [3, 2, 1, 0, 0]
    assert stored(ws).loads == loads
    assert len(list(ws.warehouse.query_dir.glob("*.json"))) == 2  # one per version of the code


@pytest.mark.notrun(["postgres"], reason="rows without Arrow are DuckDB's own Python values")
def test_rows_fetched_without_arrow_are_the_rows_arrow_gives(build: Build) -> None:
    ws = build(
        journeys(),
        [deal("o1", "2026-01-20", "won", amount=1000, closed="2026-02-25", lead="a"), deal("o2", "2026-02-01", "open")],
    )
    moments: dict[str, Any] = {"start": "2026-01-01", "end": "2026-03-01", "as_of": "2026-03-01"}
    asked = [
        ws.funnel(by=["channel"], period="week", window_days=60, **moments),
        ws.velocity("lead", "sql", by=["channel"], **moments),
        ws.revenue(by=["channel"], period="month", **moments),
        ws.pipeline(by=["channel"], as_of="2026-03-01"),
        ws.leads("mql", {"channel": "web"}, **moments),
    ]
    for result in asked:
        assert result._query is not None
        assert result._query.plain_rows, result.kind  # every kind's columns are plain on DuckDB
        plain = result.rows()
        assert result._arrow is None  # no Arrow was made for them
        through_arrow = [{k: (None if v != v else v) for k, v in row.items()} for row in result.to_arrow().to_pylist()]
        assert plain == through_arrow
        assert [type(value) for value in plain[0].values()] == [type(value) for value in through_arrow[0].values()]


def test_duckdb_timestamps_are_written_as_ibis_writes_them() -> None:
    ibis_duckdb = ibis.duckdb.connect()

    class OnDuckDB:  # as the engine sees a warehouse
        backend_name = "duckdb"
        duckdb = ibis_duckdb.con
        con = ibis_duckdb
        query_dir = None

    moments = [
        datetime(2026, 11, 23),
        datetime(2026, 1, 1, 0, 0, 0, 1),
        datetime(2026, 1, 1, 23, 59, 59, 999999),
        datetime(1, 1, 1),
        datetime(9999, 12, 31, 23, 59, 59, 999999),
        datetime(2989, 11, 12, 13, 14, 15, 345679),
    ]
    rng = random.Random(7)
    moments += [datetime(2026, 1, 1).fromtimestamp(rng.uniform(0, 4e9)).replace(tzinfo=None) for _ in range(300)]
    moments += [datetime(2026, 5, 17, 8, 30, rng.randrange(60), rng.randrange(10**6)) for _ in range(300)]
    for moment in moments:
        op = ibis.literal(moment, type="timestamp").op()
        compiler = ibis_duckdb.compiler
        expected = compiler.visit_Literal(op, value=op.value, dtype=op.dtype).sql(dialect=ibis_duckdb.dialect)
        assert duckdb_timestamp(moment) == expected
        assert timestamp_literal(OnDuckDB(), moment) == expected
        assert ibis_duckdb.con.sql(f"SELECT {expected}").fetchone() == (moment,)


def test_the_store_keeps_its_most_recently_used_queries(tmp_path: Path) -> None:
    store = QueryStore(tmp_path / "queries", capacity=2)
    query = CompiledQuery(sql="SELECT 1", slots=(("as_of", "MAKE_TIMESTAMP(2989)"),), arrow_schema=b"\x00")
    store.save(("a",), query)
    store.save(("b",), query)
    for key, used in (("a", 1_000), ("b", 2_000)):  # b used last (the clock's ticks are coarser than a test)
        path = store._path((key,))
        assert path is not None
        os.utime(path, ns=(used, used))
    store.save(("c",), query)
    assert len(list(store.folder.glob("*.json"))) == 2
    assert store.load(("a",)) is None  # the least recently used went
    assert store.load(("b",)) == store.load(("c",)) == query
    assert store.load(("an object", object())) is None  # a key with no value's repr is never stored
