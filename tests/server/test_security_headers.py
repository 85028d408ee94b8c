"""Every response carries the security headers, whatever answered it: a page, a redirect, a refusal, a static file,
the API docs, and the plain 500 of an unhandled exception (answered outside every route and exception handler)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import tandem.server

POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
#: The headers of every answer that is not a static file.
DYNAMIC = {
    "content-security-policy": POLICY,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
    "cache-control": "no-store",
}
#: Static files may be cached for an hour; the rest is the same.
STATIC = {**DYNAMIC, "cache-control": "public, max-age=3600"}


def security(headers: dict[str, str]) -> dict[str, str]:
    return {name: headers[name] for name in DYNAMIC if name in headers}


class Broken(Exception):
    """An unhandled exception: what a bug in a route raises."""


def broken() -> None:
    raise Broken("a bug")


@pytest.fixture
def unguarded(app: FastAPI) -> Iterator[TestClient]:
    """A client of the app with two routes that fail with an unhandled exception, a page's and an API's; the
    client answers what the server would (a 500) instead of raising the exception into the test."""
    app.add_api_route("/api/broken", broken)
    app.add_api_route("/broken", broken)
    with TestClient(app, follow_redirects=False, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize("path", ["/api/broken", "/broken"])
def test_a_500_from_an_unhandled_exception_carries_them(unguarded: TestClient, path: str) -> None:
    response = unguarded.get(path)
    assert (response.status_code, response.text) == (500, "Internal Server Error")
    assert security(dict(response.headers)) == DYNAMIC


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/login", 200),  # a page
        ("/", 303),  # to the sign-in form
        ("/api/forecast", 401),  # an API refusal
        ("/api/no-such-thing", 404),
        ("/api/docs", 200),
        ("/api/openapi.json", 200),
    ],
)
def test_pages_redirects_refusals_and_the_docs_carry_them(client: TestClient, path: str, status: int) -> None:
    response = client.get(path)
    assert response.status_code == status
    assert security(dict(response.headers)) == DYNAMIC


def test_a_wrong_method_carries_them(client: TestClient) -> None:
    response = client.delete("/login")
    assert response.status_code == 405
    assert security(dict(response.headers)) == DYNAMIC


@pytest.mark.parametrize("path", ["/static/tandem.css", "/static/tandem.js", "/static/swagger-init.js", "/favicon.ico"])
def test_static_files_carry_them_and_may_be_cached(client: TestClient, path: str) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert security(dict(response.headers)) == STATIC


def test_a_missing_static_file_is_not_cached(client: TestClient) -> None:
    response = client.get("/static/nothing.js")
    assert response.status_code == 404
    assert security(dict(response.headers)) == {**DYNAMIC, "cache-control": "no-store"}


def test_the_docs_page_runs_no_inline_script(client: TestClient) -> None:
    page = client.get("/api/docs").text
    assert page.count("<script") == 2
    assert '<script src="/static/swagger/swagger-ui-bundle.js"></script>' in page
    assert '<script src="/static/swagger-init.js"></script>' in page


#: What the policy refuses in markup: a style attribute or element, an inline script, an inline event handler.
INLINE = re.compile(r"""\sstyle\s*=|<style\b|<script(?![^>]*\b(src=|type="application/json"))|\son[a-z]+\s*=""", re.I)


def test_no_template_holds_what_the_policy_refuses() -> None:
    """Every page, visited in the browser tests or not: its markup holds nothing the policy would refuse."""
    templates = Path(tandem.server.__file__).parent / "templates"
    found = [
        f"{path.name}:{number}: {line.strip()}"
        for path in sorted(templates.glob("*.html"))
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
        if INLINE.search(line)
    ]
    assert found == []
    assert (templates / "base.html").is_file()  # the folder searched is the one the app renders from
