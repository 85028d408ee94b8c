"""Open, create and upgrade the application database."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, inspect, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from tandem.errors import WorkspaceError
from tandem.store.models import DefinitionVersion

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["AppStore", "normalise_database_url"]

T = TypeVar("T")
#: The newest migration in migrations/versions: every open checks the database against it without loading Alembic
#: (about 0.3 s of every command); tests/test_workspace.py checks it against the migrations themselves.
HEAD_REVISION = "0007"
#: How often a write that lost a race for the next audit entry (or SQLite's write lock, or a deadlock) is tried.
WRITE_ATTEMPTS = 10
#: Seconds an SQLite connection waits for another's write lock before "database is locked".
SQLITE_BUSY_TIMEOUT = 30
#: Execution option of the connection `AppStore.write` uses: on SQLite its transaction starts ``IMMEDIATE``.
_WRITE_OPTION = "tandem_write"


def normalise_database_url(url: str) -> str:
    """SQLAlchemy URL for a user-facing one: `postgresql://` uses psycopg 3."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


class AppStore:
    """The application database of one workspace."""

    def __init__(self, url: str) -> None:
        self.url = normalise_database_url(url)
        sqlite = self.url.startswith("sqlite")
        connect_args = {"timeout": SQLITE_BUSY_TIMEOUT} if sqlite else {}
        self.engine: Engine = create_engine(self.url, future=True, connect_args=connect_args)
        if sqlite:
            event.listen(self.engine, "connect", _sqlite_connect)
            event.listen(self.engine, "begin", _sqlite_begin)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    def session(self) -> Session:
        return self.sessions()

    def write(self, change: Callable[[Session], T]) -> T:
        """Run `change` in one transaction and commit; retry it when it lost a race to another writer.

        Writers are serialised where they append to the audit log (on SQLite the transaction takes the write lock
        first, ``BEGIN IMMEDIATE``; on PostgreSQL `tandem.audit.record` takes a transaction advisory lock), so two
        of them do not normally compute the same next ``seq``. Should they anyway (another program writing, a
        deadlock broken by PostgreSQL, SQLite's "database is locked" after its busy timeout), the whole change
        runs again on the new head. Any other error propagates with nothing written.
        """
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self.session() as s, s.begin():
                    s.connection(execution_options={_WRITE_OPTION: True})
                    return change(s)
            except (IntegrityError, OperationalError) as exc:
                if not _lost_race(exc) or attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(random.uniform(0, 0.02 * (attempt + 1)))  # noqa: S311 - jitter, not a secret
        raise AssertionError("unreachable")  # pragma: no cover

    # --- schema -----------------------------------------------------------------------------------------------
    def _alembic_config(self) -> Config:
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("tandem.store") / "migrations"))
        cfg.attributes["engine"] = self.engine
        return cfg

    def upgrade(self) -> None:
        """Bring the schema to the newest migration (creates it on an empty database)."""
        from alembic import command

        command.upgrade(self._alembic_config(), "head")

    def revision(self) -> str | None:
        """The migration the database is at (None: no tandem schema), read as Alembic records it."""
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            found = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        return None if found is None else str(found)

    def head(self) -> str:
        """The migration this tandem expects (`HEAD_REVISION`)."""
        return HEAD_REVISION

    def migrations_head(self) -> str | None:
        """The newest migration as Alembic reads it from migrations/versions (what `HEAD_REVISION` must say)."""
        from alembic.script import ScriptDirectory

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
    def create_first_definitions(self, stages: list[str], document: str, author: str) -> None:
        """Version 1: the stage names given to `tandem init`, with the definitions file they make (the workspace
        writes it: the store knows no definitions)."""
        with self.session() as s, s.begin():
            s.add(
                DefinitionVersion(
                    version=1,
                    stages=stages,
                    document=document,
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


def _lost_race(exc: IntegrityError | OperationalError) -> bool:
    """Whether a failed write is worth running again: a taken audit ``seq``, a busy SQLite, a deadlock."""
    if isinstance(exc, IntegrityError):
        return "audit_log" in str(exc.statement or "")
    message = str(exc.orig)
    return "database is locked" in message or "deadlock detected" in message


def _sqlite_connect(dbapi_connection: object, _record: object) -> None:
    """Foreign keys on, write-ahead log (readers do not wait for the writer), and transactions begun by SQLAlchemy.

    Python's sqlite3 driver would otherwise begin a transaction only at the first INSERT or UPDATE, after the
    reads of the same change (such as the audit head) ran outside it.
    """
    dbapi_connection.isolation_level = None  # type: ignore[attr-defined]
    cursor = dbapi_connection.cursor()  # type: ignore[attr-defined]
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    """Reads begin deferred; `AppStore.write` begins immediate, so concurrent writers queue for the lock up front."""
    immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"
