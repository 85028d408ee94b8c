"""Revenue from opportunities, worked out by hand, on every backend; and the Maven CRM figures."""

from __future__ import annotations

import csv
import statistics
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from ..backends import DUCKDB, Backend
from ..conftest import REPO, require_dataset
from .conftest import Build
from .journeys import deal, lead

AS_OF = datetime(2026, 3, 1)


def test_won_revenue_win_rate_deal_size_and_cycle(build: Build) -> None:
    """January closes: won 100 (9 days), won 300 (20 days), lost 1; one deal open since Jan 15 (50)."""
    ws = build(
        [lead("a", channel="email"), lead("b", channel="events")],
        [
            deal("o1", "2026-01-01", "won", amount=100, closed="2026-01-10", lead="a"),
            deal("o2", "2026-01-05", "won", amount=300, closed="2026-01-25", lead="b"),
            deal("o3", "2026-01-02", "lost", amount=70, closed="2026-01-20", lead="a"),
            deal("o4", "2026-01-15", "open", amount=50, lead="b"),
        ],
    )
    (row,) = ws.revenue(as_of=AS_OF).rows()
    assert (row["won_revenue"], row["won_deals"], row["lost_deals"]) == (400.0, 2, 1)
    assert row["average_deal_size"] == 200.0
    assert row["win_rate"] == pytest.approx(2 / 3)
    assert (row["open_pipeline"], row["open_deals"]) == (50.0, 1)
    assert row["median_sales_cycle_days"] == 14.5
    assert row["mean_sales_cycle_days"] == 14.5


def test_revenue_by_a_lead_column_and_period(build: Build) -> None:
    ws = build(
        [lead("a", channel="email"), lead("b", channel=None)],
        [
            deal("o1", "2026-01-01", "won", amount=100, closed="2026-01-10", lead="a"),
            deal("o2", "2026-01-05", "won", amount=300, closed="2026-02-03", lead="b"),
            deal("o3", "2026-01-02", "lost", closed="2026-02-20", lead="a"),
        ],
    )
    rows = ws.revenue(by=["channel"], period="month", as_of=AS_OF).rows()
    got = [(r["channel"], r["period"], r["won_revenue"], r["won_deals"], r["lost_deals"], r["win_rate"]) for r in rows]
    assert got == [
        ("email", datetime(2026, 1, 1), 100.0, 1, 0, 1.0),
        ("email", datetime(2026, 2, 1), 0.0, 0, 1, 0.0),
        (None, datetime(2026, 2, 1), 300.0, 1, 0, 1.0),
    ]


def test_no_closed_deal_means_no_win_rate(build: Build) -> None:
    ws = build([lead("a")], [deal("o1", "2026-01-01", "open", amount=10, lead="a")])
    (row,) = ws.revenue(as_of=AS_OF).rows()
    assert (row["win_rate"], row["average_deal_size"], row["won_revenue"]) == (None, None, 0.0)


def test_open_pipeline_by_stage_and_age(build: Build) -> None:
    ws = build(
        [lead("a")],
        [
            deal("o1", "2026-02-20", "open", amount=10, lead="a", stage="Demo"),  # 9 days old
            deal("o2", "2026-02-25", "open", amount=20, lead="a", stage="Demo"),  # 4 days
            deal("o3", "2025-12-01", "open", amount=40, lead="a", stage="Proposal"),  # 90 days
            deal("o4", "2026-01-01", "won", amount=99, closed="2026-01-09", lead="a", stage="Closed Won"),
        ],
    )
    rows = ws.pipeline(as_of=AS_OF).rows()
    assert [(r["stage"], r["age_bin"], r["deals"], r["amount"]) for r in rows] == [
        ("Demo", "0-30", 2, 30.0),
        ("Proposal", "90-180", 1, 40.0),
    ]


# --- the Maven CRM pipeline -----------------------------------------------------------------------------------
def maven_expected(maven: Path) -> tuple[float, Decimal, float]:
    """Win rate, won value and median days engage -> close of won deals, from the CSV with the standard library."""
    with (maven / "sales_pipeline.csv").open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["engage_date"]]
    won = [r for r in rows if r["deal_stage"] == "Won"]
    lost = [r for r in rows if r["deal_stage"] == "Lost"]
    value = sum((Decimal(r["close_value"]) for r in won), Decimal(0))
    days = [(date.fromisoformat(r["close_date"]) - date.fromisoformat(r["engage_date"])).days for r in won]
    return len(won) / (len(won) + len(lost)), value, statistics.median(days)


def test_maven_win_rate_won_value_and_cycle(backend: Backend, tmp_path: Path) -> None:
    """Imported through the Maven mapping; a read-only warehouse reads what a DuckDB import exported. Without the
    dataset this fails in CI and skips elsewhere (`require_dataset`)."""
    maven = require_dataset("maven-crm-sales-opportunities", "sales_pipeline.csv")
    source = tmp_path / "sales_pipeline.csv"
    source.write_bytes((maven / "sales_pipeline.csv").read_bytes())
    mapping = str(REPO / "examples" / "maven-opportunities.toml")
    with (backend if backend.imports else DUCKDB).workspace(tmp_path / "ws") as ws:
        ws.import_files("opportunities", [source], mapping=mapping, skip_invalid=True)
        if backend.imports:
            (row,) = ws.revenue(as_of="2018-01-01").rows()
        else:
            ws.warehouse.export_parquet(tmp_path / "parquet")
    if not backend.imports:
        with backend.workspace(tmp_path / "spark", tmp_path / "parquet") as read_only:
            (row,) = read_only.revenue(as_of="2018-01-01").rows()
    win_rate, won_value, median_days = maven_expected(maven)
    assert row["win_rate"] == pytest.approx(win_rate, rel=1e-12)
    assert Decimal(str(round(row["won_revenue"], 2))) == won_value
    assert row["median_sales_cycle_days"] == median_days
