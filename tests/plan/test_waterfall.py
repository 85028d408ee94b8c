"""The reverse waterfall, worked by hand: from a revenue goal to the volume each stage needs, month by month."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest
from scipy import stats

from tandem.durations import MONTH_DAYS
from tandem.errors import ConfigError
from tandem.periods import add_months
from tandem.plan.forward import forward_entries
from tandem.plan.model import FunnelModel, Lag, Rate, chain_of
from tandem.plan.waterfall import ChannelCost, reverse_waterfall

JUNE = date(2027, 6, 1)


def design_model(**kwargs: object) -> FunnelModel:
    """DESIGN.md's example: 10 % inquiry to MQL, 80 % MQL to SAL, 40 % SAL to SQO, 10 % SQO to won, deals of
    $100k, and lags of 2, 1 and 3 months after the MQL."""
    rates = {
        ("inquiry", "mql"): Rate(0.10),
        ("mql", "sal"): Rate(0.80),
        ("sal", "sqo"): Rate(0.40),
        ("sqo", "won"): Rate(0.10),
    }
    lags = {
        ("mql", "sal"): Lag.fixed(2 * MONTH_DAYS),
        ("sal", "sqo"): Lag.fixed(1 * MONTH_DAYS),
        ("sqo", "won"): Lag.fixed(3 * MONTH_DAYS),
    }
    return FunnelModel.from_steps(rates, lags, deal_size=100_000, **kwargs)


# --- DESIGN.md's worked example ------------------------------------------------------------------------------------
def test_ten_million_at_a_hundred_thousand_needs_31250_inquiries() -> None:
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000})
    assert plan.deals == pytest.approx(100)
    required = {t.stage: t.required for t in plan.totals}
    assert required == pytest.approx({"inquiry": 31_250, "mql": 3_125, "sal": 2_500, "sqo": 1_000, "won": 100})


def test_with_lags_of_two_one_and_three_months_inquiries_arrive_six_months_ahead() -> None:
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000})
    assert plan.required("won") == pytest.approx({JUNE: 100})
    assert plan.required("sqo") == pytest.approx({date(2027, 3, 1): 1_000})
    assert plan.required("sal") == pytest.approx({date(2027, 2, 1): 2_500})
    assert plan.required("mql") == pytest.approx({date(2026, 12, 1): 3_125})
    assert plan.required("inquiry") == pytest.approx({date(2026, 12, 1): 31_250})
    assert plan.total("inquiry").lead_time_days == pytest.approx(6 * MONTH_DAYS)
    # The last day an inquiry can still close by June 30: 183 days before (6 mean months, rounded up to a day).
    assert plan.total("inquiry").last_entry == date(2026, 12, 29)
    assert plan.total("won").last_entry == date(2027, 6, 30)


def test_hand_given_numbers_are_exact_so_the_range_is_the_number() -> None:
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000})
    for total in plan.totals:
        assert total.low == pytest.approx(total.required)
        assert total.high == pytest.approx(total.required)


# --- 3,000 leads a month for $30,000 -------------------------------------------------------------------------------
def test_three_thousand_leads_a_month_cost_thirty_thousand_at_ten_dollars_a_lead() -> None:
    # $300k a month of $10k deals is 30 deals; 1 % of leads become deals: 3,000 leads a month.
    model = FunnelModel.from_steps({("lead", "won"): Rate(0.01)}, {}, deal_size=10_000)
    months = {add_months(date(2027, 1, 1), i): 300_000.0 for i in range(3)}
    plan = reverse_waterfall(model, months, costs=[ChannelCost("paid_search", 1.0, cost_per_lead=10.0)])
    assert plan.required("lead") == pytest.approx(dict.fromkeys(months, 3_000))
    (budget,) = plan.budget
    assert budget.leads == pytest.approx(9_000)
    assert budget.budget == pytest.approx(90_000)  # $30,000 a month for the quarter


def test_the_budget_follows_the_channel_mix() -> None:
    model = FunnelModel.from_steps({("lead", "won"): Rate(0.01)}, {}, deal_size=10_000)
    costs = [ChannelCost("email", 0.25, cost_per_lead=4.0), ChannelCost("events", 0.75, cost_per_lead=40.0)]
    plan = reverse_waterfall(model, {JUNE: 300_000}, costs=costs)
    assert [b.channel for b in plan.budget] == ["email", "events"]
    assert [b.leads for b in plan.budget] == pytest.approx([750, 2_250])
    assert [b.budget for b in plan.budget] == pytest.approx([3_000, 90_000])
    with pytest.raises(ConfigError, match=r"add up to 0\.9"):
        reverse_waterfall(model, {JUNE: 300_000}, costs=[ChannelCost("email", 0.9, 4.0)])


# --- lags as distributions -----------------------------------------------------------------------------------------
def test_a_lag_distribution_spreads_the_requirement_over_the_months_before() -> None:
    # Half of the SQLs become deals the same month, half a month later: a June deal's SQL is in June or May.
    lag = Lag((0.0, MONTH_DAYS), (0.5, 0.5))
    model = FunnelModel.from_steps({("sql", "won"): Rate(0.5)}, {("sql", "won"): lag}, deal_size=1)
    plan = reverse_waterfall(model, {JUNE: 100})
    assert plan.required("sql") == pytest.approx({date(2027, 5, 1): 100, JUNE: 100})
    assert plan.total("sql").required == pytest.approx(200)


def test_a_lag_between_whole_months_splits_by_its_fraction() -> None:
    # 45 days is 1.478 months: 52.2 % of the leads move one month, 47.8 % two.
    assert Lag.fixed(45).month_offsets() == pytest.approx({1: 1 - 45 / MONTH_DAYS + 1, 2: 45 / MONTH_DAYS - 1})
    assert Lag.fixed(0).month_offsets() == {0: 1.0}
    assert Lag.fixed(2 * MONTH_DAYS).month_offsets() == pytest.approx({2: 1.0})


def test_observed_lags_make_an_empirical_distribution() -> None:
    lag = Lag.from_samples([1.2, 0.9, 3, 3, 10])
    assert lag.days == (1.0, 3.0, 10.0)
    assert lag.weights == pytest.approx((0.4, 0.4, 0.2))
    assert lag.mean == pytest.approx(3.6)
    assert (lag.quantile(0.4), lag.quantile(0.5), lag.quantile(0.8), lag.quantile(0.81)) == (1.0, 3.0, 3.0, 10.0)
    two = lag.plus(Lag.fixed(2))
    assert two.days == (3.0, 5.0, 12.0)


def test_the_plan_run_forward_gives_back_the_goal() -> None:
    # A level goal for two years through a model whose lags are spread: every total is kept, and every month
    # once the lead-in has passed.
    rates = {("lead", "mql"): Rate(0.2), ("mql", "sql"): Rate(0.5), ("sql", "won"): Rate(0.25)}
    lags = {
        ("lead", "mql"): Lag((3.0, 20.0, 50.0), (0.5, 0.3, 0.2)),
        ("mql", "sql"): Lag((2.0, 40.0), (0.7, 0.3)),
        ("sql", "won"): Lag((30.0, 75.0, 120.0), (0.3, 0.5, 0.2)),
    }
    model = FunnelModel.from_steps(rates, lags, deal_size=20_000)
    goal = {add_months(date(2027, 1, 1), i): 400_000.0 for i in range(24)}
    plan = reverse_waterfall(model, goal)
    deals = forward_entries(model, "lead", plan.required("lead"))[-1]
    assert sum(deals.values()) == pytest.approx(sum(goal.values()) / 20_000)
    for stage in ("mql", "sql"):
        assert sum(forward_entries(model, stage, plan.required(stage))[-1].values()) == pytest.approx(480)
    lead_in = sum(max(step.lag.month_offsets()) for step in model.steps)  # the longest way back: 2 + 2 + 4 months
    assert lead_in == 8
    for month in list(goal)[lead_in:-lead_in]:
        assert deals[month] == pytest.approx(20), month


# --- ranges from rates estimated on data -----------------------------------------------------------------------------
def test_a_rate_estimated_from_counts_gives_a_range_from_its_posterior() -> None:
    model = FunnelModel.from_steps({("sql", "won"): Rate.from_counts(30, 100)}, {}, deal_size=1)
    plan = reverse_waterfall(model, {JUNE: 30}, draws=20_000, seed=7)
    sql = plan.total("sql")
    assert sql.required == pytest.approx(100)
    # Exact: the 10th percentile of 1/p is 1 / (the 90th percentile of p), with p ~ Beta(30.5, 70.5).
    posterior = stats.beta(30.5, 70.5)
    assert sql.low == pytest.approx(30 / posterior.ppf(0.9), rel=0.01)
    assert sql.high == pytest.approx(30 / posterior.ppf(0.1), rel=0.01)
    assert sql.low < sql.required < sql.high


def test_more_data_narrows_the_range_and_the_seed_repeats_it() -> None:
    def width(converted: int, cohort: int, seed: int = 1) -> float:
        model = FunnelModel.from_steps({("sql", "won"): Rate.from_counts(converted, cohort)}, {}, deal_size=1)
        total = reverse_waterfall(model, {JUNE: 30}, seed=seed).total("sql")
        return total.high - total.low

    assert width(3, 10) > width(30, 100) > width(300, 1000)
    assert width(30, 100, seed=5) == width(30, 100, seed=5)


def test_deal_size_uncertainty_widens_the_range() -> None:
    exact = FunnelModel.from_steps({("sql", "won"): Rate(0.5)}, {}, deal_size=1000)
    unsure = FunnelModel.from_steps({("sql", "won"): Rate(0.5)}, {}, deal_size=1000, deal_size_se=100)
    assert reverse_waterfall(exact, {JUNE: 10_000}).total("won").high == pytest.approx(10)
    total = reverse_waterfall(unsure, {JUNE: 10_000}, seed=3).total("won")
    assert total.low < 10 < total.high
    assert total.high == pytest.approx(10_000 / stats.norm(1000, 100).ppf(0.1), rel=0.02)


# --- bad input -------------------------------------------------------------------------------------------------------
def test_steps_must_chain_into_one_funnel() -> None:
    assert chain_of([("sql", "won"), ("lead", "mql"), ("mql", "sql")]) == ["lead", "mql", "sql", "won"]
    with pytest.raises(ConfigError, match="two steps leave mql"):
        chain_of([("mql", "sql"), ("mql", "won")])
    with pytest.raises(ConfigError, match="do not form one funnel"):
        chain_of([("lead", "mql"), ("sql", "won")])
    with pytest.raises(ConfigError, match="circle"):
        chain_of([("lead", "mql"), ("mql", "lead"), ("x", "lead")])


@pytest.mark.parametrize("value", [0.0, 1.5, -0.1, float("nan")])
def test_a_rate_is_a_share(value: float) -> None:
    with pytest.raises(ConfigError, match="above 0 and at most 1"):
        Rate(value)


def test_a_goal_needs_revenue() -> None:
    with pytest.raises(ConfigError, match="positive revenue"):
        reverse_waterfall(design_model(), {JUNE: 0})
    with pytest.raises(ConfigError, match="at least 0 days"):
        Lag.fixed(-1)


def test_draws_are_reproducible_numbers() -> None:
    model = FunnelModel.from_steps({("sql", "won"): Rate.from_counts(30, 100)}, {}, deal_size=1)
    first = reverse_waterfall(model, {JUNE: 30}, seed=11).as_dict()
    again = reverse_waterfall(model, {JUNE: 30}, seed=11).as_dict()
    assert first == again
    assert np.isfinite(first["stages"][0]["high"])
