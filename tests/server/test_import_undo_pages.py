"""Undo from the web app (the Imports page's confirmation, ``POST /api/imports/{id}/undo``) and the upload's
``lenient`` field: only the roles that may import may undo, an undo is audited, and cached figures recompute."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.testclient import TestClient

from .conftest import Browser
from .test_imports_pages import NEW_LEADS, count, rows, upload

FIXTURES = Path(__file__).resolve().parents[1] / "data" / "presets"


def api_upload(client: TestClient, content: bytes | str, name: str, **fields: str) -> object:
    return client.post("/api/imports", data={"kind": "leads", **fields}, files={"file": (name, content, "text/csv")})


def test_undo_through_the_api(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    mia, val = api("mia"), api("val")
    before = count(val, "leads")
    created = mia.post("/api/imports", data={"kind": "leads"}, files={"file": ("new.csv", NEW_LEADS, "text/csv")})
    assert created.status_code == 201, created.text
    number = created.json()["imports"][0]["import_id"]
    assert count(val, "leads") == before + 3

    assert val.post(f"/api/imports/{number}/undo").status_code == 403
    preview = mia.post(f"/api/imports/{number}/undo", params={"dry_run": "true"})
    assert preview.json()["undo"] == {
        "import_id": number,
        "undo_id": None,
        "table": "leads",
        "file": "new.csv",
        "sha256": created.json()["imports"][0]["sha256"],
        "removed": {"leads": 3},
        "restored": {"leads": 0},
        "dry_run": True,
    }
    assert count(val, "leads") == before + 3

    done = mia.post(f"/api/imports/{number}/undo")
    assert done.status_code == 200, done.text
    assert (done.json()["undo"]["undo_id"], done.json()["undo"]["removed"]) == (number + 1, {"leads": 3})
    assert count(val, "leads") == before  # the cached status was recomputed
    entry = app.state.tandem.workspace.audit_log(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("mia", "data.undo", "leads")

    again = mia.post(f"/api/imports/{number}/undo")
    assert again.status_code == 409
    assert again.json()["detail"].startswith(f"import {number} was already undone by import {number + 1} on ")
    missing = mia.post("/api/imports/99999/undo")
    assert missing.status_code == 404
    assert (
        missing.json()["detail"]
        == f"no import 99999: imports are numbered 1 to {number + 1} (`tandem imports` lists them)"
    )
    listed = {r["import_id"]: r for r in val.get("/api/imports").json()["imports"]}
    assert (listed[number]["undone_by"], listed[number + 1]["undo_of"], listed[number + 1]["removed"]) == (
        number + 1,
        number,
        3,
    )


def test_undo_from_the_imports_page_after_a_confirmation(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    mia = signed_in("mia")
    upload(mia, NEW_LEADS)
    number = app.state.tandem.workspace.imports(1)[0]["import_id"]
    before = count(api("val"), "leads")

    history = mia.get("/imports").text
    assert f'href="/imports/{number}/undo"' in history
    assert "/undo" not in signed_in("val").get("/imports").text  # a viewer sees no undo
    assert signed_in("val").get(f"/imports/{number}/undo").status_code == 403

    confirm = mia.get(f"/imports/{number}/undo")
    assert confirm.status_code == 200
    assert rows(confirm.text, "undo-counts") == [["leads", "3", "0"]]
    assert count(api("val"), "leads") == before  # the confirmation changed nothing

    done = mia.form(f"/imports/{number}/undo")
    assert done.status_code == 200
    assert (
        f"import {number} (new-leads.csv -&gt; leads) undone (logged as import {number + 1}): leads: 3 removed, "
        "0 put back." in done.text
    )
    newest, undone = rows(done.text, "import-history")[:2]
    assert (newest[0], newest[-1]) == (str(number + 1), f"undo of #{number}: 3 removed")
    assert (undone[0], undone[-1]) == (str(number), f"undone by #{number + 1}")
    assert count(api("val"), "leads") == before - 3

    refused = mia.form(f"/imports/{number}/undo")
    assert refused.status_code == 409
    assert f"import {number} was already undone by import {number + 1} on " in refused.text


def test_a_wrong_file_is_refused_unless_lenient(api: Callable[[str], TestClient], tmp_path: Path) -> None:
    deals = shutil.copy(FIXTURES / "hubspot-deals.csv", tmp_path / "deals.csv")
    content = Path(deals).read_bytes()
    mia = api("mia")
    refused = api_upload(mia, content, "deals.csv", mapping="hubspot-contacts")
    assert refused.status_code == 400  # type: ignore[attr-defined]
    assert refused.json()["detail"].startswith(  # type: ignore[attr-defined]
        "deals.csv does not look like a file for mapping 'hubspot-contacts': 7 of the 11 columns it expects are "
        "missing (Email, Company Name, "
    )
    taken = api_upload(mia, content, "deals.csv", mapping="hubspot-contacts", lenient="true")
    assert taken.status_code == 201, taken.text  # type: ignore[attr-defined]
    (result,) = [r for r in taken.json()["imports"] if r["table"] == "leads"]  # type: ignore[attr-defined]
    assert result["missing_columns"] == [
        "Email",
        "Company Name",
        "Country/Region",
        "Industry",
        "Contact owner",
        "HubSpot Score",
        "Number of Employees",
    ]


def test_the_page_says_what_a_lenient_import_lacked_and_that_a_file_came_before(
    signed_in: Callable[[str], Browser], tmp_path: Path
) -> None:
    content = (FIXTURES / "hubspot-deals.csv").read_bytes()
    mia = signed_in("mia")
    refused = upload(mia, content, name="deals.csv", mapping="hubspot-contacts")
    assert refused.status_code == 400
    assert "deals.csv does not look like a file for mapping &#39;hubspot-contacts&#39;" in refused.text
    page = upload(mia, content, name="deals.csv", mapping="hubspot-contacts", lenient="true")
    assert page.status_code == 200
    notes = [line for line in page.text.splitlines() if 'class="muted import-note"' in line]
    assert notes == [
        '<p class="muted import-note">deals.csv lacks columns the mapping expects, imported without them: Email, '
        "Company Name, Country/Region, Industry, Contact owner, HubSpot Score, Number of Employees</p>"
    ]
    again = upload(mia, content, name="deals.csv", kind="opportunities", mapping="hubspot-deals")
    assert "warning: the same file (sha256 " in again.text
    assert "was imported into leads as import " in again.text
