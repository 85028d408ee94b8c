"""The sufficiency check, worked by hand: a marketing plan run forward through the model against the goal."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from scipy import stats

from tandem.durations import MONTH_DAYS
from tandem.errors import ConfigError
from tandem.periods import add_months
from tandem.plan.forward import Program, forward_entries, sufficiency
from tandem.plan.model import FunnelModel, Lag, Rate
from tandem.plan.waterfall import ChannelCost, reverse_waterfall

JUNE = date(2027, 6, 1)
JUNE_END = date(2027, 6, 30)


TEN_PERCENT = Rate(0.1)


def one_step(rate: Rate = TEN_PERCENT, lag: Lag | None = None, deal_size_sd: float | None = None) -> FunnelModel:
    """lead -> won at `rate` after `lag` (none by default), deals of 1,000."""
    steps = {("lead", "won"): rate}
    return FunnelModel.from_steps(steps, {("lead", "won"): lag or Lag.fixed(0)}, 1000, deal_size_sd=deal_size_sd)


def june_program(volume: float | None = 1000, budget: float = 10_000, channel: str = "email") -> Program:
    return Program("June push", channel, budget, JUNE, JUNE_END, volume=volume)


def test_a_thousand_leads_at_ten_percent_bring_a_hundred_deals() -> None:
    check = sufficiency(one_step(), [june_program()], {JUNE: 100_000}, period_end=JUNE_END, seed=1)
    assert check.deals == pytest.approx(100)
    assert check.expected_revenue == pytest.approx(100_000)
    assert check.in_period_revenue == pytest.approx(100_000)
    assert check.after_period_revenue == 0
    assert check.sufficient
    # Hand-given rate and deal size: the only uncertainty is in the count of deals, Poisson(100).
    assert check.low == pytest.approx(stats.poisson(100).ppf(0.1) * 1000, rel=0.03)
    assert check.high == pytest.approx(stats.poisson(100).ppf(0.9) * 1000, rel=0.03)
    assert check.summary() == (
        "The plan meets the goal on its own: $100,000 expected within the period (P10 $87,000 to P90 $113,000) "
        "against $100,000, and $0 more after it, for $10,000 spent."
    )
    assert "probability" not in check.as_dict()  # the one chance of the goal is the forecast's


def test_a_program_spreads_its_volume_over_its_days() -> None:
    program = Program("winter", "email", 0, date(2027, 1, 15), date(2027, 2, 14), volume=310)
    assert program.by_month(310) == pytest.approx({date(2027, 1, 1): 170, date(2027, 2, 1): 140})


def test_a_budget_becomes_leads_at_the_channel_cost_per_lead() -> None:
    costs = [ChannelCost("email", 1.0, cost_per_lead=10.0)]
    check = sufficiency(one_step(), [june_program(volume=None)], {JUNE: 100_000}, period_end=JUNE_END, costs=costs)
    (program,) = check.programs
    assert [program.volume, program.cost_per_lead, program.expected_revenue] == pytest.approx([1000, 10, 100_000])
    with pytest.raises(ConfigError, match="no cost per lead for channel 'events'"):
        sufficiency(one_step(), [june_program(None, channel="events")], {JUNE: 1}, period_end=JUNE_END, costs=costs)


def test_the_shortfall_is_what_each_stage_lacks_each_month() -> None:
    check = sufficiency(one_step(), [june_program(volume=800)], {JUNE: 100_000}, period_end=JUNE_END)
    gaps = {(g.stage, g.month): (g.planned, g.required, g.gap) for g in check.shortfall}
    assert gaps[("lead", JUNE)] == pytest.approx((800, 1000, 200))
    assert gaps[("won", JUNE)] == pytest.approx((80, 100, 20))
    assert not check.sufficient
    assert check.high == pytest.approx(stats.poisson(80).ppf(0.9) * 1000, rel=0.03)  # short even at its P90
    assert check.summary().startswith("The plan falls short of the goal on its own: $80,000 expected")


def test_leads_that_arrive_too_late_close_after_the_period() -> None:
    # A month's lag: June's leads become July's deals. None lands in June: they count for the next period, not for
    # June's goal, and the shortfall says the leads were needed in May.
    model = one_step(lag=Lag.fixed(MONTH_DAYS))
    check = sufficiency(model, [june_program()], {JUNE: 100_000}, period_end=JUNE_END)
    assert check.expected_revenue == 0
    assert check.in_period_revenue == 0
    assert check.after_period_revenue == pytest.approx(100_000)
    assert not check.sufficient
    assert (check.low, check.high) == (0, 0)
    gaps = {(g.stage, g.month): g.gap for g in check.shortfall}
    assert gaps[("lead", date(2027, 5, 1))] == pytest.approx(1000)  # needed in May, none planned
    assert gaps[("lead", JUNE)] == pytest.approx(-1000)  # planned in June, not needed then


def test_the_waterfall_run_forward_gives_back_the_goal() -> None:
    # The plan is exactly what the reverse waterfall asks for: its deals are the goal's, month by month in the
    # steady middle of a level goal, and in total.
    rates = {("lead", "mql"): Rate(0.2), ("mql", "won"): Rate(0.25)}
    lags = {("lead", "mql"): Lag((5.0, 40.0), (0.6, 0.4)), ("mql", "won"): Lag((20.0, 70.0), (0.5, 0.5))}
    model = FunnelModel.from_steps(rates, lags, deal_size=5_000)
    goal = {add_months(date(2027, 1, 1), i): 100_000.0 for i in range(18)}
    required = reverse_waterfall(model, goal).required("lead")
    programs = [
        Program(f"{month:%Y-%m}", "email", 0, month, add_months(month, 1) - timedelta(days=1), volume=volume)
        for month, volume in required.items()
    ]
    check = sufficiency(model, programs, goal, period_end=date(2028, 6, 30), seed=2)
    # Every deal the requirement brings, in total; the lags spread the first and last months' deals past the
    # goal's months, and what lands after them counts for the next period.
    assert check.expected_revenue + check.after_period_revenue == pytest.approx(1_800_000)
    assert check.after_period_revenue == pytest.approx(129_863.64, abs=0.01)
    won = forward_entries(model, "lead", required)[-1]
    lead_in = sum(max(step.lag.month_offsets()) for step in model.steps)  # the longest way through: 2 + 3 months
    for month in list(goal)[lead_in:-lead_in]:
        assert won[month] * 5_000 == pytest.approx(100_000), month
    assert check.low < check.expected_revenue < check.high


def test_uncertain_rates_widen_the_range() -> None:
    exact = sufficiency(one_step(), [june_program()], {JUNE: 100_000}, period_end=JUNE_END, seed=4)
    unsure = sufficiency(
        one_step(Rate.from_counts(10, 100)), [june_program()], {JUNE: 100_000}, period_end=JUNE_END, seed=4
    )
    assert unsure.high - unsure.low > 1.5 * (exact.high - exact.low)
    spread = sufficiency(one_step(deal_size_sd=500), [june_program()], {JUNE: 100_000}, period_end=JUNE_END, seed=4)
    assert spread.high - spread.low > exact.high - exact.low
    assert spread.notes == []
    assert exact.notes == ["the spread of single deals is unknown: the range counts deals, not amounts"]


def test_the_check_is_reproducible_and_refuses_an_empty_plan() -> None:
    first = sufficiency(one_step(Rate.from_counts(10, 100)), [june_program()], {JUNE: 1e5}, period_end=JUNE_END)
    again = sufficiency(one_step(Rate.from_counts(10, 100)), [june_program()], {JUNE: 1e5}, period_end=JUNE_END)
    assert first.as_dict() == again.as_dict()
    with pytest.raises(ConfigError, match="at least one program"):
        sufficiency(one_step(), [], {JUNE: 1e5}, period_end=JUNE_END)
    with pytest.raises(ConfigError, match=r"ends .* before it starts"):
        Program("backwards", "email", 0, JUNE_END, JUNE)


def test_absurd_programs_are_refused_not_overflowed() -> None:
    with pytest.raises(ConfigError, match="at most ten years"):
        Program("forever", "email", 0, JUNE, date(2999, 12, 31), volume=1)
    with pytest.raises(ConfigError, match="volume 1e\\+29 is not between 0 and 1e\\+15"):
        Program("flood", "email", 0, JUNE, JUNE_END, volume=1e29)
    huge = sufficiency(one_step(), [june_program(volume=1e15)], {JUNE: 1e5}, period_end=JUNE_END)
    assert huge.low == pytest.approx(1e17, rel=1e-6)


def test_only_months_that_can_still_be_acted_on_are_listed_as_shortfalls() -> None:
    # Leads were needed in May for June's deals (a month's lag); on 10 June, May cannot be made up.
    model = one_step(lag=Lag.fixed(MONTH_DAYS))
    check = sufficiency(model, [june_program(volume=500)], {JUNE: 100_000}, period_end=JUNE_END)
    may = date(2027, 5, 1)
    assert [(g.stage, g.month) for g in check.biggest_gaps()] == [("lead", may), ("won", JUNE)]
    assert [(g.stage, g.month) for g in check.biggest_gaps(today=date(2027, 6, 10))] == [("won", JUNE)]
