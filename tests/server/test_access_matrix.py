"""Who may use what, for every route of the app: the access matrix walked route by route, role by role.

The routes are discovered, not listed: every route any router of the app declares is walked, so a new page or
endpoint is covered the moment it exists. For each one:

- without credentials, a non-public route answers 401 (``/api/*``, and pages asked with anything but GET) or
  redirects a GET to the sign-in page;
- a role its permission does not admit gets 403, through a browser session and through an API token alike;
- a role it admits gets anything but 401/403 (and never a server error): the guard lets it through.

Requests are made as plausibly as the route allows (path parameters filled with values that exist, a minimal body,
the session's CSRF token on state-changing requests) so that the only thing deciding is who is asking. What the
route then does with a minimal body (often 422) is the fuzzer's business (test_fuzz.py), not this one's.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI, params
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from httpx2 import Response
from starlette.routing import BaseRoute

from tandem.accounts import PERMISSION_ROLES, Permission, Role
from tandem.server import create_app
from tandem.server.access import ACCESS_KEY, SESSION_COOKIE, UNSAFE_METHODS, GuardedRoute
from tandem.server.app import ROUTERS

from .conftest import BY_ROLE, Browser, sign_in

#: Values for path parameters that name things the test workspace has (or plausibly could have).
PATH_VALUES = {
    "name": "stage-volumes",
    "fmt": "png",
    "username": "val",
    "token_id": "1",
    "version": "1",
    "import_id": "1",
}
#: Admin last: what an admitted admin changes (a user disabled, a token revoked) must not decide a later check.
ROLE_ORDER = [role for role in BY_ROLE if role != "admin"] + ["admin"]


@dataclass(frozen=True)
class Endpoint:
    """One method of one route: what the matrix calls."""

    method: str
    path: str
    route: BaseRoute  # a GuardedRoute, or the test below says which is not
    context: Any  # the route as included in the app (its effective path, dependant and body field)

    @property
    def permission(self) -> Permission | None:
        """What a GuardedRoute declares; None for any other kind of route (which the first test reports)."""
        permission: Permission | None = getattr(self.route, "permission", None)
        return permission

    @property
    def admitted(self) -> frozenset[Role]:
        return PERMISSION_ROLES[self.permission] if self.permission is not None else frozenset()

    @property
    def is_api(self) -> bool:
        return self.path.startswith("/api/")

    @property
    def unsafe(self) -> bool:
        return self.method in UNSAFE_METHODS

    def url(self, **values: str) -> str:
        """The path with its parameters filled: from `values`, else plausible ones."""
        url = self.path
        for field in self.context.dependant.path_params:
            value = values.get(field.alias) or PATH_VALUES.get(field.alias)
            if value is None:
                value = "1" if field.field_info.annotation is int else "x"
            url = url.replace("{" + field.alias + "}", value)
        return url

    def body(self) -> dict[str, Any]:
        """A minimal body for the route: its form fields filled, a tiny CSV for files, or an empty JSON object."""
        fields = self.context.dependant.body_params
        if not fields:
            return {}
        if any(isinstance(field.field_info, params.Form) for field in fields):
            data: dict[str, str] = {}
            files: dict[str, tuple[str, bytes, str]] = {}
            for field in fields:
                if isinstance(field.field_info, params.File):
                    files[field.alias] = ("rows.csv", b"lead_id,email\nL1,a@example.com\n", "text/csv")
                elif field.field_info.is_required():
                    data[field.alias] = "x"
            return {"data": data, "files": files} if files else {"data": data}
        return {"json": {}}

    def call(self, client: TestClient, **headers: str) -> Response:
        return client.request(self.method, self.url(), headers=headers, **self.body())

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def endpoints_of(routes: list[Any]) -> list[Endpoint]:
    found = []
    for context in iter_route_contexts(routes):
        route = context.original_route
        # A route without methods (a mount, say) is walked as GET, so that it cannot hide from the checks.
        for method in sorted(context.methods or {"GET"}):
            found.append(Endpoint(method, context.path or "", route, context))
    return found


def declared_endpoints() -> list[Endpoint]:
    """Every route of every router the app includes, as the app includes them (for collection: no workspace yet)."""
    probe = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    for router in ROUTERS:
        probe.include_router(router)
    return endpoints_of(probe.routes)


ENDPOINTS = declared_endpoints()
GUARDED = [e for e in ENDPOINTS if e.permission is not Permission.PUBLIC]
UNSAFE_GUARDED = [e for e in GUARDED if e.unsafe]
BEYOND_VIEWER = [e for e in GUARDED if Role.VIEWER not in e.admitted]


def where(endpoint: Endpoint, response: Response) -> str:
    return f"{endpoint} -> {response.status_code} {response.headers.get('location', '')} {response.text[:200]!r}"


def not_signed_in_answer(endpoint: Endpoint, response: Response) -> bool:
    if endpoint.is_api or endpoint.method != "GET":
        return response.status_code == 401
    return response.status_code == 303 and response.headers["location"].startswith("/login?next=")


# --- A workspace with every role signed in, once per module ----------------------------------------------------


@dataclass
class Credentials:
    """Sessions (cookie, CSRF token) and API tokens of one user per role, valid in every copy of the template."""

    sessions: dict[str, tuple[str, str]]
    tokens: dict[str, str]


@dataclass
class Matrix:
    """The app on one workspace copy, with a client per role and way of asking, and one without credentials."""

    app: FastAPI
    anonymous: TestClient
    sessions: dict[str, Browser]
    tokens: dict[str, TestClient]


@pytest.fixture(scope="module")
def template(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Credentials]:
    """The demo workspace with every role signed in through the sign-in form and holding an API token.

    Signing in costs a password hash per user; done once here, the sessions live on in each copy.
    """
    folder = tmp_path_factory.mktemp("matrix") / "workspace"
    shutil.copytree(demo_template, folder, ignore=shutil.ignore_patterns("demo-data"))
    app = create_app(folder)
    sessions: dict[str, tuple[str, str]] = {}
    with TestClient(app, follow_redirects=False) as client:
        for role, name in BY_ROLE.items():
            client.cookies.clear()
            assert sign_in(client, name).status_code == 303  # type: ignore[attr-defined]
            page = client.get("/account").text
            csrf = re.search(r'name="csrf-token" content="([^"]+)"', page)
            assert csrf, page
            sessions[role] = (client.cookies[SESSION_COOKIE], csrf.group(1))
        accounts = app.state.tandem.workspace.accounts
        # A token of someone outside the matrix first, so that token #1 (the one path parameters name) is none the
        # matrix asks with: an admitted role revoking it must not sign a later one out.
        accounts.create_token("test", "mark", "decoy")
        tokens = {role: accounts.create_token("test", name, "matrix")[1] for role, name in BY_ROLE.items()}
    return folder, Credentials(sessions, tokens)


@contextmanager
def matrix_on(folder: Path, credentials: Credentials) -> Iterator[Matrix]:
    app = create_app(folder)
    with ExitStack() as stack:
        anonymous = stack.enter_context(TestClient(app, follow_redirects=False))
        sessions: dict[str, Browser] = {}
        for role, (cookie, csrf) in credentials.sessions.items():
            browser = stack.enter_context(Browser(app, follow_redirects=False, cookies={SESSION_COOKIE: cookie}))
            browser.csrf = csrf
            sessions[role] = browser
        tokens = {
            role: stack.enter_context(
                TestClient(app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"})
            )
            for role, secret in credentials.tokens.items()
        }
        yield Matrix(app, anonymous, sessions, tokens)


@pytest.fixture(scope="module")
def shared(template: tuple[Path, Credentials], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Matrix]:
    """One workspace for the whole module: for requests that change nothing (reads, and refused requests)."""
    folder = tmp_path_factory.mktemp("matrix") / "shared"
    shutil.copytree(template[0], folder)
    with matrix_on(folder, template[1]) as matrix:
        yield matrix


@pytest.fixture
def private(template: tuple[Path, Credentials], tmp_path: Path) -> Iterator[Matrix]:
    """A workspace of this test's own: for requests that change things."""
    folder = tmp_path / "private"
    shutil.copytree(template[0], folder)
    with matrix_on(folder, template[1]) as matrix:
        yield matrix


# --- Every route declares who may use it -------------------------------------------------------------------------


def test_every_route_of_the_app_is_guarded_and_declares_a_permission(shared: Matrix) -> None:
    endpoints = endpoints_of(shared.app.routes)
    assert endpoints, "the app has no routes?"
    for endpoint in endpoints:
        assert isinstance(endpoint.route, GuardedRoute), f"{endpoint} is a {type(endpoint.route).__name__}"
        permission = endpoint.route.permission
        assert isinstance(permission, Permission), str(endpoint)
        assert (endpoint.route.openapi_extra or {}).get(ACCESS_KEY) == permission.value, str(endpoint)


def test_the_matrix_walks_exactly_the_routes_the_app_serves(shared: Matrix) -> None:
    """The matrix below is built from the routers before any app exists; it must be the app's own route list."""
    served = sorted(str(e) for e in endpoints_of(shared.app.routes))
    assert served == sorted(str(e) for e in ENDPOINTS), "the app serves routes outside tandem.server.app.ROUTERS"


def test_a_viewer_may_change_nothing_but_their_own_session_and_account() -> None:
    """What changes anything needs more than reading, except signing in and out and one's own password and tokens."""
    own = ("/login", "/logout", "/account/", "/api/me/")  # /api/me/password: one's own password (issue 16)
    open_to_viewers = [str(e) for e in ENDPOINTS if e.unsafe and Role.VIEWER in e.admitted]
    assert [name for name in open_to_viewers if not name.split(" ", 1)[1].startswith(own)] == []


def test_every_operation_of_the_openapi_document_shows_who_may_use_it(shared: Matrix) -> None:
    document = shared.anonymous.get("/api/openapi.json").json()
    operations = [
        (method.upper(), path, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in {"get", "put", "post", "delete", "patch", "head", "options"}
    ]
    assert operations
    for method, path, operation in operations:
        permission = Permission(operation[ACCESS_KEY])
        expected = ["anyone"] if permission is Permission.PUBLIC else sorted(PERMISSION_ROLES[permission])
        assert operation["x-roles"] == expected, f"{method} {path}"
    in_schema = {(e.method, e.path) for e in ENDPOINTS if e.context.include_in_schema}
    assert {(method, path) for method, path, _ in operations} == in_schema


def test_every_api_endpoint_is_in_the_openapi_document() -> None:
    """What the document leaves out, the fuzzer (test_fuzz.py) never calls: only the document and its viewer may."""
    hidden = {str(e) for e in ENDPOINTS if e.is_api and not e.context.include_in_schema}
    assert hidden <= {"GET /api/docs", "GET /api/openapi.json"}


# --- The matrix --------------------------------------------------------------------------------------------------


def as_session(endpoint: Endpoint, browser: Browser) -> Response:
    """A browser request: state-changing ones carry the session's CSRF token, as the pages' forms do."""
    headers = {"X-CSRF-Token": browser.csrf} if endpoint.unsafe else {}
    return endpoint.call(browser, **headers)


def checks(endpoint: Endpoint, matrix: Matrix) -> Iterator[tuple[str, str, Callable[[], Response]]]:
    """(role, via, request) in the order that keeps one check from deciding another: refusals first, admin last."""
    refused = [role for role in ROLE_ORDER if role not in endpoint.admitted]
    admitted = [role for role in ROLE_ORDER if role in endpoint.admitted]
    for role in [*refused, *admitted]:
        yield role, "session", lambda role=role: as_session(endpoint, matrix.sessions[role])  # type: ignore[misc]
        yield role, "token", lambda role=role: endpoint.call(matrix.tokens[role])  # type: ignore[misc]


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=str)
def test_each_role_gets_exactly_what_the_route_permission_admits(
    endpoint: Endpoint, request: pytest.FixtureRequest
) -> None:
    # Reads share one workspace; a request that may change something gets a workspace of its own.
    matrix: Matrix = request.getfixturevalue("private" if endpoint.unsafe else "shared")
    wrong: list[str] = []
    public = endpoint.permission is Permission.PUBLIC

    anonymous = endpoint.call(matrix.anonymous)
    if anonymous.status_code >= 500 or (not public and not not_signed_in_answer(endpoint, anonymous)):
        wrong.append(f"no credentials: {where(endpoint, anonymous)}")
    elif public and endpoint.method == "GET" and anonymous.status_code in (401, 403):
        wrong.append(f"no credentials on a public page: {where(endpoint, anonymous)}")

    for role, via, ask in checks(endpoint, matrix):
        response = ask()
        if response.status_code >= 500:
            wrong.append(f"{role} via {via}: server error: {where(endpoint, response)}")
        elif public and endpoint.unsafe:
            continue  # signing in answers 401/403 itself for a wrong password or form token; only 5xx is wrong
        elif role not in endpoint.admitted and response.status_code != 403:
            wrong.append(f"{role} via {via} should be refused (403): {where(endpoint, response)}")
        elif role in endpoint.admitted and response.status_code in (401, 403):
            wrong.append(f"{role} via {via} should be let through: {where(endpoint, response)}")
    assert not wrong, f"{endpoint} needs {endpoint.permission}:\n" + "\n".join(wrong)


# --- Credentials that are not what they claim --------------------------------------------------------------------


def test_an_admins_token_scoped_to_viewer_reads_but_is_refused_everything_beyond(shared: Matrix) -> None:
    accounts = shared.app.state.tandem.workspace.accounts
    _, secret = accounts.create_token("test", BY_ROLE["admin"], "read only", "viewer")
    assert BEYOND_VIEWER, "no route needs more than a viewer may do"
    with TestClient(shared.app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"}) as scoped:
        me = scoped.get("/api/me").json()
        assert me["role"] == "viewer"
        assert sorted(me["permissions"]) == sorted(p for p in Permission if Role.VIEWER in PERMISSION_ROLES[p])
        assert scoped.get("/api/overview").status_code == 200
        refused = {str(e): e.call(scoped).status_code for e in BEYOND_VIEWER}
    assert refused == {name: 403 for name in refused}


def test_a_session_request_that_changes_something_needs_the_csrf_token(shared: Matrix) -> None:
    assert UNSAFE_GUARDED, "no state-changing route to check"
    for endpoint in UNSAFE_GUARDED:
        # Asked by a role the route admits (an admin wherever admins are), so that only the CSRF token decides.
        role = "admin" if Role.ADMIN in endpoint.admitted else next(r for r in ROLE_ORDER if r in endpoint.admitted)
        admin, other = shared.sessions[role], shared.sessions["exec" if role != "exec" else "viewer"]
        missing = endpoint.call(admin)
        assert missing.status_code == 403, where(endpoint, missing)
        assert "CSRF" in missing.text, where(endpoint, missing)
        forged = endpoint.call(admin, **{"X-CSRF-Token": "forged"})
        assert forged.status_code == 403, where(endpoint, forged)
        someone_elses = endpoint.call(admin, **{"X-CSRF-Token": other.csrf})
        assert someone_elses.status_code == 403, where(endpoint, someone_elses)


def test_a_form_post_without_the_csrf_field_is_refused_and_changes_nothing(shared: Matrix) -> None:
    viewer = shared.sessions["viewer"]
    refused = viewer.post("/logout", data={"csrf_token": ""})
    assert refused.status_code == 403
    assert viewer.get("/").status_code == 200  # still signed in


@pytest.mark.parametrize(
    "authorization",
    ["Bearer tdm_not-a-real-token", "Bearer not-even-a-tandem-token", "Bearer ", "Basic YWRhOnBhc3N3b3Jk", "tdm_x"],
)
def test_a_bogus_authorization_header_is_not_signed_in_anywhere(shared: Matrix, authorization: str) -> None:
    with TestClient(shared.app, follow_redirects=False, headers={"Authorization": authorization}) as bogus:
        for endpoint in GUARDED:
            response = endpoint.call(bogus)
            assert not_signed_in_answer(endpoint, response), where(endpoint, response)


def test_a_bogus_session_cookie_is_not_signed_in_anywhere(shared: Matrix) -> None:
    with TestClient(shared.app, follow_redirects=False, cookies={"tandem_session": "forged"}) as bogus:
        for endpoint in GUARDED:
            response = endpoint.call(bogus)
            assert not_signed_in_answer(endpoint, response), where(endpoint, response)


def test_a_revoked_token_and_a_disabled_users_token_are_not_signed_in(private: Matrix) -> None:
    accounts = private.app.state.tandem.workspace.accounts
    info, revoked = accounts.create_token("test", BY_ROLE["sales"], "to revoke")
    accounts.revoke_token("test", info.id)
    _, of_disabled = accounts.create_token("test", "sid", "to disable")
    accounts.update_user("test", "sid", disabled=True)
    for secret in (revoked, of_disabled):
        with TestClient(private.app, follow_redirects=False, headers={"Authorization": f"Bearer {secret}"}) as client:
            assert client.get("/api/me").status_code == 401


def test_a_one_time_password_admits_only_what_changing_it_needs(private: Matrix) -> None:
    """Signed in with a password an admin handed out, a user may reach their account page, and nothing else: a page
    opened leads there (and back once it is changed), anything else is refused."""
    _, password = private.app.state.tandem.workspace.accounts.create_user("test", "newcomer", "admin")
    with Browser(private.app, follow_redirects=False) as browser:
        assert sign_in(browser, "newcomer", password).headers["location"] == "/account"  # type: ignore[attr-defined]
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/account").text)
        assert csrf
        wrong = []
        for endpoint in GUARDED:
            if endpoint.permission is Permission.SIGNED_IN:
                continue
            response = endpoint.call(browser, **({"X-CSRF-Token": csrf.group(1)} if endpoint.unsafe else {}))
            if endpoint.method == "GET" and not endpoint.is_api:  # a page: to the Account page, then back to it
                if response.status_code != 303 or not response.headers["location"].startswith("/account"):
                    wrong.append(where(endpoint, response))
            elif response.status_code != 403:
                wrong.append(where(endpoint, response))
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("via", ["anonymous", "session", "token"])
def test_every_answer_carries_the_security_headers(shared: Matrix, via: str) -> None:
    client = {"anonymous": shared.anonymous, "session": shared.sessions["admin"], "token": shared.tokens["admin"]}[via]
    missing = []
    for endpoint in ENDPOINTS:
        if endpoint.unsafe:
            continue  # reads only: the shared workspace must not change
        response = endpoint.call(client)
        headers = response.headers
        policy = headers.get("content-security-policy", "")
        if not (
            "default-src 'self'" in policy
            and "frame-ancestors 'none'" in policy
            and headers.get("x-content-type-options") == "nosniff"
            and headers.get("x-frame-options") == "DENY"
            and headers.get("referrer-policy") == "same-origin"
        ):
            missing.append(f"{endpoint} -> {response.status_code}: {dict(headers)}")
        if not endpoint.path.startswith(("/static/", "/favicon.ico")) and headers.get("cache-control") != "no-store":
            missing.append(f"{endpoint} -> {response.status_code}: cache-control {headers.get('cache-control')}")
    assert not missing, "\n".join(missing)
