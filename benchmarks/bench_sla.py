"""SLA report: tandem's service-level report per rep x week against one hand-written DuckDB query (issue 17).

Measured in one run on one machine, on the demo company of N leads (default 1,000,000; bench_funnel's cached
`build_demo` workspace, seed 7, today 2026-11-23, with its ``handoffs``), as of 2026-11-23 00:00, under the demo's
contract (`DEMO_SERVICE_LEVELS` on the default definitions, as one contract version measuring all history):

* tandem: `report_table` by rep and week over the clocks and the attempts windows that
  `tandem.handoffs.service.measure_with` builds (the episodes computed and kept as a temporary table first, then
  `clock_table` and `attempt_table`), to Arrow: the whole report as `tandem sla report` computes it,
  ``attempts_due`` and ``attempts_missed`` included.
* the reference: `REFERENCE_SQL`, one query as a strong engineer writes it by hand in DuckDB (window functions, an
  ASOF join for the first touch, the range join on the calendar table for B(t), the attempts windows with their
  close moved by the pauses), with the demo contract's teams, priorities, targets, attempts, pause statuses and
  package written into it.

Both run on one read-only connection to the warehouse file, over the same calendar table (`contract_calendars`,
materialised once as the temporary table ``sla_calendar``). Each runs once untimed (warming DuckDB's buffers; its
answer is the one checked: row for row, every column, floats to 1e-9; a mismatch stops the run before anything is
written), then --repeat times (default 3), interleaved, the order alternating, after waiting for other processes to
leave the CPUs. Best and median are shown, the 2x target judged on the medians. Peak RSS is the process's VmHWM over
each step (reset before it; the interpreter, the libraries and the warehouse's buffers included).

``--explain`` writes DuckDB's EXPLAIN ANALYZE of both to benchmarks/data/ (where the time goes). With --write,
results replace the "SLA report" section of benchmarks/RESULTS.md (a ``### ... (by hand ...)`` part is kept).
A benchmark, not a test: nothing here asserts on time; tests/handoffs/test_bench_sla_reference.py keeps the
reference query honest on a small demo.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SECTION = "## SLA report"
AS_OF = datetime(2026, 11, 23)
TARGET = 2.0  # tandem's report at most 2x the hand-written query
REL_TOL = 1e-9
ABS_TOL = 1e-9  # for values that are 0 (a median of 0 business seconds)
KEYS = ("rep", "period")
CALENDAR = "sla_calendar"

#: The reference. Team calendars are `sla_calendar`'s rows keyed ``<team>@v1``, tiling each team's days: B(t) of
#: an instant in epoch seconds t is ``cumulative + least(t, end_s) - start_s`` of the row with start_s <= t < next_s.
REFERENCE_SQL = """
WITH seen AS (            -- the handoff record as known at as_of, events at one moment in HANDOFF_EVENTS order
    SELECT lead_id, occurred_at AS moment, event, owner, team, status,
           CASE event WHEN 'assigned' THEN 0 WHEN 'reassigned' THEN 1 WHEN 'status' THEN 2 WHEN 'accepted' THEN 3
                      WHEN 'rejected' THEN 4 WHEN 'recycled' THEN 5 WHEN 'requalified' THEN 6 END AS rank
    FROM handoffs
    WHERE occurred_at <= $as_of
),
core AS (                 -- an assignment opens an episode when none is open: first event, or after a closing one
    SELECT *,
           event IN ('assigned', 'reassigned')
           AND coalesce(lag(event) OVER (PARTITION BY lead_id ORDER BY moment, rank)
                        IN ('rejected', 'recycled', 'requalified'), true) AS opens
    FROM seen
    WHERE event <> 'status'
),
numbered AS (
    SELECT *, count(*) FILTER (WHERE opens) OVER (PARTITION BY lead_id ORDER BY moment, rank
                                                  ROWS UNBOUNDED PRECEDING) AS episode
    FROM core
),
opened AS (               -- per episode: the opening event, and sales' first decision
    SELECT lead_id, episode,
           min(moment) AS start,
           any_value(owner) FILTER (WHERE opens) AS opened_by,
           any_value(team) FILTER (WHERE opens) AS data_team,
           arg_min(event, (moment, rank)) FILTER (WHERE event IN ('accepted', 'rejected', 'recycled')) AS decision,
           min(moment) FILTER (WHERE event IN ('accepted', 'rejected', 'recycled')) AS decided_at
    FROM numbered
    WHERE episode > 0
    GROUP BY lead_id, episode
),
episodes AS (             -- the demo contract: its teams, priorities, targets (business seconds) and package
    SELECT o.*, coalesce(o.opened_by, l.owner) AS first_owner,
           CASE WHEN o.data_team IN ('SMB', 'Mid-Market', 'Enterprise') THEN o.data_team
                WHEN first_owner IN ('Sofia Rossi', 'Ethan Kim', 'Chloe Martin') THEN 'Mid-Market'
                WHEN first_owner IN ('Lucas Weber', 'Grace Okafor', 'Daniel Novak') THEN 'Enterprise'
                ELSE 'SMB' END AS team,
           coalesce(l.score >= 80, false) AS hot,
           lead(o.start) OVER (PARTITION BY o.lead_id ORDER BY o.episode) AS next_start,
           coalesce(trim(l.company) <> '' AND trim(l.industry) <> '' AND trim(l.campaign_id) <> '', false)
               AS package_complete
    FROM opened o
    LEFT JOIN leads l USING (lead_id)
),
touched AS (              -- the first activity at or after the episode's start
    SELECT e.*, a.occurred_at AS touched_at
    FROM episodes e
    ASOF LEFT JOIN (SELECT lead_id, occurred_at FROM activities WHERE occurred_at <= $as_of) a
        ON a.lead_id = e.lead_id AND a.occurred_at >= e.start
),
clocks AS (               -- two clocks per episode: accept (stopped by the decision), first touch
    SELECT t.lead_id, t.episode, t.start, t.team, t.first_owner, t.decision, t.package_complete, k.clock,
           CASE k.clock WHEN 'accept' THEN t.decided_at
                WHEN 'first_touch' THEN
                    CASE WHEN t.decision IN ('rejected', 'recycled')
                              AND (t.touched_at IS NULL OR t.touched_at > t.decided_at) THEN t.decided_at
                         ELSE coalesce(t.touched_at, t.next_start) END
           END AS stop,
           CASE WHEN t.hot THEN (CASE k.clock WHEN 'accept' THEN 300 ELSE 3600 END) ELSE 86400 END AS target
    FROM touched t
    CROSS JOIN (VALUES ('accept'), ('first_touch')) k(clock)
),
pieces AS (               -- between consecutive events: the owner (last assigned) and status (last status event)
    SELECT c.lead_id, c.episode, c.clock, c.team, c.target, e.moment, e.rank,
           coalesce(lead(e.moment) OVER w, coalesce(c.stop, $as_of)) AS until,
           coalesce(last_value(CASE WHEN e.event IN ('assigned', 'reassigned') THEN e.owner END IGNORE NULLS)
                        OVER (w ROWS UNBOUNDED PRECEDING), c.first_owner) AS owner,
           coalesce(last_value(CASE WHEN e.event = 'status' THEN coalesce(e.status, '') END IGNORE NULLS)
                        OVER (w ROWS UNBOUNDED PRECEDING) = 'waiting_on_customer', false) AS paused
    FROM clocks c
    JOIN seen e ON e.lead_id = c.lead_id AND e.moment >= c.start AND e.moment < coalesce(c.stop, $as_of)
    WINDOW w AS (PARTITION BY c.lead_id, c.episode, c.clock ORDER BY e.moment, e.rank)
),
timed AS (                -- business seconds B(until) - B(at) from the calendar rows holding each instant
    SELECT p.*,
           (c1.cumulative + least(floor(epoch(p.until))::BIGINT, c1.end_s) - c1.start_s)
           - (c0.cumulative + least(floor(epoch(p.moment))::BIGINT, c0.end_s) - c0.start_s) AS b
    FROM pieces p
    LEFT JOIN sla_calendar c0 ON c0.team = p.team || '@v1'
        AND floor(epoch(p.moment))::BIGINT >= c0.start_s AND floor(epoch(p.moment))::BIGINT < c0.next_s
    LEFT JOIN sla_calendar c1 ON c1.team = p.team || '@v1'
        AND floor(epoch(p.until))::BIGINT >= c1.start_s AND floor(epoch(p.until))::BIGINT < c1.next_s
),
running AS (              -- active business time before and after each piece
    SELECT *, sum(active) OVER (PARTITION BY lead_id, episode, clock ORDER BY moment, rank
                                ROWS UNBOUNDED PRECEDING) AS after
    FROM (SELECT *, CASE WHEN paused THEN 0 ELSE b END AS active FROM timed)
),
measured AS (             -- per clock: elapsed, who held it when it passed its target, who holds it at the stop
    SELECT lead_id, episode, clock,
           bool_or(b IS NULL) AS unmeasured,
           sum(active) AS total,
           max(owner) FILTER (WHERE after - active <= target AND target < after) AS breach_owner,
           arg_max(owner, (moment, rank)) AS last_owner
    FROM running
    GROUP BY ALL
),
elapsed AS (              -- a clock with no piece (stopped as it started) took 0 s; one the calendar misses, unknown
    SELECT c.*, m.breach_owner, m.last_owner,
           CASE WHEN m.unmeasured THEN NULL ELSE coalesce(m.total, 0) END::BIGINT AS elapsed
    FROM clocks c
    LEFT JOIN measured m USING (lead_id, episode, clock)
),
judged AS (               -- custody: a breach is charged to who held the lead when the target passed
    SELECT *, coalesce(elapsed > target, false) AS breached,
           CASE WHEN coalesce(elapsed > target, false) THEN breach_owner
                ELSE coalesce(last_owner, first_owner) END AS charged_to
    FROM elapsed
),
ended AS (                -- the episode's first rejected, recycled or requalified: sales stopped working the lead
    SELECT lead_id, episode, min(moment) AS ended_at
    FROM numbered
    WHERE episode > 0 AND event IN ('rejected', 'recycled', 'requalified')
    GROUP BY ALL
),
windows AS (              -- the attempts window: 3 activities by the close of the 5th working day of the handoff
    SELECT e.lead_id, e.episode, e.start, e.team, e.first_owner, e.package_complete, x.ended_at,
           c0.cumulative + least(floor(epoch(e.start))::BIGINT, c0.end_s) - c0.start_s AS b_start,
           CASE WHEN floor(epoch(e.start))::BIGINT < c0.end_s THEN c0.day ELSE c0.next_day END + 5 - 1 AS last_day
    FROM episodes e
    LEFT JOIN ended x USING (lead_id, episode)
    LEFT JOIN sla_calendar c0 ON c0.team = e.team || '@v1'
        AND floor(epoch(e.start))::BIGINT >= c0.start_s AND floor(epoch(e.start))::BIGINT < c0.next_s
),
sized AS (                -- its close (epoch seconds) and its length in business seconds
    SELECT w.*, k.close_s, k.b_close - w.b_start AS length
    FROM windows w
    LEFT JOIN (SELECT team, day, max(end_s) AS close_s, max(cumulative + end_s - start_s) AS b_close
               FROM sla_calendar GROUP BY ALL) k ON k.team = w.team || '@v1' AND k.day = w.last_day
),
wpieces AS (              -- windows of leads ever paused: the stretches between events from the handoff to as_of
    SELECT s.lead_id, s.episode, s.team, s.length, e.moment, e.rank,
           coalesce(lead(e.moment) OVER w, $as_of) AS until,
           coalesce(last_value(CASE WHEN e.event = 'status' THEN coalesce(e.status, '') END IGNORE NULLS)
                        OVER (w ROWS UNBOUNDED PRECEDING) = 'waiting_on_customer', false) AS paused
    FROM sized s
    JOIN seen e ON e.lead_id = s.lead_id AND e.moment >= s.start
    WHERE s.lead_id IN (SELECT lead_id FROM seen WHERE event = 'status' AND status = 'waiting_on_customer')
    WINDOW w AS (PARTITION BY s.lead_id, s.episode ORDER BY e.moment, e.rank)
),
wrunning AS (             -- active business seconds of each stretch, and before it
    SELECT *, sum(active) OVER (PARTITION BY lead_id, episode ORDER BY moment, rank
                                ROWS UNBOUNDED PRECEDING) - active AS before
    FROM (
        SELECT p.*, CASE WHEN p.paused THEN 0 ELSE b1 - b0 END AS active
        FROM (
            SELECT p.*,
                   c0.cumulative + least(floor(epoch(p.moment))::BIGINT, c0.end_s) - c0.start_s AS b0,
                   c1.cumulative + least(floor(epoch(p.until))::BIGINT, c1.end_s) - c1.start_s AS b1
            FROM wpieces p
            LEFT JOIN sla_calendar c0 ON c0.team = p.team || '@v1'
                AND floor(epoch(p.moment))::BIGINT >= c0.start_s AND floor(epoch(p.moment))::BIGINT < c0.next_s
            LEFT JOIN sla_calendar c1 ON c1.team = p.team || '@v1'
                AND floor(epoch(p.until))::BIGINT >= c1.start_s AND floor(epoch(p.until))::BIGINT < c1.next_s
        ) p
    )
),
wtarget AS (              -- B at which the window's length has run unpaused (from as_of on, if not yet)
    SELECT lead_id, episode, team,
           CASE WHEN bool_or(b0 IS NULL OR b1 IS NULL) THEN NULL
                ELSE coalesce(min(b0 + length - before) FILTER (WHERE before < length AND length <= before + active),
                              max(b1) + max(length) - sum(active)) END AS target_b
    FROM wrunning
    GROUP BY ALL
),
deadlines AS (            -- the close, moved by the pauses: B back to an instant (an interval's end at a boundary)
    SELECT s.*, CASE WHEN p.lead_id IS NULL THEN s.close_s ELSE p.paused_close END AS deadline
    FROM sized s
    LEFT JOIN (SELECT t.lead_id, t.episode, c.start_s + t.target_b - c.cumulative AS paused_close
               FROM wtarget t
               LEFT JOIN sla_calendar c ON c.team = t.team || '@v1'
                   AND c.cumulative < t.target_b AND t.target_b <= c.cumulative + c.end_s - c.start_s) p
        USING (lead_id, episode)
),
attempted AS (            -- activities from the handoff to the close (and to the episode's end, if sooner)
    SELECT d.lead_id, d.episode, count(*) AS attempts
    FROM deadlines d
    JOIN activities a ON a.lead_id = d.lead_id AND a.occurred_at >= d.start AND a.occurred_at <= $as_of
        AND floor(epoch(a.occurred_at))::BIGINT <= d.deadline AND (d.ended_at IS NULL OR a.occurred_at <= d.ended_at)
    GROUP BY ALL
),
owed AS (                 -- met; owed unless the episode ended before the close short of the count; closed
    SELECT *, coalesce(owes AND deadline <= floor(epoch($as_of))::BIGINT, false) AS closed
    FROM (
        SELECT d.*, coalesce(n.attempts, 0) >= 3 AS met,
               coalesce(n.attempts, 0) >= 3
               OR NOT coalesce(d.ended_at IS NOT NULL AND floor(epoch(d.ended_at))::BIGINT < d.deadline, false) AS owes
        FROM deadlines d
        LEFT JOIN attempted n USING (lead_id, episode)
    )
),
holders AS (              -- custody: who held the lead when the window closed (or holds it now)
    SELECT w.lead_id, w.episode, arg_max(e.owner, e.moment) AS holder
    FROM owed w
    JOIN seen e ON e.lead_id = w.lead_id AND e.event IN ('assigned', 'reassigned') AND e.owner IS NOT NULL
        AND e.moment >= w.start AND (w.ended_at IS NULL OR e.moment <= w.ended_at)
        AND (NOT w.closed OR floor(epoch(e.moment))::BIGINT <= w.deadline)
    GROUP BY ALL
),
report_rows AS (          -- the clocks and the attempts windows (judged once closed or met; missed: closed short)
    SELECT charged_to, start, clock AS kind, decision, breached, stop IS NOT NULL AS done, elapsed, target,
           package_complete
    FROM judged
    UNION ALL
    SELECT coalesce(h.holder, w.first_owner), w.start, 'attempts', NULL, w.closed AND NOT w.met, w.closed OR w.met,
           NULL, NULL, w.package_complete
    FROM owed w
    LEFT JOIN holders h USING (lead_id, episode)
)
SELECT charged_to AS rep, date_trunc('week', start) AS period,
       count(*) FILTER (WHERE kind = 'accept') AS handoffs,
       count(*) FILTER (WHERE kind = 'accept' AND decision = 'accepted') AS accepted,
       count(*) FILTER (WHERE kind = 'accept' AND decision = 'rejected') AS rejected,
       count(*) FILTER (WHERE kind = 'accept' AND decision = 'recycled') AS recycled,
       count(*) FILTER (WHERE kind = 'accept' AND decision IS NULL) AS undecided,
       quantile_cont(elapsed, 0.5) FILTER (WHERE kind = 'accept' AND done) AS accept_median_s,
       quantile_cont(elapsed, 0.9) FILTER (WHERE kind = 'accept' AND done) AS accept_p90_s,
       quantile_cont(elapsed, 0.5) FILTER (WHERE kind = 'first_touch' AND done) AS first_touch_median_s,
       quantile_cont(elapsed, 0.9) FILTER (WHERE kind = 'first_touch' AND done) AS first_touch_p90_s,
       count(*) FILTER (WHERE kind = 'accept' AND breached) AS accept_breaches,
       count(*) FILTER (WHERE kind = 'first_touch' AND breached) AS first_touch_breaches,
       count(*) FILTER (WHERE kind = 'attempts' AND done) AS attempts_due,
       count(*) FILTER (WHERE kind = 'attempts' AND breached) AS attempts_missed,
       count(*) FILTER (WHERE done OR breached) AS judged_clocks,
       count(*) FILTER (WHERE breached) AS breaches,
       count(*) FILTER (WHERE NOT done AND kind <> 'attempts') AS open_clocks,
       count(*) FILTER (WHERE NOT done AND kind <> 'attempts' AND NOT breached AND elapsed * 100 >= target * 75)
           AS at_risk,
       count(*) FILTER (WHERE kind = 'accept' AND package_complete) AS package_complete
FROM report_rows
GROUP BY ALL
ORDER BY rep, period
"""


def contract() -> Any:
    """The demo company's contract: `DEMO_SERVICE_LEVELS` on the definitions tandem ships (default stages)."""
    from tandem.definitions.model import DEFAULT_DEFINITIONS_PATH, load_definitions
    from tandem.demo_workspace import DEMO_SERVICE_LEVELS

    text = DEFAULT_DEFINITIONS_PATH.read_text(encoding="utf-8") + DEMO_SERVICE_LEVELS
    return load_definitions(text, source_name="the demo company's definitions").service_levels


def open_warehouse(path: Path, as_of: datetime = AS_OF) -> tuple[Any, Any, Any]:
    """A read-only DuckDB connection to the warehouse file `path` set up as tandem's (UTC), its Ibis backend,
    and the one contract version, with the calendar table materialised once as `CALENDAR` for both queries."""
    import duckdb
    import ibis

    from tandem.handoffs.clocks import ContractStretch, contract_calendars

    raw = duckdb.connect(str(path), read_only=True)
    raw.execute("SET TimeZone = 'UTC'")
    raw.execute("SET python_enable_replacements = false")
    con = ibis.duckdb.from_connection(raw)
    stretches = (ContractStretch(1, contract(), None, None),)
    first = raw.execute("SELECT min(occurred_at) FROM handoffs").fetchone()[0]  # as measure() spans the days
    first_day = (first.date() if first is not None else as_of.date()) - timedelta(days=2)
    calendar = con.to_pyarrow(contract_calendars(stretches, first_day, as_of.date() + timedelta(days=2)))
    con.create_table(CALENDAR, calendar, temp=True)
    return raw, con, stretches


class _Source:
    """The warehouse as `tandem.handoffs.service` reads it: its tables and its Ibis connection."""

    def __init__(self, con: Any) -> None:
        self.con = con

    def table(self, name: str) -> Any:
        return self.con.table(name)


def tandem_report(con: Any, stretches: Sequence[Any], as_of: datetime = AS_OF) -> Any:
    """tandem's report per rep x week as an Ibis expression, on the clocks `service.measure` builds (its episodes
    computed once and kept, as the questions do), over the shared calendar table."""
    from tandem.handoffs.report import report_table
    from tandem.handoffs.service import measure_with

    measured = measure_with(_Source(con), con.table(CALENDAR), stretches, as_of)
    return report_table(
        measured.clocks, measured.episodes, by="rep", period="week", start=None, end=None, attempts=measured.attempts
    )


def reference_sql(as_of: datetime = AS_OF) -> str:
    """`REFERENCE_SQL` with the as-of moment inlined as a literal, as tandem's SQL has it."""
    return REFERENCE_SQL.replace("$as_of", f"TIMESTAMP '{as_of:%Y-%m-%d %H:%M:%S}'")


def run_tandem(con: Any, stretches: Sequence[Any], as_of: datetime = AS_OF) -> Any:
    """tandem's report to Arrow (building the expression included: a caller pays it)."""
    return con.to_pyarrow(tandem_report(con, stretches, as_of))


def run_reference(raw: Any, as_of: datetime = AS_OF) -> Any:
    return raw.sql(reference_sql(as_of)).to_arrow_table()


def disagreements(tandem: Any, reference: Any, limit: int = 10) -> list[str]:
    """Where two reports differ (Arrow tables; rows matched on rep, null included, and period): one line each."""
    problems: list[str] = []
    if tandem.column_names != reference.column_names:
        return [f"columns differ: tandem {tandem.column_names}, reference {reference.column_names}"]

    def keyed(table: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {tuple(row[k] for k in KEYS): row for row in table.to_pylist()}

    ours, theirs = keyed(tandem), keyed(reference)
    if len(ours) != tandem.num_rows or len(theirs) != reference.num_rows:
        problems.append(f"a (rep, period) twice: tandem {tandem.num_rows} rows, reference {reference.num_rows}")
    for key in sorted(ours.keys() ^ theirs.keys(), key=repr)[:limit]:
        problems.append(f"row {key}: only in {'tandem' if key in ours else 'the reference'}")
    for key in sorted(ours.keys() & theirs.keys(), key=repr):
        for column in tandem.column_names:
            a, b = ours[key][column], theirs[key][column]
            same = a == b or (
                isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)
            )
            if not same:
                problems.append(f"row {key}, column {column}: tandem {a!r}, reference {b!r}")
        if len(problems) >= limit:
            break
    return problems[:limit]


# --- measuring ----------------------------------------------------------------------------------------------
def explain(raw: Any, sql: str, where: Path) -> None:
    """DuckDB's EXPLAIN ANALYZE of `sql` into the file `where` (the profile: each operator's time and rows)."""
    rows = raw.sql(f"EXPLAIN ANALYZE {sql}").fetchall()
    where.write_text("\n".join(str(row[-1]) for row in rows) + "\n", encoding="utf-8")
    print(f"profile written to {where}", flush=True)


def measure_runs(
    jobs: dict[str, Callable[[], Any]], repeat: int, max_wait: float, funnel: Any
) -> tuple[dict[str, list[dict[str, float]]], list[float]]:
    """Each job `repeat` times, interleaved, the order alternating; each after waiting for a quiet machine.

    Returns per job its steps (seconds, peak RSS, RSS before) and the share of the CPUs others used in each round."""
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in jobs}
    load: list[float] = []
    names = list(jobs)
    for i in range(repeat):
        for name in names if i % 2 == 0 else names[::-1]:
            load.append(funnel.wait_for_quiet(max_wait))
            out: dict[str, Any] = {}
            funnel.step(out, name, jobs[name])
            runs[name].append(out[name])
            print(f"{name:10} {out[name]['seconds']:8.2f} s {out[name]['rss_mib']:>8,.0f} MiB peak", flush=True)
    return runs, load


def report(
    args: argparse.Namespace, runs: dict[str, list[dict[str, float]]], load: list[float], notes: dict[str, str]
) -> str:
    """The RESULTS.md section."""
    import bench_funnel

    seconds = {name: sorted(m["seconds"] for m in ms) for name, ms in runs.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}
    ratio = median["tandem"] / median["reference"]
    best_ratio = seconds["tandem"][0] / seconds["reference"][0]
    labels = {
        "tandem": 'tandem: `report_table(clocks, episodes, by="rep", period="week", attempts=...)` on '
        "`clock_table` and `attempt_table`, expression built and run to Arrow",
        "reference": "Hand-written DuckDB query (`REFERENCE_SQL`), to Arrow",
    }
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {bench_funnel.machine()}",
        f"- Command: `python benchmarks/bench_sla.py --leads {args.leads} --repeat {args.repeat}` (one process, one "
        "read-only DuckDB connection to the warehouse file; each query once untimed to warm it, then "
        f"{args.repeat} timed run{'s' if args.repeat > 1 else ''} of each, interleaved)",
        f"- Data: the demo company, {args.leads:,} leads (`build_demo`, seed {bench_funnel.SEED}, today "
        f"{bench_funnel.TODAY}), {notes['data']}; contract `DEMO_SERVICE_LEVELS` (3 teams, hot/standard "
        f"priorities, a pause status), one version over all history; as of {AS_OF:%Y-%m-%d %H:%M}; calendar "
        f"table {notes['calendar']}",
        f"- Agreement: {notes['agreement']}",
        f"- Machine load: other processes used {max(load, default=0):.0%} of the CPUs at most (median "
        f"{statistics.median(load) if load else 0:.0%}) before the timed runs",
        "",
        "| Measurement | Time, s (best / median) | Peak RSS, MiB (max) | RSS before, MiB |",
        "|---|---:|---:|---:|",
    ]
    for name, label in labels.items():
        s = seconds[name]
        peak = max(m["rss_mib"] for m in runs[name])
        before = max(m["rss_before"] for m in runs[name])
        lines.append(f"| {label} | {s[0]:.2f} / {median[name]:.2f} | {peak:,.0f} | {before:,.0f} |")
    verdict = "met" if ratio <= TARGET else "NOT met"
    lines += [
        "",
        f"tandem ÷ hand-written SQL: {ratio:.2f}x on the medians ({best_ratio:.2f}x on the best); target "
        f"<= {TARGET:g}x: {verdict}.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads of the demo company (default 1M)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each query (default 3)")
    parser.add_argument(
        "--max-wait", type=float, default=600, help="seconds to wait for a quiet machine before each run (default 600)"
    )
    parser.add_argument("--explain", action="store_true", help="write EXPLAIN ANALYZE of both to benchmarks/data/")
    parser.add_argument("--write", action="store_true", help="write the results into benchmarks/RESULTS.md")
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    sys.path.insert(0, str(HERE))
    import bench_funnel
    from results_file import RESULTS, write_section

    folder = bench_funnel.demo_folder(args.leads)  # bench_funnel's cached demo workspace (handoffs included)
    raw, con, stretches = open_warehouse(folder / "warehouse.duckdb")
    jobs: dict[str, Callable[[], Any]] = {
        "tandem": lambda: run_tandem(con, stretches),
        "reference": lambda: run_reference(raw),
    }
    tandem, reference = jobs["tandem"](), jobs["reference"]()  # untimed: warms DuckDB, and is what is checked
    problems = disagreements(tandem, reference)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise SystemExit("tandem and the hand-written SQL DISAGREE: nothing written")
    counts = {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("handoffs", "activities")}
    handoffs = sum(tandem.column("handoffs").to_pylist())
    notes = {
        "agreement": f"tandem and the hand-written SQL agree on all {tandem.num_rows:,} rows (rep x week: "
        f"{handoffs:,} handoffs), every one of the {tandem.num_columns} columns (counts exactly, medians and P90 to "
        f"{REL_TOL:g} relative)",
        "data": f"{counts['handoffs']:,} handoff events, {counts['activities']:,} activities",
        "calendar": f"{raw.execute(f'SELECT count(*) FROM {CALENDAR}').fetchone()[0]:,} rows",
    }
    print(f"agreement: ok ({tandem.num_rows:,} rows, {handoffs:,} handoffs)", flush=True)
    if args.explain:
        explain(raw, con.compile(tandem_report(con, stretches)), bench_funnel.DATA / f"sla-{args.leads}.tandem.txt")
        explain(raw, reference_sql(), bench_funnel.DATA / f"sla-{args.leads}.reference.txt")
    runs, load = measure_runs(jobs, args.repeat, args.max_wait, bench_funnel)
    section = report(args, runs, load, notes)
    print("\n" + section)
    if args.write:
        write_section(SECTION, section, RESULTS)


if __name__ == "__main__":
    main()
