"""The engine's journey builder: ``build(leads, deals, stages=...)`` loads hand-worked journeys into a fresh workspace
on the test's backend (the ``backend`` fixture: tests/backends.py), so every engine test runs on each backend.

The journeys are written as ``<table>.parquet`` files (tests/engine/journeys.py); DuckDB and PostgreSQL import them
as users do, Spark reads them in place.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path

import pytest

from tandem import Workspace
from tandem.warehouse.schema import DEFAULT_STAGES

from ..backends import Backend
from .journeys import Deal, Lead, tables, write_tables

Build = Callable[..., Workspace]


def last_moment(leads: Sequence[Lead], deals: Sequence[Deal]) -> datetime:
    """The latest moment the journeys record: a creation, a stage entry or a close (at 00:00)."""
    moments = [one.created_at for one in leads] + [when for one in leads for _, when in one.events]
    moments += [d.created_at for d in deals]
    moments += [datetime(d.close_date.year, d.close_date.month, d.close_date.day) for d in deals if d.close_date]
    return max(moments)


def log_imports_at(ws: Workspace, moment: datetime) -> None:
    """Say in the imports log that every import of `ws` finished at `moment` (the imports ran now)."""
    with ws.warehouse.transaction() as cur:
        cur.execute(
            f"UPDATE import_log SET started_at = TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}', "
            f"finished_at = TIMESTAMP '{moment:%Y-%m-%d %H:%M:%S}'"
        )


@pytest.fixture
def build(backend: Backend, tmp_path: Path) -> Iterator[Build]:
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(
            leads: Sequence[Lead],
            deals: Sequence[Deal] = (),
            *,
            stages: Sequence[str] = DEFAULT_STAGES,
            imported_at: datetime | None = None,
        ) -> Workspace:
            """A workspace holding the journeys, their imports logged as made at `imported_at` (default: the last
            moment the journeys record), as if the CRM had been exported then: an as-of view from that moment on
            knows every deal's stage and amount (docs/funnel-semantics.md, "As of a past day")."""
            n = next(numbers)
            data = tmp_path / f"data{n}"
            write_tables(data, tables(leads, deals))
            ws = stack.enter_context(backend.workspace(tmp_path / f"ws{n}", data, stages=stages))
            if backend.imports:
                log_imports_at(ws, imported_at or last_moment(leads, deals))
            return ws

        yield make
