"""The two forecasts a revenue team already has, computed from the same history in the same run.

- **Weighted pipeline**, as HubSpot's forecast tool and Salesforce's Collaborative Forecasts compute it: won so
  far plus, for every open deal whose expected close date falls in the period, its amount times its stage's
  probability. Both tools place a deal in the period its close date falls in (Salesforce's ForecastingFact links a
  forecast period with the opportunities "that have a closing date within the period"), so an overdue deal whose
  close date lies in an earlier period is not in this period's forecast until a rep moves its date: it is
  reported (`overdue`, `overdue_amount`), not counted. A close date inside the period but already past still
  counts, as in those tools.
  - **Stage probabilities are measured, not typed** (`stage_probabilities`): for CRM stage s, the share of the
    last year's closed deals that were at s or a later stage and went on to win. A won deal passed every stage; a
    lost deal was at the stage it was lost at when the CRM keeps it, and at least at the first stage otherwise.
    Stages are ordered by the median age of the open deals in them (deals move forward as they age). When lost
    deals carry no open stage (the CRM overwrites it with "Closed Lost", as HubSpot, Salesforce and the demo
    do), no stage can be measured, and every deal gets the measured overall win rate, which `basis` says.
  - **What a past day did not know** (tandem.forecast.history, `known_at`): a deal whose row was rewritten
    later has no known stage, amount or close date then. Its close date is estimated as its creation plus the
    median cycle of the deals won in the last year (`estimated_close`), its probability is the overall win rate
    and its amount the mean amount won in the last year (`unknown_amount`): each is counted, so the figure says
    how much of it is estimated.
  - **Thin data**: with fewer than `MIN_CLOSED_DEALS` closed deals in the last year, the probabilities rest on
    too little to trust, and `caution` says so.
- **Run rate**: won so far plus the daily revenue won in the last 91 days times the days left.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from tandem.forecast.history import History

if TYPE_CHECKING:
    from tandem.forecast.model import ForecastModel

__all__ = [
    "MIN_CLOSED_DEALS",
    "StageProbabilities",
    "WeightedPipeline",
    "model_weighted_pipeline",
    "run_rate",
    "stage_probabilities",
    "weighted_pipeline",
    "weighted_pipeline_detail",
    "won_between",
]

Floats = npt.NDArray[np.float64]

RUN_RATE_DAYS = 91
#: Below this many deals closed in the last year, win rates and stage probabilities get a thin-data caution.
MIN_CLOSED_DEALS = 30
#: Stage probabilities are measured only when at least this many lost deals kept the open stage they were lost at.
MIN_STAGED_LOST = 10
#: The closed deals the probabilities are read from: those closed in the last this many days.
PROBABILITY_DAYS = 365


@dataclass(frozen=True)
class StageProbabilities:
    """Each CRM stage's measured chance of being won, and the overall win rate (module docs)."""

    by_stage: dict[str, float]
    overall: float | None
    closed: int
    basis: str

    def of(self, stages: npt.NDArray[np.object_]) -> Floats:
        """Each deal's probability: its stage's, else (stage unknown or not measured) the overall win rate."""
        overall = self.overall if self.overall is not None else 0.0
        return np.asarray([self.by_stage.get(s, overall) if s is not None else overall for s in stages], dtype=float)

    @property
    def caution(self) -> str | None:
        if self.closed >= MIN_CLOSED_DEALS:
            return None
        return (
            f"thin data: the win rate rests on {self.closed} deals closed in the last year (fewer than "
            f"{MIN_CLOSED_DEALS}), so it is a rough guess"
        )

    def as_dict(self) -> dict[str, Any]:
        return {"by_stage": self.by_stage, "overall": self.overall, "closed": self.closed, "basis": self.basis}


def stage_probabilities(history: History, lookback_days: int = PROBABILITY_DAYS) -> StageProbabilities:
    """The measured stage probabilities of `history` as known at its as-of day (module docs)."""
    t = history.as_of
    closed = ~history.is_open & (history.closed >= t - lookback_days)
    won = closed & history.won
    lost = closed & ~history.won
    count = int(closed.sum())
    overall = float(won.sum()) / count if count else None
    stages = history.stages_known
    open_known = history.is_open & np.asarray([s is not None for s in stages], dtype=bool)
    ages = np.floor(t) - np.floor(history.created)
    names = sorted({str(s) for s in stages[open_known]})
    order = sorted(names, key=lambda s: (float(np.median(ages[open_known & (stages == s)])), s))
    rank = {s: r for r, s in enumerate(order)}
    lost_rank = np.asarray([rank.get(s, -1) if s is not None else -1 for s in stages[lost]], dtype=np.int64)
    if int((lost_rank >= 0).sum()) < MIN_STAGED_LOST or not count:
        basis = "overall win rate: no CRM stage can be measured (lost deals keep no open stage)"
        if overall is None:
            basis = "no deal closed in the last year: no win rate"
        return StageProbabilities({}, overall, count, basis)
    wins = int(won.sum())
    lost_rank = np.where(lost_rank < 0, 0, lost_rank)  # lost at an unknown stage: at least at the first
    by_stage = {s: wins / (wins + int((lost_rank >= r).sum())) for s, r in rank.items()}
    return StageProbabilities(by_stage, overall, count, "CRM stage: measured on the last year's closed deals")


@dataclass(frozen=True)
class WeightedPipeline:
    """The weighted pipeline of a period and what it rests on (module docs)."""

    value: float
    won: float
    counted: int  # open deals whose close date falls in the period
    weighted: float  # their amount x probability
    overdue: int  # open deals whose close date lies in an earlier period: not counted
    overdue_amount: float
    estimated_close: int  # counted deals whose close date was not known then (estimated)
    unknown_amount: int  # counted deals valued at the mean amount won
    probabilities: StageProbabilities = field(repr=False)

    @property
    def caution(self) -> str | None:
        return self.probabilities.caution

    def as_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "won": self.won,
            "counted": self.counted,
            "weighted": self.weighted,
            "overdue": self.overdue,
            "overdue_amount": self.overdue_amount,
            "estimated_close": self.estimated_close,
            "unknown_amount": self.unknown_amount,
            "probabilities": self.probabilities.as_dict(),
            "caution": self.caution,
        }


def won_between(history: History, start: float, end: float) -> float:
    """Revenue of the deals won on a day in [start, end) (known by the history's as-of day)."""
    won = history.won & (history.closed >= start) & (history.closed < end)
    return float(np.nansum(history.amount[won]))


def weighted_pipeline_detail(
    history: History,
    start: float,
    end: float,
    probabilities: StageProbabilities,
    *,
    mean_amount: float | Floats,
    median_cycle: float | None,
) -> WeightedPipeline:
    """Won so far plus amount x stage probability of the open deals due in [start, end) (module docs); a deal of
    unknown amount counts at `mean_amount` (one figure, or one per deal)."""
    won = won_between(history, start, end)
    is_open = history.is_open
    known_close = ~np.isnan(history.expected_close)
    cycle = median_cycle if median_cycle is not None else np.nan
    close = np.where(known_close, np.floor(history.expected_close), np.floor(history.created + cycle))
    due = is_open & (close >= start) & (close < end)
    overdue = is_open & (close < start)
    unknown_amount = np.isnan(history.amount)
    amounts = np.where(unknown_amount, mean_amount, history.amount)
    p = probabilities.of(history.stages_known[due])
    weighted = float((p * amounts[due]).sum())
    return WeightedPipeline(
        value=won + weighted,
        won=won,
        counted=int(due.sum()),
        weighted=weighted,
        overdue=int(overdue.sum()),
        overdue_amount=float(amounts[overdue].sum()),
        estimated_close=int((due & ~known_close).sum()),
        unknown_amount=int((due & unknown_amount).sum()),
        probabilities=probabilities,
    )


def model_weighted_pipeline(history: History, model: ForecastModel, start: float, end: float) -> WeightedPipeline:
    """The weighted pipeline with the model's stage probabilities, mean amount and cycle (module docs)."""
    return weighted_pipeline_detail(
        history,
        start,
        end,
        model.stage_probabilities,
        mean_amount=model.deal_sizes.mean,
        median_cycle=model.median_cycle_days,
    )


def weighted_pipeline(history: History, model: ForecastModel, start: float, end: float) -> float:
    """The weighted pipeline's value (`model_weighted_pipeline`)."""
    return model_weighted_pipeline(history, model, start, end).value


def run_rate(history: History, start: float, end: float) -> float:
    """Won so far plus the last 91 days' daily won revenue for each day left (module docs)."""
    t = float(np.floor(history.as_of))
    won = won_between(history, start, end)
    recent = won_between(history, t - RUN_RATE_DAYS + 1, t + 1)
    days_left = max(end - 1 - t, 0.0)
    return won + recent / RUN_RATE_DAYS * days_left
