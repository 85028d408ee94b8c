"""The rule-based models on hand-worked journeys, to the cent, on every backend.

Four won deals and one with no touch (as of 2026-07-01, the opportunity level, a 365-day lookback):

====  =======  =====================================================================================  ==========
deal  amount   journey (position: touch, channel; the milestones it is)                                lead / opp
====  =======  =====================================================================================  ==========
O1    1,000    0 T1 ads (first) · 1 T2 email · T2b email, same campaign: a repeat, collapsed ·           L1 03-10 12:00
               2 T3 webinar (lead, at the very moment of creation) · 3 T4 email (opportunity) ·          O1 04-01
               4 T5 events (last); T6 ads on 05-20 is after the close (05-15): not in the journey
O2      500    0 T7 paid_social: first, lead, opportunity and last at once                             L2 02-01
O3      300    0 T8 seo (first) · 1 T9 direct (lead, opportunity, last)                                L3 01-10 09:00
O4      200    0 T10 ads, 1 T11 email: the same instant, ordered by touch id; T11 is lead and last     L4 01-15 10:00
O5      100    no touch (L6's only touch is 400 days before its creation: outside the lookback)        L6 05-01
====  =======  =====================================================================================  ==========
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.attribution.credit import credit_table, touch_credit_table
from tandem.attribution.journeys import JourneySpec
from tandem.attribution.model import AttributionModel, PositionWeights

from ..backends import Backend

AS_OF = datetime(2026, 7, 1)


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


LEADS = [
    ("L1", "2026-03-10T12:00", "A1"),
    ("L2", "2026-02-01T00:00", "A2"),
    ("L3", "2026-01-10T09:00", "A3"),
    ("L4", "2026-01-15T10:00", "A4"),
    ("L6", "2026-05-01T00:00", "A6"),
]
DEALS = [  # id, lead, created, close, amount
    ("O1", "L1", "2026-04-01T00:00", "2026-05-15", 1000.0),
    ("O2", "L2", "2026-02-10T00:00", "2026-03-01", 500.0),
    ("O3", "L3", "2026-01-20T00:00", "2026-02-01", 300.0),
    ("O4", "L4", "2026-01-16T00:00", "2026-01-31", 200.0),
    ("O5", "L6", "2026-05-10T00:00", "2026-06-01", 100.0),
]
TOUCHES = [  # id, when, channel, lead, campaign
    ("T1", "2026-03-01T08:00", "ads", "L1", "C-ADS"),
    ("T2", "2026-03-05T08:00", "email", "L1", "C-EM"),
    ("T2b", "2026-03-06T08:00", "email", "L1", "C-EM"),
    ("T3", "2026-03-10T12:00", "webinar", "L1", "C-WEB"),
    ("T4", "2026-03-20T08:00", "email", "L1", "C-EM2"),
    ("T5", "2026-04-02T08:00", "events", "L1", None),
    ("T6", "2026-05-20T08:00", "ads", "L1", "C-ADS"),
    ("T7", "2026-02-01T00:00", "paid_social", "L2", "C-SOC"),
    ("T8", "2026-01-05T08:00", "seo", "L3", None),
    ("T9", "2026-01-10T09:00", "direct", "L3", None),
    ("T10", "2026-01-15T10:00", "ads", "L4", "C-ADS"),
    ("T11", "2026-01-15T10:00", "email", "L4", "C-EM"),
    ("T12", "2025-03-27T00:00", "ads", "L6", "C-ADS"),
]


def tables() -> dict[str, pa.Table]:
    return {
        "leads": pa.table(
            {
                "lead_id": [lead[0] for lead in LEADS],
                "created_at": pa.array([ts(lead[1]) for lead in LEADS], pa.timestamp("us")),
                "account_id": [lead[2] for lead in LEADS],
            }
        ),
        "opportunities": pa.table(
            {
                "opportunity_id": [d[0] for d in DEALS],
                "lead_id": [d[1] for d in DEALS],
                "created_at": pa.array([ts(d[2]) for d in DEALS], pa.timestamp("us")),
                "status": ["won"] * len(DEALS),
                "close_date": pa.array([ts(d[3]).date() for d in DEALS], pa.date32()),
                "amount": [d[4] for d in DEALS],
            }
        ),
        "touches": pa.table(
            {
                "touch_id": [t[0] for t in TOUCHES],
                "occurred_at": pa.array([ts(t[1]) for t in TOUCHES], pa.timestamp("us")),
                "channel": [t[2] for t in TOUCHES],
                "lead_id": [t[3] for t in TOUCHES],
                "campaign_id": [t[4] for t in TOUCHES],
            }
        ),
    }


@pytest.fixture(scope="module")
def company(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp("company"), tables()) as ws:
        yield ws


def by_channel(ws: Workspace, model: AttributionModel, spec: JourneySpec | None = None) -> dict[str, float]:
    table = credit_table(ws.warehouse, spec or JourneySpec(), model, AS_OF).to_pyarrow().to_pylist()
    return {row["item"]: round(row["value"], 6) for row in table if round(row["value"], 6)}


def shares(ws: Workspace, model: AttributionModel, deal: str) -> dict[str, float]:
    rows = touch_credit_table(ws.warehouse, JourneySpec(), model, AS_OF).to_pyarrow().to_pylist()
    return {row["touch_id"]: round(row["share"], 9) for row in rows if row["conversion_id"] == deal}


# Per deal, then summed by channel (O5's 100 is always "(no touch)").
EXPECTED = {
    # O1: T1 ads 1000. O2: paid_social 500. O3: T8 seo 300. O4: T10 ads 200 (first by touch id).
    "first_touch": {"ads": 1200, "paid_social": 500, "seo": 300, "(no touch)": 100},
    # O1: T5 events. O3: T9 direct. O4: T11 email.
    "last_touch": {"events": 1000, "paid_social": 500, "direct": 300, "email": 200, "(no touch)": 100},
    # O3: the last touch not on direct is T8 seo.
    "last_non_direct": {"events": 1000, "paid_social": 500, "seo": 300, "email": 200, "(no touch)": 100},
    # O1: five touches, 200 each (email twice). O3: 150 + 150. O4: 100 + 100.
    "linear": {
        "ads": 200 + 100,
        "email": 400 + 100,
        "webinar": 200,
        "events": 200,
        "paid_social": 500,
        "seo": 150,
        "direct": 150,
        "(no touch)": 100,
    },
    # O1: T1 40 %, T3 40 %, T2 (between) 20 %; T4 and T5 are after the lead's touch: nothing.
    # O3: 40/40 and nothing between, scaled to 50/50. O4: T10 first, T11 lead: 50/50.
    "u_shaped": {
        "ads": 400 + 100,
        "email": 200 + 100,
        "webinar": 400,
        "paid_social": 500,
        "seo": 150,
        "direct": 150,
        "(no touch)": 100,
    },
    # O1: T1 30 %, T3 30 %, T4 30 %, T2 10 %. O3: T8 30, T9 60 (lead and opportunity): 1/3 and 2/3.
    # O4: T10 30, T11 60 (lead; the opportunity's touch is T11 too): 1/3, 2/3.
    "w_shaped": {
        "ads": 300 + 200 / 3,
        "email": 100 + 300 + 400 / 3,
        "webinar": 300,
        "paid_social": 500,
        "seo": 100,
        "direct": 200,
        "(no touch)": 100,
    },
    # O1: T1, T3, T4, T5 22.5 % each, T2 10 %. O3: T8 22.5, T9 67.5: 1/4, 3/4. O4: T10 22.5, T11 67.5.
    "full_path": {
        "ads": 225 + 50,
        "email": 100 + 225 + 150,
        "webinar": 225,
        "events": 225,
        "paid_social": 500,
        "seo": 75,
        "direct": 225,
        "(no touch)": 100,
    },
}


@pytest.mark.parametrize("kind", list(EXPECTED))
def test_each_position_model_splits_each_deal_as_worked_by_hand(company: Workspace, kind: str) -> None:
    found = by_channel(company, AttributionModel(model=kind))
    assert found == pytest.approx({k: float(v) for k, v in EXPECTED[kind].items()}, abs=1e-6)
    assert sum(found.values()) == pytest.approx(2100.0)


def test_a_journey_of_one_touch_gives_it_everything_under_every_model(company: Workspace) -> None:
    for kind in [*EXPECTED, "time_decay"]:
        assert shares(company, AttributionModel(model=kind), "O2") == {"T7": 1.0}


def test_two_touches_at_one_instant_are_ordered_by_touch_id(company: Workspace) -> None:
    assert shares(company, AttributionModel(model="first_touch"), "O4") == {"T10": 1.0, "T11": 0.0}
    assert shares(company, AttributionModel(model="last_touch"), "O4") == {"T10": 0.0, "T11": 1.0}


def test_a_repeat_is_one_touch_unless_the_model_keeps_repeats(company: Workspace) -> None:
    collapsed = shares(company, AttributionModel(model="linear"), "O1")
    assert collapsed == {"T1": 0.2, "T2": 0.2, "T3": 0.2, "T4": 0.2, "T5": 0.2}
    kept = touch_credit_table(
        company.warehouse, JourneySpec(collapse_repeats=False), AttributionModel(model="linear"), AS_OF
    )
    rows = {r["touch_id"]: round(r["share"], 9) for r in kept.to_pyarrow().to_pylist() if r["conversion_id"] == "O1"}
    assert rows == dict.fromkeys(("T1", "T2", "T2b", "T3", "T4", "T5"), round(1 / 6, 9))


def test_time_decay_halves_the_weight_with_each_half_life_before_the_close(company: Workspace) -> None:
    # O1 closes 2026-05-15: its end is 05-16 00:00. Ages in days: T1 75.6667 (03-01 08:00), T2 71.6667,
    # T3 66.5 (03-10 12:00), T4 56.6667, T5 43.6667. Weights 2^(-age/7), scaled to 1.
    end = datetime(2026, 5, 16)
    ages = {t[0]: (end - ts(t[1])) / timedelta(days=7) for t in TOUCHES if t[0] in ("T1", "T2", "T3", "T4", "T5")}
    raw = {touch: 0.5**age for touch, age in ages.items()}
    expected = {touch: round(weight / sum(raw.values()), 9) for touch, weight in raw.items()}
    assert shares(company, AttributionModel(model="time_decay", half_life_days=7), "O1") == expected
    # The last touch, 13 days younger than the next: 1 / (1 + 2^(-13/7) + 2^(-22.83/7) + 2^(-28/7) + 2^(-32/7)).
    assert expected["T5"] == pytest.approx(0.673478, abs=1e-6)


def test_custom_weights_and_a_milestone_the_journey_lacks(company: Workspace) -> None:
    # 60 % to the first touch and 40 % to the opportunity's touch: O2's single touch is both; O3 (T8 first, T9
    # opportunity) 60/40; O1: T1 60 %, T4 40 %.
    model = AttributionModel(model="custom", weights=PositionWeights(first=60, opportunity=40))
    assert shares(company, model, "O3") == {"T8": 0.6, "T9": 0.4}
    assert shares(company, model, "O1") == {"T1": 0.6, "T2": 0.0, "T3": 0.0, "T4": 0.4, "T5": 0.0}
    # Pipeline: the opportunity is the outcome; touches after its creation (T5) are not in the journey.
    pipeline = by_channel(company, AttributionModel(model="last_touch"), JourneySpec(outcome="pipeline"))
    assert pipeline == {"email": 1000 + 200, "paid_social": 500, "direct": 300, "(no touch)": 100}


def test_by_campaign_a_touch_without_one_is_unknown(company: Workspace) -> None:
    table = credit_table(company.warehouse, JourneySpec(), AttributionModel(model="last_touch"), AS_OF, by="campaign")
    found = {r["item"]: r["value"] for r in table.to_pyarrow().to_pylist() if r["value"]}
    assert found == {"(unknown)": 1300.0, "C-SOC": 500.0, "C-EM": 200.0, "(no touch)": 100.0}


def test_credit_by_month_is_placed_at_the_close(company: Workspace) -> None:
    table = credit_table(company.warehouse, JourneySpec(), AttributionModel(model="first_touch"), AS_OF, period="month")
    found = {(r["item"], r["period"].isoformat()): r["value"] for r in table.to_pyarrow().to_pylist() if r["value"]}
    assert found == {
        ("ads", "2026-05-01"): 1000.0,
        ("paid_social", "2026-03-01"): 500.0,
        ("seo", "2026-02-01"): 300.0,
        ("ads", "2026-01-01"): 200.0,
        ("(no touch)", "2026-06-01"): 100.0,
    }


def test_as_of_a_past_day_later_deals_and_touches_are_unseen(company: Workspace) -> None:
    # On 2026-02-15 only O3 and O4 had closed (02-01, 01-31); O2 closed on 03-01, and O1 was not yet created.
    table = credit_table(company.warehouse, JourneySpec(), AttributionModel(model="first_touch"), datetime(2026, 2, 15))
    assert {r["item"]: r["value"] for r in table.to_pyarrow().to_pylist() if r["value"]} == {"seo": 300.0, "ads": 200.0}


def test_the_lookback_counts_back_from_the_lead_s_creation(company: Workspace) -> None:
    wide = by_channel(company, AttributionModel(model="first_touch"), JourneySpec(lookback_days=500))
    assert wide["ads"] == 1200.0 + 100.0
    assert "(no touch)" not in wide
