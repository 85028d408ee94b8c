"""An import killed with SIGKILL leaves the warehouse exactly as it was, and large files are streamed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import duckdb
import pytest

import tandem
from tandem import Workspace

from .conftest import WorkspaceFactory, write

# Runs in a child process: import FILE into the workspace, printing each phase as it starts.
IMPORTER = textwrap.dedent(
    """
    import sys, tandem
    ws = tandem.open_workspace(sys.argv[1])
    ws.import_files(sys.argv[2], [sys.argv[3]], progress=lambda phase, *_: print(phase, flush=True))
    print("done", flush=True)
    """
)


def make_events(path: Path, leads: int, per_lead: int = 5) -> Path:
    """A stage-events CSV for leads L0..L{leads-1}, written by DuckDB (fast, and not by the code under test)."""
    stages = "['lead', 'mql', 'sql', 'opportunity', 'won']"
    duckdb.sql(
        f"""COPY (SELECT 'L' || l AS lead_id, {stages}[s + 1] AS stage,
                  TIMESTAMP '2025-01-01' + INTERVAL (l % 500) DAY + INTERVAL (s * 7) DAY AS occurred_at,
                  'crm' AS source
                  FROM range({leads}) r(l), range({per_lead}) q(s))
            TO '{path}' (HEADER, DELIMITER ',')"""
    )
    return path


def make_leads(path: Path, leads: int) -> Path:
    duckdb.sql(
        f"""COPY (SELECT 'L' || l AS lead_id, TIMESTAMP '2025-01-01' + INTERVAL (l % 500) DAY AS created_at
                  FROM range({leads}) r(l)) TO '{path}' (HEADER, DELIMITER ',')"""
    )
    return path


def state(ws: Workspace) -> dict[str, object]:
    """Counts, a checksum of the events table and the import log: equal before and after a killed import."""
    events = ws.warehouse.table("stage_events")
    return {
        "counts": ws.warehouse.counts(),
        "columns": ws.warehouse.columns("stage_events"),
        "events": events.aggregate(n=events.count(), stages=events.stage.nunique(), last=events.occurred_at.max())
        .to_pyarrow()
        .to_pylist(),
        "imports": [(r["import_id"], r["added"]) for r in ws.imports()],
    }


@pytest.mark.parametrize("phase", ["reading", "writing"])
def test_a_killed_import_leaves_the_warehouse_as_it_was(
    make_workspace: WorkspaceFactory, tmp_path: Path, phase: str
) -> None:
    ws = make_workspace()
    leads = 300_000
    ws.import_files("leads", [make_leads(tmp_path / "leads.csv", leads)])
    ws.import_files("stage_events", [make_events(tmp_path / "first.csv", 1000, per_lead=2)])
    before = state(ws)
    ws.close()

    big = make_events(tmp_path / "events.csv", leads)  # 1.5M rows, with an extra attribute column: `source`
    child = subprocess.Popen(
        [sys.executable, "-c", IMPORTER, str(ws.path), "stage_events", str(big)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    for line in child.stdout:
        if line.startswith(phase):
            time.sleep(0.3)
            break
    child.send_signal(signal.SIGKILL)
    child.wait(timeout=60)
    child.stdout.close()
    assert child.returncode == -signal.SIGKILL, "the import finished before it could be killed"

    with tandem.open_workspace(ws.path) as reopened:
        assert state(reopened) == before
        (result,) = reopened.import_files("stage_events", [big])  # and the same import then succeeds
        assert result.added == leads * 5 - 2000


@pytest.mark.slow
def test_a_two_gigabyte_file_is_streamed(tmp_path: Path) -> None:
    """Peak memory of the importing process is bounded by the memory setting, not by the file's size."""
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.import_files("leads", [make_leads(tmp_path / "leads.csv", 2_000_000)])
    config = tmp_path / "ws" / "tandem.toml"
    config.write_text(config.read_text() + "duckdb_memory_gb = 1\n")
    big = tmp_path / "events.csv"
    duckdb.sql(
        f"""COPY (SELECT 'L' || (l % 2000000) AS lead_id, 'mql' AS stage,
                  TIMESTAMP '2020-01-01' + INTERVAL (l) SECOND AS occurred_at,
                  repeat('x', 60) AS note
                  FROM range(24000000) r(l)) TO '{big}' (HEADER, DELIMITER ',')"""
    )
    size = big.stat().st_size
    assert size > 2 * 1024**3
    script = IMPORTER + textwrap.dedent(
        """
        import resource, json
        print(json.dumps({"rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}), flush=True)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "ws"), "stage_events", str(big)],
        capture_output=True,
        text=True,
        check=True,
        timeout=1200,
    )
    peak = json.loads(done.stdout.strip().splitlines()[-1])["rss"]
    assert peak < 0.9 * size, f"peak RSS {peak / 1e9:.2f} GB for a {size / 1e9:.2f} GB file"
    with tandem.open_workspace(tmp_path / "ws") as ws:
        assert ws.warehouse.counts()["stage_events"] == 24_000_000


def test_the_import_log_and_data_commit_together(workspace: Workspace, tmp_path: Path) -> None:
    """The import log says what each import wrote, and every row names the import that last wrote it."""
    workspace.import_files("leads", [write(tmp_path / "a.csv", "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-02\n")])
    workspace.import_files("leads", [write(tmp_path / "b.csv", "lead_id,created_at\nL2,2026-01-05\nL3,2026-01-02\n")])
    leads = workspace.warehouse.table("leads")
    per_import = leads.group_by("_import_id").aggregate(n=leads.count()).to_pyarrow().to_pylist()
    written = {r["_import_id"]: r["n"] for r in per_import}
    log = {r["import_id"]: (r["added"], r["updated"]) for r in workspace.imports()}
    assert log == {1: (2, 0), 2: (1, 1)}
    assert written == {1: 1, 2: 2}, "L2 now carries the import that last wrote it"
