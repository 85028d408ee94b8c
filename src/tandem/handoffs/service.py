"""The service levels as of a moment: which contract counts which handoffs, the clocks, and the documents the
question layer serves (`tandem.questions.sla`).

Which contract measures a handoff: the one in the definitions version in force when the handoff opened (so an edit
to the contract, its calendars included, never changes a clock that started before it took effect). A handoff
opened before any version had a contract is measured under the first contract agreed: a company that adopts
service levels sees its history measured the way it now agrees to work.

Rows no figure can use (`tandem.engine.usable`: a lead without an id, an event without a moment) are left out
here as everywhere, and the calendar reaches back `CALENDAR_YEARS` from the as-of moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import ibis
import ibis.expr.types as ir

from tandem.definitions.counting import Counting
from tandem.engine.usable import usable
from tandem.errors import NotFoundError
from tandem.handoffs.clocks import ContractStretch, attempt_table, clock_table, contract_calendars, episode_table
from tandem.handoffs.report import with_package
from tandem.sla.calendar import deadline
from tandem.sla.contract import ServiceLevels

#: How far back the clocks' calendar reaches from the as-of moment: a handoff older than that has no business time
#: (null, shown as "-"), never a wrong one; a placeholder date in 1900 does not make the calendar a century long.
CALENDAR_YEARS = 10

__all__ = [
    "Measured",
    "TableSource",
    "contract_stretches",
    "deadline_of",
    "measure",
    "measure_with",
    "rows_of",
]


class TableSource(Protocol):
    """What the clocks read of a warehouse: its canonical tables as Ibis expressions, and its connection."""

    def table(self, name: str) -> ibis.Table: ...

    @property
    def con(self) -> Any: ...


@dataclass(frozen=True)
class Measured:
    """The clocks as of a moment: the episodes and clocks (Ibis), and the contracts that measure them."""

    as_of: datetime
    stretches: tuple[ContractStretch, ...]
    episodes: ir.Table
    clocks: ir.Table
    attempts: ir.Table
    source: TableSource

    @property
    def contract(self) -> ServiceLevels:
        """The contract in force at the as-of moment: the one new handoffs are measured under."""
        return self.stretches[-1].contract

    @property
    def version(self) -> int:
        return self.stretches[-1].version

    def release(self) -> None:
        """Drop the episodes kept in the warehouse (`measure_with`), while its connection is open: call it when
        done, or use the result in a ``with`` block."""
        release = getattr(self.episodes, "release", None)
        if release is not None:
            release()

    def __enter__(self) -> Measured:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def contract_stretches(counting: Counting) -> tuple[ContractStretch, ...]:
    """The stretches of time each contract measures (module docs), from the definitions' `counting`; a
    `NotFoundError` when no version in force has a contract."""
    stretches: list[ContractStretch] = []
    for stretch in counting.stretches:
        contract = stretch.version.definitions.service_levels
        if contract is None:
            continue
        stretches.append(ContractStretch(stretch.version.version, contract, stretch.start, stretch.end))
    if not stretches:
        raise NotFoundError(
            f"definitions version {counting.current.version} has no service levels; propose a `service_levels:` "
            "section (docs/sla.md, 'The contract') and have both leaders approve it"
        )
    first = stretches[0]
    stretches[0] = ContractStretch(first.version, first.contract, None, first.end)  # measures the history before
    return tuple(stretches)


def measure(source: TableSource, counting: Counting, as_of: datetime) -> Measured:
    """The episodes and clocks of every handoff known at `as_of`, measured as the module says."""
    stretches = contract_stretches(counting)
    handoffs = usable(source.table("handoffs"), "handoffs")
    first = source.con.to_pyarrow(handoffs.occurred_at.min().name("first")).as_py()
    first_day = (first.date() if first is not None else as_of.date()) - timedelta(days=2)
    first_day = max(first_day, as_of.date() - timedelta(days=CALENDAR_YEARS * 366))
    calendar = contract_calendars(stretches, first_day, as_of.date() + timedelta(days=2))
    return measure_with(source, calendar, stretches, as_of)


def measure_with(
    source: TableSource, calendar: ir.Table, stretches: Sequence[ContractStretch], as_of: datetime
) -> Measured:
    """`measure` with the calendar table (`contract_calendars`) given.

    The episodes are computed once and kept in the warehouse for the questions that follow (Ibis's `cache`: a
    temporary table, dropped when the result is no longer referenced): the clocks, the attempts, the reports and
    the rejections all read them, and an expression reused that often is otherwise computed again for each."""
    handoffs = usable(source.table("handoffs"), "handoffs")
    leads = usable(source.table("leads"), "leads")
    activities = usable(source.table("activities"), "activities")
    touches = usable(source.table("touches"), "touches")
    episodes = episode_table(handoffs, leads, stretches, as_of=as_of, touches=touches, activities=activities)
    episodes = with_package(episodes, leads, stretches).cache()
    clocks = clock_table(handoffs, episodes, activities, calendar, stretches, as_of=as_of)
    attempts = attempt_table(handoffs, episodes, activities, calendar, stretches, as_of=as_of)
    return Measured(as_of, tuple(stretches), episodes, clocks, attempts, source)


def rows_of(source: TableSource, table: ir.Table, limit: int | None = None) -> list[dict[str, Any]]:
    """The rows of an Ibis expression over `source`, as dicts."""
    if limit is not None:
        table = table.limit(limit)
    rows: list[dict[str, Any]] = source.con.to_pyarrow(table).to_pylist()
    return rows


def deadline_of(measured: Measured, row: dict[str, Any]) -> datetime | None:
    """When an open clock runs out if nothing pauses it: its team's calendar, `left` business seconds on from the
    as-of moment (for a clock already past its target, the moment it ran out is before the as-of moment and is
    not worked back: None)."""
    left = row.get("left")
    if left is None or left < 0:
        return None
    stretch = next((s for s in measured.stretches if s.version == row.get("version")), measured.stretches[-1])
    try:
        team = stretch.contract.team(str(row.get("team")))
    except KeyError:
        return None
    return deadline(team.calendar, measured.as_of, int(left))
