"""The `known_at` rule through a workspace's own imports: two imports, the imports log's times, the documents and
the command line's footnote.

Import #1 (finished Jan 10) brings d1 (open, Demo, 100), d2 (open, Demo, 400) and d4 (lost on Jan 8). Import #2
(finished Feb 10) brings d2 won on Feb 5 (Closed Won, 400) and a new d3 (open, Proposal, 250); d1 and d4 are
unchanged, so their rows stay written by #1. The warehouse keeps only the latest values: what d2 looked like on
Jan 15 is not kept, so it is unknown then, not today's "Closed Won".

The imports run now; the test then sets their times in the imports log, as if they had run on those days.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from tandem import Workspace
from tandem.cli import app
from tandem.questions import PipelineQuestion, RevenueQuestion, ask

from ..conftest import WorkspaceFactory

IMPORTED = {1: datetime(2026, 1, 10), 2: datetime(2026, 2, 10)}


def _deals(rows: list[tuple[Any, ...]]) -> pa.Table:
    names = ("opportunity_id", "created_at", "status", "amount", "close_date", "stage")
    columns = list(zip(*rows, strict=True))
    types = (pa.string(), pa.timestamp("us"), pa.string(), pa.float64(), pa.date32(), pa.string())
    return pa.table({n: pa.array(c, t) for n, c, t in zip(names, columns, types, strict=True)})


FIRST = _deals(
    [
        ("d1", datetime(2026, 1, 2), "open", 100.0, None, "Demo"),
        ("d2", datetime(2026, 1, 5), "open", 400.0, None, "Demo"),
        ("d4", datetime(2026, 1, 3), "lost", 0.0, date(2026, 1, 8), "Closed Lost"),
    ]
)
SECOND = _deals(
    [
        ("d1", datetime(2026, 1, 2), "open", 100.0, None, "Demo"),
        ("d2", datetime(2026, 1, 5), "won", 400.0, date(2026, 2, 5), "Closed Won"),
        ("d3", datetime(2026, 1, 20), "open", 250.0, None, "Proposal"),
        ("d4", datetime(2026, 1, 3), "lost", 0.0, date(2026, 1, 8), "Closed Lost"),
    ]
)


def set_import_times(ws: Workspace, times: dict[int, datetime]) -> None:
    """Say in the imports log that import N ran at `times[N]` (literal SQL: the same on DuckDB and PostgreSQL)."""
    with ws.warehouse.transaction() as cur:
        for import_id, finished in times.items():
            started = finished - timedelta(minutes=1)
            cur.execute(
                f"UPDATE import_log SET started_at = TIMESTAMP '{started:%Y-%m-%d %H:%M:%S}', "
                f"finished_at = TIMESTAMP '{finished:%Y-%m-%d %H:%M:%S}' WHERE import_id = {int(import_id)}"
            )


@pytest.fixture
def ws(make_workspace: WorkspaceFactory, tmp_path: Path) -> Workspace:
    workspace = make_workspace()
    for number, table in enumerate((FIRST, SECOND), start=1):
        path = tmp_path / f"deals{number}.parquet"
        pq.write_table(table, path)
        (result,) = workspace.import_files("opportunities", [path])
        assert result.import_id == number
    set_import_times(workspace, IMPORTED)
    return workspace


def revenue_row(ws: Workspace, as_of: datetime) -> tuple[Any, ...]:
    (row,) = ws.revenue(as_of=as_of).rows()
    columns = ("won_revenue", "won_deals", "lost_deals", "open_pipeline", "open_deals", "open_unknown_amount_deals")
    return tuple(row[c] for c in columns)


def pipeline_rows(ws: Workspace, as_of: datetime) -> list[tuple[Any, ...]]:
    found = [
        (r["stage"], r["age_bin"], r["deals"], r["amount"], r["unknown_deals"]) for r in ws.pipeline(as_of=as_of).rows()
    ]
    return sorted(found, key=lambda r: (r[0] is None, r[0] or "", r[1]))


def test_rows_written_after_the_moment_are_unknown_then(ws: Workspace) -> None:
    # Jan 9, before both imports: d4 lost on Jan 8 (recorded); d1 and d2 open, their values unknown
    assert revenue_row(ws, datetime(2026, 1, 9)) == (0.0, 0, 1, 0.0, 2, 2)
    assert pipeline_rows(ws, datetime(2026, 1, 9)) == [(None, "0-30", 2, None, 2)]
    # Jan 15: d1 known since #1; d2's row was rewritten by #2, so its Jan 15 values are gone
    assert revenue_row(ws, datetime(2026, 1, 15)) == (0.0, 0, 1, 100.0, 2, 1)
    assert pipeline_rows(ws, datetime(2026, 1, 15)) == [("Demo", "0-30", 1, 100.0, 0), (None, "0-30", 1, None, 1)]
    # Feb 7: d2 won on Feb 5 (closing is recorded, though written on Feb 10); d3 open and unknown
    assert revenue_row(ws, datetime(2026, 2, 7)) == (400.0, 1, 1, 100.0, 2, 1)
    assert pipeline_rows(ws, datetime(2026, 2, 7)) == [("Demo", "30-60", 1, 100.0, 0), (None, "0-30", 1, None, 1)]
    # Mar 1, after both: today's values
    assert revenue_row(ws, datetime(2026, 3, 1)) == (400.0, 1, 1, 350.0, 2, 0)
    assert pipeline_rows(ws, datetime(2026, 3, 1)) == [
        ("Demo", "30-60", 1, 100.0, 0),
        ("Proposal", "30-60", 1, 250.0, 0),
    ]


def test_todays_view_is_unchanged(ws: Workspace) -> None:
    """Now is after every import: every open deal is valued, as before the rule."""
    (row,) = ws.revenue().rows()
    assert (row["open_pipeline"], row["open_deals"], row["open_unknown_amount_deals"]) == (350.0, 2, 0)


def test_documents_say_how_many_open_deals_were_unknown(ws: Workspace) -> None:
    revenue = ask(ws, RevenueQuestion.parse(as_of="2026-01-09"))
    pipeline = ask(ws, PipelineQuestion.parse(as_of="2026-01-09"))
    assert (revenue["unknown_open_deals"], pipeline["unknown_open_deals"]) == (2, 2)
    assert ask(ws, PipelineQuestion.parse(as_of="2026-03-01"))["unknown_open_deals"] == 0


def test_the_command_line_says_it_in_a_footnote(ws: Workspace) -> None:
    folder = ws.path
    ws.close()  # the command opens the workspace itself (DuckDB: one connection per file)
    runner = CliRunner()
    past = runner.invoke(app, ["pipeline", "--as-of", "2026-01-15", "-w", str(folder)], terminal_width=200)
    assert past.exit_code == 0, past.output
    assert (
        "1 open deal as of 2026-01-15: stage and amount not known then (written by a later import), "
        "so not counted in open pipeline"
    ) in past.output
    revenue = runner.invoke(app, ["revenue", "--as-of", "2026-01-09", "-w", str(folder)], terminal_width=200)
    assert revenue.exit_code == 0, revenue.output
    assert "2 open deals as of 2026-01-09: stage and amount not known then" in revenue.output
    today = runner.invoke(app, ["pipeline", "-w", str(folder)], terminal_width=200)
    assert today.exit_code == 0, today.output
    assert "not known then" not in today.output
