"""The period's revenue as a distribution: won so far, open deals, leads in flight and what is not yet created.

For a period [start, end) forecast on day t (everything as known at t, tandem.forecast.history), with D the
days left (close days t+1 .. end-1):

- **won so far**: the deals won on a day in [start, t], a fixed amount;
- **open deals**: deal i, open at age a_i, is won inside the period with probability
  p_i = P(won at an age in (a_i, a_i + D] | open at a_i), from the curve of its amount band, with the won hazard
  lifted on a quarter's last days by the quarter-end push measured in the history (tandem.forecast.curves,
  tandem.forecast.model), for its own amount;
- **leads in flight**: a lead at stage k (before the opportunity stage) for s days moves on at day t+x with
  probability pmf_k(s + x) / S_k(s), and is then won within D - x days with the chain's cumulative C_{k+1}(D - x):
  p(k, s) = sum over x = 1..D of both; its deal's worth is drawn from the sizes of deals won within D days of
  their creation (tandem.forecast.model);
- **not yet created**: new leads (without leads: new deals) arrive at the recent daily rate (or the plan's), and
  one arriving on day t+x is won in time with probability C_0(D - x); the number won is Poisson.

Monte Carlo, vectorised and seeded. Each deal is drawn won or not in each simulation, exactly, as long as that is
at most `EXACT_DRAWS` draws (10,000 simulations of 2,000 deals); leads are drawn by their binomial count won per
stage and age. Beyond that size (100,000 open deals), the deals of small age groups are still drawn one by one,
and the rest of the deals, and the leads, as one total per simulation with their exact mean and variance: a sum of
thousands of independent deals is normal to well within the range's own uncertainty, and drawing each would
take seconds for nothing (benchmarks/RESULTS.md, "Forecast").

What is shown is then calibrated on the forecast's own backtest (tandem.forecast.calibration): the median blended
with the run rate, the range set to hold about 80 % of the past actuals, the outcomes mapped accordingly; the
simulation's own P10/P50/P90 are kept as `simulated`. With thin data (fewer than `MIN_CLOSED_DEALS` deals closed
in the last year, or fewer than `MIN_LEADS` leads created in it, when the workspace has leads) the forecast
carries a caution and its range is drawn `THIN_WIDEN` times wider.

The uncertainty of the estimates themselves is drawn once per simulation: every deal probability is scaled by a
draw of the ratio of a Beta posterior of the deals' recent win rate to its mean, and by a draw of how far the win
rate has wandered from month to month (`win_dispersion`, tandem.forecast.model); every lead chain also by draws of
the leads' step rates. The range so widens when the history is thin or the business is uneven.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from tandem.forecast.baselines import (
    MIN_CLOSED_DEALS,
    WeightedPipeline,
    model_weighted_pipeline,
    run_rate,
    won_between,
)
from tandem.forecast.calibration import Calibration
from tandem.forecast.history import History, to_date
from tandem.forecast.model import ForecastModel, estimate_model

__all__ = ["DEFAULT_SIMULATIONS", "MIN_LEADS", "THIN_WIDEN", "Forecast", "Source", "forecast_period", "thin_data"]

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]

DEFAULT_SIMULATIONS = 10_000
QUANTILES = (0.1, 0.5, 0.9)
#: Up to this many random draws (simulations x deals, or x groups of leads), every deal or group is drawn exactly.
EXACT_DRAWS = 20_000_000
#: Beyond, deals in an age group this small are still drawn one by one; the rest as one normal total.
SMALL_GROUP = 16
#: Beyond, leads won are one normal total per simulation when this many are expected, else Poisson.
LARGE_MEAN = 50.0
#: Thin data: fewer leads than this created in the last year (with lead data) gives a caution and a wider range.
MIN_LEADS = 200
#: How much wider the range of a thin-data forecast is drawn.
THIN_WIDEN = 1.5


@dataclass(frozen=True)
class Source:
    """Where part of the forecast comes from: `count` deals or leads, their expected deals won and revenue."""

    source: str  # won, open deals, leads in flight, new leads, new deals
    stage: str
    count: int
    expected_deals: float
    expected_revenue: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "stage": self.stage,
            "count": self.count,
            "expected_deals": self.expected_deals,
            "expected_revenue": self.expected_revenue,
        }


@dataclass(frozen=True)
class Forecast:
    """The distribution of a period's revenue as seen on day `as_of` (days since the epoch), and its baselines."""

    start: float
    end: float
    as_of: float
    won_to_date: float
    expected: float
    p10: float
    p50: float
    p90: float
    sources: tuple[Source, ...]
    weighted_pipeline: float
    run_rate: float
    simulations: int
    seed: int
    goal: float | None = None
    chance_of_goal: float | None = None
    days_left: int = 0
    histogram: tuple[tuple[float, float, int], ...] = field(default=(), repr=False)
    simulated: tuple[float, float, float] = (0.0, 0.0, 0.0)  # the simulation's own P10, P50, P90
    calibration: Calibration | None = None
    pipeline: WeightedPipeline | None = field(default=None, repr=False)
    cautions: tuple[str, ...] = ()
    unknown_deals: int = 0  # deals open then whose stage, amount and close date were not known then

    @property
    def thin(self) -> bool:
        return bool(self.cautions)

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": to_date(self.start),
            "end": to_date(self.end),
            "as_of": to_date(self.as_of),
            "days_left": self.days_left,
            "won_to_date": self.won_to_date,
            "expected": self.expected,
            "p10": self.p10,
            "p50": self.p50,
            "p90": self.p90,
            "goal": self.goal,
            "chance_of_goal": self.chance_of_goal,
            "sources": [s.as_dict() for s in self.sources],
            "baselines": {"weighted_pipeline": self.weighted_pipeline, "run_rate": self.run_rate},
            "weighted_pipeline": None if self.pipeline is None else self.pipeline.as_dict(),
            "simulated": {"p10": self.simulated[0], "p50": self.simulated[1], "p90": self.simulated[2]},
            "calibration": None if self.calibration is None else self.calibration.as_dict(),
            "cautions": list(self.cautions),
            "unknown_deals": self.unknown_deals,
            "simulations": self.simulations,
            "seed": self.seed,
            "histogram": [{"low": low, "high": high, "count": n} for low, high, n in self.histogram],
        }


def forecast_period(
    history: History,
    start: float,
    end: float,
    *,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    goal: float | None = None,
    arrivals: Floats | None = None,
    model: ForecastModel | None = None,
    parameter_uncertainty: bool = True,
    calibration: Calibration | None = None,
) -> Forecast:
    """The forecast of revenue won on days [start, end) as known at `history.as_of` (module docs).

    `arrivals` overrides the expected new arrivals for each of the days left (the plan's volumes); by default the
    model's recent daily rate. `calibration` (tandem.forecast.calibration) maps the simulated outcomes to the
    forecast shown; without it the simulation's own outcomes are the forecast (as the backtest first needs them).
    """
    if simulations < 1:
        raise ValueError("simulations must be at least 1")
    if seed < 0:
        raise ValueError(f"the seed must be 0 or more, not {seed}")
    model = model or estimate_model(history)
    rng = np.random.default_rng(seed)
    t = float(np.floor(history.as_of))
    days_left = int(max(end - 1 - t, 0))
    won = won_between(history, start, min(end, t + 1))
    deal_factor, lead_factor = _parameter_draws(model, rng, simulations, parameter_uncertainty)

    totals = np.full(simulations, won)
    won_count = _won_count(history, start, min(end, t + 1))
    sources: list[Source] = [Source("won", history.stages[-1], won_count, float(won_count), won)]

    # Open deals. One of unknown amount (not recorded yet, or not known on this day) is worth what deals won after
    # its age were worth, and follows the curve of all deals, not a band's.
    is_open = history.is_open
    ages = (t - np.floor(history.created[is_open])).astype(np.int64)
    worth = model.worth_at_age((t - np.floor(history.created)).astype(np.float64))
    unknown = np.isnan(history.amount[is_open])
    amounts = np.where(unknown, worth[is_open], history.amount[is_open])
    bands = np.where(unknown, -1, model.band_of(history.amount[is_open]))
    p_open = np.zeros(ages.size)
    if days_left:
        lift = model.calendar_lift(t + 1, days_left)
        for band, curve in [(-1, model.deals), *enumerate(model.band_curves)]:
            mine = bands == band
            if mine.any():
                unique, inverse = np.unique(ages[mine], return_inverse=True)
                p_open[mine] = curve.within_calendar(unique, lift)[inverse]
    totals += _grouped_deals(rng, (bands + 1) * 100_000 + ages, p_open, amounts, deal_factor)
    opportunity = history.stages[history.opportunity_stage]
    sources.append(
        Source("open deals", opportunity, int(ages.size), float(p_open.sum()), float((p_open * amounts).sum()))
    )

    # Leads in flight, stage by stage, and what arrives new.
    wins = np.zeros(simulations, dtype=np.int64)
    sizes = model.sizes_within(days_left)
    mean = sizes.mean
    if history.has_leads and days_left:
        for k, (stage_count, expected_deals, drawn) in enumerate(
            _in_flight(history, model, t, days_left, rng, lead_factor)
        ):
            wins += drawn
            sources.append(
                Source("leads in flight", history.stages[k], stage_count, expected_deals, expected_deals * mean)
            )
    rate = arrivals if arrivals is not None else np.full(days_left, model.arrival_rate)
    expected_new = _expected_new(model, rate[:days_left], days_left)
    new_source = "new leads" if history.has_leads else "new deals"
    new_stage = history.stages[0] if history.has_leads else opportunity
    wins += rng.poisson(expected_new * lead_factor if history.has_leads else expected_new * deal_factor)
    sources.append(
        Source(new_source, new_stage, round(float(rate[:days_left].sum())), expected_new, expected_new * mean)
    )
    totals += sizes.totals(rng, wins)

    simulated = tuple(float(v) for v in np.quantile(totals, QUANTILES))
    rr = run_rate(history, start, end)
    pipeline = model_weighted_pipeline(history, model, start, end)
    cautions = thin_data(history, model)
    if calibration is not None and days_left > 0:  # nothing left to come: the outcome is known
        if cautions:
            calibration = calibration.widened(THIN_WIDEN, "thin data")
        totals = calibration.transform(totals, won, (simulated[0], simulated[1], simulated[2]), rr, pipeline.value)
        adjustment = float(totals.mean()) - sum(s.expected_revenue for s in sources)
        sources.append(Source("backtest calibration", "", 0, 0.0, adjustment))
    p10, p50, p90 = (float(v) for v in np.quantile(totals, QUANTILES))
    chance = float((totals >= goal).mean()) if goal is not None else None
    return Forecast(
        start=start,
        end=end,
        as_of=history.as_of,
        won_to_date=won,
        expected=float(totals.mean()),
        p10=p10,
        p50=p50,
        p90=p90,
        sources=tuple(sources),
        weighted_pipeline=pipeline.value,
        run_rate=rr,
        simulations=simulations,
        seed=seed,
        goal=goal,
        chance_of_goal=chance,
        days_left=days_left,
        histogram=_histogram(totals),
        simulated=(simulated[0], simulated[1], simulated[2]),
        calibration=calibration if days_left > 0 else None,
        pipeline=pipeline,
        cautions=cautions,
        unknown_deals=history.unknown,
    )


def thin_data(history: History, model: ForecastModel) -> tuple[str, ...]:
    """Why the data is too thin to trust the forecast much, if it is (module docs): one caution per reason."""
    found = []
    closed = model.stage_probabilities.closed
    if closed < MIN_CLOSED_DEALS:
        found.append(
            f"thin data: {closed} deals closed in the last year (fewer than {MIN_CLOSED_DEALS}); the win rate "
            "and the curves rest on too little, so the range is drawn wider"
        )
    if history.has_leads:
        leads = int((history.entries[:, 0] > history.as_of - 365).sum())
        if leads < MIN_LEADS:
            found.append(
                f"thin data: {leads} leads created in the last year (fewer than {MIN_LEADS}); the funnel's "
                "curves rest on too little, so the range is drawn wider"
            )
    return tuple(found)


def _won_count(history: History, start: float, end: float) -> int:
    return int((history.won & (history.closed >= start) & (history.closed < end)).sum())


def _parameter_draws(
    model: ForecastModel, rng: np.random.Generator, simulations: int, enabled: bool
) -> tuple[Floats, Floats]:
    """Per simulation, the deals' and the leads' probability scales (module docs); ones when disabled."""
    ones = np.ones(simulations)
    if not enabled:
        return ones, ones
    won, lost = (int(n) for n in model.deals.events)
    deal = rng.beta(won + 1, lost + 1, simulations) / ((won + 1) / (won + lost + 2)) if won + lost else ones
    tau = model.win_dispersion
    if tau > 0:
        deal = deal * np.exp(tau * rng.standard_normal(simulations) - tau * tau / 2)
    lead = ones.copy()
    for step in model.steps:
        moved, observed = int(step.events[0]), step.observed
        if observed:
            lead *= rng.beta(moved + 1, observed - moved + 1, simulations) / ((moved + 1) / (observed + 2))
    return deal, lead * deal


def _grouped_deals(rng: np.random.Generator, ages: Ints, p: Floats, amounts: Floats, scale: Floats) -> Floats:
    """Revenue won by independent deals with probabilities `p` (scaled per simulation); module docs.

    Deal by deal (exact) while simulations x deals stays under `EXACT_DRAWS`; beyond, the deals in age groups of
    at most `SMALL_GROUP` still deal by deal, and the others as one normal total per simulation with their exact
    mean s * sum(p a) and variance s * sum(p a^2) - s^2 * sum(p^2 a^2): thousands of deals, so the sum is normal.
    """
    totals = np.zeros(scale.size)
    if not ages.size:
        return totals
    if scale.size * ages.size <= EXACT_DRAWS:
        return _deal_by_deal(rng, p, amounts, scale)
    _, index, count = np.unique(ages, return_inverse=True, return_counts=True)
    small = count[index] <= SMALL_GROUP
    if small.any():
        totals += _deal_by_deal(rng, p[small], amounts[small], scale)
    large = ~small
    if large.any():
        pa = p[large] * amounts[large]
        mean = scale * pa.sum()
        variance = np.maximum(scale * (pa * amounts[large]).sum() - scale**2 * (pa * pa).sum(), 0.0)
        totals += np.maximum(mean + np.sqrt(variance) * rng.standard_normal(scale.size), 0.0)
    return totals


def _deal_by_deal(rng: np.random.Generator, p: Floats, amounts: Floats, scale: Floats) -> Floats:
    """Each deal won or not in each simulation: exact; in blocks of simulations to bound the memory."""
    totals = np.zeros(scale.size)
    block = max(1, 4_000_000 // max(p.size, 1))
    chance = p.astype(np.float32)
    worth = amounts.astype(np.float64)
    for first in range(0, scale.size, block):
        part = scale[first : first + block].astype(np.float32)
        won = rng.random((part.size, p.size), dtype=np.float32) < np.minimum(chance[None, :] * part[:, None], 1.0)
        totals[first : first + block] = won @ worth
    return totals


def _in_flight(
    history: History, model: ForecastModel, t: float, days_left: int, rng: np.random.Generator, scale: Floats
) -> list[tuple[int, float, Ints]]:
    """Per stage before the opportunity stage: leads there now, their expected deals won in time, and draws."""
    entries = history.entries
    reached = ~np.isnan(entries)
    current = reached.sum(axis=1) - 1  # cumulative counting: entries are reached in order
    results = []
    x = np.arange(1, days_left + 1)
    for k, step in enumerate(model.steps):
        here = current == k
        ages = np.floor(t - entries[here, k]).astype(np.int64)
        if not ages.size:
            results.append((0, 0.0, np.zeros(scale.size, dtype=np.int64)))
            continue
        groups, count = np.unique(ages, return_counts=True)
        curve = step.extended(int(groups.max()) + days_left + 2)
        pmf = curve.pmf(0)
        survival = curve.survival()
        downstream = np.cumsum(model.chains[k + 1])
        after = downstream[np.minimum(days_left - x, downstream.size - 1)]
        moved = pmf[groups[:, None] + x[None, :]]
        alive = survival[groups]
        p = np.where(alive > 1e-12, (moved @ after) / np.maximum(alive, 1e-12), 0.0)
        p = np.clip(p, 0.0, 1.0)
        results.append((int(ages.size), float((p * count).sum()), _wins(rng, count, p, scale)))
    return results


def _wins(rng: np.random.Generator, count: Ints, p: Floats, scale: Floats) -> Ints:
    """How many of `count[g]` leads with probability `p[g]` (scaled per simulation) are won, per simulation.

    Binomial per group while simulations x groups stays under `EXACT_DRAWS`; beyond, one total per simulation:
    normal with the exact mean s * sum(n p) and variance s * sum(n p) - s^2 * sum(n p^2), rounded, when the mean
    is large, else Poisson (many leads with small chances each).
    """
    if scale.size * count.size <= EXACT_DRAWS:
        drawn = rng.binomial(count[None, :], np.clip(p[None, :] * scale[:, None], 0.0, 1.0)).sum(axis=1)
        return np.asarray(drawn, dtype=np.int64)
    mean = scale * float((count * p).sum())
    if float(mean.mean()) < LARGE_MEAN:
        return np.asarray(rng.poisson(mean), dtype=np.int64)
    variance = np.maximum(mean - scale**2 * float((count * p * p).sum()), 0.0)
    return np.maximum(np.rint(mean + np.sqrt(variance) * rng.standard_normal(scale.size)), 0).astype(np.int64)


def _expected_new(model: ForecastModel, rate: Floats, days_left: int) -> float:
    """Expected deals won in time from arrivals on days t+1 .. t+D (module docs)."""
    if not days_left:
        return 0.0
    chain = np.cumsum(model.arrival_chain)
    x = np.arange(1, days_left + 1)
    in_time = chain[np.minimum(days_left - x, chain.size - 1)]
    return float((rate * in_time).sum())


def _histogram(totals: Floats, bins: int = 40) -> tuple[tuple[float, float, int], ...]:
    """The simulated totals in equal bins between their 0.5 % and 99.5 % quantiles, for the chart."""
    low, high = (float(v) for v in np.quantile(totals, (0.005, 0.995)))
    if high <= low:
        return ((low, high, int(totals.size)),)
    counts, edges = np.histogram(np.clip(totals, low, high), bins=bins, range=(low, high))
    return tuple((float(edges[i]), float(edges[i + 1]), int(counts[i])) for i in range(bins))
