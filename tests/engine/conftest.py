"""The engine's journey builder: ``build(leads, deals, stages=...)`` loads hand-worked journeys into a fresh workspace
on the test's backend (the ``backend`` fixture: tests/backends.py), so every engine test runs on each backend.

The journeys are written as ``<table>.parquet`` files (tests/engine/journeys.py); DuckDB and PostgreSQL import them
as users do, Spark reads them in place.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from tandem import Workspace
from tandem.warehouse.schema import DEFAULT_STAGES

from ..backends import Backend
from .journeys import Deal, Lead, tables, write_tables

Build = Callable[..., Workspace]


@pytest.fixture
def build(backend: Backend, tmp_path: Path) -> Iterator[Build]:
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(
            leads: Sequence[Lead], deals: Sequence[Deal] = (), *, stages: Sequence[str] = DEFAULT_STAGES
        ) -> Workspace:
            n = next(numbers)
            data = tmp_path / f"data{n}"
            write_tables(data, tables(leads, deals))
            return stack.enter_context(backend.workspace(tmp_path / f"ws{n}", data, stages=stages))

        yield make
