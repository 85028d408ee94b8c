"""The forecast against cases worked by hand: curves, known probabilities, leads in flight, baselines, seeds.

Every case builds its history and, where the point is the arithmetic, its model by hand, so the expected numbers
follow from the formulas in the module docs of tandem.forecast.curves and tandem.forecast.simulate.
"""

from __future__ import annotations

import numpy as np
import pytest

from tandem.forecast.baselines import (
    MIN_CLOSED_DEALS,
    StageProbabilities,
    run_rate,
    stage_probabilities,
    weighted_pipeline,
    weighted_pipeline_detail,
    won_between,
)
from tandem.forecast.calibration import (
    PRIOR_FACTOR,
    PRIOR_PERIODS,
    REL_SPREAD,
    WEIGHT_PRIOR,
    WEIGHT_PRIOR_PERIODS,
    Calibration,
    PastPoint,
    calibrate,
)
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
    expected_close: list[float] | None = None,
    crm_stage: list[str | None] | None = None,
) -> History:
    n = len(created)
    return History(
        as_of=as_of,
        stages=STAGES,
        created=np.asarray(created, dtype=float),
        closed=np.asarray(closed if closed is not None else [np.nan] * n, dtype=float),
        won=np.asarray(won if won is not None else [False] * n, dtype=bool),
        amount=np.asarray(amount if amount is not None else [1000.0] * n, dtype=float),
        expected_close=np.asarray(expected_close, dtype=float) if expected_close is not None else np.full(n, np.nan),
        entries=entries if entries is not None else np.empty((0, len(STAGES))),
        crm_stage=np.asarray(crm_stage, dtype=object) if crm_stage is not None else None,
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
        stage_probabilities=StageProbabilities({}, 0.5, 100, "overall win rate"),
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


def test_the_weighted_pipeline_counts_deals_due_in_the_period_at_their_stages_probability() -> None:
    # Four open deals as of day 1000, period [990, 1021), stage probabilities Demo 0.2, Proposal 0.5:
    #   A Demo,     10,000, close day 1005 -> counted: 0.2 x 10,000 = 2,000
    #   B Proposal, 20,000, close day 995 (past, but inside the period) -> counted, as HubSpot and Salesforce do:
    #                                      0.5 x 20,000 = 10,000
    #   C Proposal, 40,000, close day 980 (overdue: an earlier period) -> not counted, reported as overdue
    #   D Demo,     80,000, close day 1030 (next period) -> not counted
    # Won in the period so far: 5,000 (day 992); one deal won before the period (day 950) does not count.
    seen = history(
        created=[900, 960, 800, 995, 700, 850],
        closed=[np.nan, np.nan, np.nan, np.nan, 992, 950],
        won=[False, False, False, False, True, True],
        amount=[10_000, 20_000, 40_000, 80_000, 5_000, 7_000],
        expected_close=[1005, 995, 980, 1030, np.nan, np.nan],
        crm_stage=["Demo", "Proposal", "Proposal", "Demo", "Closed Won", "Closed Won"],
    )
    probabilities = StageProbabilities({"Demo": 0.2, "Proposal": 0.5}, 0.3, 100, "CRM stage")
    found = weighted_pipeline_detail(seen, START, END, probabilities, mean_amount=9_999.0, median_cycle=30.0)
    assert found.value == 5_000 + 2_000 + 10_000
    assert (found.won, found.counted, found.weighted) == (5_000, 2, 12_000)
    assert (found.overdue, found.overdue_amount) == (1, 40_000)
    assert (found.estimated_close, found.unknown_amount) == (0, 0)
    assert found.caution is None
    # Run rate: won in the last 91 days (days 910..1000): 5,000 + 7,000, per day, times the 20 days left.
    assert run_rate(seen, START, END) == pytest.approx(5_000 + 12_000 / 91 * 20)


def test_a_deal_whose_close_date_and_amount_were_unknown_then_is_estimated_and_counted() -> None:
    # Close date unknown: creation + the median cycle (30 days). Created 980 -> 1010, due; created 900 -> 930,
    # overdue. Amount unknown: the mean amount won (6,000); stage unknown: the overall win rate (0.25).
    seen = history(created=[980, 900], amount=[np.nan, 50_000])
    probabilities = StageProbabilities({"Demo": 0.9}, 0.25, 100, "CRM stage")
    found = weighted_pipeline_detail(seen, START, END, probabilities, mean_amount=6_000.0, median_cycle=30.0)
    assert found.value == 0.25 * 6_000
    assert (found.counted, found.estimated_close, found.unknown_amount, found.overdue) == (1, 1, 1, 1)
    # Through the model: its probabilities, mean amount and cycle (hand_model: 0.5, 1,000, 30 days).
    assert weighted_pipeline(seen, hand_model(constant_curve(0.02)), START, END) == 0.5 * 1_000


def test_stage_probabilities_are_the_share_of_deals_at_or_after_a_stage_that_won() -> None:
    # Open deals say the order: Discovery (age 10) before Proposal (age 50). Closed in the last year: 6 won;
    # 10 lost at Discovery, 10 lost at Proposal (the CRM kept the stage they were lost at), 4 lost with no stage.
    # Discovery: 6 / (6 + 24) = 0.2 (every lost deal was at least there); Proposal: 6 / (6 + 10) = 0.375.
    won, lost_discovery, lost_proposal, lost_unknown = 6, 10, 10, 4
    closed_count = won + lost_discovery + lost_proposal + lost_unknown
    seen = history(
        created=[990, 950] + [900] * closed_count,
        closed=[np.nan, np.nan] + [980] * closed_count,
        won=[False, False] + [True] * won + [False] * (closed_count - won),
        crm_stage=["Discovery", "Proposal"]
        + ["Closed Won"] * won
        + ["Discovery"] * lost_discovery
        + ["Proposal"] * lost_proposal
        + ["Closed Lost"] * lost_unknown,
    )
    found = stage_probabilities(seen)
    assert found.by_stage == {"Discovery": 0.2, "Proposal": 0.375}
    assert found.overall == 6 / 30
    assert found.closed == 30
    assert found.basis.startswith("CRM stage")


def test_without_a_usable_stage_every_deal_gets_the_overall_win_rate_and_thin_data_is_cautioned() -> None:
    # Sixteen deals: 3 won, 0 lost, 13 open (the thin workspace). Lost deals keep no open stage (there
    # are none): no stage can be measured, so the overall win rate, 3 / 3, with a caution.
    seen = history(
        created=[900] * 16,
        closed=[950, 960, 970] + [np.nan] * 13,
        won=[True] * 3 + [False] * 13,
        crm_stage=["Closed Won"] * 3 + ["Demo"] * 13,
    )
    found = stage_probabilities(seen)
    assert (found.by_stage, found.overall, found.closed) == ({}, 1.0, 3)
    assert found.basis.startswith("overall win rate")
    assert found.caution is not None
    assert f"rests on 3 deals closed in the last year (fewer than {MIN_CLOSED_DEALS})" in found.caution
    forecast = forecast_period(seen, START, END, simulations=1000)
    assert forecast.pipeline is not None
    assert forecast.pipeline.caution == found.caution
    assert any("thin data: 3 deals closed" in c for c in forecast.cautions)


def test_the_won_source_counts_its_deals_as_expected_deals() -> None:
    seen = history(created=[950, 960, 990], closed=[995, 996, np.nan], won=[True, True, False])
    result = forecast_period(seen, START, END, simulations=500, model=hand_model(constant_curve(0.02)))
    won = next(s for s in result.sources if s.source == "won")
    assert (won.count, won.expected_deals, won.expected_revenue) == (2, 2.0, 2_000.0)


# --- calibration on the backtest's own errors ----------------------------------------------------------------------


def _past(period: str, week: int, actual: float, p50: float = 100.0) -> PastPoint:
    """A past forecast with nothing won yet, P10/P90 at P50 -/+ 10, run rate and pipeline at 80 and 60."""
    return PastPoint(period, week, 0.0, p50 - 10, p50, p50 + 10, 80.0, 60.0, actual)


def test_too_few_past_forecasts_keep_the_models_median_and_the_prior_factor() -> None:
    found = calibrate([_past("Q1", w, 100.0) for w in range(9)], week=3)
    assert (found.weight, found.run_rate_weight) == (1.0, 0.0)
    assert found.lower == found.upper == PRIOR_FACTOR
    # Half-width: the simulation's 10 and the model-error term 0.1 x 100 = 10 together: sqrt(10^2 + 10^2).
    half = np.hypot(10.0, REL_SPREAD * 100)
    totals = found.transform(np.asarray([90.0, 95.0, 100.0, 110.0]), 0.0, (90.0, 100.0, 110.0), 80.0, 60.0)
    assert totals.tolist() == pytest.approx(
        [100 - PRIOR_FACTOR * half, 100 - PRIOR_FACTOR * half / 2, 100.0, 100 + PRIOR_FACTOR * half]
    )


def _shrunk(chosen: tuple[float, float], periods: int) -> tuple[float, float]:
    """The chosen (model, run rate) weights shrunk towards the prior (half and half) as if 3 more periods chose it."""
    k = WEIGHT_PRIOR_PERIODS
    return (
        (periods * chosen[0] + k * WEIGHT_PRIOR[0]) / (periods + k),
        (periods * chosen[1] + k * WEIGHT_PRIOR[1]) / (periods + k),
    )


def test_the_blend_weights_are_those_with_the_lowest_past_error_shrunk_towards_the_prior() -> None:
    # Twenty past forecasts from two periods whose actual was always 60, the weighted pipeline's figure (the model
    # said 100, the run rate 80): only weights (0, 0) reach 60. Shrunk towards (0.5, 0.5) as if 3 more periods had
    # chosen it: (2 x 0 + 3 x 0.5) / 5 = 0.3 each, and the pipeline keeps 0.4.
    assert (WEIGHT_PRIOR, WEIGHT_PRIOR_PERIODS) == ((0.5, 0.5), 3)
    points = [_past(f"Q{1 + w // 10}", w % 10, 60.0) for w in range(20)]
    found = calibrate(points, week=8)
    assert (found.weight, found.run_rate_weight) == pytest.approx((0.3, 0.3))
    assert found.center(0.0, 100.0, 80.0, 60.0) == pytest.approx(0.3 * 100 + 0.3 * 80 + 0.4 * 60)
    # Always 80, the run rate's: (0, 1) reaches it, and so do blends with the pipeline; ties go to the model:
    # 0.5 x 100 + 0.5 x 60 = 80, so (0.5, 0) is chosen, then shrunk.
    points = [_past(f"Q{1 + w // 10}", w % 10, 80.0) for w in range(20)]
    found = calibrate(points, week=8)
    assert (found.weight, found.run_rate_weight) == pytest.approx(_shrunk((0.5, 0.0), 2))


def test_the_range_is_the_split_conformal_quantile_of_past_scores_with_a_margin_for_few_periods() -> None:
    # Ten past forecasts of two periods: model 100 (P10 90, P90 110), run rate and pipeline 100 too, actuals 100 + k
    # for k = -5..4. The centre is 100 whatever the weights. Half-width h = sqrt(10^2 + (0.1 x 100)^2). Lower
    # scores (100 - actual) / h = 5/h, ..., -4/h; with n = 10 the rank is min(ceil(11 x 0.9), 10) = 10: the largest,
    # 5/h. Upper: 4/h. Two periods seen, so each is shrunk towards the prior: (2 f + 4 x 1.6) / (2 + 4).
    points = [
        PastPoint(f"Q{1 + i // 5}", i % 5, 0.0, 90.0, 100.0, 110.0, 100.0, 100.0, 100.0 + k)
        for i, k in enumerate(range(-5, 5))
    ]
    found = calibrate(points, week=2)
    assert (found.weight, found.run_rate_weight) == pytest.approx(_shrunk((1.0, 0.0), 2))
    h = float(np.hypot(10.0, REL_SPREAD * 100))

    def shrunk(f: float) -> float:
        return (2 * f + PRIOR_PERIODS * PRIOR_FACTOR) / (2 + PRIOR_PERIODS)

    assert found.lower == pytest.approx(shrunk(5 / h))
    assert found.upper == pytest.approx(shrunk(4 / h))
    mapped = found.transform(np.asarray([90.0, 100.0, 110.0]), 0.0, (90.0, 100.0, 110.0), 100.0, 100.0)
    assert mapped.tolist() == pytest.approx([100 - shrunk(5 / h) * h, 100.0, 100 + shrunk(4 / h) * h])


def test_a_calibrated_forecast_maps_its_outcomes_and_explains_the_difference() -> None:
    seen = history(created=[900, 900, 900, 950, 980], amount=[1000.0, 5000.0, 20000.0, 2500.0, 800.0])
    model = hand_model(constant_curve(0.02))
    raw = forecast_period(seen, START, END, simulations=4000, seed=1, model=model)
    calibration = Calibration(0.5, 0.5, 2.0, 2.0, 20, "by hand")  # half model, half run rate
    shown = forecast_period(seen, START, END, simulations=4000, seed=1, model=model, calibration=calibration)
    assert shown.simulated == raw.simulated
    center = 0.5 * raw.p50 + 0.5 * raw.run_rate  # nothing won yet
    assert shown.p50 == pytest.approx(center)
    assert sum(s.expected_revenue for s in shown.sources) == pytest.approx(shown.expected)
    assert shown.sources[-1].source == "backtest calibration"


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
