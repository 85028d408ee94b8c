"""The Definitions page and ``/api/definitions``: the stages every figure is computed under, version by version."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.store.models import DefinitionVersion

from .conftest import PASSWORD, Browser

DEMO_STAGES = ["lead", "mql", "sql", "opportunity", "won"]


def test_the_page_shows_the_current_version_and_its_stages_in_order(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/definitions")
    assert page.status_code == 200
    assert "Version 1 (current)" in page.text
    current = page.text.split('id="current-definitions"')[1].split("</section>")[0]
    assert re.findall(r'<tr data-stage="([^"]+)"', current) == DEMO_STAGES


def test_the_page_shows_each_stage_with_its_side_and_the_definitions_file(
    signed_in: Callable[[str], Browser],
) -> None:
    page = signed_in("val").get("/definitions").text
    assert '<tr data-stage="mql"><td>2</td><td>mql</td><td>marketing</td>' in page
    assert '<tr data-stage="won"><td>5</td><td>won</td><td>sales</td>' in page
    assert '<pre id="definitions-file">' in page
    assert "No proposals yet." in page


def test_an_open_proposal_shows_what_it_changes_and_whom_it_waits_for(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    workspace = app.state.tandem.workspace
    current = workspace.definitions.current().document
    loosened = current.replace("- name: mql\n", "- name: mql\n  rule: employees >= 20\n", 1)
    assert loosened != current
    author = workspace.accounts.authenticate("mia", PASSWORD, "test")
    proposal = workspace.definitions.propose(author, loosened, note="MQL needs 20 employees")
    page = signed_in("val").get("/definitions").text
    row = page.split(f'<tr data-proposal="{proposal.id}" data-status="open">')[1].split("</tr>")[0]
    assert "MQL needs 20 employees" in row
    assert f'<a href="/definitions/proposals/{proposal.id}">#{proposal.id}</a>' in row  # its page, to decide on it
    assert "waiting for marketing and sales" in row
    body = api("val").get("/api/definitions").json()
    assert [p["id"] for p in body["proposals"]] == [proposal.id]
    assert body["proposals"][0]["waiting_for"] == ["marketing", "sales"]
    assert "employees >= 20" in body["proposals"][0]["document"]


def test_the_api_gives_the_current_version_and_the_history(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    body = api("val").get("/api/definitions").json()
    assert body["current"]["version"] == 1
    assert body["current"]["stages"] == app.state.tandem.workspace.stages == DEMO_STAGES
    assert set(body["current"]) == {
        "version",
        "stages",
        "created_at",
        "created_by",
        "note",
        "effective_from",
        "proposal_id",
        "document",
        "definitions",
    }
    assert [stage["name"] for stage in body["current"]["definitions"]["stages"]] == DEMO_STAGES
    assert body["in_force"] == 1
    assert body["versions"] == [{k: v for k, v in body["current"].items() if k not in ("document", "definitions")}]
    assert body["proposals"] == []


def test_one_version_by_number_and_a_missing_one_is_404(api: Callable[[str], TestClient]) -> None:
    reader = api("val")
    assert reader.get("/api/definitions/1").json()["stages"] == DEMO_STAGES
    missing = reader.get("/api/definitions/99")
    assert missing.status_code == 404
    assert missing.json()["detail"] == "no definitions version 99; the versions are 1 to 1"


def test_a_new_version_becomes_current_and_the_old_one_stays_in_the_history(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    second = DefinitionVersion(
        version=2,
        stages=["lead", "mql", "sal", "sql", "opportunity", "won"],
        created_at=datetime(2026, 1, 5, 9, 30),
        created_by="mia",
        note="SAL added: sales accepts a lead before qualifying it",
    )
    app.state.tandem.workspace.store.write(lambda session: session.add(second))
    body = api("val").get("/api/definitions").json()
    assert [v["version"] for v in body["versions"]] == [1, 2]
    assert body["current"]["stages"][2] == "sal"
    page = signed_in("val").get("/definitions").text
    assert "Version 2 (current)" in page
    assert "SAL added: sales accepts a lead before qualifying it" in page
    assert re.findall(r'<tr data-version="(\d+)"', page) == ["2", "1"]


def test_signing_in_is_needed(client: TestClient) -> None:
    assert client.get("/api/definitions").status_code == 401
    assert client.get("/definitions").headers["location"] == "/login?next=/definitions"


def test_the_page_shows_the_weekly_loosening_signal_the_api_computes(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    document = api("val").get("/api/definitions/signal").json()
    page = signed_in("val").get("/definitions").text
    section = page.split('id="loosening-signal"')[1].split("</section>")[0]
    assert f'data-status="{document["status"]}"' in page
    assert f"<strong>{document['status']}</strong>" in section
    shown_weeks = re.findall(r"<tr><td>(\d{4}-\d{2}-\d{2})</td>", section)
    assert shown_weeks == [week["week"] for week in document["weeks"][-8:]]
