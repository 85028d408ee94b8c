"""The forecast's questions: the period's revenue as a range against the goal, the backtest, the early warnings.

Each reads the whole history the forecast uses (tandem.forecast.history) and, for the forecast and the warnings,
the goals and the period's accepted plan. The documents are those of `tandem.forecast.service` and
`tandem.forecast.warnings`; docs/forecast.md and docs/early-warnings.md say what each field means.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BeforeValidator, Field

from tandem.errors import ConfigError, TandemError
from tandem.questions.base import Moment, Question

if TYPE_CHECKING:
    from tandem.forecast.warnings import EarlyWarnings
    from tandem.plan.goals import Period
    from tandem.workspace import Workspace

__all__ = [
    "MAX_SIMULATIONS",
    "MIN_SIMULATIONS",
    "BacktestQuestion",
    "ForecastQuestion",
    "WarningsQuestion",
]

#: Bounds of a forecast's simulations: enough for a stable P10-P90, few enough to answer in seconds.
MIN_SIMULATIONS = 1_000
MAX_SIMULATIONS = 50_000
#: A backtest runs one forecast per week of every past period: fewer simulations each are enough for its scores.
MIN_BACKTEST_SIMULATIONS = 100
MAX_SEED = 2**32 - 1
HISTORY_READS = ("leads", "stage_events", "touches", "activities", "opportunities", "spend", "definitions")


def _period_label(value: Any) -> str | None:
    """A calendar period's label (``2027``, ``2027-Q1``, ``2027-01``), checked; empty: none (the as-of quarter)."""
    from tandem.plan.goals import parse_period

    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        value = getattr(value, "label", value)
    try:
        return parse_period(str(value)).label
    except TandemError as exc:
        raise ConfigError(str(exc), value=value) from None


PeriodLabel = Annotated[str | None, BeforeValidator(_period_label)]
Seed = Annotated[int, Field(ge=0, le=MAX_SEED)]


class _PeriodQuestion(Question):
    """A question about one calendar period (default: the quarter of `as_of`), as of a moment."""

    period: PeriodLabel = None
    as_of: Moment = None

    def calendar_period(self) -> Period | None:
        from tandem.plan.goals import parse_period

        return None if self.period is None else parse_period(self.period)


class ForecastQuestion(_PeriodQuestion):
    """The period's revenue as a P10-P50-P90 range, the chance of the goal, where it comes from, the baselines, and
    what changed since the forecast a week earlier."""

    kind = "forecast"
    money = True
    reads = (*HISTORY_READS, "goals", "plans")

    simulations: Annotated[int, Field(ge=MIN_SIMULATIONS, le=MAX_SIMULATIONS)] = 10_000
    seed: Seed = 0
    #: The forecast if this plan's version `plan_version` (default: its latest) were the period's baseline: new
    #: leads at its volumes rather than the accepted plan's. The period is the plan's.
    plan: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None
    plan_version: Annotated[int | None, Field(ge=1, le=2**31 - 1)] = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.forecast.service import period_forecast

        period, planned = self.calendar_period(), None
        if self.plan is not None:
            from tandem.periods import parse_period
            from tandem.plan.pacing import version_volumes

            info = ws.plans.plan(self.plan)
            wanted = self.plan_version
            version = info.latest if wanted is None else next((v for v in info.versions if v.version == wanted), None)
            if version is None:
                raise ConfigError(
                    f"plan #{info.id} has versions 1 to {info.latest.version}",
                    field="plan_version",
                    value=self.plan_version,
                )
            volumes = version_volumes(version)
            if volumes is None:
                raise ConfigError(f"{version.label} has no sufficiency check to take volumes from", field="plan")
            period, planned = parse_period(info.period), (volumes, f"{version.label}, as if accepted")
        found = period_forecast(
            ws, period, as_of=self.as_of, simulations=self.simulations, seed=self.seed, planned=planned
        )
        return found.as_dict()


class BacktestQuestion(Question):
    """How the forecast did: every past period forecast again from its first day and every week in it, with only
    what was known then, scored against the weighted pipeline and the run rate."""

    kind = "backtest"
    money = True
    reads = HISTORY_READS

    period_kind: Literal["quarter", "month"] = "quarter"
    as_of: Moment = None
    simulations: Annotated[int, Field(ge=MIN_BACKTEST_SIMULATIONS, le=MAX_SIMULATIONS)] = 2_000
    seed: Seed = 0

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.forecast.service import workspace_backtest

        found = workspace_backtest(
            ws, kind=self.period_kind, as_of=self.as_of, simulations=self.simulations, seed=self.seed
        )
        return found.as_dict()


class WarningsQuestion(_PeriodQuestion):
    """The early warnings: each stage's pace week by week against the accepted plan (else the goal's requirement),
    today's shortfalls as revenue gaps, the bottleneck stage, and the last day extra volume can still close."""

    kind = "warnings"
    money = True
    reads = (*HISTORY_READS, "goals", "plans", "handoffs")

    def compute(self, ws: Workspace) -> EarlyWarnings:
        """The warnings themselves (the command line's table reads their objects; the document is `as_dict`), with
        the handoff's service levels in the period."""
        from dataclasses import replace

        from tandem.forecast.handoff_signals import handoff_summary
        from tandem.forecast.warnings import early_warnings

        found = early_warnings(ws, self.calendar_period(), as_of=self.as_of)
        return replace(found, service_levels=handoff_summary(ws, found.period, found.as_of))

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return self.compute(ws).as_dict()
