"""People, roles and credentials: who may see and change what.

Roles, one per user:

=========  ====================================================================================
admin      manages users, API tokens and settings; imports data; sets the goals; reads everything
marketing  the marketing side: imports data, proposes; a *leader* also approves for marketing
sales      the sales side: imports data, proposes; a *leader* also approves and accepts plans
exec       CEO or CRO: reads everything, including the audit log; may override a freeze; sets the goals
viewer     reads the dashboards
=========  ====================================================================================

What a role may do is a `Permission`; every web route and API endpoint declares one, and nothing is allowed
that is not declared (see `tandem.server.access`).

Credentials are never stored: passwords as argon2 hashes, browser sessions and API tokens as SHA-256 of a
256-bit random secret (a fast hash is right for a random secret; argon2 is for what people choose).

Sign-in protection cannot be turned into a lockout of the owner (docs/web-app.md, "Sign-in protection"). Three
counters (`LoginThrottle`), each changed by one atomic statement, so a burst of concurrent attempts cannot read a
stale count:

- an *address* may make ``login_rate_limit`` attempts per 5-minute window, whoever it tries;
- a *client* (an address, or a browser that signed in to the account before and carries its signed device cookie)
  is blocked from one account after ``login_max_failures`` failures in a row, for ``login_lockout_minutes``, twice
  as long at each next block, at most ``login_lockout_max_minutes``; other addresses and known browsers still work;
- the *account* stops taking sign-ins from clients it does not know after ``login_account_limit`` failures in a row
  from such clients (an attacker rotating addresses), with the same growing, capped delays; its known browsers
  still sign in, so the owner (the only admin too) is never left with a shell as the only way out.

An admin unlocks an account at any time (Admin page, ``POST /api/users/NAME/unlock``, ``tandem users unlock``), and
so does its owner from a signed-in session (Account page).

A refusal is an `AccountError` of its kind (`tandem.errors`): a request tandem cannot use (a bad name, role or
password, a wrong current password) is `AccountInvalid`, a user or token that does not exist `UnknownAccount`, a
state that forbids it (a name taken, the last active admin, a disabled user) `AccountConflict`. A role that may
not do something is `AccessDenied`.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tandem.audit import record
from tandem.errors import ConflictError, ForbiddenError, InvalidError, NotFoundError, TandemError
from tandem.roles import Role
from tandem.store.database import AppStore
from tandem.store.models import ApiToken, LoginAttempt, LoginThrottle, User, WebSession

__all__ = [
    "PERMISSION_ROLES",
    "AccessDenied",
    "AccountConflict",
    "AccountError",
    "AccountInvalid",
    "Accounts",
    "PasswordChange",
    "Permission",
    "Principal",
    "Role",
    "SignInRefused",
    "TokenInfo",
    "UnknownAccount",
    "UserInfo",
    "parse_username",
]

_hasher = PasswordHasher()
USERNAME = re.compile(r"^[a-z0-9][a-z0-9._-]{1,63}$")
TOKEN_PREFIX = "tdm_"  # noqa: S105 - a marker, not a secret
RATE_WINDOW = timedelta(minutes=5)
#: A sign-in counter untouched (and not blocking) this long is dropped: its growing delays start over.
THROTTLE_MEMORY = timedelta(days=1)
#: How long a browser's device cookie, set at each successful sign-in, marks it as known to the account.
DEVICE_DAYS = 90
DISPLAY_NAME_MAX = 200


class Permission(StrEnum):
    """What a route needs. `PUBLIC` routes need nothing; every other one needs a signed-in user with a role."""

    PUBLIC = "public"
    SIGNED_IN = "signed-in"
    READ = "read"
    IMPORT = "import"
    PROPOSE = "propose"
    DECIDE = "decide"
    AUDIT = "audit"
    GOALS = "goals"
    HANDOFF = "handoff"
    ADMIN = "admin"


ALL_ROLES = frozenset(Role)
#: The roles each permission admits. `PUBLIC` admits anyone, signed in or not.
PERMISSION_ROLES: dict[Permission, frozenset[Role]] = {
    Permission.PUBLIC: ALL_ROLES,
    Permission.SIGNED_IN: ALL_ROLES,
    Permission.READ: ALL_ROLES,
    Permission.IMPORT: frozenset({Role.ADMIN, Role.MARKETING, Role.SALES}),
    #: Proposing a change to the definitions (`Governance.propose` admits the same roles).
    Permission.PROPOSE: frozenset({Role.MARKETING, Role.SALES}),
    #: Deciding on a proposal: approve, reject, withdraw, and (execs) override. The coarse gate: `Governance`
    #: decides who exactly (a leader of a side not yet approved, never the author; the author withdraws).
    Permission.DECIDE: frozenset({Role.MARKETING, Role.SALES, Role.EXEC}),
    Permission.AUDIT: frozenset({Role.ADMIN, Role.EXEC}),
    #: Setting and deleting the revenue goals both teams share (`tandem.plan.goals`); everyone reads them.
    Permission.GOALS: frozenset({Role.ADMIN, Role.EXEC}),
    #: Accepting or rejecting a lead handed over (`tandem.handoffs.decisions` decides whose: their own, or any for
    #: a sales leader).
    Permission.HANDOFF: frozenset({Role.SALES}),
    Permission.ADMIN: frozenset({Role.ADMIN}),
}


class AccountError(TandemError, ValueError):
    """A request about users or tokens that cannot be done as asked (the message says why); raised as one of the
    kinds below."""


class AccountInvalid(AccountError, InvalidError):
    """Malformed: a user name, role, password, display name or token name tandem cannot use."""


class UnknownAccount(AccountError, NotFoundError):
    """No user or token by that name or number."""


class AccountConflict(AccountError, ConflictError):
    """The user or token exists, but its state forbids it: a name taken, the last active admin, a disabled user."""


class AccessDenied(ForbiddenError):
    """The signed-in user's role does not allow this."""


class SignInRefused(TandemError):
    """A sign-in that did not succeed. The message never tells whether the name or the password was wrong."""

    def __init__(self, message: str, *, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    """Who is making a request, and with what role (an API token may carry less than its owner's)."""

    user_id: int
    username: str
    display_name: str
    role: Role
    is_leader: bool
    via: str  # "session", "token" or "cli"
    must_change_password: bool = False

    def may(self, permission: Permission) -> bool:
        if self.must_change_password and permission not in (Permission.PUBLIC, Permission.SIGNED_IN):
            return False
        return self.role in PERMISSION_ROLES[permission]

    def require(self, permission: Permission) -> None:
        if not self.may(permission):
            if self.must_change_password:
                raise AccessDenied("change your one-time password first (Account page)")
            raise AccessDenied(f"the {self.role} role may not do this (needs {permission} permission)")

    @property
    def name(self) -> str:
        return self.display_name or self.username


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    role: str
    is_leader: bool
    disabled: bool
    locked: bool
    must_change_password: bool
    created_at: datetime

    @classmethod
    def of(cls, user: User, now: datetime) -> UserInfo:
        return cls(
            username=user.username,
            display_name=user.display_name,
            role=user.role,
            is_leader=user.is_leader,
            disabled=user.disabled,
            locked=bool(user.locked_until and user.locked_until > now),
            must_change_password=user.must_change_password,
            created_at=user.created_at,
        )

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class TokenInfo:
    id: int
    username: str
    name: str
    role: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PasswordChange:
    """What a password change ended besides the password: the user's other sessions, and (if asked) their tokens."""

    sessions_ended: int
    tokens_revoked: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so an unknown name takes as long as a wrong password.

    Computed on first use, not at import: an argon2 hash takes a noticeable time, which every command would pay.
    """
    return _hasher.hash("tandem: no such user")


def parse_username(text: str) -> str:
    """A user name as stored (trimmed, lower case); `AccountInvalid` when it is not one tandem accepts."""
    name = text.strip().lower()
    if not USERNAME.match(name):
        raise AccountInvalid(
            f"user name {text!r} must be 2-64 characters of lower-case letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return name


def _sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate_password() -> str:
    """A random password people can type: 4 groups of 5 letters and digits."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(5)) for _ in range(4))


def csrf_token(session_token: str) -> str:
    """The form token of a browser session: derived from the session secret, so nothing else is stored."""
    return hmac.new(session_token.encode(), b"tandem csrf", hashlib.sha256).hexdigest()


class Accounts:
    """Users, sign-in, sessions and API tokens of one workspace. Every change is written to the audit log."""

    def __init__(self, store: AppStore, settings: dict[str, Any]) -> None:
        self.store = store
        self.settings = settings

    # --- users ------------------------------------------------------------------------------------------------
    def count(self) -> int:
        with self.store.session() as s:
            return int(s.scalar(select(func.count()).select_from(User)) or 0)

    def users(self) -> list[UserInfo]:
        now = _now()
        with self.store.session() as s:
            return [UserInfo.of(u, now) for u in s.scalars(select(User).order_by(User.username))]

    def user(self, username: str) -> UserInfo:
        with self.store.session() as s:
            return UserInfo.of(self._user(s, username), _now())

    def _user(self, s: Session, username: str) -> User:
        user = s.scalar(select(User).where(User.username == username.strip().lower()))
        if user is None:
            raise UnknownAccount(f"no user named {username!r}; `tandem users list` shows who exists")
        return user

    def _check_password(self, password: str) -> None:
        minimum = int(self.settings["password_min_length"])
        if len(password) < minimum:
            raise AccountInvalid(f"a password needs at least {minimum} characters")

    def create_user(
        self,
        actor: str,
        username: str,
        role: Role | str,
        *,
        password: str | None = None,
        leader: bool = False,
        display_name: str = "",
        must_change_password: bool | None = None,
    ) -> tuple[UserInfo, str]:
        """Add a user. Without a password one is generated (and must be changed at first sign-in).

        Returns the user and the password, which is shown once and never stored.
        """
        name = parse_username(username)
        role = _role(role)
        if leader and role not in (Role.MARKETING, Role.SALES):
            raise AccountInvalid("only marketing and sales users can be leaders (the people who approve for a side)")
        full_name = _display_name(display_name)
        generated = password is None
        secret = password if password is not None else generate_password()
        self._check_password(secret)
        must_change = generated if must_change_password is None else must_change_password

        def change(s: Session) -> UserInfo:
            if s.scalar(select(User.id).where(User.username == name)) is not None:
                raise AccountConflict(f"a user named {name!r} exists already")
            user = User(
                username=name,
                display_name=full_name,
                role=str(role),
                is_leader=leader,
                password_hash=_hasher.hash(secret),
                must_change_password=must_change,
                created_at=_now(),
            )
            s.add(user)
            s.flush()
            record(s, actor, "user.create", name, {"role": str(role), "leader": leader})
            return UserInfo.of(user, _now())

        try:
            return self.store.write(change), secret
        except IntegrityError as exc:  # created by another writer between the check and the insert
            if "users" not in str(exc.statement or ""):
                raise
            raise AccountConflict(f"a user named {name!r} exists already") from None

    def update_user(
        self,
        actor: str,
        username: str,
        *,
        role: Role | str | None = None,
        leader: bool | None = None,
        disabled: bool | None = None,
        display_name: str | None = None,
    ) -> UserInfo:
        """Change a user's role, leader flag, name, or disable (sessions end, tokens are revoked) or re-enable.

        A new role ends the user's sessions and revokes their tokens that carry a role they no longer have.
        Disabling revokes the user's tokens, so re-enabling them does not bring old tokens back (re-enabling also
        revokes any a workspace from before this rule kept).
        """
        new_name = _display_name(display_name) if display_name is not None else None

        def change(s: Session) -> UserInfo:
            user = self._user(s, username)
            was_active_admin = user.role == str(Role.ADMIN) and not user.disabled
            changes: dict[str, Any] = {}
            new_role = _role(role) if role is not None else Role(user.role)
            new_leader = user.is_leader if leader is None else leader
            if new_role not in (Role.MARKETING, Role.SALES):
                if leader:
                    raise AccountInvalid("only marketing and sales users can be leaders")
                new_leader = False
            if str(new_role) != user.role:
                changes["role"] = [user.role, str(new_role)]
                user.role = str(new_role)
            if new_leader != user.is_leader:
                changes["leader"] = [user.is_leader, new_leader]
                user.is_leader = new_leader
            if new_name is not None and new_name != user.display_name:
                changes["display_name"] = [user.display_name, new_name]
                user.display_name = new_name
            if disabled is not None and disabled != user.disabled:
                changes["disabled"] = [user.disabled, disabled]
                user.disabled = disabled
                if disabled:
                    s.execute(delete(WebSession).where(WebSession.user_id == user.id))
                else:
                    s.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
                    user.failed_logins, user.locked_until = 0, None
                revoked = _revoke_all(s, user.id)
                if revoked:
                    changes["revoked_tokens"] = revoked
            if was_active_admin and not self._active_admins(s):
                raise AccountConflict(
                    "this would leave the workspace without an active admin; make another admin first"
                )
            if changes:
                # A role change ends the user's sessions: they sign in again under the new role.
                if "role" in changes:
                    s.execute(delete(WebSession).where(WebSession.user_id == user.id))
                    outranked = s.scalars(
                        select(ApiToken).where(
                            ApiToken.user_id == user.id,
                            ApiToken.revoked_at.is_(None),
                            ApiToken.role.not_in([user.role, str(Role.VIEWER)]),
                        )
                    ).all()
                    for token in outranked:
                        token.revoked_at = _now()
                    if outranked:
                        changes["revoked_tokens"] = [token.id for token in outranked]
                record(s, actor, "user.update", user.username, changes)
            return UserInfo.of(user, _now())

        return self.store.write(change)

    @staticmethod
    def _active_admins(s: Session) -> int:
        s.flush()
        query = select(func.count()).select_from(User).where(User.role == str(Role.ADMIN), User.disabled.is_(False))
        return int(s.scalar(query) or 0)

    def set_password(
        self, actor: str, username: str, password: str | None = None, *, must_change: bool | None = None
    ) -> str:
        """Set (or, without one, generate) a user's password; unlocks the account, ends its sessions. Returns the
        password."""
        generated = password is None
        secret = password if password is not None else generate_password()
        self._check_password(secret)

        def change(s: Session) -> None:
            user = self._user(s, username)
            # The counters first, then the user's row: the order sign-in takes their locks in (PostgreSQL).
            s.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
            user.password_hash = _hasher.hash(secret)
            user.must_change_password = generated if must_change is None else must_change
            user.failed_logins, user.locked_until = 0, None
            s.execute(delete(WebSession).where(WebSession.user_id == user.id))
            record(s, actor, "user.password", user.username, {"generated": generated})

        self.store.write(change)
        return secret

    def change_own_password(
        self,
        principal: Principal,
        current: str,
        new: str,
        *,
        keep_session: str | None = None,
        revoke_tokens: bool = False,
    ) -> PasswordChange:
        """A signed-in user's own change: needs the current password.

        Ends the user's browser sessions but `keep_session` (the cookie of the one making the change), since
        whoever knew the old password may have signed in with it; with `revoke_tokens`, revokes their API tokens
        too. Returns how many of each ended.
        """
        self._check_password(new)
        if current == new:
            raise AccountInvalid("the new password must differ from the current one")
        with self.store.session() as s:
            user = self._user(s, principal.username)
            if not _verify(user.password_hash, current):
                raise AccountInvalid("the current password is not correct")

        new_hash = _hasher.hash(new)

        def change(s: Session) -> PasswordChange:
            user = self._user(s, principal.username)
            user.password_hash = new_hash
            user.must_change_password = False
            others = delete(WebSession).where(WebSession.user_id == user.id)
            if keep_session is not None:
                others = others.where(WebSession.token_hash != _sha256(keep_session))
            ended = int(getattr(s.execute(others), "rowcount", 0) or 0)
            revoked = _revoke_all(s, user.id) if revoke_tokens else []
            details: dict[str, Any] = {"own": True}
            if ended:
                details["sessions_ended"] = ended
            if revoked:
                details["revoked_tokens"] = revoked
            record(s, principal.username, "user.password", user.username, details)
            return PasswordChange(sessions_ended=ended, tokens_revoked=len(revoked))

        return self.store.write(change)

    def unlock(self, actor: str, username: str) -> int:
        """Lift every sign-in block and failure count on an account (an admin, or its owner signed in).

        Returns how many counters it cleared; the address rate limit is not the account's and stays.
        """

        def change(s: Session) -> int:
            user = self._user(s, username)
            cleared = s.execute(delete(LoginThrottle).where(LoginThrottle.username == user.username))
            count = int(getattr(cleared, "rowcount", 0) or 0)
            user.failed_logins, user.locked_until = 0, None
            record(s, actor, "user.unlock", user.username, {"counters": count})
            return count

        return self.store.write(change)

    def ensure_first_admin(self, actor: str) -> str | None:
        """On a workspace without users, create ``admin`` with a one-time password and return it (else None)."""
        if self.count():
            return None
        try:
            _, password = self.create_user(actor, "admin", Role.ADMIN, display_name="Administrator")
        except AccountError:  # another process created it between the count and the insert
            return None
        return password

    # --- sign-in ----------------------------------------------------------------------------------------------
    def authenticate(
        self, username: str, password: str, address: str = "local", *, device: str | None = None
    ) -> Principal:
        """Check a name and password under the three sign-in counters (module docstring).

        `device` is the browser's device cookie (`device_cookie`): when it is valid for this account the client is
        that browser rather than its address, and the account-wide block does not apply to it.
        """
        now = _now()
        name = username.strip().lower()[:64]
        address = address[:64]  # as stored, so the counters find what was counted
        self._count_address(address, now)

        def attempt(s: Session) -> Principal | SignInRefused:
            logged = LoginAttempt(address=address, username=name, at=now, success=False)
            s.add(logged)
            user = s.scalar(select(User).where(User.username == name))
            if user is None:
                _verify(_dummy_hash(), password)
                return SignInRefused("wrong user name or password")
            known = _known_device(user, device)
            client_key = f"client|{name}|" + (f"device:{known}" if known else f"address:{address}")
            account_key = f"account|{name}"
            # Touching the rows first locks them (PostgreSQL) for this attempt: the check and the count that follows
            # cannot interleave with another attempt on the same account (SQLite's write lock does the same).
            client = _touch(s, client_key, name, now)
            account = None if known else _touch(s, account_key, name, now)
            if client.blocked_until and client.blocked_until > now:
                _verify(_dummy_hash(), password)
                return _locked(name, client.blocked_until, now, "from this address" if not known else "")
            if account is not None and account.blocked_until and account.blocked_until > now:
                _verify(_dummy_hash(), password)
                return _locked(name, account.blocked_until, now, "from many addresses", new_clients=True)
            if user.disabled:
                _verify(_dummy_hash(), password)
                return SignInRefused("wrong user name or password")
            if not _verify(user.password_hash, password):
                blocks = {"client": self._fail(s, client_key, client, int(self.settings["login_max_failures"]), now)}
                if account is not None:
                    limit = int(self.settings["login_account_limit"])
                    blocks["account"] = self._fail(s, account_key, account, limit, now)
                self._mirror(s, user, now)
                for scope, until in blocks.items():
                    if until is None:
                        continue
                    minutes = math.ceil((until - now).total_seconds() / 60)
                    details = {"address": address, "scope": scope, "minutes": minutes}
                    record(s, "tandem", "user.locked", user.username, details)
                return SignInRefused("wrong user name or password")
            s.execute(delete(LoginThrottle).where(LoginThrottle.key == client_key))
            if account is not None:
                s.execute(
                    delete(LoginThrottle).where(
                        LoginThrottle.key == account_key,
                        LoginThrottle.strikes == 0,
                        (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until <= now),
                    )
                )
                s.execute(update(LoginThrottle).where(LoginThrottle.key == account_key).values(hits=0))
            self._mirror(s, user, now)
            if _hasher.check_needs_rehash(user.password_hash):
                user.password_hash = _hasher.hash(password)
            logged.success = True
            return _principal(user, "session")

        outcome = self.store.write(attempt)
        if isinstance(outcome, SignInRefused):
            raise outcome
        return outcome

    def _count_address(self, address: str, now: datetime) -> None:
        """Count an attempt from `address` in its own transaction, atomically; refuse it past the rate limit."""
        limit = int(self.settings["login_rate_limit"])
        key = f"address|{address}"
        hits = self.store.write(lambda s: _count_in_window(s, key, now, RATE_WINDOW))
        if hits > limit:  # the window ends within RATE_WINDOW: that is the wait promised
            wait = int(RATE_WINDOW.total_seconds())
            raise SignInRefused(
                f"too many sign-in attempts from this address; wait {wait // 60} minutes", retry_after=wait
            )

    def _fail(self, s: Session, key: str, counter: _Counter, threshold: int, now: datetime) -> datetime | None:
        """One more failure on a counter `_touch` locked; at `threshold` in a row, block it. Returns a new block's end.

        The first block lasts ``login_lockout_minutes``, each next one twice the last, up to
        ``login_lockout_max_minutes``; a success or a day without attempts starts the counter over.
        """
        hits = counter.hits + 1
        if hits < max(1, threshold):
            s.execute(update(LoginThrottle).where(LoginThrottle.key == key).values(hits=hits))
            return None
        base = int(self.settings["login_lockout_minutes"])
        cap = max(base, int(self.settings["login_lockout_max_minutes"]))
        until = now + timedelta(minutes=min(cap, base * 2 ** min(counter.strikes, 30)))
        s.execute(
            update(LoginThrottle)
            .where(LoginThrottle.key == key)
            .values(hits=0, strikes=counter.strikes + 1, blocked_until=until)
        )
        return until

    @staticmethod
    def _mirror(s: Session, user: User, now: datetime) -> None:
        """Keep the user's ``locked_until`` and ``failed_logins`` in step with their counters (the users list)."""
        user.locked_until = s.scalar(
            select(func.max(LoginThrottle.blocked_until)).where(
                LoginThrottle.username == user.username, LoginThrottle.blocked_until > now
            )
        )
        user.failed_logins = int(
            s.scalar(select(LoginThrottle.hits).where(LoginThrottle.key == f"account|{user.username}")) or 0
        )

    def device_cookie(self, username: str) -> str:
        """The value of a device cookie that marks this browser as known to the account (set at sign-in).

        Signed with the account's password hash, so it cannot be made without the server's database, and a new
        password retires every one (the browser that changed it gets a fresh one).
        """
        device_id = secrets.token_urlsafe(16)
        with self.store.session() as s:
            user = self._user(s, username)
            return f"{user.username}.{device_id}.{_device_mac(user, device_id)}"

    def start_session(self, principal: Principal) -> str:
        """A new browser session for a signed-in user; returns the cookie value (stored only as its hash)."""
        token = secrets.token_urlsafe(32)
        now = _now()

        def change(s: Session) -> None:
            s.execute(delete(WebSession).where(WebSession.expires_at < now))
            s.execute(delete(LoginAttempt).where(LoginAttempt.at < now - timedelta(days=1)))
            s.execute(
                delete(LoginThrottle).where(
                    LoginThrottle.updated_at < now - THROTTLE_MEMORY,
                    (LoginThrottle.blocked_until.is_(None)) | (LoginThrottle.blocked_until < now),
                )
            )
            s.add(
                WebSession(
                    token_hash=_sha256(token),
                    user_id=principal.user_id,
                    created_at=now,
                    expires_at=now + timedelta(hours=int(self.settings["session_hours"])),
                )
            )

        self.store.write(change)
        return token

    def session_principal(self, token: str) -> Principal | None:
        with self.store.session() as s:
            row = s.execute(
                select(User, WebSession.expires_at)
                .join(WebSession, WebSession.user_id == User.id)
                .where(WebSession.token_hash == _sha256(token))
            ).first()
        if row is None or row[1] < _now() or row[0].disabled:
            return None
        return _principal(row[0], "session")

    def end_session(self, token: str) -> None:
        self.store.write(lambda s: s.execute(delete(WebSession).where(WebSession.token_hash == _sha256(token))))

    # --- API tokens -------------------------------------------------------------------------------------------
    def create_token(
        self, actor: str, username: str, name: str, role: Role | str | None = None
    ) -> tuple[TokenInfo, str]:
        """A bearer token for `username`, carrying their role or a lesser one (viewer). Shown once; stored hashed."""
        label = name.strip()
        if not label or len(label) > 100:
            raise AccountInvalid("a token needs a name of 1-100 characters (what it is for)")
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def change(s: Session) -> TokenInfo:
            user = self._user(s, username)
            if user.disabled:
                raise AccountConflict(f"user {user.username!r} is disabled")
            if user.must_change_password:
                raise AccountConflict(
                    f"user {user.username!r} must first change their one-time password (at sign-in, or "
                    f"`tandem account password --as {user.username}`); then make the token"
                )
            scope = _role(role) if role is not None else Role(user.role)
            if scope not in (Role(user.role), Role.VIEWER):
                raise AccountInvalid(
                    f"a token of {user.username} ({user.role}) may carry the {user.role} or viewer role, not {scope}"
                )
            token = ApiToken(
                user_id=user.id,
                name=label,
                role=str(scope),
                token_hash=_sha256(secret),
                prefix=secret[:12],
                created_at=_now(),
            )
            s.add(token)
            s.flush()
            record(s, actor, "token.create", user.username, {"token_id": token.id, "name": label, "role": str(scope)})
            return _token_info(token, user.username)

        return self.store.write(change), secret

    def tokens(self, username: str | None = None) -> list[TokenInfo]:
        with self.store.session() as s:
            query = select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).order_by(ApiToken.id)
            if username is not None:
                query = query.where(User.username == username.lower())
            return [_token_info(t, u) for t, u in s.execute(query)]

    def revoke_token(self, actor: str, token_id: int, *, owner: str | None = None) -> TokenInfo:
        """Revoke a token; with `owner`, only if it belongs to that user (a user revoking their own)."""

        def change(s: Session) -> TokenInfo:
            row = s.execute(
                select(ApiToken, User.username).join(User, User.id == ApiToken.user_id).where(ApiToken.id == token_id)
            ).first()
            if row is None or (owner is not None and row[1] != owner):
                raise UnknownAccount(f"no token #{token_id}" + (" of yours" if owner else ""))
            token, username = row
            if token.revoked_at is None:
                token.revoked_at = _now()
                record(s, actor, "token.revoke", username, {"token_id": token.id, "name": token.name})
            return _token_info(token, username)

        return self.store.write(change)

    def token_principal(self, secret: str) -> Principal | None:
        if not secret.startswith(TOKEN_PREFIX):
            return None
        now = _now()
        with self.store.session() as s:
            row = s.execute(
                select(ApiToken, User)
                .join(User, User.id == ApiToken.user_id)
                .where(ApiToken.token_hash == _sha256(secret))
            ).first()
            if row is None or row[0].revoked_at is not None or row[1].disabled:
                return None
            token, user = row
            if token.role not in (user.role, str(Role.VIEWER)):  # the owner has lost the role it carries
                return None
            stale = token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1)
        if stale:  # written at most once a minute, so a busy client does not make every request a write
            self.store.write(
                lambda s: s.execute(update(ApiToken).where(ApiToken.id == token.id).values(last_used_at=now))
            )
        scoped = Role(token.role)
        return Principal(
            user_id=user.id,
            username=user.username,
            display_name=user.display_name,
            role=scoped,
            is_leader=user.is_leader and scoped == Role(user.role),
            via="token",
        )


@dataclass(frozen=True)
class _Counter:
    hits: int
    strikes: int
    blocked_until: datetime | None


def _upsert(
    s: Session, key: str, username: str | None, now: datetime, update_set: dict[str, Any], *, first_hits: int = 0
) -> Any:
    """``INSERT ... ON CONFLICT (key) DO UPDATE`` on SQLite or PostgreSQL: one statement, so the row it leaves is
    what every concurrent caller sees in turn (PostgreSQL holds the row's lock to the end of the transaction)."""
    insert = postgresql_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = insert(LoginThrottle).values(
        key=key, username=username, hits=first_hits, window_start=now, strikes=0, updated_at=now
    )
    return statement.on_conflict_do_update(index_elements=[LoginThrottle.key], set_={**update_set, "updated_at": now})


def _count_in_window(s: Session, key: str, now: datetime, window: timedelta) -> int:
    """Add one to a windowed counter (starting a new window when its time has passed); the count it left."""
    expired = LoginThrottle.window_start <= now - window
    statement = _upsert(
        s,
        key,
        None,
        now,
        {
            "hits": case((expired, 1), else_=LoginThrottle.hits + 1),
            "window_start": case((expired, now), else_=LoginThrottle.window_start),
        },
        first_hits=1,
    ).returning(LoginThrottle.hits)
    return int(s.execute(statement).scalar_one())


def _touch(s: Session, key: str, username: str, now: datetime) -> _Counter:
    """The counter (made at zero if new), locked for this transaction on PostgreSQL."""
    statement = _upsert(s, key, username, now, {"hits": LoginThrottle.hits}).returning(
        LoginThrottle.hits, LoginThrottle.strikes, LoginThrottle.blocked_until
    )
    hits, strikes, blocked_until = s.execute(statement).one()
    return _Counter(int(hits), int(strikes), blocked_until)


def _locked(name: str, until: datetime, now: datetime, source: str, *, new_clients: bool = False) -> SignInRefused:
    seconds = max(1, math.ceil((until - now).total_seconds()))
    minutes = math.ceil(seconds / 60)
    unlock = f"or ask an admin to unlock it (Admin page, or `tandem users unlock {name}`)"
    if new_clients:
        return SignInRefused(
            f"this account is locked after repeated failed sign-ins {source}: for {minutes} minute(s) only "
            f"browsers that signed in to it before may sign in; use one, {unlock}",
            retry_after=seconds,
        )
    where = f" {source}" if source else ""
    return SignInRefused(
        f"this account is locked after repeated failed sign-ins{where}; try again in {minutes} minute(s) or from "
        f"a browser that signed in to it before, {unlock}",
        retry_after=seconds,
    )


def _device_mac(user: User, device_id: str) -> str:
    message = f"tandem device|{user.username}|{device_id}".encode()
    return hmac.new(user.password_hash.encode(), message, hashlib.sha256).hexdigest()[:32]


def _known_device(user: User, cookie: str | None) -> str | None:
    """The device id of a device cookie valid for this user (signed with their current password hash), else None."""
    if not cookie or len(cookie) > 300:
        return None
    parts = cookie.rsplit(".", 2)
    if len(parts) != 3 or parts[0] != user.username or not parts[1]:
        return None
    return parts[1] if hmac.compare_digest(parts[2].encode(), _device_mac(user, parts[1]).encode()) else None


def _revoke_all(s: Session, user_id: int) -> list[int]:
    """Revoke every live token of a user; their numbers, for the audit entry."""
    tokens = s.scalars(select(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))).all()
    for token in tokens:
        token.revoked_at = _now()
    return [token.id for token in tokens]


def _role(value: Role | str) -> Role:
    try:
        return Role(str(value).lower())
    except ValueError:
        raise AccountInvalid(f"unknown role {value!r}; roles are: {', '.join(Role)}") from None


def _display_name(value: str) -> str:
    name = value.strip()
    if len(name) > DISPLAY_NAME_MAX:
        raise AccountInvalid(f"a display name may have at most {DISPLAY_NAME_MAX} characters")
    return name


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def _principal(user: User, via: str) -> Principal:
    return Principal(
        user_id=user.id,
        username=user.username,
        display_name=user.display_name,
        role=Role(user.role),
        is_leader=user.is_leader,
        via=via,
        must_change_password=user.must_change_password,
    )


def _token_info(token: ApiToken, username: str) -> TokenInfo:
    return TokenInfo(
        id=token.id,
        username=username,
        name=token.name,
        role=token.role,
        prefix=token.prefix,
        created_at=token.created_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )
