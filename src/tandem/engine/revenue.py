"""Revenue from opportunities: won revenue, deal size, win rate, sales cycle, and the open pipeline.

Deals are seen as they stood at `as_of`: won and lost deals are placed in time by their close date (created_at
when it is missing); open deals, and deals that closed after `as_of`, count as open and are placed by created_at
(docs/funnel-semantics.md, "Revenue"). A breakdown column comes from the opportunity itself, else from
its lead (through lead_id), so revenue splits by channel like the funnel does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import ibis
import ibis.expr.types as ir

from tandem.engine.entries import breakdown_aliases, days_between, named_breakdown
from tandem.engine.funnel import place
from tandem.engine.spec import FunnelSpec
from tandem.errors import ConfigError

__all__ = ["AGE_BINS", "pipeline_table", "revenue_table"]

#: Age bins of open pipeline, in days since the opportunity was created: [lower, upper).
AGE_BINS: tuple[tuple[int, int | None], ...] = ((0, 30), (30, 60), (60, 90), (90, 180), (180, None))


def _with_lead_columns(opportunities: ir.Table, leads: ir.Table, by: Sequence[str]) -> ir.Table:
    """Opportunities plus the breakdown columns they lack, taken from their lead."""
    from_leads = [c for c in by if c not in opportunities.columns]
    unknown = [c for c in from_leads if c not in leads.columns]
    if unknown:
        available = sorted({*opportunities.columns, *leads.columns} - {"_import_id"})
        raise ConfigError(f"unknown breakdown column(s) {', '.join(unknown)}; available: {', '.join(available)}")
    if not from_leads:
        return opportunities
    lookup = leads.select(_lead_key=leads.lead_id, **{c: leads[c] for c in from_leads})
    joined = opportunities.left_join(lookup, opportunities.lead_id == lookup._lead_key)
    return joined.drop("_lead_key")


def _as_seen(opportunities: ir.Table, as_of: datetime) -> ir.Table:
    """Opportunities as they stood at `as_of`: created by then; a deal closed later was still open.

    Adds ``_status`` (status at `as_of`) and ``_at`` (where it is placed in time: the close for a deal closed by
    then, else its creation).
    """
    when = ibis.literal(as_of, type="timestamp")
    table = opportunities.filter(opportunities.created_at <= when)
    closed_at = table.close_date.cast("timestamp").fill_null(table.created_at)
    closed = table.status.isin(["won", "lost"]) & (closed_at <= when)
    return table.mutate(
        _status=ibis.cases((closed, table.status), else_=ibis.literal("open")),
        _at=ibis.cases((closed, closed_at), else_=table.created_at).cast("timestamp"),
    )


def revenue_table(opportunities: ir.Table, leads: ir.Table, spec: FunnelSpec) -> ir.Table:
    """Per breakdown and period: won revenue and deals, lost deals, deal size, win rate, open pipeline, cycle."""
    table, by = breakdown_aliases(_with_lead_columns(opportunities, leads, spec.by), spec.by)
    table = _as_seen(table, spec.as_of)
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
        open_pipeline=amount.sum(where=is_open),
        open_deals=table.count(where=is_open),
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


def pipeline_table(opportunities: ir.Table, leads: ir.Table, by: Sequence[str], as_of: datetime) -> ir.Table:
    """Open pipeline at `as_of` by breakdown, CRM stage and age bin: deals and amount."""
    table, aliases = breakdown_aliases(_with_lead_columns(opportunities, leads, by), by)
    table = _as_seen(table, as_of)
    when = ibis.literal(as_of, type="timestamp")
    table = table.filter(table._status == "open")
    table = table.mutate(age_bin=_age_bin(days_between(table.created_at, when)))
    keys = [*aliases, "stage", "age_bin"]
    agg = table.group_by(keys).aggregate(deals=table.count(), amount=table.amount.fill_null(0.0).sum())
    result = agg.select(*keys, deals=agg.deals.cast("int64"), amount=agg.amount.cast("float64")).order_by(keys)
    return named_breakdown(result, by, aliases)
