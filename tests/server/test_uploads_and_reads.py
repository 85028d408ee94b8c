"""Web imports next to the dashboard (issue 16, item 8): a page already computed is served while another process
imports, uploads live under the workspace and a killed server's are removed at the next start, the import log
names the uploaded file rather than a temporary path, and an import killed before its audit entry is recorded when
the server starts."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem import open_workspace
from tandem.server import create_app
from tandem.server.uploads import UPLOADS

from .conftest import Browser
from .test_imports_pages import NEW_LEADS, upload

HOLD_THE_WAREHOUSE = """
import sys
import tandem
ws = tandem.open_workspace(sys.argv[1])
ws.warehouse.acquire("write")
print("held", flush=True)
sys.stdin.readline()
"""


@pytest.fixture
def writer(served: Path) -> Iterator[Callable[[], subprocess.Popen[str]]]:
    """Start another process that holds the warehouse's write lease (an import in progress) until the test ends."""
    started: list[subprocess.Popen[str]] = []

    def start() -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-c", HOLD_THE_WAREHOUSE, str(served)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        started.append(process)
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        return process

    yield start
    for process in started:
        process.communicate("\n", timeout=60)


def with_setting(served: Path, name: str, value: int) -> None:
    config = served / "tandem.toml"
    text = config.read_text(encoding="utf-8")
    line = f"{name} = {value}\n"
    text = (
        text.replace("[settings]\n", "[settings]\n" + line)
        if "[settings]\n" in text
        else text + "\n[settings]\n" + line
    )
    config.write_text(text, encoding="utf-8")


def waiting_one_second(served: Path) -> FastAPI:
    """The app on `served`, where a wait for the warehouse ends in a "still busy" error after one second."""
    with_setting(served, "warehouse_wait_seconds", 1)
    return create_app(served)


def bearer(app: FastAPI, username: str) -> dict[str, str]:
    _, secret = app.state.tandem.workspace.accounts.create_token("test", username, "tests")
    return {"Authorization": f"Bearer {secret}"}


def test_a_page_computed_before_an_import_is_served_while_it_runs(
    served: Path, writer: Callable[[], subprocess.Popen[str]]
) -> None:
    app = waiting_one_second(served)
    with TestClient(app, headers=bearer(app, "eve")) as client:
        first = client.get("/api/overview")
        assert first.status_code == 200
        state = app.state.tandem
        hits = state.cache.hits
        state._data_versions = (1.0, state._data_versions[1])  # the versions are due to be read again,
        state._data_fingerprint = None  # and the file counts as changed
        writer()
        during = client.get("/api/overview")
        assert during.status_code == 200
        assert during.json() == first.json()
        assert state.cache.hits == hits + 1


def test_an_uncomputed_page_waits_for_the_import_and_says_who_holds_the_warehouse(
    served: Path, writer: Callable[[], subprocess.Popen[str]]
) -> None:
    app = waiting_one_second(served)
    with TestClient(app, headers=bearer(app, "eve")) as client:
        process = writer()
        answer = client.get("/api/funnel")
        assert answer.status_code == 503
        assert answer.headers["Retry-After"] == "30"
        assert f"(process {process.pid}, writing since" in answer.json()["detail"]


def test_a_killed_servers_upload_folders_are_removed_when_the_next_one_starts(served: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(ended.stdout)
    running = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        root = served / UPLOADS
        for name, owner in (("upload-dead", str(dead_pid)), ("upload-alive", str(running.pid)), ("upload-bare", None)):
            (root / name).mkdir(parents=True)
            (root / name / "leads.csv").write_text("lead_id\nL1\n", encoding="utf-8")
            if owner is not None:
                (root / name / ".owner").write_text(owner, encoding="ascii")
        create_app(served)
        assert sorted(p.name for p in root.iterdir()) == ["upload-alive"]
    finally:
        running.communicate(b"", timeout=60)


def test_an_upload_is_kept_under_the_workspace_only_while_it_is_imported(
    app: FastAPI, served: Path, signed_in: Callable[[str], Browser]
) -> None:
    upload(signed_in("mia"), NEW_LEADS)
    assert list((served / UPLOADS).iterdir()) == []


def test_the_import_log_names_the_uploaded_file_not_a_temporary_path(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    upload(signed_in("mia"), NEW_LEADS)
    newest = app.state.tandem.workspace.imports(1)[0]
    assert (newest["file_name"], newest["file_path"]) == ("new-leads.csv", "uploaded by mia: new-leads.csv")
    assert app.state.tandem.workspace.audit_log(1)[0]["details"]["file"] == "new-leads.csv"


def test_the_server_records_an_import_a_killed_process_left_out_of_the_audit_log(served: Path) -> None:
    leads = served / "more.csv"
    leads.write_text("lead_id,created_at,channel\nZ1,2026-01-04 09:00,email\n", encoding="utf-8")
    script = (
        "import sys, tandem\n"
        "ws = tandem.open_workspace(sys.argv[1])\n"
        "tandem.Workspace.record = lambda *a, **k: __import__('os')._exit(9)\n"
        "ws.import_files('leads', [sys.argv[2]], actor='bob')\n"
    )
    killed = subprocess.run([sys.executable, "-c", script, str(served), str(leads)], check=False)
    assert killed.returncode == 9
    with open_workspace(served) as ws:
        number = ws.imports(1)[0]["import_id"]
        assert [p.message.split(" (")[0] for p in ws.verify_audit().problems] == [f"import {number}"]
    app = create_app(served)
    entry = app.state.tandem.workspace.audit_log(1)[0]
    assert (entry["actor"], entry["action"], entry["details"]["import_id"]) == ("bob", "data.import", number)
    assert entry["details"]["recorded_late"] is True
    assert app.state.tandem.workspace.verify_audit().ok
    assert os.path.exists(leads)
