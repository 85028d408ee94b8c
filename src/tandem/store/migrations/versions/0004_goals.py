"""Goals: one revenue target per period and slice, shared by sales and marketing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"


def upgrade() -> None:
    op.create_table(
        "goals",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("period", sa.String(16), nullable=False, index=True),
        sa.Column("dimension", sa.String(16), nullable=False, server_default=""),
        sa.Column("value", sa.String(200), nullable=False, server_default=""),
        sa.Column("amount_cents", sa.BigInteger, nullable=False),
        sa.Column("marketing_share", sa.Float, nullable=True),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("created_by", sa.String(64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("updated_by", sa.String(64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=False), nullable=False),
        sa.UniqueConstraint("period", "dimension", "value", name="uq_goals_period_slice"),
    )


def downgrade() -> None:
    op.drop_table("goals")
