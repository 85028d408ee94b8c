"""Who may do what on a plan version, in each state of its life: `allowed_actions`, the one place the pages (which
forms they show), the plans' documents (``actions``) and the command line ask. The steps themselves refuse exactly
what it does not allow, and let through exactly what it does.

The team: mark (marketing) wrote the version; maria (a marketing leader) works with him; sam and sara are sales
leaders; sid is in sales, not a leader; eve is an exec, ada an admin, vic a viewer.
"""

from __future__ import annotations

from typing import Any

import pytest

from tandem.accounts import Principal
from tandem.errors import ConflictError, ForbiddenError
from tandem.plan.proposals import ACTIONS, Action, PlanInfo, Plans, allowed_actions
from tandem.workspace import Workspace

from .test_proposals import PLAN, person, stand_in

PROPOSE, REVIEW, ACCEPT, SEND_BACK, REJECT = ACTIONS
DECIDE = {ACCEPT, SEND_BACK, REJECT}
NOTHING: set[Action] = set()

#: What each person may do on the version in each state (the version read is the one waiting, else the latest).
WHO_MAY_DO_WHAT: dict[str, dict[str, set[Action]]] = {
    # Marketing proposes the first version of a period's plan; nobody else starts one.
    "no plan yet": {
        "mark": {PROPOSE},
        "maria": {PROPOSE},
        "sam": NOTHING,
        "sid": NOTHING,
        "eve": NOTHING,
        "ada": NOTHING,
        "vic": NOTHING,
    },
    # Waiting for a decision: marketing and sales comment; a sales leader decides; marketing may replace it.
    "waiting": {
        "mark": {PROPOSE, REVIEW},
        "maria": {PROPOSE, REVIEW},
        "sam": {REVIEW, *DECIDE},
        "sara": {REVIEW, *DECIDE},
        "sid": {REVIEW},
        "eve": NOTHING,
        "ada": NOTHING,
        "vic": NOTHING,
    },
    # Accepted (the baseline), sent back or rejected: closed; only a new version goes on, and marketing proposes it.
    "accepted": {"mark": {PROPOSE}, "maria": {PROPOSE}, "sam": NOTHING, "sid": NOTHING, "eve": NOTHING},
    "sent back": {"mark": {PROPOSE}, "maria": {PROPOSE}, "sam": NOTHING, "sid": NOTHING, "vic": NOTHING},
    "rejected": {"mark": {PROPOSE}, "maria": {PROPOSE}, "sara": NOTHING, "sid": NOTHING, "ada": NOTHING},
    # An older version, replaced by a newer one while it waited: closed too, whoever reads it.
    "replaced": {"mark": {PROPOSE}, "maria": {PROPOSE}, "sam": NOTHING, "sid": NOTHING},
}

TEAM = {
    "mark": ("marketing", False),
    "maria": ("marketing", True),
    "sam": ("sales", True),
    "sara": ("sales", True),
    "sid": ("sales", False),
    "eve": ("exec", False),
    "ada": ("admin", False),
    "vic": ("viewer", False),
}


@pytest.fixture
def team(workspace: Workspace) -> dict[str, Principal]:
    return {name: person(workspace, name, role, leader=leader) for name, (role, leader) in TEAM.items()}


@pytest.fixture
def plans(workspace: Workspace) -> Plans:
    return Plans(workspace.store, stand_in, lambda: workspace.stages)


MONTHS = (f"{year}-{month:02d}" for year in range(2027, 2040) for month in range(1, 13))


def plan_in(state: str, plans: Plans, team: dict[str, Principal], period: str) -> tuple[PlanInfo | None, int | None]:
    """A plan for `period` that mark proposed, in `state`; and the version read (None: the default)."""
    if state == "no plan yet":
        return None, None
    text = PLAN.replace("2027-Q1", period)
    proposed = plans.propose(team["mark"], text)
    if state == "accepted":
        plans.accept(team["sam"], proposed.plan_id, proposed.version)
    elif state == "sent back":
        plans.send_back(team["sam"], proposed.plan_id, "more webinars")
    elif state == "rejected":
        plans.reject(team["sam"], proposed.plan_id, "not this quarter")
    elif state == "replaced":
        plans.propose(team["maria"], text.replace("budget: 40k", "budget: 45k"))
        return plans.plan(proposed.plan_id), 1
    return plans.plan(proposed.plan_id), None


@pytest.mark.parametrize("state", WHO_MAY_DO_WHAT)
def test_who_may_do_what_on_a_version_in_each_state(state: str, plans: Plans, team: dict[str, Principal]) -> None:
    plan, version = plan_in(state, plans, team, "2027-01")
    for name, may in WHO_MAY_DO_WHAT[state].items():
        assert allowed_actions(team[name], plan, version) == may, (state, name)


def test_the_author_never_decides_on_their_own_version(
    workspace: Workspace, plans: Plans, team: dict[str, Principal]
) -> None:
    plan, _ = plan_in("waiting", plans, team, "2027-01")
    workspace.accounts.update_user("admin", "mark", role="sales", leader=True)  # mark moves to sales, as a leader
    mark = workspace.accounts.authenticate("mark", "a long enough password", "test")
    assert allowed_actions(mark, plan) == {REVIEW}  # another sales leader must decide
    assert allowed_actions(team["sam"], plan) == {REVIEW, *DECIDE}


def test_nobody_signed_in_may_do_nothing(plans: Plans, team: dict[str, Principal]) -> None:
    plan, _ = plan_in("waiting", plans, team, "2027-01")
    assert allowed_actions(None, plan) == NOTHING
    assert allowed_actions(None) == NOTHING


def step(plans: Plans, who: Principal, action: Action, plan: PlanInfo | None, period: str, version: int | None) -> Any:
    """Take `action` as `who` on the version read (the waiting one, else the latest)."""
    if action is PROPOSE:
        return plans.propose(who, PLAN.replace("2027-Q1", period).replace("budget: 40k", "budget: 41k"))
    assert plan is not None
    read = version or (plan.waiting or plan.latest).version
    if action is REVIEW:
        return plans.review(who, plan.id, "a comment", read)
    if action is ACCEPT:
        return plans.accept(who, plan.id, read)
    if action is SEND_BACK:
        return plans.send_back(who, plan.id, "a reason", read)
    return plans.reject(who, plan.id, "a reason", read)


def test_the_steps_refuse_exactly_what_allowed_actions_does_not_allow(plans: Plans, team: dict[str, Principal]) -> None:
    """Every person, every action, every state: allowed, the step goes through (on a plan of its own); not allowed,
    it is refused as forbidden (the role, or the author) or as a conflict (the version's state), and nothing
    changes."""
    periods = iter(MONTHS)

    def fresh(state: str) -> tuple[PlanInfo | None, int | None, str]:
        period = next(periods)
        return (*plan_in(state, plans, team, period), period)

    for state in WHO_MAY_DO_WHAT:
        plan, version, period = fresh(state)
        for name, who in team.items():
            allowed = allowed_actions(who, plan, version)
            for action in ACTIONS if plan is not None else (PROPOSE,):
                if action in allowed:
                    own, own_version, own_period = fresh(state)
                    assert step(plans, who, action, own, own_period, own_version) is not None, (state, name, action)
                    continue
                before = plans.plans()
                with pytest.raises((ForbiddenError, ConflictError)):
                    step(plans, who, action, plan, period, version)
                assert plans.plans() == before, (state, name, action)


def test_the_actions_in_the_order_documents_list_them() -> None:
    assert [a.value for a in ACTIONS] == ["propose", "review", "accept", "send_back", "reject"]
