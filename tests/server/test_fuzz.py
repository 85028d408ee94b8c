"""The REST API fuzzed from its own OpenAPI document: no input makes any operation fail with a server error.

Schemathesis generates requests for every operation the document describes (valid ones, and ones the schema
forbids) and sends them to the app in-process with an admin's API token, which every operation admits. Each
response must not be a 5xx, must conform to what the document promises (status codes, content types and, for
JSON, the response schema), and input the schema forbids must be refused with a 4xx.

Not checked: that every schema-valid request is accepted. The server validates beyond the schema (dates, stage
and breakdown names, password rules, users that exist) and answers 400 saying why, which the document declares.
Where the app does not keep its document's promise yet, `CONTRACT_GAPS` names the check it is spared, and where
the fuzzer found a server error in code these tests do not own, `KNOWN_SERVER_ERRORS` steps around exactly that
input (so the fuzzer keeps looking for others); a strict xfail test below shows each one, with its reproducer, and
turns into a failure once fixed, so that the exemption gets removed.

The pages are not in the document; `test_an_id_beyond_the_database_range_is_refused_not_a_server_error` probes
the numbers in their paths the same way.

One workspace serves the whole module (a private copy of the demo), so generated deletions, new users and
imports are fine; each example gets a fresh token, so an example that revokes tokens does not sign later ones out.
Bounded for the suite: a fixed number of examples per operation, derandomized so that a failure reproduces.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, reject, settings
from schemathesis.checks import CheckFunction, not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tandem.server import create_app
from tandem.server.app import ROUTERS

from .conftest import BY_ROLE, Browser, sign_in
from .test_access_matrix import ENDPOINTS, Endpoint

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
    allow_header_conformance,
]
#: The largest integer SQLite and PostgreSQL store (BIGINT); ids and versions beyond it exist nowhere.
DATABASE_MAX = 2**63 - 1


#: Server errors found in code these tests do not own: the input that causes each (shown by an xfail test). None now.
KNOWN_SERVER_ERRORS: dict[str, Callable[[schemathesis.Case[Any]], bool]] = {}
#: Operations that break a promise of the document (shown by an xfail test), and the check each is spared. None now.
CONTRACT_GAPS: dict[str, list[CheckFunction]] = {}


def declared_document() -> dict[str, Any]:
    """The OpenAPI document of the app's routers, built at collection time (no workspace needed)."""
    probe = FastAPI(title="tandem", docs_url=None, redoc_url=None, openapi_url=None)
    for router in ROUTERS:
        probe.include_router(router)
    return probe.openapi()


DOCUMENT = declared_document()
schema = schemathesis.openapi.from_dict(DOCUMENT)


@pytest.fixture(scope="module")
def fuzzed_app(demo_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on a private copy of the demo workspace, built once for every example of every operation."""
    folder = tmp_path_factory.mktemp("fuzz") / "workspace"
    shutil.copytree(demo_template, folder, ignore=shutil.ignore_patterns("demo-data"))
    app = create_app(folder)
    yield app
    app.state.tandem.close()


@pytest.fixture(scope="module")
def admin_headers(fuzzed_app: FastAPI) -> Callable[[], dict[str, str]]:
    accounts = fuzzed_app.state.tandem.workspace.accounts

    def fresh() -> dict[str, str]:
        _, secret = accounts.create_token("test", BY_ROLE["admin"], "fuzzer")
        return {"Authorization": f"Bearer {secret}"}

    return fresh


def test_the_fuzzed_document_is_the_one_the_app_serves(fuzzed_app: FastAPI) -> None:
    with TestClient(fuzzed_app) as client:
        served = client.get("/api/openapi.json").json()
    assert served["paths"] == DOCUMENT["paths"]
    assert served.get("components") == DOCUMENT.get("components")


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_input_makes_an_operation_fail_or_break_its_contract(
    case: schemathesis.Case[Any], fuzzed_app: FastAPI, admin_headers: Callable[[], dict[str, str]]
) -> None:
    known = KNOWN_SERVER_ERRORS.get(case.operation.label)
    if known is not None and known(case):
        reject()
    spared = CONTRACT_GAPS.get(case.operation.label, [])
    checks = [check for check in CHECKS if check not in spared]
    case.call_and_validate(app=fuzzed_app, headers=admin_headers(), checks=checks)


# --- Numbers in paths, pages included ---------------------------------------------------------------------------

WITH_ID = [e for e in ENDPOINTS if any(f.field_info.annotation is int for f in e.context.dependant.path_params)]
#: Server errors in code these tests do not own: a number beyond the database's range reaches the database.
OVERFLOWS: dict[str, str] = {}


@pytest.fixture
def admin(app: FastAPI) -> Iterator[Browser]:
    """An admin's browser session that shows a server error as the 500 a browser would get."""
    with Browser(app, follow_redirects=False, raise_server_exceptions=False) as browser:
        assert sign_in(browser, BY_ROLE["admin"]).status_code == 303  # type: ignore[attr-defined]
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', browser.get("/account").text)
        assert csrf
        browser.csrf = csrf.group(1)
        yield browser


@pytest.mark.parametrize(
    "endpoint",
    [
        pytest.param(e, marks=pytest.mark.xfail(reason=OVERFLOWS[str(e)], strict=True)) if str(e) in OVERFLOWS else e
        for e in WITH_ID
    ],
    ids=str,
)
def test_an_id_beyond_the_database_range_is_refused_not_a_server_error(endpoint: Endpoint, admin: Browser) -> None:
    too_large = str(DATABASE_MAX + 1)
    numbers = {f.alias: too_large for f in endpoint.context.dependant.path_params if f.field_info.annotation is int}
    url = endpoint.url(**numbers)
    response = admin.request(endpoint.method, url, headers={"X-CSRF-Token": admin.csrf}, **endpoint.body())
    assert 400 <= response.status_code < 500, f"{endpoint}: {url} -> {response.status_code}"


# --- HTTP itself ---------------------------------------------------------------------------------------------------


def test_a_method_not_allowed_names_every_method_the_path_supports(
    fuzzed_app: FastAPI, admin_headers: Callable[[], dict[str, str]]
) -> None:
    with TestClient(fuzzed_app, headers=admin_headers()) as client:
        refused = client.request("PUT", "/api/users")
    assert refused.status_code == 405
    assert {method.strip() for method in refused.headers["allow"].split(",")} >= {"GET", "POST"}
