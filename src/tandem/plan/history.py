"""The funnel model estimated from a workspace's history, with the same engine as every funnel number.

For each step k -> k+1 of the definitions in force (stage events or rules, cumulative counting):

- **the rate** is the share of a **mature cohort** that reached k+1 within the horizon: the leads that entered k
  in the `lookback` days ending `horizon` days before as-of, so every one of them has had the whole horizon to
  convert (recent leads, still in flight, would read as lost). It keeps its counts, so the plan's ranges reflect
  how many leads it rests on;
- **the lag** is the empirical distribution of the days from k to k+1 of the converted leads of that cohort;
- **the deal size** is the mean amount of the opportunities won in the `lookback` days before as-of, with its
  standard error;
- **what leads cost**, per channel: spend in the `lookback` days before as-of divided by the leads the channel
  brought in that time (and by its entries to the second stage), and each channel's share of those leads: the
  channel mix the budget is split by.

A conversion slower than the horizon is not counted (the rate reads a little low); the horizon is a parameter
(default 180 days). `where` narrows the leads to one segment, channel or region (``{"segment": "enterprise"}``)
for a model of that part of the business.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import ibis
import ibis.expr.types as ir
import numpy as np

from tandem.attribution.journeys import JourneySpec, journey_table
from tandem.attribution.model import AttributionModel
from tandem.engine.entries import check_columns, days_between, entry_table, stage_column
from tandem.engine.spec import as_of_or_now
from tandem.engine.usable import usable
from tandem.errors import ConfigError
from tandem.plan.model import FunnelModel, Lag, Rate, Step
from tandem.plan.waterfall import ChannelCost

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext

__all__ = ["DEFAULT_HORIZON_DAYS", "DEFAULT_LOOKBACK_DAYS", "channel_costs", "model_from_history"]

DEFAULT_LOOKBACK_DAYS = 365
DEFAULT_HORIZON_DAYS = 180


def model_from_history(
    ws: DefinitionsContext,
    *,
    as_of: datetime | None = None,
    lookback_days: int = DEFAULT_LOOKBACK_DAYS,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    where: Mapping[str, str] | None = None,
) -> FunnelModel:
    """The model of the workspace's funnel from its history (module docs); `ConfigError` when a step has no data."""
    moment = as_of_or_now(as_of)
    in_force = ws.definitions_in_force(moment)
    stages = in_force.definitions.stage_names
    leads = _leads(ws, where)
    events = ws.stage_events(in_force.definitions, moment)
    entries = entry_table(leads, events, stages, strict=False, as_of=moment)
    cutoff = moment - timedelta(days=horizon_days)
    start = cutoff - timedelta(days=lookback_days)
    horizon = ibis.literal(float(horizon_days), type="float64")

    counts: dict[str, ir.Value] = {}
    for k in range(len(stages) - 1):
        entered, following = entries[stage_column(k)], entries[stage_column(k + 1)]
        in_cohort = (entered >= ibis.literal(start, type="timestamp")) & (
            entered < ibis.literal(cutoff, type="timestamp")
        )
        converted = in_cohort & following.notnull() & (days_between(entered, following) <= horizon)
        counts[f"cohort_{k}"] = entries.lead_id.count(where=in_cohort)
        counts[f"converted_{k}"] = entries.lead_id.count(where=converted)
    found = entries.aggregate(**counts).to_pyarrow().to_pylist()[0]

    steps: list[Step] = []
    notes: list[str] = []
    for k in range(len(stages) - 1):
        cohort, converted = int(found[f"cohort_{k}"] or 0), int(found[f"converted_{k}"] or 0)
        step_name = f"{stages[k]} -> {stages[k + 1]}"
        if cohort == 0 or converted == 0:
            raise ConfigError(
                f"no {'leads' if cohort == 0 else 'conversions'} to estimate {step_name} from: "
                f"{cohort} leads entered {stages[k]} between {start:%Y-%m-%d} and {cutoff:%Y-%m-%d} and {converted} "
                f"of them reached {stages[k + 1]} within {horizon_days} days; give the rate and lag by hand "
                f"({stages[k]}:{stages[k + 1]}=R and {stages[k]}:{stages[k + 1]}=DAYS) or a longer lookback"
            )
        entered, following = entries[stage_column(k)], entries[stage_column(k + 1)]
        gap = days_between(entered, following)
        lagged = entries.filter(
            entered >= ibis.literal(start, type="timestamp"),
            entered < ibis.literal(cutoff, type="timestamp"),
            following.notnull(),
            gap <= horizon,
        ).select(days=gap)
        samples = lagged.to_pyarrow().column("days").to_numpy()
        steps.append(Step(stages[k], stages[k + 1], Rate.from_counts(converted, cohort), Lag.from_samples(samples)))
        if cohort < 30:
            notes.append(f"{step_name} rests on {cohort} leads: its range is wide")
    deal_size, deal_se, deal_sd, deals = _deal_size(ws, moment, lookback_days, where)
    basis = (
        f"history as of {moment:%Y-%m-%d}: cohorts entering each stage {start:%Y-%m-%d} to {cutoff:%Y-%m-%d}, "
        f"converting within {horizon_days} days; deal size of {deals} deals won in the {lookback_days} days before"
        + (f"; leads where {', '.join(f'{k} = {v}' for k, v in where.items())}" if where else "")
        + f"; definitions version {in_force.version}"
    )
    return FunnelModel(
        stages=tuple(stages),
        steps=tuple(steps),
        deal_size=deal_size,
        deal_size_se=deal_se,
        deal_size_sd=deal_sd,
        basis=basis,
        notes=tuple(notes),
    )


def channel_costs(
    ws: DefinitionsContext, *, as_of: datetime | None = None, lookback_days: int = DEFAULT_LOOKBACK_DAYS
) -> list[ChannelCost]:
    """Each channel's share of the leads created in the lookback, and its spend per lead and per second-stage entry.

    A lead counts under the channel that sourced it by the approved attribution model's rule (docs/attribution.md):
    the channel of its first touch (``sourced_by: first_touch``; a lead with no touch before it was created counts
    under its own channel), else, and when no model is approved, the lead's own ``channel``. Each cost says which
    (``basis``). Channels with leads but no spend have no cost (None); leads without a channel count as "(none)".
    """
    moment = as_of_or_now(as_of)
    start = moment - timedelta(days=lookback_days)
    in_force = ws.definitions_in_force(moment)
    stages = in_force.definitions.stage_names
    leads = ws.warehouse.table("leads")
    approved = in_force.definitions.attribution
    basis = "the lead's channel"
    if approved is not None and approved.sourced_by == "first_touch":
        leads, basis = (
            _first_touch_channels(ws, leads, approved, moment),
            (f"the first touch (the approved attribution model, definitions version {in_force.version})"),
        )
    elif approved is not None:
        basis = f"the lead's channel (the approved attribution model, definitions version {in_force.version})"
    entries = entry_table(leads, ws.stage_events(in_force.definitions, moment), stages, strict=False, as_of=moment)
    created = entries.filter(
        entries.created_at >= ibis.literal(start, type="timestamp"),
        entries.created_at < ibis.literal(moment, type="timestamp"),
    )
    channel = created.channel.fill_null("(none)")
    second = created[stage_column(1)]
    counted = created.group_by(channel=channel).aggregate(
        leads=created.lead_id.count(),
        second=created.lead_id.count(where=second.notnull() & (second < ibis.literal(moment, type="timestamp"))),
    )
    spend = usable(ws.warehouse.table("spend"), "spend")
    spent_rows = spend.filter(
        spend.date >= ibis.literal(start.date(), type="date"), spend.date < ibis.literal(moment.date(), type="date")
    )
    spent = spent_rows.group_by(channel=spent_rows.channel.fill_null("(none)")).aggregate(
        amount=spent_rows.amount.sum().cast("float64")
    )
    rows = counted.to_pyarrow().to_pylist()
    spent_by = {row["channel"]: row["amount"] for row in spent.to_pyarrow().to_pylist()}
    total = sum(row["leads"] for row in rows)
    if total == 0:
        raise ConfigError(f"no leads were created in the {lookback_days} days before {moment:%Y-%m-%d}")
    costs = []
    for row in sorted(rows, key=lambda r: (-r["leads"], r["channel"])):
        amount = spent_by.get(row["channel"])
        costs.append(
            ChannelCost(
                channel=row["channel"],
                share=row["leads"] / total,
                cost_per_lead=amount / row["leads"] if amount is not None else None,
                cost_per_second_stage=amount / row["second"] if amount is not None and row["second"] else None,
                basis=basis,
            )
        )
    return costs


def _first_touch_channels(
    ws: DefinitionsContext, leads: ibis.Table, model: AttributionModel, moment: datetime
) -> ibis.Table:
    """`leads` with ``channel`` replaced by the channel of each lead's first touch (its journey up to its creation,
    under the model's lookback and repeats), where it has one."""
    spec = JourneySpec("leads", "lead", model.lookback_days, model.collapse_repeats)
    journeys = journey_table(ws.warehouse, spec, moment)
    firsts = journeys.filter(journeys.position == 0).select(_ft_lead=journeys.conversion_id, _ft=journeys.channel)
    joined = leads.left_join(firsts, leads.lead_id == firsts._ft_lead)
    return joined.mutate(channel=joined._ft.fill_null(joined.channel)).drop("_ft_lead", "_ft")


def _leads(ws: DefinitionsContext, where: Mapping[str, str] | None) -> ibis.Table:
    leads = ws.warehouse.table("leads")
    if not where:
        return leads
    check_columns(leads, list(where), "filter")
    return leads.filter(*(leads[column] == ibis.literal(value) for column, value in where.items()))


def _deal_size(
    ws: DefinitionsContext, as_of: datetime, lookback_days: int, where: Mapping[str, str] | None
) -> tuple[float, float | None, float | None, int]:
    """The mean won amount over the lookback (by close date, else creation), its standard error, the standard
    deviation of single deals, and how many deals."""
    opportunities = usable(ws.warehouse.table("opportunities"), "opportunities")
    closed = opportunities.close_date.cast("timestamp").fill_null(opportunities.created_at)
    won = opportunities.filter(
        opportunities.status == "won",
        opportunities.amount.notnull(),
        closed >= ibis.literal(as_of - timedelta(days=lookback_days), type="timestamp"),
        closed <= ibis.literal(as_of, type="timestamp"),
    )
    if where:
        leads = _leads(ws, where).select(_lead=ibis._.lead_id)
        won = won.filter(won.lead_id.isin(leads._lead))
    amounts = won.select(amount=won.amount.cast("float64")).to_pyarrow().column("amount").to_numpy()
    if len(amounts) == 0:
        raise ConfigError(
            f"no deal won with an amount in the {lookback_days} days before {as_of:%Y-%m-%d}: "
            "give the deal size by hand"
        )
    mean = float(np.mean(amounts))
    sd = float(np.std(amounts, ddof=1)) if len(amounts) > 1 else None
    se = sd / float(np.sqrt(len(amounts))) if sd is not None else None
    return mean, se, sd, len(amounts)
