"""Who may do what with the definitions and with a proposal, in each of its states (`allowed_actions`).

The one statement of the approval workflow's rules: `Governance` enforces it (its refusals are `refusal`'s), the
command line shows it (`tandem definitions proposals --as USER`), the REST API returns it as a proposal's
``actions`` for the caller, and the proposal's page shows one button per action.

The people: mark (marketing) and sid (sales) work their side; mia and mona lead marketing, sam and sara lead
sales; eve and ed are execs; val is a viewer; ada the admin. Proposals here are mark's unless said otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest

from tandem.accounts import Principal, Role
from tandem.definitions.governance import (
    ApprovalInfo,
    GovernanceConflict,
    GovernanceForbidden,
    ProposalInfo,
    allowed_actions,
    deciders,
    refusal,
)
from tandem.definitions.guard import GuardVerdict
from tandem.errors import ConflictError, ForbiddenError

PEOPLE = {
    "mark": (Role.MARKETING, False),
    "sid": (Role.SALES, False),
    "mia": (Role.MARKETING, True),
    "mona": (Role.MARKETING, True),
    "sam": (Role.SALES, True),
    "sara": (Role.SALES, True),
    "eve": (Role.EXEC, False),
    "ed": (Role.EXEC, False),
    "val": (Role.VIEWER, False),
    "ada": (Role.ADMIN, False),
}
WHEN = datetime(2026, 12, 20, 10, 0)
#: The quarter-end guard's verdict on a change that loosens mql in the last two weeks of 2026-Q4.
HELD_BACK = GuardVerdict(1, ["mql"], date(2026, 12, 28), 2, (date(2026, 12, 18), date(2026, 12, 31)))
#: Its verdict on a change that takes effect after the quarter: nothing to override.
NOT_HELD = GuardVerdict(1, ["mql"], date(2027, 1, 4), 2, (date(2027, 3, 18), date(2027, 3, 31)))


def person(name: str, *, must_change_password: bool = False) -> Principal:
    role, leader = PEOPLE[name]
    return Principal(1, name, name.title(), role, leader, "test", must_change_password)


def decision(username: str, side: str, kind: str = "approve", comment: str = "") -> ApprovalInfo:
    return ApprovalInfo(username, side, kind, comment, WHEN)


def proposal(
    *decisions: ApprovalInfo, author: str = "mark", status: str = "open", guard: GuardVerdict | None = None
) -> ProposalInfo:
    return ProposalInfo(
        id=1,
        base_version=1,
        author=author,
        note="MQL at 40 points",
        created_at=WHEN,
        effective_from=None,
        status=status,
        decided_at=None if status == "open" else WHEN,
        document="stages: []\n",
        decisions=list(decisions),
        guard=guard,
    )


def everyone_may(on: ProposalInfo | None) -> dict[str, list[str]]:
    """Who may do what: each person's allowed actions, in the order the front ends list them; nobody omitted."""
    order = ["propose", "approve", "reject", "withdraw", "override"]
    return {name: sorted(allowed_actions(person(name), on), key=order.index) for name in PEOPLE}


# --- the definitions themselves -----------------------------------------------------------------------------------
def test_marketing_and_sales_users_propose_changes_leaders_or_not() -> None:
    assert everyone_may(None) == {
        "mark": ["propose"],
        "sid": ["propose"],
        "mia": ["propose"],
        "mona": ["propose"],
        "sam": ["propose"],
        "sara": ["propose"],
        "eve": [],
        "ed": [],
        "val": [],
        "ada": [],
    }
    assert allowed_actions(None) == frozenset()  # nobody signed in
    refused = refusal(person("eve"), None, "propose")
    assert isinstance(refused, GovernanceForbidden)
    assert str(refused) == "eve has the exec role; only marketing and sales users propose changes to the definitions"


# --- an open proposal ---------------------------------------------------------------------------------------------
def test_a_new_proposal_waits_for_a_leader_of_each_side_and_its_author_may_withdraw_it() -> None:
    assert everyone_may(proposal()) == {
        "mark": ["withdraw"],  # the author: never approves their own change
        "sid": [],  # not a leader
        "mia": ["approve", "reject"],
        "mona": ["approve", "reject"],
        "sam": ["approve", "reject"],
        "sara": ["approve", "reject"],
        "eve": [],  # nothing to override: the guard does not hold it back (or its verdict is not known)
        "ed": [],
        "val": [],
        "ada": [],
    }


def test_once_a_side_approved_its_other_leaders_may_still_reject_but_not_approve_again() -> None:
    approved_by_marketing = proposal(decision("mia", "marketing"))
    may = everyone_may(approved_by_marketing)
    assert (may["mia"], may["mona"]) == (["reject"], ["reject"])
    assert (may["sam"], may["sara"]) == (["approve", "reject"], ["approve", "reject"])
    refused = refusal(person("mona"), approved_by_marketing, "approve")
    assert isinstance(refused, GovernanceConflict)  # the proposal's state, not who mona is
    assert str(refused) == (
        "proposal #1 is already approved for the marketing side by mia; it needs one approval from each side"
    )


def test_a_leader_who_wrote_the_proposal_may_only_withdraw_it() -> None:
    by_mia = proposal(author="mia")
    assert everyone_may(by_mia)["mia"] == ["withdraw"]
    assert everyone_may(by_mia)["mona"] == ["approve", "reject"]  # another marketing leader approves it
    refused = refusal(person("mia"), by_mia, "approve")
    assert isinstance(refused, ForbiddenError)
    assert str(refused) == "mia wrote proposal #1 and cannot approve it; another marketing leader must"


def test_who_may_not_decide_is_told_why() -> None:
    open_proposal = proposal()
    reasons = {name: str(refusal(person(name), open_proposal, "approve")) for name in ("sid", "eve", "val", "mark")}
    assert reasons == {
        "sid": "sid is not a sales leader; only leaders approve for their side (an admin makes someone a leader)",
        "eve": "eve has the exec role; only a marketing or sales leader may approve a proposal",
        "val": "val has the viewer role; only a marketing or sales leader may approve a proposal",
        "mark": "mark is not a marketing leader; only leaders approve for their side (an admin makes someone a leader)",
    }
    assert (
        str(refusal(person("mia"), open_proposal, "withdraw"))
        == "only the author of proposal #1 (mark) may withdraw it"
    )
    assert str(refusal(person("sam"), open_proposal, "override")) == (
        "sam has the sales role; only an exec (CEO or CRO) may override the guard"
    )


# --- the quarter-end guard ----------------------------------------------------------------------------------------
def test_while_the_guard_holds_a_proposal_back_an_exec_may_override_it() -> None:
    held = proposal(guard=HELD_BACK)
    may = everyone_may(held)
    assert (may["eve"], may["ed"]) == (["override"], ["override"])
    # The leaders judge what the change says, the exec when it may happen: the first approval is taken...
    assert (may["mia"], may["sam"]) == (["approve", "reject"], ["approve", "reject"])
    # ... but not the one that would make the version, until an exec has overridden.
    approved_by_marketing = proposal(decision("mia", "marketing"), guard=HELD_BACK)
    assert everyone_may(approved_by_marketing)["sam"] == ["reject"]
    refused = refusal(person("sam"), approved_by_marketing, "approve")
    assert isinstance(refused, ConflictError)
    assert "an exec must override it first" in str(refused)


def test_after_the_override_the_leaders_decide_and_nobody_overrides_again() -> None:
    overridden_verdict = replace(HELD_BACK, overridden_by="eve", reason="the board agreed")
    overridden = proposal(
        decision("mia", "marketing"),
        decision("eve", "exec", "override", "the board agreed"),
        guard=overridden_verdict,
    )
    may = everyone_may(overridden)
    assert may["sam"] == ["approve", "reject"]
    assert (may["eve"], may["ed"]) == ([], [])
    assert str(refusal(person("ed"), overridden, "override")) == (
        "proposal #1 is already overridden by eve (2026-12-20): the board agreed"
    )


def test_an_exec_overrides_neither_their_own_proposal_nor_one_the_guard_does_not_hold_back() -> None:
    by_eve = proposal(author="eve", guard=HELD_BACK)
    assert everyone_may(by_eve)["eve"] == ["withdraw"]
    assert everyone_may(by_eve)["ed"] == ["override"]
    calm = proposal(guard=NOT_HELD)
    assert everyone_may(calm)["eve"] == []
    refused = refusal(person("eve"), calm, "override")
    assert isinstance(refused, GovernanceConflict)
    assert str(refused).endswith("no override needed")
    # Without the guard's verdict, override is not offered; `refusal` leaves that rule to whoever measures it.
    assert everyone_may(proposal())["eve"] == []
    assert refusal(person("eve"), proposal(), "override") is None


# --- closed proposals, and people who may not decide at all -------------------------------------------------------
@pytest.mark.parametrize("status", ["approved", "rejected", "stale"])
def test_a_closed_proposal_allows_nothing_to_anyone(status: str) -> None:
    closed = proposal(decision("mia", "marketing"), status=status, guard=HELD_BACK)
    assert everyone_may(closed) == {name: [] for name in PEOPLE}
    refused = refusal(person("sam"), closed, "approve")
    assert isinstance(refused, GovernanceConflict)
    assert "it is closed" in str(refused)


def test_someone_who_must_change_a_one_time_password_may_do_nothing_yet() -> None:
    mia = person("mia", must_change_password=True)
    assert allowed_actions(mia, proposal()) == frozenset()
    assert allowed_actions(mia) == frozenset()
    assert str(refusal(mia, proposal(), "approve")) == "mia must change their one-time password first"


def test_a_token_carrying_the_viewer_role_may_do_what_a_viewer_may() -> None:
    scoped = replace(person("mia"), role=Role.VIEWER)
    assert allowed_actions(scoped, proposal()) == frozenset()
    assert allowed_actions(replace(person("mark"), role=Role.VIEWER), proposal()) == frozenset()  # not even withdraw


def test_who_may_decide_for_each_side_the_proposal_waits_for() -> None:
    class User:
        def __init__(self, username: str, *, disabled: bool = False) -> None:
            role, leader = PEOPLE[username]
            self.username, self.role, self.is_leader, self.disabled = username, str(role), leader, disabled

    users = [User(name) for name in PEOPLE if name != "sara"] + [User("sara", disabled=True)]
    assert deciders(proposal(author="mia"), users) == {"marketing": ["mona"], "sales": ["sam"]}
    held = proposal(decision("mona", "marketing"), guard=HELD_BACK)
    assert deciders(held, users) == {"sales": ["sam"], "exec": ["ed", "eve"]}
