"""The workspace's status: counts per table, the definitions in force (and any waiting to take effect), the
backends and the last import."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tandem.questions.base import Question

if TYPE_CHECKING:
    from tandem.workspace import Workspace

__all__ = ["StatusQuestion"]


class StatusQuestion(Question):
    """What `tandem status` shows: the one question with no parameters."""

    kind = "status"
    reads = (
        "leads",
        "stage_events",
        "opportunities",
        "touches",
        "campaigns",
        "spend",
        "activities",
        "accounts",
        "definitions",
        "imports",
    )

    def answer(self, ws: Workspace) -> dict[str, Any]:
        return ws.status()
