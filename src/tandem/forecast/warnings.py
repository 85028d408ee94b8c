"""Early warnings: a shortfall seen this month is next period's revenue gap, so say so now (docs/early-warnings.md).

What is measured against what: each stage's first entries (the funnel engine, as the Funnel page counts them)
against the period's plan (`tandem.plan.pacing.planned_volumes`: the accepted plan, else what the goal needs),
due evenly by day within each month, as `expected_to_date` has it. From that:

- **Weekly pacing**: per stage and ISO week (Monday to Sunday, clipped to the period), planned and actual, and the
  cumulative pace (actual to date / due to date), so a slide shows in week two rather than at quarter end.
- **Revenue gaps**: a stage's shortfall (due less actual, when positive) is carried forward with the model: the
  won deals it would have become (x the rate from the stage to won), in the months they would have closed (the lag
  distribution from the stage to won, from the month the shortfall happened in), x the deal size. Summed into this
  period and the next. Each stage reports its own gap, for this month and for the period so far. A stage behind
  only because the stage above it is behind shows the same lost revenue again: gaps of different stages are
  different readings of one shortfall, never to be added; the bottleneck names where it starts.
- **Bottleneck**: of the stages behind plan, the one whose pace relative to the stage above it is lowest (its own
  conversion against plan), judged only where both stages had enough due to tell.
- **The last day** extra top-of-funnel volume can still close in the period, as the reverse waterfall gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from tandem.engine.spec import as_of_or_now
from tandem.forecast.signals import Signal
from tandem.money import format_whole
from tandem.periods import CalendarPeriod, add_months, current_quarter, days_in_month, month_of, next_period
from tandem.plan.model import FunnelModel
from tandem.plan.pacing import expected_to_date, planned_volumes
from tandem.plan.waterfall import reverse_waterfall

if TYPE_CHECKING:
    from tandem.definitions.context import DefinitionsContext
    from tandem.plan.context import PlanContext

__all__ = [
    "MIN_EXPECTED",
    "Bottleneck",
    "EarlyWarnings",
    "LastDate",
    "MonthPace",
    "RevenueGap",
    "StageWarning",
    "WeekPace",
    "early_warnings",
    "signals",
    "warnings_against",
]

#: Entries due to date below which a stage's pace is too thin to name it the bottleneck.
MIN_EXPECTED = 10.0

Scope = Literal["month", "period"]


def stage_words(stage: str, *, last: bool = False) -> str:
    """A stage's entries in a sentence: ``MQLs``, ``leads``, ``opportunities``, ``won deals``."""
    if last:
        return f"{stage} deals"
    if len(stage) <= 3:
        return f"{stage.upper()}s"
    if stage.endswith("y"):
        return f"{stage[:-1]}ies"
    return stage if stage.endswith("s") else f"{stage}s"


def _planned_on(plan: Mapping[date, float], day: date) -> float:
    """A day's share of its month's planned volume (a month is even within itself, as in `expected_to_date`)."""
    month = month_of(day)
    return plan.get(month, 0.0) / days_in_month(month)


def _weeks(first: date, last: date) -> list[tuple[date, date]]:
    """ISO weeks (Monday to Sunday) covering [first, last], each clipped to it."""
    weeks = []
    start = first
    while start <= last:
        sunday = start + timedelta(days=6 - start.weekday())
        weeks.append((start, min(sunday, last)))
        start = sunday + timedelta(days=1)
    return weeks


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


@dataclass(frozen=True)
class WeekPace:
    """One stage in one week: planned, due by the as-of day, actual, and the period's pace so far."""

    week: str  # ISO week, e.g. 2026-W45
    start: date  # the week's first day in the period
    end: date  # its last day in the period (inclusive)
    planned: float
    expected: float | None  # due by the as-of day; None for a week not begun
    actual: int | None  # None for a week not begun
    cumulative_planned: float
    cumulative_expected: float | None
    cumulative_actual: int | None

    @property
    def pace(self) -> float | None:
        """Actual / due, from the period's start to this week's end (or the as-of day)."""
        if self.cumulative_actual is None or not self.cumulative_expected:
            return None
        return self.cumulative_actual / self.cumulative_expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "start": self.start,
            "end": self.end,
            "planned": self.planned,
            "expected": self.expected,
            "actual": self.actual,
            "cumulative_planned": self.cumulative_planned,
            "cumulative_expected": self.cumulative_expected,
            "cumulative_actual": self.cumulative_actual,
            "pace": self.pace,
        }


@dataclass(frozen=True)
class MonthPace:
    """A stage in the as-of day's month: due by that day and actual."""

    month: date
    expected: float
    actual: int

    @property
    def pace(self) -> float | None:
        return self.actual / self.expected if self.expected > 0 else None

    @property
    def shortfall(self) -> float:
        return max(0.0, self.expected - self.actual)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "expected": self.expected,
            "actual": self.actual,
            "pace": self.pace,
            "shortfall": self.shortfall,
        }


@dataclass(frozen=True)
class StageWarning:
    """A stage's pacing for the period so far: in total, this month, and week by week."""

    stage: str
    planned: float
    expected: float
    actual: int
    relative_pace: float | None  # pace / the pace of the stage above (the first stage: its pace)
    this_month: MonthPace | None  # None when the as-of day is outside the period
    weeks: list[WeekPace]

    @property
    def pace(self) -> float | None:
        return self.actual / self.expected if self.expected > 0 else None

    @property
    def shortfall(self) -> float:
        return max(0.0, self.expected - self.actual)

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "planned": self.planned,
            "expected_to_date": self.expected,
            "actual_to_date": self.actual,
            "shortfall": self.shortfall,
            "pace": self.pace,
            "relative_pace": self.relative_pace,
            "this_month": self.this_month.as_dict() if self.this_month else None,
            "weeks": [w.as_dict() for w in self.weeks],
        }


@dataclass(frozen=True)
class RevenueGap:
    """A stage's shortfall carried through the model into the revenue it will not bring, month by month."""

    stage: str
    scope: Scope  # "month": this month's shortfall; "period": the period's so far
    expected: float
    actual: int
    shortfall: float
    rate_to_end: float
    lost_deals: float
    by_month: dict[date, float]  # the month deals would have closed in -> revenue
    this_period: float
    next_period: float
    later: float
    message: str

    @property
    def pace(self) -> float:
        return self.actual / self.expected

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "scope": self.scope,
            "expected": self.expected,
            "actual": self.actual,
            "shortfall": self.shortfall,
            "pace": self.pace,
            "rate_to_end": self.rate_to_end,
            "lost_deals": self.lost_deals,
            "by_month": [{"month": m, "amount": a} for m, a in sorted(self.by_month.items())],
            "this_period": self.this_period,
            "next_period": self.next_period,
            "later": self.later,
            "message": self.message,
        }


@dataclass(frozen=True)
class Bottleneck:
    """The stage converting furthest below plan from the stage above it (the first stage: furthest below plan)."""

    stage: str
    above: str | None
    relative_pace: float
    pace: float
    above_pace: float | None
    expected: float
    reason: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class LastDate:
    """The last day top-of-funnel volume can arrive and still close in the period, and the days until then."""

    stage: str
    period_end: date
    median_lag_days: float
    p80_lag_days: float
    last_day: date  # half of what converts closes in time
    last_day_p80: date  # four in five do
    days_left: int  # negative: the day has passed
    days_left_p80: int
    message: str

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class EarlyWarnings:
    """Every early warning for one period, as of a moment (module docs)."""

    period: CalendarPeriod
    next_period: CalendarPeriod
    as_of: datetime
    basis: str
    definition_version: int
    model: FunnelModel
    stages: list[StageWarning]
    gaps: list[RevenueGap]
    bottleneck: Bottleneck | None
    last_date: LastDate
    notes: list[str] = field(default_factory=list)
    #: The handoff's service levels in the period (`tandem.forecast.handoff_signals.handoff_summary`), when the
    #: definitions have a contract.
    service_levels: dict[str, Any] | None = None

    def stage(self, name: str) -> StageWarning:
        return next(s for s in self.stages if s.stage == name)

    def gap(self, stage: str, scope: Scope = "period") -> RevenueGap | None:
        return next((g for g in self.gaps if g.stage == stage and g.scope == scope), None)

    def signals(self) -> list[Signal]:
        """What alert rules watch: each stage's pace, each stage's revenue gap (period so far), the bottleneck."""
        label = self.period.label
        found: list[Signal] = []
        for s in self.stages:
            if s.pace is None:
                continue
            found.append(
                Signal(
                    kind="stage_pace",
                    subject=s.stage,
                    period=label,
                    value=s.pace,
                    unit="ratio",
                    sample=round(s.expected),
                    message=f"{stage_words(s.stage, last=s.stage == self.model.stages[-1])} are at "
                    f"{_percent(s.pace)} of plan for {label} so far ({s.actual:,} of {s.expected:,.0f} due)",
                    details={"expected": s.expected, "actual": s.actual, "planned": s.planned},
                )
            )
        for gap in self.gaps:
            if gap.scope != "period":
                continue
            month = self.gap(gap.stage, "month")
            found.append(
                Signal(
                    kind="revenue_gap",
                    subject=gap.stage,
                    period=label,
                    value=gap.next_period,
                    unit="amount",
                    sample=round(gap.shortfall),
                    message=gap.message,
                    details={
                        "next_period": self.next_period.label,
                        "next_period_gap": gap.next_period,
                        "this_period_gap": gap.this_period,
                        "later_gap": gap.later,
                        "shortfall": gap.shortfall,
                        "lost_deals": gap.lost_deals,
                        "this_month": month.as_dict() if month else None,
                    },
                )
            )
        if self.bottleneck is not None:
            found.append(
                Signal(
                    kind="bottleneck",
                    subject=self.bottleneck.stage,
                    period=label,
                    value=self.bottleneck.relative_pace,
                    unit="ratio",
                    sample=round(self.bottleneck.expected),
                    message=self.bottleneck.reason,
                    details=self.bottleneck.as_dict(),
                )
            )
        return found

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "start": self.period.start,
            "end": self.period.end - timedelta(days=1),
            "next_period": self.next_period.label,
            "as_of": self.as_of,
            "basis": self.basis,
            "definition_version": self.definition_version,
            "model": {"basis": self.model.basis, "deal_size": self.model.deal_size, "stages": list(self.model.stages)},
            "stages": [s.as_dict() for s in self.stages],
            "gaps": [g.as_dict() for g in self.gaps],
            "bottleneck": self.bottleneck.as_dict() if self.bottleneck else None,
            "last_date": self.last_date.as_dict(),
            "signals": [s.as_dict() for s in self.signals()],
            "notes": self.notes,
            "service_levels": self.service_levels,
        }


def early_warnings(
    ws: PlanContext,
    period: CalendarPeriod | None = None,
    *,
    as_of: datetime | None = None,
    model: FunnelModel | None = None,
) -> EarlyWarnings:
    """The early warnings for `period` (default: the as-of day's quarter) against its plan, else what its goal
    needs; `model` defaults to the model from history as of `as_of`. `ConfigError` when there is neither."""
    moment = as_of_or_now(as_of)
    chosen = period or current_quarter(moment.date())
    planned, basis = planned_volumes(ws, chosen)
    if model is None:
        from tandem.plan.history import model_from_history

        model = model_from_history(ws, as_of=moment)
    return warnings_against(ws, planned, chosen, as_of=moment, model=model, basis=basis)


def signals(
    ws: PlanContext,
    period: CalendarPeriod | None = None,
    *,
    as_of: datetime | None = None,
    model: FunnelModel | None = None,
) -> list[Signal]:
    """The early warnings' signals (`EarlyWarnings.signals`), for alert rules."""
    return early_warnings(ws, period, as_of=as_of, model=model).signals()


def warnings_against(
    ws: PlanContext,
    planned: Mapping[tuple[str, date], float],
    period: CalendarPeriod,
    *,
    model: FunnelModel,
    as_of: datetime | None = None,
    basis: str = "",
) -> EarlyWarnings:
    """The early warnings for `period` against `planned` volumes per (stage, month) (module docs)."""
    moment = as_of_or_now(as_of)
    today = moment.date()
    first, last = period.start, period.end - timedelta(days=1)
    stages, version, daily = _daily_entries(ws, first, last, moment)
    notes: list[str] = []
    missing = [s for s in stages if s not in model.stages]
    if missing:
        notes.append(f"no revenue gap for {', '.join(missing)}: not a stage of the model ({', '.join(model.stages)})")

    paced: list[StageWarning] = []
    for stage in stages:
        plan = {m: v for (s, m), v in planned.items() if s == stage}
        paced.append(_stage_warning(stage, plan, daily.get(stage, {}), first, last, today))
    paced = _with_relative_paces(paced)

    following = next_period(period)
    gaps: list[RevenueGap] = []
    for s in paced:
        if s.stage not in model.stages:
            continue
        plan = {m: v for (st, m), v in planned.items() if st == s.stage}
        for scope in ("month", "period"):
            gap = _revenue_gap(
                model, s, scope, plan, daily.get(s.stage, {}), period=period, following=following, today=today
            )
            if gap is not None:
                gaps.append(gap)
    return EarlyWarnings(
        period=period,
        next_period=following,
        as_of=moment,
        basis=basis,
        definition_version=version,
        model=model,
        stages=paced,
        gaps=gaps,
        bottleneck=_bottleneck(paced),
        last_date=_last_date(model, period, today),
        notes=notes,
    )


def _daily_entries(
    ws: DefinitionsContext, first: date, last: date, moment: datetime
) -> tuple[list[str], int, dict[str, dict[date, int]]]:
    """The funnel's stages, its definition version, and each stage's first entries per day of [first, last] up to
    `moment` (the funnel engine by day: weeks and months add these up, so every total is the Funnel page's)."""
    today = moment.date()
    if today < first:
        in_force = ws.definitions_in_force(moment)
        return list(in_force.definitions.stage_names), in_force.version, {}
    result = ws.funnel(period="day", start=first, end=min(last, today) + timedelta(days=1), as_of=moment)
    daily: dict[str, dict[date, int]] = {}
    for row in result.rows():
        day = row["period"].date() if isinstance(row["period"], datetime) else row["period"]
        daily.setdefault(str(row["stage"]), {})[day] = int(row["reached"] or 0)
    return list(result.spec.stages), result.definition_version, daily


def _stage_warning(
    stage: str, plan: Mapping[date, float], daily: Mapping[date, int], first: date, last: date, today: date
) -> StageWarning:
    weeks: list[WeekPace] = []
    cumulative_planned, cumulative_expected, cumulative_actual = 0.0, 0.0, 0
    for start, end in _weeks(first, last):
        days = _days(start, end)
        planned = sum(_planned_on(plan, d) for d in days)
        cumulative_planned += planned
        begun = start <= today
        if begun:
            expected = sum(_planned_on(plan, d) for d in days if d <= today)
            actual = sum(daily.get(d, 0) for d in days if d <= today)
            cumulative_expected += expected
            cumulative_actual += actual
        year, number, _ = start.isocalendar()
        weeks.append(
            WeekPace(
                week=f"{year}-W{number:02d}",
                start=start,
                end=end,
                planned=planned,
                expected=expected if begun else None,
                actual=actual if begun else None,
                cumulative_planned=cumulative_planned,
                cumulative_expected=cumulative_expected if begun else None,
                cumulative_actual=cumulative_actual if begun else None,
            )
        )
    this_month = None
    if first <= today <= last:
        month = month_of(today)
        this_month = MonthPace(
            month=month,
            expected=expected_to_date({month: plan.get(month, 0.0)}, month, last, today),
            actual=sum(n for d, n in daily.items() if month <= d <= today),
        )
    return StageWarning(
        stage=stage,
        planned=sum(v for m, v in plan.items() if first <= m <= last),
        expected=expected_to_date(plan, first, last, today),
        actual=sum(n for d, n in daily.items() if first <= d <= min(last, today)),
        relative_pace=None,
        this_month=this_month,
        weeks=weeks,
    )


def _with_relative_paces(stages: list[StageWarning]) -> list[StageWarning]:
    """Each stage's pace over the pace of the stage above: its own conversion against plan."""
    found = []
    for k, s in enumerate(stages):
        relative = s.pace
        if k > 0:
            above = stages[k - 1].pace
            relative = s.pace / above if s.pace is not None and above else None
        found.append(replace(s, relative_pace=relative))
    return found


def _revenue_gap(
    model: FunnelModel,
    stage: StageWarning,
    scope: Scope,
    plan: Mapping[date, float],
    daily: Mapping[date, int],
    *,
    period: CalendarPeriod,
    following: CalendarPeriod,
    today: date,
) -> RevenueGap | None:
    """The stage's shortfall in `scope` carried to revenue, or None when it is not behind there.

    Each begun month's own difference (due less actual) is carried from that month, so in the period view a month
    ahead of plan offsets one behind in the months their deals would close, as it would in the revenue.
    """
    if scope == "month":
        if stage.this_month is None or stage.this_month.shortfall <= 0:
            return None
        expected, actual = stage.this_month.expected, stage.this_month.actual
        months = [stage.this_month.month]
    else:
        if stage.shortfall <= 0:
            return None
        expected, actual = stage.expected, stage.actual
        months = [m.start for m in period.months if m.start <= today]
    differences = {}
    for month in months:
        month_last = add_months(month, 1) - timedelta(days=1)
        due = expected_to_date({month: plan.get(month, 0.0)}, month, month_last, today)
        got = sum(n for d, n in daily.items() if month <= d <= min(month_last, today))
        differences[month] = due - got
    k = model.index(stage.stage)
    rate = model.rate_to_end(k)
    offsets = model.lag_to_end(k).month_offsets()
    by_month: dict[date, float] = {}
    for month, missing in differences.items():
        for offset, weight in offsets.items():
            lands = add_months(month, offset)
            by_month[lands] = by_month.get(lands, 0.0) + missing * rate * weight * model.deal_size
    this_period = sum(a for m, a in by_month.items() if period.start <= m < period.end)
    next_period_gap = sum(a for m, a in by_month.items() if following.start <= m < following.end)
    later = sum(a for m, a in by_month.items() if m >= following.end)
    shortfall = expected - actual
    words = stage_words(stage.stage, last=k == len(model.stages) - 1)
    when = "this month" if scope == "month" else f"for {period.label} so far"
    message = (
        f"{words} are {_behind(actual / expected)} plan {when} ({actual:,} of {expected:,.0f} due): "
        + _gap_words(this_period, next_period_gap, later, period, following)
    )
    return RevenueGap(
        stage=stage.stage,
        scope=scope,
        expected=expected,
        actual=actual,
        shortfall=shortfall,
        rate_to_end=rate,
        lost_deals=shortfall * rate,
        by_month=dict(sorted(by_month.items())),
        this_period=this_period,
        next_period=next_period_gap,
        later=later,
        message=message,
    )


def _percent(share: float) -> str:
    return f"{round(100 * share)} %"


def _behind(pace: float) -> str:
    """``18 % behind``; a shortfall that rounds to nothing is ``under 1 % behind``, never ``0 % behind``."""
    return "under 1 % behind" if round(100 * (1 - pace)) == 0 else f"{_percent(1 - pace)} behind"


def _and(parts: list[str]) -> str:
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1]


def _gap_words(
    this_period: float, next_period: float, later: float, period: CalendarPeriod, following: CalendarPeriod
) -> str:
    """``an expected gap of 38,000 in revenue this quarter and 412,000 next quarter (2027-Q1)``: in time order, the
    parts that round to a gap; parts that round to a surplus (months ahead of plan, carried forward) said apart."""
    named = [
        (this_period, f"this {period.kind}"),
        (next_period, f"next {following.kind} ({following.label})"),
        (later, f"after {following.label}"),
    ]
    gaps = [(format_whole(a), when) for a, when in named if round(a) > 0]
    ahead = [f"{format_whole(-a)} {when}" for a, when in named if round(a) < 0]
    if gaps:
        phrases = [f"{amount} {when}" for amount, when in gaps]
        phrases[0] = f"{gaps[0][0]} in revenue {gaps[0][1]}"
        words = f"an expected gap of {_and(phrases)}"
    else:
        words = "no expected revenue gap"
    if ahead:
        words += f"; months ahead of plan add {_and(ahead)}"
    return words


def _bottleneck(stages: list[StageWarning]) -> Bottleneck | None:
    """Among stages behind plan, converting below plan from the stage above (relative pace under 1), and with at
    least `MIN_EXPECTED` due (they and the stage above), the one with the lowest relative pace.

    A stage ahead of plan is nobody's bottleneck, however its conversion compares: there is no shortfall to explain.
    A tie goes to the earlier stage: the root of what follows.
    """
    best: Bottleneck | None = None
    for k, s in enumerate(stages):
        above = stages[k - 1] if k > 0 else None
        if s.relative_pace is None or s.pace is None or s.pace >= 1 or s.expected < MIN_EXPECTED:
            continue
        if above is not None and above.expected < MIN_EXPECTED:
            continue
        if s.relative_pace >= 1 or (best is not None and s.relative_pace >= best.relative_pace):
            continue
        if above is None:
            reason = (
                f"{s.stage} is the bottleneck: {_percent(s.pace)} of plan so far ({s.actual:,} of "
                f"{s.expected:,.0f} due), the top of the funnel is short"
            )
        else:
            reason = (
                f"{s.stage} is the bottleneck: it converts from {above.stage} at {_percent(s.relative_pace)} of plan "
                f"({s.stage} at {_percent(s.pace)} of plan, {above.stage} at {_percent(above.pace or 0)})"
            )
        best = Bottleneck(
            stage=s.stage,
            above=above.stage if above else None,
            relative_pace=s.relative_pace,
            pace=s.pace,
            above_pace=above.pace if above else None,
            expected=s.expected,
            reason=reason,
        )
    return best


def _last_date(model: FunnelModel, period: CalendarPeriod, today: date) -> LastDate:
    """The reverse waterfall's last day for the first stage (its median and 80 % lag to the last stage)."""
    last = period.end - timedelta(days=1)
    first = reverse_waterfall(model, {period.start: 1.0}, period_end=last, draws=0).totals[0]
    lag = model.lag_to_end(0)
    days_left = (first.last_entry - today).days
    stage = model.stages[0]
    if days_left > 0:
        when = f"{days_left} days left"
    elif days_left == 0:
        when = "today is that day"
    else:
        when = f"that day passed {-days_left} days ago"
    message = (
        f"extra {stage_words(stage)} can still close in {period.label} if they arrive by {first.last_entry} "
        f"(half of those that convert close in time), by {first.last_entry_p80} for four in five: {when}"
    )
    return LastDate(
        stage=stage,
        period_end=last,
        median_lag_days=lag.quantile(0.5),
        p80_lag_days=lag.quantile(0.8),
        last_day=first.last_entry,
        last_day_p80=first.last_entry_p80,
        days_left=days_left,
        days_left_p80=(first.last_entry_p80 - today).days,
        message=message,
    )
