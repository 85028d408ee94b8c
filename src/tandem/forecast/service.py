"""The forecast of a workspace's period: the distribution, the goal, where it comes from and what changed.

`period_forecast` reads the warehouse once (`load_history`), then forecasts the period as known now and as known
`compare_days` earlier: the difference, source by source, is "what changed since the last forecast". Recomputing
the earlier forecast from the data known then, rather than storing each forecast shown, gives the same answer
whenever the data was not rewritten since, needs no schedule, and cannot be lost.

The forecast shown is calibrated on the workspace's own backtest (tandem.forecast.calibration): the backtest of
the period's kind (quarter or month) is run on the same history, and the forecast made on day t is calibrated on
the backtest forecasts of the periods that had ended by t. A year has too few past years to calibrate on: its
range is the simulation's own, widened, and `calibration.basis` says so.

New volume not yet created comes from the period's accepted plan when there is one (its first stage's monthly
volumes, evenly by day), else from the recent daily rate. The goal is the period's target (its own goal, or one
derived by days from a longer period's goal: tandem.plan.goals.plan_targets).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from tandem.engine.spec import as_of_or_now
from tandem.forecast.backtest import BACKTEST_SIMULATIONS, Backtest, backtest, calibration_for
from tandem.forecast.calibration import Calibration, uncalibrated
from tandem.forecast.history import History, day_of, known_at, load_history, to_date
from tandem.forecast.signals import Signal
from tandem.forecast.simulate import DEFAULT_SIMULATIONS, Forecast, forecast_period
from tandem.money import format_whole
from tandem.periods import CalendarPeriod, current_quarter, days_in_month, month_of
from tandem.plan.goals import plan_targets
from tandem.plan.pacing import accepted_volumes

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.plan.context import PlanContext

__all__ = ["Change", "PeriodForecast", "forecast_signals", "period_forecast", "workspace_backtest"]

COMPARE_DAYS = 7


@dataclass(frozen=True)
class Change:
    """One source's expected revenue in the earlier forecast and now."""

    source: str
    stage: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stage": self.stage,
            "before": self.before,
            "after": self.after,
            "delta": self.delta,
        }


@dataclass(frozen=True)
class PeriodForecast:
    period: CalendarPeriod
    as_of: datetime
    forecast: Forecast
    goal_source: str  # goal, derived, none
    goal_explanation: str
    arrivals_basis: str
    definition_version: int | None
    previous: Forecast | None
    changes: tuple[Change, ...]
    #: Rows left out of the forecast because they hold a value no figure can use (tandem.engine.usable).
    left_out: tuple[str, ...] = ()

    def summary(self) -> str:
        """One sentence: the range, the median, and the chance of the goal."""
        f = self.forecast
        text = (
            f"{self.period.label}: {format_whole(f.p50)} expected (P10 {format_whole(f.p10)}, "
            f"P90 {format_whole(f.p90)}), {format_whole(f.won_to_date)} won so far"
        )
        if f.goal is not None and f.chance_of_goal is not None:
            text += f"; a {f.chance_of_goal:.0%} chance of reaching the goal of {format_whole(f.goal)}"
        return text

    def as_dict(self) -> dict[str, Any]:
        forecast = self.forecast.as_dict()
        # Rows left out for an unusable value are a caution on the figure, where every reader already looks.
        forecast["cautions"] = [*forecast["cautions"], *self.left_out]
        return {
            "period": self.period.as_dict(),
            "definition_version": self.definition_version,
            **forecast,
            "goal_source": self.goal_source,
            "goal_explanation": self.goal_explanation,
            "arrivals_basis": self.arrivals_basis,
            "summary": self.summary(),
            "previous": None
            if self.previous is None
            else {
                "as_of": self.previous.as_dict()["as_of"],
                "expected": self.previous.expected,
                "p10": self.previous.p10,
                "p50": self.previous.p50,
                "p90": self.previous.p90,
                "chance_of_goal": self.previous.chance_of_goal,
            },
            "changes": [c.as_dict() for c in self.changes],
        }


def period_forecast(
    ws: PlanContext,
    period: CalendarPeriod | None = None,
    *,
    as_of: datetime | date | None = None,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    compare_days: int = COMPARE_DAYS,
    history: History | None = None,
    planned: tuple[dict[tuple[str, date], float], str] | None = None,
) -> PeriodForecast:
    """The forecast of `period` (default: the quarter of `as_of`) as of `as_of` (default now); module docs.

    New leads arrive at the accepted plan's volumes, or at `planned`'s ((stage, month) -> volume, and its label):
    the forecast if that plan were the period's baseline (what a sales leader reads before accepting it).
    """
    moment = as_of_or_now(as_of)
    period = period or current_quarter(moment.date())
    history = history or load_history(ws, moment)
    target = plan_targets(ws.goals.all())(period)
    goal = float(target.amount) if target.amount is not None else None
    start, end = day_of(period.start), day_of(period.end)
    accepted = accepted_volumes(ws, period) if planned is None else planned
    arrivals, basis = _planned_arrivals(accepted, period, history)
    calibrate = _calibrator(history, period, seed)
    current = forecast_period(
        history,
        start,
        end,
        simulations=simulations,
        seed=seed,
        goal=goal,
        arrivals=arrivals,
        calibration=calibrate(history.as_of, start),
    )
    previous = None
    changes: tuple[Change, ...] = ()
    if compare_days > 0:
        earlier = known_at(history, history.as_of - compare_days)
        before_arrivals, _ = _planned_arrivals(accepted, period, earlier)
        previous = forecast_period(
            earlier,
            start,
            end,
            simulations=simulations,
            seed=seed,
            goal=goal,
            arrivals=before_arrivals,
            calibration=calibrate(earlier.as_of, start),
        )
        changes = _changes(previous, current)
    return PeriodForecast(
        period=period,
        as_of=moment,
        forecast=current,
        goal_source=target.source,
        goal_explanation=target.explanation,
        arrivals_basis=basis,
        definition_version=history.definition_version,
        previous=previous,
        changes=changes,
        left_out=history.left_out,
    )


def _calibrator(history: History, period: CalendarPeriod, seed: int) -> Callable[[float, float], Calibration]:
    """Calibration for a forecast of `period` made on a day (module docs): from the workspace's own backtest of
    periods of the same kind, of those that had ended by that day."""
    if period.kind not in ("quarter", "month"):
        reason = (
            f"not calibrated: a {period.kind} has too few past {period.kind}s to calibrate on; the model's own "
            "median, its range drawn wider"
        )
        return lambda _day, _start: uncalibrated(reason=reason)
    kind: Literal["quarter", "month"] = "quarter" if period.kind == "quarter" else "month"
    points = list(backtest(history, kind=kind, seed=seed).points)

    def calibration(day: float, start: float) -> Calibration:
        week = max(int((np.floor(day) - start) // 7), 0)
        return calibration_for(points, day, week)

    return calibration


def _planned_arrivals(
    accepted: tuple[dict[tuple[str, date], float], str] | None, period: CalendarPeriod, history: History
) -> tuple[np.ndarray | None, str]:
    """Per day left, the accepted plan's first-stage volume (its month's volume / its days), or None."""
    run_rate = "new volume at the last 91 days' daily rate"
    if accepted is None or not history.has_leads:
        return None, run_rate
    volumes, label = accepted
    first = history.stages[0]
    by_month = {month_of(month): volume for (stage, month), volume in volumes.items() if stage == first}
    if not by_month:
        return None, run_rate
    today = to_date(history.as_of)
    days_left = int(max(day_of(period.end) - 1 - np.floor(history.as_of), 0))
    rates = np.zeros(days_left)
    for x in range(1, days_left + 1):
        month = month_of(today + timedelta(days=x))
        rates[x - 1] = by_month.get(month, 0.0) / days_in_month(month)
    return rates, f"new leads at the volumes of {label}"


def _changes(before: Forecast, after: Forecast) -> tuple[Change, ...]:
    earlier = {(s.source, s.stage): s.expected_revenue for s in before.sources}
    now = {(s.source, s.stage): s.expected_revenue for s in after.sources}
    keys = list(dict.fromkeys([*now, *earlier]))
    return tuple(
        Change(source, stage, earlier.get((source, stage), 0.0), now.get((source, stage), 0.0))
        for source, stage in keys
    )


def workspace_backtest(
    ws: DefinitionsContext,
    *,
    kind: Literal["quarter", "month"] = "quarter",
    as_of: datetime | date | None = None,
    simulations: int = BACKTEST_SIMULATIONS,
    seed: int = 0,
) -> Backtest:
    """The backtest of the workspace's past periods (tandem.forecast.backtest)."""
    return backtest(load_history(ws, as_of_or_now(as_of)), kind=kind, simulations=simulations, seed=seed)


def forecast_signals(result: PeriodForecast) -> list[Signal]:
    """The forecast's signal for alert rules: the chance of reaching the goal (none without a goal)."""
    f = result.forecast
    if f.goal is None or f.chance_of_goal is None:
        return []
    return [
        Signal(
            kind="goal_chance",
            subject="",
            period=result.period.label,
            value=f.chance_of_goal,
            unit="share",
            sample=f.simulations,
            message=(
                f"The chance of reaching the {result.period.label} goal of {format_whole(f.goal)} is "
                f"{f.chance_of_goal:.0%}: {format_whole(f.p50)} expected (P10 {format_whole(f.p10)}, "
                f"P90 {format_whole(f.p90)})"
            ),
            details={"goal": f.goal, "p10": f.p10, "p50": f.p50, "p90": f.p90, "won_to_date": f.won_to_date},
        )
    ]
