"""Credit by channel or campaign (and period): the rule-based models' answer, adding up to the outcomes exactly.

`credit_by_item` sums each touch's share (`tandem.attribution.rules.with_shares`) by the item it was on, each
outcome under the model of the stretch of time it happened in (`ModelStretch`), with the outcomes that had no
touch as `NO_TOUCH`: its ``conversions`` add up to the number of outcomes and its ``value`` to their value, on
every model, so two models never disagree on the total, only on how it is split. `credit_table` is the same for
one model over all time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple

import ibis
import ibis.expr.types as ir

from tandem.attribution.journeys import NO_TOUCH, JourneySource, JourneySpec, journey_table, outcome_table
from tandem.attribution.model import AttributionModel
from tandem.attribution.rules import credited, with_shares
from tandem.warehouse.backends import IMPORT_LOG

if TYPE_CHECKING:
    import pyarrow as pa

    from tandem.engine.compiled import QueryTarget

__all__ = [
    "BY",
    "PERIOD_UNITS",
    "READS",
    "ModelStretch",
    "StretchJourneys",
    "credit_by_item",
    "credit_table",
    "fetch",
    "journeys_under",
    "touch_credit_table",
    "union_all",
]

#: What credit is summed by: the touch's channel or its campaign.
BY = {"channel": "channel", "campaign": "campaign"}
PERIOD_UNITS = {"month": "M", "quarter": "Q", "year": "Y"}


def touch_credit_table(
    source: JourneySource, spec: JourneySpec, model: AttributionModel, as_of: datetime, *, kind: str | None = None
) -> ir.Table:
    """Every touch of every journey with its ``share`` and ``credit`` under `model` (its ``model`` field, unless
    `kind` names another rule-based model to use with the same settings): the drill-down's rows."""
    journeys = journey_table(source, spec, as_of)
    return credited(
        journeys,
        kind or model.model,
        weights=model.weights,
        half_life_days=model.half_life_days,
        direct_channels=model.direct_channels,
        outcome=spec.outcome,
    )


@dataclass(frozen=True)
class ModelStretch:
    """A definitions version, its attribution model (`DEFAULT_MODEL` when it approved none) and the stretch of time
    [start, end) it was in force (None: open-ended)."""

    version: int
    model: AttributionModel
    approved: bool
    start: datetime | None = None
    end: datetime | None = None


def credit_table(
    source: JourneySource,
    spec: JourneySpec,
    model: AttributionModel,
    as_of: datetime,
    *,
    by: str = "channel",
    period: str | None = None,
    kind: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> ir.Table:
    """Credit per `by` item (column ``item``) and, with `period`, per period of the outcome (``period``):
    ``conversions`` (outcomes credited) and ``value`` (their value credited), under `model` (or the rule-based
    model `kind` with its settings) on `spec`'s journeys. Outcomes placed in [start, end) only, when given."""
    settings = model.model_copy(
        update={
            "model": kind or model.model,
            "level": spec.level,
            "lookback_days": spec.lookback_days,
            "collapse_repeats": spec.collapse_repeats,
        }
    )
    whole = ModelStretch(version=0, model=settings, approved=True)
    return credit_by_item(source, [whole], as_of, outcome=spec.outcome, by=by, period=period, start=start, end=end)


def _clip(stretch: ModelStretch, start: datetime | None, end: datetime | None) -> tuple[Any, Any] | None:
    """The stretch within [start, end), or None when they do not overlap."""
    low = max((m for m in (stretch.start, start) if m is not None), default=None)
    high = min((m for m in (stretch.end, end) if m is not None), default=None)
    if low is not None and high is not None and low >= high:
        return None
    return low, high


def _placed(table: ir.Table, low: datetime | None, high: datetime | None) -> ir.Table:
    if low is not None:
        table = table.filter(table.at >= ibis.literal(low, type="timestamp"))
    if high is not None:
        table = table.filter(table.at < ibis.literal(high, type="timestamp"))
    return table


class StretchJourneys(NamedTuple):
    """One stretch's journeys (a row per touch), its outcomes, and the outcomes with no touch."""

    stretch: ModelStretch
    journeys: ir.Table
    outcomes: ir.Table
    untouched: ir.Table


def journeys_under(
    source: JourneySource,
    stretches: Sequence[ModelStretch],
    as_of: datetime,
    *,
    outcome: str,
    level: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> list[StretchJourneys]:
    """Per stretch overlapping [start, end): its journeys, its outcomes and those without a touch, each placed in
    the stretch (`level` overrides the models' own)."""
    found = []
    for stretch in stretches:
        bounds = _clip(stretch, start, end)
        if bounds is None:
            continue
        model = stretch.model
        spec = JourneySpec(outcome, level or model.level, model.lookback_days, model.collapse_repeats)
        journeys = _placed(journey_table(source, spec, as_of), *bounds)
        outcomes = _placed(outcome_table(source, outcome, as_of), *bounds)
        touched = journeys.select(_touched=journeys.conversion_id).distinct()
        bare = outcomes.anti_join(touched, outcomes.conversion_id == touched._touched)
        found.append(StretchJourneys(stretch, journeys, outcomes, bare))
    return found


def credit_by_item(
    source: JourneySource,
    stretches: Sequence[ModelStretch],
    as_of: datetime,
    *,
    outcome: str = "revenue",
    level: str | None = None,
    by: str = "channel",
    period: str | None = None,
    models: Sequence[str] = (),
    start: datetime | None = None,
    end: datetime | None = None,
) -> ir.Table:
    """Per item (and period): ``conversions`` and ``value`` credited by each stretch's model, then one
    ``value_<model>`` column per model of `models` (the comparison), each computed with that stretch's settings."""
    parts = []
    for stretch, journeys, _, bare in journeys_under(
        source, stretches, as_of, outcome=outcome, level=level, start=start, end=end
    ):
        model = stretch.model
        columns = {"_in_force": model.model, **{f"_m_{name}": name for name in models}}
        shared = with_shares(
            journeys,
            columns,
            weights=model.weights,
            half_life_days=model.half_life_days,
            direct_channels=model.direct_channels,
            outcome=outcome,
        )
        parts.append(
            shared.select(
                item=shared[BY[by]],
                at=shared.at,
                conversions=shared._in_force,
                value=shared._in_force * shared.value,
                **{f"value_{name}": shared[f"_m_{name}"] * shared.value for name in models},
            )
        )
        parts.append(
            bare.select(
                item=ibis.literal(NO_TOUCH),
                at=bare.at,
                conversions=ibis.literal(1.0, type="float64"),
                value=bare.value,
                **{f"value_{name}": bare.value for name in models},
            )
        )
    if not parts:
        parts.append(_empty(models))
    shares = union_all(parts)
    keys: list[ir.Value] = [shares.item]
    if period is not None:
        keys.append(shares.at.truncate(PERIOD_UNITS[period]).cast("date").name("period"))
    sums = {name: shares[name].sum() for name in shares.columns if name not in ("item", "at")}
    return shares.group_by(keys).aggregate(**sums)


def union_all(parts: Sequence[ir.Table]) -> ir.Table:
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]


def _empty(models: Sequence[str]) -> ir.Table:
    schema = {"item": "string", "at": "timestamp", "conversions": "float64", "value": "float64"}
    schema |= {f"value_{name}": "float64" for name in models}
    return ibis.memtable({name: [] for name in schema}, schema=schema)


#: The canonical tables every attribution query reads (with the imports log): the compiled query's key names them.
READS = ("leads", "opportunities", "touches")


def fetch(
    target: QueryTarget, kind: str, as_of: datetime, build: Callable[[datetime], ir.Table], shape: tuple[Any, ...]
) -> pa.Table:
    """`build`'s table as of `as_of`, to Arrow, its SQL compiled once per `shape` and reused with the moment swapped
    (`tandem.engine.compiled`: building and compiling the expression costs about as much as DuckDB running it).

    `shape` holds everything the SQL depends on besides the as-of moment (the models, the journeys' settings, the
    period bounds); a query that cannot be rebound is built and compiled each time."""
    from tandem.engine.compiled import cached_query, fetch_arrow
    from tandem.engine.spec import FunnelSpec

    spec = FunnelSpec(stages=("journey", "credit"), as_of=as_of)
    query = cached_query(f"attribution-{kind}", target, spec, lambda s: build(s.as_of), (*READS, IMPORT_LOG), shape)
    if query is None:
        table: pa.Table = target.con.to_pyarrow(build(as_of))
        return table
    return fetch_arrow(target, query.bind(target, spec), query)
