"""What to do next on a workspace being set up: the steps the product needs, in order (someone to sign in, leads,
how leads move through the stages, deals, a goal, a plan), which are done, and the next one.

Computed here once, from the workspace itself: the status document carries it (`tandem status`, ``GET
/api/status``) and every page's "what to do next" panel renders it, so the command line and the pages never
disagree about what is missing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tandem.workspace import Workspace

__all__ = ["STEPS", "next_steps"]

#: The set-up steps, in the order the product needs them.
STEPS = ("users", "leads", "stages", "opportunities", "goal", "plan")

IMPORTS_PAGE = {"path": "/imports", "label": "Imports page"}
PLAN_PAGE = {"path": "/plan", "label": "Plan page"}
IMPORTERS = "an admin, a marketing or a sales user"

#: Each step's words (``{quarter}``: the current quarter): its title, what is missing while it is not done, what
#: to do, the command that does it, the page that does it (None: the command line only) and who may.
_STEP_TEXT: dict[str, dict[str, Any]] = {
    "users": {
        "title": "Add the first user",
        "missing": "No users yet: nobody can sign in to the web app or say who they are with --as.",
        "action": "Add the first user; a one-time password is printed, to be changed at first sign-in (or with "
        "`tandem account password --as NAME`).",
        "command": "tandem users add NAME --role admin",
        "page": None,
        "who": "anyone who can reach the workspace folder",
    },
    "leads": {
        "title": "Import your leads",
        "missing": "No data yet.",
        "action": "Import your leads: upload a CSV on the Imports page, or run the command (a HubSpot contacts "
        "export here; `tandem mappings` lists the HubSpot and Salesforce presets).",
        "command": "tandem import leads leads.csv --mapping hubspot-contacts",
        "page": IMPORTS_PAGE,
        "who": IMPORTERS,
    },
    "stages": {
        "title": "Import stage events",
        "missing": "The funnel shows only leads: there are no stage events, and no stage after the first has an "
        "entry rule.",
        "action": "Import when each lead reached each stage (HubSpot contacts with their 'Became a ... Date' "
        "columns, a lifecycle-stage history, Salesforce lead history), or give the stages entry rules on the "
        "Definitions page.",
        "command": "tandem import stage_events lifecycle.csv --mapping hubspot-lifecycle",
        "page": IMPORTS_PAGE,
        "who": IMPORTERS,
    },
    "opportunities": {
        "title": "Import your deals",
        "missing": "No deals yet: revenue, the win rate, the pipeline and the forecast need opportunities.",
        "action": "Import your deals (opportunities): upload them on the Imports page, or run the command.",
        "command": "tandem import opportunities deals.csv --mapping hubspot-deals",
        "page": IMPORTS_PAGE,
        "who": IMPORTERS,
    },
    "goal": {
        "title": "Set a revenue goal",
        "missing": "No revenue goal yet: the plan's stage volumes and the forecast's chance of the goal need one.",
        "action": "Set the revenue goal of {quarter} on the Plan page, or run the command.",
        "command": "tandem goal set {quarter} 2.5M --as USER",
        "page": PLAN_PAGE,
        "who": "an exec or an admin",
    },
    "plan": {
        "title": "Agree on a plan",
        "missing": "No accepted plan yet: plan against actual has no baseline to measure.",
        "action": "Marketing proposes its plan for {quarter} (programs, budget, expected leads) and a sales leader "
        "accepts it on the Plan page.",
        "command": "tandem plan propose plan.yaml --as USER",
        "page": PLAN_PAGE,
        "who": "a marketing user proposes; a sales leader accepts",
    },
}


def next_steps(ws: Workspace, counts: dict[str, int] | None = None) -> dict[str, Any]:
    """Every set-up step with whether it is done and its words (`_STEP_TEXT`), and the name of the next one (None
    when all are done). `counts` (rows per table) may be given by a caller that has them already.

    A step is done when: a user exists; a lead exists; a stage event exists or a stage after the first has an
    entry rule; an opportunity exists; a goal is set (any period); a plan version was accepted.
    """
    from tandem.periods import current_quarter

    rows = counts if counts is not None else ws.warehouse.counts()
    stages = ws.definitions_in_force().definitions.stages
    done = {
        "users": ws.accounts.count() > 0,
        "leads": rows.get("leads", 0) > 0,
        "stages": rows.get("stage_events", 0) > 0 or any(stage.rule for stage in stages[1:]),
        "opportunities": rows.get("opportunities", 0) > 0,
        "goal": bool(ws.goals.all()),
        "plan": bool(ws.plans.accepted()),
    }
    quarter = current_quarter().label
    steps = [
        {"step": name, "done": done[name], **{key: _words(text, quarter) for key, text in _STEP_TEXT[name].items()}}
        for name in STEPS
    ]
    waiting = [step["step"] for step in steps if not step["done"]]
    return {"steps": steps, "next": waiting[0] if waiting else None}


def _words(text: Any, quarter: str) -> Any:
    return text.format(quarter=quarter) if isinstance(text, str) else text
