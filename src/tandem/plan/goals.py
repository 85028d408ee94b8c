"""Goals: one revenue target both teams share, per period and optionally per slice, and the quotas it gives each.

A **goal** is a revenue target for a period: a year ``2027``, a quarter ``2027-Q1`` or a month ``2027-01``,
for the whole company or for one slice (``segment``, ``region`` or ``product`` = a value, as the leads and
opportunities name it). There is at most one goal per (period, slice); setting it again replaces the amount, and
the audit entry (``goal.set``) records what it replaced, so the history of a goal is its audit entries
(`Goals.history`). Only the ``exec`` and ``admin`` roles set or delete goals (`Permission.GOALS`); everyone reads.

**Derived targets.** A period without a goal of its own takes its share of its parent's target (a month's parent
is its quarter, a quarter's is its year): what the parent's target leaves after the children that have goals,
split among the other children by their number of days, in whole cents (the cents left over by rounding go to the
largest remainders, so the children always add up to the parent). 2027 = 10,000,000 gives Q1 (90 days of 365)
2,465,753.42. A later version may split by seasonality instead.

**Consistency is shown, not refused**: children whose goals add up to more than their parent's (an *excess*), or
to less when every child has one (an *unallocated* remainder), and slices of one dimension that do not add up to
the period's total, are reported by `Goals.show`; nothing is refused for it, because goals are set one at a time.

**Quotas**, each saying where it comes from: sales' bookings quota is the period's target; marketing's
marketing-sourced revenue quota is the target times marketing's share, given on the goal (``marketing_share``;
a derived target uses its ancestor's) or else measured: the share of the won revenue of the 12 months before the
period's start that marketing's channels (those not in the ``sales_sourced_channels`` setting) earned. When the
definitions in force at the period's start (or now, if it starts later) approve an attribution model
(docs/attribution.md), that is the revenue that model credits to marketing's channels over the whole year before,
and the quota names the version and model; otherwise it is the won revenue of leads whose channel is marketing's.
Revenue with no touch, or a lead without a channel, counts as sales-sourced.
The setting has no default (a default channel name would make every won deal marketing's on a CRM that does not
use it): unset, marketing's quota says so and suggests the imported channels that look sales-sourced
(`suggest_sales_sourced`).

**Attainment**: the won revenue in the period so far (`tandem.engine.revenue`, as of now) and its share of the
target, beside the share of the period elapsed.

Periods are `tandem.periods.CalendarPeriod` and amounts `tandem.money` amounts, as everywhere in tandem; here
they are refused with a `GoalError` (`parse_period`, `parse_amount`), which is what the goals' callers catch. A
`GoalError` is raised as one of the kinds of `tandem.errors`: `InvalidGoalError` (a period, amount, slice, share or
note that cannot be used: an `InvalidError`) or `GoalNotFoundError` (no goal there to delete: a `NotFoundError`).
Who may change goals is `Permission.GOALS`, refused by `Principal.require`.
The pure parts (`parse_period`, `parse_amount`, `split_by_days`, `plan_targets`) take no database; `Goals` is the
service over the application database, every change audited in its own transaction.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tandem import money, periods
from tandem.accounts import Permission, Principal
from tandem.audit import record
from tandem.errors import ConfigError, InvalidError, NotFoundError, TandemError
from tandem.money import CENT, from_cents, to_cents
from tandem.money import format_amount as format_amount
from tandem.periods import CalendarPeriod, add_months
from tandem.periods import current_quarter as current_quarter
from tandem.store.database import AppStore
from tandem.store.models import AuditEntry, Goal

__all__ = [
    "DIMENSIONS",
    "NOT_A_CHANNEL",
    "SALES_SOURCED_WORDS",
    "CreditMeasure",
    "GoalError",
    "GoalInfo",
    "GoalNotFoundError",
    "Goals",
    "InvalidGoalError",
    "MarketingCredit",
    "Target",
    "WonRevenue",
    "check_amount",
    "marketing_part",
    "parse_amount",
    "parse_period",
    "plan_targets",
    "sales_sourced_advice",
    "split_by_days",
    "suggest_sales_sourced",
]

# Moved to `tandem.periods` and `tandem.money` (with `format_amount` and `current_quarter`, re-exported above);
# still importable from here for the command line and the web app until they import them from there.
Period = CalendarPeriod
MAX_AMOUNT = money.MAX_AMOUNT
FIRST_YEAR, LAST_YEAR = periods.FIRST_YEAR, periods.LAST_YEAR

#: The slices a goal may be set for (lead or opportunity attributes).
DIMENSIONS = ("segment", "region", "product")
MAX_VALUE_CHARS = 200
MAX_NOTE_CHARS = 2000
#: A measured marketing share is rounded to this many decimals before it multiplies the goal (as it is shown).
SHARE_DIGITS = 4

#: (breakdown column or None, first day, first day after) -> won revenue per value of the column ({None: total}).
WonRevenue = Callable[[str | None, date, date], Mapping[str | None, float]]


@dataclass(frozen=True)
class CreditMeasure:
    """Won revenue in a window credited per channel by an attribution model (`tandem.attribution`), which model
    that was (``"definitions version 2: w shaped"``), and whether the definitions approved it."""

    by_channel: Mapping[str | None, float]
    models: tuple[str, ...]
    approved: bool


#: What credit by channel holds besides channels: revenue with no touch, and touches with no channel.
NOT_A_CHANNEL = frozenset({None, "(no touch)", "(unknown)"})


def marketing_part(by_channel: Mapping[str | None, float], sales_channels: Iterable[str]) -> tuple[float, float]:
    """(marketing's, all) of revenue by channel: marketing's is every channel's but the sales-sourced ones';
    revenue with no channel or no touch counts as sales-sourced (`NOT_A_CHANNEL`)."""
    sales = set(sales_channels)
    marketing = sum((float(v) for k, v in by_channel.items() if k not in NOT_A_CHANNEL and k not in sales), 0.0)
    return marketing, sum((float(v) for v in by_channel.values()), 0.0)


#: (first day, first day after) -> the won revenue of the window credited by channel under the attribution models in
#: force then (`CreditMeasure`).
MarketingCredit = Callable[[date, date], CreditMeasure]


class GoalError(TandemError, ValueError):
    """A goal that cannot be set, read or deleted as asked (the message says why and what would do); raised as one
    of its kinds below."""


class InvalidGoalError(GoalError, InvalidError):
    """A period, amount, slice, marketing share or note that a goal cannot have."""


class GoalNotFoundError(GoalError, NotFoundError):
    """There is no goal for the period (and slice) named."""


def parse_period(text: str) -> CalendarPeriod:
    """A goal's period (`tandem.periods.parse_period`): ``2027``, ``2027-Q1`` or ``2027-01``; else a `GoalError`."""
    try:
        return periods.parse_period(text)
    except ConfigError as exc:
        raise InvalidGoalError(str(exc)) from None


def parse_amount(text: str) -> Decimal:
    """A goal's amount as people write it (`tandem.money.parse_amount`: ``10M``, ``750k``...); else a `GoalError`."""
    try:
        return money.parse_amount(text, what="a goal")
    except ConfigError as exc:
        raise InvalidGoalError(str(exc)) from None


def check_amount(amount: Decimal | float | int, shown: object = None) -> Decimal:
    """A goal's amount given as a number: more than zero, at most `MAX_AMOUNT`, in whole cents; else a `GoalError`."""
    try:
        return money.check_amount(amount, shown, what="a goal")
    except ConfigError as exc:
        raise InvalidGoalError(str(exc)) from None


def split_by_days(cents: int, periods: Sequence[CalendarPeriod]) -> list[int]:
    """`cents` split among `periods` by their number of days, in whole cents that add up to `cents` exactly.

    Each gets the floor of its exact share; the cents left over go one each to the largest remainders (the
    earlier period first on a tie).
    """
    if not periods:
        return []
    total_days = sum(p.days for p in periods)
    exact = [(cents * p.days, p) for p in periods]
    floors = [numerator // total_days for numerator, _ in exact]
    left = cents - sum(floors)
    by_remainder = sorted(range(len(periods)), key=lambda i: (-(exact[i][0] % total_days), i))
    for i in by_remainder[:left]:
        floors[i] += 1
    return floors


# --- goals --------------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class GoalInfo:
    """One goal as stored."""

    period: CalendarPeriod
    dimension: str | None
    value: str | None
    amount: Decimal
    marketing_share: float | None
    note: str
    created_by: str
    created_at: datetime
    updated_by: str
    updated_at: datetime
    #: On the answer of `Goals.set` that replaced an earlier goal: that goal, as it was.
    replaced: GoalInfo | None = None

    @property
    def slice_label(self) -> str:
        return "" if self.dimension is None else f"{self.dimension}={self.value}"

    @property
    def key(self) -> str:
        """``2027`` or ``2027 segment=Enterprise``: the goal's name in messages and in the audit log."""
        return f"{self.period.label} {self.slice_label}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "kind": self.period.kind,
            "start": self.period.start,
            "end": self.period.end,
            "dimension": self.dimension,
            "value": self.value,
            "amount": float(self.amount),
            "marketing_share": self.marketing_share,
            "note": self.note,
            "created_by": self.created_by,
            "created_at": self.created_at,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "replaced": None if self.replaced is None else self.replaced.as_dict(),
        }


def _info(row: Goal) -> GoalInfo:
    return GoalInfo(
        period=parse_period(row.period),
        dimension=row.dimension or None,
        value=row.value if row.dimension else None,
        amount=from_cents(row.amount_cents),
        marketing_share=row.marketing_share,
        note=row.note,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_by=row.updated_by,
        updated_at=row.updated_at,
    )


def _slice(dimension: str | None, value: str | None) -> tuple[str, str]:
    """The stored (dimension, value) of a slice, ("", "") for the whole company; refuses half a slice."""
    if dimension is None or dimension == "":
        if value:
            raise InvalidGoalError(f"a slice value ({value!r}) needs its dimension: one of {', '.join(DIMENSIONS)}")
        return "", ""
    if dimension not in DIMENSIONS:
        raise InvalidGoalError(f"{dimension!r} is not a goal dimension; use one of {', '.join(DIMENSIONS)}")
    cleaned = (value or "").strip()
    if not cleaned:
        raise InvalidGoalError(f"a {dimension} goal needs the {dimension}'s value, e.g. {dimension}=Enterprise")
    if len(cleaned) > MAX_VALUE_CHARS or "\x00" in cleaned:
        raise InvalidGoalError(f"a {dimension} value is at most {MAX_VALUE_CHARS} characters, without NUL characters")
    return dimension, cleaned


# --- targets: goals and what they imply ---------------------------------------------------------------------------
@dataclass(frozen=True)
class Target:
    """A period's target for the whole company: its own goal, or derived from its parent's target by days."""

    period: CalendarPeriod
    amount: Decimal | None
    source: Literal["goal", "derived", "none"]
    #: How it was arrived at, in words (e.g. "goal 2027" or "derived: 2027's 10,000,000 by days, 90 of 365").
    explanation: str
    goal: GoalInfo | None = None
    #: The nearest goal up the periods (itself, or the one its amount was derived from).
    origin: GoalInfo | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "period": self.period.label,
            "kind": self.period.kind,
            "start": self.period.start,
            "end": self.period.end,
            "days": self.period.days,
            "amount": None if self.amount is None else float(self.amount),
            "source": self.source,
            "from": self.explanation,
            "note": self.goal.note if self.goal is not None else "",
        }


def plan_targets(goals: Sequence[GoalInfo]) -> Callable[[CalendarPeriod], Target]:
    """A function giving any period's target from the company-wide `goals` (slices are ignored).

    A period with a goal has it. Otherwise its parent's target (itself possibly derived), less the goals of its
    siblings that have one, is split by days among the siblings without one (`split_by_days`); a remainder below
    zero (siblings' goals above the parent's) leaves them 0. A year without a goal has no target.
    """
    explicit = {g.period: g for g in goals if g.dimension is None}
    memo: dict[CalendarPeriod, Target] = {}

    def target(period: CalendarPeriod) -> Target:
        if period in memo:
            return memo[period]
        goal = explicit.get(period)
        parent = period.parent
        if goal is not None:
            found = Target(period, goal.amount, "goal", f"goal {period.label}", goal, goal)
        elif parent is None:
            found = Target(period, None, "none", f"no goal for {period.label}")
        else:
            above = target(parent)
            if above.amount is None:
                found = Target(period, None, "none", f"no goal for {' or '.join(p.label for p in period.lineage)}")
            else:
                siblings = parent.children
                taken = sum((explicit[s].amount for s in siblings if s in explicit), Decimal(0))
                open_siblings = [s for s in siblings if s not in explicit]
                left = max(above.amount - taken, Decimal(0))
                share = dict(zip(open_siblings, split_by_days(to_cents(left), open_siblings), strict=True))[period]
                days = sum(s.days for s in open_siblings)
                of = f"{parent.label}'s {format_amount(above.amount)}"
                if taken:
                    of += f" less the {format_amount(taken)} set on other {period.kind}s"
                explanation = f"derived from {of}, by days: {period.days} of {days}"
                found = Target(period, from_cents(share), "derived", explanation, None, above.origin)
        memo[period] = found
        return found

    return target


# --- sales-sourced channels ---------------------------------------------------------------------------------------
#: Words that make a channel value read as sales-sourced (`suggest_sales_sourced`): found as whole words,
#: whatever the case and separators (``Outbound``, ``outbound_sdr``, ``Sales Prospecting``).
SALES_SOURCED_WORDS = frozenset({"outbound", "sales", "prospecting", "sdr", "bdr", "offline"})
#: Phrases that do, as consecutive words (``Cold call``, ``cold-calling``), and whole values that do (``Direct``:
#: HubSpot's ``Direct Traffic`` is web visits, inbound, so ``direct`` alone is matched only as the whole value).
SALES_SOURCED_PHRASES = (("cold", "call"), ("cold", "calling"), ("cold", "email"), ("cold", "outreach"))
SALES_SOURCED_VALUES = frozenset({"direct", "direct sales"})
#: How the setting is set, for the messages that say it is not.
SET_SALES_SOURCED = "set sales_sourced_channels under [settings] in tandem.toml (see `tandem settings`)"


def suggest_sales_sourced(values: Iterable[str | None]) -> list[str]:
    """The channel values that look sales-sourced (`SALES_SOURCED_WORDS`, `SALES_SOURCED_PHRASES`,
    `SALES_SOURCED_VALUES`), sorted: what `tandem settings` and the quota suggest for ``sales_sourced_channels``.

    A suggestion, never applied by itself: only the company knows which of its channels sales sources.
    """
    found = set()
    for value in values:
        if not value:
            continue
        words = re.findall(r"[a-z]+", value.lower())
        by_word = SALES_SOURCED_WORDS.intersection(words) or set(pairwise(words)).intersection(SALES_SOURCED_PHRASES)
        if by_word or " ".join(words) in SALES_SOURCED_VALUES:
            found.add(value)
    return sorted(found)


def sales_sourced_advice(suggested: Sequence[str]) -> str:
    """How to set ``sales_sourced_channels``, with the suggested values written as the setting's line."""
    if not suggested:
        return f"{SET_SALES_SOURCED}: the lead channels sales sources itself"
    line = "sales_sourced_channels = [" + ", ".join(json.dumps(v) for v in suggested) + "]"
    return f"{SET_SALES_SOURCED}, e.g. {line} (the imported channels that look sales-sourced)"


# --- the service --------------------------------------------------------------------------------------------------
def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass(frozen=True)
class ShareMeasure:
    """Marketing's share of won revenue over [start, end), as measured for a quota."""

    start: date
    end: date
    marketing: float
    total: float
    sales_channels: tuple[str, ...]
    #: Every channel with won revenue in the window (None for leads without one).
    channels: tuple[str | None, ...] = ()
    #: The approved attribution models that credited the revenue (None: measured by the lead's channel).
    models: tuple[str, ...] | None = None

    @property
    def share(self) -> float | None:
        return self.marketing / self.total if self.total > 0 else None

    @property
    def window(self) -> str:
        """``2026-01-01..2026-12-31``: the days measured, both included."""
        return f"{self.start}..{self.end - timedelta(days=1)}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "marketing_sourced": self.marketing,
            "won_revenue": self.total,
            "share": self.share,
            "sales_sourced_channels": list(self.sales_channels),
            "attribution_models": None if self.models is None else list(self.models),
        }


class Goals:
    """The goals of one workspace (see the module's documentation).

    `won_revenue` measures won revenue on the warehouse (`WonRevenue`; None: no attainment and no measured share,
    e.g. where only the application database is open); `sales_sourced_channels` are the lead channels whose won
    revenue is not marketing-sourced.
    """

    def __init__(
        self,
        store: AppStore,
        won_revenue: WonRevenue | None = None,
        *,
        sales_sourced_channels: Sequence[str] = (),
        today: Callable[[], date] | None = None,
        marketing_credit: MarketingCredit | None = None,
    ) -> None:
        self.store = store
        self.won_revenue = won_revenue
        self.marketing_credit = marketing_credit
        self.sales_sourced_channels = tuple(sales_sourced_channels)
        self.today = today or (lambda: datetime.now(UTC).date())

    # --- reading ----------------------------------------------------------------------------------------------
    def all(self) -> list[GoalInfo]:
        """Every goal: by period (a year before its quarters, a quarter before its months), then slice."""
        with self.store.session() as s:
            rows = [_info(row) for row in s.scalars(select(Goal))]
        return sorted(rows, key=lambda g: (g.period.sort_key, g.dimension or "", g.value or ""))

    def get(
        self, period: str | CalendarPeriod, dimension: str | None = None, value: str | None = None
    ) -> GoalInfo | None:
        """The goal for the period (and slice), or None."""
        when = period if isinstance(period, CalendarPeriod) else parse_period(period)
        dim, val = _slice(dimension, value)
        with self.store.session() as s:
            row = self._row(s, when, dim, val)
            return None if row is None else _info(row)

    @staticmethod
    def _row(s: Session, period: CalendarPeriod, dimension: str, value: str) -> Goal | None:
        query = select(Goal).where(Goal.period == period.label, Goal.dimension == dimension, Goal.value == value)
        return s.scalars(query).first()

    def history(self, period: str | CalendarPeriod | None = None) -> list[dict[str, Any]]:
        """Every change to the goals (of `period` and the periods in it), oldest first, from the audit log."""
        within = None if period is None else (period if isinstance(period, CalendarPeriod) else parse_period(period))
        query = select(AuditEntry).where(AuditEntry.action.in_(["goal.set", "goal.delete"])).order_by(AuditEntry.seq)
        with self.store.session() as s:
            entries = list(s.scalars(query))
        found = []
        for entry in entries:
            details = entry.details or {}
            label = details.get("period")
            if within is not None:
                try:
                    changed = parse_period(str(label))
                except GoalError:  # pragma: no cover - every entry names a valid period
                    continue
                if within not in changed.lineage:
                    continue
            change = {"seq": entry.seq, "at": entry.at, "actor": entry.actor, "action": entry.action, **details}
            change["amount"] = float(details["amount"])
            if details.get("replaced"):
                change["replaced"] = {**details["replaced"], "amount": float(details["replaced"]["amount"])}
            found.append(change)
        return found

    # --- changing ---------------------------------------------------------------------------------------------
    def set(
        self,
        principal: Principal,
        period: str | CalendarPeriod,
        amount: Decimal | float | int | str,
        *,
        dimension: str | None = None,
        value: str | None = None,
        marketing_share: float | None = None,
        note: str = "",
    ) -> GoalInfo:
        """Set the goal of `period` (or of one slice of it), replacing the one there; audited as ``goal.set``.

        Only `Permission.GOALS` (exec, admin). The answer's ``replaced`` is the goal it replaced, if any.
        """
        principal.require(Permission.GOALS)
        when = period if isinstance(period, CalendarPeriod) else parse_period(period)
        checked = parse_amount(amount) if isinstance(amount, str) else check_amount(amount)
        dim, val = _slice(dimension, value)
        share = _check_share(marketing_share)
        text = _check_note(note)

        def change(s: Session) -> GoalInfo:
            now = _now()
            row = self._row(s, when, dim, val)
            before = None if row is None else _info(row)
            if row is None:
                row = Goal(period=when.label, dimension=dim, value=val, created_by=principal.username, created_at=now)
                s.add(row)
            row.amount_cents = to_cents(checked)
            row.marketing_share = share
            row.note = text
            row.updated_by = principal.username
            row.updated_at = now
            s.flush()
            info = replace(_info(row), replaced=before)
            details: dict[str, Any] = {
                "period": when.label,
                "dimension": dim or None,
                "value": val or None,
                "amount": str(checked),
                "marketing_share": share,
                "note": text,
                "replaced": None
                if before is None
                else {
                    "amount": str(before.amount),
                    "marketing_share": before.marketing_share,
                    "note": before.note,
                    "updated_by": before.updated_by,
                    "updated_at": before.updated_at,
                },
            }
            record(s, principal.username, "goal.set", f"goal {info.key}", details)
            return info

        try:
            return self.store.write(change)
        except IntegrityError as exc:  # another writer created the same goal between the read and the insert
            if "goals" not in str(exc.statement or ""):
                raise
            return self.store.write(change)

    def delete(
        self,
        principal: Principal,
        period: str | CalendarPeriod,
        *,
        dimension: str | None = None,
        value: str | None = None,
    ) -> GoalInfo:
        """Delete the goal of `period` (or of one slice); audited as ``goal.delete`` with what it was."""
        principal.require(Permission.GOALS)
        when = period if isinstance(period, CalendarPeriod) else parse_period(period)
        dim, val = _slice(dimension, value)

        def change(s: Session) -> GoalInfo:
            row = self._row(s, when, dim, val)
            if row is None:
                shown = f"{when.label} {dim}={val}".strip() if dim else when.label
                raise GoalNotFoundError(f"there is no goal for {shown}; `tandem goal list` shows the goals there are")
            info = _info(row)
            s.delete(row)
            details = {
                "period": when.label,
                "dimension": dim or None,
                "value": val or None,
                "amount": str(info.amount),
                "marketing_share": info.marketing_share,
                "note": info.note,
            }
            record(s, principal.username, "goal.delete", f"goal {info.key}", details)
            return info

        return self.store.write(change)

    # --- the show document ------------------------------------------------------------------------------------
    def show(self, period: str | CalendarPeriod | None = None) -> dict[str, Any]:
        """Everything about a period's goal: what `tandem goal show` prints and ``GET /api/goals/{period}`` answers.

        ``periods``: the period and the periods in it (a year's quarters and months, a quarter's months), each
        with its goal or derived target; ``allocations``: for each of those with children, how the children's
        goals add up against it; ``slices``: per dimension, the slices' goals against the period's target;
        ``quotas``: sales' and marketing's, each with where it comes from; ``attainment``: won revenue so far.
        """
        when = (
            current_quarter(self.today())
            if period is None
            else period
            if isinstance(period, CalendarPeriod)
            else parse_period(period)
        )
        goals = self.all()
        target_of = plan_targets(goals)
        target = target_of(when)
        shown = [when, *when.children, *(m for q in when.children for m in q.children)]
        shown.sort(key=lambda p: p.sort_key)
        return {
            "period": when.as_dict(),
            "goal": None if target.goal is None else target.goal.as_dict(),
            "target": target.as_dict(),
            "parents": [target_of(p).as_dict() for p in when.lineage[1:]],
            "periods": [target_of(p).as_dict() for p in shown],
            "allocations": [_allocation(target_of, p, goals) for p in shown if p.children],
            "slices": self._slices(when, target, goals),
            "quotas": self._quotas(target),
            "attainment": self._attainment(when, target),
            "history": self.history(when),
            "sales_sourced_channels": list(self.sales_sourced_channels),
        }

    def _slices(self, period: CalendarPeriod, target: Target, goals: Sequence[GoalInfo]) -> list[dict[str, Any]]:
        mine = [g for g in goals if g.period == period and g.dimension is not None]
        found = []
        for dimension in DIMENSIONS:
            slices = [g for g in mine if g.dimension == dimension]
            if not slices:
                continue
            total = sum((g.amount for g in slices), Decimal(0))
            won = self._won(dimension, period)
            rows = []
            for g in slices:
                row = {"value": g.value, "amount": float(g.amount), "note": g.note, "updated_by": g.updated_by}
                if won is not None:
                    got = float(won.get(g.value, 0.0))
                    row |= {"won_revenue": got, "attainment": got / float(g.amount)}
                rows.append(row)
            found.append(
                {
                    "dimension": dimension,
                    "slices": rows,
                    "sum": float(total),
                    **_balance(target.amount, total, f"the {dimension} goals", period),
                    "attainment_measured": won is not None,
                }
            )
        return found

    def _won(self, column: str | None, period: CalendarPeriod) -> Mapping[str | None, float] | None:
        """Won revenue in the period by `column` (None: in total); None when it cannot be measured."""
        if self.won_revenue is None:
            return None
        try:
            return self.won_revenue(column, period.start, period.end)
        except ConfigError:  # the column is neither on opportunities nor on leads
            if column is None:
                raise
            return None

    def measure_share(self, period: CalendarPeriod) -> ShareMeasure | None:
        """Marketing-sourced won revenue over the 12 months before `period` starts, against all won revenue."""
        if self.won_revenue is None:
            return None
        start, end = add_months(period.start, -12), period.start
        sales = set(self.sales_sourced_channels)
        credit = self.marketing_credit(start, end) if self.marketing_credit is not None else None
        if credit is not None and credit.approved:
            marketing, total = marketing_part(credit.by_channel, sales)
            channels = tuple(k for k in credit.by_channel if k not in NOT_A_CHANNEL)
            return ShareMeasure(start, end, marketing, total, self.sales_sourced_channels, channels, credit.models)
        by_channel = self.won_revenue("channel", start, end)
        marketing, total = marketing_part(by_channel, sales)
        return ShareMeasure(start, end, marketing, total, self.sales_sourced_channels, tuple(by_channel))

    def _quotas(self, target: Target) -> list[dict[str, Any]]:
        """Sales' bookings quota (the target) and marketing's sourced-revenue quota (target x share), each traced."""
        if target.amount is None:
            return []
        source = (
            target.explanation if target.source == "goal" else f"target {target.period.label} ({target.explanation})"
        )
        sales = {"team": "sales", "quota": "sales bookings", "amount": float(target.amount), "from": source}
        origin = target.origin
        measured: ShareMeasure | None = None
        share: float | None = None
        share_source: str | None = None
        suggested: list[str] | None = None
        if origin is not None and origin.marketing_share is not None:
            share, share_source, how = origin.marketing_share, "given", f"given on goal {origin.period.label}"
        elif not self.sales_sourced_channels:  # every channel would be marketing's: 100 % of the goal, wrongly
            measured = self.measure_share(target.period)
            suggested = suggest_sales_sourced(measured.channels if measured is not None else ())
            how = (
                "not measured: the sales-sourced channels are not set; "
                f"{sales_sourced_advice(suggested)}, or give the goal a marketing share"
            )
            measured = None
        elif (measured := self.measure_share(target.period)) is None:
            how = "no warehouse to measure marketing's share on; give the goal a marketing share"
        elif measured.share is None:
            how = f"no won revenue {measured.window} to measure marketing's share on; give the goal a marketing share"
        else:
            share, share_source = round(measured.share, SHARE_DIGITS), "measured"
            if measured.models is not None:
                how = (
                    f"measured: won revenue {measured.window} credited to marketing's channels by the approved "
                    f"attribution model ({'; '.join(measured.models)}), "
                    f"{format_amount(measured.marketing)} of {format_amount(measured.total)}"
                )
            else:
                how = (
                    f"measured: won revenue {measured.window} from marketing-sourced leads (the lead's channel: no "
                    f"attribution model is approved), {format_amount(measured.marketing)} of "
                    f"{format_amount(measured.total)}"
                )
        marketing = {
            "team": "marketing",
            "quota": "marketing-sourced revenue",
            "amount": None if share is None else float((target.amount * Decimal(str(share))).quantize(CENT)),
            "share": share,
            "share_source": share_source,
            "measurement": None if measured is None else measured.as_dict(),
            "attribution_models": None if measured is None or measured.models is None else list(measured.models),
            "sales_sourced_channels_set": bool(self.sales_sourced_channels),
            "suggested_sales_sourced_channels": suggested,
            "from": f"{source} x {share:g} ({how})" if share is not None else f"{source}: {how}",
        }
        return [sales, marketing]

    def _attainment(self, period: CalendarPeriod, target: Target) -> dict[str, Any]:
        today = self.today()
        elapsed = min(max((today - period.start).days, 0), period.days) / period.days
        won = self._won(None, period)
        amount = None if won is None else float(sum(float(v) for v in won.values()))
        share = None if amount is None or target.amount is None else amount / float(target.amount)
        return {
            "won_revenue": amount,
            "target": None if target.amount is None else float(target.amount),
            "share": share,
            "elapsed": elapsed,
            "through": min(today, period.end - timedelta(days=1)) if today >= period.start else None,
        }


def _balance(target: Decimal | None, allocated: Decimal, what: str, period: CalendarPeriod) -> dict[str, Any]:
    """`allocated` against a period's `target`: what is left unallocated or in excess, and a sentence saying so."""
    if target is None:
        return {
            "total": None,
            "unallocated": None,
            "excess": None,
            "message": f"{what} add up to {format_amount(allocated)}; {period.label} has no target to compare with",
        }
    difference = target - allocated
    against = f"{period.label}'s {format_amount(target)}"
    if difference > 0:
        message = f"{what} add up to {format_amount(allocated)}: {format_amount(difference)} of {against} unallocated"
    elif difference < 0:
        message = f"{what} add up to {format_amount(allocated)}: {format_amount(-difference)} over {against}"
    else:
        message = f"{what} add up to {against}"
    return {
        "total": float(target),
        "unallocated": float(max(difference, Decimal(0))),
        "excess": float(max(-difference, Decimal(0))),
        "message": message,
    }


def _allocation(
    target_of: Callable[[CalendarPeriod], Target], parent: CalendarPeriod, goals: Sequence[GoalInfo]
) -> dict[str, Any]:
    """How a period's children's goals add up against its target (children without a goal share the rest)."""
    children = parent.children
    explicit = {g.period for g in goals if g.dimension is None}
    with_goal = [c for c in children if c in explicit]
    set_total = sum((target_of(c).amount or Decimal(0) for c in with_goal), Decimal(0))
    derived_total = sum((target_of(c).amount or Decimal(0) for c in children if c not in explicit), Decimal(0))
    target = target_of(parent).amount
    kind = f"{children[0].kind}s"
    balance = _balance(target, set_total, f"the {kind} with goals", parent)
    if target is not None and set_total <= target and len(with_goal) < len(children):
        # The children without a goal take what is left: nothing is unallocated.
        balance["unallocated"] = 0.0
        balance["message"] = (
            f"{len(with_goal)} of {len(children)} {kind} have goals ({format_amount(set_total)}); the others share "
            f"the remaining {format_amount(target - set_total)} of {parent.label}'s {format_amount(target)} by days"
            if with_goal
            else f"no {children[0].kind} has a goal: the {len(children)} {kind} share {parent.label}'s "
            f"{format_amount(target)} by days"
        )
    return {
        "period": parent.label,
        "children": kind,
        "with_goal": [c.label for c in with_goal],
        "set": float(set_total),
        "derived": float(derived_total),
        **balance,
    }


def _check_share(share: float | None) -> float | None:
    if share is None:
        return None
    if not isinstance(share, int | float) or not 0 <= float(share) <= 1:
        raise InvalidGoalError(f"the marketing share is a fraction from 0 to 1, like 0.6 (got {share!r})")
    return float(share)


def _check_note(note: str) -> str:
    text = (note or "").strip()
    if len(text) > MAX_NOTE_CHARS or "\x00" in text:
        raise InvalidGoalError(f"a note is at most {MAX_NOTE_CHARS} characters, without NUL characters")
    return text
