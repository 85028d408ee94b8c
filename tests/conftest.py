"""Shared fixtures.

`workspace` is parametrised over the two storage setups every storage test must pass on:
``local`` (SQLite application database + DuckDB warehouse, the default) and ``postgres`` (both in a fresh
database on the real server named by $TANDEM_TEST_POSTGRES_URL, created for the test and dropped after).
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import tandem
from tandem.workspace import Workspace

POSTGRES_URL = os.environ.get("TANDEM_TEST_POSTGRES_URL")
DATASETS = Path(__file__).resolve().parents[2] / "shared" / "datasets"
REPO = Path(__file__).resolve().parents[1]


def _admin_connect() -> Any:
    import psycopg

    assert POSTGRES_URL is not None
    return psycopg.connect(POSTGRES_URL, autocommit=True)


@contextlib.contextmanager
def fresh_postgres_database() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped on exit (skips when no server is configured)."""
    if not POSTGRES_URL:
        pytest.skip("TANDEM_TEST_POSTGRES_URL is not set (scripts/test.sh sets it to the local server)")
    name = f"tandem_t_{uuid.uuid4().hex[:12]}"
    with _admin_connect() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = POSTGRES_URL.rsplit("/", 1)[0]
    try:
        yield f"{base}/{name}"
    finally:
        with _admin_connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """URL of a fresh, empty PostgreSQL database, dropped after the test."""
    with fresh_postgres_database() as url:
        yield url


WorkspaceFactory = Callable[..., Workspace]


@pytest.fixture(params=["local", pytest.param("postgres", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_workspace(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[WorkspaceFactory]:
    """Factory: a new workspace on the parametrised backend (call it once per test)."""
    opened: list[Workspace] = []

    def make(**kwargs: Any) -> Workspace:
        folder = tmp_path / f"ws{len(opened)}"
        if backend == "postgres":
            url = request.getfixturevalue("postgres_database")
            kwargs.setdefault("database", url)
            kwargs.setdefault("warehouse", url)
        ws = tandem.init_workspace(folder, **kwargs)
        opened.append(ws)
        return ws

    yield make
    for ws in opened:
        ws.close()


@pytest.fixture
def workspace(make_workspace: WorkspaceFactory) -> Workspace:
    """A new, empty workspace with the default stages on the parametrised backend."""
    return make_workspace()


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write a test file exactly as given (no newline translation)."""
    path.write_bytes(text.encode(encoding))
    return path
