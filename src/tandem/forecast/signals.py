"""A signal: one measured fact the early warnings and the forecast raise, that alert rules can watch.

Why a shared shape: alert rules (`tandem.alerts`) must not know how each warning is computed. Every source
(the forecast's chance of reaching the goal, a stage's pace against plan, a revenue gap carried through the lags)
reports the same fields, and a rule compares `value` with its threshold when `sample` is large enough to trust.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Signal"]


@dataclass(frozen=True)
class Signal:
    """One reading of a signal in one period.

    `kind` names what is measured (``goal_chance``, ``stage_pace``, ``revenue_gap``, ...); `subject` what it is
    about (a stage name, or "" when there is one reading per period); `period` the period it belongs to
    (``2026Q4``, ``2026-11``): an alert fires at most once per (rule, kind, subject, period). `value` is the
    number a rule's threshold is compared with, in the unit `unit` names (``share``, ``ratio``, ``amount``,
    ``count``); `sample` how many observations it rests on (leads, deals, simulations), so a rule can ignore
    a reading too thin to act on. `message` is one plain sentence for people ("MQLs are 18 % behind plan this
    month: an expected gap of $412,000 next quarter"); `details` the figures behind it, for the JSON payload.
    """

    kind: str
    subject: str
    period: str
    value: float
    unit: str
    sample: int
    message: str
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """What makes an alert unique within a rule: one per signal per period."""
        return f"{self.kind}:{self.subject}:{self.period}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "subject": self.subject,
            "period": self.period,
            "value": self.value,
            "unit": self.unit,
            "sample": self.sample,
            "message": self.message,
            "details": self.details,
        }
