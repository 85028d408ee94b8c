"""Spark for the warehouse: one local session per process, and Parquet folders read as canonical tables.

Starting Spark costs about 6 s and a JVM, so the process keeps one local ``SparkSession`` (`shared_session`),
started on first use and stopped at exit. Each `Warehouse` gets its own child session (`warehouse_session`): same
JVM and executors, but its own temporary views and SQL settings, so two Spark warehouses in one process (a test
run, a server) never see each other's tables.

A Spark warehouse is read-only: its canonical tables are Parquet written elsewhere (`Warehouse.export_parquet`, or
the company's own Spark jobs). `register_tables` turns a folder into temporary views named after the tables,
with the canonical columns cast to their canonical types and any extra column kept as an attribute.

The JVM's own output (startup banner, warnings) goes to ``spark.log`` in the session's temp folder instead of the
terminal; its tail is quoted if Spark fails to start. PySpark's own JSON dump of every failed query is silenced:
the exception raised carries the same message. PySpark leaves the socket each query's rows arrive on for the
garbage collector to close, with a ResourceWarning each time (an error under pytest's ``-W error``);
`_close_result_sockets` makes it close with the file reading it instead.

`connect` returns an Ibis pyspark backend that registers in-memory tables through Arrow: stock Ibis 12 goes through
pandas, where a null in a numeric column becomes NaN (a float64 column then sums to NaN and counts the row) or
garbage (an int64 column then counts 0 rows), silently unlike DuckDB and PostgreSQL.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import sys
import tempfile
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import ibis
from ibis.backends.pyspark import Backend as _IbisPySpark

from tandem.errors import ConfigError, WorkspaceError
from tandem.warehouse.backends import IMPORT_LOG
from tandem.warehouse.schema import SYSTEM_COLUMNS, TABLES, ColumnType

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import DataType

__all__ = [
    "SparkBackend",
    "connect",
    "parquet_source",
    "register_tables",
    "shared_session",
    "stop_shared_session",
    "warehouse_session",
]

#: Settings of the shared local session. Small shuffles suit one machine; UTC keeps timestamps unshifted; the
#: Parquet reader reads zone-less timestamps as Spark's usual TIMESTAMP, the type Ibis maps its timestamps to;
#: ANSI mode (Spark 4's default, stated so it cannot drift) fails on division by zero and bad casts like PostgreSQL.
SESSION_CONF: dict[str, str] = {
    "spark.master": "local[2]",
    "spark.app.name": "tandem",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "4",
    "spark.default.parallelism": "2",
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.parquet.inferTimestampNTZ.enabled": "false",
    "spark.sql.ansi.enabled": "true",
    "spark.driver.host": "127.0.0.1",
    "spark.driver.bindAddress": "127.0.0.1",
}

_LOG4J2 = """\
rootLogger.level = warn
rootLogger.appenderRef.console.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{yyyy-MM-dd HH:mm:ss} %p %c{1}: %m%n%ex
logger.parquet.name = org.apache.parquet
logger.parquet.level = error
"""

_lock = threading.Lock()
_session: SparkSession | None = None
_temp: Path | None = None
_log: IO[bytes] | None = None


def shared_session() -> SparkSession:
    """The process-wide local SparkSession, started on first call (about 6 s) and reused by every warehouse.

    If the process already runs Spark (a notebook with its own session), that session is used as it is.
    """
    global _session, _temp, _log
    with _lock:
        if _session is not None:
            return _session
        from pyspark import SparkConf, SparkContext
        from pyspark.java_gateway import launch_gateway
        from pyspark.sql import SparkSession

        _close_result_sockets()
        if SparkContext._active_spark_context is not None:
            _session = SparkSession.builder.getOrCreate()
            return _session
        temp = Path(tempfile.mkdtemp(prefix="tandem-spark-"))
        (temp / "log4j2.properties").write_text(_LOG4J2, encoding="utf-8")
        java_options = f"-Dlog4j2.configurationFile=file:{temp / 'log4j2.properties'} -Djava.io.tmpdir={temp}"
        conf = SparkConf(loadDefaults=False).setAll(
            [
                *SESSION_CONF.items(),
                ("spark.driver.extraJavaOptions", java_options),
                ("spark.sql.warehouse.dir", str(temp / "spark-warehouse")),
            ]
        )
        # Python workers (UDFs) must run the same interpreter and packages as this process.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # local mode: no hostname lookup, no LAN address
        log = (temp / "spark.log").open("ab")
        try:
            gateway = launch_gateway(conf, popen_kwargs={"stdout": log, "stderr": log})  # type: ignore[no-untyped-call]
            context = SparkContext(conf=conf, gateway=gateway)
            context.setLogLevel("WARN")
            session = SparkSession(context)
        except Exception as exc:
            log.close()
            tail = _tail(temp / "spark.log")
            shutil.rmtree(temp, ignore_errors=True)
            raise WorkspaceError(f"cannot start Spark (Java 17 and pyspark<4.1 are needed): {exc}\n{tail}") from None
        for name in ("SQLQueryContextLogger", "DataFrameQueryContextLogger"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
        _session, _temp, _log = session, temp, log
        atexit.register(stop_shared_session)
        return session


def _close_result_sockets() -> None:
    """Make the driver's result sockets close when their file is closed or collected, not warn when collected.

    PySpark 4.0 returns ``sock.makefile()`` and drops ``sock`` unclosed ("closed when garbage-collected"). Closing
    the socket object right away is safe: the file holds its own reference, and the connection really closes
    when the file does.
    """
    import pyspark.util

    if getattr(pyspark.util._create_local_socket, "_tandem", False):
        return

    def create_local_socket(sock_info: Any) -> Any:
        sockfile, sock = pyspark.util.local_connect_and_auth(sock_info[0], sock_info[1])
        sock.settimeout(None)  # as PySpark: materialising a result can take any time (SPARK-18281)
        sock.close()
        return sockfile

    create_local_socket._tandem = True  # type: ignore[attr-defined]
    pyspark.util._create_local_socket = create_local_socket


def stop_shared_session() -> None:
    """Stop the shared session and delete its temp folder (at exit; tests may call it to free the JVM)."""
    global _session, _temp, _log
    with _lock:
        if _session is not None and _temp is not None:  # a session tandem started, not a notebook's own
            with contextlib.suppress(Exception):
                _session.stop()
        if _log is not None:
            _log.close()
        if _temp is not None:
            shutil.rmtree(_temp, ignore_errors=True)
        _session, _temp, _log = None, None, None


def warehouse_session() -> SparkSession:
    """A child of the shared session: same JVM, its own temporary views (one per warehouse).

    tandem's SQL settings are set on every child, so they hold even on a notebook's own Spark.
    """
    session = shared_session().newSession()
    for key, value in SESSION_CONF.items():
        if key.startswith("spark.sql."):
            session.conf.set(key, value)
    return session


class SparkBackend(_IbisPySpark):  # type: ignore[misc]
    """Ibis's pyspark backend, with in-memory tables sent to Spark as Arrow so their nulls stay nulls."""

    def _register_in_memory_table(self, op: Any) -> None:
        from ibis.backends.pyspark.datatypes import PySparkSchema

        data = op.data.to_pyarrow(op.schema)
        frame = self._session.createDataFrame(data, schema=PySparkSchema.from_ibis(op.schema))
        frame.createOrReplaceTempView(op.name)


def connect(session: SparkSession) -> SparkBackend:
    """An Ibis backend over `session` (Ibis also pins the session's time zone to UTC)."""
    ibis.pyspark  # noqa: B018 - loads the backend's entry point, which registers `ibis.options.pyspark`
    backend: SparkBackend = SparkBackend().connect(session)
    return backend


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def parquet_source(folder: Path, table: str) -> Path | None:
    """Where `table`'s Parquet is in `folder`: ``<table>.parquet`` (a file or a folder of parts) or ``<table>/``.

    Both present is an error rather than a guess: one of them is stale. A folder without data files (a Spark job
    that wrote nothing) counts as no table: Spark could not read a schema from it.
    """
    found = [p for p in (folder / f"{table}.parquet", folder / table) if p.exists()]
    if len(found) > 1:
        raise ConfigError(
            f"the Spark warehouse {folder} has both {found[0].name} and {found[1].name}/ for table {table!r}; "
            "remove the stale one"
        )
    if not found or (found[0].is_dir() and not _has_data_files(found[0])):
        return None
    return found[0]


def _has_data_files(folder: Path) -> bool:
    """True if `folder` holds a file Spark reads (it skips names starting with ``_`` or ``.``: markers, checksums)."""
    return any(
        p.is_file() and not any(part.startswith(("_", ".")) for part in p.relative_to(folder).parts)
        for p in folder.rglob("*")
    )


def _spark_type(kind: ColumnType) -> DataType:
    from pyspark.sql import types as T

    types: dict[ColumnType, DataType] = {
        "string": T.StringType(),
        "timestamp": T.TimestampType(),
        "date": T.DateType(),
        "float": T.DoubleType(),
        "integer": T.LongType(),
        "boolean": T.BooleanType(),
    }
    return types[kind]


def canonical_frame(session: SparkSession, table: str, source: Path | None) -> DataFrame:
    """`table` as a DataFrame: read from `source` (or empty), canonical columns in canonical types, extras kept.

    A canonical column the files lack is added as nulls, so metrics see the same schema as on DuckDB.
    """
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    wanted: dict[str, DataType] = {c.name: _spark_type(c.type) for c in TABLES[table].columns}
    wanted |= {name: T.LongType() for name in SYSTEM_COLUMNS}
    if source is None:
        schema = T.StructType([T.StructField(name, typ, nullable=True) for name, typ in wanted.items()])
        return session.createDataFrame([], schema)
    frame = session.read.parquet(str(source))
    present = {f.name: f.dataType for f in frame.schema.fields}
    if all(present.get(name) == typ for name, typ in wanted.items()):
        return frame  # the usual case (an export from tandem): nothing to cast, no extra plan step
    # DuckDB's column order: canonical columns, the import id, then attributes as the files have them.
    columns = [
        F.lit(None).cast(typ).alias(name)
        if name not in present
        else F.col(f"`{name}`").cast(typ).alias(name)
        if present[name] != typ
        else F.col(f"`{name}`")
        for name, typ in wanted.items()
    ]
    columns += [F.col(f"`{name}`") for name in present if name not in wanted]
    return frame.select(*columns)


def register_tables(session: SparkSession, folder: Path) -> dict[str, Path | None]:
    """Register every canonical table of the Parquet `folder` as a temp view of `session`; returns each source.

    Spark reads only the files' footers here, not their rows, so this is cheap next to a query.
    """
    sources = {name: parquet_source(folder, name) for name in TABLES}
    for name, source in sources.items():
        canonical_frame(session, name, source).createOrReplaceTempView(name)
    import_log_frame(session, parquet_source(folder, IMPORT_LOG)).createOrReplaceTempView(IMPORT_LOG)
    return sources


def import_log_frame(session: SparkSession, source: Path | None) -> DataFrame:
    """When each import finished (``import_id``, ``finished_at``), from ``import_log.parquet`` when the folder has
    one (`Warehouse.export_parquet` writes it), else empty: every row then counts as known on any day, having no
    record of when it was written (`tandem.engine.known`)."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    schema = T.StructType(
        [T.StructField("import_id", T.LongType(), nullable=True), T.StructField("finished_at", T.TimestampType())]
    )
    if source is None:
        return session.createDataFrame([], schema)
    frame = session.read.parquet(str(source))
    return frame.select(F.col("import_id").cast(T.LongType()), F.col("finished_at").cast(T.TimestampType()))
