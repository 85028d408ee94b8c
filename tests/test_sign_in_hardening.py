"""Sign-in protection that cannot be turned into a lockout, and sessions and tokens that end when they should
(issue 16), on SQLite and on PostgreSQL.

The clock is moved by rewriting a block's end in the table, never by waiting.
"""

from __future__ import annotations

import math
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from tandem.accounts import AccountConflict, Accounts, SignInRefused
from tandem.store.models import ApiToken, LoginThrottle, User
from tandem.workspace import Workspace

from .test_cli_accounts import tandem_cli

PASSWORD = "correct horse battery"
NEW_PASSWORD = "a brand new passphrase"
WRONG = "not the password"
WRONG_SIGN_IN = "wrong user name or password"
LOCKED_HERE = "this account is locked after repeated failed sign-ins from this address"
LOCKED_NEW = "only browsers that signed in to it before may sign in"


def accounts_with(workspace: Workspace, **settings: Any) -> Accounts:
    return Accounts(workspace.store, {**workspace.settings, **settings})


def fail(accounts: Accounts, username: str, address: str, times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate(username, WRONG, address)


def refusal(accounts: Accounts, username: str, address: str, device: str | None = None) -> str:
    with pytest.raises(SignInRefused) as refused:
        accounts.authenticate(username, PASSWORD, address, device=device)
    return str(refused.value)


def end_blocks(workspace: Workspace) -> None:
    """Every block ends now: as if its time had passed."""
    past = datetime.now(UTC).replace(tzinfo=None) - timedelta(seconds=1)
    workspace.store.write(
        lambda s: s.execute(
            update(LoginThrottle).where(LoginThrottle.blocked_until.is_not(None)).values(blocked_until=past)
        )
    )


def lock_minutes(workspace: Workspace) -> list[int]:
    """The length of each block the audit log recorded, oldest first."""
    return [e["details"]["minutes"] for e in reversed(workspace.audit_log(1000)) if e["action"] == "user.locked"]


# --- per (account, address) -------------------------------------------------------------------------------------


def test_failures_from_one_address_block_that_address_only(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=3)
    accounts.create_user("admin", "maria", "admin", password=PASSWORD)
    fail(accounts, "maria", "203.0.113.9", 3)
    assert refusal(accounts, "maria", "203.0.113.9").startswith(LOCKED_HERE)
    assert accounts.user("maria").locked
    assert accounts.authenticate("maria", PASSWORD, "198.51.100.4").username == "maria"
    assert accounts.user("maria").locked, "the attacking address stays blocked"
    assert refusal(accounts, "maria", "203.0.113.9").startswith(LOCKED_HERE)


def test_each_next_block_lasts_twice_the_last_up_to_the_cap(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=2, login_lockout_minutes=15, login_lockout_max_minutes=40)
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    for _ in range(4):
        fail(accounts, "maria", "203.0.113.9", 2)
        end_blocks(workspace)
    assert lock_minutes(workspace) == [15, 30, 40, 40]
    assert accounts.authenticate("maria", PASSWORD, "203.0.113.9").username == "maria"
    fail(accounts, "maria", "203.0.113.9", 2)
    assert lock_minutes(workspace) == [15, 30, 40, 40, 15], "a success starts the growth over"


def test_a_refused_attempt_says_when_and_how_to_get_in(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=1, login_lockout_minutes=15)
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    fail(accounts, "maria", "203.0.113.9")
    with pytest.raises(SignInRefused) as refused:
        accounts.authenticate("maria", PASSWORD, "203.0.113.9")
    assert str(refused.value) == (
        "this account is locked after repeated failed sign-ins from this address; try again in 15 minute(s) or from "
        "a browser that signed in to it before, or ask an admin to unlock it (Admin page, or "
        "`tandem users unlock maria`)"
    )
    assert refused.value.retry_after is not None
    assert math.ceil(refused.value.retry_after / 60) == 15  # seconds to the block's end, for Retry-After


# --- per account, against rotating addresses ----------------------------------------------------------------------


def test_rotating_addresses_cannot_lock_the_owner_out_of_a_known_browser(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=5, login_account_limit=4)
    accounts.create_user("admin", "ada", "admin", password=PASSWORD)  # the only admin
    accounts.authenticate("ada", PASSWORD, "192.0.2.1")
    known = accounts.device_cookie("ada")
    for index in range(4):
        fail(accounts, "ada", f"203.0.113.{index}")
    assert LOCKED_NEW in refusal(accounts, "ada", "203.0.113.200")
    assert LOCKED_NEW in refusal(accounts, "ada", "192.0.2.1"), "an address alone is not a known browser"
    assert accounts.authenticate("ada", PASSWORD, "203.0.113.200", device=known).username == "ada"
    assert accounts.authenticate("ada", PASSWORD, "203.0.113.0", device=known).username == "ada"
    end_blocks(workspace)
    assert accounts.authenticate("ada", PASSWORD, "203.0.113.201").username == "ada", "never a permanent lock"


def test_a_device_cookie_cannot_be_forged_or_borrowed(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_account_limit=1)
    accounts.create_user("admin", "ada", "admin", password=PASSWORD)
    accounts.create_user("admin", "sam", "sales", password=PASSWORD)
    sams = accounts.device_cookie("sam")
    adas = accounts.device_cookie("ada")
    fail(accounts, "ada", "203.0.113.1")
    name, device_id, mac = adas.rsplit(".", 2)
    forged = f"{name}.{device_id}.{'0' * len(mac)}"
    for cookie in (sams, forged, "ada", "ada..", "ada.é.é", "x" * 400):
        assert LOCKED_NEW in refusal(accounts, "ada", "203.0.113.2", device=cookie)
    assert accounts.authenticate("ada", PASSWORD, "203.0.113.2", device=adas).username == "ada"


def test_a_new_password_retires_the_device_cookies(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_account_limit=1)
    accounts.create_user("admin", "ada", "admin", password=PASSWORD)
    old = accounts.device_cookie("ada")
    accounts.change_own_password(accounts.authenticate("ada", PASSWORD), PASSWORD, NEW_PASSWORD)
    fail(accounts, "ada", "203.0.113.1")
    with pytest.raises(SignInRefused, match=LOCKED_NEW):
        accounts.authenticate("ada", NEW_PASSWORD, "203.0.113.2", device=old)
    assert accounts.authenticate("ada", NEW_PASSWORD, "203.0.113.2", device=accounts.device_cookie("ada"))


def test_a_blocked_known_browser_does_not_block_the_others(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=2, login_account_limit=100)
    accounts.create_user("admin", "ada", "admin", password=PASSWORD)
    laptop, phone = accounts.device_cookie("ada"), accounts.device_cookie("ada")
    for _ in range(2):
        with pytest.raises(SignInRefused, match=WRONG_SIGN_IN):
            accounts.authenticate("ada", WRONG, "192.0.2.1", device=laptop)
    with pytest.raises(SignInRefused, match="locked after repeated failed sign-ins; try again"):
        accounts.authenticate("ada", PASSWORD, "192.0.2.1", device=laptop)
    assert accounts.authenticate("ada", PASSWORD, "192.0.2.1", device=phone).username == "ada"
    assert accounts.authenticate("ada", PASSWORD, "192.0.2.1").username == "ada"


# --- unlocking ----------------------------------------------------------------------------------------------------


def test_an_unlock_lifts_every_block_of_the_account_and_is_audited(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=1, login_account_limit=2)
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    fail(accounts, "maria", "203.0.113.1")
    fail(accounts, "maria", "203.0.113.2")
    assert LOCKED_NEW in refusal(accounts, "maria", "203.0.113.3")
    assert accounts.unlock("cli:ops", "maria") == 4  # the counters of three addresses and of the account
    assert not accounts.user("maria").locked
    assert accounts.authenticate("maria", PASSWORD, "203.0.113.1").username == "maria"
    entries = [(e["actor"], e["action"], e["details"]) for e in workspace.audit_log(1000)]
    assert ("cli:ops", "user.unlock", {"counters": 4}) in entries


def test_the_unlock_command_lifts_a_block(workspace: Workspace) -> None:
    accounts = accounts_with(workspace, login_max_failures=1)
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    fail(accounts, "maria", "local")
    done = tandem_cli(Path(workspace.path), "users", "unlock", "maria")
    assert done.returncode == 0, done.stderr
    # The address's counter (blocking) and the account's (one failure from a client it does not know).
    assert done.stdout.strip() == "Unlocked maria: sales, active (2 sign-in counter(s) cleared)."
    assert accounts.authenticate("maria", PASSWORD).username == "maria"


# --- the burst ----------------------------------------------------------------------------------------------------


def test_sixty_concurrent_sign_ins_from_one_address_let_through_exactly_the_limit(workspace: Workspace) -> None:
    accounts = workspace.accounts
    assert accounts.settings["login_rate_limit"] == 20
    start = threading.Barrier(60)

    def attempt(index: int) -> str:
        start.wait()
        try:
            accounts.authenticate(f"nobody{index}", WRONG, "203.0.113.77")
        except SignInRefused as refused:
            return str(refused).split(";")[0]
        return "signed in"

    with ThreadPoolExecutor(max_workers=60) as pool:
        outcomes = list(pool.map(attempt, range(60)))
    assert sorted(set(outcomes)) == ["too many sign-in attempts from this address", WRONG_SIGN_IN]
    assert outcomes.count(WRONG_SIGN_IN) == 20
    assert outcomes.count("too many sign-in attempts from this address") == 40


# --- sessions and tokens ------------------------------------------------------------------------------------------


def test_a_password_change_ends_the_other_sessions_and_may_revoke_the_tokens(workspace: Workspace) -> None:
    accounts = workspace.accounts
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    principal = accounts.authenticate("maria", PASSWORD)
    here, laptop, phone = (accounts.start_session(principal) for _ in range(3))
    _, secret = accounts.create_token("admin", "maria", "export")
    done = accounts.change_own_password(principal, PASSWORD, NEW_PASSWORD, keep_session=here)
    assert done.as_dict() == {"sessions_ended": 2, "tokens_revoked": 0}
    assert accounts.session_principal(here) == principal
    assert accounts.session_principal(laptop) is None
    assert accounts.session_principal(phone) is None
    assert accounts.token_principal(secret) is not None, "tokens stay unless their revocation is asked for"
    again = accounts.change_own_password(principal, NEW_PASSWORD, PASSWORD, revoke_tokens=True)
    assert again.as_dict() == {"sessions_ended": 1, "tokens_revoked": 1}
    assert accounts.token_principal(secret) is None
    assert workspace.audit_log(1)[0]["details"] == {"own": True, "sessions_ended": 1, "revoked_tokens": [1]}


def test_re_enabling_a_user_does_not_revive_their_tokens(workspace: Workspace) -> None:
    accounts = workspace.accounts
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    info, secret = accounts.create_token("admin", "maria", "export")
    accounts.update_user("admin", "maria", disabled=True)
    assert workspace.audit_log(1)[0]["details"] == {"disabled": [False, True], "revoked_tokens": [info.id]}
    accounts.update_user("admin", "maria", disabled=False)
    assert accounts.token_principal(secret) is None
    assert [t.revoked_at is not None for t in accounts.tokens("maria")] == [True]


def test_re_enabling_revokes_tokens_a_disable_from_before_kept(workspace: Workspace) -> None:
    """A workspace disabled under the old rule (tokens left unrevoked) gets them revoked when re-enabled."""
    accounts = workspace.accounts
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    info, secret = accounts.create_token("admin", "maria", "export")
    accounts.update_user("admin", "maria", disabled=True)
    workspace.store.write(lambda s: s.execute(update(ApiToken).values(revoked_at=None)))  # the old disable
    accounts.update_user("admin", "maria", disabled=False)
    assert accounts.token_principal(secret) is None
    assert workspace.audit_log(1)[0]["details"] == {"disabled": [True, False], "revoked_tokens": [info.id]}


def test_no_token_for_a_user_who_must_change_a_one_time_password(workspace: Workspace) -> None:
    accounts = workspace.accounts
    _, one_time = accounts.create_user("admin", "maria", "sales")
    with pytest.raises(AccountConflict) as refused:
        accounts.create_token("admin", "maria", "export")
    assert str(refused.value) == (
        "user 'maria' must first change their one-time password (at sign-in, or "
        "`tandem account password --as maria`); then make the token"
    )
    with workspace.store.session() as s:
        assert s.scalars(select(ApiToken)).all() == []
    accounts.change_own_password(accounts.authenticate("maria", one_time), one_time, NEW_PASSWORD)
    info, _ = accounts.create_token("admin", "maria", "export")
    assert (info.id, info.username, info.role) == (1, "maria", "sales")


def test_the_token_command_refuses_a_user_on_a_one_time_password(workspace: Workspace) -> None:
    workspace.accounts.create_user("admin", "maria", "sales")
    done = tandem_cli(Path(workspace.path), "tokens", "create", "--user", "maria", "--name", "export")
    assert done.returncode != 0
    assert "user 'maria' must first change their one-time password" in done.stderr
    assert "Traceback" not in done.stderr
    assert workspace.accounts.tokens() == []


def test_the_upgrade_revokes_the_tokens_of_users_disabled_before_it(workspace: Workspace) -> None:
    """Migration 0007: a user disabled under the old rule kept live tokens; the upgrade revokes them, and clears
    the old whole-account lock that nothing shows any more."""
    from alembic import command

    accounts = workspace.accounts
    accounts.create_user("admin", "maria", "sales", password=PASSWORD)
    accounts.create_user("admin", "sam", "sales", password=PASSWORD)
    _, marias = accounts.create_token("admin", "maria", "export")
    _, sams = accounts.create_token("admin", "sam", "export")
    config = workspace.store._alembic_config()
    command.downgrade(config, "0006")
    workspace.store.write(
        lambda s: s.execute(
            update(User).where(User.username == "maria").values(disabled=True, failed_logins=3, locked_until=None)
        )
    )
    command.upgrade(config, "head")
    assert workspace.store.revision() == "0007"
    assert [t.revoked_at is not None for t in accounts.tokens("maria")] == [True]
    assert [t.revoked_at is not None for t in accounts.tokens("sam")] == [False]
    accounts.update_user("admin", "maria", disabled=False)
    assert accounts.token_principal(marias) is None
    assert accounts.token_principal(sams) is not None
    assert accounts.user("maria").as_dict()["locked"] is False
