"""Journeys: the touches before each outcome, in order, with the milestones a position model weighs.

One Ibis expression, so it runs in the warehouse on DuckDB, PostgreSQL and Spark (docs/attribution.md, "Journeys").

- **The outcome** is what is credited: a lead created (``leads``), an opportunity created (``pipeline``, worth its
  amount) or a deal won (``revenue``, worth its amount, placed at its close date). As of a moment only what was
  known then counts (`tandem.engine.known.as_seen`): a deal won later is open, and touches after it are unseen.
- **The level** says whose touches make the journey: the lead's own (``lead``); the opportunity's, its lead's and
  those on its account with no lead (``opportunity``); or the account's, every lead of the account (``account``,
  the buying group). An outcome with no account falls back to its lead.
- **The window**: touches up to the outcome (for revenue, up to the end of the close date), and no earlier than
  the lookback before the journey's start (the lead's creation, else the opportunity's): counting back from the
  start rather than from the outcome means a long sales cycle never cuts off the first touch of the deal it
  sourced.
- **Order**: by time, then by touch id, so two touches at the same instant are ordered the same way everywhere.
- **Repeats**: a touch on the same channel and campaign as the one just before it is one touch (the first of the
  run), unless the model keeps repeats.
- **Milestones**: the first touch; the lead's (the last touch at or before the lead was created); the
  opportunity's (the last at or before the opportunity was created); the last touch.

A touch with no channel is on channel ``(unknown)``; an outcome with no touch in its window is credited to
``(no touch)``, so the credits always add up to the outcomes and their value.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import ibis
import ibis.expr.types as ir

from tandem.engine.known import as_seen
from tandem.engine.usable import usable
from tandem.warehouse.backends import IMPORT_LOG

__all__ = [
    "NO_TOUCH",
    "UNKNOWN",
    "JourneySource",
    "JourneySpec",
    "closed_by",
    "deal_outcomes",
    "journey_table",
    "known_leads",
    "outcome_table",
    "won_by",
]

#: Where the credit of an outcome with no touch in its window goes.
NO_TOUCH = "(no touch)"
#: The channel (or campaign) of a touch that has none.
UNKNOWN = "(unknown)"


class JourneySource(Protocol):
    """What journeys read of a warehouse: its canonical tables, and its imports log (``import_log``), as Ibis."""

    def table(self, name: str) -> ibis.Table: ...


@dataclass(frozen=True)
class JourneySpec:
    """Which journeys: the outcome credited, whose touches, how far back, and whether repeats collapse."""

    outcome: str = "revenue"
    level: str = "opportunity"
    lookback_days: int = 365
    collapse_repeats: bool = True


def known_leads(source: JourneySource, as_of: datetime) -> ir.Table:
    """The leads created by `as_of`, as an outcome's lead: ``_lead``, ``_lead_created`` and ``_lead_account``."""
    when = ibis.literal(as_of, type="timestamp")
    leads = usable(source.table("leads"), "leads")
    return leads.filter(leads.created_at <= when).select(
        _lead=leads.lead_id, _lead_created=leads.created_at.cast("timestamp"), _lead_account=leads.account_id
    )


def deal_outcomes(
    source: JourneySource,
    deals: ir.Table,
    as_of: datetime,
    *,
    at: ir.TimestampValue,
    value: ir.FloatingValue,
    **extra: ir.Value,
) -> ir.Table:
    """`deals` (opportunities) as outcomes placed `at`, worth `value`, with their lead's creation and account (the
    columns of `outcome_table`), and the `extra` columns."""
    leads = known_leads(source, as_of)
    rows = deals.select(
        conversion_id=deals.opportunity_id,
        _opp_lead=deals.lead_id,
        _opp_account=deals.account_id,
        value=value,
        at=at.cast("timestamp"),
        opp_created=deals.created_at.cast("timestamp"),
        **extra,
    )
    joined = rows.left_join(leads, rows._opp_lead == leads._lead)
    return joined.select(
        conversion_id=joined.conversion_id,
        lead_id=joined._opp_lead,
        account=joined._opp_account.fill_null(joined._lead_account),
        value=joined.value,
        at=joined.at,
        lead_created=joined._lead_created,
        opp_created=joined.opp_created,
        start=joined._lead_created.fill_null(joined.opp_created),
        **{name: joined[name] for name in extra},
    )


def outcome_table(source: JourneySource, outcome: str, as_of: datetime) -> ir.Table:
    """One row per outcome as of `as_of`: ``conversion_id``, ``lead_id``, ``account`` (its account, else its lead's),
    ``value``, ``at`` (where it is placed in time), ``lead_created``, ``opp_created`` and ``start`` (where the
    lookback counts from)."""
    if outcome == "leads":
        leads = known_leads(source, as_of)
        return leads.select(
            conversion_id=leads._lead,
            lead_id=leads._lead,
            account=leads._lead_account,
            value=ibis.literal(0.0, type="float64"),
            at=leads._lead_created,
            lead_created=leads._lead_created,
            opp_created=ibis.null("timestamp"),
            start=leads._lead_created,
        )
    if outcome == "revenue":
        deals = won_by(source, as_of)
        at = deals._at
    else:
        deals = as_seen(usable(source.table("opportunities"), "opportunities"), source.table(IMPORT_LOG), as_of)
        at = deals.created_at
    return deal_outcomes(source, deals, as_of, at=at, value=deals.amount.cast("float64").fill_null(0.0))


def closed_by(source: JourneySource, as_of: datetime) -> ir.Table:
    """Opportunities won or lost by `as_of` (closed at their close date's 00:00 UTC, else their creation), with
    ``_status`` and ``_at``: what `tandem.engine.known.as_seen` says of them, without reading the imports log,
    because a closed deal keeps its status, close date and amount whenever its row was written."""
    when = ibis.literal(as_of, type="timestamp")
    deals = usable(source.table("opportunities"), "opportunities")
    deals = deals.filter(deals.created_at <= when, deals.status.isin(["won", "lost"]))
    closed_at = deals.close_date.cast("timestamp").fill_null(deals.created_at.cast("timestamp"))
    deals = deals.mutate(_status=deals.status, _at=closed_at)
    return deals.filter(deals._at <= when)


def won_by(source: JourneySource, as_of: datetime) -> ir.Table:
    """Opportunities won by `as_of` (`closed_by`)."""
    closed = closed_by(source, as_of)
    return closed.filter(closed._status == "won")


def _touches(source: JourneySource, as_of: datetime, level: str) -> ir.Table:
    """Touches known at `as_of`, with ``t_account``: the touch's account or, at the account level only, its lead's
    (a join of every touch with the leads, made only where it is read)."""
    when = ibis.literal(as_of, type="timestamp")
    touches = usable(source.table("touches"), "touches")
    table = touches.filter(touches.occurred_at <= when)
    account = table.account_id
    if level == "account":
        leads = source.table("leads").select(_tl=lambda t: t.lead_id, _tl_account=lambda t: t.account_id)
        table = table.left_join(leads, table.lead_id == leads._tl)
        account = table.account_id.fill_null(table._tl_account)
    return table.select(
        touch_id=table.touch_id,
        occurred_at=table.occurred_at.cast("timestamp"),
        channel=table.channel.fill_null(UNKNOWN),
        campaign=table.campaign_id.fill_null(UNKNOWN),
        t_lead=table.lead_id,
        t_own_account=table.account_id,
        t_account=account,
    )


def _join(left: ir.Table, right: ir.Table, left_key: str, right_key: str) -> ir.Table:
    """An inner equality join of two tables that both read leads: views keep Ibis from taking one side for the
    other."""
    left, right = left.view(), right.view()
    return left.join(right, left[left_key] == right[right_key])


def _matched(outcomes: ir.Table, touches: ir.Table, level: str) -> ir.Table:
    """Each outcome beside each touch of its level (union of equality joins: an OR join would be a nested loop)."""
    on_lead = _join(outcomes, touches, "lead_id", "t_lead")
    if level == "lead":
        return on_lead
    if level == "opportunity":
        account_only = touches.filter(touches.t_lead.isnull() & touches.t_own_account.notnull())
        return on_lead.union(_join(outcomes, account_only, "account", "t_own_account"), distinct=False)
    with_account = outcomes.filter(outcomes.account.notnull())
    without = outcomes.filter(outcomes.account.isnull())
    by_account = _join(with_account, touches, "account", "t_account")
    return by_account.union(_join(without, touches, "lead_id", "t_lead"), distinct=False)


def journey_table(
    source: JourneySource, spec: JourneySpec, as_of: datetime, outcomes: ir.Table | None = None
) -> ir.Table:
    """One row per touch of each outcome's journey (the module's rules), with its place in the journey:

    ``position`` (0 for the first), ``touches`` (the journey's length), ``lead_position`` and ``opp_position``
    (the milestone touches; null where the journey has none), plus the outcome's columns (`outcome_table`; or
    `outcomes`, a table with those columns, such as the data-driven models' candidates).
    """
    if outcomes is None:
        outcomes = outcome_table(source, spec.outcome, as_of)
    touches = _touches(source, as_of, spec.level)
    matched = _matched(outcomes, touches, spec.level)
    day = ibis.interval(days=1)
    if spec.outcome == "revenue":  # a close date is a day: touches on it count
        before_end = matched.occurred_at < matched.at + day
    else:
        before_end = matched.occurred_at <= matched.at
    lookback = ibis.interval(days=spec.lookback_days)
    window = matched.filter(before_end & (matched.occurred_at >= matched.start - lookback))
    keep = [c for c in window.columns if c not in ("t_lead", "t_own_account", "t_account")]
    journeys = window.select(*keep)
    order = ibis.window(group_by=journeys.conversion_id, order_by=[journeys.occurred_at, journeys.touch_id])
    if spec.collapse_repeats:
        previous = journeys.mutate(
            _prev_channel=journeys.channel.lag().over(order), _prev_campaign=journeys.campaign.lag().over(order)
        )
        repeat = (previous._prev_channel == previous.channel) & (previous._prev_campaign == previous.campaign)
        journeys = previous.filter(~repeat.fill_null(False)).drop("_prev_channel", "_prev_campaign")
    order = ibis.window(group_by=journeys.conversion_id, order_by=[journeys.occurred_at, journeys.touch_id])
    placed = journeys.mutate(position=ibis.row_number().over(order))
    whole = ibis.window(group_by=placed.conversion_id)
    by_lead = ibis.cases((placed.occurred_at <= placed.lead_created, placed.position), else_=ibis.null("int64"))
    by_opp = ibis.cases((placed.occurred_at <= placed.opp_created, placed.position), else_=ibis.null("int64"))
    return placed.mutate(
        touches=placed.count().over(whole),
        lead_position=by_lead.max().over(whole),
        opp_position=by_opp.max().over(whole),
    )
