"""The `tandem` command as a user runs it: real processes, real exit codes, stdout and stderr apart."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import write

TANDEM = [sys.executable, "-m", "tandem.cli"]


def run(
    *args: str | Path, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*TANDEM, *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        timeout=120,
        check=False,
    )


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    folder = tmp_path / "ws"
    done = run("init", folder)
    assert done.returncode == 0, done.stderr
    return folder


def test_init_prints_what_it_made(tmp_path: Path) -> None:
    done = run("init", tmp_path / "acme", "--stages", "inquiry,mql,sal,sqo,won")
    assert done.returncode == 0
    assert "Created workspace acme" in done.stdout
    assert "inquiry -> mql -> sal -> sqo -> won (definition version 1)" in done.stdout


def test_import_then_status_as_json(ws: Path, tmp_path: Path) -> None:
    leads = write(tmp_path / "leads.csv", "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-03\n")
    done = run("import", "leads", leads, "--workspace", ws)
    assert done.returncode == 0, done.stderr
    assert "import #1: " in done.stdout
    assert "leads: 2 added, 0 updated, 0 unchanged" in done.stdout
    status = run("status", "--format", "json", env={"TANDEM_WORKSPACE": str(ws)})
    document = json.loads(status.stdout)
    assert document["tables"]["leads"] == 2
    assert document["definition_version"] == 1
    assert document["last_import"]["added"] == 2


def test_import_json_reports_counts(ws: Path, tmp_path: Path) -> None:
    leads = write(tmp_path / "leads.csv", "lead_id,created_at\nL1,2026-01-02\n")
    run("import", "leads", leads, "-w", ws)
    again = run("import", "leads", leads, "-w", ws, "--format", "json")
    (record,) = json.loads(again.stdout)["imports"]
    assert (record["added"], record["updated"], record["unchanged"]) == (0, 0, 1)


def test_bad_input_exits_1_with_the_place_on_stderr(ws: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "lead_id,created_at\nL1,someday\n")
    done = run("import", "leads", bad, "-w", ws)
    assert done.returncode == 1
    assert done.stdout == ""
    assert "bad.csv, line 2, column 'created_at': value 'someday': cannot be read" in done.stderr.replace("\n", " ")


def test_skip_invalid_names_the_rejects_file(ws: Path, tmp_path: Path) -> None:
    bad = write(tmp_path / "bad.csv", "lead_id,created_at\nL1,someday\nL2,2026-01-02\n")
    done = run("import", "leads", bad, "-w", ws, "--skip-invalid")
    assert done.returncode == 0
    assert "1 added" in done.stdout
    assert "1 rejected" in done.stdout
    assert "bad.csv.rejected.csv" in done.stderr


def test_usage_errors_exit_2(ws: Path) -> None:
    assert run("import", "-w", ws).returncode == 2
    assert run("status", "--format", "yaml", "-w", ws).returncode == 2
    assert run("no-such-command").returncode == 2


def test_unknown_table_exits_1(ws: Path, tmp_path: Path) -> None:
    done = run("import", "deals", write(tmp_path / "d.csv", "a\n1\n"), "-w", ws)
    assert done.returncode == 1
    assert "unknown table 'deals'; tandem imports one of: leads, stage_events" in done.stderr


def test_outside_a_workspace_the_error_says_how_to_make_one(tmp_path: Path) -> None:
    done = run("status", cwd=tmp_path, env={"TANDEM_WORKSPACE": ""})
    assert done.returncode == 1
    assert "tandem init DIR" in done.stderr


def test_imports_lists_history(ws: Path, tmp_path: Path) -> None:
    leads = write(tmp_path / "leads.csv", "lead_id,created_at\nL1,2026-01-02\n")
    run("import", "leads", leads, "-w", ws)
    run("import", "leads", leads, "-w", ws)
    listed = json.loads(run("imports", "-w", ws, "--format", "json").stdout)["imports"]
    assert [r["import_id"] for r in listed] == [2, 1]
    assert [r["added"] for r in listed] == [0, 1]
    assert "leads.csv" in run("imports", "-w", ws).stdout


def test_mappings_lists_the_presets() -> None:
    done = run("mappings")
    for preset in ("hubspot-contacts", "hubspot-deals", "salesforce-leads", "salesforce-opportunities"):
        assert preset in done.stdout


def test_settings_lists_every_setting_with_help(ws: Path) -> None:
    from tandem.settings import SETTINGS

    done = run("settings", "-w", ws)
    for setting in SETTINGS:
        assert setting.name in done.stdout
