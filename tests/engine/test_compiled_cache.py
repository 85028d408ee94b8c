"""A question's SQL is compiled once per shape and reused with new moments, on every backend, and never stale.

The cache (tandem.engine.compiled) keeps one compiled query per shape: kind, arguments, backend, definitions, the
tables' columns. These tests ask the same shape with new moments (the as-of moment, the range) and check the
answers against hand-worked numbers and against a fresh compile; and change what the SQL depends on (the
breakdown, the definitions version, a table's columns) to check that nothing compiled for the old one is reused.
"""

from __future__ import annotations

import gc
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.definitions.model import dump_definitions, load_definitions
from tandem.engine import FunnelSpec, Result
from tandem.engine.compiled import (
    QUERIES,
    SENTINELS,
    CompiledQuery,
    QueryCache,
    compiled_query,
    paused_gc,
)

from ..backends import Backend
from .conftest import Build
from .journeys import deal, lead, tables, write_tables

PASSWORD = "a long enough password"


@pytest.fixture(autouse=True)
def empty_cache() -> None:
    QUERIES.clear()


def journeys() -> list[Any]:
    """a: lead Jan 2, mql Jan 10, sql Feb 15; b: lead Jan 5, mql Feb 20; c: lead Feb 10."""
    return [
        lead("a", "2026-01-02", channel="email", employees="80").at("mql", "2026-01-10").at("sql", "2026-02-15"),
        lead("b", "2026-01-05", channel="web", employees="10").at("mql", "2026-02-20"),
        lead("c", "2026-02-10", channel="web", employees="60"),
    ]


def reached(result: Result) -> list[int]:
    return [row["reached"] for row in result.rows()]


def fresh(result: Result) -> pa.Table:
    """What the result's question gives compiled from scratch (Ibis's own compile and run of the expression)."""
    return result.expr.to_pyarrow()


def same_as_fresh(result: Result) -> None:
    """The SQL that ran is the SQL a fresh compile of the question writes, and it gives the same rows."""
    assert result._target is not None
    assert result.sql == str(result._target.con.compile(result.expr))
    assert result.to_arrow().equals(fresh(result))


def test_a_new_as_of_reuses_the_compiled_query_and_gives_the_new_answer(build: Build) -> None:
    ws = build(journeys())
    february = ws.funnel(as_of="2026-02-01")
    assert (QUERIES.misses, QUERIES.hits) == (1, 0)
    march = ws.funnel(as_of="2026-03-01")
    assert (QUERIES.misses, QUERIES.hits) == (1, 1)

    assert reached(february) == [2, 1, 0, 0, 0]
    assert reached(march) == [3, 2, 1, 0, 0]
    assert [row["still_open_from_previous"] for row in march.rows()] == [None, 1, 1, 1, 0]
    same_as_fresh(march)
    assert march.spec.as_of == datetime(2026, 3, 1)
    assert ws.funnel(as_of="2026-02-01").rows() == february.rows()  # and back: nothing of March's is kept


def test_the_range_is_bound_like_the_as_of_moment(build: Build) -> None:
    ws = build(journeys())
    january = ws.funnel(start="2026-01-01", end="2026-02-01", as_of="2026-03-01")
    february = ws.funnel(start="2026-02-01", end="2026-03-01", as_of="2026-03-01")
    assert (QUERIES.misses, QUERIES.hits) == (1, 1)
    assert reached(january) == [2, 1, 0, 0, 0]
    assert reached(february) == [1, 1, 1, 0, 0]
    same_as_fresh(february)
    unbounded = ws.funnel(start="2026-02-01", as_of="2026-03-01")  # no end: another shape
    assert QUERIES.misses == 2
    assert reached(unbounded) == [1, 1, 1, 0, 0]


def test_each_shape_compiles_its_own_query(build: Build) -> None:
    ws = build(journeys())
    shapes: list[dict[str, Any]] = [
        {},
        {"by": ["channel"]},
        {"period": "month"},
        {"by": ["channel"], "period": "month"},
        {"strict": True},
        {"window_days": 30},
        {"horizon_days": 30},
    ]
    results = [ws.funnel(as_of="2026-03-01", **shape) for shape in shapes]
    assert (QUERIES.misses, QUERIES.hits) == (len(shapes), 0)
    for result in results:
        same_as_fresh(result)
    # a's step lead -> mql took 8 days, b's 46: a 30-day window counts only a's
    assert [row["converted_from_previous"] for row in results[5].rows()][:2] == [None, 1]
    assert [row["converted_from_previous"] for row in results[0].rows()][:2] == [None, 2]


def test_every_kind_of_question_runs_the_sql_a_fresh_compile_writes(build: Build) -> None:
    ws = build(
        journeys(),
        [deal("o1", "2026-01-20", "won", amount=1000, closed="2026-02-25", lead="a"), deal("o2", "2026-02-01", "open")],
    )
    for as_of in ("2026-02-15", "2026-03-01"):
        moments: dict[str, Any] = {"start": "2026-01-01", "end": "2026-03-01", "as_of": as_of}
        asked = [
            ws.funnel(by=["channel"], period="week", window_days=60, **moments),
            ws.velocity("lead", "sql", by=["channel"], **moments),
            ws.revenue(by=["channel"], period="month", **moments),
            ws.pipeline(by=["channel"], as_of=as_of),
            ws.leads("mql", {"channel": "web"}, **moments),
            ws.leads("lead", {"channel": None}, strict=True, limit=1, **moments),
        ]
        for result in asked:
            same_as_fresh(result)
            for sentinel in SENTINELS.values():
                assert str(sentinel.year) not in result.sql
    assert (QUERIES.misses, QUERIES.hits) == (6, 6)
    assert [row["lead_id"] for row in ws.leads("mql", {"channel": "web"}, as_of="2026-03-01").rows()] == ["b"]


@pytest.mark.notrun(["pyspark"], reason="a Spark warehouse is read-only: nothing can be imported in between")
def test_a_new_column_in_the_warehouse_recompiles(build: Build, tmp_path: Path) -> None:
    ws = build(journeys())
    assert reached(ws.funnel(by=["channel"], as_of="2026-03-01")) == [1, 1, 1, 0, 0, 2, 1, 0, 0, 0]
    with_region = [lead("d", "2026-02-11", channel="email", region="emea")]
    ws.import_files("leads", [write_tables(tmp_path / "more", tables(with_region))["leads"]])
    assert "region" in ws.warehouse.columns("leads")

    again = ws.funnel(by=["channel"], as_of="2026-03-01")  # the same shape, on a table with one more column
    assert QUERIES.misses == 2
    assert reached(again) == [2, 1, 1, 0, 0, 2, 1, 0, 0, 0]
    same_as_fresh(again)
    by_region = ws.funnel(by=["region"], as_of="2026-03-01")
    assert {(row["region"], row["stage"]): row["reached"] for row in by_region.rows()}[("emea", "lead")] == 1


def test_a_new_definitions_version_recompiles_and_the_old_one_still_answers(build: Build) -> None:
    ws = build(journeys())
    before = ws.funnel(as_of="2026-03-01")
    assert reached(before) == [3, 2, 1, 0, 0]

    ws.definitions.guarded = False
    stages = "\n".join(
        f"  - name: {name}\n    side: {side}\n    description: {name}.{rule}"
        for name, side, rule in [
            ("lead", "marketing", ""),
            ("mql", "marketing", "\n    rule: employees >= 50"),
            ("sql", "sales", ""),
            ("opportunity", "sales", ""),
            ("won", "sales", ""),
        ]
    )
    proposal = ws.definitions.propose(
        _person(ws, "mila", "marketing"), dump_definitions(load_definitions(f"stages:\n{stages}\n")), note="MQL by size"
    )
    ws.definitions.approve(_person(ws, "maud", "marketing"), proposal.id)
    ws.definitions.approve(_person(ws, "saul", "sales"), proposal.id)

    ruled = ws.funnel(as_of="2026-03-01", version=2)
    assert QUERIES.misses == 2
    assert ruled.definition_version == 2
    assert reached(ruled) == [3, 3, 1, 0, 0]  # c (60 employees) is an mql by the rule, from its creation
    same_as_fresh(ruled)
    # As of Feb 1 the rule's moment is rebound too: a is an mql from its creation, c does not exist yet
    assert reached(ws.funnel(as_of="2026-02-01", version=2)) == [2, 1, 0, 0, 0]
    old = ws.funnel(as_of="2026-03-01", version=1)
    assert (QUERIES.misses, QUERIES.hits) == (2, 2)
    assert old.definition_version == 1
    assert reached(old) == reached(before)


def _person(ws: Workspace, username: str, role: str) -> Any:
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=True)
    return ws.accounts.authenticate(username, PASSWORD, "test")


@pytest.mark.notrun(["postgres", "pyspark"], reason="the compiler's check does not depend on the backend")
def test_a_moment_derived_outside_the_sql_is_never_rebound(build: Build, backend: Backend) -> None:
    ws = build(journeys())
    spec = FunnelSpec(stages=("lead", "mql"), as_of=datetime(2026, 3, 1))

    def yesterday(spec: FunnelSpec) -> ibis.Table:  # as_of - 1 day computed in Python: a sentinel's trace
        leads = ws.warehouse.table("leads")
        return leads.filter(leads.created_at <= ibis.literal(spec.as_of - timedelta(days=1), type="timestamp"))

    assert compiled_query(ws.warehouse, yesterday, spec) is None

    def ask() -> Result:
        return Result.for_question(
            "test", ws.warehouse, spec, yesterday, reads=("leads",), definition_version=1, backend=backend.name
        )

    result = ask()
    assert result.to_arrow().num_rows == 3
    assert result._query is None  # built and compiled for the question itself, as before the cache
    assert ask()._query is None
    assert (QUERIES.misses, QUERIES.hits) == (1, 1)  # the shape is remembered as one not to try again


def test_the_cache_keeps_the_most_recently_used_queries() -> None:
    cache = QueryCache(capacity=2)
    query = CompiledQuery(sql="SELECT 1", slots=(), arrow_schema=b"")
    cache.put("a", query)
    cache.put("b", query)
    assert cache.get("a") == (True, query)  # a is now the most recent
    cache.put("c", None)
    assert len(cache) == 2
    assert cache.get("b") == (False, None)
    assert cache.get("c") == (True, None)
    assert (cache.hits, cache.misses) == (2, 1)


def test_the_garbage_collector_is_paused_while_compiling_and_restored_after() -> None:
    assert gc.isenabled()
    with paused_gc():
        assert not gc.isenabled()
        with paused_gc():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with paused_gc():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()
