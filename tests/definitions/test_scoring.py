"""Lead scoring worked by hand on six leads, as of 2026-03-01 00:00 UTC, on DuckDB, PostgreSQL and Spark.

The scoring::

    fit:
      - when: employees >= 50        # fit_1
        points: 20
      - when: country = 'US'         # fit_2
        points: 10
    behaviour:
      - event: webinar               # behaviour_1: 16 points, halving every 14 days, for 90 days
        points: 16
        within: 90d
        half_life: 14d
      - event: email_click           # behaviour_2: 5 points each, no decay, for 30 days
        points: 5
        within: 30d

The leads, their touches and the points they earn::

    lead  country  employees  touches (age as of 2026-03-01)                       fit      behaviour     score
    a     US       50         webinar 14d (one half-life), email click 9d         20 + 10  8 + 5         43
    b     US       200        webinars 0d and 28d (two half-lives)                20 + 10  16 + 4        50
    c     -        -          email clicks 30d (out) and 30d - 1s (in),           0 + 0    0 + 5         5
                              a webinar 1s after as_of (ignored)
    d     FR       500        none                                                20 + 0   0             20
    e     US       60         webinars 90d (out) and 90d - 1s (in, 16 x 0.5**(    20 + 10  0.1857...     30.1857...
                              (90d - 1s) / 14d)), a demo request, a touch of no kind
    f     DE       100        webinars 0d, 0d and 14d                             20 + 0   16 + 16 + 8   60

Lead a was imported with a CRM score of 99: the computed score replaces it. A webinar of no lead and one of a lead
that is not in the leads table count for nobody.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import ibis
import pyarrow as pa
import pytest

from tandem import Workspace
from tandem.definitions.model import (
    DEFAULT_DEFINITIONS_PATH,
    BehaviourRule,
    FitRule,
    Scoring,
    default_definitions,
    load_definitions,
)
from tandem.definitions.rule_expressions import compile_rule
from tandem.definitions.rules import RuleError, parse_rule
from tandem.definitions.scoring import ScoringError, score_table, with_score
from tandem.durations import parse_duration
from tandem.warehouse.schema import TABLES

from ..backends import BACKENDS, Backend

AS_OF = datetime(2026, 3, 1)
DAY = 86400

SCORING = Scoring(
    fit=(FitRule(when="employees >= 50", points=20), FitRule(when="country = 'US'", points=10)),
    behaviour=(
        BehaviourRule(event="webinar", points=16, within=parse_duration("90d"), half_life=parse_duration("14d")),
        BehaviourRule(event="email_click", points=5, within=parse_duration("30d")),
    ),
)

#: The webinar of lead e, one second inside the 90 days: 16 points halved (90 days - 1 second) / 14 days times.
E_WEBINAR = 16 * 0.5 ** ((90 * DAY - 1) / DAY / 14)

#: Per lead: fit_1, fit_2, behaviour_1, behaviour_2, worked out by hand.
EXPECTED: dict[str, tuple[float, float, float, float]] = {
    "a": (20, 10, 8, 5),
    "b": (20, 10, 16 * 1.25, 0),
    "c": (0, 0, 0, 5),
    "d": (20, 0, 0, 0),
    "e": (20, 10, E_WEBINAR, 0),
    "f": (20, 0, 40, 0),
}


def _tables() -> dict[str, pa.Table]:
    leads = [
        ("a", "US", 50, 99.0),
        ("b", "US", 200, None),
        ("c", None, None, None),
        ("d", "FR", 500, None),
        ("e", "US", 60, None),
        ("f", "DE", 100, None),
    ]
    touches: list[tuple[datetime, str | None, str | None]] = [
        (datetime(2026, 2, 15), "a", "webinar"),
        (datetime(2026, 2, 20), "a", "email_click"),
        (datetime(2026, 3, 1), "b", "webinar"),
        (datetime(2026, 2, 1), "b", "webinar"),
        (datetime(2026, 1, 30), "c", "email_click"),
        (datetime(2026, 1, 30, 0, 0, 1), "c", "email_click"),
        (datetime(2026, 3, 1, 0, 0, 1), "c", "webinar"),
        (datetime(2025, 12, 1), "e", "webinar"),
        (datetime(2025, 12, 1, 0, 0, 1), "e", "webinar"),
        (datetime(2026, 2, 28), "e", "demo_request"),
        (datetime(2026, 2, 28), "e", None),
        (datetime(2026, 3, 1), "f", "webinar"),
        (datetime(2026, 3, 1), "f", "webinar"),
        (datetime(2026, 2, 15), "f", "webinar"),
        (datetime(2026, 2, 28), None, "webinar"),
        (datetime(2026, 2, 28), "zz", "webinar"),
    ]
    return {
        "leads": pa.table(
            {
                "lead_id": pa.array([lead[0] for lead in leads]),
                "created_at": pa.array([datetime(2026, 1, 1)] * len(leads), pa.timestamp("us")),
                "country": pa.array([lead[1] for lead in leads], pa.string()),
                "employees": pa.array([lead[2] for lead in leads], pa.int64()),
                "score": pa.array([lead[3] for lead in leads], pa.float64()),
            }
        ),
        "touches": pa.table(
            {
                "touch_id": pa.array([f"t{i}" for i in range(len(touches))]),
                "occurred_at": pa.array([t[0] for t in touches], pa.timestamp("us")),
                "channel": pa.array(["web"] * len(touches)),
                "lead_id": pa.array([t[1] for t in touches], pa.string()),
                "kind": pa.array([t[2] for t in touches], pa.string()),
            }
        ),
    }


@pytest.fixture(scope="module")
def warehouse(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """The six leads and their touches in a workspace on each backend (built once per backend)."""
    with backend.workspace_holding(tmp_path_factory.mktemp(f"scoring-{backend.name}"), _tables()) as ws:
        yield ws


def scores(ws: Workspace, scoring: Scoring = SCORING, as_of: datetime = AS_OF) -> dict[str, dict[str, Any]]:
    """lead_id -> its row of the score table (the points of every rule and the score)."""
    wh = ws.warehouse
    table = score_table(scoring, wh.table("leads"), as_of=as_of, touches=wh.table("touches"))
    return {row["lead_id"]: row for row in table.to_pyarrow().to_pylist()}


# --- hand-worked points, rule by rule ---------------------------------------------------------------------------
def test_every_rule_contributes_the_points_worked_out_by_hand(warehouse: Workspace) -> None:
    rows = scores(warehouse)
    assert sorted(rows) == sorted(EXPECTED)
    for lead, (fit_1, fit_2, behaviour_1, behaviour_2) in EXPECTED.items():
        row = rows[lead]
        got = (row["fit_1"], row["fit_2"], row["behaviour_1"], row["behaviour_2"])
        assert got == pytest.approx((fit_1, fit_2, behaviour_1, behaviour_2), rel=1e-9), lead


def test_a_touch_one_half_life_old_is_worth_exactly_half(warehouse: Workspace) -> None:
    """a's webinar on 2026-02-15 is 14 days old: 16 points become 8."""
    assert scores(warehouse)["a"]["behaviour_1"] == pytest.approx(8.0, rel=1e-9)


def test_touches_at_age_zero_and_two_half_lives_give_one_and_a_quarter_times_the_points(warehouse: Workspace) -> None:
    """b's webinars: one at as_of (16) and one 28 days before (16 x 0.25 = 4)."""
    assert scores(warehouse)["b"]["behaviour_1"] == pytest.approx(16 * 1.25, rel=1e-9)


def test_a_touch_exactly_within_before_as_of_is_out_and_one_second_later_is_in(warehouse: Workspace) -> None:
    """c's email clicks 30 days and 30 days less a second before as_of: only the second counts (5, no decay);
    e's webinars 90 days and 90 days less a second before: only the second counts, decayed by 90/14 half-lives."""
    rows = scores(warehouse)
    assert rows["c"]["behaviour_2"] == pytest.approx(5.0, rel=1e-9)
    assert rows["e"]["behaviour_1"] == pytest.approx(E_WEBINAR, rel=1e-9)
    assert pytest.approx(0.18575, abs=1e-5) == E_WEBINAR  # about 16 / 86


def test_touches_after_as_of_of_another_kind_or_of_no_lead_are_ignored(warehouse: Workspace) -> None:
    """c's webinar a second after as_of, e's demo request and kind-less touch, the webinars of no lead and of
    an unknown lead earn nothing."""
    rows = scores(warehouse)
    assert rows["c"]["behaviour_1"] == 0
    assert rows["e"]["behaviour_2"] == 0
    assert "zz" not in rows


def test_a_missing_attribute_does_not_meet_a_fit_rule(warehouse: Workspace) -> None:
    """c has no employees and no country: neither fit rule gives it points (0, not null)."""
    row = scores(warehouse)["c"]
    assert (row["fit_1"], row["fit_2"]) == (0, 0)


def test_a_lead_without_touches_scores_its_fit_points_only(warehouse: Workspace) -> None:
    row = scores(warehouse)["d"]
    assert (row["behaviour_1"], row["behaviour_2"], row["score"]) == (0, 0, 20)


def test_the_score_is_fit_plus_behaviour_and_replaces_an_imported_score(warehouse: Workspace) -> None:
    rows = scores(warehouse)
    for lead, points in EXPECTED.items():
        assert rows[lead]["score"] == pytest.approx(sum(points), rel=1e-9), lead
    assert rows["a"]["score"] == pytest.approx(43.0, rel=1e-9)  # not the 99 it was imported with
    assert rows["b"]["score"] == 50.0  # exactly: 20 + 10 + 16 + 4


def test_the_score_is_as_of_a_moment(warehouse: Workspace) -> None:
    """Two weeks later b's webinars are a half-life older (16 -> 8, 4 -> 2); c's email click left the 30 days
    while its webinar, a second after the first as_of, now counts, a second short of one half-life old."""
    later = scores(warehouse, as_of=AS_OF + timedelta(days=14))
    assert later["b"]["score"] == pytest.approx(20 + 10 + 8 + 2, rel=1e-9)
    assert later["c"]["behaviour_2"] == 0
    assert later["c"]["score"] == pytest.approx(16 * 0.5 ** ((14 * DAY - 1) / DAY / 14), rel=1e-9)
    assert later["d"]["score"] == 20


def test_as_of_with_a_time_zone_is_read_in_utc(warehouse: Workspace) -> None:
    """2026-03-01 01:00 in Paris is as_of 00:00 UTC: the same scores."""
    paris = datetime(2026, 3, 1, 1, tzinfo=timezone(timedelta(hours=1)))
    rows = scores(warehouse, as_of=paris)
    assert {lead: row["score"] for lead, row in rows.items()} == pytest.approx(
        {lead: sum(points) for lead, points in EXPECTED.items()}, rel=1e-9
    )


def test_every_column_is_float64_and_never_null(warehouse: Workspace) -> None:
    wh = warehouse.warehouse
    table = score_table(SCORING, wh.table("leads"), as_of=AS_OF, touches=wh.table("touches"))
    added = ["fit_1", "fit_2", "behaviour_1", "behaviour_2", "score"]
    assert all(table.schema()[name].is_float64() for name in added)
    rows = table.select(*added).to_pyarrow().to_pylist()
    assert all(value is not None for row in rows for value in row.values())


# --- the score in stage rules -----------------------------------------------------------------------------------
def test_score_in_a_stage_rule_keeps_the_leads_at_or_above_it(warehouse: Workspace) -> None:
    """`score >= 50` (the default MQL rule) keeps b (exactly 50) and f (60), on leads with only `score` added."""
    wh = warehouse.warehouse
    leads = with_score(SCORING, wh.table("leads"), as_of=AS_OF, touches=wh.table("touches"))
    assert leads.columns == wh.table("leads").columns  # the imported score column, now computed
    mql = leads.filter(compile_rule(parse_rule("score >= 50"), leads, as_of=AS_OF, touches=wh.table("touches")))
    assert sorted(mql.lead_id.to_pyarrow().to_pylist()) == ["b", "f"]


def test_score_combines_with_other_conditions_in_a_stage_rule(warehouse: Workspace) -> None:
    wh = warehouse.warehouse
    leads = with_score(SCORING, wh.table("leads"), as_of=AS_OF, touches=wh.table("touches"))
    rule = parse_rule("score >= 40 and has_event('webinar', within='7d')")
    kept = leads.filter(compile_rule(rule, leads, as_of=AS_OF, touches=wh.table("touches")))
    assert sorted(kept.lead_id.to_pyarrow().to_pylist()) == ["b", "f"]  # a scores 43 but its webinar is older


# --- the default definitions ------------------------------------------------------------------------------------
def test_the_default_scoring_runs_on_the_warehouse(warehouse: Workspace) -> None:
    """default.yaml: employees >= 50 for 20; webinars 15 halving every 14 days; email clicks 5 halving every 7.
    a: 20 + 15 x 0.5 (14 days) + 5 x 0.5 ** (9 / 7) (9 days)."""
    scoring = default_definitions().scoring
    assert scoring is not None
    rows = scores(warehouse, scoring)
    assert rows["a"]["score"] == pytest.approx(20 + 7.5 + 5 * 0.5 ** (9 / 7), rel=1e-9)
    assert rows["d"]["score"] == 20


def _canonical(name: str) -> ibis.Table:
    types = {"string": "string", "timestamp": "timestamp", "date": "date", "float": "float64"}
    types |= {"integer": "int64", "boolean": "boolean"}
    return ibis.table({c.name: types[c.type] for c in TABLES[name].columns}, name=name)


@pytest.mark.parametrize("dialect", [b.name for b in BACKENDS])
def test_the_default_scoring_compiles_against_the_canonical_columns(dialect: str) -> None:
    leads = _canonical("leads")
    columns = {c.name: c.type for c in TABLES["leads"].columns}
    scoring = load_definitions(DEFAULT_DEFINITIONS_PATH, columns=columns).scoring
    assert scoring is not None
    table = score_table(scoring, leads, as_of=AS_OF, touches=_canonical("touches"))
    assert list(table.columns) == [*leads.columns, "fit_1", "behaviour_1", "behaviour_2"]  # score in its place
    assert table.schema()["score"].is_float64()
    getattr(ibis, dialect)  # loads the backend, which registers its compile options
    assert ibis.to_sql(table, dialect=dialect)


# --- what cannot be scored ----------------------------------------------------------------------------------------
def test_no_rules_score_zero() -> None:
    leads = _canonical("leads")
    table = with_score(Scoring(), leads, as_of=AS_OF)
    assert table.columns == leads.columns
    assert "score" in ibis.to_sql(table, dialect="duckdb")


def test_behaviour_rules_need_the_touches() -> None:
    with pytest.raises(ScoringError, match="touches"):
        score_table(SCORING, _canonical("leads"), as_of=AS_OF)


def test_a_fit_rule_on_an_unknown_attribute_says_which_rule() -> None:
    scoring = Scoring(fit=(FitRule(when="employees >= 50", points=20), FitRule(when="industri = 'saas'", points=5)))
    with pytest.raises(RuleError, match=r"(?s)scoring fit rule 2 \(industri = 'saas'\).*industry") as caught:
        score_table(scoring, _canonical("leads"), as_of=AS_OF)
    assert len(caught.value.problems) == 1


def test_a_fit_rule_may_use_events_too(warehouse: Workspace) -> None:
    """A fit rule is any rule: e's demo request of 2026-02-28 earns 7 points; b has none and scores its webinars."""
    wh = warehouse.warehouse
    scoring = Scoring(
        fit=(FitRule(when="has_event('demo_request', within='7d')", points=7),),
        behaviour=SCORING.behaviour,
    )
    table = with_score(scoring, wh.table("leads"), as_of=AS_OF, touches=wh.table("touches"))
    rows = {row["lead_id"]: row["score"] for row in table.to_pyarrow().to_pylist()}
    assert rows["e"] == pytest.approx(7 + E_WEBINAR, rel=1e-9)
    assert rows["b"] == pytest.approx(20.0, rel=1e-9)
