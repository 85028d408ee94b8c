"""What was known at a moment: the one rule every as-of view of opportunities follows (`known_at`, `as_seen`).

Why: the warehouse keeps only the latest values of each row. A deal open on a past day but won since holds its
CRM stage, amount and close date as they are today (Maven's CRM even records the amount only at close), so a view
of that day built from them sees the future: "open" deals in stage Won, an open pipeline that is what they won
later. The DESIGN's rule is that as of a moment, only what was known then is seen.

How this works. Each row carries ``_import_id``, the import that last wrote it (an import rewrites a row only when
one of its values changed), and the imports log says when that import ran (``finished_at``: the moment its values
were in the warehouse). So a row's values are known at moment t when the import that last wrote them finished at or
before t (`known_at`). As of t (`as_seen`):

- a deal created after t does not exist yet;
- a deal won or lost by t (its close date at 00:00 UTC, else its creation, is at or before t) keeps its status,
  close date and amount: closing is recorded, whenever the row was written;
- a deal still open at t (created by t, not closed by t) whose row was written later has an unknown CRM stage,
  amount and close date: they are null, never filled from today's values, and ``_known`` is false.

On Spark the log is the folder's ``import_log.parquet``, which `Warehouse.export_parquet` writes. A row with no
entry in the log (Parquet written elsewhere without one, or rows written by hand without an import) has no record
of when it was written: it is taken as known, which is what every
as-of view did before this rule. A moment after the last import sees today's values unchanged.

The rule is one Ibis expression, so it runs in the warehouse on every backend; the moment reaches the SQL only as a
timestamp literal, which the compiled-query machinery rebinds (`tandem.engine.compiled`).
"""

from __future__ import annotations

from datetime import datetime

import ibis
import ibis.expr.types as ir

__all__ = ["as_seen", "known_at", "written_at"]


def written_at(imports: ir.Table) -> ir.Table:
    """Each import's id and the moment its values were in the warehouse: ``_log_import_id``, ``_written_at``.

    One row per id (the log has one per import; grouping makes a join on it unable to multiply deals).
    """
    return imports.group_by(_log_import_id=imports.import_id).aggregate(
        _written_at=imports.finished_at.cast("timestamp").max()
    )


def known_at(table: ir.Table, imports: ir.Table | None, as_of: datetime) -> ir.Table:
    """`table` plus ``_known``: whether its row's values were known at `as_of` (the module's rule).

    `imports` is the imports log (``import_id``, ``finished_at``); None for a warehouse that has none, where every
    row is taken as known.
    """
    if imports is None or "_import_id" not in table.columns:
        return table.mutate(_known=ibis.literal(True))
    when = ibis.literal(as_of, type="timestamp")
    log = written_at(imports)
    joined = table.left_join(log, table._import_id == log._log_import_id)
    known = joined._written_at.isnull() | (joined._written_at <= when)
    return joined.mutate(_known=known).drop("_log_import_id", "_written_at")


def as_seen(opportunities: ir.Table, imports: ir.Table | None, as_of: datetime) -> ir.Table:
    """Opportunities as they stood at `as_of` (the module's rule), with ``stage``, ``amount`` and ``close_date``
    null where they were not known then.

    Adds ``_status`` (won, lost or open at `as_of`), ``_at`` (where the deal is placed in time: its close for a deal
    closed by then, else its creation) and ``_known`` (false for an open deal whose values then are unknown).
    """
    when = ibis.literal(as_of, type="timestamp")
    table = opportunities.filter(opportunities.created_at <= when)
    table = known_at(table, imports, as_of)
    closed_at = table.close_date.cast("timestamp").fill_null(table.created_at)
    closed = table.status.isin(["won", "lost"]) & (closed_at <= when)
    known = closed | table._known
    masked: dict[str, ir.Value] = {
        column: ibis.cases((known, table[column]), else_=ibis.null(table[column].type()))
        for column in ("stage", "amount", "close_date")
        if column in table.columns
    }
    return table.mutate(
        _status=ibis.cases((closed, table.status), else_=ibis.literal("open")),
        _at=ibis.cases((closed, closed_at), else_=table.created_at).cast("timestamp"),
        _known=known,
        **masked,
    )
