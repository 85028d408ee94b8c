"""What a proposed definitions change would do, measured on the warehouse before anyone approves it.

`tandem definitions impact N` recomputes every lead's stage entries under the current version and under proposal
N (`Workspace.stage_events`: stage events or rules, cumulative) and compares them, stage by stage:

- **added** leads reach the stage under the proposal and not under the current version; **removed** the reverse;
  both over all history up to the as-of time, and the part of them that entered in the current quarter;
- **how the added leads converted**, historically: of the added leads that entered the stage before this quarter,
  the share that reached the next stage and the last (won) stage, beside the same shares for the **kept** leads
  (those that reach it under both versions) — "the 800 extra MQLs converted to won at 0.4 %, the others at 3.1 %".
  Downstream stages are read under the proposal, as if it were in force. Only history before the quarter is used
  for rates: this quarter's leads have not had time to convert;
- **the expected effect**: this quarter's added leads times the added leads' historical rates gives the extra
  next-stage entries and won deals to expect, and won deals times the average won deal (from opportunities) the
  extra revenue. The same volume at the kept leads' rates is shown beside it: what the change promises if the new
  leads were as good as the old ones, and the gap between the two is what loosening costs in quality.

A rate needs a denominator: with no added leads before the quarter, the rate (and the expectation built on it) is
unknown (None) rather than zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from tandem.definitions.model import Definitions
from tandem.engine.entries import first_entries
from tandem.money import format_whole
from tandem.periods import quarter_of

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext

__all__ = ["ImpactReport", "StageImpact", "measure_impact", "quarter_start"]


def quarter_start(day: date) -> date:
    """The first day of the calendar quarter holding `day` (`tandem.periods.quarter_of`)."""
    return quarter_of(day).start


@dataclass(frozen=True)
class StageImpact:
    """One stage under the current version and the proposal."""

    stage: str
    side: str
    current: int
    proposed: int
    added: int
    removed: int
    quarter_added: int
    quarter_removed: int
    next_stage: str | None
    won_stage: str
    #: Added / kept leads that entered the stage before this quarter: the denominators of the rates.
    history_added: int
    history_kept: int
    added_next_rate: float | None
    kept_next_rate: float | None
    added_won_rate: float | None
    kept_won_rate: float | None
    expected_next: float | None
    expected_won: float | None
    expected_revenue: float | None
    promised_won: float | None

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed)

    def sentence(self) -> str:
        """The change in plain words, with the quality of the added leads when history can tell it."""
        if not self.changed:
            return f"{self.stage}: no lead added or removed"
        parts = [f"{self.stage}: {self.added:,} leads added, {self.removed:,} removed over history"]
        parts.append(f"{self.quarter_added:,} added this quarter")
        text = "; ".join(parts)
        if self.added_won_rate is not None and self.kept_won_rate is not None:
            text += (
                f". The added leads converted to {self.won_stage} at {_pct(self.added_won_rate)}, "
                f"the others at {_pct(self.kept_won_rate)} ({self.history_added:,} and {self.history_kept:,} leads "
                "before this quarter)"
            )
        elif self.added:
            text += ". No added lead entered before this quarter: history cannot tell how they convert"
        if self.expected_won is not None and self.quarter_added:
            text += f"; expect {self.expected_won:.1f} extra won deals from this quarter's added leads"
            if self.promised_won is not None:
                text += f" (not the {self.promised_won:.1f} their number suggests)"
            if self.expected_revenue is not None:
                text += f", about {format_whole(self.expected_revenue)} in revenue"
        return text + "."


@dataclass(frozen=True)
class ImpactReport:
    """The impact of one change: every stage of either version, in the proposal's order then removed stages."""

    base_version: int
    as_of: datetime
    quarter_start: date
    average_deal: float | None
    stages: list[StageImpact] = field(default_factory=list)
    proposal_id: int | None = None

    def stage(self, name: str) -> StageImpact:
        return next(s for s in self.stages if s.stage == name)

    @property
    def added(self) -> dict[str, int]:
        """Leads the proposal adds to each stage (what the quarter-end guard calls loosening)."""
        return {s.stage: s.added for s in self.stages}

    def summary(self) -> list[str]:
        return [s.sentence() for s in self.stages if s.changed] or ["No lead changes stage under the proposal."]

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "base_version": self.base_version,
            "as_of": self.as_of,
            "quarter_start": self.quarter_start,
            "average_deal": self.average_deal,
            "stages": [asdict(s) for s in self.stages],
            "summary": self.summary(),
        }


def measure_impact(
    ws: DefinitionsContext,
    current: Definitions,
    proposed: Definitions,
    *,
    base_version: int,
    as_of: datetime | None = None,
    proposal_id: int | None = None,
) -> ImpactReport:
    """Compare stage membership under `current` and `proposed` on the workspace's data (module docs)."""
    moment = as_of or datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    quarter = quarter_start(moment.date())
    leads = ws.warehouse.table("leads").select("lead_id", "created_at")

    def entries(definitions: Definitions, prefix: str) -> ir.Table:
        """Per lead and stage k: ``<prefix>k``, the cumulative entry (what the funnel counts), and ``<prefix>rk``,
        the lead's own entry into k (its event or its rule; not implied by a later stage)."""
        events = ws.stage_events(definitions, moment)
        raw = first_entries(leads, events, definitions.stage_names, moment)
        n = len(definitions.stages)
        own = {f"{prefix}r{k}": raw[f"t{k}"] for k in range(n)}
        cumulative = {
            f"{prefix}{k}": ibis.least(*(raw[f"t{j}"] for j in range(k, n))) if k < n - 1 else raw[f"t{k}"]
            for k in range(n)
        }
        return raw.select("lead_id", **own, **cumulative)

    now = entries(current, "c")
    then = entries(proposed, "p").rename(_lead_id="lead_id")
    both = now.join(then, now.lead_id == then._lead_id)
    start = ibis.literal(datetime.combine(quarter, datetime.min.time()), type="timestamp")

    proposed_names = proposed.stage_names
    current_names = current.stage_names
    names = proposed_names + [n for n in current_names if n not in proposed_names]
    won = len(proposed_names) - 1
    aggregates: dict[str, ir.Value] = {}

    def column(prefix: str, names: list[str], name: str) -> ir.TimestampValue:
        return both[f"{prefix}{names.index(name)}"] if name in names else ibis.null("timestamp")

    for i, name in enumerate(names):
        c, p = column("c", current_names, name), column("p", proposed_names, name)
        own_c, own_p = column("cr", current_names, name), column("pr", proposed_names, name)
        in_c, in_p = c.notnull(), p.notnull()
        added = in_p & ~in_c
        aggregates |= {
            f"current_{i}": both.lead_id.count(where=in_c),
            f"proposed_{i}": both.lead_id.count(where=in_p),
            f"added_{i}": both.lead_id.count(where=added),
            f"removed_{i}": both.lead_id.count(where=in_c & ~in_p),
            f"quarter_added_{i}": both.lead_id.count(where=added & (p >= start)),
            f"quarter_removed_{i}": both.lead_id.count(where=in_c & ~in_p & (c >= start)),
        }
        if name not in proposed_names:
            continue
        k = proposed_names.index(name)
        # Quality is judged on the leads' own entries: with cumulative counting, a lead that went on to a later
        # stage already counts here under both versions, so the *counted* additions never converted by definition.
        meets_new_only = own_p.notnull() & own_c.isnull() & (own_p < start)
        meets_both = own_p.notnull() & own_c.notnull() & (own_p < start)
        later = both[f"p{k + 1}"].notnull() if k < won else ibis.literal(False)
        won_too = both[f"p{won}"].notnull()
        for group, members in (("added", meets_new_only), ("kept", meets_both)):
            aggregates |= {
                f"history_{group}_{i}": both.lead_id.count(where=members),
                f"{group}_next_{i}": both.lead_id.count(where=members & later),
                f"{group}_won_{i}": both.lead_id.count(where=members & won_too),
            }
    counts = both.aggregate(**aggregates).to_pyarrow().to_pylist()[0]
    average_deal = _average_won_deal(ws, moment)

    stages: list[StageImpact] = []
    for i, name in enumerate(names):
        side = (proposed.stage(name) if name in proposed_names else current.stage(name)).side

        def n(key: str, i: int = i) -> int:
            return int(counts.get(f"{key}_{i}", 0) or 0)

        at = proposed_names.index(name) if name in proposed_names else None
        downstream = at is not None and at < won  # the won stage has no step after it: no rates, no expectation
        rates = {
            f"{group}_{to}_rate": _rate(n(f"{group}_{to}"), n(f"history_{group}")) if downstream else None
            for group in ("added", "kept")
            for to in ("next", "won")
        }
        quarter_added = n("quarter_added")
        expected_next = _times(quarter_added, rates["added_next_rate"])
        expected_won = _times(quarter_added, rates["added_won_rate"])
        promised_won = _times(quarter_added, rates["kept_won_rate"])
        stages.append(
            StageImpact(
                stage=name,
                side=side,
                current=n("current"),
                proposed=n("proposed"),
                added=n("added"),
                removed=n("removed"),
                quarter_added=quarter_added,
                quarter_removed=n("quarter_removed"),
                next_stage=proposed_names[at + 1] if at is not None and at < won else None,
                won_stage=proposed_names[won],
                history_added=n("history_added"),
                history_kept=n("history_kept"),
                added_next_rate=rates["added_next_rate"],
                kept_next_rate=rates["kept_next_rate"],
                added_won_rate=rates["added_won_rate"],
                kept_won_rate=rates["kept_won_rate"],
                expected_next=expected_next,
                expected_won=expected_won,
                expected_revenue=_times_float(expected_won, average_deal),
                promised_won=promised_won,
            )
        )
    return ImpactReport(
        base_version=base_version,
        as_of=moment,
        quarter_start=quarter,
        average_deal=average_deal,
        stages=stages,
        proposal_id=proposal_id,
    )


def _average_won_deal(ws: DefinitionsContext, as_of: datetime) -> float | None:
    """The mean amount of the opportunities won by `as_of` (None: none won, or no amounts)."""
    opportunities = ws.warehouse.table("opportunities")
    won = opportunities.filter(
        opportunities.status == "won",
        opportunities.created_at <= ibis.literal(as_of, type="timestamp"),
        opportunities.amount.notnull(),
    )
    value = won.aggregate(mean=won.amount.mean().cast("float64")).to_pyarrow().to_pylist()[0]["mean"]
    return None if value is None else float(value)


def _rate(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _times(count: int, rate: float | None) -> float | None:
    return None if rate is None else count * rate


def _times_float(value: float | None, factor: float | None) -> float | None:
    return None if value is None or factor is None else value * factor


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f} %"
