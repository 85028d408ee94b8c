"""A small company with a service-level contract agreed through the definitions' workflow, for the handoff tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from tandem.accounts import Principal
from tandem.workspace import Workspace

PASSWORD = "a long enough password"

CONTRACT = """
service_levels:
  teams:
    - team: amer
      members: [ana, ben]
      time_zone: America/New_York
      hours: {mon-fri: ["09:00-12:00", "13:00-17:00"]}
      holidays: US
  priorities:
    - name: standard
      accept: 8h
      first_touch: 16h
  package: [company]
  rejection: {reasons: [not_a_fit, no_budget], ceiling_percent: 30}
"""


def person(ws: Workspace, username: str, role: str, *, leader: bool = False, name: str = "") -> Principal:
    ws.accounts.create_user("admin", username, role, password=PASSWORD, leader=leader, display_name=name)
    return ws.accounts.authenticate(username, PASSWORD, "test")


def people(ws: Workspace) -> dict[str, Principal]:
    """maria and mona lead marketing, sam leads sales; ana and ben are reps; vic views."""
    return {
        "maria": person(ws, "maria", "marketing", leader=True),
        "mona": person(ws, "mona", "marketing", leader=True),
        "sam": person(ws, "sam", "sales", leader=True),
        "ana": person(ws, "ana", "sales"),
        "ben": person(ws, "ben", "sales", name="Ben Brown"),
        "vic": person(ws, "vic", "viewer"),
    }


def agree(ws: Workspace, team: dict[str, Principal], contract: str = CONTRACT) -> int:
    """The current definitions plus `contract`, proposed by maria and approved by mona and sam: the new version."""
    document = ws.definitions.current().document + textwrap.dedent(contract)
    proposal = ws.definitions.propose(team["maria"], document, note="service levels at the handoff")
    ws.definitions.approve(team["mona"], proposal.id)
    done = ws.definitions.approve(team["sam"], proposal.id)
    assert done.version is not None
    return done.version


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
