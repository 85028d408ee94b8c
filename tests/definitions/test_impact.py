"""The impact of a proposed change, worked out by hand, on DuckDB, PostgreSQL and Spark.

As of 2026-05-15 (the quarter began 2026-04-01). The current version has no rule on ``mql``; the proposal adds
``employees >= 50``. The leads::

    leads      created  employees  stage events                          under the proposal
    a1..a4     01-10    100        none                                  added (by the rule); never converted
    b1         01-10    100        sql 01-20, won 02-10                  meets the new rule only; already counted
                                                                         as mql (cumulative, by its sql event)
    k1         01-05    10         mql 01-06, sql 01-15, won 02-01       kept
    k2         01-05    10         mql 01-06, sql 01-20                  kept
    k3, k4     01-05    10         mql 01-06                             kept
    k5         01-05    100        mql 01-06, sql 01-07, won 01-30       kept
    q1..q3     04-10    200        none                                  added this quarter
    x1         02-01    10         none                                  neither

Counted (cumulative) mql: 6 now (k1..k5, b1), 13 under the proposal: 7 added, 3 of them this quarter.
Quality, on the leads' own entries before the quarter: the 5 that meet only the new rule (a1..a4, b1) reached
sql and won 1 in 5 (20 %); the 5 kept (k1..k5) reached sql 3 in 5 and won 2 in 5 (40 %).
Expected from this quarter's 3 added: 3 x 20 % = 0.6 sqls and 0.6 won deals, 0.6 x 2,000 (the mean of the two won
deals, 1,000 and 3,000) = 1,200 in revenue; at the kept leads' rate they would promise 3 x 40 % = 1.2 won deals.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.definitions.impact import measure_impact, quarter_start
from tandem.definitions.model import Definitions, load_definitions

from ..backends import Backend

AS_OF = datetime(2026, 5, 15)


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day)


def _tables() -> dict[str, pa.Table]:
    leads = [(f"a{i}", d(1, 10), 100) for i in range(1, 5)]
    leads += [("b1", d(1, 10), 100)]
    leads += [(f"k{i}", d(1, 5), 10) for i in range(1, 5)] + [("k5", d(1, 5), 100)]
    leads += [(f"q{i}", d(4, 10), 200) for i in range(1, 4)] + [("x1", d(2, 1), 10)]
    events = [("b1", "sql", d(1, 20)), ("b1", "won", d(2, 10))]
    events += [(f"k{i}", "mql", d(1, 6)) for i in range(1, 6)]
    events += [("k1", "sql", d(1, 15)), ("k1", "won", d(2, 1)), ("k2", "sql", d(1, 20))]
    events += [("k5", "sql", d(1, 7)), ("k5", "won", d(1, 30))]
    return {
        "leads": pa.table(
            {
                "lead_id": [lead[0] for lead in leads],
                "created_at": pa.array([lead[1] for lead in leads], pa.timestamp("us")),
                "employees": pa.array([lead[2] for lead in leads], pa.int64()),
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
                "opportunity_id": ["o1", "o2", "o3"],
                "created_at": pa.array([d(1, 20), d(1, 10), d(1, 25)], pa.timestamp("us")),
                "status": ["won", "won", "lost"],
                "lead_id": ["k1", "k5", "k2"],
                "amount": [1000.0, 3000.0, 9000.0],
            }
        ),
    }


def funnel(mql_rule: str | None) -> Definitions:
    rule = f"\n    rule: {mql_rule}" if mql_rule else ""
    stages = "".join(
        f"\n  - name: {name}\n    side: {side}\n    description: The {name} stage.{rule if name == 'mql' else ''}"
        for name, side in [("lead", "marketing"), ("mql", "marketing"), ("sql", "sales"), ("won", "sales")]
    )
    return load_definitions(f"stages:{stages}\n")


@pytest.fixture(scope="module")
def warehouse(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp(f"impact-{backend.name}"), _tables()) as ws:
        yield ws


def test_the_quarter_starts_on_its_first_day() -> None:
    assert quarter_start(d(5, 15).date()) == d(4, 1).date()
    assert quarter_start(d(12, 31).date()) == d(10, 1).date()
    assert quarter_start(d(1, 1).date()) == d(1, 1).date()


def test_a_loosened_mql_rule_adds_leads_that_converted_worse(warehouse: Workspace) -> None:
    report = measure_impact(warehouse, funnel(None), funnel("employees >= 50"), base_version=1, as_of=AS_OF)
    mql = report.stage("mql")
    assert (mql.current, mql.proposed, mql.added, mql.removed) == (6, 13, 7, 0)
    assert (mql.quarter_added, mql.quarter_removed) == (3, 0)
    assert (mql.history_added, mql.history_kept) == (5, 5)
    assert [mql.added_next_rate, mql.kept_next_rate] == pytest.approx([0.2, 0.6])
    assert [mql.added_won_rate, mql.kept_won_rate] == pytest.approx([0.2, 0.4])
    assert mql.expected_next == pytest.approx(0.6)
    assert mql.expected_won == pytest.approx(0.6)
    assert mql.promised_won == pytest.approx(1.2)
    assert report.average_deal == pytest.approx(2000.0)
    assert mql.expected_revenue == pytest.approx(1200.0)
    assert report.added == {"lead": 0, "mql": 7, "sql": 0, "won": 0}
    assert [s.stage for s in report.stages if s.changed] == ["mql"]
    assert report.summary() == [
        "mql: 7 leads added, 0 removed over history; 3 added this quarter. The added leads converted to won at "
        "20.0 %, the others at 40.0 % (5 and 5 leads before this quarter); expect 0.6 extra won deals from this "
        "quarter's added leads (not the 1.2 their number suggests), about 1,200 in revenue."
    ]


def test_a_tightened_rule_removes_leads(warehouse: Workspace) -> None:
    # a1..a4 (100 employees) no longer qualify; b1 still counts by its sql event, q1..q3 (200) and k5 by its event.
    report = measure_impact(
        warehouse, funnel("employees >= 50"), funnel("employees >= 150"), base_version=2, as_of=AS_OF
    )
    mql = report.stage("mql")
    assert (mql.current, mql.proposed, mql.added, mql.removed) == (13, 9, 0, 4)
    assert (mql.quarter_added, mql.quarter_removed) == (0, 0)
    assert report.summary()[0].startswith("mql: 0 leads added, 4 removed over history")


def test_nothing_changes_when_the_proposal_counts_the_same_leads(warehouse: Workspace) -> None:
    report = measure_impact(warehouse, funnel(None), funnel("employees >= 5000"), base_version=1, as_of=AS_OF)
    assert not any(s.changed for s in report.stages)
    assert report.summary() == ["No lead changes stage under the proposal."]
    assert report.stage("mql").added_won_rate is None  # no lead meets only the new rule: no rate, not zero


def test_the_report_is_plain_json(warehouse: Workspace) -> None:
    import json

    report = measure_impact(warehouse, funnel(None), funnel("employees >= 50"), base_version=1, as_of=AS_OF)
    document = json.loads(json.dumps(report.as_dict(), default=str))
    assert document["stages"][1]["stage"] == "mql"
    assert document["stages"][1]["added"] == 7
    assert document["quarter_start"] == "2026-04-01"
