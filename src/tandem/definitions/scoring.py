"""Lead scoring computed by the engine: the `scoring:` of the definitions file as an Ibis column on the leads.

The score of a lead *as of* a moment is the sum of its fit points and its behaviour points::

    score = sum over fit rules       (points if the rule `when` holds for the lead, else 0)
          + sum over behaviour rules (sum over the lead's touches of kind `event`
                                      with as_of - within < occurred_at <= as_of
                                      of points * 0.5 ** (age_days / half_life_days))

    age_days = (as_of - occurred_at) in whole seconds / 86400

A fit rule is a rule of the rule language (`tandem.definitions.rules`): a lead whose attribute is missing does
not meet it. Without `within` every touch up to as_of counts; without `half_life` a touch is worth its full
`points` for as long as it counts. Touches after as_of, touches of no lead and touches of other kinds are left
out; a lead without touches scores its fit points only.

**A score is as of a moment**: the same lead scores less tomorrow, as its touches fade by half every `half_life`
and drop out when they leave the `within` window, even when nothing new happens. Pass the moment as `as_of`.

Example, as of 2026-03-01 00:00, with::

    scoring:
      fit:
        - when: employees >= 50
          points: 20
      behaviour:
        - event: webinar
          points: 16
          within: 90d
          half_life: 14d

a lead with 200 employees that attended a webinar on 2026-03-01 00:00 (age 0) and one on 2026-02-01 (28 days,
two half-lives) scores 20 + 16 + 16 x 0.25 = 40. On 2026-03-15 the same lead scores 20 + 8 + 2 = 30.

The computation stays in the warehouse on DuckDB, PostgreSQL and Spark alike: fit rules compile with
`compile_rule`; behaviour points are one aggregation of the touches (one sum per rule), left-joined onto the
leads and coalesced to 0. The window's start is worked out in Python and compared as a timestamp literal, and
ages are counted in whole seconds as float64 (`tandem.engine.entries.days_between`), so every backend gives the
same numbers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import ibis
import ibis.expr.types as ir

from tandem.definitions.model import BehaviourRule, Scoring
from tandem.definitions.rule_expressions import compile_rule
from tandem.definitions.rules import RuleError, parse_rule
from tandem.engine.entries import SECONDS_PER_DAY, days_between
from tandem.errors import TandemError

__all__ = [
    "ScoringError",
    "behaviour_column",
    "decayed_worth",
    "fit_column",
    "float_literal",
    "score_table",
    "with_score",
]


class ScoringError(TandemError, ValueError):
    """Scoring that cannot be computed on these tables (e.g. behaviour rules but no touches)."""


def fit_column(index: int) -> str:
    """The column holding the points of fit rule `index` (0-based): ``fit_1`` for the first."""
    return f"fit_{index + 1}"


def behaviour_column(index: int) -> str:
    """The column holding the points of behaviour rule `index` (0-based): ``behaviour_1`` for the first."""
    return f"behaviour_{index + 1}"


def score_table(
    scoring: Scoring,
    leads: ibis.Table,
    *,
    as_of: datetime,
    touches: ibis.Table | None = None,
    activities: ibis.Table | None = None,
) -> ibis.Table:
    """`leads` with each lead's `score` as of `as_of` (float64), and the points of every rule to explain it.

    The columns added are ``fit_1..`` (one per fit rule, in file order), ``behaviour_1..`` (one per behaviour
    rule) and ``score``, their sum; all float64 and never null. A `score` the leads already have (imported from a
    CRM) is replaced by the computed one. `touches` is needed when there are behaviour rules, and `touches` or
    `activities` when a fit rule uses events. An `as_of` with a time zone is read in UTC.
    Raises `RuleError` when a fit rule does not fit the leads' columns, `ScoringError` when touches are missing.
    """
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    points: dict[str, ir.FloatingValue] = {}
    for index, fit in enumerate(scoring.fit):
        try:
            holds = compile_rule(parse_rule(fit.when), leads, as_of=as_of, touches=touches, activities=activities)
        except RuleError as error:
            raise RuleError(error.problems, where=f"scoring fit rule {index + 1} ({fit.when})") from error
        points[fit_column(index)] = holds.ifelse(_float(fit.points), _float(0))
    scored = leads
    if scoring.behaviour:
        if touches is None:
            raise ScoringError("scoring has behaviour rules, which need the touches table; import touches")
        behaviour = _behaviour_points(scoring.behaviour, touches, as_of)
        scored = leads.left_join(behaviour, leads.lead_id == behaviour._scored_lead_id).drop("_scored_lead_id")
        for index in range(len(scoring.behaviour)):
            name = behaviour_column(index)
            points[name] = scored[f"_{name}"].coalesce(_float(0))
    total: ir.FloatingValue = _float(0)
    for value in points.values():
        total = total + value
    hidden = [f"_{behaviour_column(index)}" for index in range(len(scoring.behaviour))]
    return scored.mutate(**points).mutate(score=total).drop(*hidden)


def with_score(
    scoring: Scoring,
    leads: ibis.Table,
    *,
    as_of: datetime,
    touches: ibis.Table | None = None,
    activities: ibis.Table | None = None,
) -> ibis.Table:
    """`leads` with only `score` added (or replaced), ready for ``compile_rule(parse_rule('score >= 50'), ...)``."""
    scored = score_table(scoring, leads, as_of=as_of, touches=touches, activities=activities)
    return scored.select(*leads.columns, *([] if "score" in leads.columns else ["score"]))


def _behaviour_points(rules: tuple[BehaviourRule, ...], touches: ibis.Table, as_of: datetime) -> ibis.Table:
    """One row per lead with touches of the rules' kinds up to as_of: ``_scored_lead_id`` and ``_behaviour_1..``."""
    end = ibis.literal(as_of, type="timestamp")
    kinds = sorted({rule.event for rule in rules})
    counted = touches.filter(
        touches.lead_id.notnull(),
        touches.occurred_at <= end,
        touches.kind.isin([ibis.literal(kind, type="string") for kind in kinds]),
    )
    age_days = days_between(counted.occurred_at, end)
    sums: dict[str, ir.FloatingValue] = {}
    for index, rule in enumerate(rules):
        keep = counted.kind == ibis.literal(rule.event, type="string")
        if rule.within is not None:
            start = ibis.literal(as_of - timedelta(seconds=rule.within.seconds), type="timestamp")
            keep = keep & (counted.occurred_at > start)
        worth = decayed_worth(rule, age_days)
        sums[f"_{behaviour_column(index)}"] = keep.ifelse(worth, _float(0)).sum()
    return counted.group_by(_scored_lead_id=counted.lead_id).aggregate(**sums)


def decayed_worth(rule: BehaviourRule, age_days: ir.FloatingValue) -> ir.FloatingValue:
    """What one touch of `rule`'s kind is worth at `age_days`: its points, halved every half-life (if any)."""
    worth: ir.FloatingValue = _float(rule.points)
    if rule.half_life is not None:
        # points x 0.5 ** half-lives, written points / 2 ** half-lives: the literals stay whole numbers
        half_life_days = _float(rule.half_life.seconds) / _float(int(SECONDS_PER_DAY))
        worth = worth / (_float(2) ** (age_days / half_life_days))
    return worth


def float_literal(value: int) -> ir.FloatingValue:
    """A whole number as float64 on every backend (see `_float`)."""
    return _float(value)


def _float(value: int) -> ir.FloatingValue:
    """A whole number as a float64 expression on every backend.

    ``CAST(20 AS DOUBLE)``: a float literal would reach PostgreSQL as ``20.0``, a NUMERIC that makes a CASE of
    points a NUMERIC column, and Spark reads a bare decimal as a DECIMAL.
    """
    literal: ir.FloatingValue = ibis.literal(value, type="int64").cast("float64")
    return literal
