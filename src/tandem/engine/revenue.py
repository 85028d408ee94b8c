"""Revenue from opportunities: won revenue, deal size, win rate, sales cycle, and the open pipeline.

Deals are seen as they stood at `as_of`: won and lost deals are placed in time by their close date (created_at
when it is missing); open deals, and deals that closed after `as_of`, count as open and are placed by created_at
(docs/funnel-semantics.md, "Revenue"). An open deal's CRM stage and amount are those known at `as_of`: unknown
(null, and left out of the open pipeline's value) when its row was written by a later import, never today's
(`tandem.engine.known`, docs/funnel-semantics.md, "As of a past day"). A breakdown column comes from the
opportunity itself, else from its lead (through lead_id), so revenue splits by channel like the funnel does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import breakdown_aliases, days_between, named_breakdown
from tandem.engine.funnel import place
from tandem.engine.known import as_seen
from tandem.engine.spec import FunnelSpec
from tandem.engine.usable import usable
from tandem.errors import ConfigError

__all__ = ["AGE_BINS", "pipeline_table", "revenue_table"]

#: Age bins of open pipeline, in days since the opportunity was created: [lower, upper).
AGE_BINS: tuple[tuple[int, int | None], ...] = ((0, 30), (30, 60), (60, 90), (90, 180), (180, None))


def _with_lead_columns(opportunities: ir.Table, leads: ir.Table, by: Sequence[str]) -> ir.Table:
    """Opportunities plus the breakdown columns they lack, taken from their lead."""
    from_leads = [c for c in by if c not in opportunities.columns]
    unknown = [c for c in from_leads if c not in leads.columns]
    if unknown:
        available = sorted(c for c in {*opportunities.columns, *leads.columns} if not c.startswith("_"))
        raise ConfigError(f"unknown breakdown column(s) {', '.join(unknown)}; available: {', '.join(available)}")
    if not from_leads:
        return opportunities
    lookup = leads.select(_lead_key=leads.lead_id, **{c: leads[c] for c in from_leads})
    joined = opportunities.left_join(lookup, opportunities.lead_id == lookup._lead_key)
    return joined.drop("_lead_key")


def revenue_table(
    opportunities: ir.Table, leads: ir.Table, spec: FunnelSpec, *, imports: ir.Table | None = None
) -> ir.Table:
    """Per breakdown and period: won revenue and deals, lost deals, deal size, win rate, open pipeline, cycle.

    `imports` is the imports log, which says when each row's values were known (`tandem.engine.known`); an open
    deal whose amount then is unknown is counted in ``open_deals`` and ``open_unknown_amount_deals``, not in
    ``open_pipeline``.
    """
    # Seen as of then before the breakdown is copied: a breakdown by `stage` groups by the stage known then. A deal
    # holding a value no figure can use is left out (tandem.engine.usable).
    seen = as_seen(usable(opportunities, "opportunities"), imports, spec.as_of)
    table, by = breakdown_aliases(_with_lead_columns(seen, leads, spec.by), spec.by)
    table, keys = place(table, table._at, spec, by)
    won = table._status == "won"
    lost = table._status == "lost"
    is_open = table._status == "open"
    amount = table.amount.fill_null(0.0)
    cycle = days_between(table.created_at, table.close_date.cast("timestamp"))
    grouped = table.group_by(keys) if keys else table
    agg = grouped.aggregate(
        won_revenue=amount.sum(where=won),
        won_deals=table.count(where=won),
        lost_deals=table.count(where=lost),
        open_pipeline=amount.sum(where=is_open & table._known),
        open_deals=table.count(where=is_open),
        open_unknown_amount_deals=table.count(where=is_open & ~table._known),
        median_sales_cycle_days=cycle.quantile(0.5, where=won & table.close_date.notnull()),
        mean_sales_cycle_days=cycle.mean(where=won & table.close_date.notnull()),
    )
    closed = (agg.won_deals + agg.lost_deals).cast("float64")
    result = agg.select(
        *keys,
        won_revenue=agg.won_revenue.fill_null(0.0).cast("float64"),
        won_deals=agg.won_deals.cast("int64"),
        lost_deals=agg.lost_deals.cast("int64"),
        average_deal_size=ibis.cases(
            (agg.won_deals > 0, agg.won_revenue.cast("float64") / agg.won_deals.cast("float64")),
            else_=ibis.null("float64"),
        ),
        win_rate=ibis.cases((closed > 0, agg.won_deals.cast("float64") / closed), else_=ibis.null("float64")),
        open_pipeline=agg.open_pipeline.fill_null(0.0).cast("float64"),
        open_deals=agg.open_deals.cast("int64"),
        open_unknown_amount_deals=agg.open_unknown_amount_deals.cast("int64"),
        median_sales_cycle_days=agg.median_sales_cycle_days.cast("float64"),
        mean_sales_cycle_days=agg.mean_sales_cycle_days.cast("float64"),
    )
    return named_breakdown(result.order_by(keys) if keys else result, spec.by, by)


def _age_bin(age: ir.FloatingValue) -> ir.StringValue:
    branches = []
    for lower, upper in AGE_BINS:
        label = f"{lower}-{upper}" if upper is not None else f"{lower}+"
        condition = age >= float(lower) if upper is None else (age >= float(lower)) & (age < float(upper))
        branches.append((condition, ibis.literal(label)))
    return ibis.cases(*branches, else_=ibis.null("string"))


def pipeline_table(
    opportunities: ir.Table,
    leads: ir.Table,
    by: Sequence[str],
    as_of: datetime,
    *,
    imports: ir.Table | None = None,
) -> ir.Table:
    """Open pipeline at `as_of` by breakdown, CRM stage and age bin: deals, amount, and deals whose stage and
    amount then are unknown (`tandem.engine.known`).

    Those deals have stage null (a bucket of their own, shared only with known deals that have no stage) and
    count in ``deals`` and ``unknown_deals``, not in ``amount``; a row with no known deal has amount null.
    """
    seen = as_seen(usable(opportunities, "opportunities"), imports, as_of)
    table, aliases = breakdown_aliases(_with_lead_columns(seen, leads, by), by)
    when = ibis.literal(as_of, type="timestamp")
    table = table.filter(table._status == "open")
    table = table.mutate(age_bin=_age_bin(days_between(table.created_at, when)))
    keys = [*aliases, "stage", "age_bin"]
    agg = table.group_by(keys).aggregate(
        deals=table.count(),
        amount=table.amount.fill_null(0.0).sum(where=table._known),
        unknown_deals=table.count(where=~table._known),
    )
    result = agg.select(
        *keys,
        deals=agg.deals.cast("int64"),
        amount=agg.amount.cast("float64"),
        unknown_deals=agg.unknown_deals.cast("int64"),
    ).order_by(keys)
    return named_breakdown(result, by, aliases)
