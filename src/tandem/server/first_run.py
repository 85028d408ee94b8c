"""The "what to do next" panel of every page: the next set-up step of the workspace, as the status document gives
it (`tandem.questions.next_steps`), for the page to render (templates/next_steps.html, shown by the layout).

The layout (base.html) asks `guide` (a template global, ``first_run``) on every page and shows the panel while a
step is left (the leaders' last steps, a goal and a plan, only on the Overview and the Plan pages); the Overview
also lists every step, those done ticked, and shows the panel instead of its empty figures while there are no
leads. The server caches the status document, so a page pays for it once per import.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from tandem.accounts import Permission, Principal
from tandem.errors import TandemError
from tandem.questions import StatusQuestion
from tandem.server.pages import environment

__all__ = ["guide"]

#: Steps left to the leaders once the data is in. A workspace may run for months without an accepted plan: these
#: are shown on the Overview and the Plan pages, not as a banner over every page.
LEADERS_STEPS = frozenset({"goal", "plan"})


def _is_planning_page(path: str) -> bool:
    return path == "/" or path == "/plan" or path.startswith("/plan/")


def guide(request: Request) -> dict[str, Any] | None:
    """The next step and the steps after it for the person asking; None when every step is done, or when they
    may not read the workspace yet (a one-time password to change first: no page but the Account page works)."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None or not principal.may(Permission.READ):
        return None
    try:
        document: dict[str, Any] = request.app.state.tandem.answer(StatusQuestion())["next_steps"]
    except TandemError:  # a page saying why the warehouse cannot answer must still show
        return None
    waiting = [step for step in document["steps"] if not step["done"]]
    if not waiting:
        return None
    if waiting[0]["step"] in LEADERS_STEPS and not _is_planning_page(request.url.path):
        return None  # the data is in: a goal and a plan are the leaders' to agree, shown where they are made
    return {
        "next": waiting[0],
        "then": waiting[1:],
        "steps": document["steps"],
        "done": {step["step"]: step["done"] for step in document["steps"]},
    }


environment.globals["first_run"] = guide
