"""The data-quality report: what in the data bends a number, counted and shown, never silently dropped.

How this works: each check is one Ibis aggregation over the raw first entries per stage (before the cumulative or
strict rule is applied), plus a few examples. Where a check changes a number, the report says by how much:
strict against cumulative volumes per stage, the entries re-entries would add, the leads counted in a period
before their creation.

Undated stage events: a CRM export may only say which stage a lead is at now (HubSpot's current lifecycle stage,
Salesforce's lead status), not when it got there. The import dates such an event at the lead's creation and marks
it with a `source` ending in ``(undated)`` (`UNDATED`); the report counts them, by source, because the stage counts
are right but every date drawn from them (velocity, the period a stage is counted in) is not.

A dated event wins over an undated one (`prefer_dated`, applied wherever stage events are read: every funnel
metric and this report). Without it, a HubSpot contact imported at its current stage "Customer" (an undated `won`
at its creation) whose deal then gives real `opportunity` and `won` dates would be won on the day it was created,
before its opportunity: out of order, a re-entry, and a won median of 0 days.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import entry_table, first_entries, stage_column

__all__ = ["CHECKS", "UNDATED", "QualityReport", "is_undated", "prefer_dated", "quality_report"]

#: The end of a stage event's `source` that says the source gave no date (the import dated it at the lead's creation).
UNDATED = "(undated)"

#: Check name -> what it means, in the words the report uses.
CHECKS: dict[str, str] = {
    "out_of_order": "leads that reached a later stage before an earlier one (being created counts as reaching the "
    "first stage)",
    "re_entries": "extra events for a stage a lead had already entered (only the first entry counts)",
    "unknown_leads": "stage events whose lead_id is not in leads (left out of every metric)",
    "negative_durations": "leads with a stage event before their created_at",
    "skipped_stages": "leads that reached a stage with no event for an earlier one (counted as passed)",
    "undated_events": "stage events with no date of their own (a CRM's current stage, such as HubSpot's current "
    "lifecycle stage or Salesforce's lead status): dated at the lead's creation; export HubSpot's 'Became a ... "
    "Date' properties or Salesforce's lead history for real dates",
}


def is_undated(events: ir.Table) -> ir.BooleanColumn:
    """True for the stage events the import dated itself (their `source` ends in ``(undated)``)."""
    if "source" not in events.columns:
        return ibis.literal(False)
    return events.source.cast("string").strip().lower().endswith(UNDATED).fill_null(False)


def prefer_dated(events: ir.Table, stages: Sequence[str]) -> ir.Table:
    """`events` with each undated event yielding to the dated events of its lead (docs/funnel-semantics.md).

    An undated event only says the lead is at that stage now, and its date (the lead's creation) is made up. So,
    against the lead's dated events at the funnel's `stages` (all of them, whatever the as-of moment: a dated
    event after it says the lead had not got that far yet):

    * an undated event at a stage the lead has a dated event for, or a dated event for a later stage, is left
      out: cumulative counting already counts the lead at that stage, at a real date (at the same stage, or at
      the later one), and the count per stage is unchanged;
    * an undated event at a later stage than all of them is kept (the lead counts there), dated no earlier than
      the lead's last dated event: its made-up date never puts an earlier stage's entry before a real one.

    Leads with no dated event keep their undated events as they are. A table with no `source` column has no
    undated events and is returned as it is. One Ibis expression (DuckDB, PostgreSQL, Spark): every event is
    joined to the evidence of the leads with an undated one, so a warehouse without any adds an empty join (a
    few milliseconds over 20,000 leads), not a pass over every lead's events.
    """
    if "source" not in events.columns or not stages:
        return events
    undated = is_undated(events)
    # The evidence: the dated events, at the funnel's stages, of the leads with an undated event (few, or none).
    flagged = events.filter(undated)
    at_stage = events.filter(~undated & events.stage.isin(list(stages)))
    at_stage = at_stage.semi_join(flagged, at_stage.lead_id == flagged.lead_id)
    evidence = at_stage.group_by(_lead_id=at_stage.lead_id).aggregate(
        _dated_k=_stage_index(at_stage.stage, stages).max(), _dated_at=at_stage.occurred_at.max()
    )
    weighed = events.left_join(evidence, events.lead_id == evidence._lead_id)
    undated = is_undated(weighed)
    k = _stage_index(weighed.stage, stages)
    superseded = undated & k.notnull() & weighed._dated_k.notnull() & (k <= weighed._dated_k)
    kept = weighed.filter(~superseded.fill_null(False))
    later = is_undated(kept) & kept._dated_at.notnull() & (kept._dated_at > kept.occurred_at)
    occurred_at = ibis.cases((later, kept._dated_at), else_=kept.occurred_at).cast(events.occurred_at.type())
    return kept.mutate(occurred_at=occurred_at).select(*events.columns)


def _stage_index(stage: ir.StringValue, stages: Sequence[str]) -> ir.IntegerValue:
    """The position of `stage` in `stages` (null for a stage the funnel does not have)."""
    return ibis.cases(*((stage == name, k) for k, name in enumerate(stages)), else_=ibis.null("int64"))


@dataclass
class QualityReport:
    """Counts per check, examples, and where each changes a number."""

    counts: dict[str, int]
    examples: dict[str, list[dict[str, Any]]]
    strict_vs_cumulative: list[dict[str, Any]]
    effects: dict[str, str] = field(default_factory=dict)
    definition_version: int = 0
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "definition_version": self.definition_version,
            "backend": self.backend,
            "checks": [
                {
                    "check": name,
                    "meaning": CHECKS[name],
                    "count": self.counts[name],
                    "effect": self.effects.get(name, ""),
                    "examples": self.examples.get(name, []),
                }
                for name in CHECKS
            ],
            "strict_vs_cumulative": self.strict_vs_cumulative,
        }


def _count(expr: ir.IntegerScalar) -> int:
    value = expr.execute()
    return int(value) if value is not None else 0


def _rows(table: ir.Table, limit: int) -> list[dict[str, Any]]:
    return list(table.limit(limit).to_pyarrow().to_pylist())


def quality_report(
    leads: ir.Table, events: ir.Table, stages: Sequence[str], as_of: datetime, examples: int = 5
) -> QualityReport:
    """Run every check. A handful of small queries: counts and a few example rows each.

    The checks read the events the metrics count: an undated event yields to its lead's dated ones
    (`prefer_dated`); the undated events left out that way are only counted, in the undated check's effect.
    """
    n = len(stages)
    all_undated = events.filter(is_undated(events))
    events = prefer_dated(events, stages)
    known_stage = events.filter(events.stage.isin(list(stages)))
    raw = first_entries(leads.select("lead_id", "created_at"), events, stages, as_of)
    # The raw first entries t(k) of docs/funnel-semantics.md: t0 folds in created_at (a lead reached the first
    # stage when it was created), so a lead with a later stage before its creation is out of order too. These are
    # exactly the leads whose times the cumulative rule moves earlier, and that the strict mode stops early for
    # their order: the count the analyst needs to reconcile the two modes.
    times = [raw[f"t{k}"] for k in range(n)]

    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    out_of_order = ibis.or_(*[times[j] < times[i] for i, j in pairs]) if pairs else ibis.literal(False)
    skipped = (
        ibis.or_(*[times[j].notnull() & times[i].isnull() for j in range(2, n) for i in range(1, j)])
        if n > 2
        else ibis.literal(False)
    )
    earliest_event = known_stage.group_by("lead_id").aggregate(_first=known_stage.occurred_at.min())
    dated = leads.inner_join(earliest_event, leads.lead_id == earliest_event.lead_id)
    negative = dated.filter(dated._first < dated.created_at)

    per_stage = known_stage.group_by(["lead_id", "stage"]).aggregate(_events=known_stage.count())
    repeated = per_stage.filter(per_stage._events > 1)
    unknown = events.anti_join(leads, events.lead_id == leads.lead_id)

    undated = events.filter(is_undated(events))
    undated_by_source = (
        undated.group_by("source")
        .aggregate(events=undated.count(), leads=undated.lead_id.nunique())
        .order_by("source")
        .to_pyarrow()
        .to_pylist()
        if "source" in events.columns
        else []
    )
    superseded = _count(all_undated.count()) - sum(int(row["events"]) for row in undated_by_source)

    flagged = raw.mutate(_out_of_order=out_of_order.fill_null(False), _skipped=skipped.fill_null(False))
    ooo = flagged.filter(flagged._out_of_order)
    skip = flagged.filter(flagged._skipped)
    time_columns = {stages[k]: f"t{k}" for k in range(n)}

    counts = {
        "out_of_order": _count(ooo.count()),
        "re_entries": _count(repeated.count()),
        "unknown_leads": _count(unknown.count()),
        "negative_durations": _count(negative.count()),
        "skipped_stages": _count(skip.count()),
        "undated_events": sum(int(row["events"]) for row in undated_by_source),
    }
    example_rows = {
        "out_of_order": _rows(
            ooo.select("lead_id", **{name: ooo[col] for name, col in time_columns.items()}).order_by("lead_id"),
            examples,
        ),
        "re_entries": _rows(
            repeated.select("lead_id", "stage", events=repeated._events).order_by(["lead_id", "stage"]), examples
        ),
        "unknown_leads": _rows(
            unknown.select("lead_id", "stage", "occurred_at").order_by(["lead_id", "occurred_at"]), examples
        ),
        "negative_durations": _rows(
            negative.select("lead_id", "created_at", first_event=negative._first).order_by("lead_id"), examples
        ),
        "skipped_stages": _rows(
            skip.select("lead_id", **{name: skip[col] for name, col in time_columns.items()}).order_by("lead_id"),
            examples,
        ),
        "undated_events": _rows(
            undated.select("lead_id", "stage", "occurred_at", "source").order_by(["lead_id", "stage"]), examples
        )
        if counts["undated_events"]
        else [],
    }

    cumulative = entry_table(leads, events, stages, strict=False, as_of=as_of)
    strict = entry_table(leads, events, stages, strict=True, as_of=as_of)
    volumes: list[dict[str, Any]] = []
    cum = cumulative.aggregate(
        **{f"c{k}": cumulative.count(where=cumulative[stage_column(k)].notnull()) for k in range(n)}
    )
    st = strict.aggregate(**{f"s{k}": strict.count(where=strict[stage_column(k)].notnull()) for k in range(n)})
    cum_row = cum.to_pyarrow().to_pylist()[0]
    st_row = st.to_pyarrow().to_pylist()[0]
    for k, stage in enumerate(stages):
        volumes.append(
            {
                "stage": stage,
                "cumulative": int(cum_row[f"c{k}"]),
                "strict": int(st_row[f"s{k}"]),
                "dropped_by_strict": int(cum_row[f"c{k}"]) - int(st_row[f"s{k}"]),
            }
        )

    extra_entries = _count(repeated._events.sum() - repeated.count()) if counts["re_entries"] else 0
    dropped = sum(int(v["dropped_by_strict"]) for v in volumes)
    effects = {
        "out_of_order": f"cumulative mode moves these leads' earlier stages to the later stage's time (these are "
        f"the only leads it moves); strict mode drops {dropped:,} stage entries in all, these leads' and the "
        "skipped stages' (see strict_vs_cumulative)",
        "re_entries": f"counting every entry instead of the first would add {extra_entries:,} entries",
        "unknown_leads": "these events are in no metric until their leads are imported",
        "negative_durations": f"{counts['negative_durations']:,} leads are placed at their first event, "
        "before their created_at, so they may count in an earlier period",
        "skipped_stages": "cumulative mode counts the skipped stages as passed; strict mode stops these leads "
        "at the stage before the gap",
        "undated_events": "; ".join(
            f"{row['events']:,} from {row['source']!r}, for {row['leads']:,} leads" for row in undated_by_source
        )
        + (
            ": each is dated at its lead's creation (or, when later, at the lead's last dated event), so the "
            "stage counts are right but the days between stages and the period a stage is counted in are not"
            if undated_by_source
            else ""
        )
        + (
            f"{'; ' if undated_by_source else ''}{superseded:,} {'more ' if undated_by_source else ''}left out: "
            "their leads have dated events for the same or a later stage, which win"
            if superseded
            else ""
        ),
    }
    return QualityReport(counts=counts, examples=example_rows, strict_vs_cumulative=volumes, effects=effects)
