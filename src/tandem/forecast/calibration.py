"""The forecast's median and range, calibrated on its own backtest: the model blended with the run rate, and the
P10-P90 range widened or narrowed until it held the past actuals about 80 % of the time.

Why: a model can be biased in ways its own simulation cannot see (a change in the business, a curve fitted on a
short history), and the run rate, the crudest forecast there is, is often hard to beat. The backtest says how each
did on the periods already over; this module turns that record into the forecast shown, with no look-ahead: a
forecast made on day t is calibrated only on backtest forecasts of periods that had ended by t (tandem.forecast.
backtest re-runs this for every past forecast, so the scores it reports are those of the calibrated forecast).

How, from the past points (each: won so far, the simulation's P10/P50/P90, the run rate, the actual):

1. **The centre** is won so far plus a blend of what the model, the run rate and the weighted pipeline expect
   still to come: ``c = won + w (P50 - won) + r (run rate - won) + (1 - w - r) (pipeline - won)``. The weights
   (w, r) are those of a 0.1 grid with the lowest mean absolute percentage error on the past points of the same
   stretch of the period (its first day, weeks 1-6, weeks 7 and later: a model's edge differs from the start of a
   quarter to its end), or on all past points when the stretch has fewer than `MIN_STRETCH_POINTS`. Weights
   chosen on a few periods overfit them, so they are shrunk towards `WEIGHT_PRIOR` (half the model, half the run
   rate) as if `WEIGHT_PRIOR_PERIODS` more periods had chosen it: (periods x chosen + `WEIGHT_PRIOR_PERIODS` x
   prior) / (periods + `WEIGHT_PRIOR_PERIODS`). Forecasts combined this way beat each of them when their errors
   differ, and a component that cannot beat the run rate gets little weight. (The weighted pipeline gets none a
   priori: in a backtest its close dates are mostly estimates, see tandem.forecast.baselines.)
2. **The range** is the simulation's own spread around its median, scaled to the centre (the remaining revenue's
   distribution stretched by (c - won) / (P50 - won)), widened by a model-error term (each half-width is
   sqrt(h^2 + (`REL_SPREAD` (c - won))^2): a simulation of thousands of deals is narrow, but a model is never
   right to better than a share of what is still to come), then multiplied on each side by a factor from split
   conformal prediction: for each past point, how many lower (upper) half-widths the actual fell below (above) the
   centre; the factor is the ⌈(n + 1) 0.9⌉-th smallest of those n scores, so each side misses about 10 % of the
   time and the range holds about 80 %. Scores are ratios to the point's own half-width, so points from the start
   and the end of a period, with very different widths, are pooled.
3. **Few periods.** The points of one period share its surprise, so n points from a handful of periods are worth
   far fewer independent ones. Each factor is shrunk towards `PRIOR_FACTOR` as if `PRIOR_PERIODS` more periods had
   shown it: (periods x conformal factor + `PRIOR_PERIODS` x `PRIOR_FACTOR`) / (periods + `PRIOR_PERIODS`). With
   fewer than `MIN_POINTS` past points there is nothing to calibrate on: the model's own median, and the prior
   factor (`basis` says so). `REL_SPREAD`, `PRIOR_FACTOR` and `PRIOR_PERIODS` were tuned on the demo companies
   of benchmarks/bench_forecast_accuracy.py's tuning grid, and are judged on its evaluation grid.

The chance of the goal, the histogram and the mean are read from the simulated outcomes mapped the same way
(`Calibration.transform` is monotone, so the quantiles of the mapped outcomes are the mapped quantiles).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "MIN_POINTS",
    "PRIOR_FACTOR",
    "PRIOR_PERIODS",
    "REL_SPREAD",
    "WEIGHT_PRIOR",
    "WEIGHT_PRIOR_PERIODS",
    "Calibration",
    "PastPoint",
    "calibrate",
    "stretch_of",
    "uncalibrated",
]

Floats = npt.NDArray[np.float64]

#: Fewer past points than this: no calibration (the model's median, the prior factor).
MIN_POINTS = 10
#: A stretch of the period gets its own blend weight from this many past points; fewer, the weight of all points.
MIN_STRETCH_POINTS = 8
#: The model-error term of a half-width, as a share of what is still to come (module docs, 2).
REL_SPREAD = 0.1
#: The range's factor before any past period is seen, and how many periods' worth of weight it keeps (module docs, 3).
PRIOR_FACTOR, PRIOR_PERIODS = 1.6, 4
#: The blend's (model, run rate) weights before any period is seen, and how many periods' worth of weight they keep
#: against the weights the past chose (module docs, 1).
WEIGHT_PRIOR, WEIGHT_PRIOR_PERIODS = (0.5, 0.5), 3
#: The share each side of the range may miss: 10 % below P10, 10 % above P90.
TAIL = 0.1
#: The blend's (model, run rate) weights; the weighted pipeline has the rest.
WEIGHTS = tuple((round(0.1 * i, 1), round(0.1 * j, 1)) for i in range(11) for j in range(11 - i))
#: Stretches of a period, by the week a forecast is made in (0: its first day).
STRETCHES: dict[str, tuple[int, int]] = {"start": (0, 0), "weeks 1-6": (1, 6), "weeks 7+": (7, 60)}


def stretch_of(week: int) -> str:
    return next(name for name, (first, last) in STRETCHES.items() if first <= week <= last)


@dataclass(frozen=True)
class PastPoint:
    """One backtest forecast of a period already over: what the calibration learns from."""

    period: str
    week: int
    won: float
    p10: float
    p50: float
    p90: float
    run_rate: float
    weighted_pipeline: float
    actual: float


@dataclass(frozen=True)
class Calibration:
    """How to turn the simulation into the forecast shown (module docs)."""

    weight: float  # the model's share of what is still to come
    run_rate_weight: float  # the run rate's; the weighted pipeline has the rest
    lower: float  # the factor on the lower half-width (the simulation's, scaled to the centre)
    upper: float
    points: int  # past backtest forecasts it rests on
    basis: str

    def center(self, won: float, p50: float, run_rate: float, pipeline: float) -> float:
        rest = 1.0 - self.weight - self.run_rate_weight
        return won + self.weight * (p50 - won) + self.run_rate_weight * (run_rate - won) + rest * (pipeline - won)

    def half_widths(
        self, won: float, p10: float, p50: float, p90: float, run_rate: float, pipeline: float
    ) -> tuple[float, float, float]:
        """The centre and its lower and upper half-widths before the factors (module docs, 2)."""
        center = self.center(won, p50, run_rate, pipeline)
        scale = (center - won) / (p50 - won) if p50 - won > 1e-9 else 1.0
        error = REL_SPREAD * max(center - won, 0.0)
        return center, float(np.hypot((p50 - p10) * scale, error)), float(np.hypot((p90 - p50) * scale, error))

    def transform(
        self, totals: Floats, won: float, quantiles: tuple[float, float, float], run_rate: float, pipeline: float
    ) -> Floats:
        """The simulated totals mapped to the calibrated forecast: monotone, kinked at the simulation's median, so
        that its P10 and P90 land at centre -/+ factor x half-width."""
        p10, p50, p90 = quantiles
        center, low, high = self.half_widths(won, p10, p50, p90, run_rate, pipeline)
        below = (center - self.lower * low - center) / (p10 - p50) if p50 - p10 > 1e-9 else 0.0
        above = (center + self.upper * high - center) / (p90 - p50) if p90 - p50 > 1e-9 else 0.0
        slope = np.where(totals < p50, below, above)
        mapped: Floats = np.maximum(center + (totals - p50) * slope, won)
        return mapped

    def widened(self, factor: float, why: str) -> Calibration:
        """The same centre with both half-widths `factor` times wider, and why."""
        return replace(
            self,
            lower=self.lower * factor,
            upper=self.upper * factor,
            basis=f"{self.basis}; the range drawn {factor:g} times wider for {why}",
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "weight": self.weight,
            "run_rate_weight": self.run_rate_weight,
            "pipeline_weight": round(1.0 - self.weight - self.run_rate_weight, 10),
            "lower": self.lower,
            "upper": self.upper,
            "points": self.points,
            "basis": self.basis,
        }


def uncalibrated(points: int = 0, reason: str = "") -> Calibration:
    """The model's own median with the prior factor on each side (module docs, 3)."""
    basis = reason or (
        f"not calibrated: {points} past backtest forecasts (fewer than {MIN_POINTS}); the model's own median, "
        f"its range widened by the prior factor {PRIOR_FACTOR:g}"
    )
    return Calibration(1.0, 0.0, PRIOR_FACTOR, PRIOR_FACTOR, points, basis)


def _weights(points: Sequence[PastPoint]) -> tuple[float, float]:
    """The blend weights with the lowest past MAPE (ties: the larger model share, then the larger run rate's)."""
    won = np.asarray([p.won for p in points])
    actual = np.asarray([p.actual for p in points])
    model = np.asarray([p.p50 for p in points]) - won
    rate = np.asarray([p.run_rate for p in points]) - won
    pipeline = np.asarray([p.weighted_pipeline for p in points]) - won

    def error(w: tuple[float, float]) -> float:
        center = won + w[0] * model + w[1] * rate + (1 - w[0] - w[1]) * pipeline
        return round(float(np.mean(np.abs(center - actual) / actual)), 12)

    return min(WEIGHTS, key=lambda w: (error(w), -w[0], -w[1]))


def _factor(scores: list[float]) -> float:
    """The split-conformal quantile: the ⌈(n + 1)(1 - TAIL)⌉-th smallest score (the largest when n is small)."""
    ordered = sorted(scores)
    rank = min(math.ceil((len(ordered) + 1) * (1 - TAIL)), len(ordered))
    return max(ordered[rank - 1], 0.0)


def calibrate(points: Sequence[PastPoint], week: int) -> Calibration:
    """The calibration of a forecast made in `week` of its period, from past backtest points (module docs)."""
    usable = [p for p in points if p.actual > 0]
    if len(usable) < MIN_POINTS:
        return uncalibrated(len(usable))
    stretch = STRETCHES[stretch_of(week)]
    same = [p for p in usable if stretch[0] <= p.week <= stretch[1]]
    chosen = _weights(same if len(same) >= MIN_STRETCH_POINTS else usable)
    periods = len({p.period for p in usable})
    weight, rate = (
        (periods * w + WEIGHT_PRIOR_PERIODS * prior) / (periods + WEIGHT_PRIOR_PERIODS)
        for w, prior in zip(chosen, WEIGHT_PRIOR, strict=True)
    )
    blend = Calibration(weight, rate, 1.0, 1.0, 0, "")
    lower: list[float] = []
    upper: list[float] = []
    for p in usable:
        center, low, high = blend.half_widths(p.won, p.p10, p.p50, p.p90, p.run_rate, p.weighted_pipeline)
        if low > 1e-9:
            lower.append((center - p.actual) / low)
        if high > 1e-9:
            upper.append((p.actual - center) / high)
    if len(lower) < MIN_POINTS or len(upper) < MIN_POINTS:
        return uncalibrated(len(usable))
    share = "all of them" if len(same) < MIN_STRETCH_POINTS else f"the {len(same)} of the same stretch"

    def shrunk(factor: float) -> float:
        return (periods * factor + PRIOR_PERIODS * PRIOR_FACTOR) / (periods + PRIOR_PERIODS)

    return Calibration(
        weight=weight,
        run_rate_weight=rate,
        lower=shrunk(_factor(lower)),
        upper=shrunk(_factor(upper)),
        points=len(usable),
        basis=(
            f"calibrated on {len(usable)} past backtest forecasts of {periods} periods: what is still to come "
            f"weighs the model {weight:.0%}, the run rate {rate:.0%} and the weighted pipeline "
            f"{1 - weight - rate:.0%} (the lowest error on {share}, shrunk towards half model, half run rate), and "
            f"the range is set so each side missed about {TAIL:.0%} of them (shrunk towards {PRIOR_FACTOR:g} "
            f"half-widths as if {PRIOR_PERIODS} more periods had shown it)"
        ),
    )
