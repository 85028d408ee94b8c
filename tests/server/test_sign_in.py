"""Signing in and out: cookies, the sign-in CSRF token, one-time passwords, lockout and the address rate limit."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import FastAPI
from fastapi.testclient import TestClient

from .conftest import PASSWORD, Browser, sign_in


def test_a_page_without_a_session_redirects_to_sign_in_and_back(client: TestClient) -> None:
    response = client.get("/account?tab=tokens")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/account%3Ftab%3Dtokens"


def test_the_api_without_credentials_answers_401(client: TestClient) -> None:
    response = client.get("/api/overview")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_sign_in_sets_an_httponly_samesite_session_cookie(client: TestClient) -> None:
    response = sign_in(client, "val")
    assert response.status_code == 303  # type: ignore[attr-defined]
    cookie = response.headers["set-cookie"]  # type: ignore[attr-defined]
    assert "tandem_session=" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Secure" not in cookie  # plain HTTP on 127.0.0.1; set behind HTTPS
    assert client.get("/").status_code == 200


def test_sign_in_needs_the_form_token_from_the_sign_in_page(client: TestClient) -> None:
    response = client.post("/login", data={"username": "val", "password": PASSWORD, "login_token": "forged"})
    assert response.status_code == 403
    assert client.get("/").status_code == 303


def test_a_wrong_password_does_not_say_whether_the_user_exists(client: TestClient) -> None:
    wrong_password = sign_in(client, "val", "not-the-password")
    no_such_user = sign_in(client, "nobody", "not-the-password")
    assert wrong_password.status_code == no_such_user.status_code == 401  # type: ignore[attr-defined]
    assert "wrong user name or password" in wrong_password.text  # type: ignore[attr-defined]
    assert "wrong user name or password" in no_such_user.text  # type: ignore[attr-defined]


def test_the_next_page_after_sign_in_stays_on_this_server(client: TestClient) -> None:
    page = client.get("/login", params={"next": "//evil.example/steal"})
    assert 'name="next" value="/"' in page.text


def test_five_failures_lock_the_account_even_for_the_right_password(client: TestClient) -> None:
    for _ in range(5):
        sign_in(client, "mark", "wrong-password")
    locked = sign_in(client, "mark")
    assert locked.status_code == 429  # type: ignore[attr-defined]
    assert "locked" in locked.text  # type: ignore[attr-defined]
    assert int(locked.headers["retry-after"]) > 0  # type: ignore[attr-defined]


def test_one_address_is_refused_after_the_rate_limit(client: TestClient) -> None:
    for index in range(20):
        sign_in(client, f"guess{index}", "wrong-password")
    refused = sign_in(client, "val")
    assert refused.status_code == 429  # type: ignore[attr-defined]
    assert "too many sign-in attempts" in refused.text  # type: ignore[attr-defined]


def test_sign_out_needs_the_csrf_token_and_ends_the_session(signed_in: Callable[[str], Browser]) -> None:
    browser = signed_in("val")
    assert browser.post("/logout").status_code == 403
    assert browser.form("/logout").status_code == 303
    assert browser.get("/").status_code == 303


def test_a_one_time_password_must_be_changed_before_anything_else(app: FastAPI, client: TestClient) -> None:
    _, password = app.state.tandem.workspace.accounts.create_user("test", "newbie", "viewer")
    response = sign_in(client, "newbie", password)
    assert response.headers["location"] == "/account"  # type: ignore[attr-defined]
    # A page opened meanwhile leads to the Account page, which leads back to it; the API refuses.
    opened = client.get("/funnel?by=channel")
    assert (opened.status_code, opened.headers["location"]) == (303, "/account?next=/funnel%3Fby%3Dchannel")
    assert client.get("/").headers["location"] == "/account"
    assert client.get("/api/status").status_code == 403
    page = client.get("/account?next=/funnel%3Fby%3Dchannel")
    assert '<input type="hidden" name="next" value="/funnel?by=channel">' in page.text
    csrf = page.text.split('name="csrf-token" content="')[1].split('"')[0]
    form = {"csrf_token": csrf, "current": password, "new": "my-own-password-1", "next": "/funnel?by=channel"}
    differ = client.post("/account/password", data={**form, "again": "my-own-password-2"})
    assert (differ.status_code, "the two new passwords differ" in differ.text) == (422, True)
    changed = client.post("/account/password", data={**form, "again": "my-own-password-1"})
    assert (changed.status_code, changed.headers["location"]) == (303, "/funnel?by=channel")
    assert client.get("/").status_code == 200


def test_the_overview_shows_stage_volumes_and_charts(signed_in: Callable[[str], Browser]) -> None:
    page = signed_in("val").get("/")
    assert page.status_code == 200
    # Stage volumes and revenue by month, and the forecast card's range.
    assert page.text.count('<figure class="chart"') == 3
    assert 'data-chart="forecast-range"' in page.text
    assert 'data-stage="mql"' in page.text


def test_overview_figures_match_the_python_api(app: FastAPI, api: Callable[[str], TestClient]) -> None:
    document = api("val").get("/api/overview").json()
    ws = app.state.tandem.workspace
    start = document["quarter"]["start"]
    expected = {r["stage"]: r["reached"] for r in ws.funnel(start=start, end=document["computed_at"]).rows()}
    assert {r["stage"]: r["reached"] for r in document["stage_volumes"]} == expected
