"""Journeys aggregated to paths in the warehouse, for the data-driven models (`tandem.attribution.markov`,
`tandem.attribution.shapley`): each distinct path with how many journeys took it and converted, did not, and the
value the converted ones brought.

The models need the journeys that did not convert too (their absence is the open-source libraries' best-known
bug), so the candidates are:

- for revenue, the deals closed by the as-of moment: won ones converted, lost ones did not (a deal still open has
  not ended either way and is left out);
- for pipeline, the leads: those with an opportunity converted, at its creation; those without one did not, once
  they are `MATURE_DAYS` old (a younger lead may still turn into an opportunity, so it is left out).

Leads as the outcome have no data-driven model: every lead's journey ends in the lead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import ibis
import ibis.expr.types as ir

from tandem.attribution.credit import BY
from tandem.attribution.journeys import (
    JourneySource,
    JourneySpec,
    closed_by,
    deal_outcomes,
    journey_table,
    known_leads,
)
from tandem.engine.known import as_seen
from tandem.engine.usable import usable
from tandem.warehouse.backends import IMPORT_LOG

__all__ = ["MATURE_DAYS", "SEPARATOR", "candidate_table", "path_table"]

#: A lead without an opportunity counts as a journey that did not convert to pipeline once it is this old.
MATURE_DAYS = 90
#: Between a path's items in the warehouse's text (the ASCII unit separator: never in a channel's name).
SEPARATOR = "\x1f"
#: Digits of a position within a journey when paths are assembled (journeys have far fewer touches).
_DIGITS = 6


def candidate_table(source: JourneySource, outcome: str, as_of: datetime) -> ir.Table:
    """The journeys' ends, converted or not (module docs), with the columns of `outcome_table` and ``converted``."""
    when = ibis.literal(as_of, type="timestamp")
    if outcome == "revenue":
        closed = closed_by(source, as_of)
        won = closed._status == "won"
        value = ibis.cases((won, closed.amount.cast("float64")), else_=0.0).fill_null(0.0)
        return deal_outcomes(source, closed, as_of, at=closed._at, value=value, converted=won)
    if outcome != "pipeline":
        raise ValueError(f"the data-driven models credit revenue or pipeline, not {outcome}")
    leads = known_leads(source, as_of)
    deals = as_seen(usable(source.table("opportunities"), "opportunities"), source.table(IMPORT_LOG), as_of)
    firsts = deals.filter(deals.lead_id.notnull()).group_by(_first_lead=deals.lead_id)
    firsts = firsts.aggregate(
        _first_at=deals.created_at.cast("timestamp").min(), _first_value=deals.amount.cast("float64").sum()
    )
    joined = leads.left_join(firsts, leads._lead == firsts._first_lead)
    converted = joined._first_at.notnull()
    mature = joined._lead_created <= ibis.literal(as_of - timedelta(days=MATURE_DAYS), type="timestamp")
    joined = joined.filter(converted | mature)
    return joined.select(
        conversion_id=joined._lead,
        lead_id=joined._lead,
        account=joined._lead_account,
        value=ibis.cases((converted, joined._first_value.fill_null(0.0)), else_=0.0),
        at=ibis.cases((converted, joined._first_at), else_=when).cast("timestamp"),
        lead_created=joined._lead_created,
        opp_created=joined._first_at,
        start=joined._lead_created,
        converted=converted,
    )


def path_table(
    source: JourneySource,
    spec: JourneySpec,
    as_of: datetime,
    *,
    by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
) -> ir.Table:
    """Per distinct path (``path``: the items joined by `SEPARATOR`, in journey order): ``conversions``,
    ``non_conversions`` and ``value``. Candidates placed in [start, end) only, when given; journeys with no touch
    have no path and are left out (their credit is the report's `NO_TOUCH`)."""
    candidates = candidate_table(source, spec.outcome, as_of)
    if start is not None:
        candidates = candidates.filter(candidates.at >= ibis.literal(start, type="timestamp"))
    if end is not None:
        candidates = candidates.filter(candidates.at < ibis.literal(end, type="timestamp"))
    journeys = journey_table(source, spec, as_of, outcomes=candidates)
    # Each item behind its position, zero-padded, so sorting the collected texts orders them as the journey (Spark
    # has no ordered string aggregation); the prefix is cut off before joining.
    keyed = journeys.position.cast("string").lpad(_DIGITS, "0").concat(journeys[BY[by]])
    per_journey = journeys.group_by(journeys.conversion_id).aggregate(
        _items=keyed.collect(), converted=journeys.converted.any(), value=journeys.value.max()
    )
    per_journey = per_journey.mutate(
        path=per_journey._items.sort().map(lambda text: text.substr(_DIGITS)).join(SEPARATOR)
    ).drop("_items")
    won = per_journey.converted
    return per_journey.group_by(per_journey.path).aggregate(
        conversions=ibis.cases((won, 1), else_=0).sum().cast("float64"),
        non_conversions=ibis.cases((won, 0), else_=1).sum().cast("float64"),
        value=ibis.cases((won, per_journey.value), else_=0.0).sum(),
    )
