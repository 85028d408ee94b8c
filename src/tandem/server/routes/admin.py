"""The Admin page and its REST endpoints: users, roles, API tokens and the audit log.

Execs (the `AUDIT` permission) read the page: users, tokens, the audit log and whether its hash chain holds.
Only admins (`ADMIN`) change anything, and every change goes through `tandem.accounts.Accounts`, which writes
its audit entry in the same transaction and refuses what would lock the workspace out (no active admin left).

Passwords and token secrets are shown once, in the answer to the request that made them; nothing can show them
again, because only their hashes are stored.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from tandem.accounts import AccountError, Accounts, Permission, Role, TokenInfo, UserInfo
from tandem.server.access import GuardedRoute, NotFound, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID
from tandem.workspace import Workspace

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: Audit entries per page (and the default of ``GET /api/audit``).
PAGE_SIZE = 100
#: The largest id the database's INTEGER columns hold: larger ones cannot exist and never reach the database.
MAX_ID = 2**31 - 1
#: What `Accounts` accepts as a user name (it stores it in lower case).
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
#: One line of text: no control characters (which no name needs and some databases refuse).
ONE_LINE = r"^[^\x00-\x1F\x7F]*$"
HEAD_PATTERN = r"^[0-9a-fA-F]{64}$"

Username = Annotated[
    str,
    Field(
        min_length=2,
        max_length=64,
        pattern=USERNAME_PATTERN,
        description="Letters, digits, '.', '_' or '-', starting with a letter or digit; stored in lower case.",
    ),
]
UsernameInPath = Annotated[str, Path(min_length=2, max_length=64, pattern=USERNAME_PATTERN)]
DisplayName = Annotated[str, Field(max_length=200, pattern=ONE_LINE, description="The name pages show.")]


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


#: The database stores UTC without an offset; the API says so (RFC 3339 needs the offset).
Utc = Annotated[datetime, AfterValidator(_utc)]
TokenId = Annotated[int, Path(ge=1, le=MAX_ID, description="The token's number (# on the Admin page).")]


# --- documents ------------------------------------------------------------------------------------------------
class Detail(BaseModel):
    detail: str = Field(description="What went wrong, and what to do about it.")


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    is_leader: bool = Field(description="Approves for their side (marketing or sales only).")
    disabled: bool = Field(description="Cannot sign in; sessions and API tokens stop working.")
    locked: bool = Field(description="Locked for a while after repeated failed sign-ins (a password reset unlocks).")
    must_change_password: bool = Field(description="Signed in with a one-time password not yet changed.")
    created_at: Utc

    @classmethod
    def of(cls, info: UserInfo) -> UserOut:
        return cls.model_validate(info.as_dict())


class NewUser(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username
    role: Role
    leader: StrictBool = Field(False, description="Approves for their side; only marketing and sales users can lead.")
    display_name: DisplayName = ""
    password: str | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="Leave out to generate a one-time password, which the user must change at first sign-in. "
        "The workspace's minimum length applies.",
    )


class CreatedUser(BaseModel):
    user: UserOut
    one_time_password: str | None = Field(
        description="The generated password, shown this once (null when the request gave one)."
    )


class UserChange(BaseModel):
    """Only the fields sent change; a role change or disabling ends the user's browser sessions."""

    model_config = ConfigDict(extra="forbid")

    role: Role | None = None
    leader: StrictBool | None = None
    disabled: StrictBool | None = Field(None, description="Disabling stops sign-in, sessions and API tokens at once.")
    display_name: DisplayName | None = None


class PasswordReset(BaseModel):
    username: str
    one_time_password: str = Field(description="Shown this once; the user must change it at first sign-in.")


class TokenOut(BaseModel):
    id: int
    username: str = Field(description="Whose token it is.")
    name: str = Field(description="What it is for.")
    role: Role = Field(description="The role it carries: its owner's, or viewer.")
    prefix: str = Field(description="Its first characters, to recognise it; the secret itself is not stored.")
    created_at: Utc
    last_used_at: Utc | None = Field(description="To the minute: written at most once a minute.")
    revoked_at: Utc | None

    @classmethod
    def of(cls, info: TokenInfo) -> TokenOut:
        return cls.model_validate(info.as_dict())


class NewToken(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Username = Field(description="Whose token it is: it acts as this user.")
    name: str = Field(min_length=1, max_length=100, pattern=ONE_LINE, description="What it is for.")
    role: Role | None = Field(None, description="The owner's role (the default) or viewer, for read-only use.")


class CreatedToken(BaseModel):
    token: TokenOut
    secret: str = Field(description="Send as 'Authorization: Bearer <secret>'. Shown this once; stored hashed.")


class AuditEntryOut(BaseModel):
    seq: int = Field(description="Position in the chain, from 1.")
    at: Utc = Field(description="When.")
    actor: str
    action: str
    target: str
    details: Any = Field(description="What changed, as recorded.")
    hash: str = Field(description="SHA-256 over this entry and the previous entry's hash.")


class AuditProblemOut(BaseModel):
    seq: int
    message: str


class AuditCheck(BaseModel):
    ok: bool = Field(description="No entry edited, none missing from the middle, links intact (and the head expected).")
    entries: int
    head_hash: str = Field(
        description="Keep it elsewhere and pass it back as expect_head: only that detects deleted newest entries."
    )
    problems: list[AuditProblemOut]


DENIED: dict[int | str, dict[str, Any]] = {
    401: {"model": Detail, "description": "No valid API token or session."},
    403: {"model": Detail, "description": "The role lacks the permission (see x-access)."},
}
REFUSED: dict[int | str, dict[str, Any]] = {
    **DENIED,
    400: {"model": Detail, "description": "Cannot be done as asked; the detail says why."},
}
UNKNOWN: dict[int | str, dict[str, Any]] = {
    **REFUSED,
    404: {"model": Detail, "description": "No such user or token."},
}


# --- helpers --------------------------------------------------------------------------------------------------
def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.tandem.workspace
    return workspace


def _accounts(request: Request) -> Accounts:
    return _workspace(request).accounts


def _existing_user(accounts: Accounts, username: str) -> UserInfo:
    """The user, or 404: `Accounts` says "no user" with the same error as every other refusal."""
    try:
        return accounts.user(username)
    except AccountError as exc:
        raise NotFound(str(exc)) from None


def _compact(details: Any) -> str:
    return json.dumps(details, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def _page(request: Request, *, status: int = 200, before: int | None = None, **context: Any) -> HTMLResponse:
    """The Admin page as it is now, with whatever the last action has to say (`message`, `error`, secrets)."""
    workspace = _workspace(request)
    accounts = workspace.accounts
    entries = workspace.audit_log(PAGE_SIZE, before)
    for entry in entries:
        entry["details_json"] = _compact(entry["details"])
    older = entries[-1]["seq"] if len(entries) == PAGE_SIZE and entries[-1]["seq"] > 1 else None
    return render(
        request,
        "admin.html",
        status_code=status,
        title="Admin",
        users=accounts.users(),
        tokens=accounts.tokens(),
        audit=entries,
        before=before,
        older=older,
        verification=workspace.verify_audit(),
        roles=list(Role),
        leader_roles=[Role.MARKETING, Role.SALES],
        can_change=principal_of(request).may(Permission.ADMIN),
        min_length=workspace.settings["password_min_length"],
        **context,
    )


def _after_change(request: Request, **context: Any) -> Response:
    """The page after a change, unless the change ended the admin's own session (own role, disabled, ...)."""
    principal = principal_of(request)
    if principal.via == "session":
        current = _accounts(request).session_principal(request.state.session_token)
        if current is None:
            return RedirectResponse("/login", status_code=303)
        request.state.principal = current
        if not current.may(Permission.AUDIT):
            return RedirectResponse("/", status_code=303)
    return _page(request, **context)


def _refused(request: Request, exc: AccountError) -> HTMLResponse:
    return _page(request, status=400, error=str(exc))


# --- the page -------------------------------------------------------------------------------------------------
@router.get("/admin", response_class=HTMLResponse, openapi_extra=access(Permission.AUDIT), include_in_schema=False)
def admin_page(request: Request, before: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None) -> HTMLResponse:
    return _page(request, before=before)


@router.post("/admin/users", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def add_user(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=20)],
    display_name: Annotated[str, Form(max_length=200)] = "",
    leader: Annotated[bool, Form()] = False,
    password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    actor = principal_of(request).username
    try:
        user, secret = _accounts(request).create_user(
            actor, username, role, password=password or None, leader=leader, display_name=display_name
        )
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(
        request,
        message=f"User {user.username} added.",
        one_time_password=None if password else secret,
        password_for=user.username,
    )


@router.post("/admin/users/{username}/role", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def change_role(
    request: Request,
    username: Annotated[str, Path(max_length=200)],
    role: Annotated[str, Form(max_length=20)],
    leader: Annotated[bool, Form()] = False,
) -> Response:
    actor = principal_of(request).username
    try:
        user = _accounts(request).update_user(actor, username, role=role, leader=leader)
    except AccountError as exc:
        return _refused(request, exc)
    lead = " (leader)" if user.is_leader else ""
    return _after_change(request, message=f"{user.username} is now {user.role}{lead}.")


@router.post("/admin/users/{username}/disable", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def disable_user(request: Request, username: Annotated[str, Path(max_length=200)]) -> Response:
    try:
        user = _accounts(request).update_user(principal_of(request).username, username, disabled=True)
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(request, message=f"{user.username} is disabled: signed out, API tokens stopped.")


@router.post("/admin/users/{username}/enable", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def enable_user(request: Request, username: Annotated[str, Path(max_length=200)]) -> Response:
    try:
        user = _accounts(request).update_user(principal_of(request).username, username, disabled=False)
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(request, message=f"{user.username} is enabled again.")


@router.post("/admin/users/{username}/password", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def reset_password(request: Request, username: Annotated[str, Path(max_length=200)]) -> Response:
    principal = principal_of(request)
    if username.strip().lower() == principal.username:
        # A reset ends the admin's own session, and the one-time password would be lost with the page.
        return _page(request, status=400, error="Change your own password on the Account page.")
    try:
        secret = _accounts(request).set_password(principal.username, username)
    except AccountError as exc:
        return _refused(request, exc)
    name = username.strip().lower()
    return _after_change(
        request, message=f"Password of {name} reset: they are signed out.", one_time_password=secret, password_for=name
    )


@router.post("/admin/tokens", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def add_token(
    request: Request,
    username: Annotated[str, Form(max_length=200)],
    name: Annotated[str, Form(max_length=200)],
    role: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    try:
        token, secret = _accounts(request).create_token(principal_of(request).username, username, name, role or None)
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(
        request, message=f"Token #{token.id} created for {token.username}.", new_token=secret, token_for=token.username
    )


@router.post("/admin/tokens/{token_id}/revoke", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def revoke_token(request: Request, token_id: Annotated[int, Path(ge=1, le=MAX_ID)]) -> Response:
    try:
        token = _accounts(request).revoke_token(principal_of(request).username, token_id)
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(request, message=f"Token #{token.id} of {token.username} revoked.")


# --- REST -----------------------------------------------------------------------------------------------------
@router.get("/api/users", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=DENIED)
def api_users(request: Request) -> list[UserOut]:
    """Every user, by name: role, leader flag, and whether disabled, locked or on a one-time password."""
    return [UserOut.of(user) for user in _accounts(request).users()]


@router.post("/api/users", openapi_extra=access(Permission.ADMIN), tags=["admin"], status_code=201, responses=REFUSED)
def api_add_user(request: Request, body: NewUser) -> CreatedUser:
    """Add a user. Without a password one is generated, returned this once, and must be changed at first sign-in."""
    user, secret = _accounts(request).create_user(
        principal_of(request).username,
        body.username,
        body.role,
        password=body.password,
        leader=body.leader,
        display_name=body.display_name,
    )
    return CreatedUser(user=UserOut.of(user), one_time_password=secret if body.password is None else None)


@router.patch("/api/users/{username}", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=UNKNOWN)
def api_change_user(request: Request, username: UsernameInPath, body: UserChange) -> UserOut:
    """Change a user's role, leader flag, display name, or disable / re-enable them.

    The last active admin can be neither demoted nor disabled (400).
    """
    accounts = _accounts(request)
    _existing_user(accounts, username)
    user = accounts.update_user(
        principal_of(request).username,
        username,
        role=body.role,
        leader=body.leader,
        disabled=body.disabled,
        display_name=body.display_name,
    )
    return UserOut.of(user)


@router.post(
    "/api/users/{username}/password", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=UNKNOWN
)
def api_reset_password(request: Request, username: UsernameInPath) -> PasswordReset:
    """Reset a user's password to a generated one-time password (returned this once); unlocks, signs them out."""
    accounts = _accounts(request)
    user = _existing_user(accounts, username)
    secret = accounts.set_password(principal_of(request).username, user.username)
    return PasswordReset(username=user.username, one_time_password=secret)


@router.get("/api/tokens", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=DENIED)
def api_tokens(request: Request) -> list[TokenOut]:
    """Every user's API tokens, revoked ones included (never their secrets: only hashes are stored)."""
    return [TokenOut.of(token) for token in _accounts(request).tokens()]


@router.post("/api/tokens", openapi_extra=access(Permission.ADMIN), tags=["admin"], status_code=201, responses=UNKNOWN)
def api_add_token(request: Request, body: NewToken) -> CreatedToken:
    """Create an API token for a user, with their role or viewer; the secret is returned this once."""
    accounts = _accounts(request)
    user = _existing_user(accounts, body.username)
    token, secret = accounts.create_token(principal_of(request).username, user.username, body.name, body.role)
    return CreatedToken(token=TokenOut.of(token), secret=secret)


@router.delete("/api/tokens/{token_id}", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=UNKNOWN)
def api_revoke_token(request: Request, token_id: TokenId) -> TokenOut:
    """Revoke a token: it stops working at once. Revoking a revoked token changes nothing."""
    try:
        token = _accounts(request).revoke_token(principal_of(request).username, token_id)
    except AccountError as exc:  # the only refusal without an owner: no such token
        raise NotFound(str(exc)) from None
    return TokenOut.of(token)


@router.get("/api/audit", openapi_extra=access(Permission.AUDIT), tags=["admin"], responses=DENIED)
def api_audit(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000, description="How many entries.")] = PAGE_SIZE,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only entries before this seq: the last seq of a page.")
    ] = None,
) -> list[AuditEntryOut]:
    """The audit log, newest first: who changed what, when."""
    return [AuditEntryOut.model_validate(entry) for entry in _workspace(request).audit_log(limit, before)]


@router.get("/api/audit/verify", openapi_extra=access(Permission.AUDIT), tags=["admin"], responses=DENIED)
def api_verify_audit(
    request: Request,
    expect_head: Annotated[
        str | None,
        Query(
            pattern=HEAD_PATTERN,
            description="A head_hash kept from an earlier check: also detects deleted newest entries.",
        ),
    ] = None,
) -> AuditCheck:
    """Walk the whole hash chain: every edited entry, gap and broken link is a problem, named by its seq."""
    verification = _workspace(request).verify_audit(expect_head.lower() if expect_head else None)
    return AuditCheck(
        ok=verification.ok,
        entries=verification.entries,
        head_hash=verification.head_hash,
        problems=[AuditProblemOut(seq=p.seq, message=p.message) for p in verification.problems],
    )
