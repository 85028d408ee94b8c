"""Application state: definition versions (and, as tandem grows, goals, plans, users, audit).

SQLAlchemy 2 models, migrated by Alembic; SQLite in the workspace by default, PostgreSQL in production.
"""

from tandem.store.database import AppStore

__all__ = ["AppStore"]
