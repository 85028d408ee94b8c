"""Start-up: how long the ``tandem`` command takes before it answers, against the interpreter's own start.

Measured in one run on one machine, each command in its own process as a user runs it (the console script next to
this Python), interleaved run by run so that a busy moment hits all three alike:

* ``python -c pass``: the floor, the interpreter alone;
* ``tandem --help``: the command line itself (typer, rich, the command modules; no engine, no store);
* ``tandem funnel --by channel --period month --format json`` on a fresh demo workspace of N leads (default
  20,000; ``tandem demo --no-serve``, built once per run in a temporary folder): a real question, end to end.

One warm-up run of each comes first (bytecode caches, the page cache), then --runs runs (default 15); median and
best wall time are shown, and the targets judged on the median: ``tandem --help`` under 0.3 s and the funnel under
1.0 s. The script waits for other processes to leave the CPUs before it starts (up to --max-wait seconds) and
reports the share of the CPUs they used while it measured.

Where the funnel's time goes: one more run under ``python -X importtime`` gives the import time per top-level
package (the module that first imported each is shown), and the rest of the wall time is the work itself.

With --write the results replace the "Start-up" section of benchmarks/RESULTS.md (a ``### ... (by hand ...)``
part of it is kept). A benchmark, not a test: nothing here asserts on time.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from results_file import write_section

HERE = Path(__file__).resolve().parent
SECTION = "## Start-up"
TANDEM = Path(sys.executable).with_name("tandem")
FUNNEL = ("funnel", "--by", "channel", "--period", "month", "--format", "json")
TARGETS = {"help": 0.3, "funnel": 1.0}


def commands(workspace: Path) -> dict[str, list[str]]:
    """What is timed, by name: the floor, the help, and a real question on the demo workspace."""
    return {
        "python": [sys.executable, "-c", "pass"],
        "help": [str(TANDEM), "--help"],
        "funnel": [str(TANDEM), *FUNNEL, "--workspace", str(workspace)],
    }


def wall(command: Sequence[str]) -> float:
    """Seconds from start to exit of `command`, its output discarded; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
    return seconds


# --- machine load (as in bench_funnel.py) ---------------------------------------------------------------------
def cpu_seconds() -> float:
    """CPU time every process on the machine has used since boot (all CPUs; idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_for_quiet(max_wait: float) -> float:
    """Wait (up to `max_wait` seconds) until other processes use under 10 % of the CPUs; returns the last share."""
    deadline = time.monotonic() + max_wait
    while True:
        start = cpu_seconds()
        time.sleep(2.0)
        load = (cpu_seconds() - start) / 2.0 / len(os.sched_getaffinity(0))
        if load < 0.10 or time.monotonic() > deadline:
            return load
        print(f"  (others use {load:.0%} of the CPUs; waiting)", flush=True)
        time.sleep(5)


# --- where the funnel's time goes -----------------------------------------------------------------------------
_IMPORT = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \| ( *)(\S+)")


def import_profile(command: Sequence[str]) -> tuple[float, float, list[tuple[str, float, str]]]:
    """One run of `command` under ``-X importtime``: (wall seconds, import seconds, [(package, seconds, first
    imported by)]) with each top-level package's own import time summed, largest first."""
    script = Path(command[0])
    python = [sys.executable, "-X", "importtime", "-m", "tandem.cli"] if script == TANDEM else [sys.executable]
    start = time.perf_counter()
    done = subprocess.run([*python, *command[1:]], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - start
    rows = [(len(m[3]) // 2, int(m[1]), m[4]) for m in map(_IMPORT.match, done.stderr.splitlines()) if m]
    total = sum(int(m[2]) for m in map(_IMPORT.match, done.stderr.splitlines()) if m and not m[3]) / 1e6
    packages: dict[str, float] = {}
    root: dict[str, tuple[int, int]] = {}  # package -> (depth, line) of the package's own module
    for index, (depth, own, name) in enumerate(rows):
        package = _package(name)
        packages[package] = packages.get(package, 0.0) + own / 1e6
        if name == package or package not in root:
            root[package] = (depth, index)
    first: dict[str, str] = {}
    for package, (depth, index) in root.items():
        first[package] = _importer(rows, index, depth, package)
    ranked = sorted(packages.items(), key=lambda item: -item[1])
    return seconds, total, [(name, own, first[name]) for name, own in ranked]


def _importer(rows: list[tuple[int, int, str]], index: int, depth: int, package: str) -> str:
    """The first module outside `package` that the module at `index` was imported under ("" at the top level).

    A module's importer is the next line printed less nested (``-X importtime`` prints a module when its import
    ends, after what it imported)."""
    for d, _, name in rows[index + 1 :]:
        if d < depth:
            if _package(name) != package:
                return name
            depth = d
    return ""


def _package(module: str) -> str:
    """tandem's modules one by one (tandem.engine, tandem.accounts), other packages whole (pandas, sqlalchemy)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "tandem" else parts[0]


# --- report ---------------------------------------------------------------------------------------------------
def machine() -> str:
    from importlib.metadata import version

    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    git = ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    versions = ", ".join(f"{p} {version(p)}" for p in ("typer", "rich", "pandas", "ibis-framework", "sqlalchemy"))
    return (
        f"{len(os.sched_getaffinity(0))} CPUs (nproc; {cpu[1].strip() if cpu else platform.processor()}); "
        f"{platform.system()} {platform.release()}; Python {platform.python_version()}, tandem {version('tandem')} "
        f"(commit {commit or 'unknown'}); {versions}"
    )


def report(
    args: argparse.Namespace,
    times: dict[str, list[float]],
    others: float,
    profile: tuple[float, float, list[tuple[str, float, str]]],
) -> str:
    median = {name: statistics.median(values) for name, values in times.items()}
    labels = {
        "python": "`python -c pass` (the floor)",
        "help": "`tandem --help`",
        "funnel": f"`tandem {' '.join(FUNNEL)}` ({args.leads:,}-lead demo)",
    }
    lines = [
        SECTION,
        "",
        f"- Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC",
        f"- Machine: {machine()}",
        f"- Command: `python benchmarks/bench_startup.py --runs {args.runs} --leads {args.leads} --write` (each "
        "command in its own process, the three interleaved, after one warm-up run of each)",
        f"- Machine load: other processes used {others:.0%} of the CPUs while it measured",
        "",
        "| Command | Median, s | Best, s | Median less the floor, s |",
        "|---|---:|---:|---:|",
    ]
    for name, label in labels.items():
        less = "—" if name == "python" else f"{median[name] - median['python']:.3f}"
        lines.append(f"| {label} | {median[name]:.3f} | {min(times[name]):.3f} | {less} |")
    lines += ["", "Targets, judged on the median run:", ""]
    for name, target in TARGETS.items():
        verdict = "**met**" if median[name] < target else "**not met**"
        lines.append(f"- {labels[name]} under {target} s: {median[name]:.3f} s, {verdict}")
    seconds, imports, packages = profile
    lines += [
        "",
        f"Where the funnel's time goes (one run under `python -X importtime`, {seconds:.2f} s wall, {imports:.2f} s "
        f"of it importing; the rest is the work: opening the workspace, compiling and running the query):",
        "",
        "| Package | Own import time, s | First imported by |",
        "|---|---:|---|",
    ]
    for name, own, by in packages[: args.top]:
        lines.append(f"| {name} | {own:.3f} | {by or '(tandem.cli, or a call as the command runs)'} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15, help="measured runs of each command (default 15)")
    parser.add_argument("--leads", type=int, default=20_000, help="leads of the demo workspace (default 20,000)")
    parser.add_argument("--top", type=int, default=15, help="packages shown in the import profile (default 15)")
    parser.add_argument(
        "--max-wait", type=float, default=300, help="seconds to wait for a quiet machine first (default 300)"
    )
    parser.add_argument("--write", action="store_true", help="replace the Start-up section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    if not TANDEM.exists():
        raise SystemExit(f"no tandem command next to {sys.executable}: install the project (pip install -e .)")

    with tempfile.TemporaryDirectory(prefix="tandem-bench-startup-") as tmp:
        workspace = Path(tmp) / "demo"
        print(f"building a {args.leads:,}-lead demo workspace in {workspace}", flush=True)
        build = [str(TANDEM), "demo", "--workspace", str(workspace), "--leads", str(args.leads), "--no-serve"]
        wall(build)
        timed = commands(workspace)
        for command in timed.values():  # warm-up: bytecode caches, the page cache
            wall(command)
        load = wait_for_quiet(args.max_wait)
        print(f"others use {load:.0%} of the CPUs; measuring {args.runs} runs of each", flush=True)
        times: dict[str, list[float]] = {name: [] for name in timed}
        start, machine_cpu, own_cpu = time.perf_counter(), cpu_seconds(), children_cpu()
        for run in range(args.runs):
            for name, command in timed.items():
                times[name].append(wall(command))
            print(f"run {run + 1:>2}: " + "  ".join(f"{n} {t[-1]:.3f} s" for n, t in times.items()), flush=True)
        elapsed = time.perf_counter() - start
        others = (cpu_seconds() - machine_cpu - (children_cpu() - own_cpu)) / elapsed / len(os.sched_getaffinity(0))
        profile = import_profile(timed["funnel"])
    section = report(args, times, max(0.0, others), profile)
    print()
    print(section)
    if args.write:
        write_section(SECTION, section)
        print(f"written to {HERE / 'RESULTS.md'}")


if __name__ == "__main__":
    main()
