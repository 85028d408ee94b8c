"""The funnel model estimated from history, worked by hand, on DuckDB, PostgreSQL and Spark.

As of 2026-12-31, a year of cohorts (2025-07-04 to 2026-07-04) that each had 180 days to convert::

    leads       created  channel  stage events (days after the previous entry)
    L1          02-01    email    mql 02-03 (2), sql 02-10 (7), opportunity 03-12 (30), won 05-11 (60)
    L2, L3      02-01    email    mql 02-11 (10)
    L4, L5      02-01    email    -
    L6          02-01    events   mql 09-01 (212: slower than the horizon, not counted)
    L7..L10     02-01    events   -
    L11         11-01    email    mql 11-02 (after the cohorts: still in flight, left out)

lead -> mql: 3 of 10 within 180 days, lags 2, 10 and 10 days; mql -> sql: 1 of 3, 7 days; sql -> opportunity:
1 of 1, 30 days; opportunity -> won: 1 of 1, 60 days. Deals won in 2026: 1,000 and 3,000 (mean 2,000, standard
error 1,000); one of 9,999 in 2025 is before the lookback. Spend in 2026: email 60, events 500 (and 999 in 2025).
Leads created in 2026: 6 by email (4 of them MQLs: L1, L2, L3, L11), 5 by events (1 MQL: L6).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.errors import ConfigError
from tandem.plan.history import channel_costs, model_from_history

from ..backends import Backend

AS_OF = datetime(2026, 12, 31)


def d(month: int, day: int, year: int = 2026) -> datetime:
    return datetime(year, month, day)


def _tables() -> dict[str, pa.Table]:
    leads = [(f"L{i}", d(2, 1), "email" if i <= 5 else "events") for i in range(1, 11)] + [("L11", d(11, 1), "email")]
    events = [
        ("L1", "mql", d(2, 3)),
        ("L1", "sql", d(2, 10)),
        ("L1", "opportunity", d(3, 12)),
        ("L1", "won", d(5, 11)),
        ("L2", "mql", d(2, 11)),
        ("L3", "mql", d(2, 11)),
        ("L6", "mql", d(9, 1)),
        ("L11", "mql", d(11, 2)),
    ]
    deals = [("O1", "L1", 1000.0, date(2026, 5, 11)), ("O2", "L2", 3000.0, date(2026, 10, 1))]
    deals += [("O3", "L3", 9999.0, date(2025, 6, 1))]
    spend = [(date(2026, 3, 1), 60.0, "email"), (date(2026, 4, 1), 500.0, "events"), (date(2025, 1, 1), 999.0, "email")]
    return {
        "leads": pa.table(
            {
                "lead_id": [lead[0] for lead in leads],
                "created_at": pa.array([lead[1] for lead in leads], pa.timestamp("us")),
                "channel": [lead[2] for lead in leads],
            }
        ),
        "stage_events": pa.table(
            {
                "lead_id": [e[0] for e in events],
                "stage": [e[1] for e in events],
                "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
            }
        ),
        "opportunities": pa.table(
            {
                "opportunity_id": [o[0] for o in deals],
                "created_at": pa.array([d(1, 15)] * len(deals), pa.timestamp("us")),
                "status": ["won"] * len(deals),
                "lead_id": [o[1] for o in deals],
                "amount": [o[2] for o in deals],
                "close_date": pa.array([o[3] for o in deals], pa.date32()),
            }
        ),
        "spend": pa.table(
            {
                "date": pa.array([s[0] for s in spend], pa.date32()),
                "amount": [s[1] for s in spend],
                "channel": [s[2] for s in spend],
            }
        ),
    }


@pytest.fixture(scope="module")
def history(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp(f"history-{backend.name}"), _tables()) as ws:
        yield ws


def test_rates_come_from_mature_cohorts_and_keep_their_counts(history: Workspace) -> None:
    model = model_from_history(history, as_of=AS_OF)
    assert model.stages == ("lead", "mql", "sql", "opportunity", "won")
    counts = [(s.rate.converted, s.rate.cohort) for s in model.steps]
    assert counts == [(3, 10), (1, 3), (1, 1), (1, 1)]
    assert [s.rate.value for s in model.steps] == pytest.approx([0.3, 1 / 3, 1, 1])


def test_lags_are_the_observed_distribution(history: Workspace) -> None:
    model = model_from_history(history, as_of=AS_OF)
    first = model.steps[0].lag
    assert first.days == (2.0, 10.0)
    assert first.weights == pytest.approx((1 / 3, 2 / 3))
    assert [s.lag.days for s in model.steps[1:]] == [(7.0,), (30.0,), (60.0,)]
    assert model.lag_to_end(0).mean == pytest.approx(22 / 3 + 7 + 30 + 60)


def test_the_deal_size_is_the_mean_won_amount_of_the_lookback(history: Workspace) -> None:
    model = model_from_history(history, as_of=AS_OF)
    assert model.deal_size == pytest.approx(2000)
    assert model.deal_size_se == pytest.approx(1000)
    assert "deal size of 2 deals won" in model.basis


def test_a_model_of_one_channel(history: Workspace) -> None:
    email = model_from_history(history, as_of=AS_OF, where={"channel": "email"})
    assert (email.steps[0].rate.converted, email.steps[0].rate.cohort) == (3, 5)
    assert "leads where channel = email" in email.basis
    with pytest.raises(ConfigError, match=r"no conversions to estimate lead -> mql from: 5 leads entered lead"):
        model_from_history(history, as_of=AS_OF, where={"channel": "events"})


def test_what_leads_cost_by_channel(history: Workspace) -> None:
    costs = {c.channel: c for c in channel_costs(history, as_of=AS_OF)}
    assert {name: c.share for name, c in costs.items()} == pytest.approx({"email": 6 / 11, "events": 5 / 11})
    assert costs["email"].cost_per_lead == pytest.approx(10)
    assert costs["events"].cost_per_lead == pytest.approx(100)
    assert costs["email"].cost_per_second_stage == pytest.approx(15)
    assert costs["events"].cost_per_second_stage == pytest.approx(500)


def test_too_little_history_says_what_to_do(history: Workspace) -> None:
    with pytest.raises(ConfigError, match=r"give the rate and lag by hand \(lead:mql=R and lead:mql=DAYS\)"):
        model_from_history(history, as_of=datetime(2025, 6, 1))
