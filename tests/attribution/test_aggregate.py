"""Journeys aggregated to paths in the warehouse, with the journeys that did not convert, on every backend.

As of 2026-07-01, revenue (deals closed by then) at the opportunity level:

====  ======  ===================================  ==========================================================
deal  status  lead's touches (in order)             path
====  ======  ===================================  ==========================================================
O1    won 100 ads, email, email (a repeat), webinar  ads > email > webinar, converted, worth 100
O2    lost    ads, email, webinar                  the same path, not converted
O3    won 50  ads                                  ads, converted, worth 50
O4    open    seo                                  still open: neither
O5    lost    (none)                               no touch: no path
====  ======  ===================================  ==========================================================

Pipeline: every lead with an opportunity converted (L1-L5), L6 (90 days old or more, no opportunity, touched by
seo) did not, L7 (created 10 days ago, no opportunity) is too young to say.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.attribution.aggregate import SEPARATOR, path_table
from tandem.attribution.journeys import JourneySpec
from tandem.attribution.paths import PathCounts

from ..backends import Backend

AS_OF = datetime(2026, 7, 1)
LEADS = {
    "L1": "2026-01-10",
    "L2": "2026-01-11",
    "L3": "2026-01-12",
    "L4": "2026-01-13",
    "L5": "2026-01-14",
    "L6": "2026-02-01",
    "L7": "2026-06-21",
}
DEALS = [  # id, lead, status, amount, created, close
    ("O1", "L1", "won", 100.0, "2026-02-01", "2026-03-01"),
    ("O2", "L2", "lost", 80.0, "2026-02-01", "2026-03-02"),
    ("O3", "L3", "won", 50.0, "2026-02-01", "2026-03-03"),
    ("O4", "L4", "open", None, "2026-02-01", None),
    ("O5", "L5", "lost", 60.0, "2026-02-01", "2026-03-05"),
]
TOUCHES = [  # lead, day, channel, campaign
    ("L1", "2026-01-01", "ads", "A"),
    ("L1", "2026-01-02", "email", "E"),
    ("L1", "2026-01-03", "email", "E"),
    ("L1", "2026-01-10", "webinar", "W"),
    ("L2", "2026-01-01", "ads", "A"),
    ("L2", "2026-01-05", "email", "E"),
    ("L2", "2026-01-09", "webinar", "W"),
    ("L3", "2026-01-12", "ads", "A"),
    ("L4", "2026-01-12", "seo", None),
    ("L6", "2026-01-20", "seo", None),
]


def tables() -> dict[str, pa.Table]:
    day = datetime.fromisoformat
    return {
        "leads": pa.table(
            {"lead_id": list(LEADS), "created_at": pa.array([day(d) for d in LEADS.values()], pa.timestamp("us"))}
        ),
        "opportunities": pa.table(
            {
                "opportunity_id": [d[0] for d in DEALS],
                "lead_id": [d[1] for d in DEALS],
                "status": [d[2] for d in DEALS],
                "amount": [d[3] for d in DEALS],
                "created_at": pa.array([day(d[4]) for d in DEALS], pa.timestamp("us")),
                "close_date": pa.array([day(d[5]).date() if d[5] else None for d in DEALS], pa.date32()),
            }
        ),
        "touches": pa.table(
            {
                "touch_id": [f"T{i:02d}" for i in range(len(TOUCHES))],
                "lead_id": [t[0] for t in TOUCHES],
                "occurred_at": pa.array([day(t[1]) for t in TOUCHES], pa.timestamp("us")),
                "channel": [t[2] for t in TOUCHES],
                "campaign_id": [t[3] for t in TOUCHES],
            }
        ),
    }


@pytest.fixture(scope="module")
def company(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp("paths"), tables()) as ws:
        yield ws


def paths(ws: Workspace, spec: JourneySpec) -> dict[tuple[str, ...], tuple[float, float, float]]:
    rows = path_table(ws.warehouse, spec, AS_OF).to_pyarrow().to_pylist()
    return {tuple(r["path"].split(SEPARATOR)): (r["conversions"], r["non_conversions"], r["value"]) for r in rows}


def test_closed_deals_give_converted_and_lost_journeys_by_path(company: Workspace) -> None:
    assert paths(company, JourneySpec()) == {
        ("ads", "email", "webinar"): (1.0, 1.0, 100.0),
        ("ads",): (1.0, 0.0, 50.0),
    }


def test_kept_repeats_make_a_path_of_their_own(company: Workspace) -> None:
    assert paths(company, JourneySpec(collapse_repeats=False)) == {
        ("ads", "email", "email", "webinar"): (1.0, 0.0, 100.0),
        ("ads", "email", "webinar"): (0.0, 1.0, 0.0),
        ("ads",): (1.0, 0.0, 50.0),
    }


def test_pipeline_counts_a_mature_lead_without_an_opportunity_as_not_converted(company: Workspace) -> None:
    # Pipeline journeys end at the opportunity's creation (L1..L5: all touches are before 02-01). O4 has no amount
    # yet: its pipeline counts, worth nothing.
    assert paths(company, JourneySpec(outcome="pipeline")) == {
        ("ads", "email", "webinar"): (2.0, 0.0, 180.0),
        ("ads",): (1.0, 0.0, 50.0),
        ("seo",): (1.0, 1.0, 0.0),
    }


def test_the_paths_feed_the_models_as_counts(company: Workspace) -> None:
    rows = path_table(company.warehouse, JourneySpec(), AS_OF).to_pyarrow().to_pylist()
    counts = PathCounts.from_rows(
        (r["path"].split(SEPARATOR), r["conversions"], r["non_conversions"], r["value"]) for r in rows
    )
    assert counts.total_conversions == 2.0
    assert counts.journeys == 3.0
    assert counts.total_value == 150.0
