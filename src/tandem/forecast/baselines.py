"""The two forecasts a revenue team already has, computed from the same history in the same run.

- **Weighted pipeline**, as the big CRMs compute it: won so far plus, for every open deal expected to close
  before the period ends, its amount times its stage's probability. The probability is the win rate of the deals
  closed in the last year (won / (won + lost)): one stage per deal, since the CRM keeps only a deal's latest
  stage. A deal's expected close is its close date when today's is known; on a past day it is not (the CRM
  overwrote it), so there, as for a deal without one, it is its creation plus the median sales cycle of the deals
  won in the last year. An overdue deal counts as closing in the period, as reps push them there. A deal without
  an amount counts at the mean amount won in the last year.
- **Run rate**: won so far plus the daily revenue won in the last 91 days times the days left.
"""

from __future__ import annotations

import numpy as np

from tandem.forecast.history import History
from tandem.forecast.model import ForecastModel

__all__ = ["run_rate", "weighted_pipeline", "won_between"]

RUN_RATE_DAYS = 91


def won_between(history: History, start: float, end: float) -> float:
    """Revenue of the deals won on a day in [start, end) (known by the history's as-of day)."""
    won = history.won & (history.closed >= start) & (history.closed < end)
    return float(np.nansum(history.amount[won]))


def weighted_pipeline(history: History, model: ForecastModel, start: float, end: float) -> float:
    """Won so far plus open amount x stage probability for deals expected to close before `end` (module docs)."""
    won = won_between(history, start, end)
    if model.win_rate is None:
        return won
    is_open = history.is_open
    cycle = model.median_cycle_days if model.median_cycle_days is not None else 0.0
    expected = np.where(np.isnan(history.expected_close), history.created + cycle, history.expected_close)
    due = is_open & (expected < end)
    amounts = np.where(np.isnan(history.amount), model.deal_sizes.mean, history.amount)
    return float(won + model.win_rate * float(amounts[due].sum()))


def run_rate(history: History, start: float, end: float) -> float:
    """Won so far plus the last 91 days' daily won revenue for each day left (module docs)."""
    t = float(np.floor(history.as_of))
    won = won_between(history, start, end)
    recent = won_between(history, t - RUN_RATE_DAYS + 1, t + 1)
    days_left = max(end - 1 - t, 0.0)
    return won + recent / RUN_RATE_DAYS * days_left
