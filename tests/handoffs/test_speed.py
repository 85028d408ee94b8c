"""What speed is worth: conversion by time to first touch, censoring-aware, hand-worked, on every backend; and the
comparison's interval and the strength of the evidence, worked out by hand."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tandem.definitions.model import load_definitions
from tandem.handoffs.clocks import ContractStretch, clock_table, contract_calendars, episode_table
from tandem.handoffs.speed import compare, evidence, speed_table
from tandem.workspace import Workspace

from ..backends import Backend
from .company import CONTRACT

STAGES = ("lead", "mql", "sql", "opportunity", "won")
LEVELS = load_definitions(
    "stages:\n"
    + "".join(
        f"  - {{name: {s}, side: {'marketing' if i < 2 else 'sales'}, description: x}}\n" for i, s in enumerate(STAGES)
    )
    + CONTRACT
).service_levels
assert LEVELS is not None
STRETCHES = (ContractStretch(1, LEVELS, None, None),)
AS_OF = datetime(2026, 6, 1)
HANDED = datetime(2026, 3, 2, 14)
LATE = datetime(2026, 5, 25, 14)  # seven days before the as-of moment: not matured for the 30-day horizon

# lead -> (handed over, first touch after, [(stage, days after the handoff)])
LEADS = {
    "A": (HANDED, timedelta(minutes=2), [("sql", 3)]),
    "B": (HANDED, timedelta(minutes=30), [("sql", 10), ("won", 40)]),
    "C": (HANDED, timedelta(minutes=30), []),
    "D": (HANDED, timedelta(hours=3), [("sql", 5)]),
    "E": (HANDED, timedelta(days=2), []),
    "F": (HANDED, None, []),
    "G": (LATE, timedelta(minutes=10), []),
}


def tables() -> dict[str, pa.Table]:
    ids = list(LEADS)
    touched = [(lead, start + after) for lead, (start, after, _) in LEADS.items() if after is not None]
    events = [(lead, stage, start + timedelta(days=d)) for lead, (start, _, s) in LEADS.items() for stage, d in s]
    return {
        "leads": pa.table(
            {
                "lead_id": ids,
                "created_at": pa.array([LEADS[i][0] for i in ids], pa.timestamp("us")),
                "owner": ["ana"] * len(ids),
            }
        ),
        "stage_events": pa.table(
            {
                "lead_id": [e[0] for e in events],
                "stage": [e[1] for e in events],
                "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
            }
        ),
        "activities": pa.table(
            {
                "activity_id": [f"T{i}" for i in range(len(touched))],
                "lead_id": [t[0] for t in touched],
                "occurred_at": pa.array([t[1] for t in touched], pa.timestamp("us")),
                "kind": ["call"] * len(touched),
            }
        ),
        "handoffs": pa.table(
            {
                "lead_id": ids,
                "occurred_at": pa.array([LEADS[i][0] for i in ids], pa.timestamp("us")),
                "event": ["assigned"] * len(ids),
                "owner": ["ana"] * len(ids),
            }
        ),
    }


@pytest.fixture
def company(backend: Backend, tmp_path: Path) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path, tables()) as ws:
        yield ws


def test_conversion_by_time_to_first_touch_counts_leads_still_in_flight_as_at_risk(company: Workspace) -> None:
    wh = company.warehouse
    episodes = episode_table(wh.table("handoffs"), wh.table("leads"), STRETCHES, as_of=AS_OF)
    calendar = contract_calendars(STRETCHES, datetime(2026, 2, 20).date(), datetime(2026, 6, 3).date())
    clocks = clock_table(wh.table("handoffs"), episodes, wh.table("activities"), calendar, STRETCHES, as_of=AS_OF)
    found = speed_table(clocks, wh.table("stage_events"), STAGES, handoff_stage="mql", as_of=AS_OF)
    got = {
        (r["label"], r["outcome"]): (r["leads"], r["converted"], r["matured"], r["matured_converted"], r["km"])
        for r in found.to_pyarrow().to_pylist()
    }
    sql = {label: values for (label, outcome), values in got.items() if outcome == 0}
    assert sql == {
        "under 5 min": (1, 1, 1, 1, 1.0),
        # B reaches sql on day 10; C is still out at day 30 (censored at 31); G was handed over 7 days ago
        # (censored at day 7): at risk on day 10 are B and C, so 1 - 1/2.
        "5-60 min": (3, 1, 2, 1, 0.5),
        "1-24 h": (1, 1, 1, 1, 1.0),
        "over 24 h": (1, 0, 1, 0, 0.0),
        "no touch yet": (1, 0, 1, 0, 0.0),
        # A on day 3 (4 at risk), B on day 10 (2 at risk): 1 - 3/4 * 1/2.
        "within 1 h": (4, 2, 3, 2, 0.625),
        "after 1 h": (2, 1, 2, 1, 0.5),
        "after 24 h": (1, 0, 1, 0, 0.0),
    }
    # Won by day 180: B on day 40, with B and C (out 91 days) at risk; nobody has had 180 days yet.
    assert got[("5-60 min", 1)] == (3, 1, 0, 0, 0.5)


def test_the_comparison_is_a_risk_ratio_with_katz_s_interval() -> None:
    found = compare((100, 60), (200, 60))
    assert found.ratio == pytest.approx(2.0, rel=1e-12)
    half_width = 1.96 * math.sqrt(1 / 60 - 1 / 100 + 1 / 60 - 1 / 200)
    assert found.low == pytest.approx(2.0 * math.exp(-half_width), rel=1e-12)
    assert found.high == pytest.approx(2.0 * math.exp(half_width), rel=1e-12)
    assert evidence(found) == "strong"  # 100 matured leads in each group, the interval above 1
    assert evidence(compare((40, 24), (50, 12))) == "moderate"  # 0.6 against 0.24: clear, but under 100 leads
    assert evidence(compare((40, 12), (50, 15))) == "weak"  # the same share: no difference
    assert compare((0, 0), (50, 15)).ratio is None
    assert evidence(compare((0, 0), (50, 15))) == "weak"
