"""Signing in and out, and the signed-in user's own account: password and API tokens.

The forced password change: a user signed in with a one-time password may open only the Account page (and sign
out) until they choose their own. Signing in sends them there with the page they asked for (``/account?next=``),
any other page they open does too (`tandem.server.access`), and once changed they land on that page.

Sign-in protection (`tandem.accounts`): the client's address is the connection's, or, only when the connection comes
from one of the ``trusted_proxies``, the nearest address in ``X-Forwarded-For`` that is not one of them. A
successful sign-in sets the device cookie (``tandem_device``, signed, HttpOnly), which marks the browser as known to
the account: it keeps signing in while an address or unknown browsers are blocked. A password change signs out the
user's other sessions (``POST /api/me/password`` says how many, and how many tokens it revoked when asked to).

The Account page lists the signed-in user's own tokens: the tokens question (`tandem.questions.TokensQuestion`)
asked for them, the document ``GET /api/tokens?user=`` answers an admin. A refused change is shown on the page
with the status of its kind (`tandem.server.refusals`).
"""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from tandem.accounts import DEVICE_DAYS, AccountError, AccountInvalid, Permission, Role, SignInRefused
from tandem.questions import TokensQuestion, ask
from tandem.server import first_run  # noqa: F401 - the layout's "what to do next" panel (a template global)
from tandem.server.access import SESSION_COOKIE, GuardedRoute, access, change_password_path, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, SIGNED_IN, UNREADABLE, explain

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

LOGIN_COOKIE = "tandem_login"
#: Marks a browser as known to the account that last signed in on it (`tandem.accounts.Accounts.device_cookie`).
DEVICE_COOKIE = "tandem_device"


def _safe_next(target: str | None) -> str:
    """Only a path on this server may follow a sign-in (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _address(request: Request) -> str:
    """The client's address: the connection's, unless it is a trusted proxy naming the client in X-Forwarded-For."""
    peer = request.client.host if request.client else "unknown"
    trusted = request.app.state.tandem.workspace.settings["trusted_proxies"]
    if not trusted or not _in(peer, trusted):
        return peer
    hops = [hop.strip() for hop in ",".join(request.headers.getlist("x-forwarded-for")).split(",") if hop.strip()]
    for hop in reversed(hops):  # the right-most hop is the one the trusted proxy saw; earlier ones it was told
        if not _in(hop, trusted):
            return hop
    return peer


def _in(address: str, trusted: list[str]) -> bool:
    """Whether `address` is one of `trusted` (addresses or networks such as 10.0.0.0/8)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address in trusted
    for entry in trusted:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _set_device_cookie(request: Request, response: Response, username: str) -> None:
    accounts = request.app.state.tandem.workspace.accounts
    response.set_cookie(
        DEVICE_COOKIE,
        accounts.device_cookie(username),
        max_age=DEVICE_DAYS * 86400,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


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
        principal = accounts.authenticate(
            username, password, _address(request), device=request.cookies.get(DEVICE_COOKIE)
        )
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
    _set_device_cookie(request, response, principal.username)
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
        locked=workspace.accounts.user(principal.username).locked,
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
    revoke_tokens: Annotated[bool, Form()] = False,
) -> Any:
    principal = principal_of(request)
    if again is not None and again != new:
        return _refused(request, AccountInvalid("the two new passwords differ; type the same one twice"), next)
    accounts = request.app.state.tandem.workspace.accounts
    session = getattr(request.state, "session_token", None)
    try:
        done = accounts.change_own_password(principal, current, new, keep_session=session, revoke_tokens=revoke_tokens)
    except AccountError as exc:
        return _refused(request, exc, next)
    response: Any
    if principal.must_change_password:  # the forced change is done: on to the page first asked for
        response = RedirectResponse(_safe_next(next), status_code=303)
    else:
        # The principal of this request still carries the old flag; show the page as it now is.
        request.state.principal = accounts.session_principal(session) if session else principal
        response = _account_page(request, message=_changed(done.sessions_ended, done.tokens_revoked))
    _set_device_cookie(request, response, principal.username)  # the new password retired the old cookie
    return response


def _changed(sessions: int, tokens: int) -> str:
    """What a password change did, as the Account page says it."""
    parts = ["Password changed."]
    if sessions:
        parts.append(f"{sessions} other session(s) signed out.")
    if tokens:
        parts.append(f"{tokens} API token(s) revoked.")
    return " ".join(parts)


@router.post("/account/unlock", openapi_extra=access(Permission.SIGNED_IN), include_in_schema=False)
def unlock_own_account(request: Request) -> Any:
    """The owner, signed in, lifts the sign-in blocks on their account (an attacker's failures, or their own)."""
    principal = principal_of(request)
    request.app.state.tandem.workspace.accounts.unlock(principal.username, principal.username)
    return _account_page(request, message="Your account is unlocked.")


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


class PasswordChangeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    current: str = Field(min_length=1, max_length=1000, description="The password now.")
    new: str = Field(min_length=1, max_length=1000, description="The new one (the workspace's minimum length).")
    revoke_tokens: StrictBool = Field(False, description="Also revoke every API token of yours.")


class PasswordChangeOut(BaseModel):
    sessions_ended: int = Field(description="Your browser sessions signed out (all but the one asking, if any).")
    tokens_revoked: int = Field(description="Your API tokens revoked (0 unless revoke_tokens was asked).")


@router.post(
    "/api/me/password",
    openapi_extra=access(Permission.SIGNED_IN),
    tags=["account"],
    responses={**SIGNED_IN, **UNREADABLE},
)
def api_change_password(request: Request, body: PasswordChangeIn) -> PasswordChangeOut:
    """Change your own password. Your other browser sessions end; with revoke_tokens, your API tokens too (this
    request's own token included, when it was made with one)."""
    done = request.app.state.tandem.workspace.accounts.change_own_password(
        principal_of(request),
        body.current,
        body.new,
        keep_session=getattr(request.state, "session_token", None),
        revoke_tokens=body.revoke_tokens,
    )
    return PasswordChangeOut(sessions_ended=done.sessions_ended, tokens_revoked=done.tokens_revoked)


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
