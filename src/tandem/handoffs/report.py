"""The service-level reports, from the clocks (`tandem.handoffs.clocks`): per rep or team and period, the
rejections by reason and by what the lead came from, and the open clocks.

What each figure means (docs/sla.md, "Reports"):

* **handoffs**: episodes that opened in the period, counted under the rep their accept clock is charged to (who
  decided, who held the lead when the clock ran out, or who holds it now) or that rep's team;
* **accepted / rejected / recycled / undecided**: sales' first decision on each;
* **time to accept, time to first touch**: business seconds from the handoff to the decision or the first touch,
  median and P90 over the clocks that stopped (a clock still running is not a time yet; it is counted as open);
* **breaches**: clocks whose business time passed the target (stopped late, or open and already past it), each
  charged to whoever held the lead when it ran out; **breach rate**: breaches over the clocks whose outcome is known
  (stopped, or already breached);
* **open clocks**, and of them **at risk**: at or past the contract's warning share of the target (75 %);
* **package complete**: the share of handoffs whose lead had every field of the contract's package filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Literal

import ibis
import ibis.expr.types as ir

from tandem.engine.spec import PERIOD_UNITS
from tandem.handoffs.clocks import ContractStretch

__all__ = ["GROUPS", "REJECTION_DIMENSIONS", "Group", "open_clocks", "rejections", "report_table", "with_package"]

Group = Literal["rep", "team"]
GROUPS: tuple[Group, ...] = ("rep", "team")
#: What rejections are broken down by: the lead's channel and campaign, and the definitions version in force.
REJECTION_DIMENSIONS = ("channel", "campaign_id", "version")


def with_package(episodes: ir.Table, leads: ir.Table, stretches: Sequence[ContractStretch]) -> ir.Table:
    """`episodes` with ``package_complete``: every package field of the episode's contract filled on its lead,
    and the lead's ``channel`` and ``campaign_id`` (null when leads have no such column)."""
    fields = sorted({f for s in stretches for f in s.contract.package})
    extra = [c for c in ("channel", "campaign_id") if c in leads.columns]
    picked = leads.select("lead_id", *extra, *[ibis._[f].name(f"_pkg_{f}") for f in fields if f in leads.columns])
    joined = episodes.left_join(picked, "lead_id").drop("lead_id_right")
    for column in ("channel", "campaign_id"):
        if column not in joined.columns:
            joined = joined.mutate(**{column: ibis.null("string")})
    per_version = []
    for stretch in stretches:
        filled: ir.BooleanValue = ibis.literal(True)
        for field in stretch.contract.package:
            name = f"_pkg_{field}"
            if name not in joined.columns:
                filled = ibis.literal(False)
                continue
            value = joined[name]
            present = value.notnull()
            if value.type().is_string():
                present = present & (value.strip() != "")
            filled = filled & present
        per_version.append((joined.version == stretch.version, filled))
    complete = ibis.cases(*per_version, else_=False) if len(per_version) > 1 else per_version[0][1]
    return joined.mutate(package_complete=complete).drop([c for c in joined.columns if c.startswith("_pkg_")])


def report_table(
    clocks: ir.Table,
    episodes: ir.Table,
    *,
    by: Group,
    period: str | None,
    start: datetime | None,
    end: datetime | None,
    attempts: ir.Table | None = None,
) -> ir.Table:
    """One row per rep (or team) and period: the figures of the module docstring, times in business seconds.

    With `attempts` (`tandem.handoffs.clocks.attempt_table`), each attempts window counts as a clock too: judged
    once closed or met, a breach when it closed short (``attempts_missed``), charged to who held the lead then."""
    key = "charged_to" if by == "rep" else "team"
    rows = clocks.select(
        "lead_id",
        "episode",
        "start",
        "team",
        "charged_to",
        "decision",
        "breached",
        "warned",
        kind=clocks.clock,
        done=clocks.stop.notnull(),
        timed=clocks.target.notnull(),
        elapsed=clocks.elapsed.cast("float64"),
    )
    if attempts is not None:
        rows = rows.union(
            attempts.select(
                "lead_id",
                "episode",
                "start",
                "team",
                "charged_to",
                decision=ibis.null("string"),
                breached=attempts.missed,
                warned=ibis.literal(False),
                kind=ibis.literal("attempts"),
                done=attempts.closed | attempts.met,
                timed=ibis.literal(True),
                elapsed=ibis.null("float64"),
            )
        )
    if start is not None:
        rows = rows.filter(rows.start >= start)
    if end is not None:
        rows = rows.filter(rows.start < end)
    package = episodes.select("lead_id", "episode", "package_complete")
    within = rows.left_join(package, ["lead_id", "episode"]).drop("lead_id_right", "episode_right")
    accept = within.kind == "accept"
    touch = within.kind == "first_touch"
    tried = within.kind == "attempts"
    done = within.done
    judged = (done | within.breached) & within.timed
    elapsed = within.elapsed
    keys: list[ir.Value] = [within[key].name(by)]
    if period is not None:
        keys.append(within.start.truncate(PERIOD_UNITS[period]).name("period"))
    # One quantile aggregate each, not one over a list (see tandem.engine.funnel._cohorts).
    return within.group_by(keys).aggregate(
        handoffs=within.count(where=accept),
        accepted=within.count(where=accept & (within.decision == "accepted")),
        rejected=within.count(where=accept & (within.decision == "rejected")),
        recycled=within.count(where=accept & (within.decision == "recycled")),
        undecided=within.count(where=accept & within.decision.isnull()),
        accept_median_s=elapsed.quantile(0.5, where=accept & done),
        accept_p90_s=elapsed.quantile(0.9, where=accept & done),
        first_touch_median_s=elapsed.quantile(0.5, where=touch & done),
        first_touch_p90_s=elapsed.quantile(0.9, where=touch & done),
        accept_breaches=within.count(where=accept & within.breached),
        first_touch_breaches=within.count(where=touch & within.breached),
        attempts_due=within.count(where=tried & done),
        attempts_missed=within.count(where=tried & within.breached),
        judged_clocks=within.count(where=judged),
        breaches=within.count(where=within.breached),
        open_clocks=within.count(where=~done & within.timed & ~tried),
        at_risk=within.count(where=within.warned),
        package_complete=within.count(where=accept & within.package_complete.fill_null(False)),
    )


def rejections(episodes: ir.Table, *, dimension: str, start: datetime | None, end: datetime | None) -> ir.Table:
    """Per value of `dimension` (a `REJECTION_DIMENSIONS`) and reason: the handoffs decided, and rejected."""
    within = episodes
    if start is not None:
        within = within.filter(within.start >= start)
    if end is not None:
        within = within.filter(within.start < end)
    decided = within.filter(within.decision.notnull())
    value = decided[dimension].cast("string").name("value")
    totals = decided.group_by(value).aggregate(
        decided=decided.count(), rejected=decided.count(where=decided.decision == "rejected")
    )
    rejected = decided.filter(decided.decision == "rejected")
    reasons = rejected.group_by(
        [rejected[dimension].cast("string").name("value"), rejected.reason.name("reason")]
    ).aggregate(count=rejected.count())
    return totals.left_join(reasons, totals.value.identical_to(reasons.value)).drop("value_right")


def open_clocks(clocks: ir.Table, *, owner: str | None = None, team: str | None = None) -> ir.Table:
    """The clocks still running with a target, most urgent first: those still within their target by the business
    time left, then those already past it, the most recently run out first (an old breach is history; one that ran
    out an hour ago can still be saved)."""
    running = clocks.filter(clocks.stop.isnull(), clocks.target.notnull())
    if owner is not None:
        running = running.filter(running.charged_to == owner)
    if team is not None:
        running = running.filter(running.team == team)
    overdue = running.breached.fill_null(False)
    urgency = ibis.ifelse(overdue, -running.left, running.left)
    return running.order_by([overdue, urgency, running.lead_id, running.clock])
