"""The data-quality report's "out of order" as docs/funnel-semantics.md defines it, worked by hand on every backend.

A lead is out of order when it reached a later stage before an earlier one, with its creation as the entry into the
first stage: exactly the leads whose times the cumulative rule moves earlier.
"""

from __future__ import annotations

from datetime import datetime

from tandem.warehouse.schema import DEFAULT_STAGES

from . import reference as ref
from .conftest import Build
from .journeys import lead, tables

AS_OF = datetime(2026, 3, 1)

#: Seven leads; out of order: "swapped", "before_created" and "far_apart" (3).
JOURNEYS = [
    # created 01-01, mql 01-02, sql 01-03: in order
    lead("in_order", "2026-01-01").at("mql", "2026-01-02").at("sql", "2026-01-03"),
    # mql and sql at the same moment: a tie is in order
    lead("tie", "2026-01-01").at("mql", "2026-01-03").at("sql", "2026-01-03"),
    # sql 01-03 before mql 01-05: out of order
    lead("swapped", "2026-01-01").at("mql", "2026-01-05").at("sql", "2026-01-03"),
    # created 01-10, mql 01-08: reached mql before it was created, out of order (and a negative duration)
    lead("before_created", "2026-01-10").at("mql", "2026-01-08"),
    # created 01-10 but its first-stage event is 01-05, so it reached the first stage on 01-05; mql 01-08 is after
    lead("early_first_stage", "2026-01-10").at("lead", "2026-01-05").at("mql", "2026-01-08"),
    # opportunity 01-04 before mql 01-10, with no sql between: out of order across a gap (and a skipped stage)
    lead("far_apart", "2026-01-01").at("mql", "2026-01-10").at("opportunity", "2026-01-04"),
    # the mql on 03-05 comes after the as-of day, so only sql 02-01 is seen: in order (and a skipped stage)
    lead("later_event", "2026-01-01").at("mql", "2026-03-05").at("sql", "2026-02-01"),
]


def test_out_of_order_counts_creation_as_reaching_the_first_stage(build: Build) -> None:
    report = build(JOURNEYS).quality(as_of=AS_OF)
    assert report.counts == {
        "out_of_order": 3,
        "re_entries": 0,
        "unknown_leads": 0,
        "negative_durations": 2,  # before_created, early_first_stage
        "skipped_stages": 2,  # far_apart, later_event
        "undated_events": 0,
    }
    examples = {row["lead_id"]: row for row in report.examples["out_of_order"]}
    assert sorted(examples) == ["before_created", "far_apart", "swapped"]
    # The first stage's time shown is the one the check compares: creation, or an earlier first-stage event.
    assert (examples["before_created"]["lead"], examples["before_created"]["mql"]) == (
        datetime(2026, 1, 10),
        datetime(2026, 1, 8),
    )
    assert "the only leads it moves" in report.effects["out_of_order"]


def test_out_of_order_leads_are_the_leads_the_cumulative_rule_moves(build: Build) -> None:
    """The count the report gives is the one the independent reference reads from the document, and the number of
    leads whose cumulative entry into some stage is earlier than their raw first entry there."""
    report = build(JOURNEYS).quality(as_of=AS_OF)
    frames = {name: table.to_pandas() for name, table in tables(JOURNEYS).items()}
    counts = ref.quality(frames["leads"], frames["stage_events"], DEFAULT_STAGES, as_of=AS_OF)
    assert counts["out_of_order"] == report.counts["out_of_order"] == counts["cumulative_changed"] == 3
