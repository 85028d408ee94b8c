"""Governance of the definitions: each version keeps its YAML document; proposals and the sides' approvals.

Existing versions get their document rebuilt from their stage list (`definitions_from_stages`, as `tandem init`
does); a row whose stages cannot be rebuilt keeps a null document, derived again on read.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"


def upgrade() -> None:
    with op.batch_alter_table("definition_versions") as batch:
        batch.add_column(sa.Column("document", sa.Text, nullable=True))
        batch.add_column(sa.Column("effective_from", sa.Date, nullable=True))
        batch.add_column(sa.Column("proposal_id", sa.Integer, nullable=True))
    op.create_table(
        "definition_proposals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("base_version", sa.Integer, nullable=False),
        sa.Column("document", sa.Text, nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("author", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("effective_from", sa.Date, nullable=True),
        sa.Column("status", sa.String(16), nullable=False, server_default="open"),
        sa.Column("decided_at", sa.DateTime(timezone=False), nullable=True),
    )
    op.create_table(
        "definition_approvals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column(
            "proposal_id",
            sa.Integer,
            sa.ForeignKey("definition_proposals.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("username", sa.String(64), nullable=False),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("decision", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=False, server_default=""),
        sa.Column("at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("proposal_id", "side", name="uq_definition_approvals_side"),
    )
    _fill_documents()


def _fill_documents() -> None:
    from tandem.definitions.model import DefinitionsError, definitions_from_stages, dump_definitions

    versions = sa.table(
        "definition_versions",
        sa.column("version", sa.Integer),
        sa.column("stages", sa.JSON),
        sa.column("document", sa.Text),
    )
    conn = op.get_bind()
    for version, stages in conn.execute(sa.select(versions.c.version, versions.c.stages)).all():
        try:
            document = dump_definitions(definitions_from_stages(list(stages)))
        except DefinitionsError:  # pragma: no cover - tandem init validated the stages
            continue
        conn.execute(versions.update().where(versions.c.version == version).values(document=document))


def downgrade() -> None:
    op.drop_table("definition_approvals")
    op.drop_table("definition_proposals")
    with op.batch_alter_table("definition_versions") as batch:
        batch.drop_column("proposal_id")
        batch.drop_column("effective_from")
        batch.drop_column("document")
