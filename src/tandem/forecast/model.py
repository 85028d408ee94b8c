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
- **deal sizes**: the mean and spread of the amounts won in the last year, as a gamma distribution (positive,
  skewed like deal sizes), for deals not yet created. Such a deal must be won within the days left, so its size
  is read from the deals won that quickly after their creation (`sizes_within`): quick deals are small ones.
  The `win_rate` of the deals closed in the last year (won / (won + lost)) and the measured `stage_probabilities`
  serve the weighted-pipeline baseline (tandem.forecast.baselines);
- **how much the win rate wanders**: the deals' won curve is an average over the lookback, but the rate at which
  deals are won moves from month to month (quarter-end pushes, seasons, a team change). For each of the last 12
  thirty-day windows, the deals won (O) are set against the wins the curve expects from the deals open then (E);
  the spread of log(O / E) beyond what counting noise explains (about 1 / O) is `win_dispersion`, the standard
  deviation of that log ratio. The simulation draws one such ratio per run, so the range reflects how far off an
  average month has been, not only the luck of independent deals;
- **the quarter-end push**: sales teams close more in a quarter's last `QUARTER_END_DAYS` days. The wins observed on
  those days of the lookback against the wins the curve expects then give `quarter_end_lift` (and the other days'
  ratio `other_days_lift`, a little under 1): the won hazard is multiplied by them, day by day of the calendar, when
  an open deal's chance inside the period is computed. Without `MIN_LIFT_WINS` wins on such days, both are 1;
- **arrivals**: the daily rate at which new leads (or, without leads, new deals) arrived in the last
  `arrival_days`, the run rate of what is not yet created.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tandem.forecast.baselines import StageProbabilities, stage_probabilities
from tandem.forecast.curves import EventCurve, event_curve
from tandem.forecast.history import History, to_date
from tandem.periods import quarter_of

__all__ = ["DealSizes", "ForecastModel", "estimate_model"]

Floats = npt.NDArray[np.float64]

DEFAULT_LOOKBACK_DAYS = 730
ARRIVAL_DAYS = 91
#: A band of deal amounts gets its own curve when it has at least this many closed deals.
MIN_BAND_CLOSED = 30
#: Deals won within the days left that the sizes of new deals are read from, at the fewest.
MIN_QUICK_DEALS = 10
#: The last days of a quarter where deals are pushed to close, and the fewest wins on such days to measure it.
QUARTER_END_DAYS, MIN_LIFT_WINS = 14, 10
#: Windows of the win-rate dispersion: how many, how long (days), and the fewest wins a window needs to count.
DISPERSION_WINDOWS, WINDOW_DAYS, WINDOW_MIN_WINS = 12, 30, 5
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
    won_amounts: Floats  # the amounts won in the last year, with their cycles (days from creation to won)
    won_cycles: Floats
    win_rate: float | None
    median_cycle_days: float | None
    quarter_end_lift: float  # multiplies the won hazard on a quarter's last days (module docs)
    other_days_lift: float  # ... and on the other days
    win_dispersion: float  # standard deviation of log(observed / expected wins) per 30-day window (module docs)
    arrival_rate: float  # new entries per day into the first stage the data has (leads, else deals)
    lookback_days: int
    stage_probabilities: StageProbabilities  # the weighted pipeline's (tandem.forecast.baselines)

    def band_of(self, amounts: Floats) -> npt.NDArray[np.int64]:
        """Each amount's band (a missing amount falls in the middle band)."""
        if not self.band_edges.size:
            return np.zeros(np.shape(amounts), dtype=np.int64)
        middle = len(self.band_edges) // 2
        bands = np.searchsorted(self.band_edges, np.nan_to_num(amounts, nan=0.0), side="right")
        return np.where(np.isnan(amounts), middle, bands).astype(np.int64)

    def calendar_lift(self, first_day: float, days: int) -> Floats:
        """The won hazard's multiplier for each of the `days` days from `first_day` (quarter end or not)."""
        ends = np.asarray([quarter_end_distance(first_day + x) for x in range(days)])
        return np.where(ends <= QUARTER_END_DAYS, self.quarter_end_lift, self.other_days_lift)

    def sizes_within(self, days: int) -> DealSizes:
        """The sizes of deals won within `days` of their creation: a deal not yet created that is won before the
        period ends has at most the days left, and quick deals are smaller ones (small accounts, short cycles).
        With fewer than `MIN_QUICK_DEALS` such deals, all deals won in the last year."""
        quick = (self.won_cycles <= days) & ~np.isnan(self.won_amounts)
        if int(quick.sum()) < MIN_QUICK_DEALS:
            return self.deal_sizes
        amounts = self.won_amounts[quick]
        return DealSizes(float(amounts.mean()), float(amounts.std(ddof=1)), int(amounts.size))

    def worth_at_age(self, ages: Floats) -> Floats:
        """What an open deal of unknown amount is worth if won, by its age: the mean amount of the deals won in the
        last year after at least that many days. A deal still open at age a is one of the slower deals, and slow
        deals are the big ones, so the mean of all wins would undervalue an old pipeline (by half on the demo's
        biggest companies). Fewer than `MIN_QUICK_DEALS` such wins: the mean amount won."""
        known = ~np.isnan(self.won_amounts)
        cycles, amounts = self.won_cycles[known], self.won_amounts[known]
        order = np.argsort(-cycles)
        descending, totals = cycles[order], np.cumsum(amounts[order])
        ages = np.asarray(ages, dtype=np.float64)
        count = np.searchsorted(-descending, -ages, side="right")  # wins with a cycle of at least `age`
        mean = np.where(count > 0, totals[np.maximum(count - 1, 0)] / np.maximum(count, 1), 0.0) if totals.size else 0.0
        result: Floats = np.where(count >= MIN_QUICK_DEALS, mean, self.deal_sizes.mean)
        return result

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
        won_amounts=history.amount[won_recently],  # with `won_cycles`: `sizes_within`, `worth_at_age`
        won_cycles=cycles,
        win_rate=win_rate,
        median_cycle_days=median_cycle,
        **_calendar_effects(
            _Exposure.of(deals, created_day[recent], durations, np.where(history.won, history.closed, np.nan)[recent]),
            float(np.floor(t)),
            since,
        ),
        arrival_rate=arrivals,
        lookback_days=lookback_days,
        stage_probabilities=stage_probabilities(history),
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


@dataclass(frozen=True)
class _Exposure:
    """The lookback's deals as the won curve sees them: each one's creation day, the age it was last seen open
    or closed at, its won day (NaN if not won), and the curve's cumulative won hazard by age."""

    created: Floats
    end_age: Floats
    won_day: Floats
    cumulative: Floats  # cumulative[a + 1] = H(a)

    @classmethod
    def of(cls, deals: EventCurve, created: Floats, end_age: Floats, won_day: Floats) -> _Exposure:
        ages = int(end_age.max(initial=0)) + 2
        return cls(created, end_age, won_day, np.r_[0.0, np.cumsum(deals.extended(ages).hazards[0])])

    def expected(self, first: float, last: float) -> float:
        """Wins the curve expects of the deals over calendar days first..last (the sum of their won hazards)."""
        low = np.maximum(first - self.created, 0.0)
        high = np.minimum(last - self.created, self.end_age)
        inside = high >= low
        cumulative = self.cumulative
        return float((cumulative[high[inside].astype(np.int64) + 1] - cumulative[low[inside].astype(np.int64)]).sum())

    def observed(self, first: float, last: float) -> int:
        return int(((self.won_day >= first) & (self.won_day <= last)).sum())


def _calendar_effects(exposure: _Exposure, t: float, since: float) -> dict[str, float]:
    """The model's `win_dispersion`, `quarter_end_lift` and `other_days_lift` (module docs)."""
    return {"win_dispersion": _win_dispersion(exposure, t), **_quarter_end_lift(exposure, t, since)}


def _win_dispersion(exposure: _Exposure, t: float) -> float:
    """The standard deviation of log(observed / expected wins) over 30-day windows, beyond chance (module docs)."""
    ratios, noise = [], []
    for j in range(DISPERSION_WINDOWS):
        first, last = t - WINDOW_DAYS * (j + 1) + 1, t - WINDOW_DAYS * j  # days first..last
        expected = exposure.expected(first, last)
        observed = exposure.observed(first, last)
        if observed >= WINDOW_MIN_WINS and expected > 0:
            ratios.append(np.log(observed / expected))
            noise.append(1.0 / observed)
    if len(ratios) < 4:
        return 0.0
    excess = float(np.var(ratios, ddof=1) - np.mean(noise))
    return float(np.sqrt(excess)) if excess > 0 else 0.0


def quarter_end_distance(day: float) -> int:
    """How many days from `day` to the first day of the next quarter (1 on a quarter's last day)."""
    d = to_date(day)
    return (quarter_of(d).end - d).days


def _quarter_end_lift(exposure: _Exposure, t: float, since: float) -> dict[str, float]:
    """Observed / expected wins on quarter-end days and on the other days of the lookback (module docs)."""
    neutral = {"quarter_end_lift": 1.0, "other_days_lift": 1.0}
    total_expected = float(exposure.cumulative[exposure.end_age.astype(np.int64) + 1].sum())
    expected = observed = 0.0
    next_quarter = since + quarter_end_distance(since)  # the first day of the quarter after `since`'s
    while next_quarter - QUARTER_END_DAYS <= t:
        first, last = max(next_quarter - QUARTER_END_DAYS, since), min(next_quarter - 1, t)
        expected += exposure.expected(first, last)
        observed += exposure.observed(first, last)
        next_quarter += quarter_end_distance(next_quarter)
    other_observed = float((~np.isnan(exposure.won_day)).sum()) - observed
    other_expected = total_expected - expected
    if observed < MIN_LIFT_WINS or expected <= 0 or other_expected <= 0:
        return neutral
    return {"quarter_end_lift": observed / expected, "other_days_lift": other_observed / other_expected}
