"""The backtest sees only the past: a forecast made on day t is the same whatever happened after t, a deal's stage,
amount and close date are those its row had then (or unknown), and each forecast is calibrated only on periods
that had ended by its day.

The accuracy targets themselves are asserted on a reduced grid of demo companies in test_accuracy.py; here the
Maven CRM data's backtest is pinned to exact figures.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pytest

from tandem import Workspace
from tandem.forecast.backtest import MIN_CLOSED, WARMUP_DAYS, backtest, calibration_for, entry_rule
from tandem.forecast.history import History, day_of, known_at, load_history
from tandem.forecast.model import estimate_model
from tandem.forecast.simulate import forecast_period
from tandem.periods import CalendarPeriod as Period
from tandem.periods import periods_between

from ..conftest import REPO, require_dataset
from .test_forecast_exact import _synthetic

T = 1000.0


def test_known_at_keeps_only_what_was_known_that_day() -> None:
    full = History(
        as_of=1100.0,
        stages=("lead", "opportunity", "won"),
        created=np.asarray([900.0, 950.0, 1050.0, 980.0]),
        closed=np.asarray([990.0, 1020.0, 1060.0, np.nan]),
        won=np.asarray([True, True, False, False]),
        amount=np.asarray([1.0, 2.0, 3.0, 4.0]),
        expected_close=np.asarray([np.nan, np.nan, np.nan, 1150.0]),
        entries=np.asarray([[900.0, 995.0, np.nan], [1010.0, np.nan, np.nan], [800.0, 850.0, 990.0]]),
        crm_stage=np.asarray(["Closed Won", "Closed Won", "Closed Lost", "Demo"], dtype=object),
        written=np.asarray([995.0, 1021.0, 1061.0, 1000.0]),  # the import that last wrote each row
    )
    seen = known_at(full, T)
    assert seen.created.tolist() == [900.0, 950.0, 980.0]  # the deal created on day 1050 did not exist yet
    assert seen.closed[0] == 990.0  # won on day 990: known
    assert seen.won[0]
    assert np.isnan(seen.closed[1])  # won on day 1020: still open on day 1000
    assert not seen.won[1]
    # Its row was rewritten on day 1021 (when it was won): its stage, amount and close date then are unknown.
    assert (seen.stages_known[1], np.isnan(seen.amount[1]), np.isnan(seen.expected_close[1])) == (None, True, True)
    # The open deal's row was written on day 1000, at the forecast day: known as it is.
    assert (seen.stages_known[2], seen.amount[2], seen.expected_close[2]) == ("Demo", 4.0, 1150.0)
    assert seen.unknown == 1
    # A day earlier, its row had not been written yet: unknown too, not filled in from later.
    earlier = known_at(full, 999.0)
    assert (earlier.stages_known[2], np.isnan(earlier.amount[2]), np.isnan(earlier.expected_close[2])) == (
        None,
        True,
        True,
    )
    assert earlier.unknown == 2
    assert seen.entries.shape == (2, 3)  # the lead created on day 1010 is not there
    assert seen.entries[0, :2].tolist() == [900.0, 995.0]  # its move on day 995 is known
    assert seen.entries[1].tolist() == [800.0, 850.0, 990.0]
    with pytest.raises(ValueError, match="cannot see day"):
        known_at(seen, 1001.0)


def test_nothing_after_the_forecast_day_changes_the_forecast() -> None:
    full = _synthetic()
    day = 900.0
    before = forecast_period(known_at(full, day), 880.0, 971.0, simulations=3000, seed=2)

    rng = np.random.default_rng(0)
    later = ~(full.closed <= day)  # deals still open on day 900 (or created after)
    rewritten = replace(
        full,
        # every later outcome flipped, later close days moved, later amounts... kept (the CRM's one amount)
        won=np.where(later, ~full.won, full.won),
        closed=np.where(later & ~np.isnan(full.closed), np.maximum(full.closed + 3, day + 1), full.closed),
        # later lead moves rewritten, and new leads created after day 900
        entries=np.vstack(
            [
                np.where(full.entries > day, full.entries + 1.5, full.entries),
                np.column_stack([rng.uniform(day + 1, T, 300), np.full(300, np.nan), np.full(300, np.nan)]),
            ]
        ),
    )
    after = forecast_period(known_at(rewritten, day), 880.0, 971.0, simulations=3000, seed=2)
    assert after.as_dict() == before.as_dict()

    # The test can fail: a change before day 900 shows.
    earlier = full.won & (full.closed <= day)
    changed_past = replace(full, won=np.where(earlier & (full.closed > 880), False, full.won))
    assert forecast_period(known_at(changed_past, day), 880.0, 971.0, simulations=3000, seed=2).as_dict() != (
        before.as_dict()
    )


def test_each_backtest_point_is_the_forecast_made_from_that_day_calibrated_on_earlier_periods_only() -> None:
    full = _synthetic()
    result = backtest(full, kind="month", simulations=500, seed=1)
    assert result.points, "the synthetic history spans several testable months"
    point = result.points[len(result.points) // 2]
    period = next(p for p in periods_between(date(1971, 1, 1), date(1972, 10, 1), "month") if p.label == point.period)
    seen = known_at(full, day_of(point.as_of))
    again = forecast_period(seen, day_of(period.start), day_of(period.end), simulations=500, seed=1)
    assert (point.simulated, point.weighted_pipeline, point.run_rate) == (
        again.simulated,
        again.weighted_pipeline,
        again.run_rate,
    )
    # Calibrated on the points of the months that had ended by its day, and on nothing later.
    earlier = [p for p in result.points if p.period_end <= day_of(point.as_of)]
    assert point.calibrated_on == len([p for p in earlier if p.actual > 0])
    calibration = calibration_for(list(result.points), day_of(point.as_of), point.week)
    mapped = calibration.transform(
        np.asarray(point.simulated), point.won, point.simulated, point.run_rate, point.weighted_pipeline
    )
    assert (point.p10, point.p50, point.p90) == tuple(float(v) for v in mapped)
    # Rewriting a later month's outcome changes nothing about this point.
    later = replace(full, won=np.where(full.closed > day_of(point.as_of), ~full.won, full.won))
    rewritten = {(p.period, p.week): p for p in backtest(later, kind="month", simulations=500, seed=1).points}
    assert rewritten[(point.period, point.week)].p50 == point.p50


def test_the_entry_rule_is_stated_from_the_codes_constants() -> None:
    assert entry_rule("quarter") == (
        f"a quarter is tested once it has ended, began at least {WARMUP_DAYS} days after the first deal, and at "
        f"least {MIN_CLOSED} deals had closed by its first day"
    )
    assert (WARMUP_DAYS, MIN_CLOSED) == (90, 30)


def test_periods_between_keeps_whole_periods_only() -> None:
    found = periods_between(date(2025, 2, 10), date(2026, 1, 1), "quarter")
    assert [p.label for p in found] == ["2025-Q2", "2025-Q3", "2025-Q4"]
    assert periods_between(date(2025, 1, 1), date(2025, 3, 31), "month") == [
        Period("month", 2025, 1),
        Period("month", 2025, 2),
    ]


# --- the Maven CRM data ------------------------------------------------------------------------------------------


@pytest.fixture
def maven() -> Path:
    """The Maven CRM data: fails in CI when absent, else skips naming it (tests/conftest.py, `require_dataset`)."""
    return require_dataset("maven-crm-sales-opportunities", "sales_pipeline.csv")


def test_the_maven_crm_backtest_runs_on_opportunities_alone(workspace: Workspace, maven: Path, tmp_path: Path) -> None:
    source = tmp_path / "sales_pipeline.csv"  # the import writes its rejected rows beside its input: not in ../shared
    source.write_bytes((maven / "sales_pipeline.csv").read_bytes())
    mapping = str(REPO / "examples" / "maven-opportunities.toml")
    workspace.import_files("opportunities", [source], mapping=mapping, skip_invalid=True)
    history = load_history(workspace, as_of=datetime(2018, 1, 1))
    assert not history.has_leads
    assert history.created.size == 8300
    assert history.amounts_at_close  # Maven records close_value only when a deal closes
    # Its stages are Engaging (open), Won and Lost: lost deals keep no open stage, so none can be measured.
    probabilities = estimate_model(history).stage_probabilities
    assert probabilities.by_stage == {}
    assert probabilities.basis.startswith("overall win rate")
    result = backtest(history, kind="quarter")
    assert result.periods == ("2017-Q2", "2017-Q3", "2017-Q4")
    assert len(result.points) == 41  # 13 or 14 weekly forecasts in each of the three quarters
    # The first quarter has no past quarter to calibrate on; the second rests on the first's 13 forecasts.
    assert [p.calibrated_on for p in result.points if p.week == 0] == [0, 13, 27]
    scores = {s.method: s for s in result.scores()}
    assert scores["tandem"].mape is not None
    assert scores["weighted_pipeline"].mape is not None
    assert scores["run_rate"].mape is not None
    # tandem's median against the better of both baselines, over every forecast (docs/forecast.md has the rest).
    assert scores["tandem"].mape <= min(scores["weighted_pipeline"].mape, scores["run_rate"].mape)
