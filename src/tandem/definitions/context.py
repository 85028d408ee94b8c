"""What the definitions' analyses read of a workspace, and nothing more: a protocol, not the `Workspace` class.

Why: the workspace (`tandem.workspace`) is where the domain packages are put together, so it imports all of
them. Domain code that named `Workspace`, even only in a type hint, would depend on every package back and close
import cycles (workspace -> definitions -> workspace). A function here takes any object with these members
instead: the open `Workspace` has them all, and a test may pass something smaller. `tandem.plan.context` adds
what the plan and the forecast read besides.

Each member is here because an analysis reads it: the warehouse's tables (a lead's columns, the deals), the
workspace settings, the definition versions, the stage events a version counts (imported events or met rules),
and the funnel engine's answer for a question, counted under the definitions in force.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import ibis

    from tandem.definitions.counting import Counting
    from tandem.definitions.governance import Governance, VersionInfo
    from tandem.definitions.model import Definitions
    from tandem.engine.result import Result
    from tandem.periods import Grain
    from tandem.warehouse.backends import Warehouse

__all__ = ["DefinitionsContext"]


class DefinitionsContext(Protocol):
    """A workspace as the definitions see it (module docs); `tandem.workspace.Workspace` is one."""

    @property
    def warehouse(self) -> Warehouse:
        """The canonical tables, read through Ibis."""
        ...

    @property
    def settings(self) -> Mapping[str, Any]:
        """The workspace settings (`tandem.settings`), defaults filled in."""
        ...

    @property
    def definitions(self) -> Governance:
        """Every version of the definitions, and the proposals."""
        ...

    def definitions_in_force(
        self, as_of: date | datetime | str | None = None, version: int | None = None
    ) -> VersionInfo:
        """The version a result as of `as_of` (default now) is counted under, or version `version`."""
        ...

    def counting(self, as_of: date | datetime | str | None = None, version: int | None = None) -> Counting:
        """Which version counts which stretch of time for a result as of `as_of` (`tandem.definitions.counting`)."""
        ...

    def stage_events(self, definitions: Definitions, as_of: datetime) -> ibis.Table:
        """The stage events `definitions` count as of `as_of`: imported events, or the first moment a rule is met."""
        ...

    def counted_stage_events(self, counting: Counting, as_of: datetime) -> ibis.Table:
        """The stage events as `counting` counts them: each version's within the stretch it counts."""
        ...

    def funnel(
        self,
        by: Sequence[str] = (),
        period: Grain | None = None,
        start: date | datetime | str | None = None,
        end: date | datetime | str | None = None,
        *,
        window_days: int | None = None,
        as_of: date | datetime | str | None = None,
        version: int | None = None,
    ) -> Result:
        """Volumes and conversion per stage, grouped by `period` (a grain): each stretch of time under the
        definitions in force then, or all of it under `version`."""
        ...
