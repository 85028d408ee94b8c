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
never reuses a query compiled for something else.

They are also kept across processes, on disk beside the workspace (`QueryStore`, ``.tandem/queries/``): every
command-line run is a new process, and building and compiling a funnel costs about 0.1 s of Python plus importing
Ibis, sqlglot and pandas (about 0.5 s more), several times DuckDB's run over 20,000 leads. A stored query is
named by a digest of its key and of a fingerprint of the code that compiles it (tandem's own modules, Ibis,
sqlglot and the backend's driver, by file size and modification time), so an upgrade or an edit never reuses a
query another version of the code wrote. On DuckDB, a question answered from the store imports no Ibis at all:
the moments are rendered as Ibis renders them (`duckdb_timestamp`, checked against Ibis's compiler in the tests),
and the rows are converted to the result's Arrow schema as Ibis converts them (`convert_table`).

Building and compiling run with the garbage collector paused (`paused_gc`): the expression graph is thousands
of small objects, and a full collection in the middle of it doubled the compile time on some calls.

Why not ``ibis.param``: Ibis 12 substitutes a parameter's value as a literal while compiling (``sqlize``), so
parameters save the building, not the compiling. Binding on the database (DuckDB ``$1``, psycopg ``%s``, Spark
``args=``) would work on each backend differently and would hide the moments from ``Result.sql``; literals also
let each database plan with the actual values and the data as it is now, as it does for hand-written SQL (a
prepared plan would outlive the data it was made for).
"""

from __future__ import annotations

import base64
import contextlib
import gc
import hashlib
import importlib.util
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache, cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from tandem.engine.spec import FunnelSpec

if TYPE_CHECKING:
    import ibis.expr.types as ir
    import pyarrow as pa

__all__ = [
    "CACHEABLE_BACKENDS",
    "MOMENTS",
    "QUERIES",
    "SENTINELS",
    "CompiledQuery",
    "QueryCache",
    "QueryStore",
    "QueryTarget",
    "cached_query",
    "compiled_query",
    "convert_table",
    "duckdb_timestamp",
    "fetch_arrow",
    "fetch_rows",
    "paused_gc",
    "question_key",
    "store_at",
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
#: The backends whose compiled queries are kept on disk: their rows are converted with the Arrow schema alone.
#: (Spark converts through pandas with Ibis's types; its session start dwarfs a compile anyway.)
STORED_BACKENDS = frozenset({"duckdb", "postgres"})
#: DuckDB's column types whose Python values (``fetchall``) are exactly what Arrow's ``to_pylist`` gives for the
#: Arrow type Ibis expects (the result's schema): such a result's rows are fetched without Arrow (`plain_rows`).
PLAIN_TYPES: dict[str, frozenset[str]] = {
    "int64": frozenset({"TINYINT", "SMALLINT", "INTEGER", "BIGINT"}),
    "double": frozenset({"DOUBLE"}),
    "string": frozenset({"VARCHAR"}),
    "bool": frozenset({"BOOLEAN"}),
    "timestamp[us]": frozenset({"TIMESTAMP"}),
    "date32[day]": frozenset({"DATE"}),
}
#: Compiled queries kept per process. A workspace asks a few dozen shapes (funnel, velocity, revenue, pipeline and
#: drill-downs, by a few breakdowns and periods); each query is tens of kilobytes of SQL.
CAPACITY = 128


class QueryTarget(Protocol):
    """Where a question runs: what the engine needs of a warehouse (`tandem.warehouse.Warehouse` is one)."""

    @property
    def backend_name(self) -> str:
        """The Ibis backend's name: duckdb, postgres or pyspark."""

    @property
    def duckdb(self) -> Any | None:
        """The DuckDB connection itself, when the backend is DuckDB (no Ibis needed to use it)."""

    @property
    def con(self) -> Any:
        """The Ibis backend (made on first use)."""

    @property
    def query_dir(self) -> Path | None:
        """The folder where compiled queries are kept across processes (`QueryStore`), if anywhere."""


@dataclass(frozen=True)
class CompiledQuery:
    """One question's SQL, compiled once for its shape: `sql` with sentinel literals at `slots`, and its schema."""

    sql: str
    #: (moment, the sentinel's literal as it reads in `sql`), for each moment the SQL uses.
    slots: tuple[tuple[str, str], ...]
    #: The result's columns and types, as Ibis's ``to_pyarrow`` gives them: an Arrow IPC schema message.
    arrow_schema: bytes
    #: The result's column names, in order.
    columns: tuple[str, ...] = ()
    #: Whether DuckDB's own Python values of each column are the rows Arrow would give (`PLAIN_TYPES`).
    plain_rows: bool = False
    #: The result's Ibis schema, when compiled in this process (Spark's conversion needs it; a stored query has none).
    schema: Any = None

    @cached_property
    def arrow(self) -> pa.Schema:
        """The result's Arrow schema (read on first use: a question answered as rows never imports pyarrow)."""
        import pyarrow as pa

        return pa.ipc.read_schema(pa.py_buffer(self.arrow_schema))

    def bind(self, target: QueryTarget, spec: FunnelSpec) -> str:
        """The SQL with `spec`'s moments in place of the sentinels, as a fresh compile of `spec` would read."""
        sql = self.sql
        for moment, text in self.slots:
            value = getattr(spec, moment)
            assert value is not None, f"{moment} is part of the shape: a question without it has another key"
            sql = sql.replace(text, timestamp_literal(target, value))
        return sql

    def to_json(self) -> str:
        return json.dumps(
            {
                "sql": self.sql,
                "slots": [list(slot) for slot in self.slots],
                "arrow": base64.b64encode(self.arrow_schema).decode("ascii"),
                "plain_rows": self.plain_rows,
                "columns": list(self.columns),
            }
        )

    @classmethod
    def from_json(cls, text: str) -> CompiledQuery:
        """The query `to_json` wrote; ValueError (or KeyError, TypeError) for anything else."""
        data = json.loads(text)
        sql, slots, plain_rows, columns = data["sql"], data["slots"], data["plain_rows"], data["columns"]
        if not isinstance(columns, list) or not all(isinstance(column, str) for column in columns):
            raise ValueError("not a compiled query")
        if (
            not isinstance(sql, str)
            or not isinstance(plain_rows, bool)
            or not all(
                isinstance(slot, list) and len(slot) == 2 and slot[0] in MOMENTS and isinstance(slot[1], str)
                for slot in slots
            )
        ):
            raise ValueError("not a compiled query")
        arrow_schema = base64.b64decode(data["arrow"], validate=True)
        return cls(
            sql=sql,
            slots=tuple((moment, text) for moment, text in slots),
            arrow_schema=arrow_schema,
            columns=tuple(columns),
            plain_rows=plain_rows,
        )


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


class QueryStore:
    """Compiled queries kept on disk, one small JSON file each, shared by every process of a workspace.

    Files are written under a temporary name and renamed, so a reader sees a whole query or none; a file that does
    not read back as a query (cut short, edited by hand, from an older format) is ignored and compiled again. At
    most `capacity` files are kept: the least recently used go first.
    """

    def __init__(self, folder: Path, capacity: int = 4 * CAPACITY) -> None:
        self.folder = folder
        self.capacity = capacity
        self.loads = 0
        self.saves = 0

    def _path(self, key: Hashable) -> Path | None:
        text = repr(key)
        if " at 0x" in text:  # an object without a value's repr: not the same key in another process
            return None
        digest = hashlib.sha256(f"{code_fingerprint()}\n{text}".encode()).hexdigest()
        return self.folder / f"{digest[:40]}.json"

    def load(self, key: Hashable) -> CompiledQuery | None:
        path = self._path(key)
        if path is None:
            return None
        try:
            query = CompiledQuery.from_json(path.read_text(encoding="utf-8"))
            os.utime(path)  # recently used: kept the longest
        except (OSError, ValueError, KeyError, TypeError):
            return None
        self.loads += 1
        return query

    def save(self, key: Hashable, query: CompiledQuery) -> None:
        """Keep `query`; a store that cannot be written (a read-only folder, a full disk) only costs a compile."""
        path = self._path(key)
        if path is None:
            return
        temporary = path.with_name(f"{path.stem}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            temporary.write_text(query.to_json(), encoding="utf-8")
            os.replace(temporary, path)
            self.saves += 1
            self._prune()
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink()

    def _prune(self) -> None:
        files = list(self.folder.glob("*.json"))
        if len(files) <= self.capacity:
            return
        by_use = sorted(files, key=lambda f: f.stat().st_mtime_ns)
        for stale in by_use[: len(files) - self.capacity]:
            with contextlib.suppress(OSError):
                stale.unlink()

    def clear(self) -> None:
        for path in self.folder.glob("*.json"):
            with contextlib.suppress(OSError):
                path.unlink()


_stores: dict[Path, QueryStore] = {}
_stores_lock = threading.Lock()


def store_at(folder: Path) -> QueryStore:
    """The process's one `QueryStore` for `folder` (its counters say what this process loaded and saved)."""
    with _stores_lock:
        store = _stores.get(folder)
        if store is None:
            store = _stores[folder] = QueryStore(folder)
        return store


@cache
def code_fingerprint() -> str:
    """Which code compiles queries here: tandem's modules and the compiling libraries, by size and modification time.

    An upgrade or an edit changes a file's time, so queries stored by other code are never read (stat only: no
    library is imported to ask its version).
    """
    files = sorted(Path(__file__).resolve().parents[1].rglob("*.py"))  # the tandem package
    for library in ("ibis", "sqlglot", "duckdb", "psycopg"):
        spec = importlib.util.find_spec(library)
        if spec is not None and spec.origin is not None:
            files.append(Path(spec.origin))
    parts = []
    for path in files:
        with contextlib.suppress(OSError):
            status = path.stat()
            parts.append(f"{path}:{status.st_size}:{status.st_mtime_ns}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


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


def table_schemas(target: QueryTarget, tables: Sequence[str]) -> tuple[Hashable, ...]:
    """Each table's columns and types as the backend has them now: the part of a question's key that says which
    warehouse layout its SQL was compiled for (the SQL names every column of the tables it reads)."""
    raw = target.duckdb
    if raw is not None:  # the relation API reads the catalog without running a query (~10 us a table)
        return tuple(
            (name, tuple(zip(rel.columns, map(str, rel.dtypes), strict=True)))
            for name in tables
            for rel in (raw.table(name),)
        )
    con = target.con
    return tuple(
        (name, tuple((column, str(dtype)) for column, dtype in con.get_schema(name).items())) for name in tables
    )


def question_key(
    kind: str, target: QueryTarget, tables: Sequence[str], spec: FunnelSpec, *extra: Hashable
) -> tuple[Hashable, ...]:
    """The shape of a question: everything its SQL depends on but the moments' values (see the module's doc).

    `extra` holds what the spec does not: the definitions a question reads stage events under, a velocity's
    stages, a drill-down's filter and limit.
    """
    fields = tuple((name, value) for name, value in spec if name not in MOMENTS)
    moments = tuple(getattr(spec, moment) is not None for moment in MOMENTS)
    return (kind, target.backend_name, table_schemas(target, tables), fields, moments, *extra)


def duckdb_timestamp(value: datetime) -> str:
    """A timestamp literal as Ibis's DuckDB compiler writes it (``MAKE_TIMESTAMP(y, m, d, h, m, s.f)``)."""
    seconds = value.second + value.microsecond / 1e6
    return f"MAKE_TIMESTAMP({value.year}, {value.month}, {value.day}, {value.hour}, {value.minute}, {seconds!r})"


_literals: dict[tuple[str, datetime], str] = {}


def timestamp_literal(target: QueryTarget, value: datetime) -> str:
    """`value` as the backend's compiler writes a timestamp literal (what a compiled expression holds).

    Remembered per backend and value (a few hundred microseconds each otherwise: the web app asks as of a
    handful of moments).
    """
    if target.backend_name == "duckdb":
        return duckdb_timestamp(value)
    key = (target.backend_name, value)
    text = _literals.get(key)
    if text is None:
        import ibis
        import ibis.expr.operations as ops

        con = target.con
        op = ibis.literal(value, type="timestamp").op()
        assert isinstance(op, ops.Literal)
        text = str(con.compiler.visit_Literal(op, value=op.value, dtype=op.dtype).sql(dialect=con.dialect))
        if len(_literals) >= 1024:
            _literals.clear()
        _literals[key] = text
    return text


def compiled_query(
    target: QueryTarget, build: Callable[[FunnelSpec], ir.Table], spec: FunnelSpec
) -> CompiledQuery | None:
    """`build`'s expression for `spec`'s shape compiled with sentinel moments, or None when it cannot be rebound.

    None when the backend is not one `fetch_arrow` runs on, when the expression holds in-memory tables (Ibis
    registers those at execution), or when a sentinel left a trace in the SQL other than its literal (a value
    derived from a moment outside the SQL: rebinding would keep the sentinel's).
    """
    import ibis.expr.operations as ops

    if target.backend_name not in CACHEABLE_BACKENDS:
        return None
    con = target.con
    shaped = spec.model_copy(update={m: SENTINELS[m] for m in MOMENTS if getattr(spec, m) is not None})
    with paused_gc():
        expr = build(shaped)
        if expr.op().find(ops.InMemoryTable):
            return None
        sql = str(con.compile(expr))
        schema = expr.schema()
    slots = tuple((m, timestamp_literal(target, SENTINELS[m])) for m in MOMENTS if getattr(spec, m) is not None)
    rest = sql
    for _, text in slots:
        rest = rest.replace(text, "")
    if any(str(sentinel.year) in rest for sentinel in SENTINELS.values()):
        return None
    arrow = schema.to_pyarrow()
    return CompiledQuery(
        sql=sql,
        slots=tuple((m, text) for m, text in slots if text in sql),
        arrow_schema=arrow.serialize().to_pybytes(),
        columns=tuple(arrow.names),
        plain_rows=target.duckdb is not None and _plain_on_duckdb(target.duckdb, sql, arrow),
        schema=schema,
    )


def _plain_on_duckdb(raw: Any, sql: str, arrow: pa.Schema) -> bool:
    """Whether every column DuckDB gives for `sql` is one whose Python value is what Arrow gives (`PLAIN_TYPES`);
    DuckDB binds the query to say, without running it."""
    relation = raw.sql(sql)
    return all(
        str(duckdb_type) in PLAIN_TYPES.get(str(field.type), ())
        for duckdb_type, field in zip(relation.types, arrow, strict=True)
    )


def cached_query(
    kind: str,
    target: QueryTarget,
    spec: FunnelSpec,
    build: Callable[[FunnelSpec], ir.Table],
    reads: Sequence[str],
    shape: tuple[Hashable, ...],
) -> CompiledQuery | None:
    """The compiled query for `spec`'s shape: from this process's cache, from the workspace's store, or compiled."""
    key = question_key(kind, target, reads, spec, *shape)
    found, query = QUERIES.get(key)
    if found:
        return query
    folder = target.query_dir if target.backend_name in STORED_BACKENDS else None
    store = store_at(folder) if folder is not None else None
    query = store.load(key) if store is not None else None
    if query is None:
        query = compiled_query(target, build, spec)
        if query is not None and store is not None:
            store.save(key, query)
    QUERIES.put(key, query)
    return query


def convert_table(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """`table` in `schema`'s types, as Ibis converts a backend's Arrow (``PyArrowData.convert_table``; DuckDB's
    typeless NULL columns become null arrays)."""
    import pyarrow as pa

    if table.schema == schema:
        return table
    arrays = []
    for column, field in zip(table.columns, schema, strict=True):
        if column.type == field.type:
            arrays.append(column)
        elif pa.types.is_null(field.type):
            arrays.append(pa.nulls(len(column)))
        else:
            arrays.append(column.cast(field.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def fetch_arrow(target: QueryTarget, sql: str, query: CompiledQuery) -> pa.Table:
    """Run `sql` on `target` and return its rows in `query`'s Arrow types, as Ibis's ``to_pyarrow`` would."""
    raw = target.duckdb
    if raw is not None:
        return convert_table(raw.sql(sql).to_arrow_table(), query.arrow)
    if target.backend_name == "postgres":
        return convert_table(_postgres_rows(target.con, sql, query.arrow), query.arrow)
    if target.backend_name == "pyspark":
        import pyarrow as pa
        from ibis.backends.pyspark.converter import PySparkPandasData

        frame = PySparkPandasData.convert_table(target.con._session.sql(sql).toPandas(), query.schema)
        return convert_table(pa.Table.from_pandas(frame, preserve_index=False), query.arrow)
    raise NotImplementedError(f"no runner for the {target.backend_name} backend")  # compiled_query keeps none for it


def _postgres_rows(con: Any, sql: str, schema: pa.Schema, chunk: int = 1_000_000) -> pa.Table:
    """The rows of `sql` through a server-side cursor, in batches (Ibis's PostgreSQL ``to_pyarrow_batches``)."""
    import pyarrow as pa
    from ibis import util

    struct = pa.struct(list(schema))
    batches = []
    with con.con.cursor(name=util.gen_name("postgres_cursor")) as cursor, con.con.transaction():
        cursor.execute(sql)
        while rows := cursor.fetchmany(chunk):
            batches.append(pa.RecordBatch.from_struct_array(pa.array(rows, type=struct)))
    table = pa.Table.from_batches(batches, schema=schema)
    return table.rename_columns(list(schema.names)).cast(schema)


def fetch_rows(target: QueryTarget, sql: str) -> list[dict[str, Any]]:
    """Run `sql` on DuckDB and return its rows as Python values, for a query whose `plain_rows` says they are what
    `fetch_arrow` then ``to_pylist`` would give (no Arrow, no pyarrow import: what a command needs)."""
    raw = target.duckdb
    assert raw is not None, "plain rows are fetched from DuckDB only"
    relation = raw.sql(sql)
    names = relation.columns
    return [dict(zip(names, row, strict=True)) for row in relation.fetchall()]
