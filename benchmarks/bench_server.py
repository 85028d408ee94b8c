"""Web app under load: page data from `tandem serve` once computed, 50 concurrent clients, and cache invalidation.

The requirement: results are cached by (data version, definition version, question) and an import invalidates
them; on the 1M-lead demo each page's data loads in under 300 ms at p95 once computed, and 50 concurrent clients
for 30 s get no errors. What this measures, in one run on one machine:

1. The demo workspace (``build_demo``, seed 7, today's date so "this quarter" has data) is built once under
   benchmarks/data/ and reused (or --workspace DIR). A viewer (``bench-viewer``) gets a fresh password and API
   token, and an importer (``bench-importer``, marketing) a token for the invalidation check.
2. The reference, in this process before the server starts: the same questions through the Python API, uncached
   (``ws.funnel(by=["channel"]).to_arrow()``, the Overview's document computed afresh, ...), first call and the
   median of --reference-repeat. This is what every request would pay without the cache.
3. The real CLI, ``tandem serve --workspace DIR --port P`` (a free port on 127.0.0.1), as a subprocess.
4. The endpoints come from its /api/openapi.json: every GET under /api/ without path parameters whose
   ``x-access`` is ``read``, plus a few realistic questions when the endpoint takes those parameters (funnel by
   channel and by month, the leads behind the MQL count), plus the HTML pages the viewer may open. An endpoint
   added to the app is measured without editing this script.
5. One client: the first call of each (for most the uncached computation), then --calls sequential calls:
   p50, p95, max.
6. Locust, headless (benchmarks/locustfile.py): --users clients for --seconds, once per --think value (mean
   seconds between a client's requests; 0 is a client that never pauses, the hardest case), each client cycling
   over all the targets. Requests, failures, requests/s and p50/p95/p99 come from Locust's CSV statistics; the
   CPU the server, Locust and the rest of the machine used is read from /proc.
7. Invalidation: a few new leads imported through ``POST /api/imports`` (if the app has it); the next
   /api/overview must recompute (slower) and count them.

Locust and the server share the machine's CPUs, so under load the figures include the load generator's cost. A
benchmark, not a test: nothing here asserts on time; targets are judged in the report. With --write the report
replaces the "Web app under load" section of benchmarks/RESULTS.md, keeping a ``### ... (by hand ...)`` part of it.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import gc
import io
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests

from results_file import write_section

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "RESULTS.md"
LOCUSTFILE = HERE / "locustfile.py"
SECTION = "## Web app under load"
COMMAND = "python benchmarks/bench_server.py --leads 1000000 --write"
SEED = 7
VIEWER = "bench-viewer"
IMPORTER = "bench-importer"
ACTOR = "bench_server"
TARGET_P95_MS = 300.0
#: Realistic questions, asked when the endpoint has all of these query parameters.
QUESTIONS: tuple[tuple[str, dict[str, str]], ...] = (
    ("/api/funnel", {"by": "channel"}),
    ("/api/funnel", {"period": "month"}),
    ("/api/funnel", {"by": "channel", "period": "month"}),
    ("/api/revenue", {"by": "channel"}),
    ("/api/revenue", {"period": "month"}),
    ("/api/velocity", {"from_stage": "mql"}),
    ("/api/leads", {"stage": "mql", "limit": "100"}),
)
#: HTML pages a dashboard user opens; those the viewer gets a 200 for are measured.
PAGES = ("/", "/funnel", "/definitions", "/imports", "/account")


# --- setup --------------------------------------------------------------------------------------------------
def demo_folder(leads: int, given: Path | None) -> Path:
    """The demo workspace: `given` as is, or benchmarks/data/server-demo-N built once (``.complete`` marks it)."""
    if given is not None:
        return given
    folder = DATA / f"server-demo-{leads}"
    if (folder / ".complete").exists():
        return folder
    from tandem.demo_workspace import build_demo

    if folder.exists():
        shutil.rmtree(folder)  # an interrupted build
    DATA.mkdir(exist_ok=True)
    started = time.perf_counter()
    print(f"building the {leads:,}-lead demo in {folder} (once) ...", flush=True)
    build_demo(folder, leads=leads, seed=SEED, echo=lambda line: print(line, flush=True)).close()
    (folder / ".complete").write_text(f"{leads}\n")
    print(f"built in {time.perf_counter() - started:.0f} s", flush=True)
    return folder


def prepare_users(ws: Any) -> dict[str, str]:
    """A viewer with a fresh password and token, and an importer's token (tokens named after this run)."""
    from tandem.accounts import AccountError

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    password = "bench-" + os.urandom(12).hex()
    for username, role in ((VIEWER, "viewer"), (IMPORTER, "marketing")):
        with contextlib.suppress(AccountError):  # exists from an earlier run
            ws.accounts.create_user(ACTOR, username, role, password=password, must_change_password=False)
    ws.accounts.set_password(ACTOR, VIEWER, password, must_change=False)
    _, viewer_token = ws.accounts.create_token(ACTOR, VIEWER, f"bench_server {stamp}")
    _, importer_token = ws.accounts.create_token(ACTOR, IMPORTER, f"bench_server {stamp}")
    return {"password": password, "token": viewer_token, "import_token": importer_token}


def data_counts(ws: Any) -> dict[str, int]:
    return {k: int(v) for k, v in ws.warehouse.counts().items()}


# --- the reference: the Python API in-process, uncached -------------------------------------------------------
def reference_questions(state: Any) -> dict[str, Callable[[], Any]]:
    """What the main endpoints answer, asked of the Python API directly (keyed by the endpoint they match)."""
    from tandem.server.routes.overview import overview_document

    ws = state.workspace
    first = ws.stages[0]

    def overview() -> Any:
        state.cache.clear()  # the same computation the server runs on a cache miss
        return overview_document(state)

    return {
        "/api/overview": overview,
        "/api/funnel": lambda: ws.funnel().to_arrow(),
        "/api/funnel?by=channel": lambda: ws.funnel(by=["channel"]).to_arrow(),
        "/api/funnel?period=month": lambda: ws.funnel(period="month").to_arrow(),
        "/api/funnel?by=channel&period=month": lambda: ws.funnel(by=["channel"], period="month").to_arrow(),
        "/api/revenue": lambda: ws.revenue().to_arrow(),
        "/api/revenue?by=channel": lambda: ws.revenue(by=["channel"]).to_arrow(),
        "/api/revenue?period=month": lambda: ws.revenue(period="month").to_arrow(),
        "/api/pipeline": lambda: ws.pipeline().to_arrow(),
        "/api/velocity": lambda: ws.velocity(first).to_arrow(),
        "/api/velocity?from_stage=mql": lambda: ws.velocity("mql").to_arrow(),
        "/api/quality": lambda: ws.quality(),
        "/api/leads?stage=mql&limit=100": lambda: ws.leads("mql", limit=100).to_arrow(),
    }


def measure_reference(folder: Path, repeat: int) -> dict[str, dict[str, float]]:
    """First call and median of `repeat` more, in ms, per question; the workspace is closed afterwards."""
    from tandem.server.state import ServerState

    state = ServerState(folder)
    out: dict[str, dict[str, float]] = {}
    try:
        for key, ask in reference_questions(state).items():
            times = []
            for _ in range(repeat + 1):
                started = time.perf_counter()
                ask()
                times.append((time.perf_counter() - started) * 1000)
            out[key] = {"first": times[0], "median": statistics.median(times[1:])}
            print(f"  reference {key}: first {times[0]:.0f} ms, median {out[key]['median']:.0f} ms", flush=True)
    finally:
        state.close()
        gc.collect()
    return out


# --- the server -----------------------------------------------------------------------------------------------
def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port != 8000:
            return port


def start_server(folder: Path, port: int, log: Path) -> tuple[subprocess.Popen[bytes], float]:
    """`tandem serve` as a subprocess; returns it and the seconds until it answered."""
    cli = Path(sys.executable).parent / "tandem"
    command = [str(cli), "serve", "--workspace", str(folder), "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    with log.open("wb") as sink:
        server = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/openapi.json"
    while time.perf_counter() - started < 300:
        if server.poll() is not None:
            raise SystemExit(f"tandem serve exited with {server.returncode}:\n{log.read_text()}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=5).status_code == 200:
                return server, time.perf_counter() - started
        time.sleep(0.2)
    server.kill()
    raise SystemExit(f"tandem serve did not answer within 300 s:\n{log.read_text()}")


def stop_server(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def sign_in(base: str, password: str) -> str:
    """The viewer's session cookie, through the sign-in form (its CSRF cookie and field included)."""
    with requests.Session() as s:
        form = s.get(f"{base}/login", timeout=30)
        token = re.search(r'name="login_token" value="([^"]+)"', form.text)
        if token is None:
            raise SystemExit("the sign-in page has no login_token field")
        fields = {"username": VIEWER, "password": password, "login_token": token[1], "next": "/"}
        answer = s.post(f"{base}/login", data=fields, allow_redirects=False, timeout=30)
        cookie = s.cookies.get("tandem_session")
        if answer.status_code != 303 or not cookie:
            raise SystemExit(f"sign-in failed: HTTP {answer.status_code}")
        return str(cookie)


def discover(base: str) -> tuple[list[str], list[str]]:
    """The page-data URLs to measure, from the OpenAPI document, and what was left out and why."""
    document = requests.get(f"{base}/api/openapi.json", timeout=30).json()
    urls: list[str] = []
    skipped: list[str] = []
    for path, operations in document.get("paths", {}).items():
        get = operations.get("get")
        if get is None or not path.startswith("/api/") or "{" in path or get.get("x-access") != "read":
            continue
        params = {p["name"]: p for p in get.get("parameters", []) if p.get("in") == "query"}
        required = [name for name, p in params.items() if p.get("required")]
        if required:
            skipped.append(f"`{path}` bare (needs {', '.join(required)})")
        else:
            urls.append(path)
        for question_path, query in QUESTIONS:
            if question_path == path and set(query) <= set(params) and set(required) <= set(query):
                urls.append(path + "?" + "&".join(f"{k}={v}" for k, v in query.items()))
    return urls, skipped


# --- one client, sequential -----------------------------------------------------------------------------------
def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (what Locust reports too): the smallest value with q % of them at or below it."""
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, -(-len(ordered) * q // 100) - 1))]


def measure_sequential(
    base: str, urls: list[str], pages: list[str], auth: dict[str, str], calls: int
) -> dict[str, dict[str, Any]]:
    """First call of each URL, then `calls` more one after another on one keep-alive connection (ms)."""
    out: dict[str, dict[str, Any]] = {}
    with requests.Session() as s:
        for url in [*urls, *pages]:
            headers = auth["page"] if url in pages else auth["api"]

            def call(url: str = url, headers: dict[str, str] = headers) -> tuple[float, requests.Response]:
                started = time.perf_counter()
                response = s.get(base + url, headers=headers, allow_redirects=False, timeout=600)
                _ = response.content
                return (time.perf_counter() - started) * 1000, response

            first, response = call()
            row: dict[str, Any] = {"first": first, "status": response.status_code, "bytes": len(response.content)}
            if response.status_code == 200:
                times = [call()[0] for _ in range(calls)]
                row.update(p50=percentile(times, 50), p95=percentile(times, 95), max=max(times))
            out[url] = row
            shown = f"p50 {row['p50']:.1f} ms, p95 {row['p95']:.1f} ms" if "p50" in row else "not measured"
            print(f"  {url}: HTTP {response.status_code}, first {first:.0f} ms, {shown}", flush=True)
    return out


# --- CPU accounting -------------------------------------------------------------------------------------------
def machine_cpu() -> float:
    """CPU seconds every process on the machine has used since boot (idle and iowait excluded)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    """CPU seconds of a process and its waited-for children, from /proc/PID/stat."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
    return 0.0


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    with contextlib.suppress(OSError):
        found = re.search(rf"{field}:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
        return int(found[1]) / 1024 if found else 0.0
    return 0.0


def others_load(seconds: float = 2.0) -> float:
    """The share of the machine's CPUs that processes other than this one use now, over `seconds`."""
    cpus = len(os.sched_getaffinity(0))
    before, mine = machine_cpu(), time.process_time()
    time.sleep(seconds)
    return max(0.0, (machine_cpu() - before) - (time.process_time() - mine)) / (seconds * cpus)


def wait_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to `max_wait` s) until other processes use less than `threshold` of the CPUs; their share then."""
    deadline = time.monotonic() + max_wait
    while True:
        share = others_load()
        if share < threshold or time.monotonic() >= deadline:
            return share
        print(f"  other processes use {share:.0%} of the CPUs; waiting for a quieter machine ...", flush=True)
        time.sleep(10)


class CpuWatch:
    """CPU the server, this process and everything else used between start() and stop(), as shares of the CPUs."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid

    def start(self) -> None:
        self.t0 = time.perf_counter()
        self.machine0, self.server0, self.self0 = machine_cpu(), process_cpu(self.server_pid), time.process_time()

    def stop(self, extra_cpu: float = 0.0) -> dict[str, float]:
        """Shares of the CPUs; `extra_cpu` is CPU time of a helper process (Locust) to count apart."""
        wall = time.perf_counter() - self.t0
        capacity = wall * len(os.sched_getaffinity(0))
        server = process_cpu(self.server_pid) - self.server0
        mine = time.process_time() - self.self0
        others = machine_cpu() - self.machine0 - server - mine - extra_cpu
        return {
            "wall": wall,
            "server": server / capacity,
            "client": (mine + extra_cpu) / capacity,
            "others": max(0.0, others) / capacity,
        }


# --- under load -----------------------------------------------------------------------------------------------
def run_locust(
    base: str, targets: list[dict[str, Any]], auth: dict[str, str], args: argparse.Namespace, think: float, out: Path
) -> dict[str, Any]:
    """One headless Locust run; its statistics per endpoint and in total, and the CPU each side used."""
    prefix = out / f"locust-think{think:g}"
    env = dict(
        os.environ,
        TANDEM_BENCH_TARGETS=json.dumps(targets),
        TANDEM_BENCH_TOKEN=auth["token"],
        TANDEM_BENCH_SESSION=auth["session"],
        TANDEM_BENCH_THINK=str(think),
    )
    command = [
        str(Path(sys.executable).parent / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "-u",
        str(args.users),
        "-r",
        str(args.users),
        "-t",
        f"{args.seconds}s",
        "--host",
        base,
        "--csv",
        str(prefix),
        "--only-summary",
        "--stop-timeout",
        "10",
    ]
    server_pid = args.server_pid
    watch = CpuWatch(server_pid)
    watch.start()
    with (out / f"locust-think{think:g}.log").open("wb") as log:
        locust = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=HERE.parent)
        peak_rss, locust_cpu = 0.0, 0.0
        while locust.poll() is None:
            peak_rss = max(peak_rss, rss_mib(server_pid))
            locust_cpu = max(locust_cpu, process_cpu(locust.pid))
            time.sleep(0.5)
    cpu = watch.stop(locust_cpu)
    stats_file = Path(f"{prefix}_stats.csv")
    if not stats_file.exists():
        log_text = (out / f"locust-think{think:g}.log").read_text()
        raise SystemExit(f"locust wrote no statistics (exit {locust.returncode}):\n{log_text}")
    rows = list(csv.DictReader(io.StringIO(stats_file.read_text())))
    failures_file = Path(f"{prefix}_failures.csv")
    failures = list(csv.DictReader(io.StringIO(failures_file.read_text()))) if failures_file.exists() else []

    def parse(row: dict[str, str]) -> dict[str, Any]:
        def number(key: str) -> float:
            value = row.get(key, "")
            return float(value) if value not in ("", "N/A") else float("nan")

        return {
            "requests": int(row["Request Count"]),
            "failures": int(row["Failure Count"]),
            "rps": number("Requests/s"),
            "p50": number("50%"),
            "p95": number("95%"),
            "p99": number("99%"),
            "max": number("Max Response Time"),
            "mean": number("Average Response Time"),
        }

    per_endpoint = {row["Name"]: parse(row) for row in rows if row["Name"] != "Aggregated"}
    total = next((parse(row) for row in rows if row["Name"] == "Aggregated"), None)
    return {
        "think": think,
        "total": total,
        "endpoints": per_endpoint,
        "failures": [
            {"name": f.get("Name", ""), "error": f.get("Error", ""), "count": f.get("Occurrences", "")}
            for f in failures
        ],
        "exit": locust.returncode,
        "wall": cpu["wall"],
        "server_cpu_share": cpu["server"],
        "locust_cpu_share": cpu["client"],
        "others_cpu_share": cpu["others"],
        "server_peak_rss": peak_rss,
    }


# --- invalidation ---------------------------------------------------------------------------------------------
def first_stage_count(document: dict[str, Any]) -> int | None:
    rows = document.get("stage_volumes") or []
    return int(rows[0]["reached"]) if rows else None


def invalidation(base: str, auth: dict[str, str], out: Path, new_leads: int) -> dict[str, Any]:
    """New leads through POST /api/imports; the next /api/overview recomputes and counts them."""
    document = requests.get(f"{base}/api/openapi.json", timeout=30).json()
    operation = document.get("paths", {}).get("/api/imports", {}).get("post")
    if operation is None:
        return {
            "skipped": "the app has no POST /api/imports yet, and the running server holds the DuckDB warehouse "
            "(one writer process), so nothing can be imported beside it"
        }
    api = {"Authorization": f"Bearer {auth['token']}"}

    def overview() -> tuple[float, dict[str, Any]]:
        started = time.perf_counter()
        response = requests.get(f"{base}/api/overview", headers=api, timeout=600)
        response.raise_for_status()
        return (time.perf_counter() - started) * 1000, response.json()

    cached_ms, before = overview()
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    created = (datetime.now(UTC) - timedelta(minutes=10)).strftime("%Y-%m-%d %H:%M:%S")
    lines = ["lead_id,created_at,channel"] + [f"bench-{stamp}-{i},{created},bench" for i in range(new_leads)]
    upload = out / f"bench-leads-{stamp}.csv"
    upload.write_text("\n".join(lines) + "\n")
    started = time.perf_counter()
    with upload.open("rb") as handle:
        response = requests.post(
            f"{base}/api/imports",
            headers={"Authorization": f"Bearer {auth['import_token']}"},
            data={"kind": "leads"},
            files={"file": (upload.name, handle, "text/csv")},
            timeout=600,
        )
    import_ms = (time.perf_counter() - started) * 1000
    result: dict[str, Any] = {
        "new_leads": new_leads,
        "import_status": response.status_code,
        "import_ms": import_ms,
        "cached_ms": cached_ms,
        "count_before": first_stage_count(before),
    }
    if response.status_code >= 300:
        result["import_error"] = response.text[:300]
        return result
    after_ms, after = overview()
    waited = 0.0
    while first_stage_count(after) == result["count_before"] and waited < 3:
        time.sleep(0.5)  # the data version is re-read at most once a second
        waited += 0.5
        after_ms, after = overview()
    again_ms, _ = overview()
    result.update(after_ms=after_ms, again_ms=again_ms, count_after=first_stage_count(after), stale_seconds=waited)
    return result


# --- report ---------------------------------------------------------------------------------------------------
def machine() -> str:
    from importlib.metadata import version

    cpu = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
    mem = re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text())
    git = ["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"]
    commit = subprocess.run(git, capture_output=True, text=True, check=False).stdout.strip()
    versions = []
    for package in ("duckdb", "fastapi", "uvicorn", "locust"):
        with contextlib.suppress(Exception):
            versions.append(f"{package} {version(package)}")
    return (
        f"{len(os.sched_getaffinity(0))} CPUs ({cpu[1].strip() if cpu else platform.processor()}), "
        f"{int(mem[1]) / 1024**2 if mem else 0:.1f} GiB RAM; {platform.system()} {platform.release()}; "
        f"Python {platform.python_version()}, tandem {version('tandem')} (commit {commit or 'unknown'}); "
        + ", ".join(versions)
    )


def ms(value: float | None, digits: int = 0) -> str:
    if value is None or value != value:  # None or NaN
        return "—"
    return f"{value:,.{digits}f}"


def report(run: dict[str, Any]) -> str:
    """The RESULTS.md section."""
    args = run["args"]
    seq, ref = run["sequential"], run["reference"]
    load_avg = run["load_before"]
    lines = [
        SECTION,
        "",
        f"- Command: `{COMMAND}` (this run: `{run['command']}`)",
        f"- Date: {run['date']}",
        f"- Machine: {run['machine']}",
        f"- Data: the demo company (`build_demo`, seed {SEED}, built {run['built']}): "
        + ", ".join(f"{v:,} {k}" for k, v in run["counts"].items() if v)
        + (
            f" (the leads include {extra:,} imported by earlier runs' invalidation checks)"
            if (extra := run["counts"].get("leads", 0) - args.leads) > 0 and args.workspace is None
            else ""
        ),
        f"- Server: `tandem serve` (one uvicorn process, the workspace's DuckDB warehouse), answering "
        f"{run['ready']:.1f} s after start; RSS {run['rss_warm']:,.0f} MiB once every endpoint was computed",
        f"- Machine load before the run: load average {load_avg[0]:.2f} / {load_avg[1]:.2f} / {load_avg[2]:.2f} "
        f"(1 / 5 / 15 min); other processes used {run['others_before']:.0%} of the CPUs",
        "- Endpoints: every GET under /api/ without path parameters whose `x-access` is `read`, from the server's "
        "/api/openapi.json, plus realistic questions where the endpoint takes them, plus the HTML pages the viewer "
        "may open" + (f"; left out: {'; '.join(run['skipped'])}" if run["skipped"] else ""),
        "",
        f"### One client: first call, then {args.calls} sequential calls",
        "",
        "The first call is the first request for that URL since the server started: for cached endpoints the "
        "computation (unless an earlier URL computed the same document: the pages reuse the API's). The reference "
        "asks the same question of the Python API in-process, uncached, before the server starts "
        f"(first call / median of {args.reference_repeat} more): what every request would cost without the cache. "
        f"While the one client ran ({run['sequential_cpu']['wall']:.0f} s), the server used "
        f"{run['sequential_cpu']['server']:.0%} of the machine's CPUs, other processes "
        f"{run['sequential_cpu']['others']:.0%}.",
        "",
        "| Endpoint | First call, ms | p50, ms | p95, ms | max, ms | Response, KiB | Python API uncached, ms "
        "(first / median) | Cache saves (reference median ÷ p50) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for url, row in seq.items():
        name = f"`{url}`" + (" (page)" if url in run["pages"] else "")
        if row["status"] != 200:
            lines.append(f"| {name} | HTTP {row['status']} | — | — | — | — | — | — |")
            continue
        reference = ref.get(url)
        lines.append(
            f"| {name} | {ms(row['first'])} | {ms(row['p50'], 1)} | {ms(row['p95'], 1)} | {ms(row['max'], 1)} | "
            f"{row['bytes'] / 1024:,.1f} | "
            + (f"{ms(reference['first'])} / {ms(reference['median'])}" if reference else "—")
            + " | "
            + (f"{reference['median'] / row['p50']:,.0f}x" if reference else "—")
            + " |"
        )
    for load in run["loads"]:
        total = load["total"]
        mode = (
            "no pause between a client's requests"
            if not load["think"]
            else f"a pause of {load['think'] / 2:g}-{load['think'] * 1.5:g} s (mean {load['think']:g} s) between a "
            "client's requests"
        )
        lines += [
            "",
            f"### Under load: {args.users} clients for {args.seconds} s, {mode}",
            "",
            f"Locust {run['locust_version']} headless (benchmarks/locustfile.py, FastHttpUser), all clients started "
            f"at once, each cycling over the {len(run['targets'])} targets above from a random start (pages with "
            "the viewer's session cookie, the API with its token); any answer but a 200 counts as a failure. "
            f"Over the {load['wall']:.0f} s of the run the server used {load['server_cpu_share']:.0%} of the "
            f"machine's CPUs, Locust {load['locust_cpu_share']:.0%}, other processes "
            f"{load['others_cpu_share']:.0%}; the server's RSS peaked at {load['server_peak_rss']:,.0f} MiB.",
            "",
            f"- Requests: {total['requests']:,}; failures: {total['failures']:,}; {total['rps']:,.1f} requests/s",
            f"- Response time, all requests: p50 {ms(total['p50'])} ms, p95 {ms(total['p95'])} ms, "
            f"p99 {ms(total['p99'])} ms, max {ms(total['max'])} ms",
            "",
            "| Endpoint | Requests | Failures | p50, ms | p95, ms | p99, ms | max, ms |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, row in load["endpoints"].items():
            lines.append(
                f"| `{name}` | {row['requests']:,} | {row['failures']:,} | {ms(row['p50'])} | {ms(row['p95'])} | "
                f"{ms(row['p99'])} | {ms(row['max'])} |"
            )
        if load["failures"]:
            lines += ["", "Failures:", ""]
            lines += [f"- `{f['name']}`: {f['error']} ({f['count']} times)" for f in load["failures"]]
    inv = run["invalidation"]
    lines += ["", "### Invalidation by an import", ""]
    if "skipped" in inv:
        lines.append(f"Not measured: {inv['skipped']}.")
    elif inv["import_status"] >= 300:
        lines.append(
            f"`POST /api/imports` of {inv['new_leads']} new leads answered HTTP {inv['import_status']}: "
            f"{inv.get('import_error', '')}"
        )
    else:
        counted = (inv["count_after"] or 0) - (inv["count_before"] or 0)
        verdict = "as expected" if counted == inv["new_leads"] else f"NOT the {inv['new_leads']} expected"
        lines += [
            f"{inv['new_leads']} new leads (created 10 minutes before, channel `bench`) imported through "
            f"`POST /api/imports` with the importer's token in {inv['import_ms']:,.0f} ms (HTTP "
            f"{inv['import_status']}). `/api/overview` around it:",
            "",
            "| Call | ms | Leads this quarter so far |",
            "|---|---:|---:|",
            f"| before the import (cached) | {ms(inv['cached_ms'], 1)} | {ms(inv['count_before'])} |",
            f"| first after the import (recomputed) | {ms(inv['after_ms'], 1)} | {ms(inv['count_after'])} |",
            f"| next (cached again) | {ms(inv['again_ms'], 1)} | |",
            "",
            f"The first call after the import counted {counted:+,} leads"
            + f" ({verdict})"
            + (
                f"; the old figures were served for {inv['stale_seconds']:.1f} s after the import"
                if inv["stale_seconds"]
                else "; no stale answer after the import"
            )
            + ".",
        ]
    lines += ["", "### Targets", ""]
    measured = {url: row for url, row in seq.items() if row["status"] == 200}
    over = [f"`{url}` {row['p95']:.0f} ms" for url, row in measured.items() if row["p95"] >= TARGET_P95_MS]
    worst = max(measured.items(), key=lambda item: item[1]["p95"]) if measured else None
    not_ok = [f"`{url}` HTTP {row['status']}" for url, row in seq.items() if row["status"] != 200]
    lines.append(
        f"- Each page's data under {TARGET_P95_MS:.0f} ms at p95 once computed (one client, {args.calls} sequential "
        "calls): "
        + (
            f"**NOT met** for {', '.join(over)}"
            if over
            else f"**met** (worst p95: `{worst[0]}` {worst[1]['p95']:.1f} ms)"
            if worst
            else "nothing measured"
        )
        + (f"; not answered: {', '.join(not_ok)}" if not_ok else "")
    )
    for load in run["loads"]:
        total = load["total"]
        label = "no pause" if not load["think"] else f"mean pause {load['think']:g} s"
        lines.append(
            f"- {args.users} concurrent clients for {args.seconds} s get no errors ({label}): "
            + ("**met**" if total["failures"] == 0 else f"**NOT met**: {total['failures']:,} failures")
            + f" ({total['requests']:,} requests, {total['rps']:,.0f}/s, p95 {ms(total['p95'])} ms under load)"
        )
    for load in run["loads"]:
        total = load["total"]
        label = "no pause" if not load["think"] else f"mean pause {load['think']:g} s"
        slow = [name for name, row in load["endpoints"].items() if row["p95"] >= TARGET_P95_MS]
        lines.append(
            f"- Not a stated target, for comparison: under load ({label}) the p95 of all requests was "
            f"{ms(total['p95'])} ms; {len(slow)} of the {len(load['endpoints'])} targets had a p95 of "
            f"{TARGET_P95_MS:.0f} ms or more"
        )
    return "\n".join(lines) + "\n"


def write_results(section: str) -> None:
    write_section(SECTION, section, RESULTS)


# --- driver -----------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--leads", type=int, default=1_000_000, help="leads in the demo company (default 1,000,000)")
    parser.add_argument("--workspace", type=Path, help="use this workspace instead of building benchmarks/data/...")
    parser.add_argument("--calls", type=int, default=50, help="sequential calls per endpoint after the first")
    parser.add_argument("--reference-repeat", type=int, default=3, help="Python API calls per question after the first")
    parser.add_argument("--users", type=int, default=50, help="concurrent Locust clients")
    parser.add_argument("--seconds", type=int, default=30, help="length of each load run")
    parser.add_argument(
        "--think", default="0,1", help="comma-separated mean pauses (s) between a client's requests, one run each"
    )
    parser.add_argument("--new-leads", type=int, default=100, help="leads imported for the invalidation check")
    parser.add_argument(
        "--max-wait", type=float, default=300, help="seconds to wait for a quiet machine before each measurement"
    )
    parser.add_argument("--write", action="store_true", help="replace the section in benchmarks/RESULTS.md")
    args = parser.parse_args()

    from importlib.metadata import version

    import tandem

    folder = demo_folder(args.leads, args.workspace).resolve()
    load_before = os.getloadavg()
    others_before = wait_quiet(args.max_wait)
    print(f"load average {load_before}, other processes {others_before:.0%} of the CPUs", flush=True)
    with tandem.open_workspace(folder) as ws:
        auth = prepare_users(ws)
        counts = data_counts(ws)
    marker = folder / ".complete"
    built = datetime.fromtimestamp(marker.stat().st_mtime, UTC).strftime("%Y-%m-%d") if marker.exists() else "earlier"
    print(f"workspace {folder}: {counts}", flush=True)
    print("reference: the Python API in-process, uncached ...", flush=True)
    reference = measure_reference(folder, args.reference_repeat)

    out = Path(tempfile.mkdtemp(prefix="bench-server-"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server, ready = start_server(folder, port, out / "server.log")
    args.server_pid = server.pid
    try:
        print(f"tandem serve on {base} (pid {server.pid}) answered after {ready:.1f} s", flush=True)
        auth["session"] = sign_in(base, auth["password"])
        urls, skipped = discover(base)
        pages_all = list(PAGES)
        headers = {
            "api": {"Authorization": f"Bearer {auth['token']}"},
            "page": {"Cookie": f"tandem_session={auth['session']}"},
        }
        print(f"endpoints: {urls}; left out: {skipped}", flush=True)
        wait_quiet(args.max_wait)
        watch = CpuWatch(server.pid)
        watch.start()
        sequential = measure_sequential(base, urls, pages_all, headers, args.calls)
        sequential_cpu = watch.stop()
        pages = [p for p in pages_all if sequential[p]["status"] == 200]
        for page in pages_all:
            if page not in pages:
                sequential.pop(page)  # not a page the viewer has (or not built yet)
        rss_warm = rss_mib(server.pid)
        targets = [{"path": u, "page": False} for u in urls if sequential[u]["status"] == 200]
        targets += [{"path": p, "page": True} for p in pages]
        loads = []
        for think in (float(t) for t in args.think.split(",") if t.strip()):
            wait_quiet(args.max_wait)
            print(f"load: {args.users} clients, {args.seconds} s, think {think:g} s ...", flush=True)
            load = run_locust(base, targets, auth, args, think, out)
            total = load["total"]
            print(
                f"  {total['requests']:,} requests, {total['failures']} failures, {total['rps']:.1f}/s, "
                f"p95 {total['p95']} ms (server CPU {load['server_cpu_share']:.0%}, "
                f"locust {load['locust_cpu_share']:.0%})",
                flush=True,
            )
            loads.append(load)
        print("invalidation ...", flush=True)
        inv = invalidation(base, auth, out, args.new_leads)
        print(f"  {inv}", flush=True)
    finally:
        stop_server(server)
    run = {
        "args": args,
        "command": "python benchmarks/bench_server.py " + " ".join(sys.argv[1:]),
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "counts": counts,
        "built": built,
        "ready": ready,
        "rss_warm": rss_warm,
        "load_before": load_before,
        "others_before": others_before,
        "skipped": skipped,
        "sequential": sequential,
        "sequential_cpu": sequential_cpu,
        "reference": reference,
        "pages": pages,
        "targets": targets,
        "loads": loads,
        "invalidation": inv,
        "locust_version": version("locust"),
    }
    section = report(run)
    print("\n" + section)
    print(f"(server log, Locust CSV and logs in {out})")
    if args.write:
        write_results(section)
        print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
