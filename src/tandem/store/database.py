"""Open, create and upgrade the application database."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TypeVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, select
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tandem.errors import WorkspaceError
from tandem.store.models import DefinitionVersion

__all__ = ["AppStore", "normalise_database_url"]

T = TypeVar("T")
#: How often a write that lost a race for the next audit entry (or SQLite's write lock) is tried again.
WRITE_ATTEMPTS = 8


def normalise_database_url(url: str) -> str:
    """SQLAlchemy URL for a user-facing one: `postgresql://` uses psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class AppStore:
    """The application database of one workspace."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        self.engine: Engine = create_engine(self.url, future=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def write(self, change: Callable[[Session], T]) -> T:
        """Run `change` in one transaction and commit; retry it when it lost a race to another writer.

        Two writers appending to the audit log at once compute the same next ``seq``; the second insert fails on
        the primary key and the whole change runs again on the new head. SQLite answers a concurrent writer with
        "database is locked": tried again too. Any other error propagates with nothing written.
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.session() as s, s.begin():
                    return change(s)
            except (IntegrityError, OperationalError) as exc:
                lost_race = "audit_log" in str(exc.statement or "") or "database is locked" in str(exc)
                if not lost_race or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    # --- schema -----------------------------------------------------------------------------------------------
    def _alembic_config(self) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("tandem.store") / "migrations"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty database)."""
        command.upgrade(self._alembic_config(), "head")

    def revision(self) -> str | None:
        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head(self) -> str | None:
        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def check_current(self) -> None:
        """Refuse to work on a schema older (or newer) than this tandem's."""
        current, head = self.revision(), self.head()
        if current != head:
            raise WorkspaceError(
                f"the application database is at schema {current or 'none'}, this tandem expects {head}; "
                "run `tandem upgrade` to bring the workspace forward"
            )

    # --- definitions -----------------------------------------------------------------------------------------
    def create_first_definitions(self, stages: list[str], author: str) -> None:
        with self.session() as s, s.begin():
            s.add(
                DefinitionVersion(
                    version=1,
                    stages=stages,
                    created_at=datetime.now(UTC).replace(tzinfo=None),
                    created_by=author,
                    note="initial stages from tandem init",
                )
            )

    def current_definitions(self) -> DefinitionVersion:
        with self.session() as s:
            row = s.scalars(select(DefinitionVersion).order_by(DefinitionVersion.version.desc())).first()
        if row is None:
            raise WorkspaceError("the workspace has no funnel definitions; was it created with `tandem init`?")
        return row

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: object, _record: object) -> None:
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
