"""Sign-in through the web app under attack (issue 16): blocks by address, rotating forwarded addresses, known
browsers, unlocking, the burst, and what a password change, a disable and a one-time password do to sessions and
tokens."""

from __future__ import annotations

import math
import re
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from markupsafe import escape

from tandem.server import create_app

from .conftest import PASSWORD, Browser, sign_in

NEW_PASSWORD = "another-password-for-tests"


def with_settings(served: Path, **settings: object) -> FastAPI:
    """The app on the served workspace with these settings added to its tandem.toml ([settings] is its last table)."""
    config = served / "tandem.toml"
    lines = [f"{name} = {value!r}".replace("'", '"') for name, value in settings.items()]
    config.write_text(config.read_text() + "\n".join(lines) + "\n")
    return create_app(served)


def sign_in_from(client: TestClient, username: str, address: str, password: str = PASSWORD) -> object:
    """`sign_in`, with the address a proxy would forward."""
    client.headers["X-Forwarded-For"] = address
    try:
        return sign_in(client, username, password)
    finally:
        del client.headers["X-Forwarded-For"]


def status(response: object) -> int:
    return int(response.status_code)  # type: ignore[attr-defined]


def text(response: object) -> str:
    return str(response.text)  # type: ignore[attr-defined]


@pytest.fixture
def proxied(served: Path) -> FastAPI:
    """Behind a proxy the workspace names: the test client's connection ("testclient") and a private network."""
    return with_settings(served, trusted_proxies=["testclient", "10.0.0.0/8"], login_account_limit=6)


# --- forwarded addresses ------------------------------------------------------------------------------------------


def test_forwarded_addresses_are_ignored_without_trusted_proxies(client: TestClient) -> None:
    statuses = [status(sign_in_from(client, f"guess{i}", f"203.0.113.{i}", "wrong")) for i in range(20)]
    assert statuses == [401] * 20
    refused = sign_in_from(client, "val", "198.51.100.1")
    assert status(refused) == 429
    assert "too many sign-in attempts from this address" in text(refused)
    assert refused.headers["retry-after"] == "300"  # type: ignore[attr-defined]


def test_a_trusted_proxy_names_the_client_so_each_address_is_limited_alone(proxied: FastAPI) -> None:
    with TestClient(proxied, follow_redirects=False) as client:
        rotating = [status(sign_in_from(client, f"guess{i}", f"203.0.113.{i}", "wrong")) for i in range(30)]
        assert rotating == [401] * 30
        same = [status(sign_in_from(client, f"guess{i}", "198.51.100.7", "wrong")) for i in range(21)]
        assert same == [401] * 20 + [429]
        # The right-most address that is not a trusted proxy is the client; what it claims before that is not.
        chain = [status(sign_in_from(client, "nobody", "198.51.100.7, 192.0.2.5, 10.1.2.3", "wrong")) for _ in range(2)]
        assert chain == [401, 401]


# --- blocks and known browsers ------------------------------------------------------------------------------------


def test_failures_from_one_address_do_not_lock_the_owner_out_from_another(proxied: FastAPI) -> None:
    with TestClient(proxied, follow_redirects=False) as attacker, TestClient(proxied, follow_redirects=False) as owner:
        for _ in range(5):
            assert status(sign_in_from(attacker, "mark", "203.0.113.9", "wrong")) == 401
        blocked = sign_in_from(attacker, "mark", "203.0.113.9")
        assert status(blocked) == 429
        assert "locked after repeated failed sign-ins from this address" in text(blocked)
        retry = int(blocked.headers["retry-after"])  # type: ignore[attr-defined]
        assert math.ceil(retry / 60) == 15  # login_lockout_minutes, to the second
        assert status(sign_in_from(owner, "mark", "198.51.100.20")) == 303


def test_rotating_addresses_cannot_keep_the_only_admin_out_of_a_known_browser(proxied: FastAPI) -> None:
    with TestClient(proxied, follow_redirects=False) as owner:
        assert status(sign_in_from(owner, "ada", "192.0.2.1")) == 303
        assert owner.cookies.get("tandem_device", "").startswith("ada.")
        owner.post("/logout", data={"csrf_token": _csrf(owner)})
        with TestClient(proxied, follow_redirects=False) as attacker:
            for index in range(6):
                assert status(sign_in_from(attacker, "ada", f"203.0.113.{index}", "wrong")) == 401
            paused = sign_in_from(attacker, "ada", "203.0.113.99")
            assert status(paused) == 429
            assert "only browsers that signed in to it before may sign in" in text(paused)
        assert status(sign_in_from(owner, "ada", "203.0.113.50")) == 303
        page = owner.get("/account")
        assert 'id="locked"' in page.text
        unlocked = owner.post("/account/unlock", data={"csrf_token": _csrf(owner)})
        assert unlocked.status_code == 200
        assert "Your account is unlocked." in unlocked.text
        assert 'id="locked"' not in unlocked.text
    with TestClient(proxied, follow_redirects=False) as stranger:
        assert status(sign_in_from(stranger, "ada", "203.0.113.100")) == 303


def _csrf(client: TestClient) -> str:
    page = client.get("/account")
    found = re.search(r'name="csrf-token" content="([^"]*)"', page.text)
    assert found, page.text
    return found.group(1)


def test_an_admin_unlocks_from_the_page_and_the_api(
    app: FastAPI, client: TestClient, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    for _ in range(5):
        sign_in(client, "mark", "wrong")
    assert status(sign_in(client, "mark")) == 429
    admin = signed_in("ada")
    page = admin.get("/admin")
    assert 'action="/admin/users/mark/unlock"' in page.text
    done = admin.form("/admin/users/mark/unlock")
    assert done.status_code == 200
    assert "mark is unlocked: every address may sign in again." in done.text
    assert 'action="/admin/users/mark/unlock"' not in done.text
    assert status(sign_in(client, "mark")) == 303
    for _ in range(5):
        sign_in(client, "mia", "wrong")
    answer = api("ada").post("/api/users/mia/unlock")
    assert answer.status_code == 200
    assert answer.json()["counters_cleared"] == 2  # the address's and the account's
    assert answer.json()["user"]["locked"] is False
    assert api("val").post("/api/users/mia/unlock").status_code == 403
    assert api("ada").post("/api/users/nobody/unlock").status_code == 404


# --- the burst ----------------------------------------------------------------------------------------------------


def test_sixty_concurrent_sign_ins_through_the_app_let_through_only_the_limit(app: FastAPI) -> None:
    clients = [TestClient(app, follow_redirects=False) for _ in range(60)]
    tokens = []
    for one in clients:
        found = re.search(r'name="login_token" value="([^"]+)"', one.get("/login").text)
        assert found
        tokens.append(found.group(1))
    start = threading.Barrier(60)

    def post(index: int) -> int:
        start.wait()
        form = {"username": f"nobody{index}", "password": "wrong", "login_token": tokens[index], "next": "/"}
        return clients[index].post("/login", data=form).status_code

    with ThreadPoolExecutor(max_workers=60) as pool:
        statuses = list(pool.map(post, range(60)))
    assert statuses.count(401) == 20
    assert statuses.count(429) == 40


# --- sessions and tokens ------------------------------------------------------------------------------------------


def test_a_password_change_signs_out_the_other_browsers_and_may_revoke_tokens(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    here, elsewhere = signed_in("val"), signed_in("val")
    program = api("val")
    form = {"current": PASSWORD, "new": NEW_PASSWORD, "again": NEW_PASSWORD, "revoke_tokens": "true"}
    done = here.form("/account/password", form)
    assert done.status_code == 200
    assert "Password changed. 1 other session(s) signed out. 1 API token(s) revoked." in done.text
    assert here.get("/").status_code == 200
    assert elsewhere.get("/").status_code == 303
    assert program.get("/api/me").status_code == 401


def test_the_api_says_what_a_password_change_ended(
    signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    browser = signed_in("val")
    program = api("val")
    body = {"current": PASSWORD, "new": NEW_PASSWORD, "revoke_tokens": True}
    answer = program.post("/api/me/password", json=body)
    assert answer.status_code == 200
    assert answer.json() == {"sessions_ended": 1, "tokens_revoked": 1}
    assert browser.get("/").status_code == 303
    assert program.get("/api/me").status_code == 401


def test_a_token_does_not_survive_a_disable_and_enable(api: Callable[[str], TestClient]) -> None:
    program, admin = api("val"), api("ada")
    assert admin.patch("/api/users/val", json={"disabled": True}).status_code == 200
    assert admin.patch("/api/users/val", json={"disabled": False}).status_code == 200
    assert program.get("/api/me").status_code == 401


def test_no_token_for_a_user_on_a_one_time_password(
    app: FastAPI, signed_in: Callable[[str], Browser], api: Callable[[str], TestClient]
) -> None:
    app.state.tandem.workspace.accounts.create_user("test", "newbie", "viewer")
    message = (
        "user 'newbie' must first change their one-time password (at sign-in, or "
        "`tandem account password --as newbie`); then make the token"
    )
    answer = api("ada").post("/api/tokens", json={"username": "newbie", "name": "export"})
    assert answer.status_code == 409
    assert answer.json()["detail"] == message
    page = signed_in("ada").form("/admin/tokens", {"username": "newbie", "name": "export"})
    assert page.status_code == 409
    assert str(escape(message)) in page.text
    assert app.state.tandem.workspace.accounts.tokens("newbie") == []
