"""Plans: the marketing plan of a period, its versions (proposed, accepted as the baseline, ...) and review comments.

An accepted version is frozen in the database itself: a trigger refuses any change to an accepted or replaced
version (but accepted -> replaced when a later version is accepted) and its deletion, whatever program tries.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

#: The columns of a plan version that never change once it is accepted.
FROZEN = ("plan_id", "version", "document", "note", "author", "created_at", "decided_by", "decided_at", "reason")
MESSAGE = "an accepted plan version is frozen: it cannot be edited or deleted; propose a new version"

_SQLITE_UPDATE = f"""
CREATE TRIGGER plan_versions_frozen_update BEFORE UPDATE ON plan_versions
WHEN OLD.status IN ('accepted', 'replaced') AND (
    {" OR ".join(f"NEW.{c} IS NOT OLD.{c}" for c in FROZEN)}
    OR CAST(NEW.sufficiency AS TEXT) IS NOT CAST(OLD.sufficiency AS TEXT)
    OR NOT (NEW.status = OLD.status OR (OLD.status = 'accepted' AND NEW.status = 'replaced'))
)
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
"""
_SQLITE_DELETE = f"""
CREATE TRIGGER plan_versions_frozen_delete BEFORE DELETE ON plan_versions
WHEN OLD.status IN ('accepted', 'replaced')
BEGIN
    SELECT RAISE(ABORT, '{MESSAGE}');
END
"""
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION plan_versions_frozen() RETURNS trigger AS $$
BEGIN
    IF OLD.status IN ('accepted', 'replaced') THEN
        IF TG_OP = 'DELETE' OR {" OR ".join(f"NEW.{c} IS DISTINCT FROM OLD.{c}" for c in FROZEN)}
            OR NEW.sufficiency::text IS DISTINCT FROM OLD.sufficiency::text
            OR NOT (NEW.status = OLD.status OR (OLD.status = 'accepted' AND NEW.status = 'replaced')) THEN
            RAISE EXCEPTION '{MESSAGE}' USING ERRCODE = 'check_violation';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    RETURN NEW;
END
$$ LANGUAGE plpgsql
"""
_POSTGRES_TRIGGER = """
CREATE TRIGGER plan_versions_frozen BEFORE UPDATE OR DELETE ON plan_versions
FOR EACH ROW EXECUTE FUNCTION plan_versions_frozen()
"""


def upgrade() -> None:
    op.create_table(
        "plans",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period", sa.String(16), nullable=False, unique=True),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
    )
    op.create_table(
        "plan_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("plan_id", sa.Integer, sa.ForeignKey("plans.id", ondelete="RESTRICT"), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, server_default="proposed"),
        sa.Column("decided_by", sa.String(64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("sufficiency", sa.JSON, nullable=True),
        sa.UniqueConstraint("plan_id", "version", name="uq_plan_versions_version"),
    )
    op.create_table(
        "plan_comments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "version_id", sa.Integer, sa.ForeignKey("plan_versions.id", ondelete="RESTRICT"), nullable=False, index=True
        ),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("comment", sa.Text, nullable=False),
        sa.Column("at", sa.DateTime(timezone=False), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_POSTGRES_FUNCTION)
        op.execute(_POSTGRES_TRIGGER)
    else:
        op.execute(_SQLITE_UPDATE)
        op.execute(_SQLITE_DELETE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS plan_versions_frozen ON plan_versions")
        op.execute("DROP FUNCTION IF EXISTS plan_versions_frozen()")
    else:
        op.execute("DROP TRIGGER IF EXISTS plan_versions_frozen_update")
        op.execute("DROP TRIGGER IF EXISTS plan_versions_frozen_delete")
    op.drop_table("plan_comments")
    op.drop_table("plan_versions")
    op.drop_table("plans")
