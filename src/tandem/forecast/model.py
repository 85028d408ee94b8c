"""The forecast's model, estimated from a `History` alone: when deals are won, how leads move, what deals are worth.

Everything is read from the history as known at its as-of day, so a model estimated inside the backtest knows
only the past (tandem.forecast.history):

- **deals**: the Aalen-Johansen curve of won and lost by age, from the deals created in the `lookback` days
  before as-of (open ones are censored at their current age). An open deal's chance of being won inside the
  period depends on its age and on the days left (tandem.forecast.curves), not on a fixed percentage. Deals are
  split into amount bands (terciles of the lookback's amounts) with a curve each, when every band has at least
  `MIN_BAND_CLOSED` closed deals: big deals take longer and are won less often, so one curve for all would credit
  the biggest open deals with the small ones' speed. (A deal's CRM stage cannot stand in for this: the CRM keeps
  only its latest stage, so a past day's stage is unknown and a model using it could not be backtested.)
- **lead steps**: for each stage before the opportunity stage, the curve of moving on to the next stage by days
  since entering it, from the leads that entered it in the lookback (still waiting: censored);
- **the chain**: the daily probability that a lead entering stage k is won d days later: the steps' curves
  convolved, ending with the deals' won curve;
- **deal sizes**: the mean and spread of the amounts won in the lookback, as a gamma distribution (positive,
  skewed like deal sizes), for deals not yet created; the `win_rate` of deals closed in the lookback (won / won +
  lost) for the weighted-pipeline baseline;
- **arrivals**: the daily rate at which new leads (or, without leads, new deals) arrived in the last
  `arrival_days`, the run rate of what is not yet created.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tandem.forecast.curves import EventCurve, event_curve
from tandem.forecast.history import History

__all__ = ["DealSizes", "ForecastModel", "estimate_model"]

Floats = npt.NDArray[np.float64]

DEFAULT_LOOKBACK_DAYS = 730
ARRIVAL_DAYS = 91
#: A band of deal amounts gets its own curve when it has at least this many closed deals.
MIN_BAND_CLOSED = 30
#: The longest a chain of lags is followed (days): beyond, a lead is too slow to matter for a period's revenue.
CHAIN_DAYS = 730


@dataclass(frozen=True)
class DealSizes:
    """Amounts won in the lookback: mean, standard deviation and count; a gamma distribution with those moments."""

    mean: float
    sd: float
    count: int

    def totals(self, rng: np.random.Generator, deals: npt.NDArray[np.int64]) -> Floats:
        """The total worth of `deals[i]` new deals, for each i: a sum of independent gamma draws is gamma."""
        deals = np.asarray(deals)
        if self.mean <= 0:
            return np.zeros(deals.shape)
        if self.sd <= 0:
            return np.asarray(deals * self.mean, dtype=np.float64)
        shape = (self.mean / self.sd) ** 2
        scale = self.sd**2 / self.mean
        positive = deals > 0
        totals = np.zeros(deals.shape)
        totals[positive] = rng.gamma(shape * deals[positive], scale)
        return totals


@dataclass(frozen=True)
class ForecastModel:
    """The estimated model (module docs); `chains[k]` is the daily pmf of a lead entering stage k being won."""

    as_of: float
    deals: EventCurve  # outcome 0 = won, 1 = lost; all deals
    band_edges: Floats  # amount edges between bands (empty: one band)
    band_curves: tuple[EventCurve, ...]  # one curve per band
    steps: tuple[EventCurve, ...]  # one per stage before the opportunity stage
    chains: tuple[Floats, ...]  # one per stage up to and including the opportunity stage
    deal_sizes: DealSizes
    win_rate: float | None
    median_cycle_days: float | None
    arrival_rate: float  # new entries per day into the first stage the data has (leads, else deals)
    lookback_days: int

    def band_of(self, amounts: Floats) -> npt.NDArray[np.int64]:
        """Each amount's band (a missing amount falls in the middle band)."""
        if not self.band_edges.size:
            return np.zeros(np.shape(amounts), dtype=np.int64)
        middle = len(self.band_edges) // 2
        bands = np.searchsorted(self.band_edges, np.nan_to_num(amounts, nan=0.0), side="right")
        return np.where(np.isnan(amounts), middle, bands).astype(np.int64)

    @property
    def arrival_chain(self) -> Floats:
        """The chain of what arrives new: from the first stage when leads are known, else from a deal's creation."""
        return self.chains[0]


def estimate_model(
    history: History,
    *,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    arrival_days: int = ARRIVAL_DAYS,
) -> ForecastModel:
    """The model of `history` as known at its as-of day (module docs)."""
    t = history.as_of
    since = t - lookback_days
    recent = history.created >= since
    created_day = np.floor(history.created)
    durations = np.where(history.is_open, np.floor(t) - created_day, history.closed - created_day)[recent]
    outcomes = np.where(history.is_open, -1, np.where(history.won, 0, 1))[recent]
    deals = event_curve(durations, outcomes, 2)
    band_edges, band_curves = _amount_bands(history.amount[recent], durations, outcomes, deals)

    closed_recently = ~history.is_open & (history.closed >= t - 365)
    won_recently = closed_recently & history.won
    amounts = history.amount[won_recently]
    amounts = amounts[~np.isnan(amounts)]
    sizes = DealSizes(
        mean=float(amounts.mean()) if amounts.size else 0.0,
        sd=float(amounts.std(ddof=1)) if amounts.size > 1 else 0.0,
        count=int(amounts.size),
    )
    closed_count = int(closed_recently.sum())
    win_rate = float(won_recently.sum()) / closed_count if closed_count else None
    cycles = (history.closed - history.created)[won_recently]
    median_cycle = float(np.median(cycles)) if cycles.size else None

    steps: list[EventCurve] = []
    if history.has_leads:
        entries = history.entries
        for k in range(history.opportunity_stage):
            entered = entries[:, k]
            cohort = ~np.isnan(entered) & (entered >= since)
            following = entries[cohort, k + 1]
            moved = ~np.isnan(following)
            waited = np.where(moved, following - entered[cohort], t - entered[cohort])
            steps.append(event_curve(waited, np.where(moved, 0, -1), 1))
        arrivals = float(((entries[:, 0] > t - arrival_days) & (entries[:, 0] <= t)).sum()) / arrival_days
    else:
        arrivals = float(((history.created > t - arrival_days) & (history.created <= t)).sum()) / arrival_days

    won_pmf = deals.extended(CHAIN_DAYS).pmf(0)[:CHAIN_DAYS]
    chains: list[Floats] = [won_pmf]
    for step in reversed(steps):
        moved = step.extended(CHAIN_DAYS).pmf(0)[:CHAIN_DAYS]
        chains.insert(0, np.convolve(moved, chains[0])[:CHAIN_DAYS])
    return ForecastModel(
        as_of=t,
        deals=deals,
        band_edges=band_edges,
        band_curves=band_curves,
        steps=tuple(steps),
        chains=tuple(chains),
        deal_sizes=sizes,
        win_rate=win_rate,
        median_cycle_days=median_cycle,
        arrival_rate=arrivals,
        lookback_days=lookback_days,
    )


def _amount_bands(
    amounts: Floats, durations: Floats, outcomes: npt.NDArray[np.int64], pooled: EventCurve
) -> tuple[Floats, tuple[EventCurve, ...]]:
    """Tercile edges of the amounts and a curve per band, or no edges and the pooled curve (module docs)."""
    known = ~np.isnan(amounts)
    if known.sum() < 3 * MIN_BAND_CLOSED:
        return np.empty(0), (pooled,)
    edges = np.unique(np.quantile(amounts[known], [1 / 3, 2 / 3]))
    bands = np.searchsorted(edges, np.nan_to_num(amounts, nan=0.0), side="right")
    bands = np.where(known, bands, len(edges) // 2)
    curves = []
    for band in range(len(edges) + 1):
        mine = bands == band
        if int((outcomes[mine] >= 0).sum()) < MIN_BAND_CLOSED:
            return np.empty(0), (pooled,)
        curves.append(event_curve(durations[mine], outcomes[mine], 2))
    return edges, tuple(curves)
