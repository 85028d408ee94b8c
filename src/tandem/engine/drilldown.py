"""Drill-down: the leads behind a number, as a table."""

from __future__ import annotations

from collections.abc import Mapping

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import check_columns, entry_table, stage_column
from tandem.engine.funnel import place
from tandem.engine.spec import FunnelSpec

__all__ = ["leads_table"]


def leads_table(
    leads: ir.Table,
    events: ir.Table,
    spec: FunnelSpec,
    stage: str,
    where: Mapping[str, str | None] | None = None,
    limit: int | None = 1000,
) -> ir.Table:
    """The leads that entered `stage` in the spec's range, matching `where` (column -> value; None: missing).

    Columns: the lead's own, then ``entered`` (its entry into the stage), ``next_stage_entered`` and ``period``
    when the spec has one, newest entry first.
    """
    k = spec.stage_index(stage)
    filters = dict(where or {})
    check_columns(leads, list(filters), "filter")
    entries = entry_table(leads, events, spec.stages, strict=spec.strict, as_of=spec.as_of)
    following = entries[stage_column(k + 1)] if k + 1 < len(spec.stages) else ibis.null("timestamp")
    rows = entries.mutate(
        entered=entries[stage_column(k)].cast("timestamp"), next_stage_entered=following.cast("timestamp")
    ).drop(*(stage_column(i) for i in range(len(spec.stages))))
    rows = rows.filter(rows.entered.notnull())
    for column, value in filters.items():
        rows = rows.filter(rows[column].isnull() if value is None else rows[column].cast("string") == value)
    rows, _keys = place(rows, rows.entered, spec, ())
    rows = rows.drop(*(c for c in rows.columns if c.startswith("_")))
    ordered = rows.order_by([ibis.desc("entered"), "lead_id"])
    return ordered.limit(limit) if limit is not None else ordered
