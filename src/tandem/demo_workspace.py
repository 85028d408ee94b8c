"""`tandem demo`: generate the demo company and load it through the same import path users use.

A demo workspace is for trying tandem out: `create_demo_users` gives it one user per role with passwords that are
printed on the terminal, so nobody has to set up accounts before looking around.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from tandem.accounts import AccountError, Role, generate_password
from tandem.demo import DEMO_SERVICE_LEVELS
from tandem.errors import WorkspaceError
from tandem.money import format_whole
from tandem.periods import add_months, current_quarter
from tandem.settings import resolve_settings
from tandem.workspace import CONFIG_FILE, Workspace, cli_actor, init_workspace, open_workspace

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from tandem.plan.goals import GoalInfo

__all__ = [
    "DEMO_GOAL_GROWTH",
    "DEMO_PROPOSAL_RULE",
    "DEMO_SERVICE_LEVELS",
    "DEMO_USERS",
    "IMPORT_ORDER",
    "build_demo",
    "create_demo_users",
    "propose_demo_change",
    "set_demo_goal",
]

#: Referenced tables first: stage events, activities and handoffs need their leads.
IMPORT_ORDER = (
    "accounts",
    "campaigns",
    "leads",
    "stage_events",
    "opportunities",
    "touches",
    "spend",
    "activities",
    "handoffs",
)

#: The demo company's people: (user name, role, leader, display name), one per role and a leader on each side.
DEMO_USERS: tuple[tuple[str, Role, bool, str], ...] = (
    ("admin", Role.ADMIN, False, "Demo Admin"),
    ("maria", Role.MARKETING, True, "Maria Marketing"),
    ("mark", Role.MARKETING, False, "Mark Marketer"),
    ("sam", Role.SALES, True, "Sam Sales"),
    ("ava", Role.SALES, False, "Ava Thompson"),  # a rep of the demo company: her queue on the SLA page
    ("erin", Role.EXEC, False, "Erin Exec"),
    ("victor", Role.VIEWER, False, "Victor Viewer"),
)


def build_demo(
    folder: Path,
    *,
    leads: int | None = None,
    seed: int | None = None,
    today: date | None = None,
    echo: Callable[[str], None] = print,
) -> Workspace:
    """Create (or refresh) a demo workspace in `folder`.

    The company is written as canonical Parquet files in ``folder/demo-data`` and imported table by table.
    Running it again on the same folder re-imports: with the same seed on the same day nothing changes, which is
    the import's idempotency at work.
    """
    from tandem.demo import generate_company

    if (folder / CONFIG_FILE).exists():
        workspace = open_workspace(folder)
    elif folder.exists() and any(folder.iterdir()):
        raise WorkspaceError(f"{folder} exists and is not a tandem workspace; choose another --workspace")
    else:
        workspace = init_workspace(folder, name="demo company")
        _demo_contract(workspace)
    _demo_settings(workspace)
    n_leads = leads if leads is not None else int(workspace.settings["demo_leads"])
    n_seed = seed if seed is not None else int(workspace.settings["demo_seed"])
    if n_leads < 100:
        raise WorkspaceError(f"--leads must be at least 100 for a meaningful demo, got {n_leads}")
    started = time.perf_counter()
    echo(f"generating a demo company: {n_leads:,} leads, seed {n_seed} ...")
    files = generate_company(folder / "demo-data", leads=n_leads, seed=n_seed, today=today, stages=workspace.stages)
    echo(f"  generated in {time.perf_counter() - started:.1f} s")
    for kind in IMPORT_ORDER:
        step = time.perf_counter()
        (result,) = workspace.import_files(kind, [files[kind]])
        echo(f"  {result.summary()} ({time.perf_counter() - step:.1f} s)")
    echo(f"demo ready in {time.perf_counter() - started:.1f} s")
    return workspace


#: Settings a demo workspace writes in its tandem.toml: the demo company's currency, and its one channel that
#: sales sources itself (a workspace of one's own has no default: `tandem settings` suggests one from its data).
DEMO_SETTINGS: dict[str, object] = {"currency": "USD", "sales_sourced_channels": ["outbound"]}


def _demo_contract(workspace: Workspace) -> None:
    """Add `DEMO_SERVICE_LEVELS` to version 1 of a demo workspace just created, before anything reads it.

    Why version 1: the demo then starts with a contract in force, with no proposal of its own, and mark's proposal
    stays #1 on version 1. A demo workspace made before the contract existed keeps its definitions: they are
    changed only through proposals once a workspace exists.
    """
    from tandem.definitions.model import load_definitions
    from tandem.store.models import DefinitionVersion

    def change(s: Session) -> None:
        row = s.get(DefinitionVersion, 1)
        if row is None or row.document is None or "service_levels:" in row.document:
            return
        document = row.document + DEMO_SERVICE_LEVELS
        load_definitions(document, source_name="the demo company's definitions")  # refuses a contract that broke
        row.document = document
        row.note = f"{row.note}, with the demo company's service levels"

    workspace.store.write(change)


def _demo_settings(workspace: Workspace) -> None:
    """Write `DEMO_SETTINGS` the workspace does not set yet into its tandem.toml, and use them at once."""
    missing = {k: v for k, v in DEMO_SETTINGS.items() if k not in workspace.config.settings}
    if not missing:
        return
    workspace.config.settings.update(missing)
    (workspace.path / CONFIG_FILE).write_text(workspace.config.to_toml(), encoding="utf-8")
    workspace.settings = resolve_settings(workspace.config.settings)


def create_demo_users(workspace: Workspace, actor: str | None = None) -> list[tuple[str, str, str]]:
    """Give a demo workspace one user per role (`DEMO_USERS`); returns (user name, role, password) to print.

    The passwords are random and need no change at first sign-in, so the demo can be explored at once. Users that
    exist already (the demo built again) get a new password: this is a demo workspace, not one to share as is.
    Kept apart from `build_demo` so tests can build a demo company with their own users.
    """
    who = actor or cli_actor()
    accounts = workspace.accounts
    existing = {user.username for user in accounts.users()}
    credentials: list[tuple[str, str, str]] = []
    for username, role, leader, display_name in DEMO_USERS:
        password = generate_password()
        if username in existing:
            accounts.set_password(who, username, password, must_change=False)
        else:
            try:
                accounts.create_user(
                    who,
                    username,
                    role,
                    password=password,
                    leader=leader,
                    display_name=display_name,
                    must_change_password=False,
                )
            except AccountError:  # created meanwhile by another process: reset it like an existing one
                accounts.set_password(who, username, password, must_change=False)
        credentials.append((username, str(accounts.user(username).role), password))
    return credentials


#: The change the demo's marketer proposes: every webinar attendee is an MQL (a loosening, to review on its page).
DEMO_PROPOSAL_RULE = "has_event('webinar_attended')"


def propose_demo_change(workspace: Workspace, credentials: list[tuple[str, str, str]]) -> int | None:
    """Leave one open proposal in a demo workspace, by mark: the MQL stage entered by attending a webinar.

    It waits for maria (marketing) and sam (sales), so the Definitions page shows the workflow, the impact of the
    change on the demo's data and the guard. `credentials` are `create_demo_users`'s: mark signs in with his.
    Nothing is proposed when the workspace has proposals already (the demo built again) or mark is not among
    them; returns the proposal's number, or None.
    """
    passwords = {username: password for username, _, password in credentials}
    if workspace.definitions.proposals() or "mark" not in passwords:
        return None
    author = workspace.accounts.authenticate("mark", passwords["mark"], "demo")
    current = workspace.definitions.current()
    document = current.document.replace("- name: mql\n", f"- name: mql\n  rule: {DEMO_PROPOSAL_RULE}\n", 1)
    if document == current.document:
        return None
    proposal = workspace.definitions.propose(
        author, document, note="Every webinar attendee is an MQL: they asked to hear from us"
    )
    return proposal.id


#: The demo's goal for the current quarter: this much more than the quarter before won, rounded to 10,000.
DEMO_GOAL_GROWTH = 1.15


def set_demo_goal(
    workspace: Workspace, credentials: list[tuple[str, str, str]], today: date | None = None
) -> GoalInfo | None:
    """Give a demo workspace a goal for the current quarter, set by erin (the exec), so the forecast's chance of
    reaching it shows from the start: `DEMO_GOAL_GROWTH` times the revenue won in the previous full quarter,
    rounded to 10,000 (at least 10,000). Nothing is set when the quarter has a goal already (the demo built again)
    or erin is not among `credentials` (`create_demo_users`'s); returns the goal set, or None.
    """
    passwords = {username: password for username, _, password in credentials}
    quarter = current_quarter(today or datetime.now(UTC).date())
    if "erin" not in passwords or workspace.goals.get(quarter) is not None:
        return None
    previous_end = datetime.combine(quarter.start, datetime.min.time())
    previous_start = datetime.combine(add_months(quarter.start, -3), datetime.min.time())
    rows = workspace.revenue(start=previous_start, end=previous_end).rows()
    won = float((rows[0].get("won_revenue") if rows else None) or 0.0)
    amount = max(round(won * DEMO_GOAL_GROWTH, -4), 10_000)
    erin = workspace.accounts.authenticate("erin", passwords["erin"], "demo")
    return workspace.goals.set(
        erin,
        quarter,
        int(amount),
        note=f"{DEMO_GOAL_GROWTH:.2f} x last quarter's won revenue ({format_whole(won)}), rounded to 10,000",
    )
