"""`tandem demo`: the generated company goes through the same import path as users' files."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys
from pathlib import Path

import pytest

import tandem
from tandem import WorkspaceError
from tandem.demo_workspace import IMPORT_ORDER, build_demo

TODAY = dt.date(2026, 11, 23)


def test_demo_imports_every_table_and_rebuilding_it_changes_nothing(tmp_path: Path) -> None:
    lines: list[str] = []
    with build_demo(tmp_path / "demo", leads=2_000, seed=3, today=TODAY, echo=lines.append) as ws:
        first = ws.status()["tables"]
        assert all(first[table] > 0 for table in IMPORT_ORDER)
        assert first["leads"] == 2_000
    with build_demo(tmp_path / "demo", leads=2_000, seed=3, today=TODAY, echo=lines.append) as ws:
        assert ws.status()["tables"] == first
        latest = ws.imports(len(IMPORT_ORDER))
    assert {(r["added"], r["updated"]) for r in latest} == {(0, 0)}, "same seed, same day: the same company"
    assert any("leads: 2,000 added" in line for line in lines)


def test_demo_refuses_a_folder_that_is_not_a_workspace(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(WorkspaceError, match="exists and is not a tandem workspace"):
        build_demo(tmp_path, leads=500)


def test_demo_command_without_serving(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tandem.cli", "demo", "-w", str(tmp_path / "d"), "--leads", "1000", "--no-serve"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "demo ready in" in done.stderr
    with tandem.open_workspace(tmp_path / "d") as ws:
        assert ws.status()["tables"]["leads"] == 1000
