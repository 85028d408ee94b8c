"""What the forecast reads from the warehouse is the same on DuckDB, PostgreSQL and Spark, day for day.

`load_history` is the forecast's only read of the warehouse (tandem.forecast.history); everything after it is
numpy. So one small company, hand-worked into days since 1970-01-01, checks every backend. It is imported now, after
the as-of day: its open deal's stage, amount and close date were not known on that day (the `known_at` rule), and
the forecast as of that day must not see them.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.forecast.history import day_of, load_history
from tandem.forecast.service import period_forecast
from tandem.periods import parse_period

from ..backends import Backend

AS_OF = datetime(2026, 2, 1)


def _company() -> dict[str, pa.Table]:
    """Three leads (one created after as-of) and four deals: won, lost, open with an expected close, and one
    created after as-of."""
    leads = pa.table(
        {
            "lead_id": ["L1", "L2", "L3"],
            "created_at": [datetime(2026, 1, 2, 12), datetime(2026, 1, 5), datetime(2026, 3, 1)],
        }
    )
    events = pa.table(
        {
            "lead_id": ["L1", "L1", "L2"],
            "stage": ["mql", "sql", "mql"],
            "occurred_at": pa.array(
                [datetime(2026, 1, 3), datetime(2026, 1, 10, 6), datetime(2026, 2, 15)], pa.timestamp("us")
            ),
        }
    )
    opportunities = pa.table(
        {
            "opportunity_id": ["O1", "O2", "O3", "O4"],
            "lead_id": pa.array(["L1", None, None, None], pa.string()),
            "status": ["won", "lost", "open", "open"],
            "stage": ["Closed Won", "Closed Lost", "Proposal", "Discovery"],
            "amount": [50_000.0, 20_000.0, 30_000.0, 10_000.0],
            "created_at": [datetime(2025, 12, 1), datetime(2025, 11, 1), datetime(2026, 1, 20), datetime(2026, 2, 10)],
            "close_date": [date(2026, 1, 15), date(2026, 1, 5), date(2026, 3, 31), date(2026, 4, 30)],
        }
    )
    return {"leads": leads, "stage_events": events, "opportunities": opportunities}


@pytest.fixture
def company(backend: Backend, tmp_path: Path) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path, _company()) as ws:
        yield ws


def test_every_backend_reads_the_same_days(company: Workspace, backend: Backend) -> None:
    seen = load_history(company, AS_OF)
    assert seen.as_of == day_of(AS_OF) == 20485.0  # 2026-02-01
    assert seen.stages == ("lead", "mql", "sql", "opportunity", "won")
    # O4 (created 10 February) did not exist yet; O1, O2, O3 in the warehouse's order.
    order = np.argsort(seen.created)
    assert seen.created[order].tolist() == [20393.0, 20423.0, 20473.0]  # 1 Nov, 1 Dec 2025, 20 Jan 2026
    assert seen.closed[order][:2].tolist() == [20458.0, 20468.0]  # lost 5 Jan, won 15 Jan
    assert np.isnan(seen.closed[order][2])
    assert seen.won[order].tolist() == [False, True, False]
    assert seen.amount[order][:2].tolist() == [20_000.0, 50_000.0]  # closed by then: their amounts are recorded
    if backend.name == "pyspark":
        # Spark reads Parquet written elsewhere: no import log says when a row was written, so rows are taken as
        # known (tandem.engine.known, the same rule): today's values.
        assert (seen.amount[order][2], seen.expected_close[order][2], seen.unknown) == (30_000.0, 20543.0, 0)
        return
    # O3 was open on 1 February and its row was written by today's import: its stage, amount and expected close
    # then are unknown, not today's (Proposal, 30,000, 31 March).
    assert np.isnan(seen.amount[order][2])
    assert np.isnan(seen.expected_close[order][2])
    assert seen.stages_known[order].tolist() == ["Closed Lost", "Closed Won", None]
    assert seen.unknown == 1
    assert not seen.amounts_at_close
    # Two leads by 1 February: L1 reached mql (3 Jan) and sql (10 Jan 06:00); L2's mql (15 Feb) is later.
    entries = seen.entries[np.argsort(seen.entries[:, 0])]
    assert entries[0, :3].tolist() == [20455.5, 20456.0, 20463.25]
    assert np.isnan(entries[0, 3:]).all()
    assert entries[1, 0] == 20458.0
    assert np.isnan(entries[1, 1:]).all()


def test_as_of_now_the_open_deals_row_is_known(company: Workspace) -> None:
    seen = load_history(company)
    o3 = int(np.flatnonzero(seen.created == 20473.0)[0])
    assert (seen.amount[o3], seen.expected_close[o3], seen.stages_known[o3]) == (30_000.0, 20543.0, "Proposal")
    assert seen.unknown == 0


def test_every_backend_gives_the_same_forecast(company: Workspace, backend: Backend) -> None:
    result = period_forecast(company, parse_period("2026-Q1"), as_of=AS_OF, simulations=1000, compare_days=0)
    assert result.forecast.won_to_date == 50_000  # O1, won 15 January
    open_deals = next(s for s in result.forecast.sources if s.source == "open deals")
    assert open_deals.count == 1
    if backend.name == "pyspark":  # no import log: rows taken as known (above)
        return
    assert result.forecast.unknown_deals == 1
    # The weighted pipeline as of 1 February does not see O3's close date of today: it estimates it as creation +
    # the median won cycle (O1: 1 Dec -> 15 Jan, 45 days): 20 Jan + 45 = 6 March, in Q1; stage unknown, so the
    # overall win rate (1 won of 2 closed), and its amount unknown, so the mean won amount (50,000).
    pipeline = result.forecast.pipeline
    assert pipeline is not None
    assert (pipeline.counted, pipeline.estimated_close, pipeline.unknown_amount) == (1, 1, 1)
    assert pipeline.value == 50_000 + 0.5 * 50_000
