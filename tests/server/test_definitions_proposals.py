"""Changing the definitions in the web app: a proposal, approved by a marketing and a sales leader, is the next version.

The people of the test workspace (tests/server/conftest.py): mark (marketing) and sid (sales) propose; mia and sam
are the marketing and sales leaders who decide; eve (exec), val (viewer) and ada (admin) may do neither. The demo's
definitions (version 1) have no stage rules; the proposals here give the mql stage one.

What each refusal answers (`tandem.server.refusals`, by the kind of `Governance`'s refusal): 422 for a file with
problems (every one by line and column) or a request refused as asked; 403 for someone the workflow does not let
do it (a role without the permission, self-approval, not a leader, not an exec); 409 for a proposal whose state
forbids it (closed, its side already approved, waiting for an exec's override); 404 for one that does not exist.
A refusal stores nothing.

The quarter-end guard (a change loosening a marketing stage in a quarter's last weeks needs an exec's override) is
off in these tests, so that the day they run on does not matter, except in the test that shows it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.accounts import Role
from tandem.definitions.guard import freeze_window

from .conftest import PASSWORD, Browser


@pytest.fixture(autouse=True)
def no_quarter_end_freeze(app: FastAPI) -> None:
    app.state.tandem.workspace.definitions.guarded = False


def current_document(app: FastAPI) -> str:
    document: str = app.state.tandem.workspace.definitions.current().document
    return document


def with_mql_rule(document: str, rule: str) -> str:
    """The definitions file with an entry rule given to the mql stage."""
    changed = document.replace("- name: mql\n", f"- name: mql\n  rule: {rule}\n", 1)
    assert changed != document
    return changed


def tomorrow() -> str:
    return (datetime.now(UTC).date() + timedelta(days=1)).isoformat()


def proposals(client: TestClient) -> list[dict[str, object]]:
    listed: list[dict[str, object]] = client.get("/api/definitions/proposals").json()["proposals"]
    return listed


def propose(app: FastAPI, api: Callable[[str], TestClient], author: str = "mark", rule: str = "employees >= 20") -> int:
    answer = api(author).post(
        "/api/definitions/proposals", json={"document": with_mql_rule(current_document(app), rule), "note": "MQL: 20+"}
    )
    assert answer.status_code == 201, answer.text
    proposal_id: int = answer.json()["id"]
    return proposal_id


# --- Proposing ------------------------------------------------------------------------------------------------------


def test_a_marketing_user_proposes_through_the_api_and_it_waits_for_a_leader_of_each_side(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    mark = api("mark")
    answer = mark.post(
        "/api/definitions/proposals",
        json={
            "document": with_mql_rule(current_document(app), "employees >= 20"),
            "note": "MQL needs 20 employees",
            "effective_from": tomorrow(),
        },
    )
    assert answer.status_code == 201
    proposal = answer.json()
    assert proposal["status"] == "open"
    assert proposal["author"] == "mark"
    assert proposal["note"] == "MQL needs 20 employees"
    assert proposal["effective_from"] == tomorrow()
    assert proposal["base_version"] == 1
    assert proposal["changes"] == ["stage 'mql': rule: (none) -> employees >= 20"]
    assert "+  rule: employees >= 20" in proposal["diff"]
    assert proposal["waiting_for"] == ["marketing", "sales"]
    assert proposal["leaders"] == {"marketing": ["mia"], "sales": ["sam"]}
    assert proposal["decisions"] == []
    assert proposal["actions"] == ["withdraw"]  # what the caller, its author, may do with it

    assert api("val").get(f"/api/definitions/proposals/{proposal['id']}").json()["actions"] == []
    assert api("mia").get(f"/api/definitions/proposals/{proposal['id']}").json()["actions"] == ["approve", "reject"]
    assert [p["id"] for p in proposals(api("val"))] == [proposal["id"]]
    assert api("val").get("/api/definitions").json()["current"]["version"] == 1  # nothing changes until approved


def test_a_sales_user_proposes_with_the_form_and_lands_on_the_proposals_page(
    app: FastAPI, signed_in: Callable[[str], Browser]
) -> None:
    sid = signed_in("sid")
    form = sid.get("/definitions").text
    assert 'id="propose-form"' in form
    textarea = re.search(r'<textarea id="proposed-document" name="document"[^>]*>([^<]*)</textarea>', form)
    assert textarea is not None
    assert "name: mql" in textarea.group(1)  # the form starts from the current file

    answer = sid.form(
        "/definitions/proposals",
        {"document": with_mql_rule(current_document(app), "employees >= 20"), "note": "", "effective_from": ""},
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/definitions/proposals/1?done=proposed"
    page = sid.get(answer.headers["location"]).text
    assert "Proposal #1 made." in page
    assert "employees &gt;= 20" in page
    assert '<span data-side="marketing">a marketing leader (mia)</span>' in page
    assert 'id="reject-form"' in page
    assert ">Withdraw</button>" in page  # its author may withdraw it
    assert 'id="approve-form"' not in page  # but not approve it


def test_the_form_takes_a_file_instead_of_the_text(app: FastAPI, signed_in: Callable[[str], Browser]) -> None:
    mark = signed_in("mark")
    upload = with_mql_rule(current_document(app), "employees >= 20").replace("\n", "\r\n").encode()
    answer = mark.post(
        "/definitions/proposals",
        data={"csrf_token": mark.csrf, "document": "ignored when a file is chosen"},
        files={"file": ("definitions.yaml", upload, "application/yaml")},
    )
    assert answer.status_code == 303, answer.text
    stored = app.state.tandem.workspace.definitions.proposal(1)
    assert stored.changes == ["stage 'mql': rule: (none) -> employees >= 20"]
    assert "\r" not in stored.document  # line endings as the rest of the files: one newline


def test_a_rule_with_a_syntax_error_is_refused_with_its_line_and_column_and_nothing_is_stored(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    answer = api("mark").post(
        "/api/definitions/proposals", json={"document": with_mql_rule(current_document(app), "employees >= and")}
    )
    assert answer.status_code == 422
    body = answer.json()
    assert body["detail"] == "2 problems in the definitions; nothing was changed."
    first = body["problems"][0]
    assert (first["line"], first["column"]) == (7, 22)  # the 'and' of line 7, `  rule: employees >= and`
    assert first["problem"] == "the rule of stage 'mql': unexpected 'and'"
    assert first["hint"].startswith("expected a value")
    assert first["value"] == "employees >= and"
    assert proposals(api("val")) == []


def test_malformed_yaml_in_the_form_comes_back_with_the_text_kept_and_the_problem_by_line(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    broken = "version_note: oops\nstages: [\n  - name: lead\n"
    answer = signed_in("mark").form("/definitions/proposals", {"document": broken, "note": "keep me"})
    assert answer.status_code == 422
    page = answer.text
    assert "nothing was changed" in page
    problems = page.split('id="definition-problems"')[1].split("</table>")[0]
    rows = re.findall(r'<tr><td class="n">(\d+)</td><td class="n">(\d+)</td><td>([^<]*)</td>', problems)
    assert rows
    assert rows[0][2].startswith("malformed YAML")
    assert "version_note: oops\nstages: [\n  - name: lead\n</textarea>" in page  # the text as sent, to fix
    assert 'name="note" value="keep me"' in page
    assert proposals(api("val")) == []


def test_a_proposal_identical_to_the_current_version_or_effective_in_the_past_is_refused(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    mark = api("mark")
    same = mark.post("/api/definitions/proposals", json={"document": current_document(app)})
    assert same.status_code == 422
    assert "identical to the current definitions" in same.json()["detail"]
    yesterday = (datetime.now(UTC).date() - timedelta(days=1)).isoformat()
    past = mark.post(
        "/api/definitions/proposals",
        json={"document": with_mql_rule(current_document(app), "employees >= 20"), "effective_from": yesterday},
    )
    assert past.status_code == 422
    assert "is in the past" in past.json()["detail"]
    assert proposals(api("val")) == []


def test_viewers_execs_and_admins_cannot_propose_nor_see_the_form(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    document = with_mql_rule(current_document(app), "employees >= 20")
    for name in ("val", "eve", "ada"):
        refused = api(name).post("/api/definitions/proposals", json={"document": document})
        assert refused.status_code == 403, name
        assert "needs the propose permission" in refused.json()["detail"]
    viewer = signed_in("val")
    assert 'id="propose-form"' not in viewer.get("/definitions").text
    assert viewer.form("/definitions/proposals", {"document": document}).status_code == 403
    assert proposals(api("val")) == []


def test_form_posts_need_the_sessions_csrf_token(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    mark = signed_in("mark")
    document = with_mql_rule(current_document(app), "employees >= 20")
    refused = mark.post("/definitions/proposals", data={"document": document})
    assert refused.status_code == 403
    assert "CSRF" in refused.text
    assert proposals(api("val")) == []

    proposal_id = propose(app, api)
    mia = signed_in("mia")
    forged = mia.post(f"/definitions/proposals/{proposal_id}/approve", data={"csrf_token": mark.csrf})
    assert forged.status_code == 403
    assert api("val").get(f"/api/definitions/proposals/{proposal_id}").json()["decisions"] == []


# --- Deciding -------------------------------------------------------------------------------------------------------


def test_a_marketing_leader_then_a_sales_leader_approve_and_the_next_version_is_current(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    proposal_id = propose(app, api)
    first = api("mia").post(f"/api/definitions/proposals/{proposal_id}/approve", json={"comment": "fine by marketing"})
    assert first.status_code == 200
    assert first.json()["status"] == "open"
    assert first.json()["waiting_for"] == ["sales"]
    assert first.json()["leaders"] == {"sales": ["sam"]}
    assert api("val").get("/api/definitions").json()["current"]["version"] == 1

    second = api("sam").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert second.status_code == 200
    decided = second.json()
    assert (decided["status"], decided["version"], decided["waiting_for"]) == ("approved", 2, [])
    assert [(d["side"], d["decision"], d["username"], d["comment"]) for d in decided["decisions"]] == [
        ("marketing", "approve", "mia", "fine by marketing"),
        ("sales", "approve", "sam", ""),
    ]
    current = api("val").get("/api/definitions").json()["current"]
    assert current["version"] == 2
    assert "rule: employees >= 20" in current["document"]
    assert app.state.tandem.definition_version() == 2  # results are computed under it from now on


def test_leaders_approve_on_the_proposal_page_and_the_page_says_what_happened(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    proposal_id = propose(app, api)
    mia = signed_in("mia")
    page = mia.get(f"/definitions/proposals/{proposal_id}").text
    assert 'id="approve-form"' in page
    assert ">Approve for marketing</button>" in page

    answer = mia.form(f"/definitions/proposals/{proposal_id}/approve", {"comment": "ok for marketing"})
    assert answer.status_code == 303
    assert answer.headers["location"] == f"/definitions/proposals/{proposal_id}?done=approved"
    page = mia.get(answer.headers["location"]).text
    assert "Approved; it now waits for sales." in page
    assert 'id="approve-form"' not in page  # marketing has approved: mia may still reject, not approve twice
    assert 'id="reject-form"' in page

    sam = signed_in("sam")
    answer = sam.form(f"/definitions/proposals/{proposal_id}/approve", {"comment": ""})
    page = sam.get(answer.headers["location"]).text
    assert "Approved: version 2 of the definitions is now current." in page
    assert 'id="proposal-actions"' not in page  # closed: nobody may act on it any more
    assert "Version 2 (current)" in sam.get("/definitions").text


def test_the_author_cannot_approve_their_own_proposal(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    proposal_id = propose(app, api, author="mia")  # a leader may propose, but then another leader approves
    refused = api("mia").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert refused.status_code == 403
    assert refused.json()["detail"] == (
        f"mia wrote proposal #{proposal_id} and cannot approve it; another marketing leader must"
    )
    assert api("val").get(f"/api/definitions/proposals/{proposal_id}").json()["decisions"] == []


def test_a_side_approves_once(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    app.state.tandem.workspace.accounts.create_user("test", "mona", Role.MARKETING, password=PASSWORD, leader=True)
    proposal_id = propose(app, api)
    assert api("mia").post(f"/api/definitions/proposals/{proposal_id}/approve", json={}).status_code == 200
    refused = api("mona").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert refused.status_code == 409
    assert "already approved for the marketing side by mia" in refused.json()["detail"]
    assert api("val").get(f"/api/definitions/proposals/{proposal_id}").json()["waiting_for"] == ["sales"]


def test_someone_who_is_not_a_leader_neither_approves_nor_sees_the_forms(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    proposal_id = propose(app, api)
    refused = api("sid").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert refused.status_code == 403
    assert "sid is not a sales leader" in refused.json()["detail"]
    assert api("eve").post(f"/api/definitions/proposals/{proposal_id}/approve", json={}).status_code == 403
    assert api("val").post(f"/api/definitions/proposals/{proposal_id}/approve", json={}).status_code == 403
    page = signed_in("sid").get(f"/definitions/proposals/{proposal_id}").text
    assert 'id="proposal-actions"' not in page
    assert "A marketing leader and a sales leader other than the author decide on it" in page


def test_a_leader_rejects_with_a_reason_and_the_proposal_is_closed(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    proposal_id = propose(app, api)
    sam = signed_in("sam")
    no_reason = sam.form(f"/definitions/proposals/{proposal_id}/reject", {"reason": "  "})
    assert no_reason.status_code == 422
    assert "give a reason for the rejection" in no_reason.text

    answer = sam.form(f"/definitions/proposals/{proposal_id}/reject", {"reason": "sales cannot take more leads"})
    assert answer.headers["location"] == f"/definitions/proposals/{proposal_id}?done=rejected"
    page = sam.get(answer.headers["location"]).text
    assert f"Proposal #{proposal_id} rejected." in page
    assert "sales cannot take more leads" in page
    assert 'data-status="rejected"' in page

    late = api("mia").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert late.status_code == 409  # closed: only a new proposal can go on
    assert "is rejected; it is closed" in late.json()["detail"]
    assert api("val").get("/api/definitions").json()["current"]["version"] == 1


def test_the_author_withdraws_their_proposal(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    proposal_id = propose(app, api)
    answer = signed_in("mark").form(f"/definitions/proposals/{proposal_id}/reject", {"reason": "wrong threshold"})
    assert answer.headers["location"] == f"/definitions/proposals/{proposal_id}?done=withdrawn"
    assert api("val").get(f"/api/definitions/proposals/{proposal_id}").json()["status"] == "rejected"


def test_a_proposal_made_on_an_older_version_is_stale_when_approved(
    app: FastAPI, api: Callable[[str], TestClient]
) -> None:
    first, second = propose(app, api), propose(app, api, author="sid", rule="employees >= 50")
    for leader in ("mia", "sam"):
        api(leader).post(f"/api/definitions/proposals/{first}/approve", json={})
    refused = api("mia").post(f"/api/definitions/proposals/{second}/approve", json={})
    assert refused.status_code == 409
    assert "is stale" in refused.json()["detail"]
    assert api("val").get(f"/api/definitions/proposals/{second}").json()["status"] == "stale"


def test_an_unknown_proposal_is_404(api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]) -> None:
    assert api("val").get("/api/definitions/proposals/7").status_code == 404
    missing = api("mia").post("/api/definitions/proposals/7/approve", json={})
    assert missing.status_code == 404
    assert missing.json()["detail"].startswith("no proposal #7")
    assert signed_in("val").get("/definitions/proposals/7").status_code == 404


def test_what_people_write_is_shown_as_text_never_as_markup(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    hostile = '<script>alert("note")</script>'
    answer = api("mark").post(
        "/api/definitions/proposals",
        json={"document": with_mql_rule(current_document(app), "employees >= 20"), "note": hostile},
    )
    proposal_id = answer.json()["id"]
    api("sam").post(f"/api/definitions/proposals/{proposal_id}/reject", json={"reason": "<img src=x onerror=1>"})
    viewer = signed_in("val")
    for page in (viewer.get(f"/definitions/proposals/{proposal_id}").text, viewer.get("/definitions").text):
        assert hostile not in page
        assert "<img src=x" not in page
        assert "&lt;script&gt;" in page
    assert viewer.get(f"/definitions/proposals/{proposal_id}?done=<b>hi</b>").text.count("<b>hi</b>") == 0


# --- The quarter-end guard and the exec override ----------------------------------------------------------------


def test_loosening_marketing_in_a_quarters_last_weeks_waits_for_an_execs_override(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    app.state.tandem.workspace.definitions.guarded = True
    today = datetime.now(UTC).date()
    window = freeze_window(today, 2)
    assert window is not None
    effective = max(today, window[0])  # a day in this quarter's last two weeks
    answer = api("mark").post(
        "/api/definitions/proposals",
        json={
            "document": with_mql_rule(current_document(app), "days_since_created() >= 0"),  # every lead an MQL
            "effective_from": effective.isoformat(),
        },
    )
    proposal_id = answer.json()["id"]
    held = api("val").get(f"/api/definitions/proposals/{proposal_id}").json()
    assert held["waiting_for"] == ["marketing", "sales", "exec"]
    assert held["leaders"]["exec"] == ["eve"]
    assert held["guard"]["needs_override"] is True
    assert "an exec must override it first" in held["guard_message"]

    eve = signed_in("eve")
    page = eve.get(f"/definitions/proposals/{proposal_id}").text
    assert 'id="override-form"' in page
    assert 'id="approve-form"' not in page  # an exec overrides the guard; the leaders still approve

    assert api("mia").post(f"/api/definitions/proposals/{proposal_id}/approve", json={}).status_code == 200
    held_back = api("sam").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert held_back.status_code == 409
    assert "an exec must override it first" in held_back.json()["detail"]
    override = f"/api/definitions/proposals/{proposal_id}/override"
    assert api("mia").post(override, json={"reason": "x"}).status_code == 403  # only an exec overrides
    assert api("val").post(override, json={"reason": "x"}).status_code == 403

    answer = eve.form(f"/definitions/proposals/{proposal_id}/override", {"reason": "the board agreed on 1 December"})
    assert answer.headers["location"] == f"/definitions/proposals/{proposal_id}?done=overridden"
    page = eve.get(answer.headers["location"]).text
    assert "Overridden: the guard no longer holds it back; it waits for sales." in page
    assert "the board agreed on 1 December" in page
    approved = api("sam").post(f"/api/definitions/proposals/{proposal_id}/approve", json={})
    assert (approved.json()["status"], approved.json()["version"]) == ("approved", 2)


# --- The impact on the data --------------------------------------------------------------------------------------


def test_the_proposal_page_and_the_api_show_what_it_would_change_on_the_data(
    app: FastAPI, api: Callable[[str], TestClient], signed_in: Callable[[str], Browser]
) -> None:
    proposal_id = propose(app, api, rule="days_since_created() >= 0")  # every lead reaches mql by the rule
    impact = api("val").get(f"/api/definitions/proposals/{proposal_id}/impact").json()
    by_stage = {s["stage"]: s for s in impact["stages"]}
    assert list(by_stage) == ["lead", "mql", "sql", "opportunity", "won"]
    everyone = by_stage["lead"]["current"]
    assert by_stage["mql"]["proposed"] == everyone
    assert by_stage["mql"]["added"] == everyone - by_stage["mql"]["current"] > 0
    assert [s["added"] + s["removed"] for name, s in by_stage.items() if name != "mql"] == [0, 0, 0, 0]
    assert impact["summary"][0].startswith(f"mql: {by_stage['mql']['added']:,} leads added, 0 removed over history")

    page = signed_in("val").get(f"/definitions/proposals/{proposal_id}").text
    row = page.split('<tr data-stage="mql">')[1].split("</tr>")[0]
    assert f'<td class="n">{by_stage["mql"]["added"]:,}</td>' in row
    assert impact["summary"][0] in page.replace("&#39;", "'")

    assert api("val").get(f"/api/definitions/proposals/{proposal_id}/impact?as_of=soon").status_code == 422
    assert api("val").get("/api/definitions/proposals/99/impact").status_code == 404
