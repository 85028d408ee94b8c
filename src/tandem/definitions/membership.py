"""When each lead first met each stage's rule: how the definitions' rules become stage entries in every metric.

DESIGN: "a lead reaches stage k when it has a stage_event for k, *or meets k's rule*". A rule such as
``score >= 50 and employees >= 20`` says *whether* a lead qualifies; a funnel needs *when*, so that the lead lands
in the right cohort and period. This module answers it.

**The moments a rule is checked.** What a rule reads changes only when something happens to the lead: it is
created, or it has a touch or a sales activity. So each rule is checked at each of those moments (up to the
as-of time), with everything as of that moment: the touches and activities up to it, windows (``within``) and
score decay counted back from it. The lead enters the stage at the **first moment the rule holds**. A moment
before the lead's ``created_at`` (a touch imported with an earlier time) counts as ``created_at``: nobody is an
MQL before they exist.

This is exact for rules that only become true when something happens: attribute conditions, ``has_event``,
``count_events(...) >= n`` and ``score >= x`` (a decaying score is highest at a touch, never between touches). A
condition that becomes true with the mere passage of time (``days_since_created() > 30``, ``not has_event(...)``)
is noticed at the lead's next touch or activity, not at the exact day it turned true; a stage event remains the
way to record such moments precisely.

**How it joins the engine.** `rule_entries` gives one row per lead with the first moment per ruled stage;
`with_rule_entries` unfolds those into rows shaped like ``stage_events`` (lead_id, stage, occurred_at) and appends
them to the imported stage events. Every engine function then reads "stage events or rules" without knowing
rules exist, and the cumulative and strict semantics (docs/funnel-semantics.md) apply to both alike. A lead
with both a stage event and a rule match enters at the earlier of the two (the engine takes the first entry).

**How it is computed**, in the warehouse on every backend: the moments are one row per distinct (lead, moment),
computed once; the touches (and activities) of each lead are left-joined to its moments once, up to each moment,
and aggregated into one column per event count the rules use and one per behaviour-scoring rule; the lead's
columns are joined on after that, making the probe (a rule that reads no events is checked at the creation alone,
without the moments); the score at the moment is the fit
points plus the decayed behaviour points, as `tandem.definitions.scoring` computes it for one moment; each rule
compiles (`compile_rule_at`) to a boolean column of the probe, and the first moment per lead is a filtered
``min``. Without rules nothing is added and the stage events are returned unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import ibis
import ibis.expr.types as ir

from tandem.definitions.model import BehaviourRule, Definitions
from tandem.definitions.rule_expressions import compile_rule_at
from tandem.definitions.rules import EventCount, Rule, RuleError, event_counts, parse_rule
from tandem.definitions.scoring import ScoringError, decayed_worth
from tandem.definitions.scoring import float_literal as _float
from tandem.engine.entries import days_between, seconds_between

__all__ = ["rule_column", "rule_entries", "ruled_stages", "with_rule_entries"]

_AT = "_moment"
_SCORE = "score"


def rule_column(index: int) -> str:
    """The column of `rule_entries` holding the first moment a lead met stage `index`'s rule."""
    return f"r{index}"


def ruled_stages(definitions: Definitions) -> list[int]:
    """The indexes of the stages that have an entry rule."""
    return [k for k, stage in enumerate(definitions.stages) if stage.rule]


def rule_entries(
    definitions: Definitions,
    *,
    leads: ibis.Table,
    touches: ibis.Table | None,
    activities: ibis.Table | None,
    as_of: datetime,
    since: datetime | None = None,
) -> ir.Table | None:
    """One row per lead that met some stage rule by `as_of`: ``lead_id`` and ``r<k>`` per ruled stage k.

    ``r<k>`` is the first moment the lead met stage k's rule (null: it never did by `as_of`). None when no stage
    has a rule. With `since`, only moments from `since` on count: the first moment on or after it that the rule
    holds (a version applied from its effective date, `tandem.definitions.counting`).

    Raises `RuleError` naming the stage when a rule does not fit the tables (an attribute the leads do
    not have, an event function without the table it reads), `ScoringError` when scoring needs missing touches.
    """
    if as_of.tzinfo is not None:
        as_of = as_of.astimezone(UTC).replace(tzinfo=None)
    ruled = ruled_stages(definitions)
    if not ruled:
        return None
    rules = {k: _parse(definitions, k) for k in ruled}
    scoring = definitions.scoring if any("score" in rules[k].attributes for k in ruled) else None
    fits = [parse_rule(fit.when) for fit in scoring.fit] if scoring is not None else []
    behaviour = scoring.behaviour if scoring is not None else ()
    if behaviour and touches is None:
        raise ScoringError("scoring has behaviour rules, which need the touches table; import touches")

    counts: list[EventCount] = []
    for rule in [*rules.values(), *fits]:
        counts += [count for count in event_counts(rule) if count not in counts]
    sources = {"touches": touches, "activities": activities}
    for count in counts:
        if sources[count.source] is None:
            stage = next((definitions.stages[k].name for k in ruled if count in event_counts(rules[k])), "scoring")
            raise RuleError([], where=f"stage {stage!r}: the rule reads {count.source}, which are not imported")
    names = {count: f"_n{i}" for i, count in enumerate(counts)}

    when = ibis.literal(as_of, type="timestamp")
    existing = leads.filter(leads.created_at <= when)
    event_tables = {"touches": touches} if behaviour else {}
    event_tables |= {count.source: sources[count.source] for count in counts}
    # A rule that reads the clock (days_since_created) can change at any moment: check it at every touch and
    # activity. Otherwise the moments of the tables it reads are enough (the same first moment, fewer rows).
    clock = any("days_since_created" in rule.functions for rule in [*rules.values(), *fits])
    moment_tables = sources if clock else event_tables
    moment_sources = [t for t in moment_tables.values() if t is not None]
    if moment_sources:
        keys = _moments(existing, moment_sources, when)
        # Each table's counts per (lead, moment), one row per key; the lead's columns joined on once, at the end.
        counted: ir.Table | None = None
        for source, table in event_tables.items():
            assert table is not None
            wanted = [count for count in counts if count.source == source]
            scored = behaviour if source == "touches" else ()
            aggregated = _aggregate_events(keys, table, when, wanted, names, scored)
            if counted is None:
                counted = aggregated
            else:
                aggregated = aggregated.rename(_other_lead_id="_lead_id", _other_at=_AT)
                counted = counted.join(
                    aggregated, [counted._lead_id == aggregated._other_lead_id, counted[_AT] == aggregated._other_at]
                ).drop("_other_lead_id", "_other_at")
        moments = counted if counted is not None else keys
        probe = existing.join(moments, existing.lead_id == moments._lead_id).drop("_lead_id")
    else:  # an attribute-only rule: its one moment is the creation
        probe = existing.mutate(**{_AT: existing.created_at})

    count_columns = {count: names[count] for count in counts}
    if scoring is not None:
        points: ir.FloatingValue = _float(0)
        for index, fit in enumerate(scoring.fit):
            holds = _compile(fits[index], probe, count_columns, f"scoring fit rule {index + 1} ({fit.when})")
            points = points + holds.ifelse(_float(fit.points), _float(0))
        for index in range(len(behaviour)):
            points = points + probe[f"_b{index}"].coalesce(_float(0))
        probe = probe.mutate(**{_SCORE: points})

    from_since = probe[_AT] >= ibis.literal(since, type="timestamp") if since is not None else None

    def meets(k: int) -> ir.BooleanValue:
        met = _compile(rules[k], probe, count_columns, f"stage {definitions.stages[k].name!r}")
        return met if from_since is None else met & from_since

    firsts = {rule_column(k): probe[_AT].min(where=meets(k)) for k in ruled}
    entries = probe.group_by("lead_id").aggregate(**firsts)
    met = [entries[rule_column(k)].notnull() for k in ruled]
    return entries.filter(ibis.or_(*met))


def with_rule_entries(stage_events: ibis.Table, entries: ir.Table | None, definitions: Definitions) -> ibis.Table:
    """The stage events plus one row (lead_id, stage, occurred_at) per lead and ruled stage it met.

    Unfolded with UNNEST over the ruled stages (one scan of `entries`, not a union per stage).
    """
    events = stage_events.select("lead_id", "stage", "occurred_at")
    if entries is None:
        return events
    ruled = ruled_stages(definitions)
    index = ibis.literal(ruled, type="array<int64>").unnest()
    unfolded = entries.select("lead_id", *(rule_column(k) for k in ruled), _k=index)
    names = [definitions.stages[k].name for k in ruled]
    stage = ibis.cases(*((unfolded._k == k, ibis.literal(name)) for k, name in zip(ruled, names, strict=True)))
    moment = ibis.cases(*((unfolded._k == k, unfolded[rule_column(k)]) for k in ruled))
    rows = unfolded.select(
        lead_id=unfolded.lead_id.cast(events.lead_id.type()),
        stage=stage.cast(events.stage.type()),
        occurred_at=moment.cast(events.occurred_at.type()),
    )
    return events.union(rows.filter(rows.occurred_at.notnull()), distinct=False)


def _parse(definitions: Definitions, index: int) -> Rule:
    stage = definitions.stages[index]
    assert stage.rule is not None
    try:
        return parse_rule(stage.rule)
    except RuleError as error:
        raise RuleError(error.problems, where=f"stage {stage.name!r} ({stage.rule})") from error


def _compile(rule: Rule, probe: ir.Table, counts: dict[EventCount, str], where: str) -> ir.BooleanValue:
    try:
        return compile_rule_at(rule, probe, at=_AT, counts=counts)
    except RuleError as error:
        raise RuleError(error.problems, where=f"{where}: {rule.text}") from error


def _moments(leads: ir.Table, event_tables: Sequence[ibis.Table], when: ir.TimestampValue) -> ir.Table:
    """``_lead_id`` and ``_moment``: each lead's creation, and each of its touches and activities up to `when`.

    A moment before the lead was created counts as its creation; each (lead, moment) appears once.
    """
    moments = leads.select("lead_id", _t=leads.created_at)
    for table in event_tables:
        happened = table.filter(table.lead_id.notnull(), table.occurred_at <= when)
        moments = moments.union(
            happened.select(
                lead_id=happened.lead_id.cast(leads.lead_id.type()),
                _t=happened.occurred_at.cast(leads.created_at.type()),
            ),
            distinct=False,
        )
    created = leads.select(_lead_id=leads.lead_id, _created=leads.created_at)
    joined = moments.join(created, moments.lead_id == created._lead_id)
    return joined.select(_lead_id=joined.lead_id, **{_AT: ibis.greatest(joined._t, joined._created)}).distinct()


def _aggregate_events(
    keys: ir.Table,
    table: ibis.Table,
    when: ir.TimestampValue,
    counts: Sequence[EventCount],
    names: dict[EventCount, str],
    behaviour: Sequence[BehaviourRule],
) -> ir.Table:
    """Per (lead, moment) of `keys`: how many events of each counted kind fall in each window, and decayed points.

    Columns ``_lead_id``, ``_moment``, one per count (`names`, 0 when none) and ``_b<i>`` per behaviour rule (0.0
    when none); one row per row of `keys`. Each lead's events up to `when` are left-joined to its moments once,
    keeping those at or before the moment.
    """
    kinds = sorted({count.kind for count in counts} | {rule.event for rule in behaviour})
    events = table.filter(
        table.lead_id.notnull(),
        table.occurred_at <= when,
        table.kind.isin([ibis.literal(kind, type="string") for kind in kinds]),
    )
    events = events.select(_e_lead=events.lead_id, _e_kind=events.kind, _e_at=events.occurred_at.cast("timestamp"))
    pairs = keys.left_join(events, [keys._lead_id == events._e_lead, events._e_at <= keys[_AT]])
    age_seconds = seconds_between(pairs._e_at, pairs[_AT])
    sums: dict[str, ir.Value] = {}
    for count in counts:
        keep = pairs._e_kind == ibis.literal(count.kind, type="string")
        if count.within is not None:
            keep = keep & (age_seconds < ibis.literal(int(count.within.total_seconds()), type="int64"))
        sums[names[count]] = pairs._e_kind.count(where=keep)
    age_days = days_between(pairs._e_at, pairs[_AT])
    for index, rule in enumerate(behaviour):
        keep = pairs._e_kind == ibis.literal(rule.event, type="string")
        if rule.within is not None:
            keep = keep & (age_seconds < ibis.literal(rule.within.seconds, type="int64"))
        sums[f"_b{index}"] = keep.ifelse(decayed_worth(rule, age_days), _float(0)).sum()
    return pairs.group_by("_lead_id", _AT).aggregate(**sums)
