"""The backtest: every past period forecast from its first day and from every week inside it, with only what was
known on that day, against what it then actually won.

Each forecast goes through `known_at` (tandem.forecast.history), the one door to the data, so a forecast made on
day t cannot see a deal created, won or lost after t, nor a lead's later stages; the model is estimated again on
each day from that view alone. The actual is the revenue won in the period, from the whole history.

Each forecast is first the simulation's own (tandem.forecast.simulate), then calibrated as the live forecast is
(tandem.forecast.calibration): on the backtest forecasts of the periods that had ended by its day, and on nothing
later. So the scores below are those of the forecast as shown, held out from what calibrated it.

Reported per method (tandem's median, the weighted pipeline, the run rate):

- **MAPE**, the mean of |forecast - actual| / actual (forecast accuracy is 1 - that, DESIGN "Reference figures");
- **bias**, the mean of (forecast - actual) / actual: positive forecasts too high;
- for tandem, **coverage**: the share of forecasts whose P10-P90 range held the actual (about 80 % if the ranges
  are honest), and the mean P10-P90 width relative to the actual.

A period is tested when it ended by the history's as-of day, began at least `WARMUP_DAYS` (90) days after the
first deal, and at least `MIN_CLOSED` (30) deals had closed by its first day: a model needs outcomes to learn from.
Periods that won nothing are left out of the relative errors (there is nothing to divide by) and counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Literal

import numpy as np

from tandem.forecast.baselines import won_between
from tandem.forecast.calibration import STRETCHES, Calibration, PastPoint, calibrate
from tandem.forecast.history import History, day_of, known_at, to_date
from tandem.forecast.simulate import THIN_WIDEN, Forecast, forecast_period
from tandem.periods import periods_between

__all__ = [
    "MIN_CLOSED",
    "WARMUP_DAYS",
    "Backtest",
    "BacktestPoint",
    "MethodScore",
    "backtest",
    "calibration_for",
    "entry_rule",
    "periods_between",
]

BACKTEST_SIMULATIONS = 2_000
WARMUP_DAYS = 90
#: A period is tested only when at least this many deals had closed by its first day: a model needs outcomes.
MIN_CLOSED = 30
METHODS = ("tandem", "weighted_pipeline", "run_rate")


def entry_rule(kind: str = "quarter") -> str:
    """Which periods the backtest tests, in words, from the constants the code uses."""
    return (
        f"a {kind} is tested once it has ended, began at least {WARMUP_DAYS} days after the first deal, and at "
        f"least {MIN_CLOSED} deals had closed by its first day"
    )


@dataclass(frozen=True)
class BacktestPoint:
    """One forecast of one past period, made on `as_of`, and the period's actual revenue."""

    period: str
    as_of: date
    week: int  # 0: the period's first day
    actual: float
    p10: float  # the calibrated forecast: what tandem shows (module docs)
    p50: float
    p90: float
    expected: float
    weighted_pipeline: float
    run_rate: float
    period_end: float = 0.0  # day the period ends (exclusive): a point calibrates forecasts made from then on
    won: float = 0.0  # won so far on the forecast day
    simulated: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the simulation's own P10, P50, P90
    thin: bool = False
    weight: float = 1.0  # the model's share in the calibrated median
    calibrated_on: int = 0  # past points the calibration rested on

    def past(self) -> PastPoint:
        """This point as calibration data for later forecasts."""
        p10, p50, p90 = self.simulated
        return PastPoint(
            self.period, self.week, self.won, p10, p50, p90, self.run_rate, self.weighted_pipeline, self.actual
        )

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
            "won": self.won,
            "simulated": {"p10": self.simulated[0], "p50": self.simulated[1], "p90": self.simulated[2]},
            "thin": self.thin,
            "weight": self.weight,
            "calibrated_on": self.calibrated_on,
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
            "entry_rule": entry_rule(self.kind),
            "targets": self.targets(),
            "points": [p.as_dict() for p in self.points],
        }

    def targets(self) -> dict[str, Any]:
        """The forecast's targets against this backtest: tandem's MAPE at most the better baseline's, overall and in
        each stretch, and its P10-P90 coverage between 75 % and 85 %; each met or not, with the figures."""
        found: dict[str, Any] = {}
        for name, weeks in [("every forecast", None), *STRETCHES.items()]:
            scores = {s.method: s for s in self.scores(weeks=weeks)}
            mine = scores["tandem"].mape
            best = min((s.mape for m, s in scores.items() if m != "tandem" and s.mape is not None), default=None)
            found[name] = {
                "tandem": mine,
                "best_baseline": best,
                "met": None if mine is None or best is None else bool(mine <= best),
            }
        coverage = {s.method: s for s in self.scores()}["tandem"].coverage
        found["coverage"] = {
            "value": coverage,
            "low": COVERAGE_TARGET[0],
            "high": COVERAGE_TARGET[1],
            "met": None if coverage is None else bool(COVERAGE_TARGET[0] <= coverage <= COVERAGE_TARGET[1]),
        }
        return found


#: The P10-P90 range should hold the actual in this share of the forecasts (DESIGN, "Reference figures").
COVERAGE_TARGET = (0.75, 0.85)


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
    raw: list[tuple[str, float, int, float, float, Forecast]] = []
    for period in periods:
        start, end = day_of(period.start), day_of(period.end)
        actual = won_between(history, start, end)
        if actual <= 0:
            skipped += 1
        for week, day in enumerate(np.arange(start, end, step_days)):
            seen = known_at(history, float(day))
            raw.append((period.label, end, week, float(day), actual, forecast_period(
                seen, start, end, simulations=simulations, seed=seed
            )))  # fmt: skip
    uncalibrated = [_point(label, end, week, day, actual, f) for label, end, week, day, actual, f in raw]
    for point in uncalibrated:
        day = day_of(point.as_of)
        calibration = calibration_for(uncalibrated, day, point.week)
        points.append(_calibrated(point, calibration.widened(THIN_WIDEN, "thin data") if point.thin else calibration))
    return Backtest(kind, tuple(p.label for p in periods), tuple(points), skipped, simulations)


def calibration_for(points: list[BacktestPoint], day: float, week: int) -> Calibration:
    """The calibration of a forecast made on `day` in `week` of its period: from the points of the periods that
    had ended by `day`, and nothing later (tandem.forecast.calibration)."""
    return calibrate([p.past() for p in points if p.period_end <= day], week)


def _point(label: str, end: float, week: int, day: float, actual: float, f: Forecast) -> BacktestPoint:
    """The simulation's own forecast as a backtest point, not yet calibrated."""
    return BacktestPoint(
        period=label,
        as_of=to_date(day),
        week=week,
        actual=actual,
        p10=f.simulated[0],
        p50=f.simulated[1],
        p90=f.simulated[2],
        expected=f.expected,
        weighted_pipeline=f.weighted_pipeline,
        run_rate=f.run_rate,
        period_end=end,
        won=f.won_to_date,
        simulated=f.simulated,
        thin=f.thin,
    )


def _calibrated(point: BacktestPoint, calibration: Calibration) -> BacktestPoint:
    """The point with tandem's forecast calibrated: its quantiles mapped (the map is monotone). On a period's last
    day nothing is left to come, and the forecast is what was won, as in `forecast_period`."""
    p10, p50, p90 = point.simulated
    if day_of(point.as_of) >= point.period_end - 1:
        return replace(point, calibrated_on=calibration.points)
    mapped = calibration.transform(
        np.asarray([p10, p50, p90]), point.won, point.simulated, point.run_rate, point.weighted_pipeline
    )
    return replace(
        point,
        p10=float(mapped[0]),
        p50=float(mapped[1]),
        p90=float(mapped[2]),
        weight=calibration.weight,
        calibrated_on=calibration.points,
    )
