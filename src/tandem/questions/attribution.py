"""Marketing's share of revenue: credit by channel or campaign under the approved model, every model side by side,
and what each channel sourced and influenced (docs/attribution.md).

Each outcome is credited by the attribution model of the definitions version in force when it happened, and the
document names those versions; a version without an approved model uses the default (W-shaped) and says so.
Amounts are in the workspace's currency; a share is a fraction of 1.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from tandem.questions.base import Moment, Question, check_field

if TYPE_CHECKING:
    from tandem.attribution.credit import ModelStretch
    from tandem.attribution.report import DataDriven
    from tandem.workspace import Workspace

__all__ = ["ATTRIBUTION_READS", "AttributionDealsQuestion", "AttributionQuestion", "MarketingShareQuestion"]

ATTRIBUTION_READS = ("leads", "opportunities", "touches", "definitions")
RuleModel = Literal[
    "first_touch",
    "last_touch",
    "last_non_direct",
    "linear",
    "u_shaped",
    "w_shaped",
    "full_path",
    "time_decay",
    "custom",
]
#: The row of the outcomes with no touch (`tandem.attribution.journeys.NO_TOUCH`, kept here to load nothing heavy).
NO_TOUCH_ITEM = "(no touch)"
#: A channel's credit depends heavily on the model when its range across the models is at least its mean credit.
MODEL_DEPENDENT_RANGE = 1.0


class AttributionQuestion(Question):
    """Credit per channel (or campaign) and period under the model in force (or `model`, with the approved
    settings), the rule-based models side by side with each channel's range, and sourced and influenced figures.
    """

    kind = "attribution"
    money = True
    reads = ATTRIBUTION_READS

    model: (
        Literal[
            "first_touch",
            "last_touch",
            "last_non_direct",
            "linear",
            "u_shaped",
            "w_shaped",
            "full_path",
            "time_decay",
            "custom",
        ]
        | None
    ) = None
    outcome: Literal["leads", "pipeline", "revenue"] = "revenue"
    level: Literal["lead", "opportunity", "account"] | None = None
    by: Literal["channel", "campaign"] = "channel"
    period: Literal["month", "quarter"] | None = None
    start: Moment = None
    end: Moment = None
    as_of: Moment = None

    def check(self, ws: Workspace) -> None:
        if self.start is not None and self.end is not None:
            check_field(self.start < self.end, "end", self.end, "the end must come after the start")
        if self.outcome == "leads":
            check_field(
                self.level in (None, "lead"), "level", self.level, "a lead's journey is its own: use level lead"
            )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.attribution.credit import credit_by_item, fetch
        from tandem.attribution.report import comparison_models, data_driven, sourced_and_influenced
        from tandem.engine.spec import as_of_or_now

        moment = as_of_or_now(self.as_of)
        stretches = _stretches(ws, moment, self.outcome, self.level, self.model)
        in_force = [s for s in stretches if _overlaps(s, self.start, self.end)] or stretches[-1:]
        models = comparison_models(in_force[-1].model)
        wh = ws.warehouse
        common: dict[str, Any] = {"outcome": self.outcome, "by": self.by, "start": self.start, "end": self.end}
        shape = (_shape(stretches), tuple(sorted(common.items())), tuple(models))

        def credit(at: datetime) -> Any:
            return credit_by_item(wh, stretches, at, models=models, **common)

        def periodic(at: datetime) -> Any:
            return credit_by_item(wh, stretches, at, period=self.period, **common)

        rows = fetch(wh, "credit", moment, credit, shape).to_pylist()
        by_period = []
        if self.period is not None:
            by_period = fetch(wh, "periods", moment, periodic, (*shape, self.period)).to_pylist()
        sourced = fetch(wh, "sourced", moment, lambda at: sourced_and_influenced(wh, stretches, at, **common)[0], shape)
        influenced = fetch(
            wh, "influenced", moment, lambda at: sourced_and_influenced(wh, stretches, at, **common)[1], shape
        )
        sourced_rows = {r["item"]: r for r in sourced.to_pylist()}
        influenced_rows = {r["item"]: r for r in influenced.to_pylist()}
        total_value = sum(r["value"] or 0.0 for r in rows)
        total_outcomes = sum(r["conversions"] or 0.0 for r in rows)
        learned = None
        if self.outcome != "leads":
            prior = {r["item"]: float(r["conversions"] or 0.0) for r in rows if not r["item"].startswith("(")}
            learned = data_driven(
                ws.warehouse,
                in_force[-1],
                moment,
                outcome=self.outcome,
                prior=prior,
                by=self.by,
                start=self.start,
                end=self.end,
            )
        return {
            "outcome": self.outcome,
            "by": self.by,
            "period": self.period,
            "start": self.start,
            "end": self.end,
            "as_of": moment,
            "model": self.model,
            "models_in_force": [_stretch_dict(s) for s in in_force],
            "approved": any(s.approved for s in in_force),
            "totals": {"outcomes": round(total_outcomes), "value": _money(total_value)},
            "rows": _credit_rows(rows, total_value),
            "by_period": sorted(
                ({**_credit_row(r, None), "period": r["period"]} for r in by_period),
                key=lambda r: (str(r["period"]), r["item"]),
            ),
            "comparison": _comparison(rows, models, learned),
            "data_driven": (
                {"unavailable": "every lead's journey ends in the lead: there is no journey that did not convert"}
                if self.outcome == "leads"
                else _data_driven_dict(learned, rows, in_force[-1])
            ),
            "sourced": _sourced_rows(rows, sourced_rows, influenced_rows),
        }


def _stretches(
    ws: Workspace, moment: datetime, outcome: str, level: str | None, model: str | None
) -> list[ModelStretch]:
    """The models in force over time, at `level` (leads: the lead's own) and as `model` when one is asked for."""
    from tandem.attribution.report import model_stretches, with_level

    stretches = with_level(model_stretches(ws.counting(moment).stretches), "lead" if outcome == "leads" else level)
    if model is not None:
        update = {"model": model}
        stretches = [replace(s, model=s.model.model_copy(update=update)) for s in stretches]
    return stretches


class AttributionDealsQuestion(Question):
    """The outcomes behind one channel's (or campaign's) credit, the most credited first, each with its journey:
    every touch with its share, so any figure of the attribution document can be traced to deals and touches."""

    kind = "attribution-deals"
    money = True
    reads = ATTRIBUTION_READS

    item: Annotated[str, Field(min_length=1, max_length=200)]
    model: RuleModel | None = None
    outcome: Literal["leads", "pipeline", "revenue"] = "revenue"
    level: Literal["lead", "opportunity", "account"] | None = None
    by: Literal["channel", "campaign"] = "channel"
    start: Moment = None
    end: Moment = None
    as_of: Moment = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 50

    def check(self, ws: Workspace) -> None:
        if self.start is not None and self.end is not None:
            check_field(self.start < self.end, "end", self.end, "the end must come after the start")

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.attribution.report import credit_behind
        from tandem.engine.spec import as_of_or_now

        moment = as_of_or_now(self.as_of)
        stretches = _stretches(ws, moment, self.outcome, self.level, self.model)
        deals, touches, count = credit_behind(
            ws.warehouse,
            stretches,
            moment,
            item=self.item,
            outcome=self.outcome,
            by=self.by,
            start=self.start,
            end=self.end,
            limit=self.limit,
        )
        journeys: dict[str, list[dict[str, Any]]] = {}
        for touch in touches:
            journeys.setdefault(touch.pop("conversion_id"), []).append(
                {**touch, "share": round(float(touch["share"]), 6)}
            )
        return {
            "item": self.item,
            "by": self.by,
            "outcome": self.outcome,
            "as_of": moment,
            "outcomes": count,
            "shown": len(deals),
            "deals": [
                {
                    "id": deal["conversion_id"],
                    "lead_id": deal["lead_id"],
                    "at": deal["at"],
                    "value": _money(deal["value"]),
                    "share": round(float(deal["share"]), 6),
                    "credit": _money(deal["credit"]),
                    "version": deal["version"],
                    "model": deal.get("model"),
                    "touches": journeys.get(deal["conversion_id"], []),
                }
                for deal in deals
            ],
        }


def _shape(stretches: list[ModelStretch]) -> tuple[Any, ...]:
    """What the stretches put in a query's SQL: each version's model and settings and its bounds."""
    return tuple((s.version, s.model.model_dump_json(), s.approved, s.start, s.end) for s in stretches)


def _overlaps(stretch: ModelStretch, start: Any, end: Any) -> bool:
    return (end is None or stretch.start is None or stretch.start < end) and (
        start is None or stretch.end is None or stretch.end > start
    )


def _stretch_dict(stretch: ModelStretch) -> dict[str, Any]:
    model = stretch.model
    return {
        "version": stretch.version,
        "approved": stretch.approved,
        "model": model.model,
        "label": model.label,
        "level": model.level,
        "lookback_days": model.lookback_days,
        "repeats": "collapse" if model.collapse_repeats else "keep",
        "sourced_by": model.sourced_by,
        "from": stretch.start.date() if stretch.start is not None else None,
        "until": stretch.end.date() if stretch.end is not None else None,
    }


def _money(value: float | None) -> float | None:
    return None if value is None else round(float(value), 2)


def _credit_row(row: dict[str, Any], total: float | None) -> dict[str, Any]:
    value = float(row["value"] or 0.0)
    found = {"item": row["item"], "outcomes": round(float(row["conversions"] or 0.0), 4), "value": _money(value)}
    if total is not None:
        found["share"] = value / total if total else None
    return found


def _credit_rows(rows: list[dict[str, Any]], total: float) -> list[dict[str, Any]]:
    """Largest credit first; the outcomes without a touch last."""
    shown = [_credit_row(r, total) for r in rows]
    return sorted(shown, key=lambda r: (r["item"].startswith("("), -(r["value"] or 0.0), -r["outcomes"], r["item"]))


def _touched_value(rows: list[dict[str, Any]]) -> float:
    """The value of the outcomes with a touch: what the data-driven models split (the rest is ``(no touch)``)."""
    return sum(float(r["value"] or 0.0) for r in rows if r["item"] != NO_TOUCH_ITEM)


def _learned_values(learned: DataDriven, rows: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Each data-driven model's value per item, as its share of the touched outcomes' value (so every column of
    the comparison adds up to the same total)."""
    touched = _touched_value(rows)
    found: dict[str, dict[str, float]] = {}
    for credit in learned.models:
        total = sum(credit.conversions.values())
        found[_name(credit.model)] = {
            item: (conversions / total * touched if total else 0.0) for item, conversions in credit.conversions.items()
        }
    return found


def _name(model: str) -> str:
    """A data-driven model's column: ``markov`` (first order), ``markov_2`` (second), ``shapley``."""
    return {"markov-2": "markov_2"}.get(model, model)


def _comparison(rows: list[dict[str, Any]], models: list[str], learned: DataDriven | None) -> dict[str, Any]:
    """Each item's value under every model, its range, and whether it depends heavily on the model."""
    extra = _learned_values(learned, rows) if learned is not None else {}
    names = [*models, *extra]
    by_item = {row["item"]: row for row in rows}
    items = sorted({*by_item, *(item for values in extra.values() for item in values)})
    table = []
    for item in items:
        row = by_item.get(item, {})
        values = {name: _money(row.get(f"value_{name}") or 0.0) for name in models}
        for name, credit in extra.items():
            values[name] = _money(row.get("value") or 0.0) if item == NO_TOUCH_ITEM else _money(credit.get(item, 0.0))
        numbers = [v or 0.0 for v in values.values()]
        low, high = min(numbers), max(numbers)
        mean = sum(numbers) / len(numbers)
        table.append(
            {
                "item": item,
                **values,
                "low": _money(low),
                "high": _money(high),
                "model_dependent": bool(mean > 0 and (high - low) >= MODEL_DEPENDENT_RANGE * mean),
            }
        )
    table.sort(key=lambda r: (r["item"].startswith("("), -(r["high"] or 0.0), r["item"]))
    return {"models": names, "rows": table}


def _data_driven_dict(learned: DataDriven | None, rows: list[dict[str, Any]], stretch: ModelStretch) -> dict[str, Any]:
    """How strong the data is, how far each data-driven model was pulled toward the model in force, and its credit
    per item with the bootstrap's 95 % interval, in money."""
    if learned is None:
        return {"unavailable": "no journey converted in the period: nothing to learn from"}
    touched = _touched_value(rows)
    models: dict[str, Any] = {}
    for credit in learned.models:
        total = sum(credit.conversions.values())
        scale = touched / total if total else 0.0
        models[_name(credit.model)] = {
            "shrink_weight": round(credit.shrink_weight, 4),
            "bootstrap": credit.bootstrap,
            "rows": sorted(
                (
                    {
                        "item": item,
                        "value": _money(conversions * scale),
                        "low": None if credit.low is None else _money(credit.low.get(item, 0.0) * scale),
                        "high": None if credit.high is None else _money(credit.high.get(item, 0.0) * scale),
                    }
                    for item, conversions in credit.conversions.items()
                ),
                key=lambda r: (-(r["value"] or 0.0), r["item"]),
            ),
        }
    return {
        "journeys": learned.journeys,
        "converted": learned.converted,
        "strength": learned.markov.strength,
        "shrunk_toward": stretch.model.label,
        "models": models,
    }


def _sourced_rows(
    rows: list[dict[str, Any]], sourced: dict[str, dict[str, Any]], influenced: dict[str, dict[str, Any]]
) -> list[dict[str, Any]]:
    items = sorted({*sourced, *influenced, *(r["item"] for r in rows)})
    found = []
    for item in items:
        s, i = sourced.get(item, {}), influenced.get(item, {})
        found.append(
            {
                "item": item,
                "sourced": int(s.get("sourced") or 0),
                "sourced_value": _money(s.get("sourced_value") or 0.0),
                "influenced": int(i.get("influenced") or 0),
                "influenced_value": _money(i.get("influenced_value") or 0.0),
            }
        )
    return sorted(found, key=lambda r: (r["item"].startswith("("), -(r["sourced_value"] or 0.0), r["item"]))


class MarketingShareQuestion(Question):
    """The as-of quarter so far: the won revenue marketing's channels (those not in the ``sales_sourced_channels``
    setting) earned, measured as marketing's quota is (under the approved attribution model, else by the lead's
    channel), against that quota. The Overview's card."""

    kind = "attribution-summary"
    money = True
    reads = (*ATTRIBUTION_READS, "goals")

    as_of: Moment = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.attribution.credit import credit_by_item
        from tandem.engine.spec import as_of_or_now
        from tandem.periods import current_quarter
        from tandem.plan.goals import marketing_part

        moment = as_of_or_now(self.as_of)
        quarter = current_quarter(moment.date())
        start = datetime.combine(quarter.start, datetime.min.time())
        end = datetime.combine(quarter.end, datetime.min.time())
        stretches = [s for s in _stretches(ws, moment, "revenue", None, None) if _overlaps(s, start, end)]
        approved = bool(stretches) and all(s.approved for s in stretches)
        sales = ws.goals.sales_sourced_channels
        credited: Mapping[str | None, float]
        if approved:  # as the quota is measured: under the approved model, else by the lead's channel
            table = credit_by_item(ws.warehouse, stretches, moment, start=start, end=end)
            rows = ws.warehouse.con.to_pyarrow(table).to_pylist()
            credited = {r["item"]: float(r["value"] or 0.0) for r in rows}
            measured_by = "; ".join(f"definitions version {s.version}: {s.model.label}" for s in stretches)
        else:
            won = ws.goals.won_revenue("channel", quarter.start, quarter.end) if ws.goals.won_revenue else {}
            credited = won
            measured_by = "the lead's channel (no attribution model is approved)"
        marketing, total = marketing_part(credited, sales)
        quota = next(
            (q for q in ws.goals.show(quarter.label)["quotas"] if q["team"] == "marketing"),
            None,
        )
        amount = None if quota is None else quota["amount"]
        return {
            "period": quarter.label,
            "as_of": moment,
            "marketing_credited": _money(marketing),
            "won_revenue": _money(total),
            "share_of_won": marketing / total if total else None,
            "quota": amount,
            "quota_from": None if quota is None else quota["from"],
            "attainment": marketing / amount if amount else None,
            "sales_sourced_channels": sorted(sales),
            "sales_sourced_channels_set": bool(sales),
            "measured_by": measured_by,
            "models_in_force": [_stretch_dict(s) for s in stretches],
            "approved": approved,
        }
