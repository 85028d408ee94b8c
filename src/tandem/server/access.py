"""Who may use which route: declared on every route, enforced by the route class itself.

Deny by default: every router of the app uses `GuardedRoute`, which refuses to be built without an access
declaration and attaches the check for it. A route is declared with ``openapi_extra=access(Permission.X)``;
the declaration shows in the OpenAPI document as ``x-access`` (and the roles it admits as ``x-roles``).

Who is asking:

- a browser sends the ``tandem_session`` cookie (HttpOnly, SameSite=Lax, Secure behind HTTPS); every
  state-changing request it makes must carry the session's CSRF token, in the ``csrf_token`` form field or the
  ``X-CSRF-Token`` header;
- a program sends ``Authorization: Bearer tdm_...`` (an API token). Tokens are not ambient credentials, so
  requests carrying one need no CSRF token.

A request without valid credentials for a non-public route gets 401 (API) or a redirect to the sign-in page
(pages); a role without the permission gets 403. A user signed in with a one-time password may use only what
needs no more than being signed in (the Account page, signing out): any other page they open redirects to the
Account page, which sends them on to it once the password is changed; the API answers 403.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.routing import APIRoute

from tandem.accounts import PERMISSION_ROLES, Permission, Principal, csrf_token

__all__ = [
    "ACCESS_KEY",
    "SESSION_COOKIE",
    "Forbidden",
    "GuardedRoute",
    "NotFound",
    "NotSignedIn",
    "access",
    "change_password_path",
    "principal_of",
]

ACCESS_KEY = "x-access"
SESSION_COOKIE = "tandem_session"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class NotSignedIn(Exception):
    """No valid credentials on a route that needs them."""

    def __init__(self, message: str = "sign in first (or send an API token: Authorization: Bearer tdm_...)"):
        super().__init__(message)


class Forbidden(Exception):
    """Signed in, but not allowed: wrong role, or a missing or wrong CSRF token."""


class NotFound(Exception):
    """The thing asked for does not exist (the message says what does)."""


def access(permission: Permission) -> dict[str, Any]:
    """The ``openapi_extra`` that declares who may use a route."""
    roles = sorted(PERMISSION_ROLES[permission]) if permission is not Permission.PUBLIC else ["anyone"]
    return {ACCESS_KEY: permission.value, "x-roles": roles}


def principal_of(request: Request) -> Principal:
    """The signed-in principal of a request that passed a non-public guard."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise NotSignedIn()
    return principal


def _authenticate(request: Request) -> Principal | None:
    from tandem.server.state import ServerState

    state: ServerState = request.app.state.tandem
    accounts = state.workspace.accounts
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise NotSignedIn("the Authorization header must be 'Bearer <API token>'")
        principal = accounts.token_principal(secret.strip())
        if principal is None:
            raise NotSignedIn("the API token is not valid (unknown, revoked, or its user is disabled)")
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        principal = accounts.session_principal(cookie)
        if principal is not None:
            request.state.session_token = cookie
            request.state.csrf_token = csrf_token(cookie)
        return principal
    return None


async def _check_csrf(request: Request) -> None:
    expected: str = request.state.csrf_token
    sent = request.headers.get("x-csrf-token")
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get("csrf_token")
        sent = value if isinstance(value, str) else None
    if not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("the form has expired or did not come from this site (CSRF check failed); reload and retry")


def _guard(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, None]]:
    async def guard(request: Request) -> None:
        principal = _optional(request) if permission is Permission.PUBLIC else _authenticate(request)
        request.state.principal = principal
        if permission is Permission.PUBLIC:
            return
        if principal is None:
            raise NotSignedIn()
        if not principal.may(permission):
            if principal.must_change_password:
                if request.method == "GET" and principal.via == "session" and not request.url.path.startswith("/api/"):
                    raise _change_password_first(request)
                raise Forbidden("change your one-time password first")
            raise Forbidden(f"the {principal.role} role may not do this (it needs the {permission} permission)")
        if request.method in UNSAFE_METHODS and principal.via == "session":
            await _check_csrf(request)

    guard.__name__ = f"require_{permission.value.replace('-', '_')}"
    return guard


def _change_password_first(request: Request) -> HTTPException:
    """A page opened during the forced password change: a redirect to the Account page, which leads back here once
    the one-time password is changed (`tandem.server.routes.auth`)."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return HTTPException(
        status.HTTP_303_SEE_OTHER, "change your one-time password first", {"Location": change_password_path(target)}
    )


def change_password_path(target: str) -> str:
    """The Account page, where a one-time password is changed, then `target` (a path on this server)."""
    return "/account" if target in ("/", "/account") else f"/account?next={quote(target)}"


def _optional(request: Request) -> Principal | None:
    """On public pages, who is signed in if anyone (bad cookies are ignored there)."""
    try:
        return _authenticate(request)
    except NotSignedIn:
        return None


class GuardedRoute(APIRoute):
    """An API route that cannot exist without declaring who may use it."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        extra = kwargs.get("openapi_extra") or {}
        declared = extra.get(ACCESS_KEY)
        if declared is None:
            raise RuntimeError(
                f"route {path} declares no access: add openapi_extra=access(Permission.X) (deny by default)"
            )
        permission = Permission(declared)
        dependencies = [Depends(_guard(permission)), *(kwargs.pop("dependencies", None) or [])]
        super().__init__(path, endpoint, dependencies=dependencies, **kwargs)
        self.permission = permission
