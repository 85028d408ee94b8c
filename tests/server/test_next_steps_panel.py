"""Where the "what to do next" panel shows once the data is in: the leaders' last steps (a goal, a plan) head the
Overview and the Plan pages, not every page (a workspace may run for months without an accepted plan)."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from tandem.accounts import Principal, Role
from tandem.server.first_run import guide

STEPS = ["users", "leads", "stages", "opportunities", "goal", "plan"]


def request_for(path: str, pending: set[str]) -> Any:
    """A request for `path` by a viewer, on a workspace whose set-up steps are done but for `pending`."""
    document = {"next_steps": {"steps": [{"step": s, "done": s not in pending} for s in STEPS]}}
    answering = SimpleNamespace(answer=lambda _question: document)
    viewer = Principal(1, "val", "Val", Role.VIEWER, is_leader=False, via="session")
    return SimpleNamespace(
        state=SimpleNamespace(principal=viewer),
        url=SimpleNamespace(path=path),
        app=SimpleNamespace(state=SimpleNamespace(tandem=answering)),
    )


@pytest.mark.parametrize(
    ("path", "shown"),
    [("/", True), ("/plan", True), ("/plan/proposals/3", True), ("/funnel", False), ("/imports", False)],
)
def test_the_plan_step_shows_where_plans_are_made(path: str, shown: bool) -> None:
    found = guide(request_for(path, {"plan"}))
    assert (found is not None and found["next"]["step"] == "plan") is shown
    assert found is None or found["then"] == []


@pytest.mark.parametrize("path", ["/", "/funnel", "/imports"])
def test_a_missing_data_step_heads_every_page(path: str) -> None:
    found = guide(request_for(path, {"opportunities", "goal", "plan"}))
    assert found is not None
    assert found["next"]["step"] == "opportunities"
    assert [step["step"] for step in found["then"]] == ["goal", "plan"]


def test_no_panel_once_every_step_is_done() -> None:
    assert guide(request_for("/", set())) is None
