"""Shared fixtures, and the backend matrix's hooks (the backends themselves: tests/backends.py).

- ``backend``: the warehouse backend a test runs on, parametrised over `tests.backends.BACKENDS` (less what the test
  is declared not to run on) for every test that uses it, directly or through a fixture; module-scoped, so a module's
  workspace fixture can be built once per backend.
- ``make_workspace`` / ``workspace``: a new, empty workspace on that backend (DuckDB: SQLite + DuckDB files;
  PostgreSQL: both stores in a fresh database, dropped after). They write, so not on the read-only Spark warehouse.
- ``postgres_database``: a fresh, empty PostgreSQL database, for the PostgreSQL-only tests (marked ``postgres``).
- `require_dataset`: the folder of a public dataset a test reads; fails the test in CI when it is absent (so CI
  cannot quietly stop running it), skips it elsewhere with a reason naming the dataset and where to get it.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tandem.workspace import Workspace

from . import backends
from .backends import POSTGRES, Backend, in_ci

REPO = Path(__file__).resolve().parents[1]
#: The public datasets some tests read: ``shared/datasets/<name>`` beside the clone, or $TANDEM_TEST_DATASETS. They
#: have no stated licence, so they are never copied into the repository (README: "Running the tests").
DATASETS = Path(os.environ.get("TANDEM_TEST_DATASETS") or REPO.parent / "shared" / "datasets")
#: Each dataset a test may need: where it is published, for the skip reason.
DATASET_SOURCES = {
    "maven-crm-sales-opportunities": 'Maven Analytics\' Data Playground, "CRM + Sales + Opportunities"',
    "x-education-leads": 'the "Lead Scoring Case Study" (X Education) Leads.csv, mirrored on Kaggle',
    "facebook-ad-campaign-conversions": 'Kaggle\'s "Sales Conversion Optimization" (KAG_conversion_data.csv)',
}


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


def require_dataset(name: str, *files: str, module_level: bool = False) -> Path:
    """The folder of the public dataset `name` under `DATASETS`, with `files` in it.

    Absent in CI (``CI`` set true, as .ci/run does), the calling test fails: a test that stops running there must
    be noticed. Elsewhere (a clone without ``../shared``) it skips, saying which dataset is missing, where the tests
    look for it and where it is published. `module_level` skips or fails a whole module from its top level.
    """
    folder = DATASETS / name
    missing = [f for f in files if not (folder / f).is_file()] if folder.is_dir() else [name]
    if not missing:
        return folder
    source = DATASET_SOURCES.get(name, "its publisher")
    where = f"{folder}" + (f" (no {', '.join(missing)} in it)" if folder.is_dir() else "")
    why = (
        f"the dataset {name!r} is not at {where}; put it in shared/datasets/{name} beside the clone "
        f"(or point TANDEM_TEST_DATASETS at a folder holding it), from {source}"
    )
    if in_ci():
        pytest.fail(f"{why}; CI runs every dataset test", pytrace=False)
    pytest.skip(f"{why} (outside CI only; in CI this fails)", allow_module_level=module_level)
