"""The impact of a proposed change, worked out by hand, on DuckDB, PostgreSQL and Spark.

As of 2026-05-15 (the quarter began 2026-04-01). The current version has no rule on ``mql``; the proposals add
``employees >= 50``, ``source = 'demo'`` or ``source = 'webinar'``. The leads::

    leads      created  employees  source   stage events
    a1..a4     01-10    100        webinar  none
    b1         01-10    100        demo     sql 01-20, won 02-10
    k1         01-05    10         web      mql 01-06, sql 01-15, won 02-01
    k2         01-05    10         web      mql 01-06, sql 01-20
    k3, k4     01-05    10         web      mql 01-06
    k5         01-05    100        demo     mql 01-06, sql 01-07, won 01-30
    q1..q3     04-10    200        webinar  none
    x1         02-01    10         web      none

Counted (cumulative) mql now: 6 (k1..k5 by their events, b1 by its sql event).

``employees >= 50``: 13 mqls, 7 added (a1..a4, q1..q3), 3 of them this quarter. Judged at the moment of the
handoff, the proposal hands over sooner, before the quarter: a1..a4 and b1 (at creation, 01-10, instead of never
and 01-20) and k5 (01-05 instead of 01-06): 6 leads, of which b1 and k5 reached sql and won (2 in 6, 33.3 %).
The current version's mqls before the quarter (k1..k5, b1): 4 of 6 reached sql (66.7 %), 3 won (50 %).
Expected from the 3 leads handed over sooner this quarter (q1..q3): 3 x 1/3 = 1 sql and 1 won deal, 1 x 2,000
(the mean of the two won deals, 1,000 and 3,000) = 2,000 in revenue; at the current rate 3 x 50 % = 1.5.

``source = 'demo'`` (a good loosening: it spots buyers sooner): it adds no lead (b1 and k5 are mqls already) but
hands b1 and k5 over sooner, and both went on to sql and won: 100 % against 66.7 % and 50 %.
``source = 'webinar'`` (a bad one): it hands over a1..a4 (and q1..q3 this quarter), none of which went on: 0 %.
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
    leads = [(f"a{i}", d(1, 10), 100, "webinar") for i in range(1, 5)]
    leads += [("b1", d(1, 10), 100, "demo")]
    leads += [(f"k{i}", d(1, 5), 10, "web") for i in range(1, 5)] + [("k5", d(1, 5), 100, "demo")]
    leads += [(f"q{i}", d(4, 10), 200, "webinar") for i in range(1, 4)] + [("x1", d(2, 1), 10, "web")]
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
                "source": [lead[3] for lead in leads],
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


def test_a_loosened_mql_rule_is_judged_by_the_leads_it_hands_over_sooner(warehouse: Workspace) -> None:
    report = measure_impact(warehouse, funnel(None), funnel("employees >= 50"), base_version=1, as_of=AS_OF)
    mql = report.stage("mql")
    assert (mql.current, mql.proposed, mql.added, mql.removed) == (6, 13, 7, 0)
    assert (mql.quarter_added, mql.quarter_removed, mql.quarter_earlier) == (3, 0, 3)
    assert (mql.history_added, mql.history_kept) == (6, 6)
    assert [mql.added_next_rate, mql.kept_next_rate] == pytest.approx([2 / 6, 4 / 6])
    assert [mql.added_won_rate, mql.kept_won_rate] == pytest.approx([2 / 6, 3 / 6])
    assert mql.expected_next == pytest.approx(1.0)
    assert mql.expected_won == pytest.approx(1.0)
    assert mql.promised_won == pytest.approx(1.5)
    assert report.average_deal == pytest.approx(2000.0)
    assert mql.expected_revenue == pytest.approx(2000.0)
    assert report.added == {"lead": 0, "mql": 7, "sql": 0, "won": 0}
    assert [s.stage for s in report.stages if s.changed] == ["mql"]
    assert report.summary() == [
        "mql: 7 leads added, 0 removed over history; 3 added this quarter. Of the leads it hands over sooner or "
        "additionally, 33.3 % went on to sql and 33.3 % to won; of the current version's, 66.7 % and 50.0 % "
        "(6 and 6 leads before this quarter); expect 1.0 won deals from the 3 leads it would hand over sooner this "
        "quarter (not the 1.5 their number suggests), about $2,000 in revenue."
    ]


def test_a_rule_that_spots_buyers_sooner_shows_their_conversion(warehouse: Workspace) -> None:
    report = measure_impact(warehouse, funnel(None), funnel("source = 'demo'"), base_version=1, as_of=AS_OF)
    mql = report.stage("mql")
    assert (mql.added, mql.quarter_earlier, mql.history_added) == (0, 0, 2)
    assert [mql.added_next_rate, mql.added_won_rate] == pytest.approx([1.0, 1.0])
    assert [mql.kept_next_rate, mql.kept_won_rate] == pytest.approx([4 / 6, 3 / 6])


def test_a_rule_that_lets_in_leads_who_never_buy_shows_none_converting(warehouse: Workspace) -> None:
    report = measure_impact(warehouse, funnel(None), funnel("source = 'webinar'"), base_version=1, as_of=AS_OF)
    mql = report.stage("mql")
    assert (mql.added, mql.quarter_earlier, mql.history_added) == (7, 3, 4)
    assert [mql.added_next_rate, mql.added_won_rate] == [0.0, 0.0]
    assert mql.expected_won == 0.0
    assert mql.promised_won == pytest.approx(1.5)


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
    assert report.stage("mql").added_won_rate is None  # no lead handed over sooner: no rate, not zero


def test_the_report_is_plain_json(warehouse: Workspace) -> None:
    import json

    report = measure_impact(warehouse, funnel(None), funnel("employees >= 50"), base_version=1, as_of=AS_OF)
    document = json.loads(json.dumps(report.as_dict(), default=str))
    assert document["stages"][1]["stage"] == "mql"
    assert document["stages"][1]["added"] == 7
    assert document["quarter_start"] == "2026-04-01"
