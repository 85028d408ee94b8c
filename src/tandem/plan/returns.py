"""Cost and return per channel or campaign, fair to young campaigns: what was spent, what the leads it bought have
brought, and what those still in flight are expected to bring, through the plan model (docs/attribution.md,
"Cost and return").

How it is counted:

- **A cohort**: the leads a channel or campaign generated in the period (the lead's own ``channel`` and
  ``campaign_id``: what the spend bought), and the spend dated in the period (a spend row with a campaign and no
  channel takes its campaign's channel).
- **Costs**: spend over the cohort's leads that reached each stage by the as-of moment (the definitions in force
  count the stages): cost per lead, per MQL, ... per won deal; CAC is the cost per won deal.
- **Realised**: the won amount of the cohort's deals closed by the as-of moment. ROI = (revenue - spend) / spend,
  ROAS = revenue / spend; payback is the month in which the cohort's realised revenue first covered its spend.
- **Expected**: each lead still in flight (its furthest stage entered less than the plan model's horizon ago, no
  deal lost without another open) is worth its chance of being won times the deal size. The chance is the plan
  model's rate from its stage to won, with the first step conditioned on how long it has already waited: a lead
  that entered stage k t days ago and has not moved on converts with r(1 - F(t)) / (1 - r F(t)), F the step's lag
  distribution. The range (P10-P90) is the normal approximation of the sum of those chances, with the spread of
  deal sizes. So a young campaign is shown by what its leads are expected to bring, labelled and with a range,
  never as a zero return because it is young.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

import ibis
import numpy as np

from tandem.definitions.context import DefinitionsContext
from tandem.engine.entries import entry_table, stage_column
from tandem.engine.known import as_seen
from tandem.engine.usable import usable
from tandem.plan.history import DEFAULT_HORIZON_DAYS
from tandem.plan.model import FunnelModel, Lag
from tandem.warehouse.backends import IMPORT_LOG

__all__ = ["NO_ITEM", "Z80", "CohortReturn", "cohort_returns", "default_window", "total_of", "waiting_chance"]

#: The channel or campaign of a lead (or a spend row) that names none.
NO_ITEM = "(unknown)"
#: The normal quantile of a P10-P90 range (each tail 10 %).
Z80 = 1.2815515655446004
_PERIOD_UNITS = {"month": "M", "quarter": "Q", "year": "Y"}


@dataclass
class CohortReturn:
    """One channel's or campaign's cohort (and period): spend, leads per stage, realised and expected revenue."""

    item: str
    period: date | None
    spend: float
    reached: list[int]
    won_deals: int
    realised: float
    expected: float
    expected_won: float
    expected_variance: float
    in_flight: int
    payback_month: date | None = None
    wins: list[tuple[datetime, float]] = field(default_factory=list)

    def as_dict(self, stages: Sequence[str]) -> dict[str, Any]:
        spend = self.spend
        low = max(0.0, self.expected - Z80 * math.sqrt(self.expected_variance))
        high = self.expected + Z80 * math.sqrt(self.expected_variance)
        costs = {
            f"cost_per_{stage}": (spend / n if spend and n else None)
            for stage, n in zip(stages, self.reached, strict=True)
        }
        total = self.realised + self.expected
        return {
            "item": self.item,
            "period": self.period,
            "spend": round(spend, 2),
            "reached": dict(zip(stages, self.reached, strict=True)),
            **{k: (None if v is None else round(v, 2)) for k, v in costs.items()},
            "cac": round(spend / self.won_deals, 2) if spend and self.won_deals else None,
            "realised": {
                "won_deals": self.won_deals,
                "revenue": round(self.realised, 2),
                "roi": (self.realised - spend) / spend if spend else None,
                "roas": self.realised / spend if spend else None,
                "payback_month": self.payback_month,
            },
            "expected": {
                "in_flight": self.in_flight,
                "won_deals": round(self.expected_won, 2),
                "revenue": round(self.expected, 2),
                "low": round(low, 2),
                "high": round(high, 2),
            },
            "with_expected": {
                "revenue": round(total, 2),
                "roi": (total - spend) / spend if spend else None,
                "roi_low": (self.realised + low - spend) / spend if spend else None,
                "roi_high": (self.realised + high - spend) / spend if spend else None,
                "roas": total / spend if spend else None,
                "cac": round(spend / (self.won_deals + self.expected_won), 2)
                if spend and self.won_deals + self.expected_won
                else None,
            },
        }


def _cdf(lag: Lag, days: np.ndarray) -> np.ndarray:
    """F(t): the share of a step's conversions that come within t days."""
    order = np.argsort(lag.days)
    values = np.asarray(lag.days, dtype=float)[order]
    cumulative = np.cumsum(np.asarray(lag.weights, dtype=float)[order])
    index = np.searchsorted(values, days, side="right")
    return np.where(index > 0, cumulative[np.maximum(index - 1, 0)], 0.0)


def waiting_chance(rate: float, lag: Lag, waited_days: np.ndarray) -> np.ndarray:
    """The chance that a lead which entered a stage `waited_days` ago and has not moved on still converts:
    r (1 - F(t)) / (1 - r F(t)), Bayes on "converts" given "not yet after t days" (module docs)."""
    f = _cdf(lag, np.asarray(waited_days, dtype=float))
    denominator = 1.0 - rate * f
    return np.where(denominator > 0, rate * (1.0 - f) / np.where(denominator > 0, denominator, 1.0), 0.0)


def cohort_returns(
    ws: DefinitionsContext,
    model: FunnelModel | None,
    *,
    by: str,
    start: datetime,
    end: datetime,
    as_of: datetime,
    period: str | None = None,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
) -> tuple[list[str], list[CohortReturn]]:
    """The stages and each cohort's `CohortReturn` (module docs), by `by` (channel or campaign) and `period`;
    without a `model` nothing is expected (the realised part only)."""
    counting = ws.counting(as_of)
    stages = counting.current.definitions.stage_names
    column = {"channel": "channel", "campaign": "campaign_id"}[by]
    wh = ws.warehouse
    leads = usable(wh.table("leads"), "leads")
    lo, hi = ibis.literal(start, type="timestamp"), ibis.literal(min(end, as_of), type="timestamp")
    leads = leads.filter(leads.created_at >= lo, leads.created_at < hi)
    entries = entry_table(leads, ws.counted_stage_events(counting, as_of), stages, strict=False, as_of=as_of)
    deals = as_seen(usable(wh.table("opportunities"), "opportunities"), wh.table(IMPORT_LOG), as_of)
    deals = deals.filter(deals.lead_id.notnull())
    won, lost, still_open = deals._status == "won", deals._status == "lost", deals._status == "open"
    per_lead = deals.group_by(_deal_lead=deals.lead_id).aggregate(
        won_amount=deals.amount.cast("float64").sum(where=won),
        won_deals=deals.count(where=won),
        won_at=deals._at.max(where=won),
        lost=deals.count(where=lost),
        open=deals.count(where=still_open),
    )
    joined = entries.left_join(per_lead, entries.lead_id == per_lead._deal_lead)
    item = joined[column].cast("string").fill_null(NO_ITEM)
    when = joined.created_at.truncate(_PERIOD_UNITS[period]).cast("date") if period else ibis.null("date")
    rows = joined.select(
        item=item,
        period=when,
        won_amount=joined.won_amount.fill_null(0.0),
        won_deals=joined.won_deals.fill_null(0),
        won_at=joined.won_at,
        lost=joined.lost.fill_null(0),
        open=joined.open.fill_null(0),
        **{f"e{k}": joined[stage_column(k)] for k in range(len(stages))},
    )
    table = rows.to_pyarrow()
    spend = _spend(ws, by, start, min(end, as_of), period)
    return stages, _summarise(table, stages, model, spend, as_of, horizon_days, start)


def _spend(ws: DefinitionsContext, by: str, start: datetime, end: datetime, period: str | None) -> dict[Any, float]:
    """Spend per (item, period) dated in [start, end); a row with a campaign and no channel takes its campaign's."""
    wh = ws.warehouse
    spend = usable(wh.table("spend"), "spend")
    spend = spend.filter(
        spend.date >= ibis.literal(start.date(), type="date"), spend.date < ibis.literal(end.date(), type="date")
    )
    if by == "channel":
        campaigns = wh.table("campaigns").select(_cid=lambda t: t.campaign_id, _cchannel=lambda t: t.channel)
        joined = spend.left_join(campaigns, spend.campaign_id == campaigns._cid)
        item = joined.channel.fill_null(joined._cchannel).fill_null(NO_ITEM)
    else:
        joined = spend
        item = joined.campaign_id.fill_null(NO_ITEM)
    when = joined.date.cast("timestamp").truncate(_PERIOD_UNITS[period]).cast("date") if period else None
    keys = [item.name("item")] + ([when.name("period")] if when is not None else [])
    summed = joined.group_by(keys).aggregate(amount=joined.amount.cast("float64").sum()).to_pyarrow().to_pylist()
    return {(r["item"], r.get("period")): float(r["amount"] or 0.0) for r in summed}


def _summarise(
    table: Any,
    stages: list[str],
    model: FunnelModel | None,
    spend: dict[Any, float],
    as_of: datetime,
    horizon_days: int,
    start: datetime,
) -> list[CohortReturn]:
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    n = len(stages)
    groups: dict[tuple[str, Any], CohortReturn] = {}
    mean, sd = (model.deal_size, model.deal_size_sd or 0.0) if model is not None else (0.0, 0.0)
    for i in range(len(columns["item"])):
        key = (columns["item"][i], columns["period"][i])
        group = groups.get(key)
        if group is None:
            group = groups[key] = CohortReturn(key[0], key[1], 0.0, [0] * n, 0, 0.0, 0.0, 0.0, 0.0, 0)
        entered = [columns[f"e{k}"][i] for k in range(n)]
        for k in range(n):
            if entered[k] is not None:
                group.reached[k] += 1
        group.won_deals += int(columns["won_deals"][i])
        group.realised += float(columns["won_amount"][i])
        if columns["won_deals"][i]:
            group.wins.append((columns["won_at"][i], float(columns["won_amount"][i])))
        furthest = max((k for k in range(n) if entered[k] is not None), default=None)
        if model is None or furthest is None or furthest == n - 1 or columns["won_deals"][i]:
            continue
        if columns["lost"][i] and not columns["open"][i]:
            continue
        waited = (as_of - entered[furthest]).total_seconds() / 86400
        if waited > horizon_days:
            continue
        step = model.steps[furthest]
        chance = float(waiting_chance(step.rate.value, step.lag, np.asarray([waited]))[0])
        chance *= model.rate_to_end(furthest + 1)
        if chance <= 0:
            continue
        group.in_flight += 1
        group.expected_won += chance
        group.expected += chance * mean
        group.expected_variance += chance * (sd * sd + mean * mean) - (chance * mean) ** 2
    for key in spend:
        if key not in groups:
            groups[key] = CohortReturn(key[0], key[1], 0.0, [0] * n, 0, 0.0, 0.0, 0.0, 0.0, 0)
    for key, group in groups.items():
        group.spend = spend.get(key, 0.0)
        group.payback_month = _payback(group.wins, group.spend)
    return sorted(groups.values(), key=lambda g: (g.item.startswith("("), str(g.period), -g.spend, g.item))


def _payback(wins: list[tuple[datetime, float]], spend: float) -> date | None:
    """The month in which the cohort's realised revenue first covered its spend (None: not yet, or no spend)."""
    if spend <= 0:
        return None
    covered = 0.0
    for moment, amount in sorted(wins, key=lambda w: w[0]):
        covered += amount
        if covered >= spend:
            return date(moment.year, moment.month, 1)
    return None


def default_window(as_of: datetime) -> tuple[datetime, datetime]:
    """The twelve months before the as-of moment: long enough for deals to close, recent enough to act on."""
    return as_of - timedelta(days=365), as_of


def total_of(cohorts: Sequence[CohortReturn], stages: Sequence[str]) -> CohortReturn:
    """Every cohort added up (the variances too: the leads' outcomes are independent)."""
    total = CohortReturn("(all)", None, 0.0, [0] * len(stages), 0, 0.0, 0.0, 0.0, 0.0, 0)
    for c in cohorts:
        total.spend += c.spend
        total.reached = [a + b for a, b in zip(total.reached, c.reached, strict=True)]
        total.won_deals += c.won_deals
        total.realised += c.realised
        total.expected += c.expected
        total.expected_won += c.expected_won
        total.expected_variance += c.expected_variance
        total.in_flight += c.in_flight
        total.wins += c.wins
    total.payback_month = _payback(total.wins, total.spend)
    return total
