"""Fixtures of the web app tests: a small demo company served by the real app, and users of every role.

- ``served``: a fresh copy of a 2,000-lead demo workspace (SQLite + DuckDB) with one user per role in `USERS`;
  built once per test process, copied per test, so tests may import, add users and change things freely.
- ``app``: the FastAPI app on that workspace; ``client``: an ASGI test client, not signed in.
- ``signed_in(name)``: a client signed in through the login form as user `name` (browser session + CSRF token).
- ``api(name)``: a client sending an API token of user `name` (``Authorization: Bearer``).
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tandem.demo_workspace import build_demo
from tandem.server import create_app

PASSWORD = "a-password-for-tests"


@dataclass(frozen=True)
class TestUser:
    role: str
    leader: bool = False


#: The people of the test workspace: every role, and a leader and a non-leader on each side.
USERS: dict[str, TestUser] = {
    "ada": TestUser("admin"),
    "mia": TestUser("marketing", leader=True),
    "mark": TestUser("marketing"),
    "sam": TestUser("sales", leader=True),
    "sid": TestUser("sales"),
    "eve": TestUser("exec"),
    "val": TestUser("viewer"),
}
#: One user per role, for walking every route with every role.
BY_ROLE = {"admin": "ada", "marketing": "mia", "sales": "sam", "exec": "eve", "viewer": "val"}


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("server") / "demo"
    workspace = build_demo(folder, leads=2000, seed=11, echo=lambda _line: None)
    with workspace:
        for name, user in USERS.items():
            workspace.accounts.create_user("test", name, user.role, password=PASSWORD, leader=user.leader)
    return folder


@pytest.fixture
def served(demo_template: Path, tmp_path: Path) -> Path:
    """A private copy of the demo workspace for this test."""
    target = tmp_path / "served"
    shutil.copytree(demo_template, target, ignore=shutil.ignore_patterns("demo-data"))
    return target


@pytest.fixture
def app(served: Path) -> FastAPI:
    return create_app(served)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, follow_redirects=False) as test_client:
        yield test_client


class Browser(TestClient):
    """A test client with a browser session: knows its CSRF token and sends it with form posts."""

    csrf: str = ""

    def form(self, url: str, data: dict[str, str] | None = None, **kwargs: object):  # type: ignore[no-untyped-def]
        return self.post(url, data={"csrf_token": self.csrf, **(data or {})}, **kwargs)  # type: ignore[arg-type]


def sign_in(test_client: TestClient, username: str, password: str = PASSWORD) -> object:
    """Post the login form as a browser does (with the sign-in CSRF token); returns the response."""
    page = test_client.get("/login")
    token = re.search(r'name="login_token" value="([^"]+)"', page.text)
    assert token, page.text
    return test_client.post(
        "/login", data={"username": username, "password": password, "login_token": token.group(1), "next": "/"}
    )


@pytest.fixture
def signed_in(app: FastAPI) -> Iterator[Callable[[str], Browser]]:
    opened: list[Browser] = []

    def make(username: str) -> Browser:
        browser = Browser(app, follow_redirects=False)
        browser.__enter__()
        opened.append(browser)
        response = sign_in(browser, username)
        assert response.status_code == 303, response.text  # type: ignore[attr-defined]
        page = browser.get("/account")
        browser.csrf = re.search(r'name="csrf-token" content="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
        return browser

    yield make
    for browser in opened:
        browser.__exit__(None, None, None)


@pytest.fixture
def api(app: FastAPI) -> Iterator[Callable[[str], TestClient]]:
    opened: list[TestClient] = []

    def make(username: str) -> TestClient:
        _, secret = app.state.tandem.workspace.accounts.create_token("test", username, "tests")
        test_client = TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"})
        test_client.__enter__()
        opened.append(test_client)
        return test_client

    yield make
    for test_client in opened:
        test_client.__exit__(None, None, None)
