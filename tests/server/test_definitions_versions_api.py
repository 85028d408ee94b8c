"""The data API counts under the definitions in force, or under the version asked for (``?definitions=N``).

Version 2 makes every webinar attendee an MQL from a day in the future: until then figures are version 1's, and
any question can be asked of version 2 to see what it will count.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.server.routes.funnel import LEADS_LIMIT
from tandem.workspace import Workspace

from .conftest import PASSWORD


@pytest.fixture
def two_versions(app: FastAPI) -> Workspace:
    ws: Workspace = app.state.tandem.workspace
    ws.definitions.guarded = False
    document = ws.definitions.current().document
    ruled = document.replace("- name: mql\n", "- name: mql\n  rule: has_event('webinar_attended')\n", 1)
    author = ws.accounts.authenticate("mark", PASSWORD, "test")
    proposal = ws.definitions.propose(author, ruled, effective_from=date.today() + timedelta(days=30))
    for leader in ("mia", "sam"):
        ws.definitions.approve(ws.accounts.authenticate(leader, PASSWORD, "test"), proposal.id)
    app.state.tandem.definitions_changed()
    return ws


def reached(document: dict[str, object], stage: str) -> int:
    rows = document["rows"]
    assert isinstance(rows, list)
    return sum(row["reached"] for row in rows if row["stage"] == stage)


def test_figures_use_the_version_in_force_and_any_version_on_request(
    two_versions: Workspace, api: Callable[[str], TestClient]
) -> None:
    client = api("val")
    in_force = client.get("/api/funnel").json()
    recounted = client.get("/api/funnel", params={"definitions": 2}).json()
    assert (in_force["definition_version"], recounted["definition_version"]) == (1, 2)
    assert reached(recounted, "mql") > reached(in_force, "mql")
    assert reached(recounted, "won") == reached(in_force, "won")
    assert reached(recounted, "mql") == sum(
        row["reached"] for row in two_versions.funnel(version=2).rows() if row["stage"] == "mql"
    )
    # The drill-down and the velocity take the same parameter, and the drill-down lists what the funnel counts.
    leads = client.get("/api/leads", params={"stage": "mql", "definitions": 2, "limit": LEADS_LIMIT}).json()
    assert leads["definition_version"] == 2
    assert len(leads["rows"]) == min(reached(recounted, "mql"), LEADS_LIMIT)
    velocity = client.get("/api/velocity", params={"from_stage": "mql", "definitions": 2}).json()
    assert velocity["definition_version"] == 2


def test_an_unknown_version_is_refused_naming_the_versions(
    two_versions: Workspace, api: Callable[[str], TestClient]
) -> None:
    refused = api("val").get("/api/funnel", params={"definitions": 9})
    assert refused.status_code == 404  # a version that does not exist (tandem.errors.NotFoundError)
    assert "no definitions version 9; the versions are 1 to 2" in refused.json()["detail"]
