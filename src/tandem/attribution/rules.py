"""The rule-based models: each touch's share of its journey's credit, computed in the warehouse.

Each journey's shares add up to 1 (docs/attribution.md, "Models"):

- **Position models** (first touch, last touch, U-, W-shaped, full path, custom) give each milestone touch its
  weight (`PositionWeights`); a touch that is two milestones takes both. The ``between`` weight is shared equally
  by the touches after the first touch and before the last milestone the model weighs (for full path and last
  touch, the last touch; for W-shaped, the opportunity's touch). Touches after that milestone take nothing. A
  milestone the journey lacks leaves its weight to the others: the weights present are scaled back to 100 %
  (U-shaped with two touches is 50/50; W-shaped with the lead's and the opportunity's touch the same is 1/3, 2/3).
- **Linear**: every touch equally.
- **Last non-direct**: the last touch on a channel that is not direct traffic; the last touch when all are.
- **Time decay**: weight halves with every half-life between the touch and the outcome, then scaled to 100 %.

A journey whose weights are all zero (a custom model weighing only milestones it lacks) is split linearly: a
credit is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence

import ibis
import ibis.expr.types as ir

from tandem.attribution.model import PositionWeights, model_weights
from tandem.engine.entries import seconds_between

__all__ = ["credited", "touch_weights", "with_shares"]


def _positions(journeys: ir.Table, weights: PositionWeights) -> ir.FloatingValue:
    """Raw position weights of each touch (not yet scaled to the journey's 100 %)."""
    pos = journeys.position
    last = journeys.touches - 1
    milestones: list[tuple[float, ir.IntegerValue]] = [
        (weights.first, ibis.literal(0, type="int64")),
        (weights.lead, journeys.lead_position),
        (weights.opportunity, journeys.opp_position),
        (weights.last, last),
    ]
    raw: ir.FloatingValue = ibis.literal(0.0, type="float64")
    weighed: list[ir.IntegerValue] = []
    for share, where in milestones:
        if share:
            raw = raw + ibis.cases((pos == where, ibis.literal(share, type="float64")), else_=0.0)
            weighed.append(where)
    if not weights.between or not weighed:
        return raw
    furthest = ibis.greatest(*weighed) if len(weighed) > 1 else weighed[0]
    is_milestone = ibis.or_(*((pos == where).fill_null(False) for where in weighed))
    between = (pos > 0) & (pos < furthest.fill_null(0)) & ~is_milestone
    whole = ibis.window(group_by=journeys.conversion_id)
    count = ibis.cases((between, 1), else_=0).sum().over(whole)  # PostgreSQL casts no boolean to a number
    share = ibis.literal(weights.between, type="float64") / count.cast("float64")
    return raw + ibis.cases((between, share), else_=0.0)


def touch_weights(
    journeys: ir.Table,
    model: str,
    *,
    weights: PositionWeights | None = None,
    half_life_days: float = 7.0,
    direct_channels: Sequence[str] = ("direct",),
    outcome: str = "revenue",
) -> ir.FloatingValue:
    """Raw weight of each touch under `model` (scaled to the journey's total by `credited`)."""
    if model == "linear":
        return ibis.literal(1.0, type="float64")
    if model == "last_non_direct":
        whole = ibis.window(group_by=journeys.conversion_id)
        indirect = ~journeys.channel.isin(list(direct_channels)) if direct_channels else ibis.literal(True)
        chosen = ibis.cases((indirect, journeys.position), else_=ibis.null("int64")).max().over(whole)
        target = chosen.fill_null(journeys.touches - 1)
        return ibis.cases((journeys.position == target, 1.0), else_=0.0).cast("float64")
    if model == "time_decay":
        end = journeys.at + ibis.interval(days=1) if outcome == "revenue" else journeys.at
        age = seconds_between(journeys.occurred_at, end).cast("float64")
        half_life = ibis.literal(half_life_days * 86400.0, type="float64")
        return ibis.literal(0.5, type="float64").pow(age / half_life)
    positions = model_weights(model, weights)
    if positions is None:
        raise ValueError(f"{model!r} is not a rule-based attribution model")
    return _positions(journeys, positions)


def credited(
    journeys: ir.Table,
    model: str,
    *,
    weights: PositionWeights | None = None,
    half_life_days: float = 7.0,
    direct_channels: Sequence[str] = ("direct",),
    outcome: str = "revenue",
) -> ir.Table:
    """`journeys` (`tandem.attribution.journeys.journey_table`) with ``share``: each touch's part of its journey's
    credit under `model`, adding up to 1 per journey, and ``credit``: that part of the outcome's value."""
    shared = with_shares(
        journeys,
        {"share": model},
        weights=weights,
        half_life_days=half_life_days,
        direct_channels=direct_channels,
        outcome=outcome,
    )
    return shared.mutate(credit=shared.share * shared.value)


def with_shares(
    journeys: ir.Table,
    models: dict[str, str],
    *,
    weights: PositionWeights | None = None,
    half_life_days: float = 7.0,
    direct_channels: Sequence[str] = ("direct",),
    outcome: str = "revenue",
) -> ir.Table:
    """`journeys` with one share column per entry of `models` (column name -> model), each adding up to 1 per
    journey: several models in one pass over the journeys (the comparison's)."""
    raws = {
        f"_raw_{name}": touch_weights(
            journeys,
            model,
            weights=weights,
            half_life_days=half_life_days,
            direct_channels=direct_channels,
            outcome=outcome,
        ).fill_null(0.0)
        for name, model in models.items()
    }
    weighed = journeys.mutate(**raws)
    whole = ibis.window(group_by=weighed.conversion_id)
    even = ibis.literal(1.0, type="float64") / weighed.touches.cast("float64")
    shares = {}
    for name in models:
        raw = weighed[f"_raw_{name}"]
        total = raw.sum().over(whole)
        shares[name] = ibis.cases((total > 0, raw / total), else_=even)
    return weighed.mutate(**shares).drop(*raws)
