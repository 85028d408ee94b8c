"""Shared fixtures, and the backend matrix's hooks (the backends themselves: tests/backends.py).

- ``backend``: the warehouse backend a test runs on, parametrised over `tests.backends.BACKENDS` (less what the test
  is declared not to run on) for every test that uses it, directly or through a fixture; module-scoped, so a module's
  workspace fixture can be built once per backend.
- ``make_workspace`` / ``workspace``: a new, empty workspace on that backend (DuckDB: SQLite + DuckDB files;
  PostgreSQL: both stores in a fresh database, dropped after). They write, so not on the read-only Spark warehouse.
- ``postgres_database``: a fresh, empty PostgreSQL database, for the PostgreSQL-only tests (marked ``postgres``).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.workspace import Workspace

from . import backends
from .backends import POSTGRES, Backend

DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REPO = Path(__file__).resolve().parents[1]


# --- the backend matrix -------------------------------------------------------------------------------------------
def pytest_report_header(config: pytest.Config) -> str:
    return backends.describe()


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        params = backends.parameters(metafunc.definition, metafunc.fixturenames)
        metafunc.parametrize("backend", params, indirect=True, scope="module")


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Before ``-m`` selects: a declared ``notimpl`` gap becomes a strict xfail; a PostgreSQL-only test is marked."""
    for item in items:
        if (gap := backends.not_implemented(item)) is not None:
            item.add_marker(gap)
        if "postgres_database" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="module")
def backend(request: pytest.FixtureRequest) -> Backend:
    """The backend this test runs on (its id in the test's name); skipped outside CI, failed in CI, when absent."""
    chosen: Backend = request.param
    chosen.require()
    return chosen


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with POSTGRES.fresh_database() as url:
        yield url


WorkspaceFactory = Callable[..., Workspace]


@pytest.fixture
def make_workspace(backend: Backend, tmp_path: Path) -> Iterator[WorkspaceFactory]:
    """Factory: a new, empty workspace on the parametrised backend (``tmp_path/ws0``, ``ws1``...), closed after.

    Keyword arguments go to `tandem.init_workspace` and win over the backend's store URLs.
    """
    numbers = itertools.count()
    with contextlib.ExitStack() as stack:

        def make(**kwargs: Any) -> Workspace:
            return stack.enter_context(backend.workspace(tmp_path / f"ws{next(numbers)}", **kwargs))

        yield make


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory) -> Workspace:
    """A new, empty workspace with the default stages on the parametrised backend."""
    return make_workspace()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write a test file exactly as given (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path
