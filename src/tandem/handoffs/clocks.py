"""The handoff's clocks in the warehouse: episodes, custody, pauses and business time, on every backend (Ibis).

How a lead's handoff history becomes clocks (docs/sla.md, "Clocks"):

1. **Episodes.** The `handoffs` events of a lead, in time order (events at the same moment in `HANDOFF_EVENTS`
   order), split into episodes. An episode opens at an ``assigned`` or ``reassigned`` event when the lead has no
   episode open: its first event, or the first after a ``rejected``, ``recycled`` or ``requalified``. Later
   ``assigned``/``reassigned`` events only change who holds the lead (custody), so reassigning a lead never restarts
   its clock. ``status`` events belong to the episode they fall in.
2. **Clocks.** Each episode runs an *accept* clock, stopped by sales' first decision (``accepted``, ``rejected`` or
   ``recycled``), and a *first-touch* clock, stopped by the lead's first activity at or after the episode's start
   (a lead rejected or recycled before any touch owes none: its clock stops at the decision). A clock not stopped by
   the as-of moment is open and runs to it. Events after the as-of moment are unseen.
3. **Pieces.** Between consecutive events of an episode the lead has one owner (the last assigned) and one status
   (the last ``status`` event's); a piece whose status is one of the contract's ``pause_statuses`` is paused.
   A clock's business time is the business seconds of its unpaused pieces, cut to the clock's start and stop,
   measured with the calendar of the lead's team (`tandem.sla.table`).
4. **Custody.** A breached clock is charged to the owner of the piece in which its business time passed the target;
   a clock that met its target, or is still within it, to the owner at its stop (the current owner if open).
5. **Attempts** (`attempt_table`). Each episode owes its priority's (else the contract's) count of activities by the
   close of its last working day, that close moved later by the business time spent in a pause status (the
   unpaused pieces of 3. carry the window's business time). An episode that ends (rejected, recycled,
   re-qualified) before the close, short of the count, owes none: sales stopped working the lead, as a first touch
   is not owed after a rejection. A missed window is charged to the owner when it closed.

Each episode is measured under the contract in force when it opened (the definitions version then): its team's
calendar, its priorities and targets. An edit to the contract, a calendar included, therefore never changes a clock
that started before it took effect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime

import ibis
import ibis.expr.types as ir

from tandem.definitions.rule_expressions import compile_rule
from tandem.definitions.rules import parse_rule
from tandem.engine.entries import whole_seconds
from tandem.sla.contract import ServiceLevels
from tandem.sla.table import calendar_table, with_business_time
from tandem.warehouse.schema import HANDOFF_EVENTS

__all__ = [
    "CLOCKS",
    "ContractStretch",
    "attempt_table",
    "calendar_key",
    "clock_table",
    "contract_calendars",
    "episode_table",
]

#: The clocks each episode runs, as the reports name them.
CLOCKS: tuple[str, ...] = ("accept", "first_touch")
_OPENING = ("assigned", "reassigned")
_CLOSING = ("rejected", "recycled", "requalified")
_DECISIONS = ("accepted", "rejected", "recycled")


@dataclass(frozen=True)
class ContractStretch:
    """A definitions version's contract and the stretch [start, end) of time in which episodes open under it."""

    version: int
    contract: ServiceLevels
    start: datetime | None
    end: datetime | None


def calendar_key(team: str, version: int) -> str:
    """The calendar table's key for a team's calendar under a definitions version."""
    return f"{team}@v{version}"


def contract_calendars(stretches: Sequence[ContractStretch], first_day: date, last_day: date) -> ir.Table:
    """The calendar table (`tandem.sla.table`) of every team of every contract version, keyed by `calendar_key`,
    over the local days `first_day`..`last_day`."""
    calendars = [
        replace(team.calendar, team=calendar_key(team.name, stretch.version))
        for stretch in stretches
        for team in stretch.contract.teams
    ]
    return calendar_table(calendars, first_day, last_day)


def _rank(event: ir.StringValue) -> ir.IntegerValue:
    return ibis.cases(*[(event == name, index) for index, name in enumerate(HANDOFF_EVENTS)], else_=len(HANDOFF_EVENTS))


def _stretch_of(moment: ir.TimestampValue, stretches: Sequence[ContractStretch]) -> ir.IntegerValue:
    """The definitions version whose stretch holds `moment`."""
    branches = []
    for stretch in stretches:
        condition = ibis.literal(True)
        if stretch.start is not None:
            condition = condition & (moment >= stretch.start)
        if stretch.end is not None:
            condition = condition & (moment < stretch.end)
        branches.append((condition, stretch.version))
    if len(branches) == 1:
        return ibis.literal(stretches[0].version, type="int64")
    return ibis.cases(*branches, else_=stretches[-1].version).cast("int64")


def episode_table(
    handoffs: ir.Table,
    leads: ir.Table,
    stretches: Sequence[ContractStretch],
    *,
    as_of: datetime,
    touches: ir.Table | None = None,
    activities: ir.Table | None = None,
) -> ir.Table:
    """One row per episode: lead_id, episode, start, version, team, calendar (key), priority, the first owner, the
    decision (event, moment, reason, note, actor), ``ended_at`` (its first ``rejected``, ``recycled`` or
    ``requalified``: sales stopped working the lead; null while it does) and the targets in business seconds (null:
    no target)."""
    seen = handoffs.filter(handoffs.occurred_at <= as_of, handoffs.event.isin(HANDOFF_EVENTS))
    ordered = seen.mutate(_rank=_rank(seen.event))
    core = ordered.filter(ordered.event != "status")
    by_lead = ibis.window(group_by=core.lead_id, order_by=[core.occurred_at, core._rank])
    previous = core.event.lag().over(by_lead)
    opens = core.event.isin(_OPENING) & (previous.isnull() | previous.isin(_CLOSING))
    core = core.mutate(_opens=ibis.ifelse(opens, 1, 0).cast("int64"))  # PostgreSQL casts no boolean to bigint
    status = ordered.filter(ordered.event == "status").mutate(_opens=ibis.literal(0, type="int64"))
    events = core.union(status)
    running = ibis.window(group_by=events.lead_id, order_by=[events.occurred_at, events._rank], rows=(None, 0))
    events = events.mutate(episode=events._opens.sum().over(running))
    events = events.filter(events.episode > 0)

    opening = events.filter(events._opens == 1).select(
        "lead_id", "episode", start=events.occurred_at, first_owner=events.owner, data_team=events.team
    )
    decisions = events.filter(events.event.isin(_DECISIONS))
    first = ibis.window(
        group_by=[decisions.lead_id, decisions.episode], order_by=[decisions.occurred_at, decisions._rank]
    )
    decisions = decisions.mutate(_n=ibis.row_number().over(first))
    decision = decisions.filter(decisions._n == 0).select(
        "lead_id",
        "episode",
        decision=decisions.event,
        decided_at=decisions.occurred_at,
        reason=decisions.reason,
        note=decisions.note,
        decided_by=decisions.actor,
    )
    closing = events.filter(events.event.isin(_CLOSING))
    ended = closing.group_by(["lead_id", "episode"]).aggregate(ended_at=closing.occurred_at.min())
    episodes = opening.left_join(decision, ["lead_id", "episode"]).drop("lead_id_right", "episode_right")
    episodes = episodes.left_join(ended, ["lead_id", "episode"]).drop("lead_id_right", "episode_right")
    episodes = episodes.mutate(version=_stretch_of(episodes.start, stretches))

    lead_cols = leads.select("lead_id", "owner", lead_created_at=leads.created_at)
    priority = _priority(leads, stretches, as_of=as_of, touches=touches, activities=activities)
    joined = episodes.left_join(lead_cols.join(priority, "lead_id"), "lead_id").drop("lead_id_right")
    owner = joined.first_owner.coalesce(joined.owner)
    team = _team(joined.data_team, owner, joined.version, stretches)
    joined = joined.mutate(first_owner=owner, team=team)
    joined = joined.mutate(
        calendar=_calendar_of(joined.team, joined.version),
        priority=_priority_name(joined, stretches),
        next_start=joined.start.lead().over(ibis.window(group_by=joined.lead_id, order_by=joined.episode)),
    )
    joined = joined.mutate(
        accept_target=_target(joined, stretches, "accept"),
        first_touch_target=_target(joined, stretches, "first_touch"),
    )
    return joined.drop([c for c in joined.columns if c.startswith("_p_")] + ["owner", "data_team"])


def _priority(
    leads: ir.Table,
    stretches: Sequence[ContractStretch],
    *,
    as_of: datetime,
    touches: ir.Table | None,
    activities: ir.Table | None,
) -> ir.Table:
    """Per lead, one boolean column ``_p_<version>_<index>`` per priority rule of each contract version."""
    columns: dict[str, ir.BooleanValue] = {}
    for stretch in stretches:
        for index, priority in enumerate(stretch.contract.priorities):
            if priority.when is None:
                continue
            rule = compile_rule(parse_rule(priority.when), leads, as_of=as_of, touches=touches, activities=activities)
            columns[f"_p_{stretch.version}_{index}"] = rule
    return leads.select("lead_id", **columns)


def _by_version(version: ir.IntegerValue, stretches: Sequence[ContractStretch], value: dict[int, ir.Value]) -> ir.Value:
    if len(stretches) == 1:
        return value[stretches[0].version]
    return ibis.cases(
        *[(version == s.version, value[s.version]) for s in stretches], else_=value[stretches[-1].version]
    )


def _priority_name(joined: ir.Table, stretches: Sequence[ContractStretch]) -> ir.StringValue:
    per_version: dict[int, ir.Value] = {}
    for stretch in stretches:
        priorities = stretch.contract.priorities
        branches = [
            (joined[f"_p_{stretch.version}_{i}"].fill_null(False), p.name)
            for i, p in enumerate(priorities)
            if p.when is not None
        ]
        rest = ibis.literal(priorities[-1].name, type="string")
        per_version[stretch.version] = ibis.cases(*branches, else_=rest) if branches else rest
    return _by_version(joined.version, stretches, per_version).cast("string")


def _target(joined: ir.Table, stretches: Sequence[ContractStretch], clock: str) -> ir.IntegerValue:
    """The clock's target in business seconds for each episode's version and priority (null: no target)."""
    per_version: dict[int, ir.Value] = {}
    for stretch in stretches:
        targets = {p.name: getattr(p, clock) for p in stretch.contract.priorities}
        branches = [
            (joined.priority == name, ibis.literal(None if target is None else target.seconds, type="int64"))
            for name, target in targets.items()
        ]
        per_version[stretch.version] = ibis.cases(*branches, else_=ibis.null("int64"))
    return _by_version(joined.version, stretches, per_version).cast("int64")


def _team(
    data_team: ir.StringValue, owner: ir.StringValue, version: ir.IntegerValue, stretches: Sequence[ContractStretch]
) -> ir.StringValue:
    """The team whose calendar the episode runs on: the one the data names (when the contract has it), else the
    owner's team in the contract, else the contract's first team."""
    per_version: dict[int, ir.Value] = {}
    for stretch in stretches:
        teams = stretch.contract.teams
        names = [t.name for t in teams]
        members = [(owner == member, t.name) for t in teams for member in t.members]
        by_owner = ibis.cases(*members, else_=names[0]) if members else ibis.literal(names[0])
        per_version[stretch.version] = ibis.ifelse(data_team.isin(names), data_team, by_owner)
    return _by_version(version, stretches, per_version).cast("string")


def _calendar_of(team: ir.StringValue, version: ir.IntegerValue) -> ir.StringValue:
    """The calendar table's key (`calendar_key`) in the warehouse."""
    return (team.cast("string") + ibis.literal("@v") + version.cast("string")).name("calendar")


def clock_table(
    handoffs: ir.Table,
    episodes: ir.Table,
    activities: ir.Table,
    calendar: ir.Table,
    stretches: Sequence[ContractStretch],
    *,
    as_of: datetime,
) -> ir.Table:
    """One row per episode and clock: the episode's columns, ``clock``, ``stop`` (null while open), ``target``,
    ``elapsed`` (business seconds to the stop, or to `as_of` while open), ``breached``, ``charged_to`` (custody),
    ``left`` (business seconds to the target, open clocks only) and ``warned`` (open, at or past the contract's
    warning share of its target)."""
    touched = activities.filter(activities.occurred_at <= as_of)
    first_touch = (
        episodes.select("lead_id", "episode", "start")
        .join(touched.select(t_lead=touched.lead_id, t_at=touched.occurred_at), [episodes.lead_id == touched.lead_id])
        .filter(lambda t: t.t_at >= t.start)
        .group_by(["lead_id", "episode"])
        .aggregate(touched_at=lambda t: t.t_at.min())
    )
    with_touch = episodes.left_join(first_touch, ["lead_id", "episode"]).drop("lead_id_right", "episode_right")
    accept = with_touch.mutate(
        clock=ibis.literal("accept"), stop=with_touch.decided_at, target=with_touch.accept_target
    )
    no_touch_owed = with_touch.decision.isin(("rejected", "recycled")) & (
        with_touch.touched_at.isnull() | (with_touch.touched_at > with_touch.decided_at)
    )
    # An episode that ends (a new one opens) before any touch stops owing one there.
    touch_stop = ibis.ifelse(
        no_touch_owed,
        with_touch.decided_at,
        with_touch.touched_at.coalesce(with_touch.next_start),
    )
    touch = with_touch.mutate(clock=ibis.literal("first_touch"), stop=touch_stop, target=with_touch.first_touch_target)
    clocks = accept.union(touch)
    clocks = clocks.mutate(run_to=clocks.stop.fill_null(ibis.literal(as_of)))

    # The stretches between the episode's events, with B at each end, measured once per episode; each clock takes
    # those that start before it stops, the last cut at its stop (B of the stop looked up once per clock).
    timeline = _timeline(handoffs, episodes, stretches, as_of=as_of)
    timeline = with_business_time(timeline, "p_start", calendar, name="b0", team="calendar")
    timeline = with_business_time(timeline, "p_end", calendar, name="b1", team="calendar")
    cut = clocks.select("lead_id", "episode", "clock", "run_to", "target", "calendar")
    cut = with_business_time(cut, "run_to", calendar, name="b_run", team="calendar").drop("calendar")
    pieces = cut.join(
        timeline,
        [cut.lead_id == timeline.lead_id, cut.episode == timeline.episode, timeline.p_start < cut.run_to],
    )
    pieces = pieces.drop([c for c in pieces.columns if c.endswith("_right")])
    end_b = ibis.ifelse(pieces.p_end <= pieces.run_to, pieces.b1, pieces.b_run)
    pieces = pieces.mutate(b=end_b - pieces.b0)
    pieces = pieces.mutate(active=ibis.ifelse(pieces.paused, 0, pieces.b).cast("int64"))
    ordered = ibis.window(
        group_by=[pieces.lead_id, pieces.episode, pieces.clock], order_by=[pieces.p_start, pieces.p_seq], rows=(None, 0)
    )
    pieces = pieces.mutate(after=pieces.active.sum().over(ordered))
    pieces = pieces.mutate(before=pieces.after - pieces.active)
    crossing = pieces.target.notnull() & (pieces.before <= pieces.target) & (pieces.target < pieces.after)
    last = ibis.window(
        group_by=[pieces.lead_id, pieces.episode, pieces.clock], order_by=[pieces.p_start.desc(), pieces.p_seq.desc()]
    )
    pieces = pieces.mutate(_last=ibis.row_number().over(last) == 0)
    summary = pieces.group_by(["lead_id", "episode", "clock"]).aggregate(
        elapsed=pieces.active.sum(),
        unmeasured=pieces.b.isnull().any(),
        breach_owner=pieces.owner.max(where=crossing),
        last_owner=pieces.owner.max(where=pieces._last),
    )
    measured = clocks.left_join(summary, ["lead_id", "episode", "clock"]).drop(
        "lead_id_right", "episode_right", "clock_right"
    )
    elapsed = ibis.ifelse(measured.unmeasured.fill_null(False), ibis.null("int64"), measured.elapsed.fill_null(0))
    measured = measured.mutate(elapsed=elapsed.cast("int64"))
    breached = measured.target.notnull() & (measured.elapsed > measured.target)
    warn_share = _warn_share(measured.version, stretches)
    is_open = measured.stop.isnull()
    return measured.mutate(
        breached=breached.fill_null(False),
        charged_to=ibis.ifelse(
            breached.fill_null(False), measured.breach_owner, measured.last_owner.coalesce(measured.first_owner)
        ),
        left=ibis.ifelse(is_open & measured.target.notnull(), measured.target - measured.elapsed, ibis.null("int64")),
        warned=(
            is_open & measured.target.notnull() & ~breached & (measured.elapsed * 100 >= measured.target * warn_share)
        ).fill_null(False),
    ).drop("breach_owner", "last_owner", "unmeasured", "run_to")


def _warn_share(version: ir.IntegerValue, stretches: Sequence[ContractStretch]) -> ir.IntegerValue:
    values = {s.version: ibis.literal(s.contract.warn_at_percent, type="int64") for s in stretches}
    return _by_version(version, stretches, values).cast("int64")


def _timeline(
    handoffs: ir.Table, episodes: ir.Table, stretches: Sequence[ContractStretch], *, as_of: datetime
) -> ir.Table:
    """The stretches of each episode between its events (from its start to `as_of`), with the owner and whether a
    pause status holds; the last ends at `as_of`. A clock uses those before its stop (`clock_table`)."""
    seen = handoffs.filter(handoffs.occurred_at <= as_of)
    events = seen.select(
        "lead_id", e_at=seen.occurred_at, e_event=seen.event, e_owner=seen.owner, e_status=seen.status
    ).mutate(e_rank=lambda t: _rank(t.e_event))
    picked = episodes.select("lead_id", "episode", "start", "first_owner", "version", "calendar")
    inside = picked.join(events, [picked.lead_id == events.lead_id, events.e_at >= picked.start])
    inside = inside.drop([c for c in inside.columns if c.endswith("_right")])
    window = ibis.window(group_by=[inside.lead_id, inside.episode], order_by=[inside.e_at, inside.e_rank])
    running = ibis.window(
        group_by=[inside.lead_id, inside.episode], order_by=[inside.e_at, inside.e_rank], rows=(None, 0)
    )
    sets_owner = inside.e_event.isin(_OPENING) & inside.e_owner.notnull()
    sets_status = inside.e_event == "status"
    inside = inside.mutate(
        p_seq=ibis.row_number().over(window),
        _og=ibis.ifelse(sets_owner, 1, 0).sum().over(running),
        _sg=ibis.ifelse(sets_status, 1, 0).sum().over(running),
        p_end=inside.e_at.lead().over(window).coalesce(ibis.literal(as_of)),
        _owner_set=ibis.ifelse(sets_owner, inside.e_owner, ibis.null("string")),
        _status_set=ibis.ifelse(sets_status, inside.e_status, ibis.null("string")),
    )
    owner_group = ibis.window(group_by=[inside.lead_id, inside.episode, inside._og])
    status_group = ibis.window(group_by=[inside.lead_id, inside.episode, inside._sg])
    inside = inside.mutate(
        owner=inside._owner_set.max().over(owner_group).coalesce(inside.first_owner),
        status=inside._status_set.max().over(status_group),
    )
    pauses = {s.version: inside.status.isin(s.contract.pause_statuses or ("",)) for s in stretches}
    return inside.select(
        "lead_id",
        "episode",
        "p_seq",
        "owner",
        "calendar",
        p_start=inside.e_at,
        p_end=inside.p_end,
        paused=_by_version(inside.version, stretches, pauses).fill_null(False),
    )


def attempt_table(
    handoffs: ir.Table,
    episodes: ir.Table,
    activities: ir.Table,
    calendar: ir.Table,
    stretches: Sequence[ContractStretch],
    *,
    as_of: datetime,
) -> ir.Table:
    """One row per episode whose contract asks for attempts (its priority's ``attempts``, else the contract's):
    ``required`` activities within ``within_days`` working days, counted from the working day of the handoff (the
    day itself when it opened before the close); ``closes_at`` (epoch seconds: the close of its last working day,
    later by the business time the lead spent in a pause status; while open, as if no pause held from now on);
    ``attempts`` made from the handoff to the close (and to the episode's end, if sooner) by `as_of`; ``owed``
    (False when the episode ended, rejected, recycled or re-qualified, before the close and short of the count:
    such a window is not judged, as a first touch is not owed after a rejection); ``closed`` (an owed window past
    its close), ``met``, ``missed`` (closed short of the count) and ``charged_to`` (who held the lead when the
    window closed, or holds it now)."""
    asked = [
        s
        for s in stretches
        if s.contract.attempts is not None or any(p.attempts is not None for p in s.contract.priorities)
    ]
    base = episodes.select(
        "lead_id", "episode", "start", "ended_at", "calendar", "version", "team", "first_owner", "priority"
    )
    if not asked:
        return base.filter(ibis.literal(False)).mutate(
            required=ibis.null("int64"),
            within_days=ibis.null("int64"),
            attempts=ibis.null("int64"),
            closes_at=ibis.null("int64"),
            owed=ibis.literal(False),
            closed=ibis.literal(False),
            met=ibis.literal(False),
            missed=ibis.literal(False),
            charged_to=ibis.null("string"),
        )
    base = _windows(base, calendar, stretches)
    pauses = sorted({status for s in stretches for status in s.contract.pause_statuses})
    if pauses:
        # A pause stops the window's business time, so its close moves later by the paused business time: worked
        # out apart for the episodes of leads ever in a pause status (few), from `episodes` again rather than from
        # `base`, so the query does not repeat `base`'s joins.
        paused_leads = handoffs.filter(
            handoffs.occurred_at <= as_of, handoffs.event == "status", handoffs.status.isin(pauses)
        ).select(p_lead=handoffs.lead_id)
        paused = episodes.semi_join(paused_leads, episodes.lead_id == paused_leads.p_lead)
        paused = _windows(
            paused.select("lead_id", "episode", "start", "calendar", "version", "first_owner", "priority"),
            calendar,
            stretches,
        )
        extended = _paused_closes(handoffs, paused, calendar, stretches, as_of=as_of)
        base = base.left_join(extended, ["lead_id", "episode"]).drop("lead_id_right", "episode_right")
        base = base.mutate(
            deadline=ibis.ifelse(base.was_paused.fill_null(False), base.paused_close, base.close_s).cast("int64")
        )
    else:
        base = base.mutate(deadline=base.close_s)
    # One pass over the episode's activities and assignments (to its end): the attempts made by the close, and
    # who held the lead at the close and now (the last assignment up to each), so `base` is read once.
    made = activities.filter(activities.occurred_at <= as_of).select(
        e_lead=activities.lead_id, e_at=activities.occurred_at, e_owner=ibis.null("string"), e_try=ibis.literal(1)
    )
    moves = handoffs.filter(handoffs.occurred_at <= as_of, handoffs.event.isin(_OPENING), handoffs.owner.notnull())
    moves = moves.select(e_lead=moves.lead_id, e_at=moves.occurred_at, e_owner=moves.owner, e_try=ibis.literal(0))
    events = made.union(moves)
    keyed = base.select(
        "lead_id",
        "episode",
        "start",
        "ended_at",
        "calendar",
        "version",
        "team",
        "first_owner",
        "priority",
        "required",
        "within_days",
        "deadline",
    )
    on = [
        keyed.lead_id == events.e_lead,
        events.e_at >= keyed.start,
        # Not `ended_at IS NULL OR e_at <= ended_at`: an OR in a join's condition takes DuckDB off its hash join
        # (80 s instead of 0.8 at 1,000,000 leads); the events are all at or before `as_of` already.
        events.e_at <= keyed.ended_at.coalesce(ibis.literal(as_of)),
    ]
    joined = keyed.left_join(events, on).drop("e_lead")
    in_time = (whole_seconds(joined.e_at) <= joined.deadline).fill_null(False)
    is_try = (joined.e_try == 1).fill_null(False)
    is_move = (joined.e_try == 0).fill_null(False)
    # Who held the lead at the close, and now: the owner of the last assignment up to each (an aggregate, not a
    # window over the joined rows: no sort of them).
    summed = joined.group_by(keyed.columns).aggregate(
        attempts=joined.count(where=is_try & in_time),
        holder_at_close=joined.e_owner.argmax(joined.e_at, where=is_move & in_time),
        holder_now=joined.e_owner.argmax(joined.e_at, where=is_move),
    )
    met = summed.attempts >= summed.required
    ended_early = (summed.ended_at.notnull() & (whole_seconds(summed.ended_at) < summed.deadline)).fill_null(False)
    owed = met | ~ended_early
    closed = (owed & (summed.deadline <= whole_seconds(ibis.literal(as_of)))).fill_null(False)
    return summed.mutate(
        closes_at=summed.deadline,
        met=met,
        owed=owed,
        closed=closed,
        missed=closed & ~met,
        charged_to=ibis.ifelse(closed, summed.holder_at_close, summed.holder_now).coalesce(summed.first_owner),
    ).drop("deadline", "holder_at_close", "holder_now")


def _attempt_rule(table: ir.Table, stretches: Sequence[ContractStretch], field: str) -> ir.IntegerValue:
    """The attempts' `field` (``count`` or ``within_days``) for each episode's version and priority: the priority's
    own attempts, else the contract's (null: none asked)."""
    per_version: dict[int, ir.Value] = {}
    for stretch in stretches:
        branches = []
        for priority in stretch.contract.priorities:
            attempts = stretch.contract.attempts_of(priority)
            value = None if attempts is None else getattr(attempts, field)
            branches.append((table.priority == priority.name, ibis.literal(value, type="int64")))
        per_version[stretch.version] = ibis.cases(*branches, else_=ibis.null("int64"))
    return _by_version(table.version, stretches, per_version).cast("int64")


def _windows(episodes: ir.Table, calendar: ir.Table, stretches: Sequence[ContractStretch]) -> ir.Table:
    """The episodes that owe attempts, with ``required``, ``within_days``, ``close_s`` (the close of the last
    working day, epoch seconds) and ``length`` (the window's business seconds from the handoff to that close)."""
    base = episodes.mutate(
        required=_attempt_rule(episodes, stretches, "count"),
        within_days=_attempt_rule(episodes, stretches, "within_days"),
    ).filter(lambda t: t.required.notnull())
    base = _day_and_b(base, "start", calendar)
    base = base.mutate(last_day=base.first_day + base.within_days - 1)
    closes = calendar.group_by([calendar.team, calendar.day]).aggregate(
        close_s=calendar.end_s.max(), b_close=(calendar.cumulative + calendar.end_s - calendar.start_s).max()
    )
    base = base.left_join(closes, [base.calendar == closes.team, base.last_day == closes.day])
    base = base.drop([c for c in base.columns if c.endswith("_right")] + ["day"])
    return base.mutate(length=base.b_close - base.b_start).drop("first_day", "last_day", "b_close", "b_start")


def _day_and_b(table: ir.Table, column: str, calendar: ir.Table) -> ir.Table:
    """`table` with ``first_day`` (`with_working_day`) and ``b_start`` (B, `with_business_time`) of the instant in
    `column`, on the calendar its ``calendar`` column names: the two in one range join."""
    keyed = table.mutate(_wb_t=whole_seconds(table[column]))
    rows = calendar.select(
        _wb_team=calendar.team,
        _wb_start=calendar.start_s,
        _wb_end=calendar.end_s,
        _wb_next=calendar.next_s,
        _wb_cum=calendar.cumulative,
        _wb_day=calendar.day,
        _wb_next_day=calendar.next_day,
    )
    on = [keyed._wb_t >= rows._wb_start, keyed._wb_t < rows._wb_next, keyed.calendar == rows._wb_team]
    joined = keyed.left_join(rows, on)
    day = ibis.ifelse(joined._wb_t < joined._wb_end, joined._wb_day, joined._wb_next_day)
    b = joined._wb_cum + ibis.least(joined._wb_t, joined._wb_end) - joined._wb_start
    return joined.select(*[joined[c] for c in table.columns], first_day=day.cast("int64"), b_start=b.cast("int64"))


def _paused_closes(
    handoffs: ir.Table,
    chosen: ir.Table,
    calendar: ir.Table,
    stretches: Sequence[ContractStretch],
    *,
    as_of: datetime,
) -> ir.Table:
    """For the attempts windows `chosen` (`_windows` of the leads ever in a pause status): ``paused_close``, the
    moment (epoch seconds) the window's business time ``length`` has run on its unpaused stretches (`_timeline`),
    with ``was_paused`` true. Not reached by `as_of`: the business time still owed is added from `as_of` on."""
    timeline = _timeline(handoffs, chosen, stretches, as_of=as_of)
    timeline = with_business_time(timeline, "p_start", calendar, name="b0", team="calendar")
    timeline = with_business_time(timeline, "p_end", calendar, name="b1", team="calendar")
    lengths = chosen.select(w_lead=chosen.lead_id, w_episode=chosen.episode, length=chosen.length)
    pieces = timeline.join(lengths, [timeline.lead_id == lengths.w_lead, timeline.episode == lengths.w_episode]).drop(
        "w_lead", "w_episode"
    )
    pieces = pieces.mutate(active=ibis.ifelse(pieces.paused, 0, pieces.b1 - pieces.b0).cast("int64"))
    ordered = ibis.window(
        group_by=[pieces.lead_id, pieces.episode], order_by=[pieces.p_start, pieces.p_seq], rows=(None, 0)
    )
    pieces = pieces.mutate(after=pieces.active.sum().over(ordered))
    pieces = pieces.mutate(before=pieces.after - pieces.active)
    crossing = (pieces.before < pieces.length) & (pieces.length <= pieces.after)
    summary = pieces.group_by(["lead_id", "episode", "calendar"]).aggregate(
        at_b=(pieces.b0 + pieces.length - pieces.before).min(where=crossing),
        now_b=pieces.b1.max(),
        worked=pieces.active.sum(),
        length=pieces.length.max(),
        unmeasured=(pieces.b0.isnull() | pieces.b1.isnull()).any(),
    )
    target = ibis.ifelse(
        summary.unmeasured | summary.length.isnull(),
        ibis.null("int64"),
        summary.at_b.coalesce(summary.now_b + summary.length - summary.worked),
    )
    summary = summary.select("lead_id", "episode", "calendar", target_b=target.cast("int64"))
    # B back to an instant: the calendar row whose business seconds hold it (an interval's end rather than the
    # next one's start, so a window ending at a close ends there).
    rows = calendar.select(
        i_team=calendar.team, i_start=calendar.start_s, i_end=calendar.end_s, i_cum=calendar.cumulative
    )
    found = summary.left_join(
        rows,
        [
            summary.calendar == rows.i_team,
            rows.i_cum < summary.target_b,
            summary.target_b <= rows.i_cum + rows.i_end - rows.i_start,
        ],
    )
    return found.select(
        "lead_id",
        "episode",
        was_paused=ibis.literal(True),
        paused_close=(found.i_start + found.target_b - found.i_cum).cast("int64"),
    )
