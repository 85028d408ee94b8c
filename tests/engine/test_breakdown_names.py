"""A breakdown by any attribute works, whatever its name: tandem's own columns never collide with it.

Attributes come from the CRM export, so they may be named like a column the engine adds on the way (``converted``:
tandem's own X Education mapping makes one; ``reached``, ``entered``, ``stage_index``) or like one of a result's
own columns (``stage``, ``period``, ``leads``). The engine groups by a copy of each breakdown column under a name of
its own; the result calls it by its name, or ``by_<name>`` where the result has a column of that name, and the
document lists those names under ``breakdown``.
"""

from __future__ import annotations

from typing import Any

import pytest

from tandem.engine.entries import breakdown_names
from tandem.questions import FunnelQuestion, RevenueQuestion, VelocityQuestion, ask

from .conftest import Build
from .journeys import deal, lead

#: Attribute names that broke a breakdown: clashes with the engine's working columns and with result columns.
NAMES = ["converted", "reached", "entered", "stage_index", "stage", "period", "leads", "amount", "age_bin"]


def journeys() -> list[Any]:
    """a: lead Jan 2, mql Jan 10, sql Feb 15; b: lead Jan 5, mql Feb 20; c: lead Feb 10. Every attribute in NAMES
    is "yes" for a and "no" for b and c."""
    values = {"a": "yes", "b": "no", "c": "no"}
    people = [
        lead("a", "2026-01-02").at("mql", "2026-01-10").at("sql", "2026-02-15"),
        lead("b", "2026-01-05").at("mql", "2026-02-20"),
        lead("c", "2026-02-10"),
    ]
    for person in people:
        person.attributes.update(dict.fromkeys(NAMES, values[person.lead_id]))
    return people


@pytest.mark.parametrize("name", NAMES)
def test_a_funnel_by_an_attribute_named_like_tandems_own_columns(build: Build, name: str) -> None:
    ws = build(journeys())
    result = ws.funnel(by=[name], period="month", as_of="2026-03-01")
    column = "by_" + name if name in ("stage", "period", "reached", "stage_index") else name
    assert result.breakdown == (column,)
    rows = result.rows()
    reached = {(row[column], row["period"].month, row["stage"]): row["reached"] for row in rows}
    # a (yes) entered as a lead in January, mql in January, sql in February
    assert {k: v for k, v in reached.items() if k[0] == "yes" and v} == {
        ("yes", 1, "lead"): 1,
        ("yes", 1, "mql"): 1,
        ("yes", 2, "sql"): 1,
    }
    # b and c (no): leads in January and February, b an mql in February
    assert {k: v for k, v in reached.items() if k[0] == "no" and v} == {
        ("no", 1, "lead"): 1,
        ("no", 2, "lead"): 1,
        ("no", 2, "mql"): 1,
    }
    assert [row["stage"] for row in rows][:5] == ["lead", "mql", "sql", "opportunity", "won"]


@pytest.mark.parametrize("name", ["converted", "leads", "period", "entered"])
def test_velocity_by_an_attribute_named_like_its_own_columns(build: Build, name: str) -> None:
    ws = build(journeys())
    result = ws.velocity("lead", "mql", by=[name], as_of="2026-03-01")
    column = "by_leads" if name == "leads" else name  # no period asked: the result has no column `period`
    assert result.breakdown == (column,)
    found = {row[column]: (row["leads"], row["median_days"]) for row in result.rows()}
    assert found == {"yes": (1, 8.0), "no": (1, 46.0)}  # a: Jan 2 -> Jan 10; b: Jan 5 -> Feb 20


@pytest.mark.parametrize("name", ["age_bin", "converted", "leads"])
def test_revenue_and_pipeline_by_a_lead_attribute_named_like_their_columns(build: Build, name: str) -> None:
    ws = build(
        journeys(),
        [
            deal("o1", "2026-01-20", "won", amount=1000, closed="2026-02-25", lead="a"),
            deal("o2", "2026-02-01", "open", amount=300, lead="b"),
        ],
    )
    revenue = ws.revenue(by=[name], as_of="2026-03-01")
    assert revenue.breakdown == (name,)  # revenue has no column of these names
    assert {row[name]: row["won_revenue"] for row in revenue.rows()} == {"yes": 1000.0, "no": 0.0}
    pipeline = ws.pipeline(by=[name], as_of="2026-03-01")
    column = "by_age_bin" if name == "age_bin" else name
    assert pipeline.breakdown == (column,)
    assert [(row[column], row["age_bin"], row["deals"], row["amount"]) for row in pipeline.rows()] == [
        ("no", "0-30", 1, 300.0)  # b's deal, open 28 days
    ]


def test_the_document_names_the_breakdown_as_its_rows_do(build: Build) -> None:
    ws = build(journeys())
    funnel = ask(ws, FunnelQuestion.parse(by=["stage", "converted"], as_of="2026-03-01"))
    assert funnel["breakdown"] == ["by_stage", "converted"]
    assert {row["by_stage"] for row in funnel["rows"]} == {"yes", "no"}
    velocity = ask(ws, VelocityQuestion.parse(from_stage="lead", by=["leads"], as_of="2026-03-01"))
    assert velocity["breakdown"] == ["by_leads"]
    assert ask(ws, RevenueQuestion.parse(as_of="2026-03-01"))["breakdown"] == []


def test_breakdown_names_keep_a_name_unless_the_result_has_it() -> None:
    own = ["stage", "reached", "by_stage"]
    assert breakdown_names(["channel", "stage"], own) == ["channel", "by_by_stage"]
    assert breakdown_names(["reached", "by_reached"], own) == ["by_reached", "by_by_reached"]
