"""The Spark warehouse: Parquet exported from DuckDB reads back the same, and a workspace reads it through Spark.

Spark starts once for the whole process (about 6 s) and each query costs about a second, so the checks are grouped
into a handful of queries. Which Ibis expressions agree across DuckDB, PostgreSQL and Spark is
tests/test_backend_parity.py's subject; the engine's tests run on Spark through the backend matrix
(tests/backends.py).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ibis
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import tandem
from tandem import ConfigError, Workspace, WorkspaceError
from tandem.warehouse.backends import SCHEMA_VERSION, Warehouse
from tandem.warehouse.schema import TABLES

from .backends import PYSPARK
from .conftest import write

PYSPARK.require(module_level=True)  # skips outside CI when pyspark or Java is missing; fails in CI

from tandem.warehouse import spark  # noqa: E402

pytestmark = pytest.mark.spark

LEADS = (
    "lead_id,created_at,channel,Lead Source,employees\n"
    "L1,2026-01-02 10:00:00.123456,email,web,10\n"
    "L2,2026-01-03 23:30:00,,ads,\n"
    "L3,2026-03-31 23:59:59,email,,250\n"
    "L4,2026-02-28 00:00:01,paid_search,web,\n"
)
EVENTS = (
    "lead_id,stage,occurred_at,amount\n"
    "L1,lead,2026-01-02 10:00:00.123456,\n"
    "L1,mql,2026-01-04 09:00:00,\n"
    "L2,lead,2026-01-03 23:30:00,\n"
    "L3,lead,2026-03-31 23:59:59,1200.5\n"
)
OPPORTUNITIES = (
    "opportunity_id,created_at,status,lead_id,amount,close_date\nO1,2026-01-10 08:00,won,L1,5000,2026-02-01\n"
)


def rows(table: ibis.Table, *order: str) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = table.order_by(list(order)).to_pyarrow().to_pylist()
    return result


@pytest.fixture(scope="module")
def company(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    """A DuckDB workspace with a few imported tables, and its export; the export's layout exercises the reader:
    stage_events as a Spark-style folder of parts, accounts with no Parquet at all."""
    base = tmp_path_factory.mktemp("company")
    ws = tandem.init_workspace(base / "ws")
    ws.import_files("leads", [write(base / "leads.csv", LEADS)])
    ws.import_files("stage_events", [write(base / "events.csv", EVENTS)])
    ws.import_files("opportunities", [write(base / "opportunities.csv", OPPORTUNITIES)])
    folder = base / "parquet"
    ws.warehouse.export_parquet(folder)
    (folder / "stage_events").mkdir()
    (folder / "stage_events.parquet").rename(folder / "stage_events" / "part-00000.parquet")
    write(folder / "stage_events" / "_SUCCESS", "")
    (folder / "accounts.parquet").unlink()
    yield ws, folder
    ws.close()


@pytest.fixture(scope="module")
def warehouse(company: tuple[Workspace, Path]) -> Iterator[Warehouse]:
    _ws, folder = company
    wh = Warehouse(f"spark:///{folder}", Path("/nonexistent"))
    yield wh
    wh.close()


# --- export and URL: no Spark needed -----------------------------------------------------------------------------
def test_export_writes_every_table_with_its_attributes(tmp_path: Path, company: tuple[Workspace, Path]) -> None:
    ws, _folder = company
    written = ws.warehouse.export_parquet(tmp_path / "out")
    names = [*TABLES, "import_log"]
    assert written == {name: tmp_path / "out" / f"{name}.parquet" for name in names}
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(f"{n}.parquet" for n in names)
    log = pq.read_table(written["import_log"])
    assert log.column_names == ["import_id", "finished_at"]
    assert log.column("import_id").to_pylist() == [1, 2, 3]  # leads, stage events, opportunities
    leads = pq.read_table(written["leads"])
    assert leads.num_rows == 4
    assert leads.schema.field("lead_source").type == pa.string()
    assert leads.schema.field("created_at").type == pa.timestamp("us")
    assert pq.read_table(written["accounts"]).column_names == [*TABLES["accounts"].column_names, "_import_id"]


@pytest.mark.postgres
def test_export_from_postgres(postgres_database: str, tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws", database=postgres_database, warehouse=postgres_database) as ws:
        ws.import_files("leads", [write(tmp_path / "leads.csv", LEADS)])
        written = ws.warehouse.export_parquet(tmp_path / "out")
        expected = rows(ws.warehouse.table("leads"), "lead_id")
    assert pq.read_table(written["leads"]).sort_by("lead_id").to_pylist() == expected
    assert pq.read_table(written["spend"]).num_rows == 0


def test_spark_urls_resolve_like_duckdb_ones(tmp_path: Path) -> None:
    (tmp_path / "pq").mkdir()
    relative = Warehouse("spark:///pq", tmp_path)
    assert relative.display_url == f"spark:///{(tmp_path / 'pq').resolve()}"
    assert relative.backend_name == "pyspark"
    assert Warehouse(f"spark:///{tmp_path / 'pq'}", Path("/elsewhere")).location.path == tmp_path / "pq"
    with pytest.raises(WorkspaceError, match="does not exist"):
        Warehouse("spark:///missing", tmp_path)
    with pytest.raises(ConfigError, match="names no path"):
        Warehouse("spark:///", tmp_path)


def test_a_spark_warehouse_is_read_only(warehouse: Warehouse, tmp_path: Path) -> None:
    assert warehouse.schema_version() == SCHEMA_VERSION
    assert warehouse.last_import() is None
    assert warehouse.imports() == []
    with (
        pytest.raises(ConfigError, match=r"read from Parquet files; import into a DuckDB.*export_parquet"),
        warehouse.transaction(),
    ):
        pass
    with pytest.raises(ConfigError, match="already Parquet"):
        warehouse.export_parquet(tmp_path)


def test_stale_duplicate_parquet_is_refused(tmp_path: Path) -> None:
    (tmp_path / "leads").mkdir()
    write(tmp_path / "leads" / "part-0.parquet", "")
    write(tmp_path / "leads.parquet", "")
    with pytest.raises(ConfigError, match="remove the stale one"):
        spark.parquet_source(tmp_path, "leads")
    (tmp_path / "leads.parquet").unlink()
    (tmp_path / "leads" / "part-0.parquet").unlink()
    assert spark.parquet_source(tmp_path, "leads") is None, "a folder with no data file is no table"


# --- reading the export on Spark ----------------------------------------------------------------------------------
def test_spark_reads_what_duckdb_exported(warehouse: Warehouse, company: tuple[Workspace, Path]) -> None:
    ws, _folder = company
    duck = ws.warehouse
    assert warehouse.counts() == duck.counts()  # one Spark job for all eight tables
    assert warehouse.con.name == "pyspark"
    conf = warehouse.con._session.conf
    assert (conf.get("spark.sql.session.timeZone"), conf.get("spark.sql.ansi.enabled")) == ("UTC", "true")

    # Every column and value, attributes included; timestamps exact to the microsecond and not shifted.
    assert warehouse.columns("leads") == duck.columns("leads")
    assert rows(warehouse.table("leads"), "lead_id") == rows(duck.table("leads"), "lead_id")
    assert rows(warehouse.table("leads"), "lead_id")[0]["created_at"] == dt.datetime(2026, 1, 2, 10, 0, 0, 123456)

    # A Spark-style folder of parts, with a date column and money.
    events = warehouse.table("stage_events")
    assert rows(events, "lead_id", "occurred_at") == rows(duck.table("stage_events"), "lead_id", "occurred_at")

    # A table with no Parquet is empty, with the canonical columns.
    assert warehouse.columns("accounts") == duck.columns("accounts")

    # One metric-shaped expression, the null channel kept as its own group.
    def by_channel(t: ibis.Table) -> list[dict[str, Any]]:
        out = t.group_by("channel").aggregate(leads=t.count(), first=t.created_at.min(), staff=t.employees.sum())
        return rows(out, "channel")

    expected = by_channel(duck.table("leads"))
    assert {r["channel"] for r in expected} == {"email", "paid_search", None}
    assert by_channel(warehouse.table("leads")) == expected


def test_a_workspace_can_use_a_spark_warehouse(tmp_path: Path, company: tuple[Workspace, Path]) -> None:
    ws_duck, exported = company
    ws = tandem.init_workspace(tmp_path / "ws", warehouse="spark:///data")
    assert (tmp_path / "ws" / "data").is_dir(), "init creates the Parquet folder"
    ws.close()
    for part in exported.iterdir():  # the company copies its exported tables in
        (shutil.copytree if part.is_dir() else shutil.copy)(part, tmp_path / "ws" / "data" / part.name)
    with tandem.open_workspace(tmp_path / "ws") as ws:
        status = ws.status()
        assert status["warehouse"] == {"backend": "pyspark", "url": f"spark:///{(tmp_path / 'ws' / 'data').resolve()}"}
        assert status["database"]["backend"] == "sqlite"
        assert status["tables"] == ws_duck.warehouse.counts()
        assert status["last_import"] is None
        assert ws.imports() == []
        # As of 15 January, O1 (won on 1 February) was open, and its row was written by an import made today: its
        # stage and amount were not known then (the exported import log says when each import finished).
        (open_then,) = ws.pipeline(as_of="2026-01-15").rows()
        assert (open_then["stage"], open_then["deals"], open_then["unknown_deals"], open_then["amount"]) == (
            None,
            1,
            1,
            None,
        )
        with pytest.raises(ConfigError, match="read-only"):
            ws.import_files("leads", [write(tmp_path / "more.csv", LEADS)])


def test_parquet_written_elsewhere_gets_the_canonical_types(tmp_path: Path) -> None:
    """A company's own Spark job: narrower types, a missing optional column, an extra one kept as an attribute."""
    campaigns = pa.table(
        {
            "campaign_id": ["C1", "C2"],
            "name": ["Spring", "Fall"],
            "channel": ["email", None],
            "budget": pa.array([1000, None], pa.int32()),
            "start_date": pa.array([dt.datetime(2026, 3, 1, 0, 0), None], pa.timestamp("ms")),
            "region_code": ["EU", "US"],
        }
    )
    pq.write_table(campaigns, tmp_path / "campaigns.parquet")
    wh = Warehouse(f"spark:///{tmp_path}", tmp_path)
    assert list(wh.columns("campaigns").items()) == list(
        {
            "campaign_id": "string",
            "name": "string",
            "channel": "string",
            "start_date": "date",
            "end_date": "date",
            "budget": "float",
            "_import_id": "integer",
            "region_code": "string",
        }.items()
    )
    assert rows(wh.table("campaigns"), "campaign_id")[0] == {
        "campaign_id": "C1",
        "name": "Spring",
        "channel": "email",
        "start_date": dt.date(2026, 3, 1),
        "end_date": None,
        "budget": 1000.0,
        "_import_id": None,
        "region_code": "EU",
    }
    wh.close()


def test_memtables_keep_their_nulls_on_spark(warehouse: Warehouse) -> None:
    """Stock Ibis 12 sends memtables through pandas: an int64 null broke counts, a float64 null became NaN."""
    m = ibis.memtable(pa.table({"k": ["a", None, "c"], "f": [1.5, None, 3.0], "i": pa.array([1, None, 3], pa.int64())}))
    query = m.aggregate(f_sum=m.f.sum(), f_n=m.f.count(), i_sum=m.i.sum(), i_n=m.i.count(), k_n=m.k.count())
    assert warehouse.con.to_pyarrow(query).to_pylist() == [{"f_sum": 4.5, "f_n": 2, "i_sum": 4, "i_n": 2, "k_n": 2}]
