"""Users, sign-in, sessions and API tokens, on SQLite and on PostgreSQL.

What is stored is checked in the tables themselves: credentials only ever as hashes.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, update

from tandem.accounts import AccountError, Accounts, Permission, Role, SignInRefused
from tandem.store.models import ApiToken, AuditEntry, LoginThrottle, User, WebSession
from tandem.workspace import Workspace

PASSWORD = "correct horse battery"
WRONG_SIGN_IN = "wrong user name or password"


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def accounts_with(workspace: Workspace, **settings: Any) -> Accounts:
    """The workspace's accounts under other settings (smaller limits keep the tests short)."""
    return Accounts(workspace.store, {**workspace.settings, **settings})


def add(accounts: Accounts, username: str, role: str = "marketing", *, leader: bool = False) -> None:
    accounts.create_user("admin", username, role, password=PASSWORD, leader=leader)


def audit(workspace: Workspace) -> list[tuple[str, str, str]]:
    """(actor, action, target) of every audit entry, oldest first."""
    return [(e["actor"], e["action"], e["target"]) for e in reversed(workspace.audit_log(1000))]


# --- what is stored ---------------------------------------------------------------------------------------------


def test_passwords_are_stored_as_argon2id_hashes_never_in_plain(workspace: Workspace) -> None:
    add(workspace.accounts, "maria")
    _, generated = workspace.accounts.create_user("admin", "sam", "sales")
    with workspace.store.session() as s:
        hashes = {name: hashed for name, hashed in s.execute(select(User.username, User.password_hash))}
        details = [str(d) for d in s.scalars(select(AuditEntry.details))]
    assert hashes["maria"].startswith("$argon2id$")
    assert hashes["sam"].startswith("$argon2id$")
    assert PASSWORD not in hashes["maria"]
    assert generated not in hashes["sam"]
    assert not any(PASSWORD in d or generated in d for d in details), "nor in the audit log"


def test_sessions_and_api_tokens_are_stored_only_as_their_sha256(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria")
    cookie = accounts.start_session(accounts.authenticate("maria", PASSWORD))
    info, secret = accounts.create_token("admin", "maria", "nightly export")
    with workspace.store.session() as s:
        sessions = s.execute(select(WebSession.token_hash)).scalars().all()
        token = s.scalar(select(ApiToken))
    assert sessions == [sha256(cookie)]
    assert token is not None
    assert token.token_hash == sha256(secret)
    assert secret.startswith("tdm_")
    assert token.prefix == secret[:12] == info.prefix, "only a short prefix, to recognise it in a list"
    assert accounts.session_principal(cookie) is not None
    assert accounts.token_principal(secret) is not None


def test_a_generated_password_must_be_changed_before_anything_else(workspace: Workspace) -> None:
    accounts = workspace.accounts
    _, generated = accounts.create_user("admin", "maria", "marketing")
    principal = accounts.authenticate("maria", generated)
    assert principal.must_change_password
    assert principal.may(Permission.SIGNED_IN)
    assert not principal.may(Permission.READ)
    accounts.change_own_password(principal, generated, PASSWORD)
    assert accounts.authenticate("maria", PASSWORD).may(Permission.READ)


def test_a_password_shorter_than_the_minimum_is_refused(workspace: Workspace) -> None:
    with pytest.raises(AccountError, match="at least 10 characters"):
        workspace.accounts.create_user("admin", "maria", "marketing", password="short")


# --- signing in -------------------------------------------------------------------------------------------------


def test_a_wrong_password_and_an_unknown_user_get_the_same_message(workspace: Workspace) -> None:
    add(workspace.accounts, "maria")
    with pytest.raises(SignInRefused) as wrong_password:
        workspace.accounts.authenticate("maria", "not the password")
    with pytest.raises(SignInRefused) as unknown_user:
        workspace.accounts.authenticate("nobody", PASSWORD)
    assert str(wrong_password.value) == str(unknown_user.value) == WRONG_SIGN_IN


def test_user_names_are_matched_without_regard_to_case_or_spaces(workspace: Workspace) -> None:
    add(workspace.accounts, "maria")
    assert workspace.accounts.authenticate("  Maria ", PASSWORD).username == "maria"


def test_repeated_failures_lock_the_account_even_against_the_right_password(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=3, login_lockout_minutes=15)
    add(accounts, "maria")
    for _ in range(3):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate("maria", "not the password")
    with pytest.raises(SignInRefused, match="locked after repeated failed sign-ins") as locked:
        accounts.authenticate("maria", PASSWORD)
    assert locked.value.retry_after is not None
    assert 0 < locked.value.retry_after <= 16 * 60
    assert accounts.user("maria").locked
    assert ("tandem", "user.locked", "maria") in audit(workspace)


def test_a_locked_account_opens_again_when_the_lockout_time_has_passed(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=2)
    add(accounts, "maria")
    for _ in range(2):
        with pytest.raises(SignInRefused):
            accounts.authenticate("maria", "not the password")
    with pytest.raises(SignInRefused, match="locked"):
        accounts.authenticate("maria", PASSWORD)
    # The lockout ends by the clock: move its end into the past instead of waiting (the block is the address's
    # counter; the user's locked_until mirrors it for the users list).
    past = now() - timedelta(seconds=1)
    workspace.store.write(
        lambda s: (
            s.execute(update(LoginThrottle).where(LoginThrottle.username == "maria").values(blocked_until=past)),
            s.execute(update(User).where(User.username == "maria").values(locked_until=past)),
        )
    )
    assert not accounts.user("maria").locked
    assert accounts.authenticate("maria", PASSWORD).username == "maria"


def test_an_admin_password_reset_unlocks_a_locked_account(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=2)
    add(accounts, "maria")
    for _ in range(2):
        with pytest.raises(SignInRefused):
            accounts.authenticate("maria", "not the password")
    new = accounts.set_password("admin", "maria")
    assert not accounts.user("maria").locked
    assert accounts.authenticate("maria", new).must_change_password


def test_a_success_clears_the_count_of_failures(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=2)
    add(accounts, "maria")
    for _ in range(3):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate("maria", "not the password")
        accounts.authenticate("maria", PASSWORD)
    assert not accounts.user("maria").locked


def test_one_address_may_only_try_so_often_whoever_it_tries(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_rate_limit=3)
    add(accounts, "maria")
    for name in ("maria", "sam", "erin"):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate(name, "not the password", address="203.0.113.7")
    with pytest.raises(SignInRefused, match="too many sign-in attempts") as limited:
        accounts.authenticate("maria", PASSWORD, address="203.0.113.7")
    assert limited.value.retry_after == 300
    assert accounts.authenticate("maria", PASSWORD, address="198.51.100.1").username == "maria"


def test_an_address_longer_than_what_is_stored_is_limited_too(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_rate_limit=2)
    address = "2001:db8::1, " * 10  # a forwarded-for chain, cut to 64 characters when stored
    for _ in range(2):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate("maria", PASSWORD, address=address)
    with pytest.raises(SignInRefused, match="too many sign-in attempts"):
        accounts.authenticate("maria", PASSWORD, address=address)


# --- disabling --------------------------------------------------------------------------------------------------


def test_a_disabled_users_sessions_and_tokens_stop_working(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria")
    cookie = accounts.start_session(accounts.authenticate("maria", PASSWORD))
    _, secret = accounts.create_token("admin", "maria", "export")
    accounts.update_user("admin", "maria", disabled=True)
    assert accounts.session_principal(cookie) is None
    assert accounts.token_principal(secret) is None
    with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
        accounts.authenticate("maria", PASSWORD)
    with pytest.raises(AccountError, match="disabled"):
        accounts.create_token("admin", "maria", "another")
    accounts.update_user("admin", "maria", disabled=False)
    assert accounts.token_principal(secret) is None, "enabled again, a token from before the disable stays dead"
    assert accounts.session_principal(cookie) is None, "sessions ended for good"
    assert accounts.authenticate("maria", PASSWORD).username == "maria"


def test_a_revoked_token_stops_working(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria")
    info, secret = accounts.create_token("admin", "maria", "export")
    revoked = accounts.revoke_token("admin", info.id)
    assert revoked.revoked_at is not None
    assert accounts.token_principal(secret) is None


def test_a_user_may_revoke_only_their_own_tokens(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria")
    add(accounts, "sam", "sales")
    info, secret = accounts.create_token("admin", "maria", "export")
    with pytest.raises(AccountError, match="no token #1 of yours"):
        accounts.revoke_token("sam", info.id, owner="sam")
    assert accounts.token_principal(secret) is not None


# --- roles and leaders ------------------------------------------------------------------------------------------


def test_a_token_carries_its_owners_role_or_viewer_and_nothing_else(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria", "marketing")
    own, _ = accounts.create_token("admin", "maria", "own role")
    read_only, _ = accounts.create_token("admin", "maria", "read only", Role.VIEWER)
    assert (own.role, read_only.role) == ("marketing", "viewer")
    for higher in ("admin", "exec", "sales"):
        with pytest.raises(AccountError, match="may carry the marketing or viewer role"):
            accounts.create_token("admin", "maria", "more", higher)


def test_a_viewer_token_of_a_marketing_leader_is_not_a_leader(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "maria", "marketing", leader=True)
    _, own = accounts.create_token("admin", "maria", "own role")
    _, viewer = accounts.create_token("admin", "maria", "read only", "viewer")
    as_leader, as_viewer = accounts.token_principal(own), accounts.token_principal(viewer)
    assert as_leader is not None
    assert as_viewer is not None
    assert (as_leader.role, as_leader.is_leader) == (Role.MARKETING, True)
    assert (as_viewer.role, as_viewer.is_leader) == (Role.VIEWER, False)
    assert not as_viewer.may(Permission.IMPORT)


def test_a_role_change_revokes_the_tokens_that_carry_the_old_role(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "ada", "admin")
    add(accounts, "root", "admin")
    _, admin_token = accounts.create_token("root", "ada", "automation")
    _, viewer_token = accounts.create_token("root", "ada", "dashboard", "viewer")
    cookie = accounts.start_session(accounts.authenticate("ada", PASSWORD))
    accounts.update_user("root", "ada", role="viewer")
    assert accounts.token_principal(admin_token) is None
    assert [t.revoked_at is not None for t in accounts.tokens("ada")] == [True, False]
    demoted = accounts.token_principal(viewer_token)
    assert demoted is not None
    assert demoted.role == Role.VIEWER
    assert accounts.session_principal(cookie) is None, "a new role means signing in again"


def test_only_marketing_and_sales_users_can_be_leaders(workspace: Workspace) -> None:
    accounts = workspace.accounts
    for role in ("admin", "exec", "viewer"):
        with pytest.raises(AccountError, match="only marketing and sales users can be leaders"):
            accounts.create_user("admin", f"lead-{role}", role, password=PASSWORD, leader=True)
    add(accounts, "maria", "marketing", leader=True)
    add(accounts, "sam", "sales", leader=True)
    add(accounts, "erin", "exec")
    with pytest.raises(AccountError, match="only marketing and sales users can be leaders"):
        accounts.update_user("admin", "erin", leader=True)
    assert not accounts.update_user("admin", "maria", role="exec").is_leader, "leaving the side ends leadership"
    assert accounts.user("sam").is_leader


def test_the_last_active_admin_cannot_be_disabled_or_demoted(workspace: Workspace) -> None:
    accounts = workspace.accounts
    add(accounts, "ada", "admin")
    with pytest.raises(AccountError, match="without an active admin"):
        accounts.update_user("ada", "ada", disabled=True)
    with pytest.raises(AccountError, match="without an active admin"):
        accounts.update_user("ada", "ada", role="exec")
    assert accounts.user("ada").role == "admin"
    assert not accounts.user("ada").disabled
    add(accounts, "root", "admin")
    accounts.update_user("root", "ada", disabled=True)
    with pytest.raises(AccountError, match="without an active admin"):
        accounts.update_user("root", "root", role="viewer")


def test_an_unknown_role_is_refused_naming_the_roles(workspace: Workspace) -> None:
    with pytest.raises(AccountError, match="unknown role 'boss'; roles are: admin, marketing, sales, exec, viewer"):
        workspace.accounts.create_user("admin", "maria", "boss", password=PASSWORD)


# --- names ------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["m", "-maria", ".maria", "maria k", "maría", "maria@example.com", "m" * 65, ""], ids=repr
)
def test_user_names_are_validated(workspace: Workspace, name: str) -> None:
    with pytest.raises(AccountError, match="must be 2-64 characters of lower-case letters, digits"):
        workspace.accounts.create_user("admin", name, "viewer", password=PASSWORD)
    assert workspace.accounts.count() == 0


def test_user_names_are_kept_in_lower_case_and_unique(workspace: Workspace) -> None:
    user, _ = workspace.accounts.create_user("admin", " Maria.K ", "viewer", password=PASSWORD)
    assert user.username == "maria.k"
    with pytest.raises(AccountError, match=r"a user named 'maria\.k' exists already"):
        workspace.accounts.create_user("admin", "MARIA.K", "viewer", password=PASSWORD)


def test_a_display_name_longer_than_200_characters_is_refused(workspace: Workspace) -> None:
    with pytest.raises(AccountError, match="at most 200 characters"):
        workspace.accounts.create_user("admin", "maria", "viewer", password=PASSWORD, display_name="M" * 201)


def test_the_first_admin_is_created_only_on_a_workspace_without_users(workspace: Workspace) -> None:
    password = workspace.accounts.ensure_first_admin("cli:ops")
    assert password is not None
    assert workspace.accounts.authenticate("admin", password).role == Role.ADMIN
    assert workspace.accounts.ensure_first_admin("cli:ops") is None


# --- the audit trail --------------------------------------------------------------------------------------------


def test_every_change_writes_an_audit_entry_with_the_actor(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=1)
    accounts.create_user("cli:ops", "ada", "admin", password=PASSWORD)
    accounts.create_user("ada", "maria", "marketing", password=PASSWORD)
    accounts.update_user("ada", "maria", leader=True)
    token, _ = accounts.create_token("ada", "maria", "export")
    accounts.revoke_token("maria", token.id, owner="maria")
    accounts.set_password("ada", "maria")
    accounts.update_user("ada", "maria", disabled=True)
    accounts.change_own_password(accounts.authenticate("ada", PASSWORD), PASSWORD, "another long password")
    with pytest.raises(SignInRefused):
        accounts.authenticate("ada", "not the password")
    assert audit(workspace) == [
        ("cli:ops", "user.create", "ada"),
        ("ada", "user.create", "maria"),
        ("ada", "user.update", "maria"),
        ("ada", "token.create", "maria"),
        ("maria", "token.revoke", "maria"),
        ("ada", "user.password", "maria"),
        ("ada", "user.update", "maria"),
        ("ada", "user.password", "ada"),
        ("tandem", "user.locked", "ada"),
    ]
    newest = workspace.audit_log(3)
    assert newest[2]["details"] == {"disabled": [False, True]}
    assert workspace.verify_audit().ok


def test_a_refused_change_writes_nothing(workspace: Workspace) -> None:
    add(workspace.accounts, "ada", "admin")
    before = audit(workspace)
    with pytest.raises(AccountError):
        workspace.accounts.update_user("ada", "ada", role="viewer", display_name="Ada")
    assert audit(workspace) == before
    assert workspace.accounts.user("ada").display_name == ""
