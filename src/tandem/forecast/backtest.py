"""The backtest: every past period forecast from its first day and from every week inside it, with only what was
known on that day, against what it then actually won.

Each forecast goes through `known_at` (tandem.forecast.history), the one door to the data, so a forecast made on
day t cannot see a deal created, won or lost after t, nor a lead's later stages; the model is estimated again on
each day from that view alone. The actual is the revenue won in the period, from the whole history.

Reported per method (tandem's median, the weighted pipeline, the run rate):

- **MAPE**, the mean of |forecast - actual| / actual (forecast accuracy is 1 - that, DESIGN "Reference figures");
- **bias**, the mean of (forecast - actual) / actual: positive forecasts too high;
- for tandem, **coverage**: the share of forecasts whose P10-P90 range held the actual (about 80 % if the ranges
  are honest), and the mean P10-P90 width relative to the actual.

A period is tested when it ended by the history's as-of day, began at least `warmup_days` after the first deal,
and at least `MIN_CLOSED` deals had closed by its first day: a model needs outcomes to learn from. Periods that
won nothing are left out of the relative errors (there is nothing to divide by) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

import numpy as np

from tandem.forecast.baselines import won_between
from tandem.forecast.history import History, day_of, known_at, to_date
from tandem.forecast.simulate import forecast_period
from tandem.periods import periods_between

__all__ = ["Backtest", "BacktestPoint", "MethodScore", "backtest", "periods_between"]

BACKTEST_SIMULATIONS = 2_000
WARMUP_DAYS = 90
#: A period is tested only when at least this many deals had closed by its first day: a model needs outcomes.
MIN_CLOSED = 30
METHODS = ("tandem", "weighted_pipeline", "run_rate")


@dataclass(frozen=True)
class BacktestPoint:
    """One forecast of one past period, made on `as_of`, and the period's actual revenue."""

    period: str
    as_of: date
    week: int  # 0: the period's first day
    actual: float
    p10: float
    p50: float
    p90: float
    expected: float
    weighted_pipeline: float
    run_rate: float

    def forecast(self, method: str) -> float:
        return {"tandem": self.p50, "weighted_pipeline": self.weighted_pipeline, "run_rate": self.run_rate}[method]

    @property
    def covered(self) -> bool:
        return self.p10 <= self.actual <= self.p90

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period,
            "as_of": self.as_of,
            "week": self.week,
            "actual": self.actual,
            "p10": self.p10,
            "p50": self.p50,
            "p90": self.p90,
            "expected": self.expected,
            "weighted_pipeline": self.weighted_pipeline,
            "run_rate": self.run_rate,
            "covered": self.covered,
        }


@dataclass(frozen=True)
class MethodScore:
    method: str
    forecasts: int
    mape: float | None
    bias: float | None
    coverage: float | None = None  # tandem only
    width: float | None = None  # tandem only: mean (P90 - P10) / actual

    def as_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "forecasts": self.forecasts,
            "mape": self.mape,
            "bias": self.bias,
            "coverage": self.coverage,
            "width": self.width,
        }


@dataclass(frozen=True)
class Backtest:
    kind: str
    periods: tuple[str, ...]
    points: tuple[BacktestPoint, ...]
    skipped_empty: int
    simulations: int

    def scores(self, *, weeks: tuple[int, int] | None = None) -> list[MethodScore]:
        """Each method's errors over every forecast, or those made in weeks [first, last] of their period."""
        points = [p for p in self.points if p.actual > 0 and (weeks is None or weeks[0] <= p.week <= weeks[1])]
        scores = []
        for method in METHODS:
            errors = np.asarray([(p.forecast(method) - p.actual) / p.actual for p in points])
            coverage = width = None
            if method == "tandem" and points:
                coverage = float(np.mean([p.covered for p in points]))
                width = float(np.mean([(p.p90 - p.p10) / p.actual for p in points]))
            scores.append(
                MethodScore(
                    method=method,
                    forecasts=len(points),
                    mape=float(np.abs(errors).mean()) if points else None,
                    bias=float(errors.mean()) if points else None,
                    coverage=coverage,
                    width=width,
                )
            )
        return scores

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "periods": list(self.periods),
            "simulations": self.simulations,
            "skipped_empty": self.skipped_empty,
            "scores": [s.as_dict() for s in self.scores()],
            "scores_by_stretch": {
                name: [s.as_dict() for s in self.scores(weeks=weeks)] for name, weeks in STRETCHES.items()
            },
            "points": [p.as_dict() for p in self.points],
        }


#: Parts of a period the scores are also given for: its first week, its middle, its last weeks.
STRETCHES: dict[str, tuple[int, int]] = {"start": (0, 0), "weeks 1-6": (1, 6), "weeks 7+": (7, 60)}


def backtest(
    history: History,
    *,
    kind: Literal["quarter", "month"] = "quarter",
    step_days: int = 7,
    simulations: int = BACKTEST_SIMULATIONS,
    seed: int = 0,
    warmup_days: int = WARMUP_DAYS,
) -> Backtest:
    """Forecast every testable past period from its start and every `step_days` inside it (module docs)."""
    if not history.created.size:
        return Backtest(kind, (), (), 0, simulations)
    first = to_date(float(np.nanmin(history.created)) + warmup_days)
    periods = periods_between(first, to_date(history.as_of), kind)
    points: list[BacktestPoint] = []
    skipped = 0
    closed_days = np.sort(history.closed[~np.isnan(history.closed)])
    periods = [p for p in periods if np.searchsorted(closed_days, day_of(p.start), side="right") >= MIN_CLOSED]
    for period in periods:
        start, end = day_of(period.start), day_of(period.end)
        actual = won_between(history, start, end)
        if actual <= 0:
            skipped += 1
        for week, day in enumerate(np.arange(start, end, step_days)):
            seen = known_at(history, float(day))
            result = forecast_period(seen, start, end, simulations=simulations, seed=seed)
            points.append(
                BacktestPoint(
                    period=period.label,
                    as_of=to_date(float(day)),
                    week=week,
                    actual=actual,
                    p10=result.p10,
                    p50=result.p50,
                    p90=result.p90,
                    expected=result.expected,
                    weighted_pipeline=result.weighted_pipeline,
                    run_rate=result.run_rate,
                )
            )
    return Backtest(kind, tuple(p.label for p in periods), tuple(points), skipped, simulations)
