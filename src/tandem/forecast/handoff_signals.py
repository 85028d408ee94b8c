"""The handoff's service levels as signals alert rules can watch: a clock at risk, and a clock run out.

``sla_at_risk``: an open clock at or past the contract's warning share of its target (75 % unless the contract says
otherwise); ``sla_breach``: an open clock past its target. The value is the share of the target used (0.8, 1.4), the
subject the lead, its handoff and the clock (``L-1/1/accept``), so a rule fires once per lead and clock, however
often cron runs it.

Two choices, both so that an alert is news someone can act on:

* **Only inside the team's business hours.** A clock's signal is raised only while the lead's team is at work
  (`tandem.sla.calendar`); at night it is held back. Business time does not pass outside business hours, so a clock
  at risk at 18:00 is still at risk at 09:00 and the next run raises it then, unless the rep acted meanwhile, when
  there is nothing left to say. No escalation at midnight.
* **Only fresh breaches.** A breach is raised while it is at most `FRESH_BREACH_SECONDS` of business time old:
  a first run over a year of history must not send a thousand alerts about leads long gone cold; they are in the
  report.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tandem.durations import format_business
from tandem.errors import TandemError
from tandem.forecast.signals import Signal
from tandem.periods import CalendarPeriod, current_quarter
from tandem.sla.calendar import business_seconds

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.handoffs.service import Measured

__all__ = ["FRESH_BREACH_SECONDS", "SLA_SIGNAL_KINDS", "handoff_summary", "sla_signals"]

SLA_SIGNAL_KINDS = ("sla_at_risk", "sla_breach")
#: How long after it ran out (business time) a breach is still raised: one working day of eight hours.
FRESH_BREACH_SECONDS = 8 * 3600
_CLOCK_WORDS = {"accept": "accepted or rejected", "first_touch": "touched"}


def sla_signals(ws: DefinitionsContext, as_of: datetime) -> list[Signal]:
    """The signals of every open clock at risk or freshly run out whose team is at work at `as_of`; none when the
    definitions have no service levels."""
    from tandem.handoffs.service import measure

    try:
        measured = measure(ws.warehouse, ws.counting(as_of), as_of)
    except TandemError:
        return []
    with measured:
        return _signals(measured, as_of)


def _signals(measured: Measured, as_of: datetime) -> list[Signal]:
    from tandem.handoffs.report import open_clocks
    from tandem.handoffs.service import deadline_of, rows_of

    clocks = open_clocks(measured.clocks)
    news = clocks.filter(clocks.warned | (clocks.breached & (clocks.left >= -FRESH_BREACH_SECONDS)))
    found: list[Signal] = []
    working: dict[tuple[int, str], bool] = {}
    for row in rows_of(measured.source, news):
        stretch = next(s for s in measured.stretches if s.version == row["version"])
        try:
            team = stretch.contract.team(str(row["team"]))
        except KeyError:
            continue
        key = (int(row["version"]), team.name)
        if key not in working:
            working[key] = business_seconds(team.calendar, as_of, as_of + timedelta(seconds=1)) == 1
        if not working[key]:
            continue
        found.append(_signal(row, deadline_of(measured, row)))
    return found


def _signal(row: dict[str, object], deadline: datetime | None) -> Signal:
    target, elapsed, left = int(row["target"]), int(row["elapsed"]), int(row["left"])  # type: ignore[call-overload]
    breached = bool(row["breached"])
    lead, clock, owner, team = row["lead_id"], str(row["clock"]), row["charged_to"], row["team"]
    action = _CLOCK_WORDS.get(clock, clock)
    if breached:
        message = (
            f"Lead {lead} ({row['priority']}) was not {action} within {format_business(target)}: "
            f"{owner} ({team}) has let it wait {format_business(elapsed)} of business time."
        )
    else:
        until = f", until {deadline:%Y-%m-%d %H:%M} UTC" if deadline is not None else ""
        message = (
            f"Lead {lead} ({row['priority']}) must be {action} by {owner} ({team}): "
            f"{format_business(left)} of its {format_business(target)} left{until}."
        )
    start = row["start"]
    assert isinstance(start, datetime)
    return Signal(
        kind="sla_breach" if breached else "sla_at_risk",
        subject=f"{lead}/{row['episode']}/{clock}",
        period=current_quarter(start.date()).label,
        value=elapsed / target if target else 0.0,
        unit="share",
        sample=1,
        message=message,
        details={
            "lead_id": lead,
            "episode": row["episode"],
            "clock": clock,
            "owner": owner,
            "team": team,
            "priority": row["priority"],
            "target_s": target,
            "elapsed_s": elapsed,
            "left_s": left,
            "deadline": deadline.isoformat() if deadline is not None else None,
            "definitions_version": row["version"],
        },
    )


def handoff_summary(ws: DefinitionsContext, period: CalendarPeriod, as_of: datetime) -> dict[str, Any] | None:
    """The handoff's service levels in `period` so far, for the early warnings: handoffs, breaches and breach rate,
    the clocks open now at risk or run out, and the reps with the most breaches; None without a contract."""
    from tandem.handoffs.service import measure

    try:
        measured = measure(ws.warehouse, ws.counting(as_of), as_of)
    except TandemError:
        return None
    with measured:
        return _summary(measured, period, as_of)


def _summary(measured: Measured, period: CalendarPeriod, as_of: datetime) -> dict[str, Any]:
    from tandem.handoffs.report import report_table
    from tandem.handoffs.service import rows_of

    start = datetime.combine(period.start, datetime.min.time())
    end = min(datetime.combine(period.end, datetime.min.time()), as_of)
    rows = rows_of(
        measured.source,
        report_table(
            measured.clocks, measured.episodes, by="rep", period=None, start=start, end=end, attempts=measured.attempts
        ),
    )
    totals = {k: sum(int(r[k] or 0) for r in rows) for k in ("handoffs", "breaches", "judged_clocks", "at_risk")}
    clocks = measured.clocks
    past = clocks.filter(clocks.stop.isnull(), clocks.breached)
    overdue = rows_of(measured.source, past.aggregate(n=past.count()))[0]["n"]
    worst = sorted((r for r in rows if r["breaches"]), key=lambda r: (-int(r["breaches"]), str(r["rep"])))[:3]
    rate = totals["breaches"] / totals["judged_clocks"] if totals["judged_clocks"] else None
    shown = "-" if rate is None else f"{rate:.0%}"
    message = (
        f"{totals['handoffs']:,} leads handed to sales in {period.label} so far; {totals['breaches']:,} service-level "
        f"breaches ({shown} of the clocks judged); {totals['at_risk']:,} clocks at risk now."
    )
    return {
        "period": period.label,
        "contract_version": measured.version,
        "handoffs": totals["handoffs"],
        "breaches": totals["breaches"],
        "judged_clocks": totals["judged_clocks"],
        "breach_rate": rate,
        "at_risk": totals["at_risk"],
        "open_past_target": int(overdue or 0),
        "most_breaches": [{"rep": r["rep"], "breaches": int(r["breaches"])} for r in worst],
        "message": message,
    }
