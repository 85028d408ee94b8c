"""Every signal alert rules can watch, read now: the forecast's chance of the goal, the early warnings, and the
handoff's clocks at risk or run out (`tandem.forecast.handoff_signals`).

Why one function: `tandem alerts run` (cron) asks for the signals of the current quarter and does not need to know
where each comes from. A source that cannot be read (no goal and no plan to measure pacing against, no deals to
forecast) contributes no signal rather than failing the run: an alert run with nothing to say is a normal run,
and `notes` says why each source was silent, in one line each (``service levels: ...`` for the handoff's clocks).

The handoff's signals are read for every team whose hours an alert follows (`teams`: the alerts layer reads them
from ``team:`` in ``alerts.yaml``, `tandem.alerts.rules.AlertRules.followed_teams`, and checks them against the
contract's teams; None is the lead's own team).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from tandem.engine.spec import as_of_or_now
from tandem.errors import TandemError
from tandem.forecast.handoff_signals import sla_signals
from tandem.forecast.service import forecast_signals, period_forecast
from tandem.forecast.signals import Signal
from tandem.forecast.warnings import early_warnings
from tandem.periods import CalendarPeriod, current_quarter

if TYPE_CHECKING:
    from tandem.plan.context import PlanContext

__all__ = ["CurrentSignals", "current_signals", "read_signals"]


@dataclass(frozen=True)
class CurrentSignals:
    period: CalendarPeriod
    signals: list[Signal]
    notes: list[str] = field(default_factory=list)


def read_signals(
    ws: PlanContext,
    as_of: datetime | None = None,
    period: CalendarPeriod | None = None,
    teams: Collection[str | None] = frozenset({None}),
) -> CurrentSignals:
    """The signals of `period` (default: the quarter of `as_of`, default now), and why any source was silent."""
    moment = as_of_or_now(as_of)
    period = period or current_quarter(moment.date())
    found: list[Signal] = []
    notes: list[str] = []
    try:
        found += forecast_signals(period_forecast(ws, period, as_of=moment, compare_days=0))
    except TandemError as exc:
        notes.append(f"forecast: {exc}")
    try:
        found += early_warnings(ws, period, as_of=moment).signals()
    except TandemError as exc:
        notes.append(f"early warnings: {exc}")
    try:
        found += sla_signals(ws, moment, teams)
    except TandemError as exc:
        notes.append(f"service levels: {exc}")
    return CurrentSignals(period, found, notes)


def current_signals(ws: PlanContext, as_of: datetime | None = None) -> list[Signal]:
    """The current quarter's signals (`read_signals`)."""
    return read_signals(ws, as_of).signals
