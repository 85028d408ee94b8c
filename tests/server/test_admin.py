"""The Admin page and its API: admins manage users and tokens, execs read the audit log, nobody else gets in.

Every change goes through `tandem.accounts.Accounts` and lands in the hash-chained audit log, which the page and
``GET /api/audit/verify`` check: an edited or deleted entry is named by its sequence number.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import delete, select, update

from tandem.store.models import ApiToken, AuditEntry
from tandem.workspace import Workspace

from .conftest import Browser, sign_in

Api = Callable[[str], TestClient]
SignedIn = Callable[[str], Browser]


def _workspace(app: FastAPI) -> Workspace:
    workspace: Workspace = app.state.tandem.workspace
    return workspace


def _shown_secret(html: str, box: str) -> str:
    """The password or token a result page shows once, in the box with that id."""
    found = re.search(rf'id="{box}".*?<code class="secret">([^<]+)</code>', html, re.S)
    assert found, html
    return found.group(1)


def _bearer(app: FastAPI, secret: str) -> TestClient:
    return TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"})


def _section(html: str, element_id: str) -> str:
    """The markup of one element of a page (up to its closing tag), to look for things in that place only."""
    start = html.index(f'id="{element_id}"')
    tag = html[:start].rsplit("<", 1)[1].split()[0]
    return html[start : html.index(f"</{tag}>", start)]


# --- adding users ---------------------------------------------------------------------------------------------
def test_an_admin_adds_a_user_whose_one_time_password_is_shown_once_and_signs_in(
    app: FastAPI, signed_in: SignedIn
) -> None:
    ada = signed_in("ada")
    page = ada.form("/admin/users", {"username": "nina", "display_name": "Nina Park", "role": "sales"})
    assert page.status_code == 200
    assert "User nina added." in page.text
    assert 'data-user="nina"' in _section(page.text, "users-table")
    password = _shown_secret(page.text, "one-time-password")

    assert password not in ada.get("/admin").text  # shown once, never again

    with TestClient(app, follow_redirects=False) as nina:
        signed = sign_in(nina, "nina", password)
        assert signed.headers["location"] == "/account"  # type: ignore[attr-defined]  # must choose her own first

    created = _workspace(app).audit_log(limit=10)
    assert any(e["action"] == "user.create" and e["actor"] == "ada" and e["target"] == "nina" for e in created)


def test_a_password_given_by_the_admin_is_not_shown_back(signed_in: SignedIn) -> None:
    page = signed_in("ada").form(
        "/admin/users", {"username": "otto", "role": "viewer", "password": "chosen-by-the-admin-1"}
    )
    assert "User otto added." in page.text
    assert 'id="one-time-password"' not in page.text


def test_a_refused_addition_shows_why_on_the_page(signed_in: SignedIn) -> None:
    ada = signed_in("ada")
    taken = ada.form("/admin/users", {"username": "val", "role": "viewer"})
    assert taken.status_code == 409  # the name is taken: a conflict
    assert "exists already" in taken.text
    viewer_leader = ada.form("/admin/users", {"username": "vic", "role": "viewer", "leader": "true"})
    assert viewer_leader.status_code == 422  # a request tandem cannot use
    assert "only marketing and sales users can be leaders" in viewer_leader.text


# --- changing users -------------------------------------------------------------------------------------------
def test_a_role_change_takes_effect_and_signs_the_user_out(app: FastAPI, signed_in: SignedIn) -> None:
    mark = signed_in("mark")
    page = signed_in("ada").form("/admin/users/mark/role", {"role": "sales", "leader": "true"})
    assert "mark is now sales (leader)." in page.text
    user = _workspace(app).accounts.user("mark")
    assert (user.role, user.is_leader) == ("sales", True)
    assert mark.get("/").status_code == 303  # signed out: signs in again under the new role


def test_a_disabled_user_can_no_longer_sign_in_nor_use_a_token(app: FastAPI, signed_in: SignedIn, api: Api) -> None:
    sid_program = api("sid")
    assert sid_program.get("/api/me").status_code == 200
    ada = signed_in("ada")

    page = ada.form("/admin/users/sid/disable")
    assert "sid is disabled" in page.text
    assert sid_program.get("/api/me").status_code == 401
    with TestClient(app, follow_redirects=False) as browser:
        assert sign_in(browser, "sid").status_code == 401  # type: ignore[attr-defined]

    ada.form("/admin/users/sid/enable")
    assert sid_program.get("/api/me").status_code == 401, "disabling revoked the token: enabling does not revive it"


def test_a_reset_password_is_shown_once_and_replaces_the_old_one(app: FastAPI, signed_in: SignedIn) -> None:
    page = signed_in("ada").form("/admin/users/val/password")
    password = _shown_secret(page.text, "one-time-password")
    with TestClient(app, follow_redirects=False) as browser:
        assert sign_in(browser, "val").status_code == 401  # type: ignore[attr-defined]
        assert sign_in(browser, "val", password).status_code == 303  # type: ignore[attr-defined]


def test_an_admin_changes_their_own_password_on_the_account_page_not_here(signed_in: SignedIn) -> None:
    refused = signed_in("ada").form("/admin/users/ada/password")
    assert refused.status_code == 400
    assert "Account page" in refused.text


def test_the_last_admin_can_be_neither_disabled_nor_demoted(app: FastAPI, signed_in: SignedIn, api: Api) -> None:
    page = signed_in("ada").form("/admin/users/ada/disable")
    assert page.status_code == 409
    assert "without an active admin" in page.text

    demoted = api("ada").patch("/api/users/ada", json={"role": "viewer"})
    assert demoted.status_code == 409
    assert "without an active admin" in demoted.json()["detail"]
    assert _workspace(app).accounts.user("ada").role == "admin"


def test_an_admin_who_demotes_themself_is_sent_to_sign_in_again(signed_in: SignedIn, api: Api) -> None:
    api("ada").post("/api/users", json={"username": "bea", "role": "admin", "password": "another-admin-pw"})
    ada = signed_in("ada")
    response = ada.form("/admin/users/ada/role", {"role": "exec"})
    assert response.status_code == 303
    assert response.headers["location"] == "/login"


# --- tokens ---------------------------------------------------------------------------------------------------
def test_an_api_token_works_once_copied_and_only_its_hash_is_stored(app: FastAPI, api: Api) -> None:
    admin = api("ada")
    created = admin.post("/api/tokens", json={"username": "val", "name": "wall dashboard"})
    assert created.status_code == 201
    token, secret = created.json()["token"], created.json()["secret"]
    assert (token["username"], token["role"], token["revoked_at"]) == ("val", "viewer", None)

    with _bearer(app, secret) as program:
        assert program.get("/api/me").json()["username"] == "val"

        with _workspace(app).store.session() as s:
            stored = s.scalars(select(ApiToken).where(ApiToken.id == token["id"])).one()
        assert stored.token_hash == hashlib.sha256(secret.encode()).hexdigest()
        assert secret not in {stored.token_hash, stored.prefix, stored.name}
        assert secret.startswith(stored.prefix)

        revoked = admin.delete(f"/api/tokens/{token['id']}")
        assert revoked.status_code == 200
        assert revoked.json()["revoked_at"] is not None
        assert program.get("/api/me").status_code == 401

    assert admin.delete(f"/api/tokens/{token['id']}").status_code == 200  # revoking twice changes nothing
    assert any(t["id"] == token["id"] and t["revoked_at"] for t in admin.get("/api/tokens").json()["tokens"])


def test_a_token_carries_its_owners_role_or_viewer_only(api: Api) -> None:
    admin = api("ada")
    read_only = admin.post("/api/tokens", json={"username": "mia", "name": "reports", "role": "viewer"})
    assert read_only.json()["token"]["role"] == "viewer"
    above = admin.post("/api/tokens", json={"username": "mia", "name": "reports", "role": "admin"})
    assert above.status_code == 422
    assert "may carry the marketing or viewer role" in above.json()["detail"]


def test_tokens_made_and_revoked_on_the_page(app: FastAPI, signed_in: SignedIn) -> None:
    ada = signed_in("ada")
    page = ada.form("/admin/tokens", {"username": "mia", "name": "campaign sync"})
    secret = _shown_secret(page.text, "new-token")
    token_id = re.search(r"Token #(\d+) created for mia", page.text).group(1)  # type: ignore[union-attr]
    with _bearer(app, secret) as program:
        assert program.get("/api/me").json()["role"] == "marketing"
        revoked = ada.form(f"/admin/tokens/{token_id}/revoke")
        assert f"Token #{token_id} of mia revoked." in revoked.text
        assert program.get("/api/me").status_code == 401
    assert secret not in ada.get("/admin").text


def test_the_tokens_of_one_user_and_of_no_such_user(app: FastAPI, api: Api) -> None:
    admin = api("ada")
    admin.post("/api/tokens", json={"username": "mia", "name": "campaign sync"})
    mias = admin.get("/api/tokens", params={"user": "Mia"}).json()["tokens"]
    assert [(t["username"], t["name"]) for t in mias] == [("mia", "campaign sync")]
    assert all(t["created_at"].endswith("Z") for t in mias)  # stored in UTC, and said so
    unknown = admin.get("/api/tokens", params={"user": "nobody"})
    assert unknown.status_code == 404
    assert "no user named 'nobody'" in unknown.json()["detail"]
    malformed = admin.get("/api/tokens", params={"user": "no body"})
    assert (malformed.status_code, malformed.json()["field"]) == (422, "user")


def test_a_demotion_revokes_the_tokens_carrying_the_old_role(app: FastAPI, api: Api) -> None:
    admin = api("ada")
    admin.post("/api/users", json={"username": "bea", "role": "admin", "password": "another-admin-pw"})
    automation = admin.post("/api/tokens", json={"username": "bea", "name": "automation"}).json()
    admin.patch("/api/users/bea", json={"role": "viewer"})
    with _bearer(app, automation["secret"]) as program:
        assert program.get("/api/users").status_code == 401
    revoked = next(t for t in admin.get("/api/tokens").json()["tokens"] if t["id"] == automation["token"]["id"])
    assert revoked["revoked_at"] is not None


# --- who may do what ------------------------------------------------------------------------------------------
ADMIN_FORMS = [
    ("/admin/users", {"username": "zed", "role": "viewer"}),
    ("/admin/users/val/role", {"role": "sales"}),
    ("/admin/users/val/disable", {}),
    ("/admin/users/val/enable", {}),
    ("/admin/users/val/password", {}),
    ("/admin/tokens", {"username": "val", "name": "x"}),
    ("/admin/tokens/1/revoke", {}),
]


def test_an_exec_reads_users_tokens_and_the_audit_log_but_changes_nothing(signed_in: SignedIn, api: Api) -> None:
    eve = signed_in("eve")
    page = eve.get("/admin")
    assert page.status_code == 200
    assert 'data-user="ada"' in _section(page.text, "users-table")
    assert "user.create" in _section(page.text, "audit-table")
    assert 'id="audit-verify"' in page.text
    assert 'id="add-user-form"' not in page.text
    assert 'action="/admin/users/val/disable"' not in page.text
    for url, data in ADMIN_FORMS:
        assert eve.form(url, data).status_code == 403, url

    program = api("eve")
    assert program.get("/api/audit").status_code == 200
    assert program.get("/api/audit/verify").status_code == 200
    assert program.get("/api/users").status_code == 403
    assert program.get("/api/tokens").status_code == 403
    assert program.post("/api/users", json={"username": "zed", "role": "viewer"}).status_code == 403
    assert program.patch("/api/users/val", json={"disabled": True}).status_code == 403
    assert program.post("/api/users/val/password").status_code == 403
    assert program.post("/api/tokens", json={"username": "val", "name": "x"}).status_code == 403
    assert program.delete("/api/tokens/1").status_code == 403


def test_a_viewer_sees_neither_the_admin_page_nor_the_audit_log(signed_in: SignedIn, api: Api) -> None:
    val = signed_in("val")
    assert val.get("/admin").status_code == 403
    assert 'href="/admin"' not in val.get("/").text  # not in the menu either
    program = api("val")
    assert program.get("/api/audit").status_code == 403
    assert program.get("/api/audit/verify").status_code == 403


def test_admin_forms_need_the_csrf_token(signed_in: SignedIn) -> None:
    ada = signed_in("ada")
    assert ada.post("/admin/users/val/disable").status_code == 403
    assert ada.form("/admin/users/val/disable").status_code == 200


# --- the users API --------------------------------------------------------------------------------------------
def test_the_api_adds_a_user_with_a_one_time_password(app: FastAPI, api: Api) -> None:
    admin = api("ada")
    created = admin.post("/api/users", json={"username": "Otto", "role": "sales", "leader": True})
    assert created.status_code == 201
    user, password = created.json()["user"], created.json()["one_time_password"]
    assert (user["username"], user["role"], user["is_leader"], user["must_change_password"]) == (
        "otto",
        "sales",
        True,
        True,
    )
    assert user["created_at"].endswith("Z")  # stored in UTC, and said so
    with TestClient(app, follow_redirects=False) as browser:
        assert sign_in(browser, "otto", password).status_code == 303  # type: ignore[attr-defined]

    given = admin.post("/api/users", json={"username": "pia", "role": "viewer", "password": "her-own-password"})
    assert given.json()["one_time_password"] is None
    assert admin.post("/api/users", json={"username": "pia", "role": "viewer"}).status_code == 409
    assert {u["username"] for u in admin.get("/api/users").json()["users"]} >= {"otto", "pia", "ada"}


def test_the_api_changes_and_resets_users(app: FastAPI, api: Api) -> None:
    admin = api("ada")
    changed = admin.patch("/api/users/mark", json={"role": "sales", "display_name": "Mark Lee"})
    assert changed.status_code == 200
    assert (changed.json()["role"], changed.json()["display_name"]) == ("sales", "Mark Lee")
    assert admin.patch("/api/users/mark", json={"disabled": True}).json()["disabled"] is True

    reset = admin.post("/api/users/val/password")
    assert reset.status_code == 200
    with TestClient(app, follow_redirects=False) as browser:
        assert sign_in(browser, "val", reset.json()["one_time_password"]).status_code == 303  # type: ignore[attr-defined]

    actions = {(e["action"], e["target"]) for e in admin.get("/api/audit", params={"limit": 5}).json()["entries"]}
    assert {("user.update", "mark"), ("user.password", "val")} <= actions


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x", "role": "viewer"},
        {"username": "a" * 65, "role": "viewer"},
        {"username": "bad name", "role": "viewer"},
        {"username": "zed", "role": "boss"},
        {"username": "zed", "role": "viewer", "password": ""},
        {"username": "zed", "role": "viewer", "display_name": "line\nbreak"},
        {"username": "zed", "role": "viewer", "shoe_size": 44},
    ],
)
def test_a_bad_new_user_is_422(api: Api, body: dict[str, object]) -> None:
    assert api("ada").post("/api/users", json=body).status_code == 422


def test_bad_requests_are_422_and_unknown_users_and_tokens_404(api: Api) -> None:
    admin = api("ada")
    assert admin.patch("/api/users/val", json={"role": "boss"}).status_code == 422
    assert admin.patch("/api/users/val", json={"disabled": "maybe"}).status_code == 422
    assert admin.patch("/api/users/val", json={"disabled": 0}).status_code == 422  # true or false, nothing else
    assert admin.post("/api/tokens", json={"username": "val", "name": ""}).status_code == 422
    assert admin.delete("/api/tokens/0").status_code == 422
    assert admin.delete(f"/api/tokens/{2**40}").status_code == 422
    assert admin.get("/api/audit", params={"limit": 0}).status_code == 422
    assert admin.get("/api/audit", params={"limit": 1001}).status_code == 422
    assert admin.get("/api/audit/verify", params={"expect_head": "not-a-hash"}).status_code == 422

    assert admin.patch("/api/users/nobody", json={}).status_code == 404
    assert admin.post("/api/users/nobody/password").status_code == 404
    assert admin.post("/api/tokens", json={"username": "nobody", "name": "x"}).status_code == 404
    assert admin.delete("/api/tokens/999999").status_code == 404
    assert "no user named 'nobody'" in admin.patch("/api/users/nobody", json={}).json()["detail"]


def test_the_api_schema_states_the_constraints(client: TestClient) -> None:
    schema = client.get("/api/openapi.json").json()
    new_user = schema["components"]["schemas"]["NewUser"]["properties"]
    assert (new_user["username"]["minLength"], new_user["username"]["maxLength"]) == (2, 64)
    assert schema["paths"]["/api/users"]["post"]["x-access"] == "admin"
    assert schema["paths"]["/api/audit"]["get"]["x-roles"] == ["admin", "exec"]
    limit = next(p for p in schema["paths"]["/api/audit"]["get"]["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["minimum"], limit["schema"]["maximum"]) == (1, 1000)


# --- the audit log --------------------------------------------------------------------------------------------
def test_the_audit_log_pages_newest_first(app: FastAPI, signed_in: SignedIn, api: Api) -> None:
    program, eve = api("eve"), signed_in("eve")
    ws = _workspace(app)
    for number in range(150):
        ws.record("tests", "test.note", f"note {number}")
    newest = program.get("/api/audit", params={"limit": 3}).json()["entries"]
    assert [e["target"] for e in newest] == ["note 149", "note 148", "note 147"]
    older = program.get("/api/audit", params={"limit": 2, "before": newest[-1]["seq"]}).json()["entries"]
    assert [e["target"] for e in older] == ["note 146", "note 145"]

    first = eve.get("/admin").text
    assert _section(first, "audit-table").count("<tr data-seq=") == 100
    link = re.search(r'href="/admin\?before=(\d+)#audit-table"', first)
    assert link, "an 'older' link"
    second = eve.get("/admin", params={"before": link.group(1)}).text
    assert f'data-seq="{int(link.group(1)) - 1}"' in _section(second, "audit-table")


def test_audit_details_show_as_compact_json(signed_in: SignedIn) -> None:
    ada = signed_in("ada")
    ada.form("/admin/users", {"username": "nina", "role": "sales", "leader": "true"})
    table = _section(ada.get("/admin").text, "audit-table")
    assert "{&#34;leader&#34;:true,&#34;role&#34;:&#34;sales&#34;}" in table


def test_verify_names_an_edited_entry(app: FastAPI, signed_in: SignedIn, api: Api) -> None:
    program = api("eve")
    intact = program.get("/api/audit/verify").json()
    assert intact["ok"] is True
    assert intact["problems"] == []
    assert intact["entries"] >= 3

    third = next(e for e in _workspace(app).audit_log(limit=1000) if e["seq"] == 3)
    assert third["action"] == "data.import"  # the demo's third import: editing it also hides that import
    with _workspace(app).store.session() as s, s.begin():
        s.execute(update(AuditEntry).where(AuditEntry.seq == 3).values(details={"role": "admin"}))

    edited = program.get("/api/audit/verify").json()
    assert edited["ok"] is False
    assert [p["seq"] for p in edited["problems"]] == [3, 0]
    assert "edited" in edited["problems"][0]["message"]
    assert edited["problems"][1]["message"].startswith(f"import {third['details']['import_id']} ({third['target']}, ")
    shown = _section(signed_in("eve").get("/admin").text, "audit-verify")
    assert 'data-ok="false"' in shown
    assert '<li data-seq="3">entry 3: its content does not match its hash' in shown


def test_verify_names_entries_deleted_from_the_middle(app: FastAPI, api: Api) -> None:
    with _workspace(app).store.session() as s, s.begin():
        s.execute(delete(AuditEntry).where(AuditEntry.seq == 4))
    check = api("eve").get("/api/audit/verify").json()
    assert check["ok"] is False
    assert {"seq": 5, "message": "entries 4..4 are missing (deleted?)"} in check["problems"]


def test_deleting_the_newest_entries_is_caught_only_against_a_kept_head_hash(app: FastAPI, api: Api) -> None:
    program = api("eve")
    kept = program.get("/api/audit/verify").json()
    with _workspace(app).store.session() as s, s.begin():
        s.execute(delete(AuditEntry).where(AuditEntry.seq == kept["entries"]))

    assert program.get("/api/audit/verify").json()["ok"] is True  # a shorter chain is still a valid chain
    against_head = program.get("/api/audit/verify", params={"expect_head": kept["head_hash"]}).json()
    assert against_head["ok"] is False
    assert "not at the expected head" in against_head["problems"][0]["message"]
