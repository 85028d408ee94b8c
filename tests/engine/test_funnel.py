"""The funnel on hand-worked journeys: every number here is worked out by hand, on every backend."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tandem import Workspace

from ..backends import Backend
from .conftest import Build
from .journeys import lead, tables, write_tables

AS_OF = datetime(2026, 3, 1)


def funnel(ws: Workspace, **question: Any) -> list[dict[str, Any]]:
    question.setdefault("as_of", AS_OF)
    return ws.funnel(**question).rows()


def column(rows: list[dict[str, Any]], name: str) -> list[Any]:
    return [row[name] for row in rows]


def test_volumes_count_first_entries_per_stage(build: Build) -> None:
    ws = build(
        [
            lead("a").at("mql", "2026-01-03").at("sql", "2026-01-05"),
            lead("b").at("mql", "2026-01-04"),
            lead("c"),
        ]
    )
    rows = funnel(ws)
    assert column(rows, "stage") == ["lead", "mql", "sql", "opportunity", "won"]
    assert column(rows, "reached") == [3, 2, 1, 0, 0]
    assert column(rows, "previous_reached") == [None, 3, 2, 1, 0]
    assert column(rows, "converted_from_previous") == [None, 2, 1, 0, 0]
    assert column(rows, "conversion_from_previous") == [None, pytest.approx(2 / 3), 0.5, 0.0, None]


def test_a_skipped_stage_counts_as_passed(build: Build) -> None:
    ws = build([lead("a").at("mql", "2026-01-05").at("opportunity", "2026-01-09")])
    assert column(funnel(ws), "reached") == [1, 1, 1, 1, 0]
    drilled = ws.leads("sql", as_of=AS_OF).rows()
    assert [(r["lead_id"], r["entered"]) for r in drilled] == [("a", datetime(2026, 1, 9))]


def test_strict_mode_stops_at_the_gap(build: Build) -> None:
    ws = build([lead("a").at("mql", "2026-01-05").at("opportunity", "2026-01-09")])
    assert column(funnel(ws, strict=True), "reached") == [1, 1, 0, 0, 0]


def test_only_the_first_entry_counts(build: Build) -> None:
    ws = build([lead("a").at("mql", "2026-01-05").at("mql", "2026-02-20")])
    rows = funnel(ws, period="month")
    mql = [(r["period"], r["reached"]) for r in rows if r["stage"] == "mql"]
    assert mql == [(datetime(2026, 1, 1), 1)]


def test_out_of_order_events_cumulative_and_strict(build: Build) -> None:
    ws = build([lead("a", "2026-01-01").at("mql", "2026-01-05").at("sql", "2026-01-03")])
    cumulative = funnel(ws)
    assert column(cumulative, "reached") == [1, 1, 1, 0, 0]
    assert cumulative[2]["median_days_from_previous"] == 0.0, "mql takes the sql time: no negative duration"
    assert ws.leads("mql", as_of=AS_OF).rows()[0]["entered"] == datetime(2026, 1, 3)
    assert column(funnel(ws, strict=True), "reached") == [1, 1, 0, 0, 0]


def test_leads_without_events_reach_only_the_first_stage(build: Build) -> None:
    ws = build([lead("a", "2026-01-10"), lead("b", "2026-02-10")])
    rows = funnel(ws, period="month")
    assert [(r["period"], r["stage"], r["reached"]) for r in rows if r["stage"] in {"lead", "mql"}] == [
        (datetime(2026, 1, 1), "lead", 1),
        (datetime(2026, 1, 1), "mql", 0),
        (datetime(2026, 2, 1), "lead", 1),
        (datetime(2026, 2, 1), "mql", 0),
    ]


def test_ties_are_in_order_and_take_no_time(build: Build) -> None:
    ws = build([lead("a", "2026-01-01").at("mql", "2026-01-05 10:00").at("sql", "2026-01-05 10:00")])
    strict = funnel(ws, strict=True)
    assert column(strict, "reached") == [1, 1, 1, 0, 0]
    assert strict[2]["median_days_from_previous"] == 0.0


def test_a_lead_created_after_as_of_is_not_counted(build: Build) -> None:
    ws = build([lead("a", "2026-01-01").at("mql", "2026-03-05"), lead("b", "2026-03-10")])
    assert column(funnel(ws), "reached") == [1, 0, 0, 0, 0]


def test_periods_place_entries_in_utc_calendar_periods(build: Build) -> None:
    ws = build(
        [
            lead("a", "2026-01-31T22:00:00-05:00"),  # New York evening: already February in UTC
            lead("b", "2026-01-31T23:30:00"),
            lead("c", "2026-02-02"),  # a Monday
        ]
    )
    by_month = [(r["period"], r["reached"]) for r in funnel(ws, period="month") if r["stage"] == "lead"]
    assert by_month == [(datetime(2026, 1, 1), 1), (datetime(2026, 2, 1), 2)]
    by_week = [(r["period"], r["reached"]) for r in funnel(ws, period="week") if r["stage"] == "lead"]
    assert by_week == [(datetime(2026, 1, 26), 2), (datetime(2026, 2, 2), 1)]
    by_quarter = [(r["period"], r["reached"]) for r in funnel(ws, period="quarter") if r["stage"] == "lead"]
    assert by_quarter == [(datetime(2026, 1, 1), 3)]


def test_the_range_is_from_inclusive_to_exclusive(build: Build) -> None:
    ws = build([lead("a", "2026-01-01"), lead("b", "2026-01-15"), lead("c", "2026-02-01")])
    rows = funnel(ws, start="2026-01-01", end="2026-02-01")
    assert rows[0]["reached"] == 2


def test_an_empty_range_gives_no_rows(build: Build) -> None:
    ws = build([lead("a", "2026-01-01")])
    assert funnel(ws, start="2025-01-01", end="2025-02-01") == []


def test_a_missing_breakdown_value_is_its_own_group(build: Build) -> None:
    ws = build(
        [
            lead("a", channel="email").at("mql", "2026-01-02"),
            lead("b", channel=None).at("mql", "2026-01-03"),
            lead("c", channel=None),
        ]
    )
    rows = funnel(ws, by=["channel"])
    groups = {(r["channel"], r["stage"]): r["reached"] for r in rows if r["stage"] in {"lead", "mql"}}
    assert groups == {("email", "lead"): 1, ("email", "mql"): 1, (None, "lead"): 2, (None, "mql"): 1}


def test_two_breakdowns_form_their_combinations(build: Build) -> None:
    ws = build(
        [
            lead("a", channel="email", segment="smb"),
            lead("b", channel="email", segment="enterprise"),
            lead("c", channel="events", segment="smb"),
            lead("d", channel="email", segment="smb"),
        ]
    )
    rows = [r for r in funnel(ws, by=["channel", "segment"]) if r["stage"] == "lead"]
    assert [(r["channel"], r["segment"], r["reached"]) for r in rows] == [
        ("email", "enterprise", 1),
        ("email", "smb", 2),
        ("events", "smb", 1),
    ]


def test_a_window_counts_only_conversions_within_it(build: Build) -> None:
    ws = build(
        [
            lead("a").at("mql", "2026-01-01").at("sql", "2026-01-20"),  # 19 days
            lead("b").at("mql", "2026-01-01").at("sql", "2026-02-15"),  # 45 days
        ]
    )
    assert funnel(ws, window_days=30)[2]["converted_from_previous"] == 1
    assert funnel(ws)[2]["converted_from_previous"] == 2


def test_censoring_kaplan_meier_by_hand(build: Build) -> None:
    """Four MQLs observed on March 1 (as_of); two convert to SQL.

    a: mql Jan 30, sql Feb 1   -> event at day 2
    b: mql Jan 30, sql Feb 9   -> event at day 10
    c: mql Jan 30, none        -> censored at day 30
    d: mql Feb 24, none        -> censored at day 5
    At risk on day 2: a, b, c, d (4), 1 converts: 3/4. On day 10: b, c (2), 1 converts: 1/2.
    S(90) = 3/4 * 1/2 = 3/8, so 5/8 converted by day 90, against a raw 2/4. Still open (< 90 days): c, d.
    """
    ws = build(
        [
            lead("a").at("mql", "2026-01-30").at("sql", "2026-02-01"),
            lead("b").at("mql", "2026-01-30").at("sql", "2026-02-09"),
            lead("c").at("mql", "2026-01-30"),
            lead("d").at("mql", "2026-02-24"),
        ]
    )
    sql = funnel(ws)[2]
    assert sql["previous_reached"] == 4
    assert sql["conversion_from_previous"] == 0.5
    assert sql["km_conversion_from_previous"] == pytest.approx(5 / 8)
    assert sql["still_open_from_previous"] == 2
    assert (sql["median_days_from_previous"], sql["p25_days_from_previous"], sql["p75_days_from_previous"]) == (
        6.0,
        4.0,
        8.0,
    )
    assert sql["mean_days_from_previous"] == 6.0


def test_kaplan_meier_equals_the_raw_share_when_nobody_is_censored_early(build: Build) -> None:
    """Everyone observed for longer than the horizon: the estimate is the raw share."""
    ws = build(
        [
            lead("a").at("mql", "2025-06-01").at("sql", "2025-06-03"),
            lead("b").at("mql", "2025-06-01"),
            lead("c").at("mql", "2025-06-01"),
        ]
    )
    sql = funnel(ws)[2]
    assert sql["km_conversion_from_previous"] == pytest.approx(1 / 3)
    assert sql["still_open_from_previous"] == 0


def test_period_view_divides_entries_in_the_same_period(build: Build) -> None:
    """January: 2 MQLs, 1 SQL (from a December MQL): period view 1/2, cohort view 0/2."""
    ws = build(
        [
            lead("a", "2025-12-01").at("mql", "2025-12-20").at("sql", "2026-01-10"),
            lead("b", "2025-12-01").at("mql", "2026-01-05"),
            lead("c", "2025-12-01").at("mql", "2026-01-06"),
        ]
    )
    january = [r for r in funnel(ws, period="month") if r["period"] == datetime(2026, 1, 1)]
    sql = next(r for r in january if r["stage"] == "sql")
    assert (sql["reached"], sql["previous_reached"]) == (1, 2)
    assert sql["period_conversion_from_previous"] == 0.5
    assert sql["conversion_from_previous"] == 0.0


def test_custom_stages(build: Build) -> None:
    ws = build(
        [lead("a").at("mql", "2026-01-02").at("sal", "2026-01-03"), lead("b").at("sqo", "2026-01-04")],
        stages=["inquiry", "mql", "sal", "sqo", "won"],
    )
    assert column(funnel(ws), "reached") == [2, 2, 2, 1, 0]


def test_unknown_breakdown_column_names_the_available_ones(build: Build) -> None:
    from tandem import ConfigError

    ws = build([lead("a", channel="email")])
    with pytest.raises(ConfigError, match=r"unknown breakdown column\(s\) chanel; available: lead_id, created_at"):
        ws.funnel(by=["chanel"])


def test_the_result_names_its_definition_version_and_backend(build: Build, backend: Backend) -> None:
    ws = build([lead("a")])
    result = ws.funnel(as_of=AS_OF)
    assert result.definition_version == 1
    assert result.backend == backend.name
    assert "SELECT" in result.sql.upper()
    assert "definition version 1" in result._repr_html_()
    assert list(result.to_pandas().columns)[:3] == ["stage", "stage_index", "reached"]


def test_a_question_leaves_nothing_behind_on_the_backend(build: Build) -> None:
    ws = build([lead("a").at("mql", "2026-01-02")])
    before = set(ws.warehouse.con.list_tables())
    assert column(funnel(ws), "reached")[:2] == [1, 1]
    assert set(ws.warehouse.con.list_tables()) == before


@pytest.mark.notrun(["pyspark"], reason="a Spark warehouse is read-only: nothing can be imported in between")
def test_the_next_question_sees_data_imported_in_between(build: Build, tmp_path: Path) -> None:
    ws = build([lead("a").at("mql", "2026-01-02")])
    assert column(funnel(ws), "reached")[:2] == [1, 1]
    files = write_tables(tmp_path / "more", tables([lead("b").at("mql", "2026-01-03")]))
    ws.import_files("leads", [files["leads"]])
    ws.import_files("stage_events", [files["stage_events"]])
    assert column(funnel(ws), "reached")[:2] == [2, 2]
