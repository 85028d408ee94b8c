"""A workspace's forecast: new volume from the accepted plan, the goal's chance, and what changed in a week.

Runs on SQLite + DuckDB and on PostgreSQL (the `workspace` fixture): the plan and the goal live in the
application database, the leads and deals in the warehouse.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest

from tandem import Workspace
from tandem.forecast.service import forecast_signals, period_forecast
from tandem.periods import parse_period
from tandem.plan.proposals import PlanDocument, Plans

from ..conftest import write

PASSWORD = "a long enough password"
PLAN = """\
period: 2027-Q1
programs:
  - name: Webinar series
    channel: webinar
    budget: 40k
    start: 2027-01-01
    end: 2027-03-31
"""
# The accepted plan's lead volumes by month, as its sufficiency check stored them.
PLANNED = {"2027-01-01": 3100.0, "2027-02-01": 2800.0, "2027-03-01": 3100.0}


def planned_volumes(plan: PlanDocument) -> Mapping[str, Any]:
    """The stored check, in the real one's shape, with the volumes above for the first stage."""
    return {
        "goal": 1_000_000.0,
        "expected_revenue": 900_000.0,
        "low": 700_000.0,
        "high": 1_100_000.0,
        "probability": 0.3,
        "by_month": [],
        "shortfall": [{"stage": "lead", "month": m, "planned": v, "required": v} for m, v in PLANNED.items()],
        "programs": [],
    }


@pytest.fixture
def company(workspace: Workspace, tmp_path: Path) -> Workspace:
    """Three leads and four deals: two won in January 2027, one lost, one open since December."""
    leads = write(
        tmp_path / "leads.csv",
        "lead_id,created_at\nL1,2026-12-01T10:00:00\nL2,2026-12-20T10:00:00\nL3,2027-01-05T10:00:00\n",
    )
    deals = write(
        tmp_path / "opportunities.csv",
        "opportunity_id,created_at,status,amount,close_date\n"
        "D1,2026-11-01T00:00:00,won,40000,2027-01-03\n"
        "D2,2026-11-15T00:00:00,won,60000,2027-01-08\n"
        "D3,2026-11-20T00:00:00,lost,30000,2027-01-04\n"
        "D4,2026-12-15T00:00:00,open,50000,2027-02-15\n",
    )
    workspace.import_files("leads", [leads])
    workspace.import_files("opportunities", [deals])
    return workspace


def test_new_leads_arrive_at_the_accepted_plans_volumes(company: Workspace, tmp_path: Path) -> None:
    company.accounts.create_user("admin", "mark", "marketing", password=PASSWORD)
    company.accounts.create_user("admin", "sam", "sales", password=PASSWORD, leader=True)
    plans = Plans(company.store, planned_volumes, lambda: company.stages)
    path = write(tmp_path / "q1.yaml", PLAN)
    plans.propose(company.accounts.authenticate("mark", PASSWORD, "test"), path)
    plans.accept(company.accounts.authenticate("sam", PASSWORD, "test"), 1, version=1)

    result = period_forecast(company, parse_period("2027-Q1"), as_of=datetime(2027, 1, 10), simulations=2000)
    new = next(s for s in result.forecast.sources if s.source == "new leads")
    # Days left: 11 January to 31 March. January's 3,100 over 31 days for its 21 days left, then all of
    # February and March.
    assert new.count == round(3100 / 31 * 21 + 2800 + 3100)
    assert "accepted plan" in result.arrivals_basis

    without = period_forecast(company, parse_period("2027-Q2"), as_of=datetime(2027, 1, 10), simulations=2000)
    assert "daily rate" in without.arrivals_basis


def test_won_so_far_the_goal_and_what_changed_since_a_week_earlier(company: Workspace) -> None:
    company.accounts.create_user("admin", "eve", "exec", password=PASSWORD)
    company.goals.set(company.accounts.authenticate("eve", PASSWORD, "test"), "2027-Q1", "150k")
    result = period_forecast(company, parse_period("2027-Q1"), as_of=datetime(2027, 1, 10), simulations=2000)
    forecast = result.forecast
    assert forecast.won_to_date == 100_000  # D1 and D2, won on 3 and 8 January
    assert forecast.goal == 150_000
    assert forecast.chance_of_goal is not None
    assert 0 <= forecast.chance_of_goal < 1
    # Three closed deals: thin data, said on the forecast and on the weighted pipeline (2 won of 3: 2/3).
    assert any(c.startswith("thin data: 3 deals closed in the last year") for c in forecast.cautions)
    assert forecast.pipeline is not None
    assert forecast.pipeline.probabilities.overall == pytest.approx(2 / 3)
    assert forecast.pipeline.caution is not None
    # No past quarter to calibrate on: the model's own median, said so.
    assert forecast.calibration is not None
    assert forecast.calibration.basis.startswith("not calibrated: 0 past backtest forecasts")
    assert result.goal_source == "goal"
    # A week earlier (3 January) only D1 was won: the change in won revenue is D2.
    assert result.previous is not None
    won = next(c for c in result.changes if c.source == "won")
    assert (won.before, won.after, won.delta) == (40_000, 100_000, 60_000)
    document = result.as_dict()
    assert document["previous"]["as_of"] == date(2027, 1, 3)
    assert "chance of reaching the goal" in document["summary"]
    (signal,) = forecast_signals(result)
    assert (signal.kind, signal.period, signal.value) == ("goal_chance", "2027-Q1", forecast.chance_of_goal)


def test_a_period_without_a_goal_has_no_chance_and_no_signal(company: Workspace) -> None:
    result = period_forecast(company, parse_period("2027-Q1"), as_of=datetime(2027, 1, 10), simulations=500)
    assert result.forecast.goal is None
    assert result.forecast.chance_of_goal is None
    assert forecast_signals(result) == []
