"""What a proposed definitions change would do, measured on the warehouse before anyone approves it.

`tandem definitions impact N` recomputes every lead's stage entries under the current version and under proposal
N (`Workspace.stage_events`: stage events or rules, cumulative) and compares them, stage by stage:

- **added** leads reach the stage under the proposal and not under the current version; **removed** the reverse;
  both over all history up to the as-of time, and the part of them that entered in the current quarter;
- **how the leads it hands over sooner went on**: a change is judged at the moment it would hand a lead to the
  next team. The leads the proposal admits *earlier or additionally* (admitted under it before the current version
  admits them, or never admitted by the current version) are followed from that moment: the share that reached
  the next stage and the last (won) stage, beside the same shares for the leads the **current** version admitted
  over the same history — "the leads it hands over sooner went on to won at 0.4 %, the current MQLs at 3.1 %".
  Why not the added leads alone: with cumulative counting, a lead that reached a later stage already counts at
  this one under both versions, so the leads only the proposal counts are, by construction, leads that never went
  on, and every loosening, good or bad, would read as 0 %. A looser rule that spots future buyers sooner hands over
  leads the current rule admits later: those convert, and the report shows it. Downstream stages are read under
  each leads' own version. Only history before the quarter is used for rates: this quarter's leads have not had
  time to convert;
- **the expected effect**: this quarter's leads handed over sooner times their historical rates gives the next-
  stage entries and won deals to expect from them, and won deals times the average won deal (from opportunities)
  the revenue. The same volume at the current leads' rates is shown beside it: what the change promises if the new
  leads were as good as the old ones, and the gap between the two is what loosening costs in quality.

A rate needs a denominator: with no such leads before the quarter, the rate (and the expectation built on it) is
unknown (None) rather than zero.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import ibis
import ibis.expr.types as ir

from tandem.definitions.model import Definitions
from tandem.engine.entries import first_entries
from tandem.engine.usable import usable
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
    #: Leads the proposal would hand over this quarter before the current version does (or that it never would).
    quarter_earlier: int
    #: Entries into the stage in the `recent_days` before as-of, under the current version and under the proposal:
    #: how much the change would add to a period's volume (the guard's share rule).
    recent_current: int
    recent_proposed: int
    next_stage: str | None
    won_stage: str
    #: Before this quarter: leads the proposal admits earlier or additionally ("added"), and leads the current
    #: version admits ("kept"): the denominators of the rates.
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
                f". Of the leads it hands over sooner or additionally, {_pct(self.added_next_rate)} went on to "
                f"{self.next_stage} and {_pct(self.added_won_rate)} to {self.won_stage}; of the current version's, "
                f"{_pct(self.kept_next_rate)} and {_pct(self.kept_won_rate)} ({self.history_added:,} and "
                f"{self.history_kept:,} leads before this quarter)"
            )
        elif self.added:
            text += (
                ". No lead would have been handed over sooner before this quarter: history cannot tell how they convert"
            )
        if self.expected_won is not None and self.quarter_earlier:
            text += (
                f"; expect {self.expected_won:.1f} won deals from the {self.quarter_earlier:,} leads it would hand "
                "over sooner this quarter"
            )
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
    recent_days: int = 90

    def stage(self, name: str) -> StageImpact:
        return next(s for s in self.stages if s.stage == name)

    @property
    def added(self) -> dict[str, int]:
        """Leads the proposal adds to each stage (what the quarter-end guard calls loosening)."""
        return {s.stage: s.added for s in self.stages}

    @property
    def recent(self) -> dict[str, tuple[int, int]]:
        """Each stage's entries in the last `recent_days`: (under the current version, under the proposal)."""
        return {s.stage: (s.recent_current, s.recent_proposed) for s in self.stages}

    def summary(self) -> list[str]:
        return [s.sentence() for s in self.stages if s.changed] or ["No lead changes stage under the proposal."]

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "base_version": self.base_version,
            "as_of": self.as_of,
            "quarter_start": self.quarter_start,
            "average_deal": self.average_deal,
            "recent_days": self.recent_days,
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
    recent_days: int = 90,
) -> ImpactReport:
    """Compare stage membership under `current` and `proposed` on the workspace's data (module docs)."""
    moment = as_of or datetime.now(UTC).replace(tzinfo=None)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    quarter = quarter_start(moment.date())
    leads = usable(ws.warehouse.table("leads"), "leads").select("lead_id", "created_at")

    def entries(definitions: Definitions, prefix: str) -> ir.Table:
        """Per lead and stage k: ``<prefix>k``, the cumulative entry (what the funnel counts)."""
        events = ws.stage_events(definitions, moment)
        raw = first_entries(leads, events, definitions.stage_names, moment)
        n = len(definitions.stages)
        cumulative = {
            f"{prefix}{k}": ibis.least(*(raw[f"t{j}"] for j in range(k, n))) if k < n - 1 else raw[f"t{k}"]
            for k in range(n)
        }
        return raw.select("lead_id", **cumulative)

    now = entries(current, "c")
    then = entries(proposed, "p").rename(_lead_id="lead_id")
    both = now.join(then, now.lead_id == then._lead_id)
    start = ibis.literal(datetime.combine(quarter, datetime.min.time()), type="timestamp")
    recent = ibis.literal(moment - timedelta(days=recent_days), type="timestamp")

    proposed_names = proposed.stage_names
    current_names = current.stage_names
    names = proposed_names + [n for n in current_names if n not in proposed_names]
    won = len(proposed_names) - 1
    aggregates: dict[str, ir.Value] = {}

    def column(prefix: str, names: list[str], name: str) -> ir.TimestampValue:
        return both[f"{prefix}{names.index(name)}"] if name in names else ibis.null("timestamp")

    for i, name in enumerate(names):
        c, p = column("c", current_names, name), column("p", proposed_names, name)
        in_c, in_p = c.notnull(), p.notnull()
        added = in_p & ~in_c
        aggregates |= {
            f"current_{i}": both.lead_id.count(where=in_c),
            f"proposed_{i}": both.lead_id.count(where=in_p),
            f"added_{i}": both.lead_id.count(where=added),
            f"removed_{i}": both.lead_id.count(where=in_c & ~in_p),
            f"quarter_added_{i}": both.lead_id.count(where=added & (p >= start)),
            f"quarter_removed_{i}": both.lead_id.count(where=in_c & ~in_p & (c >= start)),
            f"recent_current_{i}": both.lead_id.count(where=in_c & (c >= recent)),
            f"recent_proposed_{i}": both.lead_id.count(where=in_p & (p >= recent)),
        }
        if name not in proposed_names or name not in current_names:
            continue
        k = proposed_names.index(name)
        # Judged at the moment the proposal would hand a lead over: leads it admits before the current version does
        # (earlier, or at all), against the leads the current version admitted over the same history. With
        # cumulative counting, a lead that went on to a later stage is already counted under both versions, so
        # comparing *who* is counted would only ever find leads that never converted; *when* tells them apart.
        earlier = in_p & (c.isnull() | (p < c)) & (p < start)
        old = in_c & (c < start)
        later = both[f"p{k + 1}"].notnull() if k < won else ibis.literal(False)
        won_too = both[f"p{won}"].notnull()
        later_old = (
            both[f"c{current_names.index(proposed_names[k + 1])}"].notnull()
            if (k < won and proposed_names[k + 1] in current_names)
            else ibis.literal(False)
        )
        won_old = both[f"c{len(current_names) - 1}"].notnull()
        for group, members, nxt, last in (
            ("added", earlier, later, won_too),
            ("kept", old, later_old, won_old),
        ):
            aggregates |= {
                f"history_{group}_{i}": both.lead_id.count(where=members),
                f"{group}_next_{i}": both.lead_id.count(where=members & nxt),
                f"{group}_won_{i}": both.lead_id.count(where=members & last),
            }
        aggregates[f"quarter_earlier_{i}"] = both.lead_id.count(where=in_p & (c.isnull() | (p < c)) & (p >= start))
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
        quarter_earlier = n("quarter_earlier")
        expected_next = _times(quarter_earlier, rates["added_next_rate"])
        expected_won = _times(quarter_earlier, rates["added_won_rate"])
        promised_won = _times(quarter_earlier, rates["kept_won_rate"])
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
                quarter_earlier=quarter_earlier,
                recent_current=n("recent_current"),
                recent_proposed=n("recent_proposed"),
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
        recent_days=recent_days,
    )


def _average_won_deal(ws: DefinitionsContext, as_of: datetime) -> float | None:
    """The mean amount of the opportunities won by `as_of` (None: none won, or no amounts)."""
    opportunities = usable(ws.warehouse.table("opportunities"), "opportunities")
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


def _pct(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f} %"
