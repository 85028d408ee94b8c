"""The handoff's service levels as signals alert rules can watch: a clock at risk, and a clock run out.

``sla_at_risk``: an open clock at or past the contract's warning share of its target (75 % unless the contract says
otherwise); ``sla_breach``: an open clock past its target. The value is the share of the target used (0.8, 1.4), the
subject the lead, its handoff and the clock (``L-1/1/accept``), so a rule fires once per lead and clock, however
often cron runs it.

Two choices, both so that an alert is news someone can act on:

* **Only inside the recipient's business hours.** An alert follows the hours of one team of the contract: the one
  its destination (or rule) names with ``team:`` in ``alerts.yaml``, else the lead's own team. A signal is raised
  only while at least one team followed is at work (`tandem.sla.calendar`), and ``details["in_hours_of"]`` lists
  those teams, so each destination gets it only in its own team's hours (`in_hours_of`). At night it is held
  back: a clock at risk at 18:00 is still open at 09:00 and the next run raises it then, unless the rep acted
  meanwhile, when there is nothing left to say. No escalation at midnight.
* **Only fresh breaches.** A breach is news while the recipient has had at most `FRESH_BREACH_SECONDS` (one working
  day) of its own business time since the clock ran out: a first run over a year of history must not send a
  thousand alerts about leads long gone cold; they are in the report. Measured in the recipient's hours, a breach
  at night, on a weekend or on the recipient's holiday is still fresh at the first run inside its hours, where it
  is sent. (A breach older than `CANDIDATE_SECONDS` of the lead's team's business time is history for everyone.)
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from tandem.durations import format_business
from tandem.errors import NotFoundError, TandemError
from tandem.forecast.signals import Signal
from tandem.periods import CalendarPeriod, current_quarter
from tandem.sla.calendar import BusinessClock, business_seconds

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.handoffs.service import Measured
    from tandem.sla.calendar import TeamCalendar

__all__ = [
    "CANDIDATE_SECONDS",
    "FRESH_BREACH_SECONDS",
    "SLA_SIGNAL_KINDS",
    "handoff_summary",
    "in_hours_of",
    "sla_signals",
]

SLA_SIGNAL_KINDS = ("sla_at_risk", "sla_breach")
#: How much of the recipient's business time after a clock ran out its breach is still raised: one working day
#: of eight hours.
FRESH_BREACH_SECONDS = 8 * 3600
#: The oldest breach (business time of the lead's team) looked at for a recipient in other hours: a working week.
CANDIDATE_SECONDS = 5 * FRESH_BREACH_SECONDS
#: How far back (calendar days) the moment a clock ran out is looked for.
_LOOKBACK_DAYS = 21
_CLOCK_WORDS = {"accept": "accepted or rejected", "first_touch": "touched"}


def sla_signals(ws: DefinitionsContext, as_of: datetime, teams: Collection[str | None] = (None,)) -> list[Signal]:
    """The signals of every open clock at risk or freshly run out that some recipient may get at `as_of`: one
    following the hours of a team of `teams` (None: the lead's own team) at work then.

    A `TandemError` (no service levels in the definitions, a table that cannot be read) is raised: the caller
    says why the source was silent (`tandem.forecast.current.read_signals`)."""
    from tandem.handoffs.service import measure

    with measure(ws.warehouse, ws.counting(as_of), as_of) as measured:
        return _signals(measured, as_of, teams)


def in_hours_of(signal: Signal, team: str | None) -> bool:
    """Whether `signal` may go now to a recipient following `team`'s hours (None: the lead's own team). Signals
    that follow no hours (not a handoff signal, or read from a file without ``in_hours_of``) always may."""
    hours = signal.details.get("in_hours_of")
    if signal.kind not in SLA_SIGNAL_KINDS or not isinstance(hours, list):
        return True
    return (team or signal.details.get("team")) in hours


def _at_work(calendar: TeamCalendar, moment: datetime) -> bool:
    return business_seconds(calendar, moment, moment + timedelta(seconds=1)) == 1


def _ran_out(calendar: TeamCalendar, as_of: datetime, overdue: int) -> datetime | None:
    """The instant a clock `overdue` business seconds past its target at `as_of` ran out (the first at which its
    team's business time reached the target); None when that is more than `_LOOKBACK_DAYS` back."""
    clock = BusinessClock.covering(calendar, as_of - timedelta(days=_LOOKBACK_DAYS), as_of)
    target = clock.at(as_of) - overdue
    if target <= 0:
        return None
    for interval in clock.intervals:
        length = int((interval.end - interval.start).total_seconds())
        if interval.cumulative <= target <= interval.cumulative + length:
            return interval.start + timedelta(seconds=target - interval.cumulative)
    return None


def _signals(measured: Measured, as_of: datetime, teams: Collection[str | None]) -> list[Signal]:
    from tandem.handoffs.report import open_clocks
    from tandem.handoffs.service import deadline_of, rows_of

    others = sorted({t for t in teams if t is not None})
    oldest = CANDIDATE_SECONDS if others else FRESH_BREACH_SECONDS
    clocks = open_clocks(measured.clocks)
    news = clocks.filter(clocks.warned | (clocks.breached & (clocks.left >= -oldest)))
    contract = measured.contract
    working = {t.name: _at_work(t.calendar, as_of) for t in contract.teams if t.name in others}
    found: list[Signal] = []
    for row in rows_of(measured.source, news):
        stretch = next(s for s in measured.stretches if s.version == row["version"])
        try:
            team = stretch.contract.team(str(row["team"]))
        except KeyError:
            continue
        overdue = max(-int(row["left"]), 0) if row["breached"] else 0
        hours: set[str] = set()
        if None in teams and _at_work(team.calendar, as_of) and overdue <= FRESH_BREACH_SECONDS:
            hours.add(team.name)
        ran_out = _ran_out(team.calendar, as_of, overdue) if overdue and others else as_of
        for name in others:
            if not working.get(name) or ran_out is None:
                continue
            if business_seconds(contract.team(name).calendar, ran_out, as_of) <= FRESH_BREACH_SECONDS:
                hours.add(name)
        if hours:
            found.append(_signal(row, deadline_of(measured, row), sorted(hours)))
    return found


def _signal(row: dict[str, object], deadline: datetime | None, hours: list[str]) -> Signal:
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
            "in_hours_of": hours,
        },
    )


def handoff_summary(ws: DefinitionsContext, period: CalendarPeriod, as_of: datetime) -> dict[str, Any] | None:
    """The handoff's service levels in `period` so far, for the early warnings: handoffs, breaches and breach rate,
    the clocks open now at risk or run out, and the reps with the most breaches; None without a contract.

    When they cannot be read for another reason (a handoff table that cannot be read), ``error`` says why in one
    line, so the warnings show it rather than dropping the section without a word."""
    from tandem.handoffs.service import measure

    try:
        measured = measure(ws.warehouse, ws.counting(as_of), as_of)
    except NotFoundError:
        return None
    except TandemError as exc:
        return {"period": period.label, "error": f"the service levels could not be read: {exc}"}
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
