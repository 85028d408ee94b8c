"""The forecast against cases worked by hand: curves, known probabilities, leads in flight, baselines, seeds.

Every case builds its history and, where the point is the arithmetic, its model by hand, so the expected numbers
follow from the formulas in the module docs of tandem.forecast.curves and tandem.forecast.simulate.
"""

from __future__ import annotations

import numpy as np
import pytest

from tandem.forecast.baselines import run_rate, weighted_pipeline, won_between
from tandem.forecast.curves import EventCurve, event_curve
from tandem.forecast.history import History, known_at
from tandem.forecast.model import DealSizes, ForecastModel, estimate_model
from tandem.forecast.simulate import forecast_period

STAGES = ("lead", "opportunity", "won")
T = 1000.0  # as-of day
START, END = 990.0, 1021.0  # a 31-day period; on day 1000 the close days 1001..1020 are left: D = 20


def history(
    created: list[float],
    closed: list[float] | None = None,
    won: list[bool] | None = None,
    amount: list[float] | None = None,
    entries: np.ndarray | None = None,
    as_of: float = T,
) -> History:
    n = len(created)
    return History(
        as_of=as_of,
        stages=STAGES,
        created=np.asarray(created, dtype=float),
        closed=np.asarray(closed if closed is not None else [np.nan] * n, dtype=float),
        won=np.asarray(won if won is not None else [False] * n, dtype=bool),
        amount=np.asarray(amount if amount is not None else [1000.0] * n, dtype=float),
        expected_close=np.full(n, np.nan),
        entries=entries if entries is not None else np.empty((0, len(STAGES))),
    )


def constant_curve(won: float, lost: float = 0.0) -> EventCurve:
    """A curve whose daily hazards never change: P(won within D days | open) = won/(won+lost) (1 - (1-won-lost)^D)."""
    return EventCurve(np.asarray([[won], [lost]]), np.asarray([100.0]), np.asarray([50, 50]), 100)


def hand_model(deals: EventCurve, steps: tuple[EventCurve, ...] = (), sizes: DealSizes | None = None) -> ForecastModel:
    days = 400
    chains = [deals.extended(days).pmf(0)[:days]]
    for step in reversed(steps):
        chains.insert(0, np.convolve(step.extended(days).pmf(0)[:days], chains[0])[:days])
    return ForecastModel(
        as_of=T,
        deals=deals,
        band_edges=np.empty(0),
        band_curves=(deals,),
        steps=steps,
        chains=tuple(chains),
        deal_sizes=sizes or DealSizes(mean=1000.0, sd=0.0, count=10),
        won_amounts=np.empty(0),
        won_cycles=np.empty(0),
        win_rate=0.5,
        median_cycle_days=30.0,
        quarter_end_lift=1.0,
        other_days_lift=1.0,
        win_dispersion=0.0,
        arrival_rate=0.0,
        lookback_days=730,
    )


# --- curves -------------------------------------------------------------------------------------------------------


def test_the_curve_counts_who_was_still_open_at_each_age() -> None:
    # Five deals: won at age 1, lost at 2, still open at 2, won at 3, won at 5.
    curve = event_curve(np.asarray([1, 2, 2, 3, 5.0]), np.asarray([0, 1, -1, 0, 0]), 2, min_at_risk=0)
    # Open at ages 0,1: 5; at 2: 4; at 3: 2; at 4, 5: 1.
    assert curve.at_risk.tolist() == [5, 5, 4, 2, 1, 1]
    assert curve.hazards[0].tolist() == [0, 1 / 5, 0, 1 / 2, 0, 1]
    assert curve.hazards[1].tolist() == [0, 0, 1 / 4, 0, 0, 0]
    # Survival 1, 4/5, 4/5*3/4 = 3/5, 3/10, 3/10, 0; won incidence 0, 1/5, 1/5, 1/5 + 3/5*1/2 = 1/2, 1/2, 1/2 + 3/10.
    assert curve.survival() == pytest.approx([1, 0.8, 0.6, 0.3, 0.3, 0.0])
    assert curve.incidence(0) == pytest.approx([0, 0.2, 0.2, 0.5, 0.5, 0.8])
    # Open at age 2, won within 3 more days: (CIF(5) - CIF(2)) / S(2) = (0.8 - 0.2) / 0.6 = 1.
    assert curve.within(np.asarray([2]), 3) == pytest.approx([1.0])
    # Open at age 1, won within 2 days: (0.5 - 0.2) / 0.8.
    assert curve.within(np.asarray([1]), 2) == pytest.approx([0.375])


def test_a_thin_tail_shares_one_hazard_so_old_deals_still_close() -> None:
    # 30 deals lost at age 1; 10 still open at ages 2..11, 1 won at age 12: from age 2 fewer than 20 are open.
    durations = np.r_[np.ones(30), np.arange(2, 12), [12.0]]
    outcomes = np.r_[np.ones(30, dtype=int), -np.ones(10, dtype=int), [0]]
    curve = event_curve(durations, outcomes, 2)
    # Ages 2.. pooled: 1 win over the exposure 11 + 10 + 9 + ... (at risk at ages 2..12 = 11, 10, ..., 1) = 66.
    assert curve.hazards.shape[1] == 3
    assert curve.hazards[0, 2] == pytest.approx(1 / 66)
    # A deal older than any seen still has the pooled chance each day.
    assert curve.within(np.asarray([400]), 10) == pytest.approx([1 - (1 - 1 / 66) ** 10])


# --- open deals with known probabilities --------------------------------------------------------------------------


def test_independent_deals_with_known_probabilities_have_the_exact_mean_and_variance() -> None:
    # A constant daily win hazard of 2 %: each open deal is won within the 20 days left with p = 1 - 0.98^20.
    p = 1 - 0.98**20
    amounts = [1000.0, 5000.0, 20000.0, 2500.0, 800.0]
    seen = history(created=[900, 900, 900, 950, 980], amount=amounts)
    model = hand_model(constant_curve(0.02))
    result = forecast_period(seen, START, END, simulations=200_000, seed=3, model=model, parameter_uncertainty=False)
    mean = p * sum(amounts)
    variance = p * (1 - p) * sum(a * a for a in amounts)
    open_source = next(s for s in result.sources if s.source == "open deals")
    assert open_source.expected_revenue == pytest.approx(mean)
    assert open_source.expected_deals == pytest.approx(5 * p)
    standard_error = np.sqrt(variance / result.simulations)
    assert abs(result.expected - mean) < 4 * standard_error
    # The variance of the simulated totals themselves (three of the deals share an age: one group).
    draws = _totals(seen, model, 200_000, seed=4)
    assert draws.var() == pytest.approx(variance, rel=0.02)


def test_beyond_exact_draws_many_deals_keep_their_exact_mean_and_variance() -> None:
    # 4,000 open deals x 10,000 simulations is past EXACT_DRAWS: ages 0..99 make groups of 40 deals, drawn as
    # one normal total with the independent deals' exact moments.
    rng = np.random.default_rng(8)
    ages = np.repeat(np.arange(100), 40)
    p = rng.uniform(0.05, 0.6, ages.size)
    amounts = np.round(rng.lognormal(9, 0.8, ages.size), -2)
    from tandem.forecast import simulate

    assert 10_000 * ages.size > simulate.EXACT_DRAWS
    draws = simulate._grouped_deals(np.random.default_rng(2), ages, p, amounts, np.ones(10_000))
    mean = float((p * amounts).sum())
    variance = float((p * (1 - p) * amounts**2).sum())
    assert abs(draws.mean() - mean) < 4 * np.sqrt(variance / draws.size)
    assert draws.var() == pytest.approx(variance, rel=0.05)


def test_a_single_deal_is_an_exact_bernoulli_draw() -> None:
    p = 1 - 0.98**20
    seen = history(created=[900], amount=[7000.0])
    draws = _totals(seen, hand_model(constant_curve(0.02)), 100_000, seed=1)
    assert set(np.unique(draws)) <= {0.0, 7000.0}
    assert (draws == 7000.0).mean() == pytest.approx(p, abs=4 * np.sqrt(p * (1 - p) / 100_000))


def test_won_so_far_is_certain_and_a_deal_open_too_long_for_the_period_adds_nothing() -> None:
    # Won on day 995 (inside the period), won on day 980 (before it), one open; no days left (as of day 1020).
    seen = history(
        created=[950, 950, 990],
        closed=[995, 980, np.nan],
        won=[True, True, False],
        amount=[4000, 9000, 3000],
        as_of=1020,
    )
    result = forecast_period(seen, START, END, simulations=1000, model=hand_model(constant_curve(0.5)))
    assert result.days_left == 0
    assert result.won_to_date == 4000
    assert (result.p10, result.p50, result.p90, result.expected) == (4000, 4000, 4000, 4000)


def _totals(seen: History, model: ForecastModel, simulations: int, seed: int) -> np.ndarray:
    """The simulated totals themselves: a histogram with one bin per distinct value is enough for these cases."""
    from tandem.forecast import simulate

    rng = np.random.default_rng(seed)
    is_open = seen.is_open
    ages = (np.floor(seen.as_of) - np.floor(seen.created[is_open])).astype(np.int64)
    days_left = int(END - 1 - np.floor(seen.as_of))
    p = model.deals.within(ages, days_left)
    return seen_won(seen) + simulate._grouped_deals(rng, ages, p, seen.amount[is_open], np.ones(simulations))


def seen_won(seen: History) -> float:
    return won_between(seen, START, min(END, np.floor(seen.as_of) + 1))


# --- leads in flight and what is not yet created -------------------------------------------------------------------


def test_a_lead_in_flight_is_won_in_time_through_the_step_and_the_deal() -> None:
    # lead -> opportunity with a constant daily hazard h1 = 5 %; a new deal is won with a daily hazard h2 = 10 %
    # from its first day (age 0). A lead that moves on at day t + x is won by the period's end with probability
    # 1 - 0.9^(D - x + 1); so p = sum over x = 1..D of h1 (1 - h1)^(x - 1) (1 - 0.9^(D - x + 1)), whatever its age.
    h1, h2, days_left = 0.05, 0.10, 20
    p = sum(h1 * (1 - h1) ** (x - 1) * (1 - (1 - h2) ** (days_left - x + 1)) for x in range(1, days_left + 1))
    entries = np.asarray([[990.0, np.nan, np.nan], [960.0, np.nan, np.nan], [999.0, np.nan, np.nan]])
    seen = history(created=[], entries=entries)
    step = EventCurve(np.asarray([[h1]]), np.asarray([100.0]), np.asarray([50]), 100)
    model = hand_model(constant_curve(h2), steps=(step,))
    result = forecast_period(seen, START, END, simulations=20_000, seed=0, model=model, parameter_uncertainty=False)
    in_flight = next(s for s in result.sources if s.source == "leads in flight")
    assert in_flight.count == 3
    assert in_flight.expected_deals == pytest.approx(3 * p)
    assert in_flight.expected_revenue == pytest.approx(3 * p * 1000)
    assert result.expected == pytest.approx(3 * p * 1000, rel=0.05)


def test_new_leads_arrive_at_the_given_daily_rate_and_have_less_time_the_later_they_come() -> None:
    h1, h2, days_left = 0.05, 0.10, 20

    # A lead arriving on day t + x must move on and be won within D - x days: C0(D - x), where the chain's
    # cumulative C0(m) = sum over j + y <= m of h1 (1 - h1)^j h2 (1 - h2)^y (both from age 0).
    def c0(m: int) -> float:
        return sum(h1 * (1 - h1) ** j * h2 * (1 - h2) ** y for j in range(m + 1) for y in range(m + 1 - j))

    rate = np.full(days_left, 4.0)
    expected = sum(4.0 * c0(days_left - x) for x in range(1, days_left + 1))
    seen = history(created=[], entries=np.empty((0, 3)))
    seen = History(**{**seen.__dict__, "entries": np.asarray([[500.0, 510.0, 520.0]])})  # one old lead: has leads
    step = EventCurve(np.asarray([[h1]]), np.asarray([100.0]), np.asarray([50]), 100)
    model = hand_model(constant_curve(h2), steps=(step,))
    result = forecast_period(seen, START, END, simulations=1000, model=model, arrivals=rate)
    new = next(s for s in result.sources if s.source == "new leads")
    assert new.count == 80
    assert new.expected_deals == pytest.approx(expected)


# --- baselines ----------------------------------------------------------------------------------------------------


def test_weighted_pipeline_and_run_rate_by_hand() -> None:
    seen = history(
        created=[900, 960, 995, 700, 850],
        closed=[np.nan, np.nan, np.nan, 992, 950],
        won=[False, False, False, True, True],
        amount=[10_000, 20_000, 40_000, 5_000, 7_000],
    )
    model = hand_model(constant_curve(0.02))  # win rate 0.5, median cycle 30 days
    # Expected closes (creation + 30): 930, 990, 1025: the first two are due before the end (1021).
    assert weighted_pipeline(seen, model, START, END) == 5_000 + 0.5 * (10_000 + 20_000)
    # Run rate: won in the last 91 days (days 910..1000): 5,000 + 7,000, per day, times the 20 days left.
    assert run_rate(seen, START, END) == pytest.approx(5_000 + 12_000 / 91 * 20)


def test_the_weighted_pipeline_uses_todays_expected_close_date_when_known() -> None:
    base = history(created=[995], amount=[40_000])
    dated = History(**{**base.__dict__, "expected_close": np.asarray([1010.0])})
    model = hand_model(constant_curve(0.02))
    assert weighted_pipeline(base, model, START, END) == 0  # creation + 30 days is after the period
    assert weighted_pipeline(dated, model, START, END) == 20_000


# --- seeds --------------------------------------------------------------------------------------------------------


def _synthetic(seed: int = 5) -> History:
    rng = np.random.default_rng(seed)
    n = 600
    created = rng.uniform(300, 1000, n)
    cycle = rng.lognormal(3.5, 0.6, n)
    won = rng.random(n) < 0.35
    closed = np.floor(created + cycle)
    closed = np.where(closed <= T, closed, np.nan)
    leads = 5000
    first = rng.uniform(300, 1000, leads)
    second = np.where(rng.random(leads) < 0.2, first + rng.exponential(10, leads), np.nan)
    second = np.where(second <= T, second, np.nan)
    entries = np.column_stack([first, second, np.full(leads, np.nan)])
    return History(
        as_of=T,
        stages=STAGES,
        created=created,
        closed=closed,
        won=won & ~np.isnan(closed),
        amount=np.round(rng.lognormal(9, 0.7, n), -2),
        expected_close=np.full(n, np.nan),
        entries=entries,
    )


def test_the_same_seed_gives_the_same_forecast_and_another_seed_another() -> None:
    seen = _synthetic()
    first = forecast_period(seen, START, END, simulations=5000, seed=11)
    again = forecast_period(seen, START, END, simulations=5000, seed=11)
    other = forecast_period(seen, START, END, simulations=5000, seed=12)
    assert first.as_dict() == again.as_dict()
    assert (first.p10, first.p50, first.p90) != (other.p10, other.p50, other.p90)
    # The expected values of the sources do not depend on the seed: they are computed, not simulated.
    assert [s.expected_revenue for s in first.sources] == [s.expected_revenue for s in other.sources]


def test_the_range_is_ordered_and_the_chance_of_the_goal_falls_as_the_goal_rises() -> None:
    seen = _synthetic()
    low = forecast_period(seen, START, END, simulations=4000, goal=1.0)
    high = forecast_period(seen, START, END, simulations=4000, goal=10_000_000.0)
    assert low.p10 <= low.p50 <= low.p90
    assert low.chance_of_goal == 1.0
    assert high.chance_of_goal == 0.0


def test_an_estimated_model_reads_the_history_it_is_given() -> None:
    seen = _synthetic()
    model = estimate_model(seen)
    recent = seen.won & (seen.closed >= T - 365)
    assert model.deal_sizes.count == int(recent.sum())
    assert model.deal_sizes.mean == pytest.approx(float(seen.amount[recent].mean()))
    # 91 days of lead creations before day 1000, per day.
    assert model.arrival_rate == pytest.approx(((seen.entries[:, 0] > T - 91) & (seen.entries[:, 0] <= T)).sum() / 91)
    assert known_at(seen, T).created.size == seen.created.size
