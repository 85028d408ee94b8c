"""The SLA benchmark's hand-written query (benchmarks/bench_sla.py, `REFERENCE_SQL`) agrees with tandem's report.

The benchmark times tandem's report per rep x week against that query on the 1M-lead demo; the comparison means
something only while both compute the same figures. Here both run on a 2,000-lead demo company (with reassigned,
paused, rejected, recycled and never-decided handoffs) and must agree on every row and column, as the benchmark
checks before it times anything.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import pyarrow as pa
import pytest

from tandem.demo_workspace import build_demo

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sla.py"


def load_script() -> ModuleType:
    """The benchmark script as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location("bench_sla", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ModuleType, Any, Any, Any]]:
    folder = tmp_path_factory.mktemp("sla-bench") / "demo"
    build_demo(folder, leads=2_000, seed=7, today=date(2026, 11, 23), echo=lambda _line: None).close()
    bench = load_script()
    raw, con, stretches = bench.open_warehouse(folder / "warehouse.duckdb")
    yield bench, raw, con, stretches
    raw.close()


def test_the_reference_query_agrees_with_tandem_row_for_row(warehouse: tuple[ModuleType, Any, Any, Any]) -> None:
    bench, raw, con, stretches = warehouse
    tandem = bench.run_tandem(con, stretches)
    reference = bench.run_reference(raw)
    assert bench.disagreements(tandem, reference) == []
    assert tandem.num_rows == reference.num_rows > 0


def test_the_demo_exercises_what_the_query_computes(warehouse: tuple[ModuleType, Any, Any, Any]) -> None:
    """Every handoff is counted once, under one rep and week; the cases the query handles all occur."""
    bench, raw, _con, _stretches = warehouse
    reference = bench.run_reference(raw)
    (assigned,) = raw.sql("SELECT count(*) FROM handoffs WHERE event = 'assigned'").fetchone()
    kinds = dict(raw.sql("SELECT event, count(*) FROM handoffs GROUP BY event").fetchall())
    assert sum(reference.column("handoffs").to_pylist()) == assigned
    assert {"reassigned", "status", "accepted", "rejected", "recycled"} <= kinds.keys()
    assert sum(reference.column("breaches").to_pylist()) > 0


def test_a_difference_is_named_by_row_and_column(warehouse: tuple[ModuleType, Any, Any, Any]) -> None:
    bench, raw, _con, _stretches = warehouse
    reference = bench.run_reference(raw)
    first = reference.slice(0, 1).to_pylist()[0]
    counts = reference.column("handoffs").to_pylist()
    changed = reference.set_column(
        reference.column_names.index("handoffs"), "handoffs", pa.array([counts[0] + 1, *counts[1:]], pa.int64())
    )
    (problem,) = bench.disagreements(changed, reference)
    assert problem == (
        f"row ({first['rep']!r}, {first['period']!r}), column handoffs: tandem {first['handoffs'] + 1}, "
        f"reference {first['handoffs']}"
    )
