"""A plan whose volumes fall in months already past says so, worked by hand.

With lags of months, the leads a quarter's deals need arrive months before it: planned after they were due, a plan
asks for entries nobody can make any more. The waterfall counts that part of each stage's requirement and warns.
"""

from __future__ import annotations

from datetime import date

import pytest

from tandem.durations import MONTH_DAYS
from tandem.periods import parse_period
from tandem.plan.model import FunnelModel, Lag, Rate
from tandem.plan.waterfall import first_open_quarter, reverse_waterfall

from .test_waterfall import JUNE, design_model

Q1 = parse_period("2027-Q1")


def one_month_lag() -> FunnelModel:
    """lead -> won at 10 % exactly one month later, deals of 1,000: a month's deals need the leads of the month
    before."""
    return FunnelModel.from_steps({("lead", "won"): Rate(0.1)}, {("lead", "won"): Lag.fixed(MONTH_DAYS)}, 1000)


def q1_by_days(total: float) -> dict[date, float]:
    """`total` over January, February and March 2027 by their days (31, 28, 31 of 90)."""
    return {month.start: total * month.days / Q1.days for month in Q1.months}


def test_without_an_as_of_day_nothing_is_past_and_nothing_is_warned() -> None:
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000})
    assert [t.past for t in plan.totals] == [0, 0, 0, 0, 0]
    assert plan.warnings == []
    assert plan.as_dict()["warnings"] == []


def test_planned_in_time_no_month_is_past() -> None:
    """June's deals need inquiries and MQLs in December 2026: on 30 November, December is still ahead."""
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000}, as_of=date(2026, 11, 30))
    assert [t.past for t in plan.totals] == [0, 0, 0, 0, 0]
    assert plan.warnings == []


def test_planned_in_february_the_december_inquiries_and_mqls_are_past() -> None:
    """On 15 February 2027, December is past: it holds all 31,250 inquiries and 3,125 MQLs; the SALs (February,
    the current month), SQOs (March) and deals (June) are still ahead."""
    plan = reverse_waterfall(design_model(), {JUNE: 10_000_000}, as_of=date(2027, 2, 15))
    assert {t.stage: t.past for t in plan.totals} == pytest.approx(
        {"inquiry": 31_250, "mql": 3_125, "sal": 0, "sqo": 0, "won": 0}
    )
    # The first quarter whose inquiries are mostly ahead: Q2's deals (April to June) need inquiries in October to
    # December 2026, all past; Q3's need them in January (31 of 92 days: 34 %, past), February and March.
    assert first_open_quarter(design_model(), date(2027, 2, 15)) == parse_period("2027-Q3")
    assert plan.warnings == [
        "2026-12 is already past on 2027-02-15 but holds 100% of the inquiry requirement, 100% of the mql "
        "requirement (31,250 of 31,250 inquiry entries): those entries were due before the plan was made, and only "
        "the months from 2027-02 on can still be acted on; 2027-Q3 is the first quarter whose inquiry volume is "
        "mostly still ahead"
    ]
    assert plan.as_dict()["as_of"] == date(2027, 2, 15)


def test_the_share_past_is_the_share_of_the_months_whose_leads_were_due() -> None:
    """Q1 2027's 90,000 by days are 90 deals, needing 900 leads a month ahead: 310 in December, 280 in January and
    310 in February. On 20 January, December is past: 310 of the 900 leads (34 %), and none of the deals."""
    plan = reverse_waterfall(one_month_lag(), q1_by_days(90_000), as_of=date(2027, 1, 20))
    leads = {date(2026, 12, 1): 310, date(2027, 1, 1): 280, date(2027, 2, 1): 310}
    assert plan.required("lead") == pytest.approx(leads)
    assert plan.total("lead").past == pytest.approx(310)
    assert plan.total("won").past == 0
    (warning,) = plan.warnings
    assert warning.startswith("2026-12 is already past on 2027-01-20 but holds 34% of the lead requirement (310 of")
    # Q2's leads are due in March to May, all ahead: Q2 is the first open quarter, later than the plan's.
    assert first_open_quarter(one_month_lag(), date(2027, 1, 20)) == parse_period("2027-Q2")
    assert warning.endswith("2027-Q2 is the first quarter whose lead volume is mostly still ahead")


def test_a_plan_for_a_later_quarter_is_not_pointed_at_an_earlier_one() -> None:
    """Planning Q3 on 20 June: Q3's leads are due June to August, June is the current month, so nothing is past."""
    goal = {date(2027, 7, 1): 31_000.0, date(2027, 8, 1): 31_000.0, date(2027, 9, 1): 30_000.0}
    plan = reverse_waterfall(one_month_lag(), goal, as_of=date(2027, 6, 20))
    assert plan.warnings == []
    # On 20 July, June's leads are past; the suggestion (Q4) comes after the plan's start, so it is given.
    later = reverse_waterfall(one_month_lag(), goal, as_of=date(2027, 7, 20))
    (warning,) = later.warnings
    assert "2027-06 is already past on 2027-07-20 but holds 34% of the lead requirement" in warning
    assert warning.endswith("2027-Q4 is the first quarter whose lead volume is mostly still ahead")
