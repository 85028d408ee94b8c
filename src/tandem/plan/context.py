"""What the plan and the forecast read of a workspace: the definitions' view, plus the goals and the plans.

A protocol for the reason `tandem.definitions.context` gives: domain code names what it reads, not the
`Workspace` class that puts the packages together (and so imports them all). `Workspace` has every member.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Protocol

from tandem.definitions.context import DefinitionsContext

if TYPE_CHECKING:
    from tandem.engine.result import Result
    from tandem.periods import Grain
    from tandem.plan.goals import Goals
    from tandem.plan.proposals import Plans

__all__ = ["PlanContext"]


class PlanContext(DefinitionsContext, Protocol):
    """A workspace as the plan and the forecast see it; `tandem.workspace.Workspace` is one."""

    @property
    def goals(self) -> Goals:
        """The revenue goals both teams share (`tandem.plan.goals`)."""
        ...

    @property
    def plans(self) -> Plans:
        """The marketing plans and their accepted baselines (`tandem.plan.proposals`)."""
        ...

    def revenue(
        self,
        by: Sequence[str] = (),
        period: Grain | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        as_of: date | datetime | str | None = None,
    ) -> Result:
        """Won revenue, deals and win rate from opportunities, by breakdown and period (`tandem.engine.revenue`)."""
        ...
