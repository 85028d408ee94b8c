"""The backtest sees only the past: a forecast made on day t is the same whatever happened after t.

And on the demo company it must beat the weighted pipeline, with a P10-P90 range that holds the actual in roughly
80 % of its forecasts (the issue's bar); on the Maven CRM data it runs and its figures are reported.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import date, datetime, time
from pathlib import Path

import numpy as np
import pytest

from tandem import Workspace
from tandem.demo_workspace import build_demo
from tandem.forecast.backtest import backtest
from tandem.forecast.history import History, day_of, known_at, load_history
from tandem.forecast.simulate import forecast_period
from tandem.periods import CalendarPeriod as Period
from tandem.periods import periods_between

from ..conftest import DATASETS, REPO
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
    )
    seen = known_at(full, T)
    assert seen.created.tolist() == [900.0, 950.0, 980.0]  # the deal created on day 1050 did not exist yet
    assert seen.closed[0] == 990.0  # won on day 990: known
    assert seen.won[0]
    assert np.isnan(seen.closed[1])  # won on day 1020: still open on day 1000
    assert not seen.won[1]
    assert np.isnan(seen.expected_close).all()  # today's expected close dates are not a past day's
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


def test_each_backtest_point_is_the_forecast_made_from_that_day() -> None:
    full = _synthetic()
    result = backtest(full, kind="month", simulations=500, seed=1)
    assert result.points, "the synthetic history spans several testable months"
    point = result.points[len(result.points) // 2]
    period = next(p for p in periods_between(date(1971, 1, 1), date(1972, 10, 1), "month") if p.label == point.period)
    seen = known_at(full, day_of(point.as_of))
    again = forecast_period(seen, day_of(period.start), day_of(period.end), simulations=500, seed=1)
    assert (point.p10, point.p50, point.p90, point.weighted_pipeline, point.run_rate) == (
        again.p10,
        again.p50,
        again.p90,
        again.weighted_pipeline,
        again.run_rate,
    )


def test_periods_between_keeps_whole_periods_only() -> None:
    found = periods_between(date(2025, 2, 10), date(2026, 1, 1), "quarter")
    assert [p.label for p in found] == ["2025-Q2", "2025-Q3", "2025-Q4"]
    assert periods_between(date(2025, 1, 1), date(2025, 3, 31), "month") == [
        Period("month", 2025, 1),
        Period("month", 2025, 2),
    ]


# --- the demo company and the Maven CRM data ----------------------------------------------------------------------


DEMO_DAY = date(2026, 11, 26)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The 20,000-lead demo company as of a fixed day, so the figures below do not move with the calendar."""
    folder = tmp_path_factory.mktemp("demo") / "ws"
    with build_demo(folder, leads=20_000, seed=7, today=DEMO_DAY, echo=lambda _line: None) as workspace:
        yield workspace


def test_on_the_demo_tandem_beats_the_weighted_pipeline_and_its_range_holds_about_80_percent(demo: Workspace) -> None:
    result = backtest(load_history(demo, as_of=datetime.combine(DEMO_DAY, time())), kind="quarter")
    scores = {s.method: s for s in result.scores()}
    assert scores["tandem"].forecasts >= 40
    assert scores["tandem"].mape is not None
    assert scores["weighted_pipeline"].mape is not None
    assert scores["tandem"].mape < scores["weighted_pipeline"].mape
    assert scores["tandem"].coverage is not None
    assert 0.65 <= scores["tandem"].coverage <= 0.95


MAVEN = DATASETS / "maven-crm-sales-opportunities"


@pytest.mark.skipif(not MAVEN.is_dir(), reason=f"{MAVEN} is not present")
def test_the_maven_crm_backtest_runs_on_opportunities_alone(workspace: Workspace, tmp_path: Path) -> None:
    source = tmp_path / "sales_pipeline.csv"
    source.write_bytes((MAVEN / "sales_pipeline.csv").read_bytes())
    mapping = str(REPO / "examples" / "maven-opportunities.toml")
    workspace.import_files("opportunities", [source], mapping=mapping, skip_invalid=True)
    history = load_history(workspace, as_of=datetime(2018, 1, 1))
    assert not history.has_leads
    assert history.created.size == 8300
    assert history.amounts_at_close  # Maven records close_value only when a deal closes
    result = backtest(history, kind="quarter")
    scores = {s.method: s for s in result.scores()}
    assert result.periods == ("2017-Q2", "2017-Q3", "2017-Q4")
    assert scores["tandem"].forecasts == 41  # 13 or 14 weekly forecasts in each of the three quarters
    # Reported, not a bar: tandem's median beats the weighted pipeline here too (docs/forecast.md has the figures).
    assert scores["tandem"].mape is not None
    assert scores["weighted_pipeline"].mape is not None
    assert scores["tandem"].mape < scores["weighted_pipeline"].mape
