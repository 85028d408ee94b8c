"""The quarter-end guard: marketing may not loosen its own stages in the last weeks of a quarter without an exec.

Why: marketing is measured on leads, sales on revenue. The classic quarter-end move is to loosen what counts as a
lead or an MQL so the quarter's number is met; sales then stops following up the leads it gets. Both leaders must
approve every change anyway, but in the last weeks of a quarter the pressure on both is highest, so there a change
that *loosens* a marketing-owned stage also needs a recorded override from an exec (CEO or CRO), with a reason.

This module is pure (dates and definitions in, a verdict out); `tandem.definitions.governance` asks it at the
approval that would complete a version and stores the override. Calendar quarters are used (Jan-Mar, Apr-Jun,
Jul-Sep, Oct-Dec) until tandem has fiscal calendars.

What "loosens" means: reaching a stage is "has a stage event for it OR meets its rule", so a change loosens a stage
when it lets more leads meet the rule.

* Measured (`added` given: the leads the proposal would add to each stage, counted on the warehouse): a stage is
  loosened when it gains leads. That also catches effects the text hides (a later stage's looser rule adding leads
  to an earlier stage under cumulative counting, a scoring change through `score`). A stage the measurement does
  not name gained none.
* Judged by the text (no data): conservatively, a stage is loosened when it gains a rule where it had none, when
  its rule's text changes at all (tightening included: telling the two apart needs data), when the scoring changes
  and its rule uses ``score``, or when it is new and has a rule. A rule *removed* is not loosening: without a rule a
  stage is reached by its stage events alone, so fewer leads reach it.

Either way only marketing-owned stages count: marketing's numbers are the ones the freeze protects, and sales
loosening its own stages works against its own interest. A stage counts as marketing's when marketing owns it in
the current version or in the proposal, so handing a stage to sales in the same change does not slip past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from tandem.definitions.model import Definitions, StageDefinition
from tandem.definitions.rules import RuleError, parse_rule
from tandem.periods import quarter_of

__all__ = ["GuardVerdict", "freeze_window", "loosened_stages", "quarter_bounds", "quarter_label"]

MARKETING = "marketing"


def quarter_bounds(day: date) -> tuple[date, date]:
    """First and last day of the calendar quarter containing `day` (`tandem.periods.quarter_of`), both included."""
    quarter = quarter_of(day)
    return quarter.start, quarter.end - timedelta(days=1)


def quarter_label(day: date) -> str:
    """``2026-Q4``: the quarter as people name it in a plan or a board deck."""
    return quarter_of(day).label


def freeze_window(day: date, weeks: int) -> tuple[date, date] | None:
    """The last `weeks` x 7 days of the quarter containing `day`, its last day included; None when `weeks` <= 0.

    The window is the quarter's, whether or not `day` falls in it; a window longer than the quarter is the quarter.
    """
    if weeks <= 0:
        return None
    first, last = quarter_bounds(day)
    return max(first, last - timedelta(days=7 * weeks - 1)), last


def _uses_score(stage: StageDefinition) -> bool:
    if stage.rule is None:
        return False
    try:
        return "score" in parse_rule(stage.rule).attributes
    except RuleError:  # an unreadable rule cannot be cleared: assume it may depend on the score
        return True


def _loosened_by_text(before: StageDefinition | None, after: StageDefinition, scoring_changed: bool) -> bool:
    if after.rule is None:
        return False  # no rule (or a rule removed): only stage events reach it, never more leads than before
    if before is None or before.rule is None:
        return True  # a new way in where there was none
    if before.rule.strip() != after.rule.strip():
        return True  # tighter or looser cannot be told from the text: assume looser
    return scoring_changed and _uses_score(after)


def loosened_stages(current: Definitions, proposed: Definitions, added: Mapping[str, int] | None = None) -> list[str]:
    """The marketing-owned stages, in the proposal's funnel order, that going from `current` to `proposed` loosens.

    `added` is the number of leads the proposal would add to each stage, measured on the warehouse; without it the
    change is judged by its text (see the module's documentation for both).
    """
    before = {stage.name: stage for stage in current.stages}
    scoring_changed = current.scoring != proposed.scoring
    loosened: list[str] = []
    for stage in proposed.stages:
        old = before.get(stage.name)
        if stage.side != MARKETING and (old is None or old.side != MARKETING):
            continue
        if added is not None:
            if added.get(stage.name, 0) > 0:
                loosened.append(stage.name)
        elif _loosened_by_text(old, stage, scoring_changed):
            loosened.append(stage.name)
    return loosened


@dataclass(frozen=True)
class GuardVerdict:
    """What the quarter-end guard says about one proposal: does it need an exec override, and does it have one?

    `effective` is the day the change would take effect (the proposal's date, else the approval day); `window`
    is the freeze window of that day's quarter (None when the guard is off); `added` the measured leads per stage
    when the loosening was measured on data, else None (judged by the text).
    """

    proposal_id: int
    loosened: list[str]
    effective: date
    weeks: int
    window: tuple[date, date] | None
    added: dict[str, int] | None = None
    overridden_by: str | None = None
    reason: str | None = None

    @property
    def in_window(self) -> bool:
        return self.window is not None and self.window[0] <= self.effective <= self.window[1]

    @property
    def needs_override(self) -> bool:
        """The change loosens a marketing stage and takes effect inside the freeze window."""
        return bool(self.loosened) and self.in_window

    @property
    def blocked(self) -> bool:
        """An override is needed and none is recorded: the approval completing the version is refused."""
        return self.needs_override and self.overridden_by is None

    def _stages(self) -> str:
        if self.added is None:
            return ", ".join(self.loosened)
        return ", ".join(f"{name} (+{self.added.get(name, 0):,} leads)" for name in self.loosened)

    def _where(self) -> str:
        assert self.window is not None
        start, end = self.window
        return f"the last {self.weeks} week{'s' if self.weeks != 1 else ''} of {quarter_label(end)} ({start} to {end})"

    @property
    def message(self) -> str:
        """One sentence for the person approving: what the guard found and what to do about it."""
        subject = f"proposal #{self.proposal_id}"
        if self.window is None:
            return f"{subject}: the quarter-end guard is off (definitions_freeze_weeks = 0); no override needed"
        if not self.loosened:
            return f"{subject} loosens no marketing stage; no override needed"
        when = f"{subject} loosens {self._stages()} and takes effect on {self.effective}"
        if not self.in_window:
            return f"{when}, outside {self._where()}; no override needed"
        if self.overridden_by is not None:
            return f"{when}, within {self._where()}; overridden by {self.overridden_by}: {self.reason or ''}".rstrip()
        next_quarter = self.window[1] + timedelta(days=1)
        return (
            f"{when}, within {self._where()}: an exec must override it first "
            f"(`tandem definitions override {self.proposal_id} --as USER --reason TEXT`), "
            f"or propose it again effective from {next_quarter}"
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "loosened": list(self.loosened),
            "added": dict(self.added) if self.added is not None else None,
            "effective": self.effective,
            "weeks": self.weeks,
            "window": list(self.window) if self.window is not None else None,
            "in_window": self.in_window,
            "needs_override": self.needs_override,
            "overridden_by": self.overridden_by,
            "reason": self.reason,
            "blocked": self.blocked,
            "message": self.message,
        }
