"""Fixtures of the browser tests: the real app served by uvicorn, driven in real Chromium through Playwright.

- ``server``: the app on a copy of the demo workspace (the users of tests/server/conftest.py, one per role),
  served by uvicorn in a background thread on 127.0.0.1 and a free port; its origin, e.g. ``http://127.0.0.1:41234``.
- ``chromium``: Debian's Chromium at /usr/bin/chromium, headless (no display needed), started once per process.
  Playwright never downloads a browser: scripts/install-chromium.sh installs the package. Without it, every browser
  test is skipped, saying so.
- ``as_user(name)``: a page in a fresh browser context signed in as `name` (through the sign-in form, once per user
  and process; later contexts reuse the session cookie), with what the page does recorded: every request it makes,
  every response with an error status, every script error.
- ``shot(page, step)``: saves a screenshot to $TANDEM_TEST_ARTIFACTS (default: test-artifacts/ at the repository
  root, ignored by git), under browser/<test name>-<n>-<step>.png.

Every test in this folder is marked ``browser``: `pytest -m "not browser"` leaves them out.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from playwright.sync_api import Browser, ConsoleMessage, Page, Playwright, Request, Response, sync_playwright

from tandem.demo_workspace import build_demo
from tandem.server import create_app
from tests.server.conftest import PASSWORD, USERS

CHROMIUM = Path("/usr/bin/chromium")
#: How Chromium starts here (see DESIGN.md, "Real components"): no sandbox (root in a container), no GPU, and none
#: of the browser's own traffic (updates, sync, safe browsing), so every request seen comes from the page.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
#: Generous: the first chart of a process waits for the Vega bundle to be built, on a busy 2-core machine.
TIMEOUT_MS = 60_000
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("TANDEM_TEST_ARTIFACTS") or REPO / "test-artifacts") / "browser"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    missing = pytest.mark.skip(
        reason=f"{CHROMIUM} is missing: run scripts/install-chromium.sh (Debian's chromium package)"
    )
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.browser)
            if not CHROMIUM.exists():
                item.add_marker(missing)


@pytest.fixture(scope="session")
def browser_workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo company with one user per role (as tests/server/conftest.py builds it), for the served app."""
    folder = tmp_path_factory.mktemp("browser") / "demo"
    workspace = build_demo(folder, leads=2000, seed=11, echo=lambda _line: None)
    with workspace:
        for name, user in USERS.items():
            workspace.accounts.create_user("test", name, user.role, password=PASSWORD, leader=user.leader)
    shutil.rmtree(folder / "demo-data", ignore_errors=True)
    return folder


@contextmanager
def serving(folder: Path, name: str = "uvicorn") -> Iterator[str]:
    """The real app on `folder`, served by uvicorn in a background thread; yields its origin."""
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", 0))  # a free port, chosen by the system and held from here on
    port = listening.getsockname()[1]
    config = uvicorn.Config(create_app(folder), log_level="warning", lifespan="on")
    served = uvicorn.Server(config)
    thread = threading.Thread(target=served.run, kwargs={"sockets": [listening]}, name=name, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not served.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the app did not start serving (see the log above)")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        thread.join(timeout=30)
        listening.close()


@pytest.fixture(scope="session")
def server(browser_workspace: Path) -> Iterator[str]:
    """The app on the shared demo company; yields its origin."""
    with serving(browser_workspace) as origin:
        yield origin


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def chromium(playwright: Playwright) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: run scripts/install-chromium.sh")
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


class RecordedPage:
    """What a page did besides showing itself: the requests it made, those that failed, and script errors."""

    def __init__(self, page: Page) -> None:
        self.requests: list[str] = []
        self.failed: list[str] = []
        self.errors: list[str] = []
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.errors.append(f"uncaught: {error}"))

    def _request(self, request: Request) -> None:
        self.requests.append(request.url)

    def _response(self, response: Response) -> None:
        if response.status >= 400:
            self.failed.append(f"{response.status} {response.request.method} {response.url}")

    def _console(self, message: ConsoleMessage) -> None:
        # A failed load is reported by _response, with its address; the console says only that it failed.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.errors.append(message.text)


def sign_in_through_the_form(page: Page, origin: str, username: str) -> None:
    page.goto(f"{origin}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


@pytest.fixture(scope="session")
def session_states() -> dict[str, Any]:
    """Browser storage (the session cookie) of each user signed in so far in this process."""
    return {}


@pytest.fixture
def as_user(
    chromium: Browser, server: str, session_states: dict[str, Any]
) -> Iterator[Callable[[str], tuple[Page, RecordedPage]]]:
    contexts = []

    def open_page(username: str) -> tuple[Page, RecordedPage]:
        context = chromium.new_context(base_url=server, storage_state=session_states.get(username))
        context.set_default_timeout(TIMEOUT_MS)
        contexts.append(context)
        page = context.new_page()
        recorded = RecordedPage(page)
        if username not in session_states:
            sign_in_through_the_form(page, server, username)
            session_states[username] = context.storage_state()
        return page, recorded

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Callable[[Page, str], Path]:
    """Save a screenshot of a step of this test to the artefacts folder; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    test_name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
    taken = 0

    def take(page: Page, step: str) -> Path:
        nonlocal taken
        taken += 1
        path = ARTIFACTS / f"{test_name}-{taken}-{step}.png"
        page.screenshot(path=str(path), full_page=True)
        return path

    return take
