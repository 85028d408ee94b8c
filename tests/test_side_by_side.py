"""The dashboard, command-line reads, imports and a cron alerts run work at the same time on one workspace.

Real processes, as a company runs them: `tandem serve` under concurrent page and API loads, `tandem status` in a
loop, `tandem import` one batch after another, and `tandem alerts run` as cron starts it. None gets an error, and
every reader sees a consistent workspace: each import adds exactly `BATCH` leads and logs itself in the same
transaction, so in any snapshot the lead count and the newest import number agree. A read that saw half an import
would break the equation.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tandem import Workspace

from .conftest import WorkspaceFactory, write

BATCH = 2_000
BASE = 5_000
BATCHES = 4
TANDEM = str(Path(sys.executable).with_name("tandem"))
ALERT_RULES = """\
destinations:
  log: {webhook: "http://127.0.0.1:9/unreachable"}
rules:
  - name: mql-behind
    signal: stage_pace
    subject: mql
    below: 0.85
    min_sample: 30
    send_to: [log]
"""


def make_leads(path: Path, first: int, count: int) -> Path:
    """Leads L{first}..L{first+count-1}, written by DuckDB (not by the code under test)."""
    duckdb.sql(
        f"""COPY (SELECT 'L' || l AS lead_id, TIMESTAMP '2026-01-01' + INTERVAL (l % 300) DAY AS created_at,
                  ['webinar', 'search', 'outbound'][l % 3 + 1] AS channel
                  FROM range({first}, {first + count}) r(l)) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([TANDEM, *args], capture_output=True, text=True, input=stdin, timeout=600, check=False)


def consistent(status: dict[str, Any], base_import: int) -> tuple[int, int]:
    """(leads, newest import) of a status document, checked to be a state between two whole imports."""
    leads = status["tables"]["leads"]
    newest = status["last_import"]["import_id"]
    assert leads == BASE + BATCH * (newest - base_import), f"a mixed snapshot: {leads} leads after import {newest}"
    return leads, newest


@pytest.fixture
def served(make_workspace: WorkspaceFactory) -> Iterator[tuple[Workspace, str, str]]:
    """A workspace with `BASE` leads, served by `tandem serve` in its own process; (workspace, origin, token)."""
    ws = make_workspace()
    ws.import_files("leads", [make_leads(ws.path / "base.csv", 0, BASE)])
    ws.accounts.create_user("tests", "ana", "admin", password="correct horse battery")
    _, token = ws.accounts.create_token("tests", "ana", "side by side")
    write(ws.path / "alerts.yaml", ALERT_RULES)
    ws.close()
    port = free_port()
    log = ws.path / "serve.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [TANDEM, "serve", "-w", str(ws.path), "--port", str(port)], stdout=output, stderr=subprocess.STDOUT
        )
    origin = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{origin}/login", timeout=5).close()
            break
        except (urllib.error.URLError, ConnectionError):
            assert server.poll() is None, f"tandem serve ended: {log.read_text()}"
            assert time.monotonic() < deadline, "tandem serve did not answer within 60 s"
            time.sleep(0.2)
    try:
        yield ws, origin, token
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
    assert "Traceback" not in log.read_text(), log.read_text()


def get(origin: str, token: str, path: str) -> dict[str, Any]:
    """GET `path` with the API token: the JSON document of an API route, or {"html": ...} for a page."""
    request = urllib.request.Request(f"{origin}{path}", headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=600) as response:
        assert response.status == 200
        body = response.read()
    return json.loads(body) if path.startswith("/api/") else {"html": body.decode()}  # type: ignore[no-any-return]


def test_serve_reads_imports_and_cron_work_at_the_same_time(served: tuple[Workspace, str, str]) -> None:
    ws, origin, token = served
    base_import = get(origin, token, "/api/status")["last_import"]["import_id"]
    stop = threading.Event()
    failures: list[str] = []
    seen_by_pages: list[tuple[int, int]] = []
    seen_by_cli: list[tuple[int, int]] = []

    def page_loads(path: str) -> None:
        while not stop.is_set():
            try:
                document = get(origin, token, path)
                if path == "/api/status":
                    seen_by_pages.append(consistent(document, base_import))
            except Exception as exc:
                failures.append(f"GET {path}: {exc!r}")

    def cli_reads() -> None:
        while not stop.is_set():
            done = run("status", "-w", str(ws.path), "--format", "json")
            if done.returncode:
                failures.append(f"tandem status: {done.stderr.strip()}")
                continue
            try:
                seen_by_cli.append(consistent(json.loads(done.stdout), base_import))
            except AssertionError as exc:
                failures.append(str(exc))

    readers = [
        threading.Thread(target=page_loads, args=(path,))
        for path in ("/api/status", "/api/status", "/api/funnel?by=channel", "/api/imports", "/", "/funnel")
    ] + [threading.Thread(target=cli_reads)]
    for reader in readers:
        reader.start()
    try:
        alerts = subprocess.Popen(
            [TANDEM, "alerts", "run", "-w", str(ws.path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for batch in range(BATCHES):
            first = BASE + batch * BATCH
            imported = run(
                "import", "leads", str(make_leads(ws.path / f"b{batch}.csv", first, BATCH)), "-w", str(ws.path)
            )
            assert imported.returncode == 0, imported.stderr
            assert f"{BATCH:,} added" in imported.stdout
        _, alerts_err = alerts.communicate(timeout=600)
        assert alerts.returncode in (0, 1), alerts_err  # 1: a delivery failed (the webhook is unreachable)
        assert "in use" not in alerts_err
        assert "Traceback" not in alerts_err
        time.sleep(2.5)  # the server re-reads the data version at most once a second
    finally:
        stop.set()
        for reader in readers:
            reader.join(timeout=600)

    assert failures == []
    final = get(origin, token, "/api/status")
    assert consistent(final, base_import) == (BASE + BATCHES * BATCH, base_import + BATCHES)
    assert len(seen_by_cli) >= 2
    assert len(seen_by_pages) >= 10
    # Readers saw the workspace grow, one whole import at a time, and never go back.
    assert sorted(seen_by_cli) == seen_by_cli
    assert {newest for _, newest in seen_by_pages} <= set(range(base_import, base_import + BATCHES + 1))


def test_a_killed_import_beside_a_served_workspace_loses_nothing(served: tuple[Workspace, str, str]) -> None:
    ws, origin, token = served
    before = get(origin, token, "/api/status")
    big = make_leads(ws.path / "big.csv", BASE, 400_000)
    child = subprocess.Popen(
        [TANDEM, "import", "leads", str(big), "-w", str(ws.path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(1.5)  # inside the import: reading the file or writing it
    os.kill(child.pid, signal.SIGKILL)
    child.wait(timeout=60)
    time.sleep(1.5)
    after = get(origin, token, "/api/status")
    assert after["tables"] == before["tables"]
    assert after["last_import"] == before["last_import"]
    # The dead process's lease went with it: the next import and read go through.
    again = run("import", "leads", str(make_leads(ws.path / "next.csv", BASE, BATCH)), "-w", str(ws.path))
    assert again.returncode == 0, again.stderr
    status = json.loads(run("status", "-w", str(ws.path), "--format", "json").stdout)
    assert status["tables"]["leads"] == BASE + BATCH
