"""What to do next on a workspace being set up (`tandem.questions.next_steps`): each step done as the workspace
gets what it needs, in the product's order, and `tandem status` saying the next one with its command."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tandem
from tandem.periods import current_quarter
from tandem.questions import StatusQuestion, ask
from tandem.questions.next_steps import STEPS, next_steps

from .test_cli import run

PASSWORD = "eve's long password"


def write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def done(document: dict[str, Any]) -> list[str]:
    return [step["step"] for step in document["steps"] if step["done"]]


def test_each_step_is_done_as_the_workspace_gets_what_it_needs(tmp_path: Path) -> None:
    with tandem.init_workspace(tmp_path / "ws") as ws:
        document = next_steps(ws)
        assert [step["step"] for step in document["steps"]] == list(STEPS)
        assert (document["next"], done(document)) == ("users", [])
        ws.accounts.create_user("test", "eve", "exec", password=PASSWORD)
        assert (next_steps(ws)["next"], done(next_steps(ws))) == ("leads", ["users"])
        ws.import_files("leads", [write(tmp_path / "leads.csv", "lead_id,created_at\nL1,2026-01-05\nL2,2026-02-01\n")])
        assert (next_steps(ws)["next"], done(next_steps(ws))) == ("stages", ["users", "leads"])
        ws.import_files(
            "stage_events", [write(tmp_path / "events.csv", "lead_id,stage,occurred_at\nL1,mql,2026-01-09\n")]
        )
        assert next_steps(ws)["next"] == "opportunities"
        ws.import_files(
            "opportunities", [write(tmp_path / "deals.csv", "opportunity_id,created_at,status\nO1,2026-01-20,open\n")]
        )
        assert next_steps(ws)["next"] == "goal"
        ws.goals.set(ws.accounts.authenticate("eve", PASSWORD), "2027-Q1", "1M")
        document = next_steps(ws)
        assert (document["next"], done(document)) == ("plan", ["users", "leads", "stages", "opportunities", "goal"])


def test_the_status_document_carries_the_steps_with_their_words(tmp_path: Path) -> None:
    quarter = current_quarter().label
    with tandem.init_workspace(tmp_path / "ws") as ws:
        ws.accounts.create_user("test", "eve", "exec", password=PASSWORD)
        steps = {step["step"]: step for step in ask(ws, StatusQuestion())["next_steps"]["steps"]}
    assert steps["leads"] == {
        "step": "leads",
        "done": False,
        "title": "Import your leads",
        "missing": "No data yet.",
        "action": "Import your leads: upload a CSV on the Imports page, or run the command (a HubSpot contacts "
        "export here; `tandem mappings` lists the HubSpot and Salesforce presets).",
        "command": "tandem import leads leads.csv --mapping hubspot-contacts",
        "page": {"path": "/imports", "label": "Imports page"},
        "who": "an admin, a marketing or a sales user",
    }
    assert steps["goal"] == {
        "step": "goal",
        "done": False,
        "title": "Set a revenue goal",
        "missing": "No revenue goal yet: the plan's stage volumes and the forecast's chance of the goal need one.",
        "action": f"Set the revenue goal of {quarter} on the Plan page, or run the command.",
        "command": f"tandem goal set {quarter} 2.5M --as USER",
        "page": {"path": "/plan", "label": "Plan page"},
        "who": "an exec or an admin",
    }


def test_tandem_status_ends_with_the_next_step_and_its_command(tmp_path: Path) -> None:
    tandem.init_workspace(tmp_path / "ws").close()
    done = run("status", "-w", tmp_path / "ws")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-3:] == [
        "next: No users yet: nobody can sign in to the web app or say who they are with --as. Add the first user; a "
        "one-time password is printed, to be changed at first sign-in (or with `tandem account password --as NAME`).",
        "    tandem users add NAME --role admin",
        "then: import your leads, import stage events, import your deals, set a revenue goal, agree on a plan",
    ]
