"""Scenarios, worked by hand on DESIGN.md's example ($10M at $100k: 31,250 inquiries, 3,125 MQLs, 2,500 SALs,
1,000 SQOs, 100 deals), compared side by side with the base."""

from __future__ import annotations

import re
from datetime import date

import pytest

from tandem.durations import MONTH_DAYS
from tandem.errors import ConfigError
from tandem.plan.model import FunnelModel, Rate
from tandem.plan.scenarios import Scenario, apply_scenario, compare, load_scenarios, parse_change
from tandem.plan.waterfall import ChannelCost

from .test_waterfall import JUNE, design_model

GOAL = {JUNE: 10_000_000.0}
JUNE_END = date(2027, 6, 30)


def needed(outcome_stages: list[dict[str, object]]) -> dict[object, object]:
    return {row["stage"]: row["required"] for row in outcome_stages}


def test_the_base_comes_first_then_each_scenario() -> None:
    scenarios = [
        Scenario.from_options("better qualification", rate_changes=["sal:sqo=+25%"]),
        Scenario.from_options("bigger deals", deal_size_change="+25%"),
        Scenario.from_options("better lead capture", rates=["inquiry:mql=20%"]),
    ]
    outcomes = compare(design_model(), scenarios, GOAL, period_end=JUNE_END)
    assert [o.name for o in outcomes] == ["base", "better qualification", "bigger deals", "better lead capture"]
    table = {o.name: needed(o.as_dict()["stages"]) for o in outcomes}
    assert table["base"] == pytest.approx({"inquiry": 31_250, "mql": 3_125, "sal": 2_500, "sqo": 1_000, "won": 100})
    # SAL to SQO at 50 % instead of 40 %: the same 1,000 SQOs from 2,000 SALs.
    assert table["better qualification"] == pytest.approx(
        {"inquiry": 25_000, "mql": 2_500, "sal": 2_000, "sqo": 1_000, "won": 100}
    )
    # Deals of $125k: 80 of them.
    assert table["bigger deals"] == pytest.approx(
        {"inquiry": 25_000, "mql": 2_500, "sal": 2_000, "sqo": 800, "won": 80}
    )
    assert table["better lead capture"]["inquiry"] == pytest.approx(15_625)
    assert outcomes[1].describe == "sal:sqo +25%"
    assert outcomes[2].describe == "deal size +25%"


def test_a_later_close_moves_every_earlier_stage_a_month_sooner() -> None:
    base, later = compare(
        design_model(), [Scenario.from_options("slow legal", lag_shifts=[f"sqo:won=+{MONTH_DAYS}"])], GOAL,
        period_end=JUNE_END,
    )  # fmt: skip
    assert base.waterfall.required("inquiry") == pytest.approx({date(2026, 12, 1): 31_250})
    assert later.waterfall.required("inquiry") == pytest.approx({date(2026, 11, 1): 31_250})
    assert later.waterfall.total("inquiry").lead_time_days == pytest.approx(7 * MONTH_DAYS)


def test_a_budget_buys_leads_at_the_mix_and_brings_revenue() -> None:
    # $250,000 at $10 a lead is 25,000 inquiries; at 0.32 % to won and $100k a deal, $8M: 80 % of the goal.
    scenario = Scenario.from_options("flat budget", channels=["webinar=1@10"], budget=250_000)
    _, outcome = compare(design_model(), [scenario], GOAL, period_end=JUNE_END)
    assert outcome.leads_bought == pytest.approx(25_000)
    assert outcome.revenue_from_budget == pytest.approx(8_000_000)
    assert outcome.goal_share == pytest.approx(0.8)
    assert outcome.budget_needed == pytest.approx(312_500)  # 31,250 inquiries at $10
    mix = [ChannelCost("email", 0.5, 4.0), ChannelCost("events", 0.5, 16.0)]
    _, mixed = compare(design_model(), [Scenario("mixed", budget=250_000)], GOAL, period_end=JUNE_END, costs=mix)
    assert mixed.leads_bought == pytest.approx(25_000)  # $10 a lead on average


def test_a_moved_rate_estimated_from_data_keeps_its_cohort() -> None:
    model = FunnelModel.from_steps({("sql", "won"): Rate.from_counts(30, 100)}, {}, deal_size=1)
    moved = apply_scenario(model, Scenario.from_options("x", rate_changes=["sql:won=+50%"]))
    rate = moved.steps[0].rate
    assert rate.value == pytest.approx(0.45)
    assert (rate.converted, rate.cohort) == (45, 100)
    capped = apply_scenario(model, Scenario.from_options("y", rate_changes=["sql:won=+500%"]))
    assert capped.steps[0].rate.value == 1.0


def test_bad_scenarios_are_refused_naming_what_is_wrong() -> None:
    with pytest.raises(ConfigError, match=r"lead:won is not a step of the funnel \(inquiry -> mql"):
        apply_scenario(design_model(), Scenario.from_options("x", rates=["lead:won=0.5"]))
    with pytest.raises(ConfigError, match="would convert no one"):
        apply_scenario(design_model(), Scenario.from_options("x", rate_changes=["sal:sqo=-100%"]))
    with pytest.raises(ConfigError, match="needs a channel mix with costs per lead"):
        compare(design_model(), [Scenario("x", budget=1)], GOAL, period_end=JUNE_END)
    with pytest.raises(ConfigError, match="is not FROM:TO=CHANGE"):
        parse_change("sal:sqo=more", "--rate-change")
    with pytest.raises(ConfigError, match="needs a name"):
        Scenario.from_options(" ")
    assert parse_change("SQL:won=-7", "--lag-shift") == (("sql", "won"), -7.0)


def test_scenarios_are_read_from_a_file_kept_beside_the_plan() -> None:
    text = """
scenarios:
  - name: better qualification
    rate_changes: [sal:sqo=+25%]
  - name: flat budget
    channels: [webinar=1@10]
    budget: 250k
"""
    first, second = load_scenarios(text)
    assert (first.name, dict(first.rate_changes)) == ("better qualification", {("sal", "sqo"): 0.25})
    assert (second.budget, second.channels[0].cost_per_lead) == (250_000, 10)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("scenarios: [", "scenarios.yaml:1:"),
        ("name: x", "expected `scenarios:` with a list"),
        ("scenarios:\n  - rates: []", "scenario 1: each scenario is a mapping with a `name`"),
        ("scenarios:\n  - name: a\n    rate: [x]", "scenario 'a': unknown key(s) rate"),
        ("scenarios:\n  - name: a\n    rates: mql:sql=0.5", "scenario 'a': `rates` is a list"),
        ("scenarios:\n  - name: a\n    budget: lots", "scenario 'a': `budget`"),
        ("scenarios:\n  - name: a\n    rates: [mql:sql=half]", "scenario 'a': `rates`: 'mql:sql=half'"),
        ("scenarios:\n  - name: a\n  - name: a", "the name is used twice"),
    ],
)
def test_a_bad_scenarios_file_is_refused_naming_the_place(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_scenarios(text)
