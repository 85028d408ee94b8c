"""Shared by the definitions tests: a workspace holding given tables, on DuckDB, PostgreSQL or Spark."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tandem
from tandem import Workspace

from ..conftest import fresh_postgres_database

#: The backends every engine-computed definition is tested on.
BACKENDS = [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("pyspark", marks=pytest.mark.spark),
]


@contextlib.contextmanager
def workspace_holding(backend: str, folder: Path, tables: Mapping[str, pa.Table]) -> Iterator[Workspace]:
    """A workspace on `backend` whose warehouse holds `tables` (canonical name -> rows), closed on exit.

    DuckDB and PostgreSQL import the tables (PostgreSQL in a fresh database, dropped after); Spark reads the
    Parquet files where they lie.
    """
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    files = {}
    for name, table in tables.items():
        files[name] = data / f"{name}.parquet"
        pq.write_table(table, files[name])
    if backend == "pyspark":
        ws = tandem.init_workspace(folder / "ws", warehouse=f"spark:///{data.resolve()}")
        try:
            yield ws
        finally:
            ws.close()
        return
    with fresh_postgres_database() if backend == "postgres" else contextlib.nullcontext("") as url:
        urls = {"database": url, "warehouse": url} if url else {}
        ws = tandem.init_workspace(folder / "ws", **urls)
        try:
            for name, file in files.items():
                ws.import_files(name, [file])
            yield ws
        finally:
            ws.close()
