"""Cost and return per campaign: spend and realised ROI on the public Facebook ad-campaign data, against figures
this test computes itself; and the expected part of a young cohort worked by hand."""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Iterator
from datetime import date, datetime

import numpy as np
import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.plan.model import FunnelModel, Lag, Rate
from tandem.plan.returns import Z80, cohort_returns, total_of, waiting_chance

from ..backends import Backend
from ..conftest import require_dataset

#: The data has no dates and no revenue: every ad's conversions become leads on 2025-03-01, the approved ones deals
#: won on 2025-03-20 at PRICE each, and each campaign's spend one row on 2025-03-01.
PRICE = 120.0
CREATED = datetime(2025, 3, 1)
WON = date(2025, 3, 20)
AS_OF = datetime(2026, 1, 1)  # more than the 180-day horizon later: nothing is still in flight


def ads() -> list[dict[str, str]]:
    folder = require_dataset("facebook-ad-campaign-conversions", "KAG_conversion_data.csv")
    with (folder / "KAG_conversion_data.csv").open(encoding="utf-8-sig", newline="") as handle:
        return list(csv.DictReader(handle))


def facebook_tables() -> dict[str, pa.Table]:
    leads: list[tuple[str, str]] = []
    won: list[str] = []
    spend: dict[str, float] = defaultdict(float)
    for ad in ads():
        campaign = ad["xyz_campaign_id"]
        spend[campaign] += float(ad["Spent"])
        for i in range(int(ad["Total_Conversion"])):
            lead = f"{ad['ad_id']}-{i}"
            leads.append((lead, campaign))
            if i < int(ad["Approved_Conversion"]):
                won.append(lead)
    return {
        "campaigns": pa.table(
            {"campaign_id": list(spend), "name": [f"xyz {c}" for c in spend], "channel": ["paid_social"] * len(spend)}
        ),
        "leads": pa.table(
            {
                "lead_id": [lead for lead, _ in leads],
                "created_at": pa.array([CREATED] * len(leads), pa.timestamp("us")),
                "channel": ["paid_social"] * len(leads),
                "campaign_id": [campaign for _, campaign in leads],
            }
        ),
        "stage_events": pa.table(
            {
                "lead_id": won,
                "stage": ["won"] * len(won),
                "occurred_at": pa.array([datetime(2025, 3, 20)] * len(won), pa.timestamp("us")),
            }
        ),
        "opportunities": pa.table(
            {
                "opportunity_id": [f"O-{lead}" for lead in won],
                "lead_id": won,
                "created_at": pa.array([datetime(2025, 3, 5)] * len(won), pa.timestamp("us")),
                "status": ["won"] * len(won),
                "close_date": pa.array([WON] * len(won), pa.date32()),
                "amount": [PRICE] * len(won),
            }
        ),
        "spend": pa.table(
            {
                "date": pa.array([CREATED.date()] * len(spend), pa.date32()),
                "amount": list(spend.values()),
                "campaign_id": list(spend),
            }
        ),
    }


@pytest.fixture(scope="module")
def facebook(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp("facebook"), facebook_tables()) as ws:
        yield ws


def test_spend_costs_and_realised_roi_per_campaign_match_the_data(facebook: Workspace) -> None:
    expected: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for ad in ads():
        row = expected[ad["xyz_campaign_id"]]
        row["spend"] += float(ad["Spent"])
        row["leads"] += int(ad["Total_Conversion"])
        row["won"] += int(ad["Approved_Conversion"])
    stages, cohorts = cohort_returns(facebook, None, by="campaign", start=datetime(2025, 1, 1), end=AS_OF, as_of=AS_OF)
    found = {c.item: c.as_dict(stages) for c in cohorts}
    assert set(found) == {"916", "936", "1178"}
    for campaign, row in expected.items():
        got = found[campaign]
        revenue = row["won"] * PRICE
        assert got["spend"] == pytest.approx(round(row["spend"], 2), abs=0.005)
        assert got["reached"]["lead"] == row["leads"]
        assert got["reached"]["won"] == row["won"]
        assert got["cost_per_lead"] == pytest.approx(row["spend"] / row["leads"], abs=0.005)
        assert got["cac"] == pytest.approx(row["spend"] / row["won"], abs=0.005)
        assert got["realised"]["revenue"] == revenue
        assert got["realised"]["roi"] == pytest.approx((revenue - row["spend"]) / row["spend"], rel=1e-9)
        assert got["realised"]["roas"] == pytest.approx(revenue / row["spend"], rel=1e-9)
        assert got["realised"]["payback_month"] == date(2025, 3, 1)  # the deals of 03-20 cover the spend
        assert got["expected"]["revenue"] == 0.0  # a year on, nothing is in flight
    # The largest campaign, 1178, by hand: $55,662.15 spent, 2,669 leads, 872 approved.
    assert found["1178"]["cost_per_lead"] == pytest.approx(20.86, abs=0.005)
    assert found["1178"]["cac"] == pytest.approx(63.83, abs=0.005)
    total = total_of(cohorts, stages).as_dict(stages)
    assert total["spend"] == pytest.approx(58705.23, abs=0.01)
    assert total["realised"]["won_deals"] == 1079


def test_a_lead_that_has_waited_is_less_likely_to_move_on() -> None:
    # A step converting 40 % of leads, half of them after 10 days and half after 30.
    lag = Lag((10.0, 30.0), (0.5, 0.5))
    chances = waiting_chance(0.4, lag, np.asarray([0.0, 10.0, 20.0, 30.0]))
    # t=0: 0.4. After 10 days the first half would have moved: 0.4 * 0.5 / (1 - 0.2) = 0.25. After 30: 0.
    assert chances.tolist() == pytest.approx([0.4, 0.25, 0.25, 0.0])


def young_tables() -> dict[str, pa.Table]:
    """Two leads of campaign C created 2026-06-01 (at stage lead, and at mql since 06-02), $1,000 spent."""
    return {
        "leads": pa.table(
            {
                "lead_id": ["Y1", "Y2"],
                "created_at": pa.array([datetime(2026, 6, 1)] * 2, pa.timestamp("us")),
                "campaign_id": ["C", "C"],
            }
        ),
        "stage_events": pa.table(
            {"lead_id": ["Y2"], "stage": ["mql"], "occurred_at": pa.array([datetime(2026, 6, 2)], pa.timestamp("us"))}
        ),
        "spend": pa.table(
            {"date": pa.array([date(2026, 6, 1)], pa.date32()), "amount": [1000.0], "campaign_id": ["C"]}
        ),
    }


@pytest.fixture(scope="module")
def young(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp("young"), young_tables()) as ws:
        yield ws


def test_a_young_campaign_is_valued_by_what_its_leads_are_expected_to_bring(young: Workspace) -> None:
    # Every step converts half its leads, 60 days later: F(t) = 0 before day 60, so a lead that has waited 19 or 20
    # days still converts at the step's full rate.
    steps = {
        (a, b): Rate(0.5) for a, b in [("lead", "mql"), ("mql", "sql"), ("sql", "opportunity"), ("opportunity", "won")]
    }
    lags = {step: Lag.fixed(60) for step in steps}
    model = FunnelModel.from_steps(steps, lags, deal_size=10_000.0, deal_size_sd=2_000.0)
    as_of = datetime(2026, 6, 21)
    stages, cohorts = cohort_returns(young, model, by="campaign", start=datetime(2026, 1, 1), end=as_of, as_of=as_of)
    (cohort,) = cohorts
    found = cohort.as_dict(stages)
    # Y1 at lead: 0.5^4 = 1/16 of a deal; Y2 at mql: 0.5^3 = 1/8. Expected: 3/16 deals, $1,875.
    assert found["expected"]["won_deals"] == pytest.approx(0.1875, abs=0.005)
    assert found["expected"]["revenue"] == 1875.0
    # Variance: sum of p(sd^2 + mean^2) - (p mean)^2 over the two leads.
    variance = sum(p * (2_000.0**2 + 10_000.0**2) - (p * 10_000.0) ** 2 for p in (1 / 16, 1 / 8))
    assert found["expected"]["high"] == pytest.approx(round(1875.0 + Z80 * variance**0.5, 2), abs=0.01)
    assert found["expected"]["low"] == 0.0  # the range's low end is floored at nothing
    assert found["realised"]["revenue"] == 0.0
    assert found["realised"]["roi"] == -1.0  # nothing won yet...
    assert found["with_expected"]["roi"] == pytest.approx(0.875)  # ...but not a zero return: 1,875 on 1,000
    assert found["cost_per_lead"] == 500.0
    assert found["cost_per_mql"] == 1000.0
