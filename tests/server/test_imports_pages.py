"""The Imports page and ``/api/imports``: uploads go through the same validation as `tandem import`.

An upload is atomic and idempotent, names its problems by line, records who made it, and makes every cached
figure recompute. Only the roles with the import permission (admin, marketing, sales) may upload.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from html.parser import HTMLParser
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.server.routes import imports as imports_module

from .conftest import Browser

NOW = datetime.now(UTC).strftime("%Y-%m-%d %H:%M")
#: Three leads created this minute: they count in this quarter's figures.
NEW_LEADS = f"lead_id,created_at,channel\nW-1,{NOW},webinar\nW-2,{NOW},webinar\nW-3,{NOW},email\n"
#: Line 3 has an impossible date, line 4 no key, line 5 no date at all; line 2 is fine.
BAD_LEADS = "lead_id,created_at,channel\nB-1,2025-01-05,email\nB-2,31/02/2025,email\n,2025-01-07,web\nB-4,soon,web\n"


class _Tables(HTMLParser):
    """The cells of each table of a page, by table id: enough to read a page as a user does."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: str | None = None
        self._in_body = False
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = dict(attrs).get("id") or ""
            self.tables[self._table] = []
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.tables[self._table].append([])
        elif tag == "td" and self._in_body:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def rows(html: str, table_id: str) -> list[list[str]]:
    """The body rows of the table with this id, as lists of cell texts."""
    parser = _Tables()
    parser.feed(html)
    assert table_id in parser.tables, f"no table #{table_id} on the page"
    return parser.tables[table_id]


def upload(
    browser: Browser,
    content: str | bytes,
    *,
    name: str = "new-leads.csv",
    kind: str = "leads",
    skip_invalid: bool = False,
    **fields: str,
) -> Any:
    """Submit the upload form as a browser does (with the CSRF token)."""
    data = {"kind": kind, **fields, **({"skip_invalid": "true"} if skip_invalid else {})}
    return browser.form("/imports", data, files={"file": (name, content, "text/csv")})


def count(api_client: TestClient, table: str) -> int:
    return int(api_client.get("/api/status").json()["tables"][table])


# --- uploading from the page --------------------------------------------------------------------------------------
def test_an_upload_adds_the_rows_and_shows_in_the_history_under_the_uploader(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    before = count(api("val"), "leads")
    page = upload(signed_in("mia"), NEW_LEADS)
    assert page.status_code == 200
    assert "Imported new-leads.csv (leads)." in page.text
    [result] = rows(page.text, "import-summary")
    assert result[1:8] == ["leads", "new-leads.csv", "3", "3", "0", "0", "0"]
    assert count(api("val"), "leads") == before + 3
    newest = rows(signed_in("val").get("/imports").text, "import-history")[0]
    assert newest[2:5] == ["mia", "leads", "new-leads.csv"]
    assert app.state.tandem.workspace.imports(1)[0]["actor"] == "mia"


def test_an_upload_is_written_to_the_audit_log(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    upload(signed_in("mia"), NEW_LEADS)
    entry = app.state.tandem.workspace.audit_log(1)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == ("mia", "data.import", "leads")
    assert entry["details"]["file"].endswith("new-leads.csv")
    assert entry["details"]["added"] == 3


def test_an_upload_makes_cached_figures_recompute(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    reader = api("val")

    def leads_this_quarter() -> int:
        volumes = reader.get("/api/overview").json()["stage_volumes"]
        return int(next(row["reached"] for row in volumes if row["stage"] == "lead"))

    before = leads_this_quarter()
    assert leads_this_quarter() == before  # the second answer comes from the cache
    upload(signed_in("mia"), NEW_LEADS)
    assert leads_this_quarter() == before + 3


def test_bad_dates_and_a_missing_key_are_listed_by_line_and_nothing_is_imported(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    before = api("val").get("/api/status").json()["tables"]
    imports_before = len(app.state.tandem.workspace.imports())
    page = upload(signed_in("mia"), BAD_LEADS, name="leads.csv")
    assert page.status_code == 422
    assert "3 problems found; nothing was imported" in page.text
    problems = rows(page.text, "import-errors")
    # file, line, column, value, problem, expected: line numbers count the header as line 1, as the CLI does
    assert [(p[0], p[1], p[2], p[3]) for p in problems] == [
        ("leads.csv", "3", "created_at", "31/02/2025"),
        ("leads.csv", "4", "lead_id", ""),
        ("leads.csv", "5", "created_at", "soon"),
    ]
    assert problems[1][4] == "missing value"
    assert "date" in problems[0][5]
    assert api("val").get("/api/status").json()["tables"] == before
    assert len(app.state.tandem.workspace.imports()) == imports_before


def test_skip_invalid_imports_the_good_rows_and_lists_the_rejected_with_reasons(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    before = count(api("val"), "leads")
    page = upload(signed_in("mia"), BAD_LEADS, name="leads.csv", skip_invalid=True)
    assert page.status_code == 200
    assert count(api("val"), "leads") == before + 1
    assert rows(page.text, "rejected-rows") == [
        ["leads.csv", "3", "created_at: cannot be read"],
        ["leads.csv", "4", "lead_id: missing value"],
        ["leads.csv", "5", "created_at: cannot be read"],
    ]


def test_the_same_file_twice_changes_nothing_the_second_time(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    mia = signed_in("mia")
    upload(mia, NEW_LEADS)
    after_first = api("val").get("/api/status").json()["tables"]
    again = upload(mia, NEW_LEADS)
    [result] = rows(again.text, "import-summary")
    assert result[4:8] == ["0", "0", "3", "0"]  # added, updated, unchanged, rejected
    assert api("val").get("/api/status").json()["tables"] == after_first


def test_an_uploaded_mapping_file_maps_the_columns(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    mapping = b"""
table = "leads"
[columns]
lead_id = "Contact ID"
created_at = { column = "Created", format = "%d/%m/%Y" }
"""
    page = signed_in("mia").form(
        "/imports",
        {"kind": "leads"},
        files={
            "file": ("crm.csv", b"Contact ID,Created,Region\nC-1,05/01/2026,EMEA\n", "text/csv"),
            "mapping_file": ("crm-leads.toml", mapping, "application/toml"),
        },
    )
    assert page.status_code == 200, page.text
    assert (
        "region" in rows(page.text, "import-summary")[0][8]
    )  # a column beyond the canonical ones is kept as an attribute
    assert app.state.tandem.workspace.imports(1)[0]["mapping"] == "crm-leads"


# --- who may upload -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("reader", ["val", "eve"])
def test_viewers_and_execs_see_the_history_but_no_upload_form(signed_in: Callable[[str], Browser], reader: str) -> None:
    page = signed_in(reader).get("/imports")
    assert page.status_code == 200
    assert 'id="import-history"' in page.text
    assert 'id="upload-form"' not in page.text


@pytest.mark.parametrize("uploader", ["ada", "mia", "sam"])
def test_admins_marketing_and_sales_get_the_upload_form(signed_in: Callable[[str], Browser], uploader: str) -> None:
    page = signed_in(uploader).get("/imports")
    assert '<form id="upload-form" method="post" action="/imports" enctype="multipart/form-data"' in page.text
    assert 'name="csrf_token"' in page.text
    assert '<option value="hubspot-contacts"' in page.text


def test_a_viewer_cannot_upload_from_the_page_or_the_api(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    assert upload(signed_in("val"), NEW_LEADS).status_code == 403
    response = api("val").post("/api/imports", data={"kind": "leads"}, files={"file": ("x.csv", NEW_LEADS)})
    assert response.status_code == 403
    assert count(api("val"), "leads") == count(api("sam"), "leads")
    assert "W-1" not in str(api("val").get("/api/imports").json())


def test_a_browser_upload_without_the_csrf_token_is_refused(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    imports_before = len(app.state.tandem.workspace.imports())
    response = signed_in("mia").post(
        "/imports", data={"kind": "leads"}, files={"file": ("new-leads.csv", NEW_LEADS, "text/csv")}
    )
    assert response.status_code == 403
    assert "CSRF" in response.text
    assert len(app.state.tandem.workspace.imports()) == imports_before


# --- file names and sizes -----------------------------------------------------------------------------------------
def test_a_path_in_the_file_name_is_dropped(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    page = upload(signed_in("mia"), NEW_LEADS, name="../../etc/passwd.csv")
    assert page.status_code == 200
    assert app.state.tandem.workspace.imports(1)[0]["file_name"] == "passwd.csv"


def test_a_program_is_refused_with_a_message(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    imports_before = len(app.state.tandem.workspace.imports())
    page = upload(signed_in("mia"), b"MZ\x90\x00", name="setup.exe")
    assert page.status_code == 400
    assert "its name must end in .csv, .parquet, .txt, .tsv" in page.text
    assert len(app.state.tandem.workspace.imports()) == imports_before


def test_a_mapping_preset_cannot_name_a_file_on_the_server(signed_in: Callable[[str], Browser]) -> None:
    page = upload(signed_in("mia"), NEW_LEADS, mapping="/etc/tandem/secret.toml")
    assert page.status_code == 400
    assert "no mapping preset called &#39;/etc/tandem/secret.toml&#39;" in page.text


def test_an_unknown_table_is_shown_as_an_error(signed_in: Callable[[str], Browser]) -> None:
    page = upload(signed_in("mia"), NEW_LEADS, kind="widgets")
    assert page.status_code == 400
    assert "no table called &#39;widgets&#39;; tables: leads, stage_events" in page.text


def test_an_upload_over_the_size_cap_is_refused(
    monkeypatch: pytest.MonkeyPatch, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    monkeypatch.setattr(imports_module, "MAX_UPLOAD_BYTES", 100)
    page = upload(signed_in("mia"), NEW_LEADS + "W-4,2026-01-05,email\n" * 5)
    assert page.status_code == 413
    assert "the upload is larger than 100 bytes" in page.text
    assert "split the file" in page.text
    monkeypatch.setattr(imports_module, "FORM_ALLOWANCE", 0)  # now the request body itself is over the cap
    response = api("sam").post("/api/imports", data={"kind": "leads"}, files={"file": ("big.csv", NEW_LEADS * 3)})
    assert response.status_code == 413
    assert "split the file" in response.json()["detail"]


def test_a_body_sent_without_its_length_is_stopped_while_it_streams_in(
    monkeypatch: pytest.MonkeyPatch, api: Callable[[str], TestClient]
) -> None:
    monkeypatch.setattr(imports_module, "MAX_UPLOAD_BYTES", 100)
    monkeypatch.setattr(imports_module, "FORM_ALLOWANCE", 200)
    small_file = b"lead_id,created_at\nW-9,2026-01-05\n"  # under the cap on its own: the body as a whole is not
    parts = [
        b'--cut\r\nContent-Disposition: form-data; name="kind"\r\n\r\nleads\r\n',
        b'--cut\r\nContent-Disposition: form-data; name="padding"\r\n\r\n' + b"x" * 1000 + b"\r\n",
        b'--cut\r\nContent-Disposition: form-data; name="file"; filename="small.csv"\r\n\r\n' + small_file,
        b"\r\n--cut--\r\n",
    ]
    response = api("sam").post(  # an iterator is sent chunked, without a Content-Length
        "/api/imports", content=iter(parts), headers={"Content-Type": "multipart/form-data; boundary=cut"}
    )
    assert response.status_code == 413
    assert "split the file" in response.json()["detail"]


# --- the REST API -------------------------------------------------------------------------------------------------
def test_the_api_upload_answers_201_with_what_the_import_did(api: Callable[[str], TestClient]) -> None:
    response = api("sam").post(
        "/api/imports", data={"kind": "leads"}, files={"file": ("../webinar.csv", NEW_LEADS, "text/csv")}
    )
    assert response.status_code == 201, response.text
    [result] = response.json()["imports"]
    assert set(result) == {
        "import_id",
        "table",
        "file",
        "sha256",
        "rows_read",
        "added",
        "updated",
        "unchanged",
        "rejected",
        "filtered",
        "created_leads",
        "new_attributes",
        "derived",
        "left_out",
        "unknown_leads",
        "note",
        "missing_columns",
        "notes",
    }
    assert (result["table"], result["file"], result["rows_read"], result["added"]) == ("leads", "webinar.csv", 3, 3)
    assert len(result["sha256"]) == 64
    history = api("val").get("/api/imports", params={"limit": 1}).json()["imports"]
    assert [(h["import_id"], h["actor"], h["file_name"]) for h in history] == [
        (result["import_id"], "sam", "webinar.csv")
    ]


def test_the_api_answers_422_with_every_problem(api: Callable[[str], TestClient]) -> None:
    response = api("sam").post("/api/imports", data={"kind": "leads"}, files={"file": ("leads.csv", BAD_LEADS)})
    assert response.status_code == 422
    body = response.json()
    assert body["detail"] == "3 problems found; nothing was imported"
    assert body["problems"] == 3
    assert body["issues"][1] == {
        "file": "leads.csv",
        "line": 4,
        "column": "lead_id",
        "value": None,
        "problem": "missing value",
        "expected": "a value for lead_id",
    }


def test_the_api_with_skip_invalid_returns_the_rejected_rows(api: Callable[[str], TestClient]) -> None:
    response = api("sam").post(
        "/api/imports",
        data={"kind": "leads", "skip_invalid": "true"},
        files={"file": ("leads.csv", BAD_LEADS)},
    )
    assert response.status_code == 201
    body = response.json()
    assert (body["imports"][0]["added"], body["imports"][0]["rejected"]) == (1, 3)
    assert [row["line"] for row in body["rejected_rows"]] == [3, 4, 5]


def test_the_api_lists_imports_newest_first_like_the_cli(api: Callable[[str], TestClient]) -> None:
    listed = api("val").get("/api/imports", params={"limit": 2}).json()["imports"]
    assert len(listed) == 2
    assert listed[0]["import_id"] > listed[1]["import_id"]
    assert {"import_id", "table_name", "file_name", "sha256", "actor", "finished_at", "added", "rejected"} <= set(
        listed[0]
    )
