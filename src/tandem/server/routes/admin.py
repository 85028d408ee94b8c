"""The Admin page and its REST endpoints: users, roles, API tokens and the audit log.

Execs (the `AUDIT` permission) read the page: users, tokens, the audit log and whether its hash chain holds.
Only admins (`ADMIN`) change anything, and every change goes through `tandem.accounts.Accounts`, which writes
its audit entry in the same transaction and refuses what would lock the workspace out (no active admin left).

Passwords and token secrets are shown once, in the answer to the request that made them; nothing can show them
again, because only their hashes are stored.

The lists are questions (`tandem.questions.admin`): ``GET /api/users``, ``/api/tokens``, ``/api/audit`` and
``/api/audit/verify`` answer the documents ``tandem users list``, ``tokens list``, ``audit list`` and
``audit verify`` print with ``--format json``, and the page renders them. They change outside the warehouse all
the time, so they are asked afresh on every request, never served from the cache. A refusal is answered by its
kind (`tandem.server.refusals`): a name or role tandem cannot use 422, a user or token that does not exist 404,
a state that forbids it (a name taken, the last active admin) 409.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from tandem.accounts import AccountError, Accounts, Permission, Role, TokenInfo, UserInfo
from tandem.questions import AuditQuestion, AuditVerifyQuestion, TokensQuestion, UsersQuestion, ask
from tandem.questions.admin import MAX_AUDIT, MAX_ID
from tandem.server.access import GuardedRoute, access, principal_of
from tandem.server.pages import render
from tandem.server.refusals import INVALID, SIGNED_IN, UNREADABLE, Refusal, explain
from tandem.workspace import Workspace

router = APIRouter(route_class=GuardedRoute, responses=INVALID)

#: Audit entries per page.
PAGE_SIZE = 100
#: What `Accounts` accepts as a user name (it stores it in lower case).
USERNAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,63}$"
#: One line of text: no control characters (which no name needs and some databases refuse).
ONE_LINE = r"^[^\x00-\x1F\x7F]*$"

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
class UserOut(BaseModel):
    username: str
    display_name: str
    role: Role
    is_leader: bool = Field(description="Approves for their side (marketing or sales only).")
    disabled: bool = Field(description="Cannot sign in; sessions and API tokens stop working.")
    locked: bool = Field(
        description="Sign-ins refused for a while after repeated failures, from some addresses or from every browser "
        "the account does not know (unlock: POST /api/users/{username}/unlock, or a password reset)."
    )
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
    disabled: StrictBool | None = Field(
        None,
        description="Disabling stops sign-in and sessions at once and revokes the user's API tokens (re-enabling "
        "does not bring them back).",
    )
    display_name: DisplayName | None = None


class Unlocked(BaseModel):
    user: UserOut
    counters_cleared: int = Field(description="Sign-in failure counters and blocks of the account lifted.")


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


class UsersDocument(BaseModel):
    """What ``GET /api/users`` answers (and ``tandem users list --format json`` prints)."""

    users: list[UserOut] = Field(description="Every user, by name.")


class TokensDocument(BaseModel):
    """What ``GET /api/tokens`` answers (and ``tandem tokens list --format json`` prints)."""

    tokens: list[TokenOut] = Field(description="Oldest first, revoked ones included.")


class AuditDocument(BaseModel):
    """What ``GET /api/audit`` answers (and ``tandem audit list --format json`` prints)."""

    entries: list[AuditEntryOut] = Field(description="Newest first.")


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


UNKNOWN: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    404: {"model": Refusal, "description": "No such user or token."},
}
#: A change with a JSON body, which the state of the users may forbid.
CONFLICT: dict[int | str, dict[str, Any]] = {
    **SIGNED_IN,
    **UNREADABLE,
    409: {
        "model": Refusal,
        "description": "A name taken, the last active admin demoted or disabled, a token for a disabled user or "
        "for one who must still change a one-time password.",
    },
}


# --- helpers --------------------------------------------------------------------------------------------------
def _workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.tandem.workspace
    return workspace


def _accounts(request: Request) -> Accounts:
    return _workspace(request).accounts


def _compact(details: Any) -> str:
    return json.dumps(details, separators=(",", ":"), sort_keys=True, ensure_ascii=False, default=str)


def _page(request: Request, *, status: int = 200, before: int | None = None, **context: Any) -> HTMLResponse:
    """The Admin page as it is now, with whatever the last action has to say (`message`, `error`, secrets): the
    users, the tokens, a page of the audit log and its check, as the REST API answers them."""
    workspace = _workspace(request)
    audit = ask(workspace, AuditQuestion.parse(limit=PAGE_SIZE, before=before))
    entries = [{**entry, "details_json": _compact(entry["details"])} for entry in audit["entries"]]
    older = entries[-1]["seq"] if len(entries) == PAGE_SIZE and entries[-1]["seq"] > 1 else None
    return render(
        request,
        "admin.html",
        status_code=status,
        title="Admin",
        users=ask(workspace, UsersQuestion())["users"],
        tokens=ask(workspace, TokensQuestion())["tokens"],
        audit=entries,
        before=before,
        older=older,
        verification=ask(workspace, AuditVerifyQuestion()),
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
    """The page again, saying why, with the status of the refusal's kind (`tandem.server.refusals`)."""
    status, _ = explain(exc)
    return _page(request, status=status, error=str(exc))


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


@router.post("/admin/users/{username}/unlock", openapi_extra=access(Permission.ADMIN), include_in_schema=False)
def unlock_user(request: Request, username: Annotated[str, Path(max_length=200)]) -> Response:
    try:
        _accounts(request).unlock(principal_of(request).username, username)
    except AccountError as exc:
        return _refused(request, exc)
    return _after_change(request, message=f"{username.strip().lower()} is unlocked: every address may sign in again.")


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
@router.get(
    "/api/users",
    openapi_extra=access(Permission.ADMIN),
    tags=["admin"],
    response_model=None,
    responses={**SIGNED_IN, 200: {"model": UsersDocument}},
)
def api_users(request: Request) -> dict[str, Any]:
    """Every user, by name, as `tandem users list --format json`: role, leader flag, and whether disabled, locked
    or on a one-time password."""
    return ask(_workspace(request), UsersQuestion())


@router.post("/api/users", openapi_extra=access(Permission.ADMIN), tags=["admin"], status_code=201, responses=CONFLICT)
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


@router.patch(
    "/api/users/{username}",
    openapi_extra=access(Permission.ADMIN),
    tags=["admin"],
    responses={**CONFLICT, **UNKNOWN},
)
def api_change_user(request: Request, username: UsernameInPath, body: UserChange) -> UserOut:
    """Change a user's role, leader flag, display name, or disable / re-enable them.

    The last active admin can be neither demoted nor disabled (409).
    """
    user = _accounts(request).update_user(
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
    user = accounts.user(username)
    secret = accounts.set_password(principal_of(request).username, user.username)
    return PasswordReset(username=user.username, one_time_password=secret)


@router.post("/api/users/{username}/unlock", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=UNKNOWN)
def api_unlock_user(request: Request, username: UsernameInPath) -> Unlocked:
    """Lift every sign-in block and failure count on a user's account, whichever addresses caused them."""
    accounts = _accounts(request)
    cleared = accounts.unlock(principal_of(request).username, username)
    return Unlocked(user=UserOut.of(accounts.user(username)), counters_cleared=cleared)


@router.get(
    "/api/tokens",
    openapi_extra=access(Permission.ADMIN),
    tags=["admin"],
    response_model=None,
    responses={**SIGNED_IN, 200: {"model": TokensDocument}, 404: {"model": Refusal, "description": "No such user."}},
)
def api_tokens(
    request: Request,
    user: Annotated[str | None, Query(max_length=200, description="Only this user's tokens.")] = None,
) -> dict[str, Any]:
    """API tokens, revoked ones included, as `tandem tokens list --format json`: every user's, or one user's
    (never their secrets: only hashes are stored)."""
    return ask(_workspace(request), TokensQuestion.parse(user=user))


@router.post(
    "/api/tokens",
    openapi_extra=access(Permission.ADMIN),
    tags=["admin"],
    status_code=201,
    responses={**CONFLICT, **UNKNOWN},
)
def api_add_token(request: Request, body: NewToken) -> CreatedToken:
    """Create an API token for a user, with their role or viewer; the secret is returned this once."""
    token, secret = _accounts(request).create_token(principal_of(request).username, body.username, body.name, body.role)
    return CreatedToken(token=TokenOut.of(token), secret=secret)


@router.delete("/api/tokens/{token_id}", openapi_extra=access(Permission.ADMIN), tags=["admin"], responses=UNKNOWN)
def api_revoke_token(request: Request, token_id: TokenId) -> TokenOut:
    """Revoke a token: it stops working at once. Revoking a revoked token changes nothing."""
    token = _accounts(request).revoke_token(principal_of(request).username, token_id)
    return TokenOut.of(token)


@router.get(
    "/api/audit",
    openapi_extra=access(Permission.AUDIT),
    tags=["admin"],
    response_model=None,
    responses={**SIGNED_IN, 200: {"model": AuditDocument}},
)
def api_audit(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=MAX_AUDIT, description="How many entries, newest first.")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="Only entries before this seq: the last seq of a page.")
    ] = None,
) -> dict[str, Any]:
    """The audit log, newest first, as `tandem audit list --format json`: who changed what, when."""
    return ask(_workspace(request), AuditQuestion.parse(limit=limit, before=before))


@router.get(
    "/api/audit/verify",
    openapi_extra=access(Permission.AUDIT),
    tags=["admin"],
    response_model=None,
    responses={**SIGNED_IN, 200: {"model": AuditCheck}},
)
def api_verify_audit(
    request: Request,
    expect_head: Annotated[
        str | None,
        Query(
            max_length=200,
            description="A head_hash kept from an earlier check (64 hexadecimal digits): also detects deleted "
            "newest entries.",
        ),
    ] = None,
) -> dict[str, Any]:
    """Walk the whole hash chain, as `tandem audit verify --format json`: every edited entry, gap and broken link
    is a problem, named by its seq."""
    return ask(_workspace(request), AuditVerifyQuestion.parse(expect_head=expect_head))
