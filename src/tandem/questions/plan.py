"""The plan's questions: the goals, the reverse waterfall, scenarios side by side, the plans as proposals, and plan
against actual.

Each document is what the command line's ``--format json`` prints, the REST API answers and the pages show:

=========  ==================================  ===========================  =======================================
kind       command line                        REST API                     document
=========  ==================================  ===========================  =======================================
goals      ``tandem goal list``                ``GET /api/goals``           ``{"goals": [goal, ...]}``
goal       ``tandem goal show [PERIOD]``       ``GET /api/goals/{period}``  `Goals.show`: target, quotas, attainment
waterfall  ``tandem plan waterfall``           ``GET /api/plan/waterfall``  `Waterfall.as_dict`, the period labelled
scenarios  ``tandem plan scenarios FILE``      ``GET /api/plan/scenarios``  ``{"period", "scenarios": [...]}``
plans      ``tandem plan history [PERIOD]``    ``GET /api/plans``           ``{"asked_by", "plans": [plan, ...]}``
plan       ``tandem plan show [PERIOD|ID]``    ``GET /api/plans/{plan_id}`` a plan, and the ``version`` shown
pacing     ``tandem plan pacing``              ``GET /api/plan/pacing``     ``{"period", ...Pacing.as_dict()}``
=========  ==================================  ===========================  =======================================

A plan in a document is `PlanInfo.as_dict` (every version, the baseline and the version waiting) with its
``status`` and ``latest`` version and the ``actions`` the person asking (``asked_by``) may take on it, as
`tandem.plan.proposals.allowed_actions` says: the pages show the forms for those, and no front end keeps its own
copy of the rules.

The waterfall's bounds (a rate of at least `MIN_RATE`, a lag of at most `MAX_LAG_DAYS`) are the domain's
(`tandem.plan.calculator`); a step given twice, a channel given twice or a lead column filtered twice is refused
here rather than the last one winning.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from tandem import money
from tandem.accounts import Principal
from tandem.errors import ConfigError
from tandem.periods import FIRST_YEAR, LAST_YEAR, CalendarPeriod, current_quarter, next_quarter, parse_period
from tandem.plan.calculator import (
    MAX_LAG_DAYS,
    MIN_RATE,
    NO_DEAL_SIZE,
    NO_REVENUE,
    Given,
    PlanInputs,
    missing_goal,
    parse_channel,
    parse_lag,
    parse_rate,
    plan_inputs,
)
from tandem.plan.model import chain_of
from tandem.plan.proposals import ACTIONS, PlanInfo, allowed_actions, plan_ref
from tandem.questions.base import Moment, Question
from tandem.questions.forecast import PeriodLabel

if TYPE_CHECKING:
    from tandem.plan.scenarios import Scenario
    from tandem.plan.waterfall import ChannelCost
    from tandem.workspace import Workspace

__all__ = [
    "MAX_LAG_DAYS",
    "MAX_SCENARIOS_CHARS",
    "MIN_RATE",
    "GoalQuestion",
    "GoalsQuestion",
    "PacingQuestion",
    "PlanQuestion",
    "PlansQuestion",
    "ScenariosQuestion",
    "WaterfallQuestion",
    "plan_document",
]

#: The tables the model and the budget read: history of leads and stages, won deals, spend per channel.
PLAN_TABLES = ("leads", "stage_events", "touches", "activities", "opportunities", "spend")
#: A scenarios file is a few hundred characters (the REST API takes it in the query string).
MAX_SCENARIOS_CHARS = 8 * 1024
#: The largest plan or version number (a 32-bit integer column).
MAX_ID = 2**31 - 1


# --- field types ----------------------------------------------------------------------------------------------------
def _lines(value: Any) -> tuple[str, ...]:
    """Repeatable values, each of which may hold several lines (a page's text area); blank lines ignored."""
    if value is None:
        return ()
    values = [value] if isinstance(value, str) else list(value)
    return tuple(line.strip() for item in values for line in str(item).splitlines() if line.strip())


def _once(what: str, parse: Callable[[str], tuple[tuple[str, str], Any]]) -> Callable[[Any], tuple[str, ...]]:
    """A repeatable FROM:TO=VALUE field: each value checked by `parse`, each step at most once."""

    def check(value: Any) -> tuple[str, ...]:
        texts = _lines(value)
        seen: dict[tuple[str, str], str] = {}
        for text in texts:
            step, _ = parse(text)
            if step in seen:
                raise ConfigError(
                    f"{step[0]}:{step[1]} is given twice ({seen[step]!r} and {text!r}); give each step's {what} once",
                    value=text,
                )
            seen[step] = text
        return texts

    return check


def _channels(value: Any) -> tuple[str, ...]:
    texts = _lines(value)
    seen: dict[str, str] = {}
    for text in texts:
        name = parse_channel(text).channel
        if name in seen:
            raise ConfigError(
                f"the channel {name!r} is given twice ({seen[name]!r} and {text!r}); give each channel once",
                value=text,
            )
        seen[name] = text
    return texts


def _where(value: Any) -> dict[str, str]:
    """``COL=VALUE`` filters on lead columns (text or a mapping), each column once and with a value."""
    items = [f"{k}={v}" for k, v in value.items()] if isinstance(value, Mapping) else _lines(value)
    where: dict[str, str] = {}
    given: dict[str, str] = {}
    for item in items:
        column, sep, wanted = item.partition("=")
        if not sep or not column.strip() or not wanted.strip() or "\x00" in item:
            raise ConfigError(
                f"{item!r} is not COL=VALUE (a lead column and its value), e.g. segment=Enterprise", value=item
            )
        if column.strip() in where:
            raise ConfigError(
                f"the column {column.strip()!r} is filtered twice ({given[column.strip()]!r} and {item!r}); "
                "give each column once",
                value=item,
            )
        where[column.strip()] = wanted.strip()
        given[column.strip()] = item
    return where


def _amount(what: str) -> Callable[[Any], float | None]:
    """An amount as people write it (``2M``, ``750k``, ``$60,000``) or a number; empty: none."""

    def parse(value: Any) -> float | None:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if isinstance(value, str):
            return float(money.parse_amount(value, what=what))
        if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
            raise ConfigError(f"{value!r} is not an amount; use {money.AMOUNT_FORMS}")
        return float(money.check_amount(value, what=what))

    return parse


def _in_calendar(value: datetime | None) -> datetime | None:
    if value is not None and not FIRST_YEAR <= value.year <= LAST_YEAR:
        raise ConfigError(f"{value.date().isoformat()} is outside the years {FIRST_YEAR} to {LAST_YEAR}")
    return value


def _plan(value: Any) -> int | str | None:
    """A plan's number, or its period's label; empty: none."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if isinstance(value, bool):
        raise ConfigError(f"{value!r} is neither a plan number (#3) nor a period")
    found = plan_ref(value.strip() if isinstance(value, str) else value)
    if isinstance(found, int) and not 1 <= found <= MAX_ID:
        raise ConfigError(f"{found} is not a plan number; they run from 1")
    return found if isinstance(found, int) else found.label


Rates = Annotated[tuple[str, ...], BeforeValidator(_once("rate", parse_rate))]
Lags = Annotated[tuple[str, ...], BeforeValidator(_once("lag", parse_lag))]
Channels = Annotated[tuple[str, ...], BeforeValidator(_channels)]
Where = Annotated[dict[str, str], BeforeValidator(_where)]
Revenue = Annotated[float | None, BeforeValidator(_amount("the revenue"))]
DealSize = Annotated[float | None, BeforeValidator(_amount("the deal size"))]
PlanMoment = Annotated[Moment, AfterValidator(_in_calendar)]
PlanRef = Annotated[int | str | None, BeforeValidator(_plan)]


def _finite(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite(v) for v in value)
    return True


# --- goals ----------------------------------------------------------------------------------------------------------
class GoalsQuestion(Question):
    """Every goal: by period (a year before its quarters and months), then slice."""

    kind = "goals"
    money = True
    reads = ("goals",)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return {"goals": [g.as_dict() for g in ws.goals.all()]}


class GoalQuestion(Question):
    """A period's goal (default: this quarter): its target and where it comes from, the periods in it, how their
    goals and the slices' add up, both teams' quotas, won revenue so far and the changes made."""

    kind = "goal"
    money = True
    reads = ("goals", "opportunities", "leads")

    period: PeriodLabel = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return ws.goals.show(self.period)


# --- the reverse waterfall and scenarios ----------------------------------------------------------------------------
class _PlanQuestion(Question):
    """What a plan of a period rests on: numbers given by hand, and history for the rest (with `history`)."""

    reads = (*PLAN_TABLES, "definitions", "goals")

    period: PeriodLabel = None
    revenue: Revenue = None
    deal_size: DealSize = None
    rate: Rates = ()
    lag: Lags = ()
    channel: Channels = ()
    where: Where = Field(default_factory=dict)
    as_of: PlanMoment = None
    lookback: Annotated[int | None, Field(ge=30, le=3650)] = None
    horizon: Annotated[int | None, Field(ge=7, le=3650)] = None
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    history: bool = True

    def calendar_period(self) -> CalendarPeriod:
        """The period asked for, else the quarter after the as-of day (today)."""
        if self.period is not None:
            return parse_period(self.period)
        return next_quarter((self.as_of or datetime.now(UTC).replace(tzinfo=None)).date())

    def given(self) -> Given:
        return Given(
            rates=dict(parse_rate(text) for text in self.rate),
            lags=dict(parse_lag(text) for text in self.lag),
            deal_size=self.deal_size,
        )

    def costs(self) -> list[ChannelCost]:
        return [parse_channel(text) for text in self.channel]

    def check(self, ws: Workspace) -> None:
        """With history: hand-given steps are steps of the funnel in force, the filters name text columns of the
        leads, and without a revenue the period has a goal."""
        if not self.history:
            return
        stages = ws.definitions_in_force(self.as_of).definitions.stage_names
        steps = set(itertools.pairwise(stages))
        given = self.given()
        for name, named in (("rate", given.rates), ("lag", given.lags)):
            foreign = [f"{a}:{b}" for a, b in named if (a, b) not in steps]
            if foreign:
                raise ConfigError(
                    f"{', '.join(foreign)} is not a step of this workspace's funnel ({' -> '.join(stages)}); "
                    f"give {name}s between consecutive stages, e.g. {stages[0]}:{stages[1]}",
                    field=name,
                    value=foreign,
                )
        if self.where:
            columns = ws.warehouse.columns("leads")
            for column in self.where:
                kind = columns.get(column)
                if kind is None:
                    shown = ", ".join(c for c in columns if not c.startswith("_"))
                    raise ConfigError(f"no lead column {column!r}; the leads have {shown}", field="where", value=column)
                if kind != "string":
                    raise ConfigError(
                        f"{column} is a {kind} column; the plan narrows the leads by a text column",
                        field="where",
                        value=column,
                    )
        if self.revenue is None and (why := missing_goal(ws.goals.all(), self.calendar_period())):
            raise ConfigError(why, field="revenue")

    def _by_hand(self) -> None:
        """Without history, everything the model needs is given: the steps chain into one funnel, each lag has its
        rate, and the deal size and the revenue are there."""
        given = self.given()
        if not given.rates:
            raise ConfigError("give at least one conversion rate, e.g. mql:sql=0.4", field="rate")
        try:
            chain_of(list(given.rates))
        except ConfigError as exc:
            raise ConfigError(exc.message, field="rate", value=list(self.rate)) from None
        unknown = [f"{a}:{b}" for a, b in given.lags if (a, b) not in given.rates]
        if unknown:
            raise ConfigError(
                f"a lag for a step without a rate: {', '.join(unknown)}; give its rate too", field="lag", value=unknown
            )
        if self.deal_size is None:
            raise ConfigError(NO_DEAL_SIZE, field="deal_size")
        if self.revenue is None:
            raise ConfigError(NO_REVENUE, field="revenue")

    def inputs(self, ws: Workspace | None) -> PlanInputs:
        """The model, the revenue per month and the channel mix: with history, from `ws` where not given."""
        use = ws if self.history else None
        if use is None:
            self._by_hand()
        return plan_inputs(
            self.given(),
            use,
            period=self.calendar_period(),
            revenue=self.revenue,
            costs=self.costs(),
            as_of=self.as_of,
            lookback_days=self.lookback,
            horizon_days=self.horizon,
            where=self.where,
        )


class WaterfallQuestion(_PlanQuestion):
    """What do we need? The volume each stage must reach per month, with its P10-P90 range, for the period's
    revenue (given, else its goal), the lead time and last days of each stage, and the budget by channel.

    Without history (``history=False``, or no workspace at hand) every number is given by hand."""

    kind = "waterfall"
    money = True

    def answer(self, ws: Workspace | None) -> dict[str, Any]:
        from tandem.plan.waterfall import reverse_waterfall

        period = self.calendar_period()
        try:
            inputs = self.inputs(ws)
            plan = reverse_waterfall(
                inputs.model,
                inputs.goal_by_month,
                period_end=inputs.period_end,
                costs=inputs.costs,
                seed=self.seed,
                as_of=inputs.as_of,
            )
        except (OverflowError, ZeroDivisionError) as exc:  # rates and lags that take the plan off the calendar
            raise ConfigError(f"the rates and lags given put the plan out of range ({exc})") from None
        document = plan.as_dict()
        document["period"]["label"] = period.label
        if not _finite(document):
            raise ConfigError("the rates, deal size or costs given put the plan's numbers out of range")
        return document


def _scenarios_text(value: Any) -> Any:
    return value.replace("\r\n", "\n") if isinstance(value, str) else value


class ScenariosQuestion(_PlanQuestion):
    """Named what-ifs (a scenarios file's text, `document`) side by side with the base plan, which is what the
    waterfall question with the same fields rests on: what each stage needs, the deals, the budget that takes,
    and with a budget, the revenue it brings and the share of the goal.

    A problem with the file (or with applying a scenario) is refused naming the file (`source`) and the place, not
    a field: like a plan file, it is not one value."""

    kind = "scenarios"
    money = True

    document: Annotated[
        str,
        BeforeValidator(_scenarios_text),
        Field(min_length=1, max_length=MAX_SCENARIOS_CHARS, pattern=r"^[^\x00]*$"),
    ]
    source: Annotated[str, Field(min_length=1, max_length=1000)] = "scenarios.yaml"

    def scenarios(self) -> list[Scenario]:
        from tandem.plan.scenarios import load_scenarios

        return load_scenarios(self.document, self.source)

    def check(self, ws: Workspace) -> None:
        self.scenarios()
        super().check(ws)

    def answer(self, ws: Workspace | None) -> dict[str, Any]:
        from tandem.plan.scenarios import compare

        scenarios = self.scenarios()
        inputs = self.inputs(ws)
        try:
            outcomes = compare(
                inputs.model,
                scenarios,
                inputs.goal_by_month,
                period_end=inputs.period_end,
                costs=inputs.costs,
                seed=self.seed,
            )
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {exc}") from None
        except (OverflowError, ZeroDivisionError, ValueError) as exc:
            raise ConfigError(f"{self.source}: the changes put the plan out of range ({exc})") from None
        document = {"period": self.calendar_period().label, "scenarios": [o.as_dict() for o in outcomes]}
        if not _finite(document):
            raise ConfigError(f"{self.source}: the changes put the plan's numbers out of range")
        return document


# --- plan against actual --------------------------------------------------------------------------------------------
class PacingQuestion(Question):
    """Plan against actual for a period (default: the quarter of the as-of day): each stage's planned volume, what
    is due by the as-of day, the actual entries, the gap, the pace and where it ends the period; against the
    accepted plan, else what the goal needs (``basis`` says which). With neither, a `TandemError` says so."""

    kind = "pacing"
    money = True
    reads = (*PLAN_TABLES, "definitions", "goals", "plans")

    period: PeriodLabel = None
    as_of: PlanMoment = None

    def calendar_period(self) -> CalendarPeriod:
        if self.period is not None:
            return parse_period(self.period)
        return current_quarter(self.as_of.date() if self.as_of else None)

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.plan.pacing import period_pacing

        chosen = self.calendar_period()
        return {"period": chosen.label, **period_pacing(ws, chosen, as_of=self.as_of).as_dict()}


# --- the plans, as proposals ----------------------------------------------------------------------------------------
def plan_document(plan: PlanInfo, asked_by: Principal | None) -> dict[str, Any]:
    """A plan with every version, its status (the latest version's), and what `asked_by` may do on it."""
    allowed = allowed_actions(asked_by, plan)
    return {
        **plan.as_dict(),
        "status": plan.latest.status,
        "latest": plan.latest.version,
        "actions": [action.value for action in ACTIONS if action in allowed],
    }


def _asker(principal: Principal | None) -> str | None:
    return None if principal is None else principal.username


class PlansQuestion(Question):
    """Every period's plan, oldest period first (or the one period's): each version with its status, author, note,
    file, sufficiency check (as run when proposed), comments and decision; the baseline and the version waiting;
    and the actions the person asking may take on it."""

    kind = "plans"
    money = True
    reads = ("plans",)

    period: PeriodLabel = None
    asked_by: Principal | None = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        plans = ws.plans.history(self.period)
        return {"asked_by": _asker(self.asked_by), "plans": [plan_document(p, self.asked_by) for p in plans]}


class PlanQuestion(Question):
    """One period's plan, by number or period (default: the plan with the newest version), as `PlansQuestion`
    gives each, with the ``version`` shown in full: `plan_version`, else the one waiting, else the latest."""

    kind = "plan"
    money = True
    reads = ("plans",)

    plan: PlanRef = None
    plan_version: Annotated[int | None, Field(ge=1, le=MAX_ID)] = None
    asked_by: Principal | None = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        found = ws.plans.newest() if self.plan is None else ws.plans.plan(self.plan)
        shown = (
            (found.waiting or found.latest)
            if self.plan_version is None
            else ws.plans.version(found.id, self.plan_version)
        )
        return {**plan_document(found, self.asked_by), "asked_by": _asker(self.asked_by), "version": shown.as_dict()}
