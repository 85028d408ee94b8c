"""Credit by channel or campaign (and period): the rule-based models' answer, adding up to the outcomes exactly.

`credit_table` sums each touch's share (`tandem.attribution.rules.credited`) by the item it was on, with the
outcomes that had no touch as `NO_TOUCH`: its ``conversions`` add up to the number of outcomes and its ``value`` to
their value, on every model, so two models never disagree on the total, only on how it is split.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from tandem.attribution.journeys import NO_TOUCH, JourneySource, JourneySpec, journey_table, untouched
from tandem.attribution.model import AttributionModel
from tandem.attribution.rules import credited
from tandem.warehouse.backends import IMPORT_LOG

if TYPE_CHECKING:
    import pyarrow as pa

    from tandem.engine.compiled import QueryTarget

__all__ = ["BY", "PERIOD_UNITS", "READS", "credit_table", "fetch", "touch_credit_table"]

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
    ``conversions`` (outcomes credited) and ``value`` (their value credited). Outcomes placed in [start, end) only,
    when given."""
    touches = touch_credit_table(source, spec, model, as_of, kind=kind)
    bare = untouched(source, spec, as_of, journey_table(source, spec, as_of))

    def placed(table: ir.Table) -> ir.Table:
        if start is not None:
            table = table.filter(table.at >= ibis.literal(start, type="timestamp"))
        if end is not None:
            table = table.filter(table.at < ibis.literal(end, type="timestamp"))
        return table

    touches, bare = placed(touches), placed(bare)
    shares = touches.select(item=touches[BY[by]], at=touches.at, conversions=touches.share, value=touches.credit).union(
        bare.select(
            item=ibis.literal(NO_TOUCH),
            at=bare.at,
            conversions=ibis.literal(1.0, type="float64"),
            value=bare.value,
        ),
        distinct=False,
    )
    keys: list[ir.Value] = [shares.item]
    if period is not None:
        keys.append(shares.at.truncate(PERIOD_UNITS[period]).cast("date").name("period"))
    return shares.group_by(keys).aggregate(conversions=shares.conversions.sum(), value=shares.value.sum())


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
