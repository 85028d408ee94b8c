"""Stage rules: when each lead first met a stage's rule, tandem against a hand-written DuckDB query, on the demo data.

Measured in one run on one machine, on the demo company of N leads (default 1,000,000; `build_demo` with seed 7
and today 2026-11-23, the workspace `bench_funnel.py` builds and reuses under benchmarks/data/), as of
2026-11-23 00:00. Each rule is the mql stage's rule of definitions made from the workspace's current document
(`load_definitions`), plus a scoring block:

* attribute: ``segment = 'enterprise'``;
* event: ``has_event('webinar_attended', within='30d')``;
* score: ``score >= 30``, with 10 fit points for ``employees >= 200``, 20 points a webinar attended within 90 days
  halving every 14 days, and 10 points a content download within 30 days halving every 7 days.

For each rule:

* tandem: ``rule_entries(definitions, leads=, touches=, activities=, as_of=)`` to Arrow (lead_id and the first
  moment the lead met the rule);
* SQL: one hand-written DuckDB query, on its own read-only connection to the same warehouse file, computing the
  same first moments as `tandem.definitions.membership` defines them: the moments a rule is checked are the
  lead's creation and each touch up to as_of (only the touches of the kinds the rule reads: no other can change
  it), a moment before the lead's creation counting as its creation; windows are counted back from each moment in
  whole seconds; a touch is worth points / 2^(age_days / half_life_days); the lead enters at the first moment the
  rule holds. The attribute rule needs no touches: its first moment is the creation;
* what the rule adds to a funnel: ``funnel_table(leads, Workspace.stage_events(definitions, as_of), spec)`` (what
  ``Workspace.funnel(by=["channel"], period="month")`` computes) to Arrow, with the rule and without any rule.

tandem and the SQL must agree before anything is written (the same leads, the same first moments, exactly); for
the score rule, tandem's `score_table` and the SQL's score formula must also agree on every lead's score as of
2026-11-23 (to 1e-9 relative); the script stops with an error otherwise. Each job runs in its own subprocess and
asks its question twice: the first call is what a command-line run pays (DuckDB reading the columns from its
file, tandem compiling its expressions), the second what a long-running process sees. Peak RSS is read from VmHWM
(reset just before the measured step; it includes the interpreter and the libraries loaded). The jobs run
--repeat times (default 3), interleaved, each after waiting for other processes to leave the CPUs; best and median
are shown. With --write the results replace the "Stage rules" section of benchmarks/RESULTS.md. A benchmark, not a
test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench_funnel import children_cpu, cpu_seconds, demo_folder, machine, set_memory_limit, step, wait_for_quiet
from results_file import write_section

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "## Stage rules"
AS_OF = datetime(2026, 11, 23)
AS_OF_SQL = "TIMESTAMP '2026-11-23 00:00:00'"  # inlined, as tandem's SQL has it
REL_TOL = 1e-9
MAX_WAIT = 600.0
ABS_TOL = 1e-12

#: The rules measured, as the mql stage's rule.
RULES = {
    "attribute": "segment = 'enterprise'",
    "event": "has_event('webinar_attended', within='30d')",
    "score": "score >= 30",
}
SCORING = {
    "fit": [{"when": "employees >= 200", "points": 10}],
    "behaviour": [
        {"event": "webinar_attended", "points": 20, "within": "90d", "half_life": "14d"},
        {"event": "content_download", "points": 10, "within": "30d", "half_life": "7d"},
    ],
}
DAY = 86400
SCORED_KINDS = ("webinar_attended", "content_download")

# --- the hand-written SQL -----------------------------------------------------------------------------------
# Whole seconds of a timestamp, as tandem counts them on every backend (floor of the epoch).
_SECONDS = "floor(epoch({}))::BIGINT"

ATTRIBUTE_SQL = f"""
SELECT lead_id, created_at AS entered          -- an attribute holds from the creation or never
FROM leads
WHERE created_at <= {AS_OF_SQL} AND segment = 'enterprise'
"""

# The moments a rule is checked: creation, and each touch of the kinds the rule reads, clipped to created_at.
_MOMENTS = """
existing AS (
    SELECT lead_id, created_at, employees FROM leads WHERE created_at <= {as_of}
),
events AS (               -- the touches the rule reads, with their whole seconds
    SELECT lead_id, kind, occurred_at AS ts, {seconds} AS s
    FROM touches
    WHERE lead_id IS NOT NULL AND occurred_at <= {as_of} AND kind IN ({kinds})
),
moments AS (              -- one row per (lead, moment); a touch before the lead's creation counts as the creation
    SELECT DISTINCT x.lead_id, x.employees, greatest(m.ts, x.created_at) AS ts
    FROM (SELECT lead_id, created_at AS ts FROM existing UNION ALL SELECT lead_id, ts FROM events) m
    JOIN existing x USING (lead_id)
)"""


def _moments(kinds: tuple[str, ...]) -> str:
    return _MOMENTS.format(
        as_of=AS_OF_SQL, seconds=_SECONDS.format("occurred_at"), kinds=", ".join(f"'{k}'" for k in kinds)
    )


EVENT_SQL = f"""
WITH {_moments(("webinar_attended",))},
checked AS (              -- webinars in (moment - 30 days, moment], in whole seconds
    SELECT m.lead_id, m.ts,
           count(*) FILTER (WHERE {_SECONDS.format("m.ts")} - e.s < {30 * DAY}) AS webinars
    FROM moments m JOIN events e ON e.lead_id = m.lead_id AND e.ts <= m.ts
    GROUP BY m.lead_id, m.ts
)
SELECT lead_id, min(ts) AS entered FROM checked WHERE webinars >= 1 GROUP BY lead_id
"""


def _decayed(kind: str, points: int, within_days: int, half_life_days: int) -> str:
    """The sum of one behaviour rule's decayed points over a moment's touches (`age` in whole seconds)."""
    return (
        f"sum(CASE WHEN p.kind = '{kind}' AND p.age < {within_days * DAY} "
        f"THEN {points}.0 / pow(2.0, (p.age::DOUBLE / 86400.0) / ({half_life_days * DAY}.0 / 86400.0)) ELSE 0.0 END)"
    )


_SCORED = f"""
scored AS (               -- the score at each moment: fit points plus the decayed behaviour points
    SELECT p.lead_id, p.ts,
           (0.0 + CASE WHEN any_value(p.employees) >= 200 THEN 10.0 ELSE 0.0 END)
           + coalesce({_decayed("webinar_attended", 20, 90, 14)}, 0.0)
           + coalesce({_decayed("content_download", 10, 30, 7)}, 0.0) AS score
    FROM (SELECT m.lead_id, m.employees, m.ts, e.kind, {_SECONDS.format("m.ts")} - e.s AS age
          FROM {{moments}} m LEFT JOIN events e ON e.lead_id = m.lead_id AND e.ts <= m.ts) p
    GROUP BY p.lead_id, p.ts
)"""

SCORE_SQL = f"""
WITH {_moments(SCORED_KINDS)},
{_SCORED.format(moments="moments")}
SELECT lead_id, min(ts) AS entered FROM scored WHERE score >= 30 GROUP BY lead_id
"""

# Untimed: the same score formula as of as_of for every lead, checked against tandem's `score_table`.
SCORE_AS_OF_SQL = f"""
WITH {_moments(SCORED_KINDS)},
at_as_of AS (SELECT lead_id, employees, {AS_OF_SQL} AS ts FROM existing),
{_SCORED.format(moments="at_as_of")}
SELECT lead_id, score FROM scored
"""

SQL = {"attribute": ATTRIBUTE_SQL, "event": EVENT_SQL, "score": SCORE_SQL}

#: Untimed counts for the report: rows of the tables and of the probes.
COUNTS_SQL = {
    "leads": f"SELECT count(*) FROM leads WHERE created_at <= {AS_OF_SQL}",
    "touches": f"SELECT count(*) FROM touches WHERE lead_id IS NOT NULL AND occurred_at <= {AS_OF_SQL}",
    "activities": f"SELECT count(*) FROM activities WHERE lead_id IS NOT NULL AND occurred_at <= {AS_OF_SQL}",
    # tandem's probe for a rule reading touches: creation and every touch, clipped, distinct
    "tandem probe": f"""
        WITH x AS (SELECT lead_id, created_at FROM leads WHERE created_at <= {AS_OF_SQL})
        SELECT count(*) FROM (
            SELECT DISTINCT x.lead_id, greatest(m.ts, x.created_at)
            FROM (SELECT lead_id, created_at AS ts FROM x UNION ALL
                  SELECT lead_id, occurred_at FROM touches WHERE lead_id IS NOT NULL AND occurred_at <= {AS_OF_SQL}) m
            JOIN x USING (lead_id))""",
    "event probe": f"WITH {_moments(('webinar_attended',))} SELECT count(*) FROM moments",
    "score probe": f"WITH {_moments(SCORED_KINDS)} SELECT count(*) FROM moments",
}


# --- the definitions ----------------------------------------------------------------------------------------
def definitions(ws: Any, rule: str | None) -> Any:
    """The workspace's current definitions with `rule` as the mql stage's rule (None: no rule) and `SCORING`."""
    import yaml

    from tandem.definitions.model import dump_definitions, load_definitions

    document = yaml.safe_load(dump_definitions(ws.definitions_in_force(AS_OF).definitions))
    if rule is not None:
        (mql,) = [stage for stage in document["stages"] if stage["name"] == "mql"]
        mql["rule"] = rule
    document["scoring"] = SCORING
    return load_definitions(yaml.safe_dump(document, sort_keys=False))


# --- measuring (in a worker subprocess) ---------------------------------------------------------------------
def worker(job: str, leads: int, save: Path | None) -> dict[str, Any]:
    """Run `job` ("tandem:<rule>", "sql:<rule>" or "funnel:<rule or none>"): its question twice."""
    out: dict[str, Any] = {}
    folder = demo_folder(leads)
    kind, rule = job.split(":")
    run: Callable[[], Any]
    extra: Callable[[], Any] | None = None
    if kind in {"tandem", "funnel"}:
        import tandem
        from tandem.definitions.membership import rule_column, rule_entries
        from tandem.definitions.scoring import score_table
        from tandem.engine.funnel import funnel_table
        from tandem.engine.spec import FunnelSpec

        # Opening the workspace and reading the definitions are not timed; the question is.
        ws = tandem.open_workspace(folder)
        ws.warehouse.con.raw_sql("SELECT 1")
        defs = definitions(ws, RULES.get(rule))
        wh = ws.warehouse
        if kind == "tandem":

            def run() -> Any:
                entries = rule_entries(
                    defs,
                    leads=wh.table("leads"),
                    touches=wh.table("touches"),
                    activities=wh.table("activities"),
                    as_of=AS_OF,
                )
                assert entries is not None
                table = entries.to_pyarrow()
                return table.select(["lead_id", rule_column(1)]).rename_columns(["lead_id", "entered"])

            if rule == "score":

                def extra() -> Any:
                    scored = score_table(defs.scoring, wh.table("leads"), as_of=AS_OF, touches=wh.table("touches"))
                    return scored.select("lead_id", "score").to_pyarrow()

        else:
            spec = FunnelSpec(stages=tuple(defs.stage_names), by=("channel",), period="month", as_of=AS_OF)

            def run() -> Any:
                return funnel_table(wh.table("leads"), ws.stage_events(defs, AS_OF), spec).to_pyarrow()

    elif kind == "sql":
        import duckdb

        con = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SELECT 1")

        def run() -> Any:
            return con.execute(SQL[rule]).to_arrow_table()

        if rule == "score":

            def extra() -> Any:
                return con.execute(SCORE_AS_OF_SQL).to_arrow_table()

    else:
        raise SystemExit(f"unknown job {job!r}")

    result = step(out, job, run)
    step(out, f"{job} warm", run)
    if save is not None:
        import pyarrow.parquet as pq

        pq.write_table(result, save / f"{job}.parquet")
        if extra is not None:
            pq.write_table(extra(), save / f"{job}.scores.parquet")
    return out


# --- agreement (in the parent, untimed) ---------------------------------------------------------------------
def disagreements(saved: Path, rule: str) -> list[str]:
    """How tandem's first moments (and for the score rule, scores as of as_of) differ from the SQL's; [] if not."""
    import pyarrow.parquet as pq

    problems = []
    rows = {side: pq.read_table(saved / f"{side}:{rule}.parquet").to_pylist() for side in ("tandem", "sql")}
    ours, theirs = ({r["lead_id"]: r["entered"] for r in rows[side]} for side in ("tandem", "sql"))
    for side, entered in (("tandem", ours), ("sql", theirs)):
        if len(entered) != len(rows[side]):
            problems.append(f"{rule}: {side} gives some lead more than one row")
    only_ours, only_theirs = ours.keys() - theirs.keys(), theirs.keys() - ours.keys()
    if only_ours or only_theirs:
        problems.append(
            f"{rule}: {len(only_ours):,} leads only tandem enters (e.g. {sorted(only_ours)[:3]}), "
            f"{len(only_theirs):,} only the SQL (e.g. {sorted(only_theirs)[:3]})"
        )
    moved = sorted(lead for lead in ours.keys() & theirs.keys() if ours[lead] != theirs[lead])
    if moved:
        examples = ", ".join(f"{lead}: {ours[lead]} vs {theirs[lead]}" for lead in moved[:3])
        problems.append(f"{rule}: {len(moved):,} leads enter at another moment (tandem vs SQL: {examples})")
    if rule == "score":
        ours_s = {r["lead_id"]: r["score"] for r in pq.read_table(saved / "tandem:score.scores.parquet").to_pylist()}
        theirs_s = {r["lead_id"]: r["score"] for r in pq.read_table(saved / "sql:score.scores.parquet").to_pylist()}
        if ours_s.keys() != theirs_s.keys():
            problems.append(f"scores: {len(ours_s.keys() ^ theirs_s.keys()):,} leads scored by one side only")
        off = [
            lead
            for lead in ours_s.keys() & theirs_s.keys()
            if not math.isclose(ours_s[lead], theirs_s[lead], rel_tol=REL_TOL, abs_tol=ABS_TOL)
        ]
        if off:
            problems.append(f"scores as of {AS_OF:%Y-%m-%d}: {len(off):,} differ (e.g. {off[0]})")
    return problems


def score_summary(saved: Path) -> str:
    import pyarrow.parquet as pq

    scores = [r["score"] for r in pq.read_table(saved / "tandem:score.scores.parquet").to_pylist()]
    return f"scores as of {AS_OF:%Y-%m-%d} from 0 to {max(scores):.1f}, {sum(s > 0 for s in scores):,} above 0"


# --- driver -------------------------------------------------------------------------------------------------
def run_job(job: str, leads: int, save: Path | None, max_wait: float) -> dict[str, Any]:
    """Run one job in its own process; its measurements, each with ``others`` (the CPU share others used)."""
    wait_for_quiet(max_wait)
    command = [sys.executable, __file__, "--worker", job, "--leads", str(leads)]
    if save is not None:
        command += ["--save", str(save)]
    wall, machine_cpu, own_cpu = time.perf_counter(), cpu_seconds(), children_cpu()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - wall
    others = (cpu_seconds() - machine_cpu - (children_cpu() - own_cpu)) / wall / len(os.sched_getaffinity(0))
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"{job} failed")
    measured: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    for m in measured.values():
        m["others"] = max(0.0, others)
    return measured


def jobs() -> list[str]:
    return [*(f"{kind}:{rule}" for rule in RULES for kind in ("sql", "tandem")), "funnel:none"] + [
        f"funnel:{rule}" for rule in RULES
    ]


def counts_of(folder: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(folder / "warehouse.duckdb"), read_only=True)
    try:
        return {name: con.execute(sql).fetchone()[0] for name, sql in COUNTS_SQL.items()}  # type: ignore[index]
    finally:
        con.close()


def report(args: argparse.Namespace, runs: dict[str, list[dict[str, Any]]], notes: dict[str, Any]) -> str:
    seconds = {name: sorted(m["seconds"] for m in ms) for name, ms in runs.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}

    def timing(name: str) -> str:
        return f"{seconds[name][0]:.2f} / {median[name]:.2f}"

    def peak(name: str) -> str:
        return f"{max(m['rss_mib'] for m in runs[name]):,.0f}"

    def ratio(a: str, b: str) -> str:
        return f"{median[a] / median[b]:.1f}x"

    c = notes["counts"]
    others = [m["others"] for ms in runs.values() for m in ms]
    command = f"python benchmarks/bench_rules.py --leads {args.leads} --repeat {args.repeat}"
    command += (f" --max-wait {args.max_wait:g}" if args.max_wait != MAX_WAIT else "") + " --write" * args.write
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Command: `{command}` (each job in its own process, {args.repeat} runs of each, interleaved, each asking "
        "its question twice: the first call in a fresh process, then a second call in the same one)",
        f"- Data: the demo company (`build_demo`, seed 7, today 2026-11-23) as of 2026-11-23 00:00: "
        f"{c['leads']:,} leads, {c['touches']:,} touches, {c['activities']:,} activities. Probe moments (distinct "
        f"lead x moment): tandem {c['tandem probe']:,} for the event and score rules (creation and every touch), "
        f"{c['leads']:,} for the attribute rule (creation); the SQL {c['event probe']:,} for the event rule and "
        f"{c['score probe']:,} for the score rule (creation and the touches of the kinds the rule reads)",
        f"- Rules, as the mql stage's rule: attribute `{RULES['attribute']}`; event `{RULES['event']}`; score "
        f"`{RULES['score']}` with 10 fit points for `employees >= 200`, 20 points a `webinar_attended` within 90d "
        "(half-life 14d) and 10 a `content_download` within 30d (half-life 7d)",
        f"- Agreement: tandem's `rule_entries` and the hand-written SQL give the same leads and the same first "
        f"moments, exactly ({notes['entered']}); tandem's `score_table` and the SQL's score formula agree on all "
        f"{notes['scored']:,} leads' scores as of 2026-11-23 to {REL_TOL:g} relative ({notes['scores']})",
        f"- Machine load: other processes used {max(others, default=0):.0%} of the CPUs at most (median "
        f"{statistics.median(others) if others else 0:.0%}) while the jobs ran",
        "",
        "| Rule | tandem `rule_entries`, first call, s (best / median) | second call | Hand-written SQL, first call "
        "| second call | tandem ÷ SQL (medians, first / second) | Peak RSS, MiB: tandem / SQL |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for rule in RULES:
        t, s = f"tandem:{rule}", f"sql:{rule}"
        lines.append(
            f"| {rule} | {timing(t)} | {timing(t + ' warm')} | {timing(s)} | {timing(s + ' warm')} "
            f"| {ratio(t, s)} / {ratio(t + ' warm', s + ' warm')} | {peak(t)} / {peak(s)} |"
        )
    lines += [
        "",
        "What a rule adds to a funnel query: `funnel_table(leads, Workspace.stage_events(definitions, as_of), spec)` "
        "by channel x month, cumulative, to Arrow (what `Workspace.funnel(by=['channel'], period='month')` computes).",
        "",
        "| Funnel | First call, s (best / median) | Second call, s (best / median) | Added by the rule (medians, "
        "first / second) | Peak RSS, MiB |",
        "|---|---:|---:|---:|---:|",
    ]
    base = "funnel:none"
    lines.append(f"| no rule | {timing(base)} | {timing(base + ' warm')} | | {peak(base)} |")
    for rule in RULES:
        f = f"funnel:{rule}"
        added = f"{median[f] - median[base]:+.2f} s / {median[f + ' warm'] - median[base + ' warm']:+.2f} s"
        lines.append(f"| mql by the {rule} rule | {timing(f)} | {timing(f + ' warm')} | {added} | {peak(f)} |")
    spread = max(((s[-1] - s[0]) / median[n] for n, s in seconds.items() if len(s) > 1), default=0.0)
    lines += [
        "",
        f"Caveats: timings on a {len(os.sched_getaffinity(0))}-CPU machine shared with other work vary from run to "
        f"run (here by up to {spread:.0%} of a job's median). The SQL checks a rule only at the moments that can "
        "change it (the touches of the kinds it reads); tandem checks it at every touch, which gives the same first "
        "moments. Peak RSS includes the interpreter and the libraries loaded.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads of the demo company (default 1M)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job (default 3)")
    parser.add_argument("--write", action="store_true", help='replace the "Stage rules" section of RESULTS.md')
    parser.add_argument(
        "--max-wait",
        type=float,
        default=MAX_WAIT,
        help="seconds to wait for a quiet machine before each job (default 600)",
    )
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--save", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    if args.worker:
        print(json.dumps(worker(args.worker, args.leads, args.save)))
        return

    folder = demo_folder(args.leads)
    set_memory_limit(folder, 0)
    runs: dict[str, list[dict[str, Any]]] = {}
    notes: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tandem-bench-rules-") as tmp:
        saved = Path(tmp)
        for i in range(args.repeat):
            for job in jobs():
                for name, m in run_job(job, args.leads, saved if i == 0 else None, args.max_wait).items():
                    print(f"{name:22} {m['seconds']:8.2f} s {m['rss_mib']:>8,.0f} MiB peak", flush=True)
                    runs.setdefault(name, []).append(m)
            if i == 0:  # the numbers must agree before their times mean anything
                problems = [p for rule in RULES for p in disagreements(saved, rule)]
                if problems:
                    print("\n".join(problems), file=sys.stderr)
                    raise SystemExit("tandem and the hand-written SQL DISAGREE: no results written")
                import pyarrow.parquet as pq

                entered = {rule: pq.read_metadata(saved / f"sql:{rule}.parquet").num_rows for rule in RULES}
                notes["entered"] = ", ".join(f"{rule} {n:,} leads" for rule, n in entered.items())
                notes["scored"] = pq.read_metadata(saved / "sql:score.scores.parquet").num_rows
                notes["scores"] = score_summary(saved)
                print(f"agreement: ok ({notes['entered']}; {notes['scores']})", flush=True)
    notes["counts"] = counts_of(folder)
    section = report(args, runs, notes)
    print("\n" + section)
    if args.write:
        write_section(SECTION, section, RESULTS)


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        main()
