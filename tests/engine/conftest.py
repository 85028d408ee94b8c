"""The engine's `engine` fixture: every engine test runs on each backend.

``build(leads, deals, stages=...)`` loads journeys into a fresh workspace on the parametrised backend:

- ``duckdb``: the embedded default, through the import path;
- ``postgres``: a fresh database on the real server, through the import path;
- ``pyspark``: Spark local mode reading the canonical tables from a Parquet folder.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

import tandem
from tandem import Workspace
from tandem.warehouse.schema import DEFAULT_STAGES

from .journeys import Deal, Lead, tables, write_tables

Build = Callable[..., Workspace]
BACKENDS = [
    "duckdb",
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("pyspark", marks=pytest.mark.spark),
]
#: Referenced tables first, as users import them.
ORDER = ("leads", "stage_events", "opportunities")


@pytest.fixture(params=BACKENDS)
def engine_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def build(engine_backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Build]:
    opened: list[Workspace] = []

    def make(leads: Sequence[Lead], deals: Sequence[Deal] = (), *, stages: Sequence[str] = DEFAULT_STAGES) -> Workspace:
        folder = tmp_path / f"data{len(opened)}"
        files = write_tables(folder, tables(leads, deals))
        target = tmp_path / f"ws{len(opened)}"
        if engine_backend == "pyspark":
            ws = tandem.init_workspace(target, stages=stages, warehouse=f"spark:///{folder.resolve()}")
        else:
            urls = {}
            if engine_backend == "postgres":
                url = request.getfixturevalue("postgres_database")
                urls = {"database": url, "warehouse": url}
            ws = tandem.init_workspace(target, stages=stages, **urls)
            for table in ORDER:
                if table in files and tables_have_rows(files[table]):
                    ws.import_files(table, [files[table]])
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


def tables_have_rows(path: Path) -> bool:
    import pyarrow.parquet as pq

    return bool(pq.ParquetFile(path).metadata.num_rows)
