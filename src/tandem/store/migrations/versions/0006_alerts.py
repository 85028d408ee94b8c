"""Alerts: one row per (rule, signal key, destination), so an alert is sent once per signal per period.

The unique constraint is what makes `tandem alerts run` idempotent and lets two concurrent runs race safely: the
run that inserts the row (status ``sending``) is the one that sends.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"


def upgrade() -> None:
    op.create_table(
        "alert_deliveries",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("rule", sa.String(100), nullable=False),
        sa.Column("signal_key", sa.String(400), nullable=False),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(50), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False, server_default=""),
        sa.Column("period", sa.String(50), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("target", sa.Text, nullable=False, server_default=""),
        sa.Column("status", sa.String(16), nullable=False, index=True),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text, nullable=False, server_default=""),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=False), nullable=False, index=True),
        sa.Column("claimed_at", sa.DateTime(timezone=False), nullable=False),
        sa.Column("last_attempt_at", sa.DateTime(timezone=False), nullable=True),
        sa.Column("sent_at", sa.DateTime(timezone=False), nullable=True),
        sa.UniqueConstraint("rule", "signal_key", "destination", name="uq_alert_deliveries_alert"),
    )


def downgrade() -> None:
    op.drop_table("alert_deliveries")
