"""Signing in and out, and the signed-in user's own account: password and API tokens.

The forced password change: a user signed in with a one-time password may open only the Account page (and sign
out) until they choose their own. Signing in sends them there with the page they asked for (``/account?next=``),
any other page they open does too (`tandem.server.access`), and once changed they land on that page.

The Account page lists the signed-in user's own tokens: the tokens question (`tandem.questions.TokensQuestion`)
asked for them, the document ``GET /api/tokens?user=`` answers an admin. A refused change is shown on the page
with the status of its kind (`tandem.server.refusals`).
"""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, Field

from tandem.accounts import AccountError, AccountInvalid, Permission, Role, SignInRefused
from tandem.questions import TokensQuestion, ask
from tandem.server import first_run  # noqa: F401 - the layout's "what to do next" panel (a template global)
from tandem.server.access import SESSION_COOKIE, GuardedRoute, access, change_password_path, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, explain

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

LOGIN_COOKIE = "tandem_login"


def _safe_next(target: str | None) -> str:
    """Only a path on this server may follow a sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _login_page(request: Request, *, next_path: str, username: str = "", error: str = "", status: int = 200) -> Any:
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        status_code=status,
        title="Sign in",
        login_token=token,
        next=next_path,
        username=username,
        error=error,
    )
    # Sign-in CSRF: the form must come back with the value this cookie carries (double submit).
    response.set_cookie(LOGIN_COOKIE, token, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


@router.get("/login", openapi_extra=access(Permission.PUBLIC), include_in_schema=False)
def login_form(request: Request, next: str | None = None) -> Any:
    return _login_page(request, next_path=_safe_next(next))


@router.post("/login", openapi_extra=access(Permission.PUBLIC), include_in_schema=False)
def login(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    password: Annotated[str, Form(max_length=1000)],
    login_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Any:
    expected = request.cookies.get(LOGIN_COOKIE, "")
    target = _safe_next(next)
    if not expected or not hmac.compare_digest(expected, login_token):
        return _login_page(
            request, next_path=target, username=username, error="The form expired; sign in again.", status=403
        )
    accounts = request.app.state.tandem.workspace.accounts
    try:
        principal = accounts.authenticate(username, password, _address(request))
    except SignInRefused as refused:
        status = 429 if refused.retry_after else 401
        response = _login_page(request, next_path=target, username=username, error=str(refused), status=status)
        if refused.retry_after:
            response.headers["Retry-After"] = str(refused.retry_after)
        return response
    token = accounts.start_session(principal)
    destination = change_password_path(_safe_next(target)) if principal.must_change_password else target
    response = RedirectResponse(destination, status_code=303)
    hours = int(request.app.state.tandem.workspace.settings["session_hours"])
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=hours * 3600,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    response.delete_cookie(LOGIN_COOKIE)
    return response


@router.post("/logout", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def logout(request: Request) -> Response:
    token = getattr(request.state, "session_token", None)
    if token:
        request.app.state.tandem.workspace.accounts.end_session(token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


def _account_page(request: Request, status: int = 200, *, next_path: str = "/", **context: Any) -> Any:
    principal = principal_of(request)
    workspace = request.app.state.tandem.workspace
    return render(
        request,
        "account.html",
        status_code=status,
        title="Account",
        tokens=ask(workspace, TokensQuestion(user=principal.username))["tokens"],
        min_length=workspace.settings["password_min_length"],
        next=_safe_next(next_path),
        **context,
    )


def _refused(request: Request, exc: AccountError, next_path: str = "/") -> Any:
    """The page again, saying why, with the status of the refusal's kind."""
    status, _ = explain(exc)
    return _account_page(request, status, next_path=next_path, error=str(exc))


@router.get("/account", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def account(request: Request, next: Annotated[str | None, Query(max_length=2000)] = None) -> Any:
    return _account_page(request, next_path=next or "/")


@router.post("/account/password", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def change_password(
    request: Request,
    current: Annotated[str, Form(max_length=1000)],
    new: Annotated[str, Form(max_length=1000)],
    again: Annotated[str | None, Form(max_length=1000)] = None,
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Any:
    principal = principal_of(request)
    if again is not None and again != new:
        return _refused(request, AccountInvalid("the two new passwords differ; type the same one twice"), next)
    try:
        request.app.state.tandem.workspace.accounts.change_own_password(principal, current, new)
    except AccountError as exc:
        return _refused(request, exc, next)
    if principal.must_change_password:  # the forced change is done: on to the page first asked for
        return RedirectResponse(_safe_next(next), status_code=303)
    # The principal of this request still carries the old flag; show the page as it now is.
    request.state.principal = request.app.state.tandem.workspace.accounts.session_principal(request.state.session_token)
    return _account_page(request, message="Password changed.")


@router.post("/account/tokens", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def create_own_token(
    request: Request, name: Annotated[str, Form(max_length=200)], role: Annotated[str, Form(max_length=20)] = ""
) -> Any:
    principal = principal_of(request)
    if principal.must_change_password:
        return _account_page(request, error="Change your one-time password first.")
    try:
        _, secret = request.app.state.tandem.workspace.accounts.create_token(
            principal.username, principal.username, name, role or None
        )
    except AccountError as exc:
        return _refused(request, exc)
    return _account_page(request, new_token=secret, message="Token created.")


@router.post("/account/tokens/{token_id}/revoke", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def revoke_own_token(
    request: Request, token_id: Annotated[int, Path(ge=1, le=2**31 - 1, description="The token's number.")]
) -> Any:
    principal = principal_of(request)
    try:
        request.app.state.tandem.workspace.accounts.revoke_token(principal.username, token_id, owner=principal.username)
    except AccountError as exc:
        return _refused(request, exc)
    return _account_page(request, message=f"Token #{token_id} revoked.")


class Me(BaseModel):
    username: str
    display_name: str
    role: Role
    is_leader: bool
    via: str = Field(description="How this request was authenticated: session or token.")
    permissions: list[Permission]


@router.get("/api/me", openapi_extra=access(Permission.SIGNED_IN), tags=["account"])
def me(request: Request) -> Me:
    """Who the request is authenticated as, and what that allows."""
    principal = principal_of(request)
    return Me(
        username=principal.username,
        display_name=principal.display_name,
        role=principal.role,
        is_leader=principal.is_leader,
        via=principal.via,
        permissions=[p for p in Permission if principal.may(p)],
    )
