"""Plan against actual with pacing: worked by hand on every backend, and on the demo company against pandas."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.demo_workspace import build_demo
from tandem.plan.pacing import expected_to_date, pacing
from tests.engine import reference as ref

from ..backends import Backend

JAN, FEB, MAR = date(2026, 1, 1), date(2026, 2, 1), date(2026, 3, 1)
Q1_END = date(2026, 3, 31)


def test_the_plan_is_due_month_by_month_and_evenly_within_a_month() -> None:
    plan = {JAN: 310.0, FEB: 280.0, MAR: 310.0}
    assert expected_to_date(plan, JAN, Q1_END, date(2026, 2, 14)) == pytest.approx(310 + 280 * 14 / 28)
    assert expected_to_date(plan, JAN, Q1_END, date(2026, 1, 1)) == pytest.approx(10)  # the first day is due
    assert expected_to_date(plan, JAN, Q1_END, date(2025, 12, 31)) == 0
    assert expected_to_date(plan, JAN, Q1_END, date(2026, 7, 1)) == pytest.approx(900)
    assert expected_to_date(plan, FEB, Q1_END, date(2026, 7, 1)) == pytest.approx(590)  # January is outside


def _tables() -> dict[str, pa.Table]:
    """13 leads created 5 January: 8 MQLs in January, 3 in February before the 14th and 2 after."""
    mql_days = [datetime(2026, 1, 10 + i) for i in range(8)]
    mql_days += [datetime(2026, 2, 2), datetime(2026, 2, 9), datetime(2026, 2, 14, 12)]
    mql_days += [datetime(2026, 2, 20), datetime(2026, 3, 2)]
    ids = [f"L{i}" for i in range(len(mql_days))]
    return {
        "leads": pa.table(
            {"lead_id": ids, "created_at": pa.array([datetime(2026, 1, 5)] * len(ids), pa.timestamp("us"))}
        ),
        "stage_events": pa.table(
            {"lead_id": ids, "stage": ["mql"] * len(ids), "occurred_at": pa.array(mql_days, pa.timestamp("us"))}
        ),
        # Won on 20 January (1,000) and 10 February (2,000); won on 20 February, after the as-of day (5,000); lost.
        "opportunities": pa.table(
            {
                "opportunity_id": ["o1", "o2", "o3", "o4"],
                "lead_id": ["L0", "L1", "L2", "L3"],
                "created_at": pa.array([datetime(2026, 1, 12)] * 4, pa.timestamp("us")),
                "status": ["won", "won", "won", "lost"],
                "amount": [1000.0, 2000.0, 5000.0, 700.0],
                "close_date": pa.array(
                    [date(2026, 1, 20), date(2026, 2, 10), date(2026, 2, 20), date(2026, 2, 1)], pa.date32()
                ),
            }
        ),
    }


@pytest.fixture(scope="module")
def small(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp(f"pacing-{backend.name}"), _tables()) as ws:
        yield ws


def test_a_stage_behind_its_plan(small: Workspace) -> None:
    planned = {("mql", JAN): 10.0, ("mql", FEB): 10.0, ("mql", MAR): 10.0, ("lead", JAN): 13.0}
    paced = pacing(small, planned, start=JAN, end=Q1_END, as_of=datetime(2026, 2, 14, 23, 59, 59))
    mql = paced.stage("mql")
    assert (mql.planned, mql.expected, mql.actual) == (30, pytest.approx(15), 11)
    assert mql.pace == pytest.approx(11 / 15)
    assert mql.gap == pytest.approx(-4)
    assert mql.projected == pytest.approx(22)
    assert [(row["month"], row["planned"], row["actual"]) for row in mql.by_month] == [
        (JAN, 10, 8),
        (FEB, 10, 3),
        (MAR, 10, None),  # not begun
    ]
    lead = paced.stage("lead")
    assert lead.actual == 13
    assert lead.pace == pytest.approx(1)
    assert paced.stage("won").pace is None  # nothing planned, nothing expected
    assert paced.elapsed == pytest.approx(45 / 90)


def test_won_revenue_is_paced_against_the_goal_by_month(small: Workspace) -> None:
    goal = {JAN: 3000.0, FEB: 2800.0, MAR: 3100.0}
    paced = pacing(small, {}, start=JAN, end=Q1_END, as_of=datetime(2026, 2, 14, 23, 59, 59), revenue_planned=goal)
    revenue = paced.revenue
    assert revenue is not None
    assert revenue.planned == 8900
    assert revenue.expected == pytest.approx(3000 + 2800 * 14 / 28)  # 4,400 due by 14 February
    assert revenue.actual == 3000  # the deal won on 20 February was still open then
    assert revenue.pace == pytest.approx(3000 / 4400)
    assert revenue.projected == pytest.approx(8900 * 3000 / 4400)
    assert [(row["month"], row["planned"], row["actual"]) for row in revenue.by_month] == [
        (JAN, 3000, 1000),
        (FEB, 2800, 2000),
        (MAR, 3100, None),
    ]
    assert paced.as_dict()["revenue"]["actual_to_date"] == 3000


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Workspace, Path]]:
    folder = tmp_path_factory.mktemp("pacing-demo") / "demo"
    ws = build_demo(folder, leads=2000, seed=9, today=date(2026, 11, 23), echo=lambda _line: None)
    try:
        yield ws, folder / "demo-data"
    finally:
        ws.close()


def test_actuals_on_the_demo_match_an_independent_pandas_count(demo: tuple[Workspace, Path]) -> None:
    ws, data = demo
    as_of = datetime(2026, 11, 15, 12)
    start, end = date(2026, 10, 1), date(2026, 12, 31)
    planned = {(stage, month): 100.0 for stage in ws.stages for month in (start, date(2026, 11, 1), date(2026, 12, 1))}
    paced = pacing(ws, planned, start=start, end=end, as_of=as_of)

    entries = ref.entries(
        pd.read_parquet(data / "leads.parquet"),
        pd.read_parquet(data / "stage_events.parquet"),
        ws.stages,
        strict=False,
        as_of=as_of,
    )
    for stage in ws.stages:
        moments = entries[f"e_{stage}"].dropna()
        in_period = moments[(moments >= pd.Timestamp(start)) & (moments < pd.Timestamp(end) + pd.Timedelta(days=1))]
        by_month = in_period.dt.to_period("M").value_counts()
        got = paced.stage(stage)
        assert got.actual == len(in_period), stage
        october, november = (int(by_month.get(pd.Period(m, "M"), 0)) for m in ("2026-10", "2026-11"))
        assert [row["actual"] for row in got.by_month] == [october, november, None], stage
        assert got.expected == pytest.approx(100 + 100 * 15 / 30)  # October, and 15 of November's 30 days
