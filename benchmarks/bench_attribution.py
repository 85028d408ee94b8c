"""Attribution: tandem's credit per channel x month under every rule-based model against one hand-written DuckDB
query per model, and the data-driven models (Markov, Shapley) on the journeys aggregated to paths (issue 18).

Measured in one run on one machine, on the demo company of N leads (default 1,000,000; bench_funnel's cached
`build_demo` workspace, seed 7, today 2026-11-23), as of 2026-11-23 00:00, with the journeys tandem uses by default
(`JourneySpec()`: revenue won, opportunity level, lookback 365 days, repeats collapsed):

* per rule-based model (first_touch, last_touch, last_non_direct, linear, u_shaped, w_shaped, full_path,
  time_decay, custom with `CUSTOM_WEIGHTS`; the other settings tandem's defaults):
  - tandem: `credit_table(warehouse, JourneySpec(), AttributionModel(model=M), AS_OF, by="channel",
    period="month")` to Arrow as a repeated question gets it (`tandem.attribution.credit.fetch`: the SQL compiled
    once, in the untimed run, then reused with the moment swapped; the target is judged on this), and as a first
    call (the expression built and compiled each time; shown beside it);
  - the reference: one query as a strong engineer writes it by hand in DuckDB (`reference_sql`): the journeys
    (`JOURNEYS_SQL`: the won deals, their touches, lookback, repeats and milestones with window functions), the
    model's shares (`SHARES_SQL`, each model's weights written out) and the sum per channel and month
    (`CREDIT_SQL`). It follows docs/attribution.md; it skips what cannot matter for won revenue (the imports
    log that hides an open deal's values) and tandem's `usable` filter of impossible values (none in the demo).
    A channel and month that gets no credit has no row in the reference and a row of zeros in tandem's answer:
    the answers compare equal there.
* the data-driven models, on the same journeys aggregated to paths:
  - paths: `path_table(warehouse, JourneySpec(), AS_OF)` to Arrow, then `PathCounts` (as the report builds it);
  - `markov_attribution(counts, bootstrap=200, prior=...)` (first order) and `shapley_attribution(counts,
    bootstrap=200, prior=...)`, the prior being W-shaped's credit per channel (the default model in force, as the
    report shrinks toward it).

Everything runs on one read-only connection to the warehouse file. Each job runs once untimed (warming DuckDB's
buffers; the rule-based answers checked there row for row: item, month, conversions and value to 1e-9 relative,
a mismatch stops the run before anything is written), then --repeat times (default 3), interleaved, the order
alternating, after waiting for other processes to leave the CPUs. Best and median are shown; the targets are
judged on the medians: tandem at most 1.5x the hand-written query per model, each data-driven model under 2 s.
Peak RSS is the process's VmHWM over each step (reset before it; the interpreter, the libraries and the
warehouse's buffers included).

``--explain`` writes DuckDB's EXPLAIN ANALYZE of both queries per model to benchmarks/data/ (where the time goes).
With --write, results replace the "Attribution" section of benchmarks/RESULTS.md (a ``### ... (by hand ...)`` part
is kept). A benchmark, not a test: nothing here asserts on time; tests/attribution/test_bench_attribution_reference.py
keeps the reference queries honest on a small demo.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tandem.attribution.model import RULE_MODELS

HERE = Path(__file__).resolve().parent
SECTION = "## Attribution"
AS_OF = datetime(2026, 11, 23)
TARGET_RATIO = 1.5  # tandem's credit table at most 1.5x the hand-written query, per model
TARGET_SECONDS = 2.0  # each data-driven model under 2 s
REL_TOL = 1e-9
ABS_TOL = 1e-9  # for credit that is 0 on one side
KEYS = ("item", "period")
BOOTSTRAP = 200
#: Custom needs weights (percent): a "sales-sourced" split, with no weight on the first touch, so it also exercises
#: the rules a position model with first > 0 never meets (missing milestones only, the linear fallback).
CUSTOM_WEIGHTS = {"lead": 50.0, "opportunity": 40.0, "between": 10.0}
#: The model whose credit the data-driven models are shrunk toward (tandem's default, in force without approval).
PRIOR_MODEL = "w_shaped"

#: The journeys of the won deals, one row per touch (docs/attribution.md, "Journeys"): `$as_of` is the moment.
JOURNEYS_SQL = """
WITH won AS (             -- deals won by as_of, placed at their close date, worth their amount
    SELECT o.opportunity_id AS conversion_id, o.lead_id, coalesce(o.account_id, l.account_id) AS account,
           coalesce(o.amount, 0.0) AS value,
           coalesce(o.close_date::TIMESTAMP, o.created_at) AS closed_at,
           l.created_at AS lead_created, o.created_at AS opp_created,
           coalesce(l.created_at, o.created_at) AS start
    FROM opportunities o
    LEFT JOIN leads l ON l.lead_id = o.lead_id AND l.created_at <= $as_of
    WHERE o.status = 'won' AND o.created_at <= $as_of
      AND coalesce(o.close_date::TIMESTAMP, o.created_at) <= $as_of
),
seen AS (                 -- touches known at as_of
    SELECT touch_id, occurred_at, coalesce(channel, '(unknown)') AS channel,
           coalesce(campaign_id, '(unknown)') AS campaign, lead_id, account_id
    FROM touches
    WHERE occurred_at <= $as_of
),
matched AS (              -- opportunity level: the lead's touches, and touches on the account naming no lead
    SELECT w.*, t.touch_id, t.occurred_at, t.channel, t.campaign
    FROM won w JOIN seen t ON t.lead_id = w.lead_id
    UNION ALL
    SELECT w.*, t.touch_id, t.occurred_at, t.channel, t.campaign
    FROM won w JOIN seen t ON t.account_id = w.account AND t.lead_id IS NULL
),
windowed AS (             -- up to the end of the close day, back to the lookback before the start; repeats marked
    SELECT *, coalesce(lag(channel) OVER w = channel AND lag(campaign) OVER w = campaign, false) AS repeated
    FROM matched
    WHERE occurred_at < closed_at + INTERVAL 1 DAY AND occurred_at >= start - INTERVAL 365 DAY
    WINDOW w AS (PARTITION BY conversion_id ORDER BY occurred_at, touch_id)
),
placed AS (               -- repeats collapsed into the first of their run; positions from 0
    SELECT *, row_number() OVER (PARTITION BY conversion_id ORDER BY occurred_at, touch_id) - 1 AS position
    FROM windowed
    WHERE NOT repeated
),
journeys AS (             -- the milestones: the last touch at or before the lead's, the opportunity's creation
    SELECT *, count(*) OVER j AS touches,
           max(position) FILTER (WHERE occurred_at <= lead_created) OVER j AS lead_position,
           max(position) FILTER (WHERE occurred_at <= opp_created) OVER j AS opp_position
    FROM placed
    WINDOW j AS (PARTITION BY conversion_id)
),"""

#: Each model's shares (a CTE ``shares``: the journeys' touches with ``share``, adding up to 1 per deal). Touches
#: a model gives nothing may be left out. ``is_between`` marks the touches sharing the between weight.
SHARES_SQL = {
    "first_touch": """
shares AS (SELECT *, 1.0 AS share FROM journeys WHERE position = 0)""",
    "last_touch": """
shares AS (SELECT *, 1.0 AS share FROM journeys WHERE position = touches - 1)""",
    "last_non_direct": """
chosen AS (               -- the last touch not on a direct channel, else the last touch
    SELECT *, coalesce(max(position) FILTER (WHERE channel <> 'direct') OVER (PARTITION BY conversion_id),
                       touches - 1) AS credited_position
    FROM journeys
),
shares AS (SELECT *, 1.0 AS share FROM chosen WHERE position = credited_position)""",
    "linear": """
shares AS (SELECT *, 1.0 / touches AS share FROM journeys)""",
    "u_shaped": """
weighed AS (              -- 40 first, 40 the lead's touch, 20 shared by the touches between them
    SELECT *, CASE WHEN position = 0 THEN 40.0 ELSE 0.0 END
              + CASE WHEN position = lead_position THEN 40.0 ELSE 0.0 END AS milestones,
           coalesce(position > 0 AND position < lead_position, false) AS is_between
    FROM journeys
),
shares AS (
    SELECT *, (milestones + CASE WHEN is_between THEN 20.0 / count(*) FILTER (WHERE is_between) OVER j ELSE 0.0 END)
              / (sum(milestones) OVER j + CASE WHEN bool_or(is_between) OVER j THEN 20.0 ELSE 0.0 END) AS share
    FROM weighed
    WINDOW j AS (PARTITION BY conversion_id)
)""",
    "w_shaped": """
weighed AS (              -- 30 each first, the lead's and the opportunity's touch, 10 shared by the touches between
    SELECT *, CASE WHEN position = 0 THEN 30.0 ELSE 0.0 END
              + CASE WHEN position = lead_position THEN 30.0 ELSE 0.0 END
              + CASE WHEN position = opp_position THEN 30.0 ELSE 0.0 END AS milestones,
           coalesce(position > 0 AND position < greatest(lead_position, opp_position)
                    AND position IS DISTINCT FROM lead_position AND position IS DISTINCT FROM opp_position, false)
               AS is_between
    FROM journeys
),
shares AS (
    SELECT *, (milestones + CASE WHEN is_between THEN 10.0 / count(*) FILTER (WHERE is_between) OVER j ELSE 0.0 END)
              / (sum(milestones) OVER j + CASE WHEN bool_or(is_between) OVER j THEN 10.0 ELSE 0.0 END) AS share
    FROM weighed
    WINDOW j AS (PARTITION BY conversion_id)
)""",
    "full_path": """
weighed AS (              -- 22.5 each first, lead's, opportunity's and last touch, 10 shared by the touches between
    SELECT *, CASE WHEN position = 0 THEN 22.5 ELSE 0.0 END
              + CASE WHEN position = lead_position THEN 22.5 ELSE 0.0 END
              + CASE WHEN position = opp_position THEN 22.5 ELSE 0.0 END
              + CASE WHEN position = touches - 1 THEN 22.5 ELSE 0.0 END AS milestones,
           position > 0 AND position < touches - 1
           AND position IS DISTINCT FROM lead_position AND position IS DISTINCT FROM opp_position AS is_between
    FROM journeys
),
shares AS (
    SELECT *, (milestones + CASE WHEN is_between THEN 10.0 / count(*) FILTER (WHERE is_between) OVER j ELSE 0.0 END)
              / (sum(milestones) OVER j + CASE WHEN bool_or(is_between) OVER j THEN 10.0 ELSE 0.0 END) AS share
    FROM weighed
    WINDOW j AS (PARTITION BY conversion_id)
)""",
    "time_decay": """
decayed AS (              -- halving every 7 days (whole seconds) between the touch and the end of the close day
    SELECT *, pow(0.5, (floor(epoch(closed_at + INTERVAL 1 DAY)) - floor(epoch(occurred_at))) / 604800.0) AS decay
    FROM journeys
),
shares AS (SELECT *, decay / sum(decay) OVER (PARTITION BY conversion_id) AS share FROM decayed)""",
    "custom": """
weighed AS (              -- CUSTOM_WEIGHTS: 50 the lead's touch, 40 the opportunity's, 10 shared by the touches
    SELECT *,             -- after the first and before the later of the two
           CASE WHEN position = lead_position THEN 50.0 ELSE 0.0 END
           + CASE WHEN position = opp_position THEN 40.0 ELSE 0.0 END AS milestones,
           coalesce(position > 0 AND position < greatest(lead_position, opp_position)
                    AND position IS DISTINCT FROM lead_position AND position IS DISTINCT FROM opp_position, false)
               AS is_between
    FROM journeys
),
totalled AS (
    SELECT *, milestones + CASE WHEN is_between THEN 10.0 / count(*) FILTER (WHERE is_between) OVER j ELSE 0.0 END
                  AS raw,
           sum(milestones) OVER j + CASE WHEN bool_or(is_between) OVER j THEN 10.0 ELSE 0.0 END AS total
    FROM weighed
    WINDOW j AS (PARTITION BY conversion_id)
),
shares AS (               -- a journey with neither milestone is split linearly
    SELECT *, CASE WHEN total > 0 THEN raw / total ELSE 1.0 / touches END AS share FROM totalled
)""",
}

#: The credit per channel and month, the deals without a touch credited to "(no touch)".
CREDIT_SQL = """
credited AS (
    SELECT channel AS item, closed_at, share::DOUBLE AS conversions, share * value AS value FROM shares
    UNION ALL
    SELECT '(no touch)', closed_at, 1::DOUBLE, value
    FROM won w
    WHERE NOT EXISTS (SELECT 1 FROM journeys j WHERE j.conversion_id = w.conversion_id)
)
SELECT item, date_trunc('month', closed_at)::DATE AS period, sum(conversions) AS conversions, sum(value) AS value
FROM credited
GROUP BY ALL
"""


def reference_sql(model: str, as_of: datetime = AS_OF) -> str:
    """The hand-written query of `model`, with the as-of moment inlined as a literal, as tandem's SQL has it."""
    sql = JOURNEYS_SQL + SHARES_SQL[model] + "," + CREDIT_SQL
    return sql.replace("$as_of", f"TIMESTAMP '{as_of:%Y-%m-%d %H:%M:%S}'")


def attribution_model(model: str) -> Any:
    """tandem's settings for `model`: its defaults, and `CUSTOM_WEIGHTS` for custom (which has no default)."""
    from tandem.attribution.model import AttributionModel, PositionWeights

    weights = PositionWeights(**CUSTOM_WEIGHTS) if model == "custom" else None
    return AttributionModel(model=model, weights=weights)


def open_warehouse(path: Path) -> tuple[Any, Any]:
    """A read-only DuckDB connection to the warehouse file `path` set up as tandem's (UTC), and its Ibis backend
    (what tandem reads the tables through: the journeys' source)."""
    import duckdb
    import ibis

    raw = duckdb.connect(str(path), read_only=True)
    raw.execute("SET TimeZone = 'UTC'")
    raw.execute("SET python_enable_replacements = false")
    return raw, ibis.duckdb.from_connection(raw)


def tandem_credit(con: Any, model: str, as_of: datetime = AS_OF) -> Any:
    """tandem's credit per channel and month under `model`, as an Ibis expression."""
    from tandem.attribution.credit import credit_table
    from tandem.attribution.journeys import JourneySpec

    return credit_table(con, JourneySpec(), attribution_model(model), as_of, by="channel", period="month")


def run_tandem(con: Any, model: str, as_of: datetime = AS_OF) -> Any:
    """tandem's credit to Arrow (building the expression included: a caller pays it)."""
    return con.to_pyarrow(tandem_credit(con, model, as_of))


class CachedTarget:
    """The benchmark's connection as tandem's question layer reads a warehouse (`tandem.engine.compiled.QueryTarget`):
    a question's SQL compiled once and reused, kept in this process only (no folder)."""

    backend_name = "duckdb"
    query_dir = None

    def __init__(self, raw: Any, con: Any) -> None:
        self.duckdb, self.con = raw, con


def run_tandem_cached(target: CachedTarget, model: str, as_of: datetime = AS_OF) -> Any:
    """tandem's credit to Arrow as a repeated question gets it (`tandem.attribution.credit.fetch`): the SQL compiled
    on the first call, then reused with the moment swapped."""
    from tandem.attribution.credit import fetch

    return fetch(target, f"bench-{model}", as_of, lambda at: tandem_credit(target.con, model, at), (model,))


def run_reference(raw: Any, model: str, as_of: datetime = AS_OF) -> Any:
    return raw.sql(reference_sql(model, as_of)).to_arrow_table()


def disagreements(tandem: Any, reference: Any, limit: int = 10) -> list[str]:
    """Where two credit tables differ (Arrow tables; rows matched on item and period): one line each.

    A row only one side has must be all zeros (a channel and month credited nothing)."""
    problems: list[str] = []
    columns = [(field.name, str(field.type)) for field in tandem.schema]
    if columns != [(field.name, str(field.type)) for field in reference.schema]:
        return [f"columns differ: tandem {tandem.schema}, reference {reference.schema}"]

    def keyed(table: Any) -> dict[tuple[Any, ...], dict[str, Any]]:
        return {tuple(row[k] for k in KEYS): row for row in table.to_pylist()}

    ours, theirs = keyed(tandem), keyed(reference)
    if len(ours) != tandem.num_rows or len(theirs) != reference.num_rows:
        problems.append(f"an (item, period) twice: tandem {tandem.num_rows} rows, reference {reference.num_rows}")
    nothing = {"conversions": 0.0, "value": 0.0}
    for key in sorted(ours.keys() | theirs.keys(), key=repr):
        for column in ("conversions", "value"):
            a, b = ours.get(key, nothing)[column], theirs.get(key, nothing)[column]
            if a is None or b is None or not math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL):
                problems.append(f"row {key}, column {column}: tandem {a!r}, reference {b!r}")
        if len(problems) >= limit:
            break
    return problems[:limit]


# --- the data-driven models ---------------------------------------------------------------------------------
def path_counts(con: Any, as_of: datetime = AS_OF) -> Any:
    """The journeys aggregated to paths in the warehouse, as the models take them (rows sorted by path, as the
    report does for a reproducible bootstrap)."""
    from tandem.attribution.aggregate import SEPARATOR, path_table
    from tandem.attribution.journeys import JourneySpec
    from tandem.attribution.paths import PathCounts

    rows = sorted(con.to_pyarrow(path_table(con, JourneySpec(), as_of)).to_pylist(), key=lambda r: r["path"])
    return PathCounts.from_rows(
        (r["path"].split(SEPARATOR), r["conversions"], r["non_conversions"], r["value"]) for r in rows
    )


def prior_from(credit: Any) -> dict[str, float]:
    """The prior the report passes: a credit table's conversions per channel (periods summed), channels only
    (not "(no touch)"), those with credit."""
    prior: dict[str, float] = {}
    for row in credit.to_pylist():
        if not row["item"].startswith("("):
            prior[row["item"]] = prior.get(row["item"], 0.0) + row["conversions"]
    return {item: conversions for item, conversions in prior.items() if conversions > 0}


def run_markov(counts: Any, prior: dict[str, float]) -> Any:
    from tandem.attribution.markov import markov_attribution

    return markov_attribution(counts, bootstrap=BOOTSTRAP, prior=prior)


def run_shapley(counts: Any, prior: dict[str, float]) -> Any:
    from tandem.attribution.shapley import shapley_attribution

    return shapley_attribution(counts, bootstrap=BOOTSTRAP, prior=prior)


def credit_problems(credit: Any, counts: Any) -> list[str]:
    """What is wrong with a data-driven credit: its conversions must add up to the converted journeys."""
    total = math.fsum(credit.conversions.values())
    if not math.isclose(total, counts.total_conversions, rel_tol=REL_TOL):
        return [f"{credit.model} credits {total!r} conversions of {counts.total_conversions!r}"]
    return []


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
            print(f"{name:28} {out[name]['seconds']:8.2f} s {out[name]['rss_mib']:>8,.0f} MiB peak", flush=True)
    return runs, load


def report(
    args: argparse.Namespace,
    models: Sequence[str],
    runs: dict[str, list[dict[str, float]]],
    load: list[float],
    notes: dict[str, str],
) -> str:
    """The RESULTS.md section."""
    import bench_funnel

    seconds = {name: sorted(m["seconds"] for m in ms) for name, ms in runs.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}
    peak = {name: max(m["rss_mib"] for m in ms) for name, ms in runs.items()}

    def timed(name: str) -> str:
        return f"{seconds[name][0]:.2f} / {median[name]:.2f}"

    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {bench_funnel.machine()}",
        f"- Command: `python benchmarks/bench_attribution.py --leads {args.leads} --repeat {args.repeat}` (one "
        "process, one read-only DuckDB connection to the warehouse file; each job once untimed to warm it, then "
        f"{args.repeat} timed run{'s' if args.repeat > 1 else ''} of each, interleaved)",
        f"- Data: the demo company, {args.leads:,} leads (`build_demo`, seed {bench_funnel.SEED}, today "
        f"{bench_funnel.TODAY}), {notes['data']}; as of {AS_OF:%Y-%m-%d %H:%M}",
        "- Journeys: `JourneySpec()`: revenue won, opportunity level, lookback 365 days, repeats collapsed; custom "
        "weights " + ", ".join(f"{k} {v:g} %" for k, v in CUSTOM_WEIGHTS.items()),
        f"- Agreement: {notes['agreement']}",
        f"- Machine load: other processes used {max(load, default=0):.0%} of the CPUs at most (median "
        f"{statistics.median(load) if load else 0:.0%}) before the timed runs",
        "",
        '### Rule-based models: `credit_table(..., by="channel", period="month")` against hand-written SQL',
        "",
        "tandem: the question as the question layer asks it again (`tandem.attribution.credit.fetch`: its SQL "
        "compiled on the first call, reused with the moment swapped), run to Arrow; and the first call, the "
        "expression built and compiled each time. Hand-written: `reference_sql(model)` (one DuckDB query per "
        "model: journeys by window functions, the model's weights written out), to Arrow.",
        "",
        "| Model | tandem, s (best / median) | Hand-written SQL, s (best / median) | tandem ÷ SQL (medians) "
        f"| Target <= {TARGET_RATIO:g}x | First call, s (median; ÷ SQL) | Peak RSS, MiB (tandem / SQL) |",
        "|---|---:|---:|---:|---|---:|---:|",
    ]
    missed = []
    for model in models:
        ours, theirs = f"{model}/tandem", f"{model}/reference"
        ratio = median[ours] / median[theirs]
        if ratio > TARGET_RATIO:
            missed.append(model)
        first = median[f"{model}/first"]
        lines.append(
            f"| {model} | {timed(ours)} | {timed(theirs)} | {ratio:.2f}x | "
            f"{'met' if ratio <= TARGET_RATIO else 'NOT met'} | {first:.2f} ({first / median[theirs]:.2f}x) | "
            f"{peak[ours]:,.0f} / {peak[theirs]:,.0f} |"
        )
    lines += [
        "",
        f"Target met on {len(models) - len(missed)} of {len(models)} models"
        + (f" (not on {', '.join(missed)})." if missed else "."),
        "",
        "### Data-driven models on the journeys aggregated to paths",
        "",
        f"{notes['paths']}. Both models with {BOOTSTRAP} bootstrap replicates, shrunk toward {PRIOR_MODEL}'s "
        "credit per channel (the prior the report passes).",
        "",
        f"| Step | Time, s (best / median) | Target < {TARGET_SECONDS:g} s | Peak RSS, MiB (max) |",
        "|---|---:|---|---:|",
        f"| Paths: `path_table(warehouse, JourneySpec(), AS_OF)` to Arrow, then `PathCounts` | {timed('paths')} "
        f"| (not a target) | {peak['paths']:,.0f} |",
    ]
    labels = {
        "markov": f"Markov, first order: `markov_attribution(counts, bootstrap={BOOTSTRAP}, prior=...)`",
        "shapley": f"Shapley ({notes['shapley']}): `shapley_attribution(counts, bootstrap={BOOTSTRAP}, prior=...)`",
    }
    for name, label in labels.items():
        verdict = "met" if median[name] < TARGET_SECONDS else "NOT met"
        lines.append(f"| {label} | {timed(name)} | {verdict} | {peak[name]:,.0f} |")
    return "\n".join(lines) + "\n"


def check(raw: Any, con: Any, models: Sequence[str]) -> tuple[dict[str, Any], list[str]]:
    """Each model's answer from tandem (freshly compiled, and through the compiled-query cache, which this fills)
    and from the reference (untimed: this warms DuckDB too), compared."""
    answers: dict[str, Any] = {}
    problems: list[str] = []
    target = CachedTarget(raw, con)
    for model in models:
        tandem, reference = run_tandem(con, model), run_reference(raw, model)
        problems += [f"{model}: {problem}" for problem in disagreements(tandem, reference)]
        cached = run_tandem_cached(target, model)
        problems += [f"{model} (compiled once): {problem}" for problem in disagreements(cached, reference)]
        answers[model] = tandem
        print(f"{model:16} checked: {tandem.num_rows:,} rows (tandem), {reference.num_rows:,} (reference)", flush=True)
    return answers, problems


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads of the demo company (default 1M)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of each job (default 3)")
    parser.add_argument(
        "--models", nargs="+", choices=RULE_MODELS, default=list(RULE_MODELS), help="rule-based models (default all)"
    )
    parser.add_argument(
        "--max-wait", type=float, default=600, help="seconds to wait for a quiet machine before each run (default 600)"
    )
    parser.add_argument("--explain", action="store_true", help="write EXPLAIN ANALYZE of both to benchmarks/data/")
    parser.add_argument("--write", action="store_true", help="write the results into benchmarks/RESULTS.md")
    args = parser.parse_args()
    args.repeat = max(1, args.repeat)
    models = [m for m in RULE_MODELS if m in args.models]
    if args.write and PRIOR_MODEL not in models:
        parser.error(f"--write needs {PRIOR_MODEL} among the models (the data-driven models' prior)")
    sys.path.insert(0, str(HERE))
    import bench_funnel
    from results_file import RESULTS, write_section

    folder = bench_funnel.demo_folder(args.leads)  # bench_funnel's cached demo workspace
    raw, con = open_warehouse(folder / "warehouse.duckdb")
    answers, problems = check(raw, con, models)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise SystemExit("tandem and the hand-written SQL DISAGREE: nothing written")
    prior = prior_from(answers[PRIOR_MODEL] if PRIOR_MODEL in answers else run_tandem(con, PRIOR_MODEL))
    counts = path_counts(con)  # untimed, as the rule-based answers: warms the path aggregation
    markov, shapley = run_markov(counts, prior), run_shapley(counts, prior)
    problems = credit_problems(markov, counts) + credit_problems(shapley, counts)
    if problems:
        print("\n".join(problems), file=sys.stderr)
        raise SystemExit("a data-driven credit does not add up: nothing written")
    if args.explain:
        for model in models:
            explain(raw, con.compile(tandem_credit(con, model)), bench_funnel.DATA / f"attribution-{model}.tandem.txt")
            explain(raw, reference_sql(model), bench_funnel.DATA / f"attribution-{model}.reference.txt")
    sizes = {t: raw.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("touches", "opportunities")}
    won = round(sum(answers[models[0]].column("conversions").to_pylist()))  # every model credits each deal once
    notes = {
        "data": f"{sizes['touches']:,} touches, {sizes['opportunities']:,} opportunities ({won:,} won by then: "
        "the outcomes credited)",
        "agreement": f"tandem and the hand-written SQL agree on every model ({len(models)}): per channel and month "
        f"(up to {max(a.num_rows for a in answers.values()):,} rows), conversions and value to {REL_TOL:g} relative; "
        "a row of zeros tandem has and the query leaves out counts as equal",
        "paths": f"{len(counts.paths):,} distinct paths over {len(counts.items)} channels, "
        f"{round(counts.journeys):,} journeys (deals closed by then), {round(counts.total_conversions):,} converted",
        "shapley": "exact" if len(counts.items) <= 12 else "Monte Carlo, 2,000 orderings",
    }
    print(f"agreement: ok ({len(models)} models); {notes['paths']}", flush=True)
    jobs: dict[str, Callable[[], Any]] = {}
    target = CachedTarget(raw, con)
    for model in models:
        jobs[f"{model}/tandem"] = partial(run_tandem_cached, target, model)
        jobs[f"{model}/first"] = partial(run_tandem, con, model)
        jobs[f"{model}/reference"] = partial(run_reference, raw, model)
    jobs["paths"] = partial(path_counts, con)
    jobs["markov"] = partial(run_markov, counts, prior)
    jobs["shapley"] = partial(run_shapley, counts, prior)
    runs, load = measure_runs(jobs, args.repeat, args.max_wait, bench_funnel)
    section = report(args, models, runs, load, notes)
    print("\n" + section)
    if args.write:
        write_section(SECTION, section, RESULTS)


if __name__ == "__main__":
    main()
