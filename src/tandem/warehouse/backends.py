"""The warehouse: where the canonical tables live, reached through Ibis.

One URL chooses the backend:

- ``duckdb:///warehouse.duckdb`` (the default; a path relative to the workspace folder, or absolute);
- ``postgresql://user@host:5432/dbname`` (optionally ``?schema=name``);
- ``spark:///parquet-folder`` (relative to the workspace folder; ``spark:////abs/folder`` when absolute): read-only,
  each table from ``FOLDER/<table>.parquet`` or ``FOLDER/<table>/``, queried by a local PySpark session (see
  `tandem.warehouse.spark`). A company outgrowing one machine imports into DuckDB or PostgreSQL and moves the tables
  over with `Warehouse.export_parquet`.

Metrics only ever query `Warehouse.table(...)` (Ibis expressions). The import writes through `Warehouse.writer()`,
one database transaction per import, so a failed or killed import leaves every table as it was.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from tandem.errors import BusyError, ConfigError, WorkspaceError
from tandem.warehouse.lease import FileLease, LeaseMode, advisory_key, busy_message, waiting
from tandem.warehouse.schema import TABLES, ColumnType

if TYPE_CHECKING:
    import ibis
    import ibis.expr.datatypes as dt

__all__ = [
    "IMPORT_LOG",
    "IMPORT_NUMBERS",
    "SCHEMA_VERSION",
    "Warehouse",
    "WarehouseURL",
    "quote",
    "take_import_numbers",
]

#: Version of the warehouse layout (canonical tables, import log); `tandem upgrade` migrates older ones.
SCHEMA_VERSION = 1
IMPORT_LOG = "import_log"
#: With a memory limit set, DuckDB's allocator hands freed memory back once a task has held this much, instead of
#: the default 128 MB per thread: memory DuckDB has freed but kept counts against the process, and on a busy machine
#: it kept 0.3 GB more at peak (a 2.2 GB import with a 1 GB limit and two busy cores: 1.87 GB peak by default,
#: 1.58 GB with 32 MB).
ALLOCATOR_FLUSH = "32MB"
#: Every import number given, once: the constraint behind "one number, one import" (an import's log has a row per
#: table it wrote, so the log itself cannot carry it).
IMPORT_NUMBERS = "import_numbers"
META = "tandem_meta"

SQL_TYPES: dict[ColumnType, str] = {
    "string": "VARCHAR",
    "timestamp": "TIMESTAMP",
    "date": "DATE",
    "float": "DOUBLE PRECISION",
    "integer": "BIGINT",
    "boolean": "BOOLEAN",
}
#: Ibis's name of each column type (``ibis.dtype(name)``).
IBIS_TYPES: dict[ColumnType, str] = {
    "string": "string",
    "timestamp": "timestamp",
    "date": "date",
    "float": "float64",
    "integer": "int64",
    "boolean": "boolean",
}

IMPORT_LOG_COLUMNS: dict[str, ColumnType] = {
    "import_id": "integer",
    "table_name": "string",
    "file_name": "string",
    "file_path": "string",
    "sha256": "string",
    "mapping": "string",
    "actor": "string",
    "started_at": "timestamp",
    "finished_at": "timestamp",
    "rows_read": "integer",
    "added": "integer",
    "updated": "integer",
    "unchanged": "integer",
    "rejected": "integer",
    "filtered": "integer",
    "created_leads": "integer",
}


def take_import_numbers(cur: Any, count: int = 1) -> int:
    """Reserve `count` new import numbers inside the writer's transaction; returns the first.

    Writers take numbers one at a time under the write lease; the primary key of `IMPORT_NUMBERS` makes that a
    constraint as well, so a writer outside the lease fails rather than giving a number twice.
    """
    cur.execute(
        f"SELECT greatest((SELECT coalesce(max(import_id), 0) FROM {IMPORT_NUMBERS}), "
        f"(SELECT coalesce(max(import_id), 0) FROM {IMPORT_LOG})) + 1"
    )
    first = int(cur.fetchone()[0])
    values = ", ".join(f"({first + k:d})" for k in range(count))
    cur.execute(f"INSERT INTO {IMPORT_NUMBERS} (import_id) VALUES {values}")
    return first


def quote(identifier: str) -> str:
    """A double-quoted SQL identifier (both DuckDB and PostgreSQL), with embedded quotes doubled."""
    return '"' + identifier.replace('"', '""') + '"'


def column_type_of(dtype: dt.DataType) -> ColumnType:
    """tandem's column type for an Ibis type (attributes keep the type they were created with)."""
    if dtype.is_timestamp():
        return "timestamp"
    if dtype.is_date():
        return "date"
    if dtype.is_integer():
        return "integer"
    if dtype.is_floating() or dtype.is_decimal():
        return "float"
    if dtype.is_boolean():
        return "boolean"
    return "string"


_DUCKDB_INTEGERS = frozenset(
    {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "UHUGEINT"}
)


def column_type_of_duckdb(type_name: str) -> ColumnType:
    """tandem's column type for a DuckDB type name, as `column_type_of` gives for the Ibis type DuckDB's maps to."""
    if type_name.startswith("TIMESTAMP"):
        return "timestamp"
    if type_name == "DATE":
        return "date"
    if type_name in _DUCKDB_INTEGERS:
        return "integer"
    if type_name in {"FLOAT", "DOUBLE"} or type_name.startswith("DECIMAL"):
        return "float"
    if type_name == "BOOLEAN":
        return "boolean"
    return "string"


@dataclass(frozen=True)
class WarehouseURL:
    """A parsed warehouse URL."""

    kind: Literal["duckdb", "postgres", "spark"]
    path: Path | None = None
    host: str | None = None
    port: int = 5432
    user: str | None = None
    password: str | None = None
    database: str | None = None
    schema: str | None = None

    @classmethod
    def parse(cls, url: str, base: Path) -> WarehouseURL:
        parts = urlsplit(url)
        if parts.scheme in {"duckdb", "spark"}:
            raw = unquote(parts.netloc + parts.path)
            raw = raw[1:] if raw.startswith("/") else raw
            if not raw:
                example = "duckdb:///warehouse.duckdb" if parts.scheme == "duckdb" else "spark:///parquet"
                raise ConfigError(f"warehouse URL {url!r} names no path; use {example}")
            path = Path(raw)
            return cls(
                "duckdb" if parts.scheme == "duckdb" else "spark", path=path if path.is_absolute() else base / path
            )
        if parts.scheme in {"postgresql", "postgres", "postgresql+psycopg"}:
            schema = parse_qs(parts.query).get("schema", [None])[0]
            return cls(
                "postgres",
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 5432,
                user=unquote(parts.username) if parts.username else None,
                password=unquote(parts.password) if parts.password else None,
                database=parts.path.lstrip("/") or None,
                schema=schema,
            )
        raise ConfigError(
            f"unsupported warehouse URL {url!r}; use duckdb:///FILE, postgresql://USER@HOST:PORT/DATABASE "
            "or spark:///PARQUET_FOLDER"
        )


class Warehouse:
    """An open warehouse: Ibis for reading, a transactional writer for imports.

    On DuckDB the connection is opened directly (`duckdb`) and Ibis is wrapped around it on first use of `con`: a
    question whose compiled SQL is stored (`tandem.engine.compiled`) runs without importing Ibis at all.
    """

    def __init__(
        self,
        url: str,
        base: Path,
        *,
        create: bool = False,
        duckdb_memory_gb: int = 0,
        wait_seconds: float = 900.0,
    ) -> None:
        self.url = url
        #: Memory limit of every DuckDB connection tandem opens for this warehouse (0: DuckDB's default).
        self.duckdb_memory_gb = duckdb_memory_gb
        #: Longest wait for another process's lease (`tandem.warehouse.lease`) before giving up.
        self.wait_seconds = wait_seconds
        self.location = WarehouseURL.parse(url, base)
        self.temp_dir = base / ".tandem" / "tmp"
        self._lease_mode: LeaseMode | None = None
        #: Called before a lease is taken: the web server checks that the thread holds its warehouse lock.
        self.on_acquire: Callable[[LeaseMode], None] | None = None
        if self.location.kind == "duckdb":
            assert self.location.path is not None
            if not create and not self.location.path.exists():
                raise WorkspaceError(f"the warehouse file {self.location.path} does not exist")
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            # The connection is opened with a lease, on first use (`acquire`), and closed when it is released.
            self._file_lease = FileLease(self.location.path.absolute())
        elif self.location.kind == "spark":
            assert self.location.path is not None
            if not create and not self.location.path.is_dir():
                raise WorkspaceError(f"the Spark warehouse folder {self.location.path} does not exist")
            # `self.con` is made on first use: opening a workspace must not cost a Spark start.
        else:
            loc = self.location
            import ibis

            try:
                backend = self.__dict__["_con"] = ibis.postgres.connect(
                    host=loc.host,
                    port=loc.port,
                    user=loc.user,
                    password=loc.password,
                    database=loc.database,
                    schema=loc.schema,
                )
            except Exception as exc:
                raise WorkspaceError(f"cannot connect to the PostgreSQL warehouse {self.display_url}: {exc}") from None
            if loc.schema and create:
                with backend.con.cursor() as cur:
                    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {quote(loc.schema)}")
            with backend.con.cursor() as cur:
                cur.execute("SET TIME ZONE 'UTC'")
                if loc.schema:
                    cur.execute(f"SET search_path TO {quote(loc.schema)}")

    # --- leases: who may use the warehouse now (tandem.warehouse.lease) -----------------------------------------
    @property
    def lease_mode(self) -> LeaseMode | None:
        """The lease this object holds: "read", "write" or None (a Spark warehouse never needs one)."""
        return self._lease_mode

    def acquire(self, mode: LeaseMode = "read") -> None:
        """Hold at least a `mode` lease, waiting for other processes as `tandem.warehouse.lease` says.

        Reads take one on first use; an import asks for "write". A read lease is given up before a write lease
        is waited for (holding it would make two upgrading processes wait for each other).
        """
        kind = self.location.kind
        held = self._lease_mode
        if kind == "spark" or held == "write" or held == mode:
            return
        if self.on_acquire is not None:
            self.on_acquire(mode)
        if held == "read":
            self.release()
        self._take(mode, wait=True)

    def writer_waiting(self) -> bool:
        """Whether another process waits to write (DuckDB; elsewhere a read lease is given back after each use)."""
        return self.location.kind == "duckdb" and self._file_lease.writer_waiting()

    def try_acquire(self, mode: LeaseMode = "read") -> bool:
        """Take a `mode` lease only if no other process is in the way now; False (and nothing held) if one is.

        The web app refreshes its data versions this way, so a page served from its cache never waits behind an
        import: the import has not committed, so the versions it knows are still the data's.
        """
        kind = self.location.kind
        if kind == "spark" or self._lease_mode in (mode, "write"):
            return True
        if self._lease_mode is not None:
            return False  # upgrading means giving the read lease back first: not without waiting
        if self.on_acquire is not None:
            self.on_acquire(mode)
        return self._take(mode, wait=False)

    def _take(self, mode: LeaseMode, *, wait: bool) -> bool:
        """Take a `mode` lease while holding none: waiting up to `wait_seconds`, or without `wait` not at all
        (False when another process is in the way)."""
        if self.location.kind == "duckdb":
            try:
                self._file_lease.acquire(mode, self.wait_seconds if wait else 0.0)
            except BusyError:
                if wait:
                    raise
                return False
            try:
                self._connect_duckdb(read_only=mode == "read")
            except BaseException:
                self._file_lease.release()
                raise
        elif not self._advisory_lock(mode, wait=wait):
            return False
        self._lease_mode = mode
        return True

    def release(self) -> None:
        """Give the lease back: on DuckDB the connection closes (the next use opens a new one)."""
        if self._lease_mode is None:
            return
        if self.location.kind == "duckdb":
            self.__dict__.pop("_con", None)
            connection = self.__dict__.pop("_duckdb", None)
            if connection is not None:
                with contextlib.suppress(Exception):
                    connection.close()
            self._file_lease.release()
        else:
            function = "pg_advisory_unlock" if self._lease_mode == "write" else "pg_advisory_unlock_shared"
            with contextlib.suppress(Exception), self.__dict__["_con"].con.cursor() as cur:
                cur.execute(f"SELECT {function}(%s)", (self._advisory_key,))
        self._lease_mode = None

    def fingerprint(self) -> tuple[int, ...] | None:
        """Size and modification time of a DuckDB file and its write-ahead log: equal fingerprints mean nothing was
        written in between (None on the other backends: ask the import log)."""
        if self.location.kind != "duckdb":
            return None
        assert self.location.path is not None
        found: list[int] = []
        for path in (self.location.path, self.location.path.with_name(self.location.path.name + ".wal")):
            try:
                stat = path.stat()
                found += [stat.st_size, stat.st_mtime_ns]
            except FileNotFoundError:
                found += [-1, -1]
        return tuple(found)

    def _connect_duckdb(self, *, read_only: bool) -> None:
        import duckdb

        assert self.location.path is not None
        try:
            connection = duckdb.connect(
                str(self.location.path.absolute()),
                read_only=read_only,
                config={"temp_directory": str(self.temp_dir)},
            )
        except Exception as exc:
            if "lock" in str(exc).lower():  # a process outside tandem's leases (the duckdb CLI, a notebook)
                raise WorkspaceError(
                    f"the warehouse {self.location.path} is open in another program that does not take tandem's "
                    "lease (the duckdb shell, a notebook); close it there and try again"
                ) from None
            raise
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute("SET python_enable_replacements = false")
        if self.duckdb_memory_gb:
            connection.execute(f"SET memory_limit = '{int(self.duckdb_memory_gb)}GB'")
            connection.execute(f"SET allocator_flush_threshold = '{ALLOCATOR_FLUSH}'")
        self.__dict__["_duckdb"] = connection

    @property
    def _advisory_key(self) -> int:
        return advisory_key(self.location.host, str(self.location.port), self.location.database, self.location.schema)

    def _advisory_lock(self, mode: LeaseMode, *, wait: bool) -> bool:
        """The lease as a PostgreSQL advisory lock; False when it is taken and `wait` is not asked for."""
        import psycopg

        function = "pg_advisory_lock" if mode == "write" else "pg_advisory_lock_shared"
        conn = self.__dict__["_con"].con
        with conn.cursor() as cur:
            cur.execute(f"SELECT pg_try_{function.removeprefix('pg_')}(%s)", (self._advisory_key,))
            row = cur.fetchone()
            if row is not None and row[0]:
                return True
            if not wait:
                return False
            waiting(None)
            cur.execute(f"SET lock_timeout = '{int(self.wait_seconds * 1000)}ms'")
            try:
                cur.execute(f"SELECT {function}(%s)", (self._advisory_key,))
            except psycopg.errors.LockNotAvailable:
                if not conn.autocommit:
                    conn.rollback()
                raise BusyError(busy_message(self.display_url, self.wait_seconds)) from None
            finally:
                with contextlib.suppress(Exception):
                    cur.execute("SET lock_timeout = 0")
        return True

    @property
    def con(self) -> Any:
        """The Ibis backend, under a read lease taken on first use (`acquire`): Ibis around the DuckDB connection,
        the PostgreSQL connection, or for Spark the shared session with the Parquet registered (made on first use:
        opening a workspace must not cost a Spark start)."""
        found = self.__dict__.get("_con")
        if self.location.kind == "spark":
            return found if found is not None else self._connect_spark()
        if self._lease_mode is None:
            self.acquire("read")
            found = self.__dict__.get("_con")
        if found is None:  # DuckDB: wrap the connection the lease opened
            import ibis

            found = self.__dict__["_con"] = ibis.duckdb.from_connection(self.__dict__["_duckdb"])
        return found

    def _connect_spark(self) -> Any:
        try:
            from tandem.warehouse.spark import connect, register_tables, warehouse_session
        except ImportError:
            raise ConfigError("a spark:/// warehouse needs PySpark: pip install 'tandem[spark]'") from None

        assert self.location.path is not None
        session = warehouse_session()
        register_tables(session, self.location.path)
        found = self.__dict__["_con"] = connect(session)
        return found

    # --- identity ---------------------------------------------------------------------------------------------
    @property
    def backend_name(self) -> str:
        return {"duckdb": "duckdb", "postgres": "postgres", "spark": "pyspark"}[self.location.kind]

    @property
    def duckdb(self) -> Any | None:
        """The DuckDB connection, on a DuckDB warehouse (what `con` wraps; opened with a read lease if none is
        held); None on the others."""
        if self.location.kind != "duckdb":
            return None
        if self._lease_mode is None:
            self.acquire("read")
        return self.__dict__["_duckdb"]

    @property
    def query_dir(self) -> Path:
        """Where this workspace's processes keep the questions' compiled SQL (`tandem.engine.compiled`)."""
        return self.temp_dir.parent / "queries"

    @property
    def display_url(self) -> str:
        """The URL without its password, for status output and logs."""
        loc = self.location
        if loc.kind in {"duckdb", "spark"}:
            return f"{loc.kind}:///{loc.path.resolve() if loc.path else ''}"
        user = f"{loc.user}@" if loc.user else ""
        schema = f"?schema={loc.schema}" if loc.schema else ""
        return f"postgresql://{user}{loc.host}:{loc.port}/{loc.database or ''}{schema}"

    # --- schema ---------------------------------------------------------------------------------------------
    def create_schema(self) -> None:
        """Create the canonical tables, the import log and the meta table (an empty warehouse).

        A Spark warehouse only gets its folder: its tables are whatever Parquet is (or later lands) there.
        """
        if self.location.kind == "spark":
            assert self.location.path is not None
            self.location.path.mkdir(parents=True, exist_ok=True)
            return
        self.acquire("write")
        existing = set(self.con.list_tables())
        for spec in TABLES.values():
            if spec.name in existing:
                raise WorkspaceError(
                    f"the warehouse {self.display_url} already has a table {spec.name!r}; "
                    "point --warehouse at an empty database or schema"
                )
        import ibis

        for spec in TABLES.values():
            schema = {c.name: IBIS_TYPES[c.type] for c in spec.columns} | {"_import_id": "int64"}
            self.con.create_table(spec.name, schema=ibis.schema(schema))
            if self.location.kind == "postgres":
                with self.con.con.cursor() as cur:
                    cols = ", ".join(quote(k) for k in spec.key)
                    cur.execute(f"CREATE INDEX {quote(spec.name + '_key')} ON {quote(spec.name)} ({cols})")
        self.con.create_table(IMPORT_LOG, schema=ibis.schema({k: IBIS_TYPES[v] for k, v in IMPORT_LOG_COLUMNS.items()}))
        self._ensure_import_numbers()
        self.con.create_table(META, ibis.memtable({"key": ["schema_version"], "value": [str(SCHEMA_VERSION)]}))

    def schema_version(self) -> int:
        if self.location.kind == "spark":  # no meta table: the layout is the Parquet's, read as the current one
            return SCHEMA_VERSION
        if self.duckdb is not None:  # the catalog and one row, without Ibis (and without parameters: DuckDB's
            # binding of Python values imports pandas)
            if not self.duckdb.execute(
                f"SELECT count(*) FROM information_schema.tables WHERE table_name = '{META}' AND table_schema = 'main'"
            ).fetchone()[0]:
                raise WorkspaceError(f"the warehouse {self.display_url} has no tandem tables; run `tandem init` first")
            found = self.duckdb.execute(f"SELECT value FROM {quote(META)} WHERE key = 'schema_version'").fetchone()
            return int(found[0])
        if META not in self.con.list_tables():
            raise WorkspaceError(f"the warehouse {self.display_url} has no tandem tables; run `tandem init` first")
        meta = self.con.table(META)
        value = meta.filter(meta.key == "schema_version").value.to_pyarrow().to_pylist()
        return int(value[0])

    def table(self, name: str) -> ibis.Table:
        """An Ibis table expression over one canonical table (or the import log).

        A canonical table added to tandem after the workspace was made (``handoffs``) reads as empty until its
        first import creates it (`_ensure_import_numbers`), so an older workspace needs no upgrade step.
        """
        try:
            return self.con.table(name)
        except Exception:
            spec = TABLES.get(name)
            if spec is None or name in self.con.list_tables():
                raise
            import ibis
            import pyarrow as pa

            schema = {c.name: IBIS_TYPES[c.type] for c in spec.columns} | {"_import_id": "int64"}
            return ibis.memtable(pa.Table.from_pylist([], schema=ibis.schema(schema).to_pyarrow()))

    def columns(self, name: str) -> dict[str, ColumnType]:
        """The table's columns now, attributes included, with tandem's type names."""
        if self.duckdb is not None:  # DuckDB's catalog, without Ibis
            relation = self.duckdb.table(name)
            return {
                col: column_type_of_duckdb(str(typ)) for col, typ in zip(relation.columns, relation.dtypes, strict=True)
            }
        return {col: column_type_of(typ) for col, typ in self.con.get_schema(name).items()}

    def counts(self) -> dict[str, int]:
        import ibis

        if self.location.kind == "spark":  # one Spark job instead of eight (each costs about a second)
            parts = [self.table(n).aggregate(table=ibis.literal(n), rows=ibis._.count()) for n in TABLES]
            found = ibis.union(*parts, distinct=False).to_pyarrow().to_pylist()
            return {
                row["table"]: int(row["rows"]) for row in sorted(found, key=lambda r: list(TABLES).index(r["table"]))
            }
        return {name: int(self.table(name).count().execute()) for name in TABLES}

    def last_import(self) -> dict[str, Any] | None:
        if self.location.kind == "spark":  # no import log: the Parquet was written elsewhere
            return None
        import ibis

        log = self.table(IMPORT_LOG)
        rows = log.order_by(ibis.desc("import_id")).limit(1).to_pyarrow().to_pylist()
        return rows[0] if rows else None

    def imports(self, limit: int | None = 50) -> list[dict[str, Any]]:
        """The import log, newest first: the `limit` newest rows, or all with None."""
        if self.location.kind == "spark":
            return []
        import ibis

        log = self.table(IMPORT_LOG).order_by(ibis.desc("import_id"))
        rows: list[dict[str, Any]] = (log if limit is None else log.limit(limit)).to_pyarrow().to_pylist()
        return rows

    # --- writing ----------------------------------------------------------------------------------------------
    def check_writable(self) -> None:
        """Raise `ConfigError` for a read-only (Spark) warehouse: callers can refuse before doing any work."""
        if self.location.kind == "spark":
            raise ConfigError(
                f"the warehouse {self.display_url} is read-only: a Spark warehouse is read from Parquet files; "
                "import into a DuckDB or PostgreSQL workspace and export its tables with `Warehouse.export_parquet`"
            )

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Any]:
        """A DB-API cursor inside one transaction: committed on success, rolled back on any error."""
        self.check_writable()
        self.acquire("write")
        self._ensure_import_numbers()
        if self.location.kind == "duckdb":
            cur = self.__dict__["_duckdb"]
            cur.execute("BEGIN TRANSACTION")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")
        else:
            conn = self.con.con
            conn.autocommit = False
            try:
                with conn.cursor() as cur:
                    if self.location.schema:
                        cur.execute(f"SET LOCAL search_path TO {quote(self.location.schema)}")
                    yield cur
            except BaseException:
                conn.rollback()
                conn.autocommit = True
                raise
            conn.commit()
            conn.autocommit = True

    def _ensure_import_numbers(self) -> None:
        """The table of import numbers given (`IMPORT_NUMBERS`), made once by the first writer of a workspace and
        filled with the numbers its import log already holds; and any canonical table the workspace predates."""
        if self.__dict__.get("_import_numbers_ready"):
            return
        self.__dict__["_import_numbers_ready"] = True
        missing = [spec for spec in TABLES.values() if spec.name not in set(self.con.list_tables())]
        statements = [
            *(
                f"CREATE TABLE IF NOT EXISTS {quote(spec.name)} ("
                + ", ".join(f"{quote(c.name)} {SQL_TYPES[c.type]}" for c in spec.columns)
                + ', "_import_id" BIGINT)'
                for spec in missing
            ),
            f"CREATE TABLE IF NOT EXISTS {IMPORT_NUMBERS} (import_id BIGINT PRIMARY KEY)",
            f"INSERT INTO {IMPORT_NUMBERS} (import_id) SELECT DISTINCT l.import_id FROM {IMPORT_LOG} l "
            f"WHERE l.import_id IS NOT NULL "
            f"AND NOT EXISTS (SELECT 1 FROM {IMPORT_NUMBERS} n WHERE n.import_id = l.import_id)",
        ]
        if self.location.kind == "duckdb":
            connection = self.__dict__["_duckdb"]
            connection.execute("BEGIN TRANSACTION")
            for statement in statements:
                connection.execute(statement)
            connection.execute("COMMIT")
            return
        conn = self.con.con
        conn.autocommit = False
        try:
            with conn.cursor() as cur:
                if self.location.schema:
                    cur.execute(f"SET LOCAL search_path TO {quote(self.location.schema)}")
                for statement in statements:
                    cur.execute(statement)
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        finally:
            conn.autocommit = True

    # --- moving to Spark --------------------------------------------------------------------------------------
    def export_parquet(self, folder: Path) -> dict[str, Path]:
        """Write every canonical table, attributes included, to ``folder/<table>.parquet``, and when each import
        finished to ``folder/import_log.parquet``; returns the paths.

        This is how a company moves to a Spark warehouse (``spark:///folder``). Rows stream from the database to
        the file (DuckDB copies directly, PostgreSQL through Arrow batches), and each file is written under a
        temporary name and renamed, so a failed export never leaves a truncated table behind.
        """
        if self.location.kind == "spark":
            raise ConfigError(f"the warehouse {self.display_url} is already Parquet; copy its folder instead")
        for name in TABLES:
            if (folder / name).is_dir():
                raise ConfigError(f"{folder / name} already holds Parquet for {name!r}; export into an empty folder")
        folder.mkdir(parents=True, exist_ok=True)
        written: dict[str, Path] = {}
        for name in TABLES:
            target = folder / f"{name}.parquet"
            partial = folder / f".{name}.parquet.partial"
            try:
                self.table(name).to_parquet(partial)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
            written[name] = target
        # When each row was last written (its `_import_id`'s import finished), so that a Spark warehouse read from
        # this export sees as of a past day only what was known then (`tandem.engine.known`).
        log = self.table(IMPORT_LOG).select("import_id", "finished_at")
        target, partial = folder / f"{IMPORT_LOG}.parquet", folder / f".{IMPORT_LOG}.parquet.partial"
        try:
            log.to_parquet(partial)
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        written[IMPORT_LOG] = target
        return written

    def close(self) -> None:
        self.release()
        backend = self.__dict__.pop("_con", None)
        if backend is None or self.location.kind != "postgres":  # Spark's session is the process's: leave it
            return
        with contextlib.suppress(Exception):
            backend.disconnect()
