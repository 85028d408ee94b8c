"""An independent, plain-pandas reading of docs/attribution.md: the credit the rule-based models must give.

Written from the document alone, one journey at a time in plain Python, for clarity over speed (no Ibis, no SQL,
no window functions): tandem's Ibis expression (src/tandem/attribution) must give the same credit per channel or
campaign, and per month, on the demo company (tests/attribution/test_reference.py).

How the document is read, where it leaves a choice
    - **As of** a moment (docs/funnel-semantics.md): a deal is an outcome once it exists (``created_at`` at or
      before it); a revenue outcome is a deal ``won`` whose close (``close_date`` at 00:00, or its creation when it
      has none) is at or before it; touches after it are unseen, and so are leads created after it (an outcome whose
      lead is not known yet has its lead's touches, but no lead's creation: no lead's touch, and its lookback
      counts from the deal's creation). Amounts are taken as known: the caller picks a moment at or after the
      import (a null amount is worth 0).
    - **Whose touches**: the deal's account is its own ``account_id``, else its lead's. ``opportunity`` is the
      lead's touches and the touches naming that account and no lead. ``account`` is the touches of every lead of
      the account (the lead's ``account_id`` in the leads table) and every touch naming the account; with no
      account, the lead's touches. A touch counts once in a journey however it was found.
    - **Window**: revenue, ``start - lookback <= occurred_at < close date + 1 day``; pipeline,
      ``start - lookback <= occurred_at <= created_at``, where the start is the lead's creation, else the deal's.
    - **Repeats** are collapsed after the window: a touch on the same channel and campaign (a missing campaign is
      ``(unknown)``, so two touches without one are on the same campaign) as the touch just before it is dropped.
    - **Milestones** are found on the journey that remains. A model's ``between`` touches are those after the first
      touch and before the furthest milestone it weighs that the journey has, that are none of those milestones;
      when the journey has none of them, the ``between`` weight goes unused (and the rest is scaled to 100 %).
    - **Time decay** weighs ``0.5 ** (age / half-life)``, the age counted to the outcome (the end of the close day
      for revenue); as the weights are then scaled to 100 %, where the age is counted to does not change a share.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

__all__ = [
    "NO_TOUCH",
    "POSITION_WEIGHTS",
    "UNKNOWN",
    "Company",
    "Outcome",
    "Rule",
    "Touch",
    "TouchIndex",
    "credit",
    "journey",
    "outcomes",
    "read_company",
    "shares",
    "touch_index",
]

#: Where an outcome with no touch in its journey is credited.
NO_TOUCH = "(no touch)"
#: The campaign (or channel) of a touch that names none.
UNKNOWN = "(unknown)"

#: The published position models' weights, in percent (docs/attribution.md, "Models").
POSITION_WEIGHTS: dict[str, dict[str, float]] = {
    "first_touch": {"first": 100},
    "last_touch": {"last": 100},
    "u_shaped": {"first": 40, "lead": 40, "between": 20},
    "w_shaped": {"first": 30, "lead": 30, "opportunity": 30, "between": 10},
    "full_path": {"first": 22.5, "lead": 22.5, "opportunity": 22.5, "last": 22.5, "between": 10},
}
#: The milestones, in the order a journey meets them when the lead comes before the opportunity.
MILESTONES = ("first", "lead", "opportunity", "last")


@dataclass(frozen=True)
class Company:
    """The raw tables the credit is computed from, as read from the canonical Parquet files."""

    leads: pd.DataFrame
    opportunities: pd.DataFrame
    touches: pd.DataFrame


def read_company(folder: Path) -> Company:
    """The leads, opportunities and touches in ``folder/<table>.parquet``."""
    return Company(
        leads=pd.read_parquet(folder / "leads.parquet"),
        opportunities=pd.read_parquet(folder / "opportunities.parquet"),
        touches=pd.read_parquet(folder / "touches.parquet"),
    )


@dataclass(frozen=True)
class Rule:
    """A rule-based model and its settings: ``weights`` for custom (percent per milestone and ``between``)."""

    model: str
    weights: Mapping[str, float] | None = None
    half_life_days: float = 7.0
    direct_channels: tuple[str, ...] = ("direct",)


@dataclass(frozen=True)
class Touch:
    """A touch as a journey sees it: a missing channel or campaign is ``(unknown)``."""

    touch_id: str
    occurred_at: datetime
    channel: str
    campaign: str


@dataclass(frozen=True)
class Outcome:
    """One credited outcome: what it is worth, when it is placed, how far its journey reaches, whose it is."""

    conversion_id: str
    lead_id: str | None
    account_id: str | None
    value: float
    placed_at: datetime
    #: The moment the outcome happened: a touch counts up to it (inclusive for pipeline, exclusive for revenue).
    ends_at: datetime
    ends_inclusive: bool
    lead_created: datetime | None
    opportunity_created: datetime
    #: Where the lookback counts back from: the lead's creation, else the opportunity's.
    start: datetime


def _present(value: Any) -> bool:
    return value is not None and not pd.isna(value)


def _optional(row: Any, column: str) -> Any:
    """A row's value in an optional canonical column: None when it is null or the table has no such column."""
    value = getattr(row, column, None)
    return value if _present(value) else None


def _moment(value: Any) -> datetime:
    """A timestamp or a date (taken at 00:00) as a naive datetime."""
    if isinstance(value, date) and not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day)
    moment: datetime = pd.Timestamp(value).to_pydatetime()
    return moment


def outcomes(company: Company, outcome: str, as_of: datetime) -> list[Outcome]:
    """The deals won (``revenue``) or created (``pipeline``) as of `as_of`, one `Outcome` each."""
    known_leads = {
        row.lead_id: row for row in company.leads.itertuples(index=False) if _moment(row.created_at) <= as_of
    }
    found: list[Outcome] = []
    for deal in company.opportunities.itertuples(index=False):
        created = _moment(deal.created_at)
        if created > as_of:
            continue
        if outcome == "revenue":
            close_date = _optional(deal, "close_date")
            closed = _moment(close_date) if close_date is not None else created
            if deal.status != "won" or closed > as_of:
                continue
            placed_at, ends_at, inclusive = closed, closed + timedelta(days=1), False
        elif outcome == "pipeline":
            placed_at, ends_at, inclusive = created, created, True
        else:
            raise ValueError(f"the reference credits revenue or pipeline, not {outcome!r}")
        lead_id = _optional(deal, "lead_id")
        lead = known_leads.get(lead_id) if lead_id is not None else None
        account = _optional(deal, "account_id")
        if account is None and lead is not None:
            account = _optional(lead, "account_id")
        amount = _optional(deal, "amount")
        lead_created = _moment(lead.created_at) if lead is not None else None
        found.append(
            Outcome(
                conversion_id=deal.opportunity_id,
                lead_id=lead_id,
                account_id=account,
                value=float(amount) if amount is not None else 0.0,
                placed_at=placed_at,
                ends_at=ends_at,
                ends_inclusive=inclusive,
                lead_created=lead_created,
                opportunity_created=created,
                start=lead_created if lead_created is not None else created,
            )
        )
    return found


@dataclass(frozen=True)
class TouchIndex:
    """The touches seen as of a moment, found by their lead, by the account they name, and by their lead's account."""

    by_lead: Mapping[str, list[Touch]]
    by_own_account: Mapping[str, list[Touch]]
    by_own_account_without_lead: Mapping[str, list[Touch]]
    by_lead_account: Mapping[str, list[Touch]]


def touch_index(company: Company, as_of: datetime) -> TouchIndex:
    """The touches seen at `as_of`, indexed once for every journey (a missing channel or campaign is unknown)."""
    lead_account = {
        row.lead_id: _optional(row, "account_id")
        for row in company.leads.itertuples(index=False)
        if _optional(row, "account_id") is not None
    }
    by_lead: defaultdict[str, list[Touch]] = defaultdict(list)
    by_own_account: defaultdict[str, list[Touch]] = defaultdict(list)
    without_lead: defaultdict[str, list[Touch]] = defaultdict(list)
    by_lead_account: defaultdict[str, list[Touch]] = defaultdict(list)
    for row in company.touches.itertuples(index=False):
        occurred = _moment(row.occurred_at)
        if occurred > as_of:
            continue
        touch = Touch(
            touch_id=row.touch_id,
            occurred_at=occurred,
            channel=_optional(row, "channel") or UNKNOWN,
            campaign=_optional(row, "campaign_id") or UNKNOWN,
        )
        lead, account = _optional(row, "lead_id"), _optional(row, "account_id")
        if lead is not None:
            by_lead[lead].append(touch)
            if lead in lead_account:
                by_lead_account[lead_account[lead]].append(touch)
        if account is not None:
            by_own_account[account].append(touch)
            if lead is None:
                without_lead[account].append(touch)
    return TouchIndex(by_lead, by_own_account, without_lead, by_lead_account)


def _candidates(index: TouchIndex, outcome: Outcome, level: str) -> Iterable[Touch]:
    """Every touch of the outcome's level (docs/attribution.md, "Journeys": level), in no order, maybe twice."""
    own = index.by_lead.get(outcome.lead_id, []) if outcome.lead_id is not None else []
    if level == "lead":
        return own
    if level == "opportunity":
        on_account = index.by_own_account_without_lead.get(outcome.account_id, []) if outcome.account_id else []
        return [*own, *on_account]
    if level == "account":
        if outcome.account_id is None:
            return own
        return [*index.by_lead_account.get(outcome.account_id, []), *index.by_own_account.get(outcome.account_id, [])]
    raise ValueError(f"no level {level!r}")


def journey(
    index: TouchIndex, outcome: Outcome, *, level: str, lookback_days: int, collapse_repeats: bool
) -> list[Touch]:
    """The outcome's touches in its window, in order (time, then touch id), repeats collapsed unless kept."""
    earliest = outcome.start - timedelta(days=lookback_days)
    unique = {touch.touch_id: touch for touch in _candidates(index, outcome, level)}
    inside = [
        touch
        for touch in unique.values()
        if touch.occurred_at >= earliest
        and (touch.occurred_at <= outcome.ends_at if outcome.ends_inclusive else touch.occurred_at < outcome.ends_at)
    ]
    ordered = sorted(inside, key=lambda touch: (touch.occurred_at, touch.touch_id))
    if not collapse_repeats:
        return ordered
    kept: list[Touch] = []
    for i, touch in enumerate(ordered):
        before = ordered[i - 1] if i else None
        if before is not None and (before.channel, before.campaign) == (touch.channel, touch.campaign):
            continue
        kept.append(touch)
    return kept


def _last_at_or_before(touches: Sequence[Touch], moment: datetime | None) -> int | None:
    """Position of the last touch at or before `moment` (the lead's or the opportunity's touch); None if none."""
    if moment is None:
        return None
    at_or_before = [i for i, touch in enumerate(touches) if touch.occurred_at <= moment]
    return at_or_before[-1] if at_or_before else None


def _position_weights(touches: Sequence[Touch], outcome: Outcome, weights: Mapping[str, float]) -> list[float]:
    """Raw weights of a position model: each milestone's weight on its touch, ``between`` shared by the touches
    between the first touch and the furthest weighed milestone the journey has."""
    positions: dict[str, int | None] = {
        "first": 0,
        "lead": _last_at_or_before(touches, outcome.lead_created),
        "opportunity": _last_at_or_before(touches, outcome.opportunity_created),
        "last": len(touches) - 1,
    }
    raw = [0.0] * len(touches)
    weighed: set[int] = set()
    for milestone in MILESTONES:
        where = positions[milestone]
        if weights.get(milestone, 0.0) and where is not None:
            raw[where] += weights[milestone]
            weighed.add(where)
    if weights.get("between", 0.0) and weighed:
        between = [i for i in range(1, max(weighed)) if i not in weighed]
        for i in between:
            raw[i] += weights["between"] / len(between)
    return raw


def shares(touches: Sequence[Touch], outcome: Outcome, rule: Rule) -> list[float]:
    """Each touch's share of the outcome under `rule`, adding up to 1 (docs/attribution.md, "Models")."""
    n = len(touches)
    if rule.model == "linear":
        raw = [1.0] * n
    elif rule.model == "last_non_direct":
        indirect = [i for i, touch in enumerate(touches) if touch.channel not in rule.direct_channels]
        chosen = indirect[-1] if indirect else n - 1
        raw = [1.0 if i == chosen else 0.0 for i in range(n)]
    elif rule.model == "time_decay":
        ages = [(outcome.ends_at - touch.occurred_at) / timedelta(days=1) for touch in touches]
        raw = [0.5 ** (age / rule.half_life_days) for age in ages]
    elif rule.model == "custom":
        if rule.weights is None:
            raise ValueError("a custom model needs its weights")
        raw = _position_weights(touches, outcome, rule.weights)
    elif rule.model in POSITION_WEIGHTS:
        raw = _position_weights(touches, outcome, POSITION_WEIGHTS[rule.model])
    else:
        raise ValueError(f"{rule.model!r} is not a rule-based model")
    total = sum(raw)
    if total <= 0:  # a credit is never lost: weights all zero split linearly
        return [1.0 / n] * n
    return [weight / total for weight in raw]


def credit(
    company: Company,
    rule: Rule,
    *,
    as_of: datetime,
    outcome: str = "revenue",
    level: str = "opportunity",
    lookback_days: int = 365,
    collapse_repeats: bool = True,
    by: str = "channel",
    period: str | None = None,
) -> pd.DataFrame:
    """Credit per channel or campaign (``item``) and, with ``period="month"``, per month of the outcome
    (``period``, its first day as a date): ``conversions`` (outcomes credited) and ``value`` (their value)."""
    if by not in ("channel", "campaign"):
        raise ValueError(f"credit is by channel or campaign, not {by!r}")
    if period not in (None, "month"):
        raise ValueError(f"the reference places credit by month only, not {period!r}")
    index = touch_index(company, as_of)
    rows: list[dict[str, Any]] = []
    for one in outcomes(company, outcome, as_of):
        month = one.placed_at.date().replace(day=1)
        touches = journey(index, one, level=level, lookback_days=lookback_days, collapse_repeats=collapse_repeats)
        if not touches:
            rows.append({"item": NO_TOUCH, "period": month, "conversions": 1.0, "value": one.value})
            continue
        for touch, share in zip(touches, shares(touches, one, rule), strict=True):
            item = touch.channel if by == "channel" else touch.campaign
            rows.append({"item": item, "period": month, "conversions": share, "value": share * one.value})
    keys = ["item"] if period is None else ["item", "period"]
    frame = pd.DataFrame(rows, columns=["item", "period", "conversions", "value"])
    return frame.groupby(keys, as_index=False)[["conversions", "value"]].sum().sort_values(keys, ignore_index=True)
