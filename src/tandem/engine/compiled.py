"""Compile once, run many times: a question's SQL is compiled once per shape and reused with new moments.

Why: building a funnel's Ibis expressions and compiling them to SQL takes about 0.1 s of Python, several times
DuckDB's run over 20,000 leads; and a long-running process (`tandem serve`) asks the same questions again, with a
new as-of moment each day. Only the moments change; the SQL around them does not.

How this works. A question's SQL depends on its *shape*: the kind of question and its arguments (breakdown,
period, strict, window, horizon, stages, drill-down filter...), the backend, the definitions it is counted under
(stages, rules, scoring), and the columns of the tables it reads. It depends on its *moments* (``as_of``,
``start``, ``end``) only through their literals. So:

1. `compiled_query` builds the expression once with sentinel moments (`SENTINELS`: instants in the 2980s that
   no data holds), compiles it with the backend's own Ibis compiler, and keeps the SQL, the places where each
   sentinel's literal stands, and the result's schema (`CompiledQuery`). It checks that no other trace of a
   sentinel is left in the SQL (a value derived from a moment in Python, ``as_of - 90 days``, would be one): such
   a query is not kept, and the question is built and compiled on every call, as before.
2. `CompiledQuery.bind` swaps in the question's own moments, rendered by the same compiler (``MAKE_TIMESTAMP``
   on DuckDB, a cast on PostgreSQL and Spark), so the SQL that runs is the one Ibis compiles for them.
3. `fetch_arrow` runs that SQL on the backend's connection and converts the rows to the result's schema, as
   Ibis's own ``to_pyarrow`` does on each backend (DuckDB, PostgreSQL, Spark).

Compiled queries are kept in a bounded LRU per process (`QUERIES`), keyed by `question_key`: the shape above,
with each table's columns and types read from the backend on every call (cheap: DuckDB answers from its catalog in
microseconds), so an import that adds a column, a new definitions version, or another workspace's warehouse
never reuses a query compiled for something else. Building and compiling run with the garbage collector paused
(`paused_gc`): the expression graph is thousands of small objects, and a full collection in the middle of it
doubled the compile time on some calls.

Why not ``ibis.param``: Ibis 12 substitutes a parameter's value as a literal while compiling (``sqlize``), so
parameters save the building, not the compiling. Binding on the database (DuckDB ``$1``, psycopg ``%s``, Spark
``args=``) would work on each backend differently and would hide the moments from ``Result.sql``; literals also
let each database plan with the actual values and the data as it is now, as it does for hand-written SQL (a
prepared plan would outlive the data it was made for).
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.operations as ops
import ibis.expr.schema as sch
import ibis.expr.types as ir
import pyarrow as pa

from tandem.engine.spec import FunnelSpec

__all__ = [
    "CACHEABLE_BACKENDS",
    "MOMENTS",
    "QUERIES",
    "SENTINELS",
    "CompiledQuery",
    "QueryCache",
    "compiled_query",
    "fetch_arrow",
    "paused_gc",
    "question_key",
    "table_schemas",
]

#: Stand-ins for a question's moments while its SQL is compiled: distinct instants no data holds, with a fraction
#: of a second so that each has a literal of its own. Their years are looked for in the SQL afterwards.
SENTINELS: dict[str, datetime] = {
    "start": datetime(2987, 1, 2, 3, 4, 5, 123457),
    "end": datetime(2988, 6, 7, 8, 9, 10, 234568),
    "as_of": datetime(2989, 11, 12, 13, 14, 15, 345679),
}
MOMENTS: tuple[str, ...] = tuple(SENTINELS)
#: The backends `fetch_arrow` knows how to run SQL on (Ibis backend names).
CACHEABLE_BACKENDS = frozenset({"duckdb", "postgres", "pyspark"})
#: Compiled queries kept per process. A workspace asks a few dozen shapes (funnel, velocity, revenue, pipeline and
#: drill-downs, by a few breakdowns and periods); each query is tens of kilobytes of SQL.
CAPACITY = 128


@dataclass(frozen=True)
class CompiledQuery:
    """One question's SQL, compiled once for its shape: `sql` with sentinel literals at `slots`, and its schema."""

    sql: str
    #: (moment, the sentinel's literal as it reads in `sql`), for each moment the SQL uses.
    slots: tuple[tuple[str, str], ...]
    schema: sch.Schema

    def bind(self, con: Any, spec: FunnelSpec) -> str:
        """The SQL with `spec`'s moments in place of the sentinels, as a fresh compile of `spec` would read."""
        sql = self.sql
        for moment, text in self.slots:
            value = getattr(spec, moment)
            assert value is not None, f"{moment} is part of the shape: a question without it has another key"
            sql = sql.replace(text, timestamp_literal(con, value))
        return sql


class QueryCache:
    """A bounded, thread-safe LRU of compiled queries (the web app's threads share one).

    A shape whose query cannot be rebound is kept too, as None, so that it is not tried again on every call.
    """

    def __init__(self, capacity: int = CAPACITY) -> None:
        self.capacity = capacity
        self._items: OrderedDict[Hashable, CompiledQuery | None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> tuple[bool, CompiledQuery | None]:
        """(True, the query or None) for a shape seen before, else (False, None)."""
        with self._lock:
            if key not in self._items:
                self.misses += 1
                return False, None
            self._items.move_to_end(key)
            self.hits += 1
            return True, self._items[key]

    def put(self, key: Hashable, query: CompiledQuery | None) -> None:
        with self._lock:
            self._items[key] = query
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self._items)


#: The process's compiled queries. Keys name the backend, so every workspace open in the process can share it.
QUERIES = QueryCache()

_gc_lock = threading.Lock()
_gc_depth = 0
_gc_was_enabled = False


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Run the block with the cyclic garbage collector off (threads may nest it; the outermost turns it back on)."""
    global _gc_depth, _gc_was_enabled
    with _gc_lock:
        if _gc_depth == 0:
            _gc_was_enabled = gc.isenabled()
            gc.disable()
        _gc_depth += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_depth -= 1
            if _gc_depth == 0 and _gc_was_enabled:
                gc.enable()


def table_schemas(con: Any, tables: Sequence[str]) -> tuple[Hashable, ...]:
    """Each table's columns and types as the backend has them now: the part of a question's key that says which
    warehouse layout its SQL was compiled for (the SQL names every column of the tables it reads)."""
    if con.name == "duckdb":  # the relation API reads the catalog without running a query (~10 us a table)
        return tuple(
            (name, tuple(zip(rel.columns, map(str, rel.dtypes), strict=True)))
            for name in tables
            for rel in (con.con.table(name),)
        )
    return tuple((name, con.get_schema(name)) for name in tables)


def question_key(
    kind: str, con: Any, tables: Sequence[str], spec: FunnelSpec, *extra: Hashable
) -> tuple[Hashable, ...]:
    """The shape of a question: everything its SQL depends on but the moments' values (see the module's doc).

    `extra` holds what the spec does not: the definitions a question reads stage events under, a velocity's
    stages, a drill-down's filter and limit.
    """
    fields = tuple((name, value) for name, value in spec if name not in MOMENTS)
    moments = tuple(getattr(spec, moment) is not None for moment in MOMENTS)
    return (kind, con.name, table_schemas(con, tables), fields, moments, *extra)


_literals: dict[tuple[str, datetime], str] = {}


def timestamp_literal(con: Any, value: datetime) -> str:
    """`value` as the backend's compiler writes a timestamp literal (what a compiled expression holds).

    Remembered per backend and value (a few hundred microseconds each otherwise: the web app asks as of a
    handful of moments).
    """
    key = (con.name, value)
    text = _literals.get(key)
    if text is None:
        op = ibis.literal(value, type="timestamp").op()
        assert isinstance(op, ops.Literal)
        text = str(con.compiler.visit_Literal(op, value=op.value, dtype=op.dtype).sql(dialect=con.dialect))
        if len(_literals) >= 1024:
            _literals.clear()
        _literals[key] = text
    return text


def compiled_query(con: Any, build: Callable[[FunnelSpec], ir.Table], spec: FunnelSpec) -> CompiledQuery | None:
    """`build`'s expression for `spec`'s shape compiled with sentinel moments, or None when it cannot be rebound.

    None when the backend is not one `fetch_arrow` runs on, when the expression holds in-memory tables (Ibis
    registers those at execution), or when a sentinel left a trace in the SQL other than its literal (a value
    derived from a moment outside the SQL: rebinding would keep the sentinel's).
    """
    if con.name not in CACHEABLE_BACKENDS:
        return None
    shaped = spec.model_copy(update={m: SENTINELS[m] for m in MOMENTS if getattr(spec, m) is not None})
    with paused_gc():
        expr = build(shaped)
        if expr.op().find(ops.InMemoryTable):
            return None
        sql = str(con.compile(expr))
        schema = expr.schema()
    slots = tuple((m, timestamp_literal(con, SENTINELS[m])) for m in MOMENTS if getattr(spec, m) is not None)
    rest = sql
    for _, text in slots:
        rest = rest.replace(text, "")
    if any(str(sentinel.year) in rest for sentinel in SENTINELS.values()):
        return None
    return CompiledQuery(sql=sql, slots=tuple((m, text) for m, text in slots if text in sql), schema=schema)


def fetch_arrow(con: Any, sql: str, schema: sch.Schema) -> pa.Table:
    """Run `sql` on `con` and return its rows as Arrow in `schema`'s types, as Ibis's ``to_pyarrow`` would."""
    from ibis.formats.pyarrow import PyArrowData

    if con.name == "duckdb":
        from ibis.backends.duckdb.converter import DuckDBPyArrowData

        return DuckDBPyArrowData.convert_table(con.con.sql(sql).to_arrow_table(), schema)
    if con.name == "postgres":
        return PyArrowData.convert_table(_postgres_rows(con, sql, schema), schema)
    if con.name == "pyspark":
        from ibis.backends.pyspark.converter import PySparkPandasData

        frame = PySparkPandasData.convert_table(con._session.sql(sql).toPandas(), schema)
        return PyArrowData.convert_table(pa.Table.from_pandas(frame, preserve_index=False), schema)
    raise NotImplementedError(f"no runner for the {con.name} backend")  # compiled_query keeps none for it


def _postgres_rows(con: Any, sql: str, schema: sch.Schema, chunk: int = 1_000_000) -> pa.Table:
    """The rows of `sql` through a server-side cursor, in batches (Ibis's PostgreSQL ``to_pyarrow_batches``)."""
    from ibis import util

    arrow_schema = schema.to_pyarrow()
    struct = schema.as_struct().to_pyarrow()
    batches = []
    with con.con.cursor(name=util.gen_name("postgres_cursor")) as cursor, con.con.transaction():
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            batches.append(pa.RecordBatch.from_struct_array(pa.array(rows, type=struct)))
    table = pa.Table.from_batches(batches, schema=arrow_schema)
    return table.rename_columns(list(schema.names)).cast(arrow_schema)
