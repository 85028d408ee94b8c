"""The backend matrix: every warehouse the engine runs on, declared once, and how a test gets a workspace on it.

A test that touches the warehouse asks for the ``backend`` fixture (tests/conftest.py), directly or through a
fixture built on it (``workspace``, ``make_workspace``, the engine's ``build``, a module's own workspace fixture),
and runs once per backend below, as in Ibis. The test id names the backend (``test_x[duckdb]``) and each backend
but the default carries its pytest mark, so a run picks its backends with ``-m``::

    pytest -m "not spark"                   # DuckDB and PostgreSQL
    pytest -m "not postgres and not spark"  # DuckDB alone: nothing to start
    pytest -m spark                         # the Spark runs (and the Spark warehouse's own tests)

========  ========  ====================  ===============================================  ==============
backend   mark      application database  warehouse                                        imports
========  ========  ====================  ===============================================  ==============
duckdb    (none)    SQLite file           DuckDB file in the workspace (tandem's default)  yes
postgres  postgres  a fresh database      the same database                                yes
pyspark   spark     SQLite file           canonical Parquet files, read by Spark           no (read-only)
========  ========  ====================  ===============================================  ==============

- PostgreSQL is the server at $TANDEM_TEST_POSTGRES_URL (default ``postgresql://postgres@127.0.0.1:5432/test``,
  what scripts/test.sh and .ci/run use). Each workspace gets a database of its own, created on that server and
  dropped (``WITH (FORCE)``) when the workspace is done with.
- Spark is PySpark in local mode: one session per test process (tandem.warehouse.spark.shared_session), started by
  the first Spark test (about 6 s). Its warehouse reads Parquet written elsewhere: a test's tables are written as
  ``<table>.parquet`` and read in place, where the other backends import them.
- A backend that cannot run here (no server, no pyspark, no Java) skips its tests, with the reason, only outside
  CI. In CI (the ``CI`` environment variable set, as .ci/run's runners do) it fails them: CI never skips a backend.

Declaring a gap (never a silent skip, never an ``if backend...: return`` that drops assertions):

- ``@pytest.mark.notimpl(["pyspark"], reason="...", raises=SomeError)``: the test runs there as a strict xfail
  (Ibis's ``notimpl``): it must fail (with that exception, when given); the day it passes, remove the mark.
- ``@pytest.mark.notrun(["pyspark"], reason="...")``: the test is not collected on that backend. For what cannot
  exist there (DuckDB compared with itself), or a run left out to keep the suite's time: say which in the reason.
  A module may carry it in ``pytestmark``; it then applies to the module's matrix tests only.
- A capability a fixture needs, declared here once: tests using ``make_workspace`` (so ``workspace`` too) import
  into the warehouse or test the application database, so they are not collected on a backend whose warehouse
  takes no imports (`NEEDS_IMPORTS`).

Adding a backend: subclass `Backend` (``name``: Ibis's name for it, which is also `Warehouse.backend_name` and the
id in test names; ``mark``: a pytest mark, registered in pyproject.toml's markers), say what it needs to run
(`missing`), where a workspace keeps its stores (`stores`) and how a bare Ibis table is made on it
(`parquet_table`), and add an instance to `BACKENDS`. Every matrix test then runs on it: declare its gaps.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import re
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tandem
from tandem import Workspace

if TYPE_CHECKING:
    import ibis

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
POSTGRES_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL") or DEFAULT_POSTGRES_URL
#: The canonical tables in the order users import them: referenced tables first.
IMPORT_ORDER = ("accounts", "campaigns", "leads", "stage_events", "opportunities", "touches", "spend", "activities")
#: Fixtures whose tests write into the warehouse or the application database.
NEEDS_IMPORTS = frozenset({"make_workspace"})
READ_ONLY = (
    "its warehouse is read-only (Parquet written elsewhere) and its application database is SQLite as on duckdb: "
    "make_workspace's tests import, or test the application database"
)


def in_ci() -> bool:
    """Whether this is a CI run (``CI`` set to anything but empty, 0, false or no), where no backend may skip."""
    return os.environ.get("CI", "").strip().lower() not in {"", "0", "false", "no"}


def hide_password(url: str) -> str:
    return re.sub(r"(://[^:/@]*):[^@]*@", r"\1:***@", url)


class Backend:
    """One warehouse backend of the matrix: its name and mark, what it can do, and how to make a workspace on it."""

    #: Ibis's name for the backend: `Warehouse.backend_name`, a result's `backend`, the id in test names.
    name: ClassVar[str]
    #: The pytest mark selecting its runs (None: the default backend, always run).
    mark: ClassVar[str | None] = None
    #: Whether its warehouse takes imports; a read-only one reads canonical Parquet files in place.
    imports: ClassVar[bool] = True

    def __repr__(self) -> str:
        return self.name

    def param(self) -> Any:
        """This backend as a pytest parameter: its id and its mark."""
        return pytest.param(self, id=self.name, marks=[getattr(pytest.mark, self.mark)] if self.mark else [])

    def missing(self) -> str | None:
        """Why this backend cannot run here (None: it can)."""
        return None

    def require(self, *, module_level: bool = False) -> None:
        """Skip (outside CI) or fail (in CI) the calling test when this backend cannot run here."""
        why = self.missing()
        if why is None:
            return
        if in_ci():
            pytest.fail(f"{self.name}: {why}; CI runs every backend", pytrace=False)
        pytest.skip(f"{self.name}: {why} (outside CI only; in CI this fails)", allow_module_level=module_level)

    @contextlib.contextmanager
    def stores(self, folder: Path, data: Path | None) -> Iterator[dict[str, str]]:
        """`tandem.init_workspace`'s store URLs for a new workspace in `folder` whose canonical Parquet is `data`."""
        yield {}

    @contextlib.contextmanager
    def workspace(
        self, folder: Path, data: Path | None = None, *, tables: Sequence[str] = IMPORT_ORDER, **init: Any
    ) -> Iterator[Workspace]:
        """A new workspace in `folder` on this backend, holding the canonical Parquet files in `data`.

        `data` holds ``<table>.parquet`` files (as `Warehouse.export_parquet` and the demo generator write them):
        imported in the order of `tables` (files with no rows left out: an import refuses them), or read in place by
        a read-only backend. `init` goes to `tandem.init_workspace` and wins over the backend's store URLs. The
        workspace is closed on exit, and its PostgreSQL database dropped.
        """
        self.require()
        if data is None and not self.imports:
            data = folder / "data"
            data.mkdir(parents=True)
        with contextlib.ExitStack() as stack:
            urls = stack.enter_context(self.stores(folder, data))
            ws = stack.enter_context(tandem.init_workspace(folder, **{**urls, **init}))
            if self.imports and data is not None:
                for name in tables:
                    file = data / f"{name}.parquet"
                    if file.is_file() and pq.ParquetFile(file).metadata.num_rows:
                        ws.import_files(name, [file])
            yield ws

    @contextlib.contextmanager
    def workspace_holding(self, folder: Path, tables: Mapping[str, pa.Table], **init: Any) -> Iterator[Workspace]:
        """A workspace (``folder/ws``) on this backend holding `tables` (canonical name -> rows, imported in this
        order), written first as ``folder/data/<table>.parquet``."""
        data = folder / "data"
        data.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            pq.write_table(table, data / f"{name}.parquet")
        with self.workspace(folder / "ws", data, tables=list(tables), **init) as ws:
            yield ws

    @contextlib.contextmanager
    def parquet_table(self, path: Path, name: str) -> Iterator[ibis.Table]:
        """The Parquet file `path` as table `name` on a bare Ibis connection to this backend, in UTC (for tests of
        Ibis expressions themselves, below the warehouse)."""
        raise NotImplementedError(f"{self.name}: parquet_table")
        yield  # pragma: no cover


class DuckDB(Backend):
    name = "duckdb"

    @contextlib.contextmanager
    def parquet_table(self, path: Path, name: str) -> Iterator[ibis.Table]:
        import ibis

        con = ibis.duckdb.connect()
        con.raw_sql("SET TimeZone = 'UTC'")
        try:
            yield con.read_parquet(path, table_name=name)
        finally:
            con.disconnect()


class PostgreSQL(Backend):
    name = "postgres"
    mark = "postgres"
    url = POSTGRES_URL

    def missing(self) -> str | None:
        return _postgres_unreachable(self.url)

    @contextlib.contextmanager
    def fresh_database(self) -> Iterator[str]:
        """URL of a new, empty database on the server, dropped on exit."""
        import psycopg

        self.require()
        name = f"tandem_t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield f"{self.url.rsplit('/', 1)[0]}/{name}"
        finally:
            with psycopg.connect(self.url, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    @contextlib.contextmanager
    def stores(self, folder: Path, data: Path | None) -> Iterator[dict[str, str]]:
        with self.fresh_database() as url:
            yield {"database": url, "warehouse": url}

    @contextlib.contextmanager
    def parquet_table(self, path: Path, name: str) -> Iterator[ibis.Table]:
        import ibis

        with self.fresh_database() as url:
            con = ibis.connect(url)
            con.raw_sql("SET TIME ZONE 'UTC'")
            try:
                yield con.create_table(name, pq.read_table(path))
            finally:
                con.disconnect()


@functools.cache
def _postgres_unreachable(url: str) -> str | None:
    if importlib.util.find_spec("psycopg") is None:
        return "psycopg is not installed (pip install -e '.[test]')"
    import psycopg

    try:
        psycopg.connect(url, connect_timeout=5).close()
    except psycopg.Error as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        return (
            f"no PostgreSQL server at {hide_password(url)} ({first}); start one or set TANDEM_TEST_POSTGRES_URL "
            "(scripts/test.sh defaults it to the local server)"
        )
    return None


class PySpark(Backend):
    name = "pyspark"
    mark = "spark"
    imports = False

    def missing(self) -> str | None:
        if importlib.util.find_spec("pyspark") is None:
            return "pyspark is not installed (pip install -e '.[test]')"
        if shutil.which("java") is None:
            return "Spark needs Java 17 on the PATH"
        return None

    @contextlib.contextmanager
    def stores(self, folder: Path, data: Path | None) -> Iterator[dict[str, str]]:
        assert data is not None, "a read-only warehouse reads its Parquet in place"
        yield {"warehouse": f"spark:///{data.resolve()}"}

    @contextlib.contextmanager
    def parquet_table(self, path: Path, name: str) -> Iterator[ibis.Table]:
        from tandem.warehouse import spark

        self.require()
        session = spark.warehouse_session()
        session.read.parquet(str(path)).createOrReplaceTempView(name)
        yield spark.connect(session).table(name)


DUCKDB, POSTGRES, PYSPARK = DuckDB(), PostgreSQL(), PySpark()
#: The matrix, the default first.
BACKENDS: tuple[Backend, ...] = (DUCKDB, POSTGRES, PYSPARK)
BY_NAME = {b.name: b for b in BACKENDS}


def _declared(mark: pytest.Mark, where: str) -> tuple[list[str], str]:
    """The backends and the reason of a ``notimpl``/``notrun`` mark, checked: known names, a reason given."""
    if len(mark.args) != 1 or isinstance(mark.args[0], str):
        raise pytest.UsageError(f"{where}: @pytest.mark.{mark.name} takes one list of backend names, not {mark.args}")
    names = list(mark.args[0])
    if unknown := [n for n in names if n not in BY_NAME]:
        raise pytest.UsageError(f"{where}: @pytest.mark.{mark.name}: unknown backend(s) {unknown}; known: {[*BY_NAME]}")
    reason = mark.kwargs.get("reason")
    if not reason:
        raise pytest.UsageError(f"{where}: @pytest.mark.{mark.name}({names}) needs a reason=")
    return names, str(reason)


def not_run(node: pytest.Item | Any, fixturenames: Iterable[str]) -> dict[str, str]:
    """Backend name -> why a test (its node, and every fixture it uses) is not collected on that backend."""
    out: dict[str, str] = {}
    for mark in node.iter_markers("notrun"):
        names, reason = _declared(mark, node.nodeid)
        for name in names:
            out.setdefault(name, reason)
    if NEEDS_IMPORTS & set(fixturenames):
        for b in BACKENDS:
            if not b.imports:
                out.setdefault(b.name, READ_ONLY)
    return out


def parameters(node: pytest.Item | Any, fixturenames: Iterable[str]) -> list[Any]:
    """The `backend` parameters of a test: the matrix less what it is declared not to run on."""
    skipped = not_run(node, fixturenames)
    params = [b.param() for b in BACKENDS if b.name not in skipped]
    if not params:
        raise pytest.UsageError(f"{node.nodeid}: excluded from every backend ({skipped}); drop the `backend` fixture")
    return params


def not_implemented(item: pytest.Item) -> Any | None:
    """The strict xfail mark of a ``notimpl`` gap declared for the backend `item` runs on, if any."""
    callspec = getattr(item, "callspec", None)
    backend = callspec.params.get("backend") if callspec is not None else None
    if not isinstance(backend, Backend):
        return None
    for mark in item.iter_markers("notimpl"):
        names, reason = _declared(mark, item.nodeid)
        if backend.name in names:
            return pytest.mark.xfail(
                reason=f"not implemented on {backend.name}: {reason}", raises=mark.kwargs.get("raises"), strict=True
            )
    return None


def describe() -> str:
    """One line for pytest's header: the backends, their marks, where PostgreSQL is, whether this is CI."""
    parts = [f"{b.name}" + (f" (-m {b.mark})" if b.mark else "") for b in BACKENDS]
    return (
        f"tandem backends: {', '.join(parts)}; PostgreSQL at {hide_password(POSTGRES.url)}; "
        f"CI: {'yes (a missing backend fails)' if in_ci() else 'no (a missing backend skips)'}"
    )
