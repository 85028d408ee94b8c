"""The guard against quiet loosening: marketing may not loosen its own stages without an exec, when it matters.

Why: marketing is measured on leads, sales on revenue. The classic quarter-end move is to loosen what counts as a
lead or an MQL so the quarter's number is met; sales then stops following up the leads it gets. Both leaders must
approve every change anyway, but under pressure both may wave it through, so a change that *loosens* a
marketing-owned stage also needs a recorded override from an exec (CEO or CRO), with a reason, when:

* **it takes effect in the last weeks of a quarter** (`freeze_weeks`, default 2): any loosening at all; or
* **at any time, it is large**: it would add more than `max_added_percent` (default 10 %) to the stage's volume,
  measured as the stage's entries over the last `window_days` (default 90) under the proposal against under the
  current version. A looser MQL rule approved on day 67 of a quarter is as much a quarter-end move as one on day 85;
* **it relaxes the guard itself** (fewer freeze weeks, a higher share allowed): always.

The rules are part of the definitions (the ``guard:`` section), so the two leaders approve them like any stage
rule, and the rules of the version a proposal is made on judge it. A definitions file without the section takes
the defaults (`freeze_weeks` from the workspace's ``definitions_freeze_weeks`` setting).

This module is pure (dates, definitions and measurements in, a verdict out); `tandem.definitions.governance` asks
it at the approval that would complete a version and stores the override. Calendar quarters are used (Jan-Mar,
Apr-Jun, Jul-Sep, Oct-Dec) until tandem has fiscal calendars.

What "loosens" means: reaching a stage is "has a stage event for it OR meets its rule", so a change loosens a stage
when it lets more leads meet the rule.

* Measured (`added` given: the leads the proposal would add to each stage, counted on the warehouse): a stage is
  loosened when it gains leads. That also catches effects the text hides (a later stage's looser rule adding leads
  to an earlier stage under cumulative counting, a scoring change through `score`). A stage the measurement does
  not name gained none.
* Judged by the text (no data): conservatively, a stage is loosened when it gains a rule where it had none, when
  its rule's text changes at all (tightening included: telling the two apart needs data), when the scoring changes
  and its rule uses ``score``, or when it is new and has a rule. A rule *removed* is not loosening: without a rule a
  stage is reached by its stage events alone, so fewer leads reach it. Without data the share rule cannot apply.

Either way only marketing-owned stages count: marketing's numbers are the ones the guard protects, and sales
loosening its own stages works against its own interest. A stage counts as marketing's when marketing owns it in
the current version or in the proposal, so handing a stage to sales in the same change does not slip past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tandem.definitions.model import Definitions, GuardRules, StageDefinition
from tandem.definitions.rules import RuleError, parse_rule
from tandem.periods import quarter_of

__all__ = [
    "DEFAULT_MAX_ADDED_PERCENT",
    "DEFAULT_WINDOW_DAYS",
    "GuardVerdict",
    "Measured",
    "Rules",
    "freeze_window",
    "loosened_stages",
    "quarter_bounds",
    "quarter_label",
    "relaxed_rules",
    "resolve_rules",
]

MARKETING = "marketing"
#: A change may add at most this share (percent) to a marketing stage's volume without an exec, by default.
DEFAULT_MAX_ADDED_PERCENT = 10
#: The stretch (days before the approval) over which the volume a change adds is measured, by default.
DEFAULT_WINDOW_DAYS = 90


@dataclass(frozen=True)
class Rules:
    """The guard's rules in force for one proposal (the definitions' ``guard:`` section, defaults filled in)."""

    freeze_weeks: int
    max_added_percent: int
    window_days: int

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


def resolve_rules(definitions: Definitions, freeze_weeks: int) -> Rules:
    """`definitions`' guard rules, each missing one from the defaults (`freeze_weeks`: the workspace setting)."""
    given = definitions.guard or GuardRules()
    return Rules(
        freeze_weeks=given.freeze_weeks if given.freeze_weeks is not None else freeze_weeks,
        max_added_percent=given.max_added_percent if given.max_added_percent is not None else DEFAULT_MAX_ADDED_PERCENT,
        window_days=given.window_days if given.window_days is not None else DEFAULT_WINDOW_DAYS,
    )


def relaxed_rules(current: Rules, proposed: Rules) -> list[str]:
    """The guard's rules `proposed` relaxes against `current`, in words ("freeze_weeks 2 -> 0"): fewer freeze
    weeks or a larger share allowed. A different window is neither tighter nor looser and is not listed."""
    relaxed = []
    if proposed.freeze_weeks < current.freeze_weeks:
        relaxed.append(f"freeze_weeks {current.freeze_weeks} -> {proposed.freeze_weeks}")
    if proposed.max_added_percent > current.max_added_percent:
        relaxed.append(f"max_added_percent {current.max_added_percent} -> {proposed.max_added_percent}")
    return relaxed


@dataclass(frozen=True)
class Measured:
    """A proposal measured on the warehouse: the leads it adds to each stage over all history, and each stage's
    entries over the guard's window under the current version and under the proposal."""

    added: dict[str, int]
    recent: dict[str, tuple[int, int]] = field(default_factory=dict)


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
    """What the guard says about one proposal: does it need an exec override, and does it have one?

    `effective` is the day the change would take effect (the proposal's date, else the approval day); `window`
    is the freeze window of that day's quarter (None when the freeze is off); `added` the measured leads per stage
    when the loosening was measured on data, else None (judged by the text); `recent` each stage's entries over
    the last `window_days` under the current version and under the proposal (measured only); `relaxed` the guard
    rules the proposal relaxes.
    """

    proposal_id: int
    loosened: list[str]
    effective: date
    weeks: int
    window: tuple[date, date] | None
    added: dict[str, int] | None = None
    overridden_by: str | None = None
    reason: str | None = None
    max_added_percent: int | None = None
    window_days: int = DEFAULT_WINDOW_DAYS
    recent: dict[str, tuple[int, int]] | None = None
    relaxed: list[str] = field(default_factory=list)

    @property
    def in_window(self) -> bool:
        return self.window is not None and self.window[0] <= self.effective <= self.window[1]

    def added_share(self, stage: str) -> float | None:
        """How much the change adds to the stage's volume over the window: 0.55 is 55 % more (None: not measured,
        or no volume to compare with and nothing added)."""
        if self.recent is None or stage not in self.recent:
            return None
        current, proposed = self.recent[stage]
        if current == 0:
            return None if proposed == 0 else float("inf")
        return (proposed - current) / current

    @property
    def too_large(self) -> list[str]:
        """The loosened stages whose volume the change raises by more than the share allowed at any time."""
        if self.max_added_percent is None:
            return []
        limit = self.max_added_percent / 100
        return [s for s in self.loosened if (share := self.added_share(s)) is not None and share > limit]

    @property
    def needs_override(self) -> bool:
        """The change relaxes the guard, or loosens a marketing stage inside the freeze window, or by too much."""
        return bool(self.relaxed) or (bool(self.loosened) and self.in_window) or bool(self.too_large)

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

    def _share(self) -> str:
        parts = []
        for name in self.too_large:
            current, proposed = (self.recent or {}).get(name, (0, 0))
            share = self.added_share(name)
            amount = "from none" if share == float("inf") else f"{(share or 0) * 100:.0f} %"
            parts.append(f"{name} by {amount} ({proposed:,} against {current:,})")
        return (
            f"it would raise the volume of {', '.join(parts)} over the last {self.window_days} days, more than the "
            f"{self.max_added_percent} % the guard allows at any time"
        )

    def _what_to_do(self) -> str:
        return (
            f"an exec must override it first (`tandem definitions override {self.proposal_id} --as USER --reason TEXT`)"
        )

    @property
    def message(self) -> str:
        """One sentence for the person approving: what the guard found and what to do about it."""
        subject = f"proposal #{self.proposal_id}"
        if self.relaxed:
            found = f"{subject} relaxes the guard ({', '.join(self.relaxed)})"
            if self.overridden_by is not None:
                return f"{found}; overridden by {self.overridden_by}: {self.reason or ''}".rstrip()
            return f"{found}: {self._what_to_do()}"
        if self.window is None and self.max_added_percent is None:
            return f"{subject}: the guard is off; no override needed"
        if not self.loosened:
            return f"{subject} loosens no marketing stage; no override needed"
        when = f"{subject} loosens {self._stages()} and takes effect on {self.effective}"
        reasons = []
        if self.in_window:
            reasons.append(f"within {self._where()}")
        if self.too_large:
            reasons.append(self._share())
        if not reasons:
            outside = f", outside {self._where()}" if self.window is not None else " (the quarter-end freeze is off)"
            within = (
                f" and within the {self.max_added_percent} % of volume the guard allows"
                if self.max_added_percent is not None and self.recent is not None
                else ""
            )
            return f"{when}{outside}{within}; no override needed"
        found = f"{when}, {'; '.join(reasons)}"
        if self.overridden_by is not None:
            return f"{found}; overridden by {self.overridden_by}: {self.reason or ''}".rstrip()
        advice = self._what_to_do()
        if self.in_window and not self.too_large:
            assert self.window is not None
            advice += f", or propose it again effective from {self.window[1] + timedelta(days=1)}"
        return f"{found}: {advice}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "proposal_id": self.proposal_id,
            "loosened": list(self.loosened),
            "added": dict(self.added) if self.added is not None else None,
            "effective": self.effective,
            "weeks": self.weeks,
            "window": list(self.window) if self.window is not None else None,
            "in_window": self.in_window,
            "max_added_percent": self.max_added_percent,
            "window_days": self.window_days,
            "recent": {k: list(v) for k, v in self.recent.items()} if self.recent is not None else None,
            "too_large": self.too_large,
            "relaxed": list(self.relaxed),
            "needs_override": self.needs_override,
            "overridden_by": self.overridden_by,
            "reason": self.reason,
            "blocked": self.blocked,
            "message": self.message,
        }
