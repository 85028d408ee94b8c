"""The service levels at the handoff: the report per rep or team and period, and a rep's queue.

Both read the clocks of `tandem.handoffs` (docs/sla.md): business time under the contract each handoff opened
under, custody, pauses. Times are business seconds (``*_s``); a share is a fraction of 1.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field

from tandem.questions.base import Moment, Question, check_field

if TYPE_CHECKING:
    from tandem.handoffs.service import Measured
    from tandem.workspace import Workspace

__all__ = ["MIN_DECIDED", "SLA_READS", "SlaQuestion", "SlaQueueQuestion"]

SLA_READS = ("handoffs", "leads", "activities", "touches", "definitions")
#: A rejection rate is held against the contract's ceiling only over this many decided handoffs: two rejections
#: out of three say nothing yet about a campaign.
MIN_DECIDED = 20
_COUNTS = (
    "handoffs",
    "accepted",
    "rejected",
    "recycled",
    "undecided",
    "accept_breaches",
    "first_touch_breaches",
    "attempts_due",
    "attempts_missed",
    "judged_clocks",
    "breaches",
    "open_clocks",
    "at_risk",
    "package_complete",
)


def _measure(ws: Workspace, as_of: Any) -> Measured:
    from tandem.engine.spec import as_of_or_now
    from tandem.handoffs.service import measure

    moment = as_of_or_now(as_of)
    return measure(ws.warehouse, ws.counting(moment), moment)


def _shares(row: dict[str, Any]) -> dict[str, Any]:
    """A report row with its rates: breach rate over the judged clocks, package completeness over the handoffs."""
    judged, handoffs = row.get("judged_clocks") or 0, row.get("handoffs") or 0
    decided = (row.get("accepted") or 0) + (row.get("rejected") or 0) + (row.get("recycled") or 0)
    row["breach_rate"] = row["breaches"] / judged if judged else None
    row["package_complete_share"] = row["package_complete"] / handoffs if handoffs else None
    row["rejection_rate"] = (row.get("rejected") or 0) / decided if decided else None
    for key, value in list(row.items()):
        if key.endswith("_s") and value is not None:
            row[key] = round(float(value), 1)
    return row


def open_clock_rows(measured: Measured, table: Any, limit: int) -> list[dict[str, Any]]:
    """The open clocks of `table` (most urgent first) with their deadlines, as the documents show them."""
    from tandem.handoffs.service import deadline_of, rows_of

    rows = rows_of(
        measured.source,
        table.select(
            "lead_id",
            "episode",
            "clock",
            "start",
            "version",
            "team",
            "priority",
            "target",
            "elapsed",
            "left",
            "breached",
            "warned",
            owner=table.charged_to,
        ),
        limit,
    )
    for row in rows:
        row["deadline"] = deadline_of(measured, row)
        row["target_s"] = row.pop("target")
        row["elapsed_s"] = row.pop("elapsed")
        row["left_s"] = row.pop("left")
        row["at_risk"] = row.pop("warned")
    return rows


class SlaQuestion(Question):
    """The service levels per rep (or team) and period: handoffs and decisions, time to accept and to first touch
    (median, P90), breaches and breach rate, open clocks, package completeness; the rejections by reason, channel,
    campaign and definitions version against the contract's ceiling; and the most urgent open clocks."""

    kind = "sla"
    money = True
    reads = SLA_READS

    by: Literal["rep", "team"] = "rep"
    period: Literal["week", "month", "quarter"] | None = None
    start: Moment = None
    end: Moment = None
    as_of: Moment = None
    open_limit: Annotated[int, Field(ge=0, le=1000)] = 20

    def check(self, ws: Workspace) -> None:
        if self.start is not None and self.end is not None:
            check_field(self.start < self.end, "end", self.end, "the end must come after the start")

    def answer(self, ws: Workspace) -> dict[str, Any]:
        with _measure(ws, self.as_of) as measured:
            return self._answer(ws, measured)

    def _answer(self, ws: Workspace, measured: Measured) -> dict[str, Any]:
        from tandem.handoffs.report import REJECTION_DIMENSIONS, open_clocks, rejections, report_table
        from tandem.handoffs.service import rows_of

        clocks, episodes = measured.clocks, measured.episodes
        rows = [
            _shares(r)
            for r in rows_of(
                measured.source,
                report_table(
                    clocks,
                    episodes,
                    by=self.by,
                    period=self.period,
                    start=self.start,
                    end=self.end,
                    attempts=measured.attempts,
                ),
            )
        ]
        rows.sort(key=lambda r: (str(r.get("period") or ""), -(r["handoffs"] or 0), str(r.get(self.by) or "")))
        contract = measured.contract
        ceiling = contract.rejection_ceiling_percent
        broken: dict[str, list[dict[str, Any]]] = {}
        for dimension in REJECTION_DIMENSIONS:
            found: dict[Any, dict[str, Any]] = {}
            for row in rows_of(
                measured.source, rejections(episodes, dimension=dimension, start=self.start, end=self.end)
            ):
                entry = found.setdefault(
                    row["value"],
                    {"value": row["value"], "decided": row["decided"], "rejected": row["rejected"], "reasons": {}},
                )
                if row.get("reason") is not None or row.get("count"):
                    entry["reasons"][row.get("reason")] = row.get("count")
            entries = []
            for entry in found.values():
                rate = entry["rejected"] / entry["decided"] if entry["decided"] else None
                entry["rate"] = rate
                entry["over_ceiling"] = (
                    ceiling is not None
                    and rate is not None
                    and rate * 100 > ceiling
                    and entry["decided"] >= MIN_DECIDED
                )
                entries.append(entry)
            entries.sort(key=lambda e: (-(e["rejected"] or 0), str(e["value"])))
            broken[dimension] = entries
        reasons: dict[Any, int] = {}
        for entry in broken["version"]:
            for reason, count in entry["reasons"].items():
                reasons[reason] = reasons.get(reason, 0) + int(count or 0)
        everything = _total(rows)  # the counts add up over the rows; the times are per row
        open_table = open_clocks(clocks)
        speed = speed_to_lead(ws, measured)
        return {
            "as_of": measured.as_of,
            "by": self.by,
            "period": self.period,
            "start": self.start,
            "end": self.end,
            "contract_version": measured.version,
            "versions": [s.version for s in measured.stretches],
            "contract": contract.as_dict(),
            "rows": rows,
            "totals": everything,
            "rejection_reasons": [
                {"reason": reason, "count": count}
                for reason, count in sorted(reasons.items(), key=lambda item: (-item[1], str(item[0])))
            ],
            "rejections": broken,
            "rejection_ceiling_percent": ceiling,
            "open_clocks": open_clock_rows(measured, open_table, self.open_limit),
            "speed_to_lead": speed,
        }


def speed_to_lead(ws: Workspace, measured: Measured) -> dict[str, Any]:
    """Conversion by time to first touch (`tandem.handoffs.speed`) against the benchmark, how strong the evidence
    is, and the revenue slow follow-up cost this quarter through the plan model's rates and deal size."""
    from tandem.handoffs.service import rows_of
    from tandem.handoffs.speed import BENCHMARK, BUCKETS, GROUPS, HORIZONS, NO_TOUCH, compare, evidence, speed_table

    counting = ws.counting(measured.as_of)
    stages = counting.current.definitions.stage_names
    handoff = measured.contract.stage
    if handoff not in stages[:-1]:
        return {"unavailable": f"the handoff stage {handoff!r} is not a stage before the last of the funnel in force"}
    events = ws.counted_stage_events(counting, measured.as_of)
    table = speed_table(measured.clocks, events, stages, handoff_stage=handoff, as_of=measured.as_of)
    found: dict[str, dict[str, Any]] = {}
    for row in rows_of(measured.source, table):
        entry = found.setdefault(row["label"], {"group": row["label"], "leads": row["leads"]})
        name = "sql" if row["outcome"] == 0 else "won"
        entry[name] = row["converted"]
        entry[f"{name}_rate"] = row["km"]
        entry[f"{name}_matured"] = row["matured"]
        entry[f"{name}_matured_converted"] = row["matured_converted"]
    buckets = [found[label] for label, *_ in (*BUCKETS, (NO_TOUCH,)) if label in found]
    groups = [found[label] for label in GROUPS if label in found]

    def pair(name: str) -> tuple[int, int]:
        entry = found.get(name, {})
        return int(entry.get("sql_matured") or 0), int(entry.get("sql_matured_converted") or 0)

    after_hour = compare(pair(GROUPS[0]), pair(GROUPS[1]))
    after_day = compare(pair(GROUPS[0]), pair(GROUPS[2]))
    strength = evidence(after_hour)
    next_stage = stages[stages.index(handoff) + 1]
    text = _evidence_text(after_hour, after_day, strength, next_stage, HORIZONS[0])
    return {
        "handoff_stage": handoff,
        "next_stage": next_stage,
        "horizons": {"next_stage": HORIZONS[0], "last_stage": HORIZONS[1]},
        "buckets": buckets,
        "groups": groups,
        "comparisons": {
            "within_hour_vs_after_hour": after_hour.as_dict(),
            "within_hour_vs_after_day": after_day.as_dict(),
        },
        "benchmark": BENCHMARK,
        "evidence": strength,
        "evidence_text": text,
        "lost_revenue": _lost_revenue(ws, measured, found, stages, next_stage),
    }


def _evidence_text(after_hour: Any, after_day: Any, strength: str, stage: str, horizon: int) -> str:
    """Both comparisons the benchmark makes, each beside its published ratio: within an hour against after an hour
    (which the strength judges), and against after a day."""
    if after_hour.ratio is None:
        hour = (
            f"Not enough leads handed over at least {horizon} days ago, touched within and after an hour, to compare "
            f"how often they reach {stage}. The published benchmark is about 7 times (HBR, 2011)."
        )
    else:
        hour = (
            f"Leads touched within an hour reached {stage} within {horizon} days {after_hour.ratio:.1f} times as "
            f"often as leads touched later (95 % interval {after_hour.low:.1f} to {after_hour.high:.1f}; "
            f"{after_hour.fast[0]:,} and {after_hour.slow[0]:,} leads handed over at least {horizon} days ago): "
            f"{strength} evidence. The published benchmark is about 7 times (HBR, 2011)."
        )
    if after_day.ratio is None:
        day = (
            f"Not enough leads touched after 24 hours, or none of them reaching {stage}, to compare with those "
            "touched within an hour; the published benchmark is about 60 times."
        )
    else:
        day = (
            f"Against leads touched after 24 hours: {after_day.ratio:.1f} times as often (95 % interval "
            f"{after_day.low:.1f} to {after_day.high:.1f}; {after_day.slow[0]:,} leads touched after a day); the "
            "published benchmark is about 60 times."
        )
    return f"{hour} {day}"


def _lost_revenue(
    ws: Workspace, measured: Measured, found: dict[str, dict[str, Any]], stages: list[str], next_stage: str
) -> dict[str, Any] | None:
    """Leads handed over this quarter and touched after an hour (or not yet, an hour on), times the gap in
    conversion to the next stage between the within-an-hour and after-an-hour groups, carried to revenue by the
    plan model's rate from that stage to won and its deal size. None when there is no gap to carry."""
    import ibis

    from tandem.errors import TandemError
    from tandem.handoffs.service import rows_of
    from tandem.handoffs.speed import GROUPS
    from tandem.periods import current_quarter
    from tandem.plan.calculator import Given, plan_model

    fast, slow = found.get(GROUPS[0], {}).get("sql_rate"), found.get(GROUPS[1], {}).get("sql_rate")
    if fast is None or slow is None or fast <= slow:
        return None
    quarter = current_quarter(measured.as_of.date())
    start = datetime.combine(quarter.start, datetime.min.time())
    clocks = measured.clocks
    first = clocks.filter(clocks.clock == "first_touch", clocks.episode == 1, clocks.start >= start)
    hour = ibis.literal(measured.as_of - timedelta(hours=1))
    late = first.touched_at.notnull() & (first.touched_at.epoch_seconds() - first.start.epoch_seconds() >= 3600)
    waiting = first.touched_at.isnull() & first.decision.isnull() & (first.start <= hour)
    counted = rows_of(measured.source, first.aggregate(slow=first.count(where=late | waiting)))
    slow_leads = int(counted[0]["slow"] or 0)
    try:
        model = plan_model(Given({}, {}), ws, as_of=measured.as_of)
        to_won = model.rate_to_end(model.index(next_stage))
    except TandemError as exc:
        return {"unavailable": str(exc)}
    lost_next = slow_leads * (fast - slow)
    return {
        "period": quarter.label,
        "slow_leads": slow_leads,
        "rate_gap": fast - slow,
        "lost_next_stage": lost_next,
        "rate_to_won": to_won,
        "deal_size": model.deal_size,
        "amount": lost_next * to_won * model.deal_size,
        "basis": model.basis,
    }


def _total(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The counts over every row of the report (the times are per row: a median does not add up)."""
    total: dict[str, Any] = dict.fromkeys(_COUNTS, 0)
    for row in rows:
        for key in _COUNTS:
            total[key] += int(row.get(key) or 0)
    return _shares(total)


def _urgency(lead: dict[str, Any]) -> tuple[bool, int]:
    """A queued lead's place, as the open clocks' (`tandem.handoffs.report.open_clocks`): leads still within every
    target by the least time left, then those past one, the most recently run out first."""
    lefts = [int(c["left_s"] or 0) for c in lead["clocks"].values()]
    overdue = min(lefts) < 0
    return overdue, (-min(lefts) if overdue else min(lefts))


def _rep_names(ws: Workspace, owner: str) -> tuple[list[str], bool]:
    """The names a rep's leads may be held under: as given, and, when it is a user's user name or display name,
    both of those (the CRM writes one or the other; accept and reject already take either); and whether it is a
    user's."""
    names, user_found = {owner}, False
    wanted = owner.strip()
    for user in ws.accounts.users():
        if wanted.lower() == user.username or (user.display_name and wanted == user.display_name):
            names |= {user.username, *([user.display_name] if user.display_name else [])}
            user_found = True
    return sorted(names), user_found


class SlaQueueQuestion(Question):
    """One rep's queue: the leads handed to them that wait for a decision, with the time left on each clock, and
    the reason codes a rejection takes.

    The rep is a lead owner as written, a user name or a user's display name: ``ava`` finds the leads held by
    ``Ava Thompson``. A name that is none of these is refused, listing the reps, rather than answered with an
    empty queue that looks like a rep with nothing to do."""

    kind = "sla-queue"
    reads = SLA_READS

    owner: Annotated[str, Field(min_length=1, max_length=200)]
    as_of: Moment = None
    limit: Annotated[int, Field(ge=1, le=1000)] = 200

    def answer(self, ws: Workspace) -> dict[str, Any]:
        names, user_found = _rep_names(ws, self.owner)
        with _measure(ws, self.as_of) as measured:
            return self._answer(measured, names, user_found=user_found)

    def _answer(self, measured: Measured, names: list[str], *, user_found: bool) -> dict[str, Any]:
        from tandem.errors import NotFoundError
        from tandem.handoffs.service import rows_of

        clocks = measured.clocks
        if not user_found:
            holders = rows_of(measured.source, clocks.select("charged_to").distinct().order_by("charged_to"))
            reps = [str(r["charged_to"]) for r in holders if r["charged_to"] is not None]
            if self.owner not in reps:
                shown = ", ".join(reps[:20]) + (f" and {len(reps) - 20} more" if len(reps) > 20 else "")
                raise NotFoundError(
                    f"no rep {self.owner!r}: no lead was handed to that name and no user has it; give a user name "
                    f"or a lead owner as written: {shown or 'no lead has been handed over yet'}"
                )
        waiting = clocks.filter(
            clocks.clock == "accept", clocks.decision.isnull(), clocks.charged_to.isin(names)
        ).select("lead_id", "episode")
        mine = clocks.semi_join(waiting, ["lead_id", "episode"])
        clock_rows = open_clock_rows(
            measured, mine.filter(mine.stop.isnull()).order_by(["left", "lead_id"]), self.limit * 2
        )
        leads: dict[str, dict[str, Any]] = {}
        for row in clock_rows:
            entry = leads.setdefault(
                row["lead_id"],
                {
                    "lead_id": row["lead_id"],
                    "team": row["team"],
                    "priority": row["priority"],
                    "since": row["start"],
                    "clocks": {},
                },
            )
            entry["clocks"][row["clock"]] = {
                k: row[k] for k in ("target_s", "elapsed_s", "left_s", "deadline", "breached", "at_risk")
            }
        ordered = sorted(leads.values(), key=_urgency)
        details = rows_of(
            measured.source,
            measured.episodes.filter(measured.episodes.lead_id.isin([e["lead_id"] for e in ordered] or [""])).select(
                "lead_id", "channel", "campaign_id", "package_complete"
            ),
        )
        extra = {d["lead_id"]: d for d in details}
        for entry in ordered:
            entry.update({k: v for k, v in extra.get(entry["lead_id"], {}).items() if k != "lead_id"})
        return {
            "as_of": measured.as_of,
            "owner": self.owner,
            "held_as": names,
            "contract_version": measured.version,
            "reasons": list(measured.contract.reasons),
            "leads": ordered[: self.limit],
        }


class SlaSummaryQuestion(Question):
    """The handoff in a period so far (default: the as-of quarter), for the Overview's card and the early warnings:
    handoffs, breaches and breach rate, clocks at risk now and past their target, the reps with most breaches.
    ``unavailable`` says why there is none (no contract in the definitions)."""

    kind = "sla-summary"
    reads = SLA_READS

    as_of: Moment = None

    def answer(self, ws: Workspace) -> dict[str, Any]:
        from tandem.engine.spec import as_of_or_now
        from tandem.forecast.handoff_signals import handoff_summary
        from tandem.periods import current_quarter

        moment = as_of_or_now(self.as_of)
        period = current_quarter(moment.date())
        found = handoff_summary(ws, period, moment)
        if found is None:
            return {
                "period": period.label,
                "unavailable": "the definitions have no service levels: propose a service_levels section",
            }
        if "error" in found:
            return {"period": period.label, "unavailable": found["error"]}
        return found
