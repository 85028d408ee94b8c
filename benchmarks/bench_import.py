"""Import throughput: tandem's validated, atomic upsert against DuckDB's bare read of the same file.

Measured in one run on one machine, at N stage events (default 5,000,000) over N/5 leads:

* tandem: ``Workspace.import_files("stage_events", [file])`` into a fresh DuckDB workspace whose leads are
  already imported, from Parquet and from CSV (a first import: N rows added), and once more from the same
  Parquet file (the idempotent path: 0 added, N unchanged). The leads import is timed separately.
* the floor: DuckDB alone reading the same file into a table of a fresh database file
  (``CREATE TABLE t AS SELECT * FROM read_parquet(...)`` / ``read_csv(...)``, auto-detected). No importer on
  DuckDB can beat it; tandem's time over the floor's is what mapping, validation, the duplicate-key and
  reference checks and the upsert cost.

Why: the issue sets targets at 5M stage events, canonical Parquet >= 1,000,000 rows/s and CSV >= 300,000
rows/s, and the floor tells how far from the possible tandem is. Each job runs in its own subprocess, and each
step's peak RSS is read from VmHWM (reset between steps). Jobs run --repeat times (default 3), interleaved;
best and median are reported and the targets judged on the median, since timings on a small shared machine
vary from run to run. Results replace the "Import throughput" section of benchmarks/RESULTS.md. A benchmark,
not a test: nothing here asserts on time. Input files are generated deterministically under benchmarks/data/
and reused.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from results_file import write_section

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "RESULTS.md"
SECTION = "## Import throughput"
STAGES = ("lead", "mql", "sql", "opportunity", "won")
CHANNELS = ("paid_search", "organic", "email", "events", "referral", "partner")
TARGETS = {"parquet": 1_000_000, "csv": 300_000}
JOBS = ("duckdb-parquet", "tandem-parquet", "duckdb-csv", "tandem-csv")


# --- data ---------------------------------------------------------------------------------------------------
def data_files(events: int) -> dict[str, Path]:
    """leads and stage events of size `events`, as Parquet and CSV; generated once, then reused."""
    files = {f"{t}.{f}": DATA / f"{t}_{events}.{f}" for t in ("leads", "stage_events") for f in ("parquet", "csv")}
    if all(p.exists() for p in files.values()):
        return files
    DATA.mkdir(exist_ok=True)
    leads = max(1, events // 5)
    created = "TIMESTAMP '2024-01-01' + to_seconds(CAST(hash(j, 'created') % 31536000 AS BIGINT))"
    queries = {
        "leads": f"SELECT printf('L%09d', j) AS lead_id, {created} AS created_at, "
        f"{list(CHANNELS)}[1 + CAST(hash(j, 'channel') % {len(CHANNELS)} AS BIGINT)] AS channel "
        f"FROM range({leads}) r(j) ORDER BY j",
        # Row i is event k = i // leads of lead j = i % leads, k days (+ < 1 day) after the lead's creation:
        # keys are unique and every lead_id is a lead. Exported in time order, as a CRM history would be.
        "stage_events": f"SELECT printf('L%09d', j) AS lead_id, {list(STAGES)}[1 + k % 5] AS stage, "
        f"{created} + to_days(k) + to_seconds(CAST(hash(i) % 86400 AS BIGINT)) AS occurred_at "
        f"FROM (SELECT i, i % {leads} AS j, i // {leads} AS k FROM range({events}) r(i)) "
        "ORDER BY occurred_at, lead_id, stage",
    }
    con = duckdb.connect()
    for name, path in files.items():
        table, fmt = name.split(".")
        partial = path.with_suffix(".partial")
        options = "FORMAT parquet" if fmt == "parquet" else "FORMAT csv, HEADER"
        con.execute(f"COPY ({queries[table]}) TO '{partial}' ({options})")
        partial.replace(path)
    con.close()
    return files


# --- measuring (in a worker subprocess) ---------------------------------------------------------------------
def reset_peak() -> None:
    """Reset this process's peak RSS (Linux: VmHWM), so the next step's peak is its own."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def peak_mib() -> float:
    try:
        status = Path("/proc/self/status").read_text()
        return int(re.search(r"VmHWM:\s+(\d+) kB", status)[1]) / 1024  # type: ignore[index]
    except (OSError, TypeError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step(out: dict[str, dict[str, float]], name: str, rows: int, run: Callable[[], object]) -> object:
    reset_peak()
    start = time.perf_counter()
    result = run()
    out[name] = {"rows": rows, "seconds": time.perf_counter() - start, "rss_mib": peak_mib()}
    return result


def worker(job: str, events: int) -> dict[str, dict[str, float]]:
    import tandem

    engine, fmt = job.split("-")
    files = data_files(events)
    leads = max(1, events // 5)
    out: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="tandem-bench-") as tmp:
        if engine == "duckdb":
            # Like tandem, load the leads first (untimed): the first query of a process pays a warm-up.
            con = duckdb.connect(str(Path(tmp) / "floor.duckdb"))
            read = f"SELECT * FROM {'read_parquet' if fmt == 'parquet' else 'read_csv'}(?)"
            con.execute(f"CREATE TABLE leads AS {read}", [str(files[f"leads.{fmt}"])])
            path = str(files[f"stage_events.{fmt}"])
            step(out, f"floor {fmt}", events, lambda: con.execute(f"CREATE TABLE t AS {read}", [path]))
            con.close()
            return out
        ws = tandem.init_workspace(Path(tmp) / "ws")
        step(out, f"leads {fmt}", leads, lambda: ws.import_files("leads", [files[f"leads.{fmt}"]]))
        file = files[f"stage_events.{fmt}"]
        first = step(out, f"tandem {fmt}", events, lambda: ws.import_files("stage_events", [file]))
        check(first, added=events, unchanged=0)
        if fmt == "parquet":
            again = step(out, "tandem parquet again", events, lambda: ws.import_files("stage_events", [file]))
            check(again, added=0, unchanged=events)
        ws.close()
    return out


def check(results: object, *, added: int, unchanged: int) -> None:
    """The import did the work measured (not a timing check)."""
    (result,) = results  # type: ignore[misc]
    if (result.added, result.updated, result.unchanged, result.rejected) != (added, 0, unchanged, 0):
        raise SystemExit(f"unexpected import result: {result.summary()}")


# --- report -------------------------------------------------------------------------------------------------
def machine() -> str:
    from importlib.metadata import version

    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    mem = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    git = ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({cpu[1].strip() if cpu else platform.processor()}), "
        f"{int(mem[1]) / 1024**2 if mem else 0:.1f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, DuckDB {duckdb.__version__}, tandem {version('tandem')} "
        f"(commit {commit or 'unknown'})"
    )


def report(runs: dict[str, list[dict[str, float]]], events: int, repeat: int) -> str:
    """The RESULTS.md section: best and median of the runs, time over the floor's (medians), targets."""
    seconds = {name: sorted(m["seconds"] for m in ms) for name, ms in runs.items()}
    median = {name: statistics.median(s) for name, s in seconds.items()}

    def row(label: str, key: str, floor: str | None) -> str:
        rows = runs[key][0]["rows"]
        cells = [
            label,
            f"{rows:,.0f}",
            f"{seconds[key][0]:.2f} / {median[key]:.2f}",
            f"{rows / seconds[key][0]:,.0f} / {rows / median[key]:,.0f}",
            f"{median[key] / median[floor]:.1f}x" if floor else "—",
            f"{max(m['rss_mib'] for m in runs[key]):,.0f}",
        ]
        return "| " + " | ".join(cells) + " |"

    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Command: `python benchmarks/bench_import.py --events {events} --repeat {repeat}` "
        f"({repeat} run{'s' if repeat > 1 else ''} of each job, each in its own process, jobs interleaved)",
        f"- Data: {events:,} stage events over {max(1, events // 5):,} leads (lead_id, stage, occurred_at), "
        "unique keys, generated by the script",
        "",
        "| Measurement | Rows | Seconds (best / median) | Rows/s (best / median) | Time ÷ DuckDB floor "
        "(median) | Peak RSS (MiB, max) |",
        "|---|---:|---:|---:|---:|---:|",
        row("DuckDB floor: `CREATE TABLE AS read_parquet`", "floor parquet", None),
        row("tandem import, Parquet (first: all added)", "tandem parquet", "floor parquet"),
        row("tandem re-import, same Parquet (all unchanged)", "tandem parquet again", "floor parquet"),
        row("DuckDB floor: `CREATE TABLE AS read_csv` (auto-detect)", "floor csv", None),
        row("tandem import, CSV (first: all added)", "tandem csv", "floor csv"),
        row("tandem leads import, Parquet (before the events)", "leads parquet", None),
        row("tandem leads import, CSV (before the events)", "leads csv", None),
        "",
        "Targets (issue, at 5,000,000 stage events), judged on the median run:",
        "",
    ]
    for fmt, target in TARGETS.items():
        key = f"tandem {fmt}"
        rate, best = events / median[key], events / seconds[key][0]
        verdict = "**met**" if rate >= target else "**NOT met**"
        lines.append(
            f"- {'CSV' if fmt == 'csv' else 'Parquet'} >= {target:,} rows/s: {rate:,.0f} rows/s median "
            f"({best:,.0f} best), {verdict}"
        )
    if events != 5_000_000:
        lines.append(f"- (this run used {events:,} events, not the 5,000,000 the targets are set at)")
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    write_section(SECTION, section, RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=5_000_000, help="stage events (leads: a fifth)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each job (best and median shown)")
    parser.add_argument("--worker", choices=JOBS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.events)))
        return
    start = time.perf_counter()
    data_files(args.events)
    print(f"data ready in {DATA} ({time.perf_counter() - start:.1f} s)", flush=True)
    runs: dict[str, list[dict[str, float]]] = {}
    for _ in range(args.repeat):
        for job in JOBS:
            command = [sys.executable, __file__, "--worker", job, "--events", str(args.events)]
            done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
            for name, m in json.loads(done.stdout.splitlines()[-1]).items():
                print(
                    f"{name:22} {m['rows']:>11,.0f} rows {m['seconds']:8.2f} s "
                    f"{m['rows'] / m['seconds']:>12,.0f} rows/s {m['rss_mib']:>8,.0f} MiB",
                    flush=True,
                )
                runs.setdefault(name, []).append(m)
    section = report(runs, args.events, args.repeat)
    write_results(section)
    print("\n" + section)


if __name__ == "__main__":
    main()
