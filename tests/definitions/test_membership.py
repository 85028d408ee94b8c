"""When a lead first met a stage's rule, worked out by hand on six leads, on DuckDB, PostgreSQL and Spark.

A rule is checked at the moments something happens to a lead (its creation, each touch and activity) and the
lead enters the stage at the first moment the rule holds (docs/funnel-semantics.md, "Stage rules").

The leads, as of 2026-03-01 00:00 UTC::

    lead  created     employees  country  touches (webinars)            activities  stage events
    a     01-01       100        US       01-10, 01-20                  -           -
    b     01-05       10         US       01-06                         -           mql 01-07
    c     01-10       500        DE       -                             -           sql 02-01
    d     02-01       100        US       01-25 (before it was created) -           -
    e     01-01       80         US       -                             call 01-15  -
    f     02-01       100        FR       03-02 (after as_of)           -           -

The scoring: 20 fit points for ``employees >= 50``; 16 points a webinar within 90 days, halving every 14 days.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.accounts import Principal
from tandem.definitions.membership import rule_column, rule_entries
from tandem.definitions.model import Definitions, dump_definitions, load_definitions
from tandem.definitions.rule_expressions import compile_rule
from tandem.definitions.rules import RuleError, parse_rule
from tandem.definitions.scoring import with_score

from ..backends import DUCKDB, Backend

AS_OF = datetime(2026, 3, 1)
PASSWORD = "a long enough password"


def d(month: int, day: int) -> datetime:
    return datetime(2026, month, day)


def _tables() -> dict[str, pa.Table]:
    leads = [
        ("a", d(1, 1), 100, "US"),
        ("b", d(1, 5), 10, "US"),
        ("c", d(1, 10), 500, "DE"),
        ("d", d(2, 1), 100, "US"),
        ("e", d(1, 1), 80, "US"),
        ("f", d(2, 1), 100, "FR"),
    ]
    touches = [("a", d(1, 10)), ("a", d(1, 20)), ("b", d(1, 6)), ("d", d(1, 25)), ("f", d(3, 2))]
    events = [("b", "mql", d(1, 7)), ("c", "sql", d(2, 1))]
    return {
        "leads": pa.table(
            {
                "lead_id": [lead[0] for lead in leads],
                "created_at": pa.array([lead[1] for lead in leads], pa.timestamp("us")),
                "employees": pa.array([lead[2] for lead in leads], pa.int64()),
                "country": [lead[3] for lead in leads],
            }
        ),
        "touches": pa.table(
            {
                "touch_id": [f"t{i}" for i in range(len(touches))],
                "occurred_at": pa.array([t[1] for t in touches], pa.timestamp("us")),
                "channel": ["web"] * len(touches),
                "lead_id": [t[0] for t in touches],
                "kind": ["webinar"] * len(touches),
            }
        ),
        "activities": pa.table(
            {
                "activity_id": ["x1"],
                "lead_id": ["e"],
                "occurred_at": pa.array([d(1, 15)], pa.timestamp("us")),
                "kind": ["call"],
            }
        ),
        "stage_events": pa.table(
            {
                "lead_id": [e[0] for e in events],
                "stage": [e[1] for e in events],
                "occurred_at": pa.array([e[2] for e in events], pa.timestamp("us")),
            }
        ),
    }


@pytest.fixture(scope="module")
def warehouse(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    with backend.workspace_holding(tmp_path_factory.mktemp(f"membership-{backend.name}"), _tables()) as ws:
        yield ws


SCORING = """
scoring:
  fit:
    - when: employees >= 50
      points: 20
  behaviour:
    - event: webinar
      points: 16
      within: 90d
      half_life: 14d
"""


def definitions(mql_rule: str | None) -> Definitions:
    """lead -> mql -> sql -> opportunity -> won, the mql stage entered by `mql_rule`, with the scoring above."""
    rule = f"\n    rule: {mql_rule}" if mql_rule else ""
    return load_definitions(
        f"""
stages:
  - name: lead
    side: marketing
    description: Anyone.
  - name: mql
    side: marketing
    description: Ready for sales.{rule}
  - name: sql
    side: sales
    description: Accepted.
  - name: opportunity
    side: sales
    description: A deal.
  - name: won
    side: sales
    description: Signed.
{SCORING}"""
    )


def first_met(ws: Workspace, rule: str, as_of: datetime = AS_OF) -> dict[str, datetime]:
    """lead -> the first moment it met `rule` as the mql stage's rule."""
    wh = ws.warehouse
    entries = rule_entries(
        definitions(rule),
        leads=wh.table("leads"),
        touches=wh.table("touches"),
        activities=wh.table("activities"),
        as_of=as_of,
    )
    assert entries is not None
    rows = entries.to_pyarrow().to_pylist()
    return {row["lead_id"]: row[rule_column(1)] for row in rows if row[rule_column(1)] is not None}


# --- hand-worked first moments, construct by construct ------------------------------------------------------------
def test_an_attribute_rule_is_met_when_the_lead_is_created(warehouse: Workspace) -> None:
    assert first_met(warehouse, "employees >= 50 and country = 'US'") == {"a": d(1, 1), "d": d(2, 1), "e": d(1, 1)}


def test_an_event_rule_is_met_at_the_first_matching_touch(warehouse: Workspace) -> None:
    # a: its first webinar; d: a webinar before it was created counts from its creation; f: after as_of, unseen;
    # b attended but has 10 employees.
    assert first_met(warehouse, "has_event('webinar') and employees >= 50") == {"a": d(1, 10), "d": d(2, 1)}


def test_an_activity_rule_reads_the_sales_activities(warehouse: Workspace) -> None:
    assert first_met(warehouse, "has_activity('call')") == {"e": d(1, 15)}


def test_a_count_within_a_window_is_counted_back_from_each_moment(warehouse: Workspace) -> None:
    # a's webinars are 10 days apart: two within 14 days at the second one, never two within 7 days.
    assert first_met(warehouse, "count_events('webinar', within='14d') >= 2") == {"a": d(1, 20)}
    assert first_met(warehouse, "count_events('webinar', within='7d') >= 2") == {}


def test_a_score_threshold_is_met_at_the_touch_that_lifts_the_score_over_it(warehouse: Workspace) -> None:
    # a at its first webinar: 20 + 16 = 36. d at its creation: 20 + 16 x 0.5 ** (7 / 14) = 31.31 (the webinar
    # of 01-25 is a week old). b scores 16 at most, c, e and f 20.
    assert first_met(warehouse, "score >= 30") == {"a": d(1, 10), "d": d(2, 1)}
    # a at its second webinar: 20 + 16 + 16 x 0.5 ** (10 / 14) = 45.75; 36 was not enough at the first.
    assert first_met(warehouse, "score >= 45") == {"a": d(1, 20)}
    assert first_met(warehouse, "score >= 46") == {}


def test_a_negation_is_checked_at_the_moments_something_happens(warehouse: Workspace) -> None:
    # "no webinar yet" holds for every lead at its creation, except d, whose webinar predates it.
    expected = {"a": d(1, 1), "b": d(1, 5), "c": d(1, 10), "e": d(1, 1), "f": d(2, 1)}
    assert first_met(warehouse, "not has_event('webinar')") == expected


def test_nothing_after_as_of_is_seen(warehouse: Workspace) -> None:
    assert first_met(warehouse, "score >= 45", as_of=d(1, 19)) == {}
    assert first_met(warehouse, "score >= 30", as_of=d(1, 19)) == {"a": d(1, 10)}
    assert first_met(warehouse, "has_event('webinar')", as_of=d(3, 2)) == {
        "a": d(1, 10),
        "b": d(1, 6),
        "d": d(2, 1),
        "f": d(3, 2),
    }


def test_no_rule_adds_no_entries(warehouse: Workspace) -> None:
    wh = warehouse.warehouse
    kwargs = {"leads": wh.table("leads"), "touches": wh.table("touches"), "activities": wh.table("activities")}
    assert rule_entries(definitions(None), as_of=AS_OF, **kwargs) is None


def test_a_rule_on_an_unknown_attribute_names_the_stage(warehouse: Workspace) -> None:
    with pytest.raises(RuleError, match=r"stage 'mql'.*revenue"):
        first_met(warehouse, "revenue > 10")


# --- an independent reference: the one-moment compiler, asked at every moment -------------------------------------
@pytest.mark.parametrize(
    "rule",
    [
        "score >= 30",
        "score >= 45 or has_activity('call')",
        "count_events('webinar', within='14d') >= 2",
        "not has_event('webinar', within='10d') and employees >= 50",
        "days_since_created() >= 9 and country = 'US'",
    ],
)
def test_first_moments_equal_the_one_moment_compiler_asked_at_every_moment(warehouse: Workspace, rule: str) -> None:
    """`compile_rule` (as of one literal moment, through semi-joins and `with_score`) asked at each lead's own
    moments: a different code path that must find the same first moment."""
    wh = warehouse.warehouse
    leads, touches, activities = wh.table("leads"), wh.table("touches"), wh.table("activities")
    moments: dict[str, set[datetime]] = {}
    for row in leads.to_pyarrow().to_pylist():
        moments.setdefault(row["lead_id"], set()).add(row["created_at"])
    created = {row["lead_id"]: row["created_at"] for row in leads.to_pyarrow().to_pylist()}
    for table in (touches, activities):
        for row in table.to_pyarrow().to_pylist():
            if row["lead_id"] in created and row["occurred_at"] <= AS_OF:
                moments[row["lead_id"]].add(max(row["occurred_at"], created[row["lead_id"]]))
    expected: dict[str, datetime] = {}
    scoring = definitions(None).scoring
    assert scoring is not None
    for moment in sorted({m for ms in moments.values() for m in ms}):
        scored = with_score(scoring, leads, as_of=moment, touches=touches)
        holds = compile_rule(parse_rule(rule), scored, as_of=moment, touches=touches, activities=activities)
        existing = scored.filter(scored.created_at <= moment)
        for lead in existing.filter(holds).lead_id.to_pyarrow().to_pylist():
            if moment in moments[lead] and lead not in expected:
                expected[lead] = moment
    assert first_met(warehouse, rule) == expected


# --- in the funnel: a stage is reached by an event or by its rule -------------------------------------------------
def person(ws: Workspace, username: str, role: str) -> Principal:
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=True)
    return ws.accounts.authenticate(username, PASSWORD, "test")


@pytest.fixture(scope="module")
def ruled(warehouse: Workspace) -> Workspace:
    """Version 2 of the definitions: the mql stage entered by ``has_event('webinar') and employees >= 50``, in force
    from 2026-12-01 (version 1, from `tandem init`, has no rules)."""
    ws = warehouse
    ws.definitions.guarded = False
    proposal = ws.definitions.propose(
        person(ws, "mila", "marketing"),
        dump_definitions(definitions("has_event('webinar') and employees >= 50")),
        note="MQL by webinar",
        effective_from=datetime(2026, 12, 1).date() if datetime.now() < datetime(2026, 12, 1) else None,
    )
    ws.definitions.approve(person(ws, "maud", "marketing"), proposal.id)
    ws.definitions.approve(person(ws, "saul", "sales"), proposal.id)
    return ws


def reached(ws: Workspace, stage: str, **question: object) -> int:
    rows = ws.funnel(as_of=AS_OF, **question).rows()  # type: ignore[arg-type]
    return sum(row["reached"] for row in rows if row["stage"] == stage)


def test_a_stage_is_reached_by_its_event_or_by_its_rule(ruled: Workspace) -> None:
    # Version 1: b by its mql event, c by its sql event (cumulative). Version 2 adds a and d by the rule.
    assert reached(ruled, "mql", version=1) == 2
    assert reached(ruled, "mql", version=2) == 4
    assert reached(ruled, "sql", version=2) == 1
    drilled = ruled.leads("mql", as_of=AS_OF, version=2).rows()
    assert sorted(row["lead_id"] for row in drilled) == ["a", "b", "c", "d"]


def test_the_rule_entry_places_the_lead_in_its_period(ruled: Workspace) -> None:
    rows = ruled.funnel(as_of=AS_OF, period="month", version=2).rows()
    mqls = {row["period"].month: row["reached"] for row in rows if row["stage"] == "mql"}
    # a (01-10), b (01-07), c (02-01, by its sql event) and d (02-01, by the rule, at its creation)
    assert mqls == {1: 2, 2: 2}


def test_results_use_the_version_in_force_at_their_as_of_date(ruled: Workspace) -> None:
    effective = ruled.definitions.version(2).effective_from
    assert effective is not None
    before = ruled.funnel(as_of=datetime.combine(effective, datetime.min.time()) - timedelta(seconds=1))
    after = ruled.funnel(as_of=datetime.combine(effective, datetime.min.time()))
    assert before.definition_version == (1 if effective > AS_OF.date() else 2)
    assert after.definition_version == 2
    assert ruled.funnel(as_of=AS_OF, version=1).definition_version == 1


def test_a_workspace_without_rules_counts_the_stage_events_alone(tmp_path: Path) -> None:
    # A version 1 workspace has no rules: nothing to compile, the stage events alone.
    with DUCKDB.workspace_holding(tmp_path, _tables()) as ws:
        assert reached(ws, "mql") == 2
