"""The web app's first page: the workspace at a glance, every route declaring who may use it."""

from __future__ import annotations

import re
from pathlib import Path

from fastapi.testclient import TestClient

import tandem
from tandem.server import create_app

from .conftest import write


def client_for(tmp_path: Path) -> TestClient:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.import_files("leads", [write(tmp_path / "l.csv", "lead_id,created_at\nL1,2026-01-02\nL2,2026-01-03\n")])
    return TestClient(create_app(tmp_path / "ws"))


def test_overview_page_shows_tables_stages_and_last_import(tmp_path: Path) -> None:
    page = client_for(tmp_path).get("/")
    assert page.status_code == 200
    assert "<td>leads</td><td class=n>2</td>" in page.text
    assert "lead &rarr; mql &rarr; sql &rarr; opportunity &rarr; won" in page.text
    assert "Last import #1: l.csv into leads" in page.text


def test_status_api_matches_the_python_api(tmp_path: Path) -> None:
    client = client_for(tmp_path)
    document = client.get("/api/status").json()
    with tandem.open_workspace(tmp_path / "ws") as ws:
        assert document["tables"] == ws.status()["tables"]


def test_every_route_declares_its_access(tmp_path: Path) -> None:
    schema = client_for(tmp_path).get("/openapi.json").json()
    operations = [op for path in schema["paths"].values() for op in path.values()]
    assert operations
    assert all(op.get("x-access") in {"public"} for op in operations)


def test_the_page_requests_nothing_outside_the_server(tmp_path: Path) -> None:
    page = client_for(tmp_path).get("/").text
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", page)
