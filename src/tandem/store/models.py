"""SQLAlchemy models of the application state."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    pass


class DefinitionVersion(Base):
    """One version of the funnel definitions. Version 1 is the stage list given to `tandem init`.

    Every funnel result names the version that produced it; later versions come from approved proposals.
    """

    __tablename__ = "definition_versions"

    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    stages: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=False), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
