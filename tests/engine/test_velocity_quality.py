"""Velocity distributions, the data-quality report and drill-down, on hand-worked journeys and every backend."""

from __future__ import annotations

from datetime import datetime

from .conftest import Build
from .journeys import lead

AS_OF = datetime(2026, 3, 1)


def test_velocity_bins_and_quantiles_of_a_step(build: Build) -> None:
    """mql -> sql in 0.5, 2, 2 and 40 days."""
    ws = build(
        [
            lead("a").at("mql", "2026-01-01").at("sql", "2026-01-01 12:00"),
            lead("b").at("mql", "2026-01-01").at("sql", "2026-01-03"),
            lead("c").at("mql", "2026-01-01").at("sql", "2026-01-03"),
            lead("d").at("mql", "2026-01-01").at("sql", "2026-02-10"),
            lead("e").at("mql", "2026-01-01"),
        ]
    )
    (row,) = ws.velocity("mql", as_of=AS_OF).rows()
    assert (row["from_stage"], row["to_stage"], row["leads"]) == ("mql", "sql", 4)
    assert (row["days_0-1"], row["days_1-3"], row["days_30-60"], row["days_180+"]) == (1, 2, 1, 0)
    assert row["median_days"] == 2.0
    assert row["mean_days"] == (0.5 + 2 + 2 + 40) / 4


def test_sales_cycle_from_any_stage_to_won(build: Build) -> None:
    ws = build(
        [
            lead("a").at("mql", "2026-01-01").at("won", "2026-01-31"),
            lead("b").at("mql", "2026-01-01").at("sql", "2026-01-05").at("won", "2026-01-11"),
        ]
    )
    (row,) = ws.velocity("mql", "won", as_of=AS_OF).rows()
    assert (row["leads"], row["median_days"]) == (2, 20.0)


def test_quality_report_counts_each_flaw_and_its_effect(build: Build) -> None:
    ws = build(
        [
            lead("ok", "2026-01-01").at("mql", "2026-01-02").at("sql", "2026-01-03"),
            lead("swapped", "2026-01-01").at("mql", "2026-01-05").at("sql", "2026-01-03"),
            lead("again", "2026-01-01").at("mql", "2026-01-02").at("mql", "2026-01-20"),
            lead("early", "2026-01-10").at("mql", "2026-01-08"),
            lead("skipper", "2026-01-01").at("mql", "2026-01-02").at("opportunity", "2026-01-09"),
        ]
    )
    report = ws.quality(as_of=AS_OF)
    assert report.counts == {
        "out_of_order": 2,  # "swapped", and "early": its mql before its creation (docs/funnel-semantics.md)
        "re_entries": 1,
        "unknown_leads": 0,
        "negative_durations": 1,
        "skipped_stages": 1,
        "undated_events": 0,
    }
    assert [e["lead_id"] for e in report.examples["out_of_order"]] == ["early", "swapped"]
    assert report.examples["re_entries"] == [{"lead_id": "again", "stage": "mql", "events": 2}]
    assert [(v["stage"], v["cumulative"], v["strict"]) for v in report.strict_vs_cumulative] == [
        ("lead", 5, 5),
        ("mql", 5, 4),  # "early" entered mql before it was created: out of order for strict
        ("sql", 3, 1),
        ("opportunity", 1, 0),
        ("won", 0, 0),
    ]
    assert "would add 1 entries" in report.effects["re_entries"]
    document = report.to_dict()
    assert [c["check"] for c in document["checks"]] == list(report.counts)


def test_drill_down_lists_the_leads_behind_a_number(build: Build) -> None:
    ws = build(
        [
            lead("a", channel="email").at("mql", "2026-01-02"),
            lead("b", channel=None).at("mql", "2026-01-03"),
            lead("c", channel="email"),
        ]
    )
    assert [r["lead_id"] for r in ws.leads("mql", as_of=AS_OF).rows()] == ["b", "a"]
    assert [r["lead_id"] for r in ws.leads("mql", {"channel": "email"}, as_of=AS_OF).rows()] == ["a"]
    assert [r["lead_id"] for r in ws.leads("mql", {"channel": None}, as_of=AS_OF).rows()] == ["b"]
    newest_first_then_id = ["a", "b", "c"]  # all entered on Jan 1
    assert [r["lead_id"] for r in ws.leads("lead", start="2026-01-01", as_of=AS_OF).rows()] == newest_first_then_id
