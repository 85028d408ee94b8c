"""Plan against actual, with pacing: where each stage and the revenue should be today, and how far off they are.

**The yardstick**, per stage and month. Marketing's stages are measured against the accepted marketing plan's
volumes (its programs run forward through the model): they are what marketing committed to. Sales' stages, and
the revenue, are measured against what the goal needs (the reverse waterfall, and the goal by month): a won deal
counts for the goal wherever it came from, so comparing all won deals with the few the plan's own leads bring
this period would read 281 % of plan while the goal is out of reach. Without an accepted plan every stage is
measured against what the goal needs. **The actual**, per stage and month: the leads that first entered the stage
that month, from the funnel engine (each day under the definitions in force then, cumulative counting, as of the
as-of time), so the numbers are the Funnel page's; and the revenue won, by close month.

**Pacing** follows the yardstick's shape: by the as-of day, a row should have the planned volume of every month of
the period already over, plus the part of the current month's planned volume its elapsed days are of the month (a
month is assumed even within itself). ``pace`` = actual to date / expected to date: 0.82 is 18 % behind. The
**projection** carries today's pace to the period's end: planned total x pace. A row with nothing expected yet
has no pace (None), rather than an infinite one.

**Colours follow the forecast's verdict** (`verdict_of`): whether the goal will be reached is the forecast's
question (it adds what is open and in flight), so a page colours the plan against actual by the forecast's chance
of reaching the goal, not by a raw ratio that a single row can make look good.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from tandem.errors import TandemError
from tandem.periods import CalendarPeriod, add_months, month_of

if TYPE_CHECKING:
    from tandem.plan.context import PlanContext
    from tandem.plan.proposals import PlanVersionInfo

__all__ = [
    "Pacing",
    "StagePacing",
    "accepted_volumes",
    "expected_to_date",
    "pacing",
    "planned_volumes",
    "verdict_of",
    "version_volumes",
]

#: The forecast's chance of reaching the goal at or above which a period is on track, and below which it is off.
ON_TRACK, OFF_TRACK = 0.6, 0.3


def verdict_of(chance: float | None) -> str | None:
    """The forecast's verdict on the goal from its chance of reaching it: on track, at risk or off track."""
    if chance is None:
        return None
    return "on track" if chance >= ON_TRACK else "at risk" if chance >= OFF_TRACK else "off track"


def expected_to_date(planned: Mapping[date, float], start: date, end: date, today: date) -> float:
    """The planned volume due by the end of `today` in the period [start, end]: whole months before today's, and
    today's month in proportion to its elapsed days (today included)."""
    due = 0.0
    for month, volume in planned.items():
        if not start <= month <= end:
            continue
        last = add_months(month, 1) - timedelta(days=1)
        if last <= today:
            due += volume
        elif month <= today:
            due += volume * ((today - month).days + 1) / ((last - month).days + 1)
    return due


@dataclass(frozen=True)
class StagePacing:
    stage: str
    planned: float
    expected: float
    actual: float  # entries (whole), or revenue won
    by_month: list[dict[str, Any]]

    @property
    def pace(self) -> float | None:
        return self.actual / self.expected if self.expected > 0 else None

    @property
    def gap(self) -> float:
        """Actual less expected to date: negative is behind."""
        return self.actual - self.expected

    @property
    def projected(self) -> float | None:
        return self.planned * self.pace if self.pace is not None else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "planned": self.planned,
            "expected_to_date": self.expected,
            "actual_to_date": self.actual,
            "gap": self.gap,
            "pace": self.pace,
            "projected": self.projected,
            "by_month": self.by_month,
        }


@dataclass(frozen=True)
class Pacing:
    """Every stage's plan against actual for one period, as of a day."""

    start: date
    end: date
    as_of: datetime
    basis: str
    definition_version: int
    stages: list[StagePacing] = field(default_factory=list)
    #: Won revenue against the goal by month (None without a goal to measure it against).
    revenue: StagePacing | None = None
    #: Each version and the days it counted within the period (the funnel result's ``counted_under``).
    counted_under: list[dict[str, Any]] = field(default_factory=list)

    def stage(self, name: str) -> StagePacing:
        return next(s for s in self.stages if s.stage == name)

    @property
    def elapsed(self) -> float:
        """The share of the period's days gone by (today included)."""
        days = (self.end - self.start).days + 1
        gone = (min(self.as_of.date(), self.end) - self.start).days + 1
        return max(0.0, min(1.0, gone / days))

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "as_of": self.as_of,
            "elapsed": self.elapsed,
            "basis": self.basis,
            "definition_version": self.definition_version,
            "counted_under": self.counted_under,
            "stages": [s.as_dict() for s in self.stages],
            "revenue": self.revenue.as_dict() if self.revenue is not None else None,
        }


def pacing(
    ws: PlanContext,
    planned: Mapping[tuple[str, date], float],
    *,
    start: date,
    end: date,
    as_of: datetime | None = None,
    basis: str = "",
    revenue_planned: Mapping[date, float] | None = None,
) -> Pacing:
    """Plan against actual for the period [start, end] (inclusive), as of `as_of` (default now); module docs.

    `revenue_planned` is the goal by month: with it, won revenue is paced against it too.
    """
    moment = as_of or datetime.now(UTC).replace(tzinfo=None)
    today = moment.date()
    result = ws.funnel(
        period="month",
        start=start,
        end=min(end + timedelta(days=1), today + timedelta(days=1)),
        as_of=moment,
    )
    actual: dict[tuple[str, date], int] = {}
    for row in result.rows():
        month = row["period"].date() if isinstance(row["period"], datetime) else row["period"]
        actual[(row["stage"], month_of(month))] = int(row["reached"] or 0)
    stages = list(result.spec.stages)
    months = [month_of(start)]
    while add_months(months[-1], 1) <= end:
        months.append(add_months(months[-1], 1))
    paced = []
    for stage in stages:
        plan = {m: v for (s, m), v in planned.items() if s == stage}
        rows = [
            {
                "month": month,
                "planned": plan.get(month, 0.0),
                "actual": actual.get((stage, month), 0) if month <= today else None,
            }
            for month in months
        ]
        paced.append(
            StagePacing(
                stage=stage,
                planned=sum(v for m, v in plan.items() if start <= m <= end),
                expected=expected_to_date(plan, month_of(start), end, today),
                actual=sum(actual.get((stage, m), 0) for m in months),
                by_month=rows,
            )
        )
    revenue = None
    if revenue_planned is not None:
        won = ws.revenue(
            period="month", start=start, end=min(end + timedelta(days=1), today + timedelta(days=1)), as_of=moment
        )
        won_by_month = {
            month_of(row["period"].date() if isinstance(row["period"], datetime) else row["period"]): float(
                row["won_revenue"] or 0.0
            )
            for row in won.rows()
        }
        plan = {month_of(m): float(v) for m, v in revenue_planned.items()}
        revenue = StagePacing(
            stage="revenue",
            planned=sum(v for m, v in plan.items() if month_of(start) <= m <= end),
            expected=expected_to_date(plan, month_of(start), end, today),
            actual=sum(won_by_month.get(m, 0.0) for m in months),
            by_month=[
                {"month": m, "planned": plan.get(m, 0.0), "actual": won_by_month.get(m, 0.0) if m <= today else None}
                for m in months
            ],
        )
    counting = result.counting
    window_end = datetime.combine(end + timedelta(days=1), datetime.min.time())
    return Pacing(
        start=start,
        end=end,
        as_of=moment,
        basis=basis,
        definition_version=result.definition_version,
        stages=paced,
        revenue=revenue,
        counted_under=counting.as_list(datetime.combine(start, datetime.min.time()), window_end)
        if counting is not None
        else [],
    )


def version_volumes(version: PlanVersionInfo) -> dict[tuple[str, date], float] | None:
    """A plan version's volumes per stage and month (its programs run forward through the model, frozen when it
    was proposed), or None when it has no sufficiency check."""
    if not version.sufficiency:
        return None
    return {
        (str(row["stage"]), date.fromisoformat(str(row["month"])[:10])): float(row["planned"])
        for row in version.sufficiency.get("shortfall", [])
    }


def accepted_volumes(ws: PlanContext, period: CalendarPeriod) -> tuple[dict[tuple[str, date], float], str] | None:
    """The accepted plan's volumes per stage and month (`version_volumes`) and its label, or None when the period
    has no accepted plan with a check."""
    baseline = ws.plans.baseline(period)
    planned = None if baseline is None else version_volumes(baseline)
    if baseline is None or planned is None:
        return None
    return planned, f"the accepted plan ({baseline.label})"


def planned_volumes(ws: PlanContext, period: CalendarPeriod) -> tuple[dict[tuple[str, date], float], str]:
    """What the period is measured against, per stage and month, and what that is in words.

    The accepted plan's volumes (its programs run forward, frozen when it was accepted), else the volumes the
    period's goal needs (the reverse waterfall on history). Raises a `TandemError` (the question is fine, the
    workspace cannot answer it yet) when there is neither a plan nor a goal to measure against.
    """
    from tandem.plan.calculator import Given, plan_waterfall

    accepted = accepted_volumes(ws, period)
    if accepted is not None:
        return accepted
    from tandem.plan.goals import plan_targets

    if plan_targets(ws.goals.all())(period).amount is None:
        raise TandemError(
            f"nothing to measure {period.label} against: accept a plan for it (`tandem plan propose`) or set its "
            f"goal (`tandem goal set {period.label} AMOUNT`)"
        )
    required = plan_waterfall(Given({}, {}), ws, period=period)
    needed = {(row.stage, row.month): row.required for row in required.rows}
    return needed, f"what the goal needs (no plan accepted for {period.label})"


def period_pacing(ws: PlanContext, period: CalendarPeriod, *, as_of: datetime | None = None) -> Pacing:
    """Plan against actual for a period (`planned_volumes`, `pacing`): marketing's stages against the accepted
    plan, sales' stages and the revenue against what the goal needs (module docs)."""
    from tandem.plan.calculator import goal_by_month
    from tandem.plan.goals import plan_targets

    accepted = accepted_volumes(ws, period)
    planned, basis = accepted if accepted is not None else planned_volumes(ws, period)
    has_goal = plan_targets(ws.goals.all())(period).amount is not None
    revenue_planned = goal_by_month(ws, period) if has_goal else None
    if accepted is not None and has_goal:
        from tandem.plan.calculator import Given, plan_waterfall

        stages = ws.definitions_in_force(as_of).definitions.stages
        sales = {stage.name for stage in stages if stage.side == "sales"}
        required = plan_waterfall(Given({}, {}), ws, period=period)
        needed = {(row.stage, row.month): row.required for row in required.rows if row.stage in sales}
        planned = {key: value for key, value in planned.items() if key[0] not in sales} | needed
        basis += "; sales stages against what the goal needs"
    last_day = period.end - timedelta(days=1)
    return pacing(
        ws, planned, start=period.start, end=last_day, as_of=as_of, basis=basis, revenue_planned=revenue_planned
    )
