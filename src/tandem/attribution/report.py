"""Attribution as a report: credit under the model in force, every rule-based model side by side, and what each
channel or campaign sourced and influenced.

Which model credits an outcome: the approved model of the definitions version in force when the outcome happened
(its close, for revenue). A new model never restates the quarters before it, as a new stage rule does not: the
caller gives the stretches of time each version was in force (`ModelStretch`). A version without an
``attribution:`` section uses `DEFAULT_MODEL`, and the report says that no model was approved.

Sourced: the whole outcome to the channel that sourced it (the first touch of its journey, or the lead's own
channel, as the approved model's ``sourced_by`` says). Influenced: the whole outcome to every channel with a touch
in its journey, so influenced figures overlap and do not add up; sourced and credited ones do.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir

from tandem.attribution.aggregate import SEPARATOR, path_table
from tandem.attribution.credit import BY, ModelStretch, journeys_under, union_all
from tandem.attribution.journeys import NO_TOUCH, UNKNOWN, JourneySource, JourneySpec
from tandem.attribution.markov import markov_attribution
from tandem.attribution.model import RULE_MODELS, AttributionModel
from tandem.attribution.paths import Credit, PathCounts
from tandem.attribution.rules import with_shares
from tandem.attribution.shapley import shapley_attribution

__all__ = [
    "DEFAULT_MODEL",
    "DataDriven",
    "comparison_models",
    "credit_behind",
    "data_driven",
    "model_stretches",
    "sourced_and_influenced",
    "with_level",
]

#: The model used where no version of the definitions has approved one: W-shaped, the B2B standard that weighs
#: the three moments both sides care about (first touch, lead, opportunity), at the opportunity level.
DEFAULT_MODEL = AttributionModel()


class _Version(Protocol):
    @property
    def version(self) -> int: ...

    @property
    def definitions(self) -> Any: ...


class _Stretch(Protocol):
    """A definitions version and the stretch it counts (`tandem.definitions.counting.Stretch`)."""

    @property
    def version(self) -> _Version: ...

    @property
    def start(self) -> datetime | None: ...

    @property
    def end(self) -> datetime | None: ...


def model_stretches(stretches: Sequence[_Stretch]) -> list[ModelStretch]:
    """The definitions' stretches (a `Counting`'s) as the attribution models in force: each version's approved
    model, or `DEFAULT_MODEL` where it approved none."""
    found = []
    for stretch in stretches:
        model = stretch.version.definitions.attribution
        found.append(
            ModelStretch(
                version=stretch.version.version,
                model=model or DEFAULT_MODEL,
                approved=model is not None,
                start=stretch.start,
                end=stretch.end,
            )
        )
    return found


def sourced_and_influenced(
    source: JourneySource,
    stretches: Sequence[ModelStretch],
    as_of: datetime,
    *,
    outcome: str = "revenue",
    level: str | None = None,
    by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[ir.Table, ir.Table]:
    """Per item: the outcomes it sourced (``sourced``, ``sourced_value``), and the outcomes it influenced
    (``influenced``, ``influenced_value``: any touch in the journey, counted once per outcome and item)."""
    sourced_parts, influenced_parts = [], []
    leads = source.table("leads").select(_sl=lambda t: t.lead_id, _sl_channel=lambda t: t.channel)
    for stretch, journeys, outcomes, bare in journeys_under(
        source, stretches, as_of, outcome=outcome, level=level, start=start, end=end
    ):
        items = journeys.select(conversion_id=journeys.conversion_id, item=journeys[BY[by]], value=journeys.value)
        influenced_parts.append(items.distinct())
        if stretch.model.sourced_by == "lead_channel" and by == "channel":
            outcomes = outcomes.view()
            named = outcomes.left_join(leads, outcomes.lead_id == leads._sl)
            sourced_parts.append(named.select(item=named._sl_channel.fill_null(UNKNOWN), value=named.value))
        else:
            first = journeys.filter(journeys.position == 0)
            sourced_parts.append(first.select(item=first[BY[by]], value=first.value))
            sourced_parts.append(bare.select(item=ibis.literal(NO_TOUCH), value=bare.value))
    empty = ibis.memtable({"item": [], "value": []}, schema={"item": "string", "value": "float64"})
    sourced = union_all(sourced_parts) if sourced_parts else empty
    sourced = sourced.group_by("item").aggregate(sourced=sourced.count(), sourced_value=sourced.value.sum())
    if influenced_parts:
        touched = union_all(influenced_parts)
    else:
        touched = ibis.memtable(
            {"conversion_id": [], "item": [], "value": []},
            schema={"conversion_id": "string", "item": "string", "value": "float64"},
        )
    influenced = touched.group_by("item").aggregate(influenced=touched.count(), influenced_value=touched.value.sum())
    return sourced, influenced


def comparison_models(approved: AttributionModel) -> list[str]:
    """The rule-based models shown side by side: every published one, and custom when the approved model is."""
    return [m for m in RULE_MODELS if m != "custom" or approved.model == "custom"]


def with_level(stretches: Sequence[ModelStretch], level: str | None) -> list[ModelStretch]:
    """The stretches with `level` in their models (None: as approved)."""
    if level is None:
        return list(stretches)
    return [replace(s, model=s.model.model_copy(update={"level": level})) for s in stretches]


@dataclass(frozen=True)
class DataDriven:
    """The data-driven models on the journeys of the period: their credit per item (`Credit`, shrunk toward the
    model in force), and the converted and other journeys they saw."""

    markov: Credit
    markov_2: Credit
    shapley: Credit

    @property
    def models(self) -> tuple[Credit, ...]:
        """Markov (first and second order) and Shapley, in the comparison's order."""
        return (self.markov, self.markov_2, self.shapley)

    journeys: int
    converted: int


def data_driven(
    source: JourneySource,
    stretch: ModelStretch,
    as_of: datetime,
    *,
    outcome: str,
    prior: Mapping[str, float] | None,
    by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    bootstrap: int = 200,
) -> DataDriven | None:
    """Markov (first and second order) and Shapley on the journeys aggregated to paths with the settings of
    `stretch`'s model (its level, lookback and repeats), shrunk toward `prior` (the model in force's credit per
    item); None when there is no converted journey to learn from."""
    model = stretch.model
    spec = JourneySpec(outcome, model.level, model.lookback_days, model.collapse_repeats)
    table = path_table(source, spec, as_of, by=by, start=start, end=end)
    rows = sorted(table.to_pyarrow().to_pylist(), key=lambda r: r["path"])  # a seeded bootstrap: one order
    counts = PathCounts.from_rows(
        (r["path"].split(SEPARATOR), r["conversions"], r["non_conversions"], r["value"]) for r in rows
    )
    if counts.total_conversions <= 0:
        return None
    usable_prior = {k: v for k, v in (prior or {}).items() if v > 0} or None
    return DataDriven(
        markov=markov_attribution(counts, bootstrap=bootstrap, prior=usable_prior),
        markov_2=markov_attribution(counts, order=2, bootstrap=bootstrap, prior=usable_prior),
        shapley=shapley_attribution(counts, bootstrap=bootstrap, prior=usable_prior),
        journeys=round(counts.journeys),
        converted=round(counts.total_conversions),
    )


def credit_behind(
    source: JourneySource,
    stretches: Sequence[ModelStretch],
    as_of: datetime,
    *,
    item: str,
    outcome: str = "revenue",
    level: str | None = None,
    by: str = "channel",
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int = 50,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], int]:
    """The outcomes behind `item`'s credit, the most credited first (up to `limit`), each outcome's touches with
    their shares, and how many outcomes gave it credit in all. `NO_TOUCH` lists the outcomes without a touch."""
    parts, bare_parts = [], []
    for stretch, journeys, _, bare in journeys_under(
        source, stretches, as_of, outcome=outcome, level=level, start=start, end=end
    ):
        model = stretch.model
        shared = with_shares(
            journeys,
            {"share": model.model},
            weights=model.weights,
            half_life_days=model.half_life_days,
            direct_channels=model.direct_channels,
            outcome=outcome,
        )
        parts.append(
            shared.select(
                "conversion_id",
                "lead_id",
                "at",
                "value",
                "touch_id",
                "occurred_at",
                "channel",
                "campaign",
                "position",
                "share",
                item=shared[BY[by]],
                version=ibis.literal(stretch.version),
                model=ibis.literal(model.model),
            )
        )
        bare_parts.append(bare.select("conversion_id", "lead_id", "at", "value", version=ibis.literal(stretch.version)))
    if item == NO_TOUCH:
        if not bare_parts:
            return [], [], 0
        outcomes = union_all(bare_parts)
        rows = outcomes.order_by([outcomes.value.desc(), outcomes.conversion_id]).limit(limit).to_pyarrow().to_pylist()
        count = int(outcomes.count().to_pyarrow().as_py())
        for row in rows:
            row["credit"] = row["value"]
            row["share"] = 1.0
        return rows, [], count
    if not parts:
        return [], [], 0
    touches = union_all(parts)
    mine = touches.filter(touches.item == item)
    deals = mine.group_by("conversion_id", "lead_id", "at", "value", "version", "model").aggregate(
        share=mine.share.sum()
    )
    deals = deals.mutate(credit=deals.share * deals.value)
    count = int(deals.count().to_pyarrow().as_py())
    top = deals.order_by([deals.credit.desc(), deals.share.desc(), deals.conversion_id]).limit(limit)
    rows = top.to_pyarrow().to_pylist()
    chosen = [row["conversion_id"] for row in rows]
    if not chosen:
        return [], [], count
    behind = touches.filter(touches.conversion_id.isin(chosen))
    behind = behind.select("conversion_id", "touch_id", "occurred_at", "channel", "campaign", "position", "share")
    listed = behind.order_by(["conversion_id", "position"]).to_pyarrow().to_pylist()
    return rows, listed, count
